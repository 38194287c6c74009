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
import { PG_LOCK } from './pg-schema.js';

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

  /**
   * `CREATE TABLE IF NOT EXISTS` is not safe against itself: two API processes taking their first
   * request at once both pass the check and the loser fails on a duplicate catalogue row
   * (`pg_type_typname_nsp_index`). The migrations' advisory lock (per search path) makes them take
   * turns; the second finds the table.
   */
  private async createTable(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query("SELECT pg_advisory_xact_lock($1, hashtext(current_setting('search_path')))", [
        PG_LOCK.migrate,
      ]);
      await client.query(CREATE);
      await client.query('COMMIT');
      client.release();
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release(true);
      throw e;
    }
  }

  async take(key: string, nowMs: number): Promise<RateDecision> {
    if (this.perSecond <= 0 || this.burst <= 0) return { allowed: true, retryAfterSeconds: 0 };
    try {
      this.ready ??= this.createTable();
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
