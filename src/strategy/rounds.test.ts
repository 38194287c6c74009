import { beforeAll, describe, expect, it } from 'vitest';
import { initRuntime, tf } from '../runtime/node.js';
import { l2Distance } from './aggregate.js';
import { getStrategy } from './registry.js';
import { DEFAULT_ROUND_SETTINGS, runRounds, screenResults } from './rounds.js';
import { blobPopulation, type SimPopulation } from './testing/sim.js';
import { MemoryTransport, type ClientFn } from './transport/memory.js';
import type { ClientResult, ClientTask, RoundSettings, Transport } from './types.js';

beforeAll(async () => {
  await initRuntime();
});

const settings: RoundSettings = {
  ...DEFAULT_ROUND_SETTINGS,
  clientFraction: 0.5,
  minClients: 2,
  localEpochs: 2,
  batchSize: 10,
  learningRate: 0.5,
  rejectNorm: 50,
  seed: 3,
};

function population(): SimPopulation {
  return blobPopulation({ numClients: 10, numClasses: 10, dim: 8, perClass: 30, spread: 0.3 });
}

async function fedavg(
  pop: SimPopulation,
  rounds: number,
  transportOptions = {},
  clients?: Map<string, ClientFn>,
) {
  return runRounds({
    strategy: getStrategy('fedavg'),
    transport: new MemoryTransport(clients ?? pop.clients(), transportOptions),
    clients: pop.ids,
    initial: pop.initial,
    settings,
    rounds,
    evaluate: (w) => pop.evaluate(w),
  });
}

describe('runRounds with the in-memory transport', () => {
  it('FedAvg on non-IID clients reaches high accuracy and logs who took part', async () => {
    const pop = population();
    const clients = pop.clients();
    const before = tf.memory().numTensors;
    const out = await fedavg(pop, 15, {}, clients);
    expect(tf.memory().numTensors).toBe(before);
    expect(out.accuracyByRound).toHaveLength(16);
    expect(out.accuracyByRound[0]).toBeLessThan(0.5);
    expect(out.accuracyByRound[15]).toBeGreaterThan(0.9);
    for (const log of out.logs) {
      expect(log.applied).toBe(true);
      expect(log.selected).toHaveLength(5);
      expect(log.participants).toEqual(log.selected);
    }
    const c = out.costs.get(out.logs[0].selected[0])!;
    expect(c.deviceFlops).toBeGreaterThan(0);
    expect(c.bytesUp).toBeGreaterThan(0);
    pop.dispose();
  });

  it('stops at the target; a start that already meets it runs no round', async () => {
    const pop = population();
    const run = (initial: typeof pop.initial, stopAtAccuracy: number) =>
      runRounds({
        strategy: getStrategy('fedavg'),
        transport: new MemoryTransport(pop.clients()),
        clients: pop.ids,
        initial,
        settings,
        rounds: 15,
        evaluate: (w) => pop.evaluate(w),
        stopAtAccuracy,
      });
    const toTarget = await run(pop.initial, 0.8);
    const rounds = toTarget.logs.length;
    expect(rounds).toBeGreaterThan(0);
    expect(rounds).toBeLessThan(15);
    expect(toTarget.accuracyByRound[rounds]).toBeGreaterThanOrEqual(0.8);
    expect(toTarget.accuracyByRound[rounds - 1]).toBeLessThan(0.8);
    // Starting from the trained weights: already there, so nothing runs and nothing is spent.
    const again = await run(toTarget.weights, 0.8);
    expect(again.logs).toHaveLength(0);
    expect(again.costs.size).toBe(0);
    expect(again.accuracyByRound).toEqual([toTarget.accuracyByRound[rounds]]);
    expect(again.weights).toBe(toTarget.weights);
    pop.dispose();
  });

  it('is deterministic: the same seed gives the same weights', async () => {
    const pop = population();
    const a = await fedavg(pop, 3);
    const b = await fedavg(pop, 3);
    expect(l2Distance(a.weights, b.weights)).toBe(0);
    pop.dispose();
  });

  it('completes with 30% dropouts and stragglers past the deadline, logging them as dropped', async () => {
    const pop = population();
    const dropout = (id: string, round: number) => (id.charCodeAt(2) + round) % 10 < 3;
    const delayMs = (id: string) => (id === 'c09' ? 10 * settings.deadlineMs : 5);
    const out = await fedavg(pop, 15, { dropout, delayMs });
    const dropped = out.logs.flatMap((l) => l.dropped);
    expect(dropped.length).toBeGreaterThan(10);
    for (const log of out.logs) expect(log.participants).not.toContain('c09');
    expect(out.logs.filter((l) => l.applied).length).toBeGreaterThan(10);
    expect(out.accuracyByRound.at(-1)).toBeGreaterThan(0.8);
    pop.dispose();
  });

  it('rejects a NaN client and a huge-norm client, logs why, and averages the rest', async () => {
    const pop = population();
    const clients = pop.clients();
    const honest = clients.get('c01')!;
    const poison =
      (value: number): ClientFn =>
      async (task) => {
        const r = await honest(task);
        if (r.kind !== 'weights') return r;
        const weights = r.weights.map((t, i) => (i === 0 ? { ...t, values: t.values.map(() => value) } : t));
        return { ...r, clientId: value === 1e6 ? 'c02' : 'c03', weights };
      };
    clients.set('c02', poison(1e6));
    clients.set('c03', poison(Number.NaN));
    const everyone = { ...settings, clientFraction: 1 };
    const out = await runRounds({
      strategy: getStrategy('fedavg'),
      transport: new MemoryTransport(clients),
      clients: pop.ids,
      initial: pop.initial,
      settings: everyone,
      rounds: 2,
      evaluate: (w) => pop.evaluate(w),
    });
    for (const log of out.logs) {
      const why = new Map(log.rejected.map((r) => [r.clientId, r.reason]));
      expect(why.get('c02')).toMatch(/limit 50/);
      expect(why.get('c03')).toMatch(/non-finite/);
      expect(log.participants).not.toContain('c02');
      expect(log.participants).toHaveLength(pop.ids.length - 2);
      expect(log.applied).toBe(true);
    }
    expect(out.weights.every((t) => t.values.every(Number.isFinite))).toBe(true);
    expect(out.accuracyByRound.at(-1)).toBeGreaterThan(out.accuracyByRound[0]);
    pop.dispose();
  });

  it('does not apply a round below minClients: the weights stay', async () => {
    const pop = population();
    const out = await fedavg(pop, 2, { dropout: (id: string) => id !== 'c00' });
    for (const log of out.logs) {
      expect(log.applied).toBe(false);
      expect(log.participants.length).toBeLessThan(2);
    }
    expect(l2Distance(out.weights, pop.initial)).toBe(0);
    pop.dispose();
  });

  it('FedEx: one upload round, the cloud trains, then idle rounds', async () => {
    const pop = population();
    const out = await runRounds({
      strategy: getStrategy('fedex', {
        fedex: {
          head: 'linear',
          inputShape: [8],
          numClasses: 10,
          train: { epochs: 80, learningRate: 0.05, validationSplit: 0, batchSize: 16 },
        },
      }),
      transport: new MemoryTransport(pop.clients()),
      clients: pop.ids,
      initial: pop.initial,
      settings,
      rounds: 3,
      evaluate: (w) => pop.evaluate(w),
    });
    expect(out.logs[0].participants).toHaveLength(pop.ids.length);
    expect(out.logs[0].applied).toBe(true);
    expect(out.logs[1].selected).toHaveLength(0);
    expect(out.accuracyByRound[1]).toBeGreaterThan(0.9);
    pop.dispose();
  });
});

describe('screenResults', () => {
  const global = [{ name: 'w', shape: [1], values: Float32Array.of(0) }];
  const task: ClientTask = {
    kind: 'train',
    round: 4,
    weights: global,
    localEpochs: 1,
    batchSize: 1,
    learningRate: 1,
    mu: 0,
    seed: 0,
  };
  const tasks = new Map([
    ['a', task],
    ['b', task],
  ]);
  const res = (clientId: string, round = 4): ClientResult => ({
    kind: 'weights',
    clientId,
    round,
    weights: [{ name: 'w', shape: [1], values: Float32Array.of(1) }],
    numExamples: 1,
    metrics: { loss: 0, accuracy: 0 },
    costs: { deviceFlops: 0, bytesUp: 0, bytesDown: 0 },
  });

  it('rejects late, unselected, duplicate and wrong-kind results with reasons', () => {
    const upload: ClientResult = {
      kind: 'features',
      clientId: 'b',
      round: 4,
      batch: {
        spec: { backboneId: 'x', backboneVersion: '1', split: 's', shape: [1] },
        sampleIds: ['1'],
        labels: Int32Array.of(0),
        features: Float32Array.of(1),
      },
      costs: { deviceFlops: 0, bytesUp: 0, bytesDown: 0 },
    };
    const { accepted, rejected } = screenResults(
      4,
      tasks,
      [res('a'), res('a'), res('a', 3), res('z'), upload],
      global,
      { rejectNorm: 0 },
    );
    expect(accepted.map((r) => r.clientId)).toEqual(['a']);
    expect(rejected.map((r) => r.reason)).toEqual([
      'duplicate result',
      'result for round 3 arrived in round 4',
      'client was not selected this round',
      'asked to train, sent features',
    ]);
  });

  it('a transport returning junk cannot break the runner', async () => {
    const junk: Transport = { runRound: (round) => Promise.resolve([res('a', round + 1)]) };
    const out = await runRounds({
      strategy: getStrategy('fedavg'),
      transport: junk,
      clients: ['a', 'b'],
      initial: global,
      settings: { ...settings, minClients: 1 },
      rounds: 1,
    });
    expect(out.logs[0].applied).toBe(false);
    expect(out.logs[0].rejected).toHaveLength(1);
    expect(out.logs[0].dropped).toEqual(out.logs[0].selected);
    expect(out.logs[0].selected).toHaveLength(1);
  });
});
