import { describe, expect, it } from 'vitest';
import { createRng } from '../core/random.js';
import { FedexError } from '../core/errors.js';
import { backoffDelay, DEFAULT_RETRY_POLICY, withRetry } from './backoff.js';

const policy = { baseMs: 100, maxMs: 1_000, maxAttempts: 4 };

describe('backoffDelay', () => {
  it('stays within [0, min(maxMs, baseMs × 2^attempt)) and uses the whole range', () => {
    const rng = createRng(7);
    for (let attempt = 0; attempt < 8; attempt++) {
      const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** attempt);
      const delays = Array.from({ length: 2_000 }, () => backoffDelay(attempt, policy, rng));
      expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...delays)).toBeLessThan(ceiling);
      // Full jitter: uniform, so the mean is near half the ceiling and the range is covered.
      const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
      expect(mean / ceiling).toBeGreaterThan(0.45);
      expect(mean / ceiling).toBeLessThan(0.55);
      expect(Math.max(...delays)).toBeGreaterThan(0.95 * ceiling);
    }
  });

  it('is exactly the ceiling times random()', () => {
    expect(backoffDelay(0, DEFAULT_RETRY_POLICY, () => 0.5)).toBe(125);
    expect(backoffDelay(3, DEFAULT_RETRY_POLICY, () => 0.5)).toBe(1_000);
    expect(backoffDelay(20, DEFAULT_RETRY_POLICY, () => 0.5)).toBe(15_000);
    expect(backoffDelay(5_000, DEFAULT_RETRY_POLICY, () => 0.999)).toBeCloseTo(29_970);
  });
});

describe('withRetry', () => {
  const transient = () => new FedexError('UNAVAILABLE', 'down');
  const fixed = { random: () => 0.5, retryable: (e: unknown) => (e as FedexError).code === 'UNAVAILABLE' };

  it('retries a retryable failure until it succeeds, sleeping the backoff delays between', async () => {
    const sleeps: number[] = [];
    let calls = 0;
    const result = await withRetry(
      async () => {
        calls++;
        if (calls < 3) throw transient();
        return 'ok';
      },
      { ...fixed, policy, sleep: async (ms) => void sleeps.push(ms) },
    );
    expect(result).toBe('ok');
    expect(calls).toBe(3);
    expect(sleeps).toEqual([50, 100]);
  });

  it("waits at least what the server's Retry-After asked (capped at maxMs)", async () => {
    const sleeps: number[] = [];
    let calls = 0;
    const limited = (ms: number) => Object.assign(transient(), { retryAfterMs: ms });
    await withRetry(
      async () => {
        calls++;
        if (calls === 1) throw limited(700);
        if (calls === 2) throw limited(10_000_000);
        return 'ok';
      },
      { ...fixed, policy, sleep: async (ms) => void sleeps.push(ms) },
    );
    expect(sleeps).toEqual([700, policy.maxMs]);
  });

  it('makes exactly maxAttempts attempts, then throws the last error', async () => {
    let calls = 0;
    const retries: number[] = [];
    const run = withRetry(
      async () => {
        calls++;
        throw new FedexError('UNAVAILABLE', `try ${calls}`);
      },
      { ...fixed, policy, sleep: async () => {}, onRetry: ({ attempt }) => retries.push(attempt) },
    );
    await expect(run).rejects.toThrow('try 4');
    expect(calls).toBe(policy.maxAttempts);
    expect(retries).toEqual([1, 2, 3]);
  });

  it('throws a non-retryable error at once, without sleeping', async () => {
    let calls = 0;
    let slept = 0;
    const run = withRetry(
      async () => {
        calls++;
        throw new FedexError('IDEMPOTENCY_CONFLICT', 'other bytes');
      },
      { ...fixed, policy, sleep: async () => void slept++ },
    );
    await expect(run).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
    expect([calls, slept]).toEqual([1, 0]);
  });

  it('makes one attempt when maxAttempts is 0 or 1', async () => {
    for (const maxAttempts of [0, 1]) {
      let calls = 0;
      const run = withRetry(
        async () => {
          calls++;
          throw transient();
        },
        { ...fixed, policy: { ...policy, maxAttempts }, sleep: async () => {} },
      );
      await expect(run).rejects.toThrow('down');
      expect(calls).toBe(1);
    }
  });
});
