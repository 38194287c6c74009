import { beforeAll, describe, expect, it } from 'vitest';
import { initRuntime, tf } from '../runtime/node.js';
import { decodeFeatureBatch, encodeFeatureBatch } from '../core/codec.js';
import { getHead } from '../model/heads/registry.js';
import { countModelCosts } from '../model/flops.js';
import { gaussianBlobs } from '../model/testing/blobs.js';
import { l2Distance } from './aggregate.js';
import { createClient, runClientTask, weightsWireBytes, type ClientData } from './client.js';
import { readWeights } from './model-weights.js';
import type { ClientTask, Weights } from './types.js';

beforeAll(async () => {
  await initRuntime();
});

const DIM = 8;
const K = 3;

function setup(): { data: ClientData; model: tf.LayersModel; global: Weights } {
  const b = gaussianBlobs({ dim: DIM, perClass: [10, 10, 10], spread: 0.3, seed: 2 });
  const model = getHead('linear').build([DIM], K, {}, 0);
  return {
    data: { features: b.x, labels: b.y, shape: [DIM], n: b.y.length },
    model,
    global: readWeights(model),
  };
}

const trainTask = (
  global: Weights,
  over: Partial<Extract<ClientTask, { kind: 'train' }>> = {},
): ClientTask => ({
  kind: 'train',
  round: 1,
  weights: global,
  localEpochs: 5,
  batchSize: 10,
  learningRate: 0.5,
  mu: 0,
  seed: 7,
  ...over,
});

const opts = { clientId: 'a', bottomMode: 'cached' as const, bottomFlopsPerPhoto: 1000 };

describe('runClientTask: train', () => {
  it('learns the local data with plain SGD and leaks no tensors', async () => {
    const { data, model, global } = setup();
    const before = tf.memory().numTensors;
    const r = await runClientTask(trainTask(global), data, model, opts);
    expect(tf.memory().numTensors).toBe(before);
    expect(r.kind).toBe('weights');
    if (r.kind !== 'weights') return;
    expect(r.numExamples).toBe(30);
    expect(r.metrics.accuracy).toBeGreaterThan(0.9);
    expect(r.weights.map((t) => t.name)).toEqual(global.map((t) => t.name));
    model.dispose();
  });

  it('is deterministic for a seed', async () => {
    const { data, model, global } = setup();
    const a = await runClientTask(trainTask(global), data, model, opts);
    const b = await runClientTask(trainTask(global), data, model, opts);
    const c = await runClientTask(trainTask(global, { seed: 8 }), data, model, opts);
    if (a.kind !== 'weights' || b.kind !== 'weights' || c.kind !== 'weights') throw new Error('kind');
    expect(l2Distance(a.weights, b.weights)).toBe(0);
    expect(l2Distance(a.weights, c.weights)).toBeGreaterThan(0);
    model.dispose();
  });

  it('keeps the update close to the global weights when the proximal mu is large', async () => {
    const { data, model, global } = setup();
    const free = await runClientTask(trainTask(global), data, model, opts);
    const prox = await runClientTask(trainTask(global, { mu: 1.5 }), data, model, opts);
    if (free.kind !== 'weights' || prox.kind !== 'weights') throw new Error('kind');
    const dFree = l2Distance(free.weights, global);
    const dProx = l2Distance(prox.weights, global);
    expect(dProx).toBeLessThan(dFree * 0.5);
    model.dispose();
  });

  it('counts top FLOPs per epoch, the bottom once when cached and every epoch when recomputed, and wire bytes', async () => {
    const { data, model, global } = setup();
    const top = countModelCosts(model).totals;
    const perSample = top.forwardFlops + top.backwardFlops;
    const client = createClient(data, model, opts);
    const first = await client(trainTask(global));
    const second = await client(trainTask(global, { round: 2 }));
    const recompute = await runClientTask(trainTask(global), data, model, {
      ...opts,
      bottomMode: 'recompute',
    });
    expect(first.costs.deviceFlops).toBe(30 * 1000 + 30 * 5 * perSample);
    expect(second.costs.deviceFlops).toBe(30 * 5 * perSample);
    expect(recompute.costs.deviceFlops).toBe(30 * 5 * 1000 + 30 * 5 * perSample);
    expect(first.costs.bytesDown).toBe(weightsWireBytes(global));
    expect(first.costs.bytesUp).toBe(first.costs.bytesDown);
    model.dispose();
  });
});

describe('runClientTask: upload-features', () => {
  it('returns the labelled features and counts the bottom and the float16 upload', async () => {
    const { data, model } = setup();
    const r = await runClientTask({ kind: 'upload-features', round: 1 }, data, model, opts);
    if (r.kind !== 'features') throw new Error('kind');
    expect(Array.from(r.batch.labels)).toEqual(Array.from(data.labels));
    expect(r.batch.features).toEqual(data.features);
    expect(r.costs.deviceFlops).toBe(30 * 1000);
    const bytes = encodeFeatureBatch(r.batch, { dtype: 'float16' });
    expect(r.costs.bytesUp).toBe(bytes.length);
    expect(decodeFeatureBatch(bytes).labels.length).toBe(30);
    model.dispose();
  });
});
