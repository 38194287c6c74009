/**
 * Retries with exponential backoff and full jitter (delay = random() × min(maxMs, baseMs × 2^n)),
 * used by the device for uploads and downloads. Pure: the clock (`sleep`) and the randomness
 * (`random`) are injected, so tests run instantly and deterministically. It decides nothing about
 * which errors are worth retrying; the caller's `retryable` does (see `isRetryable` in
 * `./client.ts`).
 */
import type { RetryPolicy } from './types.js';

/** Defaults of the device's retry policy: 250 ms first delay, 30 s cap, 6 attempts per call. */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  baseMs: 250,
  maxMs: 30_000,
  maxAttempts: 6,
});

/**
 * The wait before retry number `attempt + 1` (attempt 0 = after the first failure): full jitter,
 * uniform in [0, min(maxMs, baseMs × 2^attempt)).
 *
 * @example
 * backoffDelay(3, DEFAULT_RETRY_POLICY, Math.random); // somewhere in [0, 2000)
 */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number): number {
  // 2^attempt overflows to Infinity for huge attempts; min() keeps the cap either way.
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt));
  return random() * ceiling;
}

export interface RetryOptions {
  policy: RetryPolicy;
  /** Uniform in [0, 1). */
  random: () => number;
  sleep: (ms: number) => Promise<void>;
  /** True when a failure may pass on retry (a network error, 429, 5xx); false throws at once. */
  retryable: (e: unknown) => boolean;
  /** Called before each wait: the failed attempt (1-based), its error and the delay chosen. */
  onRetry?: (info: { attempt: number; error: unknown; delayMs: number }) => void;
}

/**
 * Calls `fn` up to `policy.maxAttempts` times (at least once), waiting `backoffDelay` between
 * tries. Throws the last error when attempts run out, or the first non-retryable one at once.
 *
 * @example
 * const r = await withRetry(() => client.uploadBatch(u, id, bytes), {
 *   policy: DEFAULT_RETRY_POLICY, random: Math.random, sleep, retryable: isRetryable,
 * });
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const attempts = Math.max(1, Math.floor(options.policy.maxAttempts));
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= attempts || !options.retryable(error)) throw error;
      // A server that said when to come back (429/503 Retry-After) is not asked sooner.
      const asked = (error as { retryAfterMs?: unknown } | null)?.retryAfterMs;
      const floor = typeof asked === 'number' && asked > 0 ? Math.min(asked, options.policy.maxMs) : 0;
      const delayMs = Math.max(floor, backoffDelay(attempt - 1, options.policy, options.random));
      options.onRetry?.({ attempt, error, delayMs });
      await options.sleep(delayMs);
    }
  }
}
