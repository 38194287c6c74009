import { describe, expect, it } from 'vitest';
import { TokenBuckets } from './rate-limit.js';

describe('TokenBuckets', () => {
  it('allows a burst, then the sustained rate, per key', () => {
    const b = new TokenBuckets(2, 3);
    const t = 1_000_000;
    expect([1, 2, 3, 4].map(() => b.take('a', t).allowed)).toEqual([true, true, true, false]);
    expect(b.take('b', t).allowed).toBe(true); // another key has its own bucket
    const denied = b.take('a', t);
    expect(denied.retryAfterSeconds).toBeCloseTo(0.5, 5);
    expect(b.take('a', t + 500).allowed).toBe(true); // 2/s: one token after 500 ms
    expect(b.take('a', t + 500).allowed).toBe(false);
    expect([0, 1, 2, 3].map(() => b.take('a', t + 100_000).allowed)).toEqual([true, true, true, false]); // refill caps at burst
  });

  it('is disabled at 0 per second', () => {
    const b = new TokenBuckets(0, 0);
    for (let i = 0; i < 1000; i++) expect(b.take('a', 0).allowed).toBe(true);
  });

  it('forgets the least recently used keys beyond maxKeys', () => {
    const b = new TokenBuckets(1, 1, 2);
    b.take('a', 0);
    b.take('b', 0);
    b.take('c', 0); // evicts a
    expect(b.take('a', 0).allowed).toBe(true);
    expect(b.take('c', 0).allowed).toBe(false);
  });
});
