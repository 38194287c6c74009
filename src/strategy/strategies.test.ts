import { beforeAll, describe, expect, it } from 'vitest';
import { initRuntime, tf } from '../runtime/node.js';
import { l2Distance } from './aggregate.js';
import { getStrategy, STRATEGY_NAMES } from './registry.js';
import { DEFAULT_ROUND_SETTINGS } from './rounds.js';
import { selectionSize } from './select.js';
import { blobPopulation } from './testing/sim.js';
import type { ClientResult, RoundSettings, Weights } from './types.js';

beforeAll(async () => {
  await initRuntime();
});

const ids = Array.from({ length: 20 }, (_, i) => `d${i}`);
const settings: RoundSettings = { ...DEFAULT_ROUND_SETTINGS, clientFraction: 0.25, minClients: 3, seed: 5 };
const global: Weights = [{ name: 'w', shape: [2], values: Float32Array.of(0, 0) }];
const fedexOptions = { head: 'linear', inputShape: [8], numClasses: 4 };

describe('registry', () => {
  it('gives every strategy by name and refuses unknown names', () => {
    for (const name of STRATEGY_NAMES) expect(getStrategy(name, { fedex: fedexOptions }).name).toBe(name);
    expect(() => getStrategy('krum')).toThrow(/unknown strategy/);
    expect(() => getStrategy('fedex')).toThrow(/needs options/);
  });
});

describe.each(['fedavg', 'fedprox'])('%s configureRound', (name) => {
  it('selects max(minClients, round(C·available)) clients, seeded per round', () => {
    const s = getStrategy(name);
    const r1 = s.configureRound(1, ids, global, settings);
    const again = s.configureRound(1, [...ids].reverse(), global, settings);
    const r2 = s.configureRound(2, ids, global, settings);
    expect(r1.size).toBe(5);
    expect([...again.keys()]).toEqual([...r1.keys()]);
    expect([...r2.keys()]).not.toEqual([...r1.keys()]);
    expect(s.configureRound(1, ids.slice(0, 4), global, settings).size).toBe(3); // minClients wins
    expect(selectionSize(2, settings)).toBe(2); // never more than available
    for (const task of r1.values()) {
      expect(task.kind).toBe('train');
      if (task.kind === 'train') {
        expect(task.mu).toBe(name === 'fedprox' ? settings.mu : 0);
        expect(task.weights).toBe(global);
      }
    }
  });

  it('aggregates by example count, clipping first when clipNorm is set', async () => {
    const s = getStrategy(name);
    const result = (v: number[], n: number): ClientResult => ({
      kind: 'weights',
      clientId: `c${n}`,
      round: 1,
      weights: [{ name: 'w', shape: [2], values: Float32Array.from(v) }],
      numExamples: n,
      metrics: { loss: 0, accuracy: 0 },
      costs: { deviceFlops: 0, bytesUp: 0, bytesDown: 0 },
    });
    const mean = await s.aggregate(1, global, [result([4, 0], 1), result([0, 4], 3)], settings);
    expect(Array.from(mean[0].values)).toEqual([1, 3]);
    const clipped = await s.aggregate(1, global, [result([4, 0], 1), result([0, 4], 3)], {
      ...settings,
      clipNorm: 2,
    });
    expect(Array.from(clipped[0].values)).toEqual([0.5, 1.5]);
  });

  it('steps along the average with a server optimizer (FedAvgM: half the way at rate 0.5, then momentum)', async () => {
    const s = getStrategy(name, { fedavg: { server: { kind: 'momentum', learningRate: 0.5, beta1: 0.5 } } });
    const result = (v: number[]): ClientResult => ({
      kind: 'weights',
      clientId: 'c1',
      round: 1,
      weights: [{ name: 'w', shape: [2], values: Float32Array.from(v) }],
      numExamples: 1,
      metrics: { loss: 0, accuracy: 0 },
      costs: { deviceFlops: 0, bytesUp: 0, bytesDown: 0 },
    });
    const first = await s.aggregate(1, global, [result([4, 2])], settings);
    expect(Array.from(first[0].values)).toEqual([2, 1]); // v = Δ = (4, 2); w = 0.5·v
    const second = await s.aggregate(2, first, [result([4, 2])], settings);
    // Δ = (2, 1); v = 0.5·(4, 2) + (2, 1) = (4, 2); w = (2, 1) + 0.5·(4, 2)
    expect(Array.from(second[0].values)).toEqual([4, 2]);
    expect(() => getStrategy(name, { fedavg: { server: { kind: 'adam', learningRate: 0 } } })).toThrow(
      /server learning rate must be > 0/,
    );
  });
});

describe('fedex', () => {
  it('asks every available client to upload once, then trains the top on the union in the cloud', async () => {
    const pop = blobPopulation({ numClients: 4, numClasses: 4, dim: 8, perClass: 20 });
    const s = getStrategy('fedex', {
      fedex: {
        ...fedexOptions,
        train: { epochs: 60, learningRate: 0.05, validationSplit: 0, batchSize: 16 },
      },
    });
    const tasks = s.configureRound(1, pop.ids, pop.initial, settings);
    expect([...tasks.values()].every((t) => t.kind === 'upload-features')).toBe(true);
    expect(tasks.size).toBe(pop.ids.length);
    const clients = pop.clients();
    const results = await Promise.all([...tasks].map(([id, t]) => clients.get(id)!(t)));
    const before = tf.memory().numTensors;
    const trained = await s.aggregate(1, pop.initial, results, settings);
    expect(tf.memory().numTensors).toBe(before);
    expect(l2Distance(trained, pop.initial)).toBeGreaterThan(0);
    expect(trained.map((t) => t.name)).toEqual(pop.initial.map((t) => t.name));
    expect(await pop.evaluate(trained)).toBeGreaterThan(0.9);
    expect(s.configureRound(2, pop.ids, trained, settings).size).toBe(0);
    pop.dispose();
  });

  it('after early stopping, refits on every upload for the best epoch count (as server jobs do)', async () => {
    const pop = blobPopulation({ numClients: 4, numClasses: 4, dim: 8, perClass: 20 });
    const train = { epochs: 8, learningRate: 0.05, validationSplit: 0.25, batchSize: 16, patience: 100 };
    const refit = getStrategy('fedex', { fedex: { ...fedexOptions, train } });
    const plain = getStrategy('fedex', { fedex: { ...fedexOptions, train, refit: false } });
    const tasks = refit.configureRound(1, pop.ids, pop.initial, settings);
    const clients = pop.clients();
    const results = await Promise.all([...tasks].map(([id, t]) => clients.get(id)!(t)));
    const before = tf.memory().numTensors;
    const a = await refit.aggregate(1, pop.initial, results, settings);
    const b = await plain.aggregate(1, pop.initial, results, settings);
    expect(tf.memory().numTensors).toBe(before);
    expect(l2Distance(a, b)).toBeGreaterThan(0); // trained on all 80 samples, not 60
    // The refit's FLOPs come on top: 8 epochs over 80 samples of forward + backward.
    expect(refit.lastAggregateFlops!()).toBeGreaterThan(plain.lastAggregateFlops!());
    pop.dispose();
  });

  it('with cloudFedAvg runs rounds of FedAvg over the uploads on the server: the same SGD and mean a FedAvg round computes', async () => {
    const pop = blobPopulation({ numClients: 4, numClasses: 4, dim: 8, perClass: 20 });
    const recipe = { rounds: 1, clientsPerRound: 4, localEpochs: 2, batchSize: 10, learningRate: 0.5 };
    const s = getStrategy('fedex', { fedex: { ...fedexOptions, cloudFedAvg: recipe } });
    const tasks = s.configureRound(1, pop.ids, pop.initial, settings);
    const clients = pop.clients();
    const uploads = await Promise.all([...tasks].map(([id, t]) => clients.get(id)!(t)));
    const before = tf.memory().numTensors;
    const cloud = await s.aggregate(1, pop.initial, uploads, settings);
    expect(tf.memory().numTensors).toBe(before);
    // One round over all 4 devices = what FedAvg computes when each device trains on its own data
    // with the same recipe (the seeds differ, so the epoch orders do; the means stay close).
    const fedavg = getStrategy('fedavg');
    const trained = await Promise.all(
      pop.ids.map((id) =>
        clients.get(id)!({
          kind: 'train',
          round: 1,
          weights: pop.initial,
          localEpochs: 2,
          batchSize: 10,
          learningRate: 0.5,
          mu: 0,
          seed: 1,
        }),
      ),
    );
    const avg = await fedavg.aggregate(1, pop.initial, trained, settings);
    const moved = l2Distance(avg, pop.initial);
    expect(l2Distance(cloud, pop.initial)).toBeGreaterThan(0.5 * moved);
    expect(l2Distance(cloud, avg)).toBeLessThan(0.5 * moved);
    // The cloud paid every local epoch: forward + backward over each device's photos, twice.
    expect(s.lastAggregateFlops!()).toBe(trained.reduce((a, r) => a + r.costs.deviceFlops, 0));
    // More rounds learn the task.
    const long = getStrategy('fedex', { fedex: { ...fedexOptions, cloudFedAvg: { ...recipe, rounds: 15 } } });
    const learned = await long.aggregate(1, pop.initial, uploads, settings);
    expect(await pop.evaluate(learned)).toBeGreaterThan(0.9);
    pop.dispose();
  });

  it('with cloudFedAvg trains the uploads of one device (groupBy) as one client', async () => {
    const pop = blobPopulation({ numClients: 2, numClasses: 4, dim: 8, perClass: 10 });
    const clients = pop.clients();
    const uploads = await Promise.all(
      pop.ids.map(async (id, day) => ({
        ...(await clients.get(id)!({ kind: 'upload-features', round: 1 })),
        clientId: `phone#${day}`, // two days' uploads of one phone
      })),
    );
    const recipe = { rounds: 1, localEpochs: 1, batchSize: 10, learningRate: 0.1 };
    const flops = async (clientsPerRound: number, groupBy?: (id: string) => string) => {
      const s = getStrategy('fedex', {
        fedex: {
          ...fedexOptions,
          cloudFedAvg: { ...recipe, clientsPerRound, ...(groupBy ? { groupBy } : {}) },
        },
      });
      await s.aggregate(1, pop.initial, uploads, settings);
      return s.lastAggregateFlops!();
    };
    const byPhone = (id: string) => id.split('#')[0];
    // Grouped, one client holds both uploads: one picked client trains on all of them ...
    expect(await flops(1, byPhone)).toBe(await flops(2));
    // ... where, ungrouped, one picked client trains on one day's upload only.
    expect(await flops(1)).toBeLessThan(await flops(2));
    pop.dispose();
  });

  it("with start 'fresh' trains from the head as built whatever the global weights are; warm starts from them", async () => {
    const pop = blobPopulation({ numClients: 4, numClasses: 4, dim: 8, perClass: 20 });
    const train = { epochs: 3, learningRate: 0.05, validationSplit: 0.25, batchSize: 16, patience: 100 };
    const fresh = getStrategy('fedex', { fedex: { ...fedexOptions, train, start: 'fresh' } });
    const warm = getStrategy('fedex', { fedex: { ...fedexOptions, train } });
    const tasks = fresh.configureRound(1, pop.ids, pop.initial, settings);
    const clients = pop.clients();
    const results = await Promise.all([...tasks].map(([id, t]) => clients.get(id)!(t)));
    // Another global: the initial weights scaled by 5.
    const moved = pop.initial.map((t) => ({ ...t, values: t.values.map((v) => v * 5 + 0.1) }));
    const before = tf.memory().numTensors;
    const f1 = await fresh.aggregate(1, pop.initial, results, settings);
    const f2 = await fresh.aggregate(1, moved, results, settings);
    const w1 = await warm.aggregate(1, pop.initial, results, settings);
    const w2 = await warm.aggregate(1, moved, results, settings);
    expect(tf.memory().numTensors).toBe(before);
    expect(l2Distance(f1, f2)).toBe(0);
    expect(l2Distance(w1, w2)).toBeGreaterThan(0.1);
    pop.dispose();
  });
});
