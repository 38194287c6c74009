import { describe, expect, it } from 'vitest';
import type { ClientResult, ClientTask } from '../types.js';
import { MemoryTransport, type ClientFn } from './memory.js';

const task: ClientTask = { kind: 'upload-features', round: 1 };
const answer =
  (id: string): ClientFn =>
  (t) =>
    Promise.resolve({
      kind: 'features',
      clientId: id,
      round: t.round,
      batch: {
        spec: { backboneId: 'x', backboneVersion: '1', split: 's', shape: [1] },
        sampleIds: ['0'],
        labels: Int32Array.of(0),
        features: Float32Array.of(0),
      },
      costs: { deviceFlops: 0, bytesUp: 0, bytesDown: 0 },
    } satisfies ClientResult);

const tasks = new Map(['a', 'b', 'c', 'd'].map((id) => [id, task]));

describe('MemoryTransport', () => {
  it('returns whoever answered by the deadline: no dropouts, no stragglers, no crashed clients', async () => {
    // Prepare: b drops, c answers after the deadline (virtual time: the test does not wait), d throws.
    const clients = new Map<string, ClientFn>([
      ['a', answer('a')],
      ['b', answer('b')],
      ['c', answer('c')],
      ['d', () => Promise.reject(new Error('crash'))],
    ]);
    const transport = new MemoryTransport(clients, {
      dropout: (id) => id === 'b',
      delayMs: (id) => (id === 'c' ? 60_000 : 10),
    });
    // Execute
    const started = Date.now();
    const results = await transport.runRound(1, tasks, 30_000);
    // Assert
    expect(results.map((r) => r.clientId)).toEqual(['a']);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('in real time, closes the round at the deadline without waiting for a slow client', async () => {
    const slow: ClientFn = (t) => new Promise((r) => setTimeout(() => void answer('b')(t).then(r), 2_000));
    const transport = new MemoryTransport(
      new Map([
        ['a', answer('a')],
        ['b', slow],
      ]),
      { now: () => performance.now() },
    );
    const started = performance.now();
    const results = await transport.runRound(
      1,
      new Map([
        ['a', task],
        ['b', task],
      ]),
      100,
    );
    expect(results.map((r) => r.clientId)).toEqual(['a']);
    expect(performance.now() - started).toBeLessThan(1_500);
  });
});
