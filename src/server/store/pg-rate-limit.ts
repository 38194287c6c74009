/**
 * Per-device token buckets in PostgreSQL, so every API process behind a load balancer draws from
 * the same bucket (a device cannot multiply its rate by the number of processes). One statement
 * per request: an upsert that refills the bucket by the time passed, takes a token when one is
 * there and says whether it did. The table is UNLOGGED: buckets are not worth an fsync, and after a
 * database crash they start full, which is what a fresh limiter does anyway.
 */
import type pg from 'pg';
import type { RateDecision, RateLimiter } from '../rate-limit.js';
import { pgStorageError } from './postgres.js';

const CREATE = `CREATE UNLOGGED TABLE IF NOT EXISTS rate_buckets (
  key    TEXT PRIMARY KEY,
  tokens DOUBLE PRECISION NOT NULL,
  at     BIGINT NOT NULL,
  ok     BOOLEAN NOT NULL
)`;

// $1 key, $2 tokens per second, $3 burst, $4 now (ms). `refill` is the bucket after the time
// passed since its last take (never more than the burst; a clock behind another process's
// refills nothing rather than taking tokens away).
const REFILL =
  'LEAST($3::float8, rate_buckets.tokens + GREATEST(0, $4::bigint - rate_buckets.at) / 1000.0 * $2::float8)';
const TAKE = `INSERT INTO rate_buckets (key, tokens, at, ok) VALUES ($1, $3::float8 - 1, $4, true)
  ON CONFLICT (key) DO UPDATE SET
    tokens = CASE WHEN ${REFILL} >= 1 THEN ${REFILL} - 1 ELSE ${REFILL} END,
    at = GREATEST(rate_buckets.at, $4::bigint),
    ok = ${REFILL} >= 1
  RETURNING tokens, ok`;

export class PgRateLimiter implements RateLimiter {
  private ready: Promise<void> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    readonly perSecond: number,
    readonly burst: number,
  ) {}

  async take(key: string, nowMs: number): Promise<RateDecision> {
    if (this.perSecond <= 0 || this.burst <= 0) return { allowed: true, retryAfterSeconds: 0 };
    try {
      this.ready ??= this.pool.query(CREATE).then(() => undefined);
      await this.ready;
      const { rows } = await this.pool.query<{ tokens: number; ok: boolean }>(TAKE, [
        key,
        this.perSecond,
        this.burst,
        Math.round(nowMs),
      ]);
      const { tokens, ok } = rows[0];
      return ok
        ? { allowed: true, retryAfterSeconds: 0 }
        : { allowed: false, retryAfterSeconds: (1 - tokens) / this.perSecond };
    } catch (e) {
      this.ready = undefined; // e.g. the database was away: try creating the table again next time
      throw pgStorageError(e);
    }
  }
}
