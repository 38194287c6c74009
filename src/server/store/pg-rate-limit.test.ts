import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgRateLimiter } from './pg-rate-limit.js';
import type { PgStore } from './postgres.js';
import { createTestDatabase, storeSkipReason, type TestDatabase } from './testing.js';

const skip = await storeSkipReason('postgres');

describe.skipIf(skip !== undefined)('PgRateLimiter: one bucket per device for every API process', () => {
  let db: TestDatabase;
  let a: PgRateLimiter;
  let b: PgRateLimiter;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    // Two API processes: two stores, two pools, one database.
    a = new PgRateLimiter(((await db.open()) as PgStore).pool, 2, 3);
    b = new PgRateLimiter(((await db.open()) as PgStore).pool, 2, 3);
  });
  afterAll(async () => db?.cleanup());

  it('takes a burst of 3 across both processes, refuses the 4th, refills 2 a second', async () => {
    const t = 10_000;
    // Burst 3: the first three takes (alternating processes) pass, the fourth is refused.
    expect((await a.take('dev-1', t)).allowed).toBe(true);
    expect((await b.take('dev-1', t)).allowed).toBe(true);
    expect((await a.take('dev-1', t)).allowed).toBe(true);
    const refused = await b.take('dev-1', t);
    expect(refused.allowed).toBe(false);
    // Empty bucket, 2 tokens/s: one token is 0.5 s away.
    expect(refused.retryAfterSeconds).toBeCloseTo(0.5, 6);
    // 250 ms later half a token: still refused, 0.25 s to go; a refusal takes nothing.
    const half = await a.take('dev-1', t + 250);
    expect(half.allowed).toBe(false);
    expect(half.retryAfterSeconds).toBeCloseTo(0.25, 6);
    // 500 ms after the burst one token is back: one more passes, the next does not.
    expect((await b.take('dev-1', t + 500)).allowed).toBe(true);
    expect((await a.take('dev-1', t + 500)).allowed).toBe(false);
    // Another device has its own bucket.
    expect((await b.take('dev-2', t + 500)).allowed).toBe(true);
  });

  it('never refills past the burst, and a clock behind refills nothing', async () => {
    const t = 50_000;
    for (let i = 0; i < 3; i++) expect((await a.take('dev-3', t)).allowed).toBe(true);
    // An hour later the bucket holds 3, not 7,200.
    const later = t + 3_600_000;
    for (let i = 0; i < 3; i++) expect((await b.take('dev-3', later)).allowed).toBe(true);
    expect((await b.take('dev-3', later)).allowed).toBe(false);
    // A process whose clock is 10 s behind adds no tokens and takes none away.
    expect((await a.take('dev-3', later - 10_000)).allowed).toBe(false);
    const [row] = await db.query<{ tokens: number; at: number }>(
      'SELECT tokens, at FROM rate_buckets WHERE key = ?',
      ['dev-3'],
    );
    expect(row.tokens).toBeCloseTo(0, 9);
    expect(Number(row.at)).toBe(later);
  });

  it('is off with a rate of 0', async () => {
    const off = new PgRateLimiter(((await db.open()) as PgStore).pool, 0, 0);
    for (let i = 0; i < 10; i++) expect((await off.take('dev-4', 0)).allowed).toBe(true);
  });

  it('creates its table once when several processes take their first token at once', async () => {
    // A fresh database: no rate_buckets yet. Each limiter has its own pool, as each API process
    // does; their first takes race to create the table (a bare CREATE TABLE IF NOT EXISTS loses
    // that race with a duplicate-key error on the catalogue, which reached devices as a 500).
    const fresh = await createTestDatabase('postgres');
    try {
      const pools = await Promise.all(
        Array.from({ length: 6 }, async () => ((await fresh.open()) as PgStore).pool),
      );
      const limiters = pools.map((p) => new PgRateLimiter(p, 2, 3));
      const taken = await Promise.all(limiters.map((l, i) => l.take(`dev-${i}`, 1_000)));
      expect(taken.every((t) => t.allowed)).toBe(true);
    } finally {
      await fresh.cleanup();
    }
  });
});
