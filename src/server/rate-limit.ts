/**
 * Per-key token buckets (pure, clock passed in): each key may make `burst` requests at once and
 * `perSecond` sustained. The server keys by device id, so one noisy device cannot starve others.
 */
export interface RateDecision {
  allowed: boolean;
  /** Seconds until one token is available (0 when allowed). */
  retryAfterSeconds: number;
}

/** Takes a token for a key; in memory (one process) or in the database (every API process). */
export interface RateLimiter {
  take(key: string, nowMs: number): RateDecision | Promise<RateDecision>;
}

/** The one-process limiter: buckets in memory. */
export class TokenBuckets implements RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly perSecond: number,
    readonly burst: number,
    /** Most keys tracked; the least recently used are forgotten (they start full again). */
    readonly maxKeys = 100_000,
  ) {}

  /** Takes one token for `key` at time `nowMs`. Disabled (always allowed) when perSecond is 0. */
  take(key: string, nowMs: number): RateDecision {
    if (this.perSecond <= 0 || this.burst <= 0) return { allowed: true, retryAfterSeconds: 0 };
    let b = this.buckets.get(key);
    if (b) {
      this.buckets.delete(key); // re-insert: Map order is the LRU order
      b.tokens = Math.min(this.burst, b.tokens + ((nowMs - b.at) / 1000) * this.perSecond);
      b.at = nowMs;
    } else {
      b = { tokens: this.burst, at: nowMs };
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string);
    }
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { allowed: true, retryAfterSeconds: 0 };
    }
    return { allowed: false, retryAfterSeconds: (1 - b.tokens) / this.perSecond };
  }
}
