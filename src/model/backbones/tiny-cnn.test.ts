import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../../core/random.js';
import { initRuntime } from '../../runtime/node.js';
import { sumCosts } from '../layer-cost.js';
import type { Backbone } from '../types.js';
import { backboneConformance } from './backbone.case.js';
import { createTinyCnn, TINY_CNN_ID } from './tiny-cnn.js';

function seededBatch(n: number, seed: number): tf.Tensor4D {
  const rng = createRng(seed);
  return tf.tensor4d(
    Float32Array.from({ length: n * 32 * 32 * 3 }, () => Math.floor(rng() * 256)),
    [n, 32, 32, 3],
  );
}

describe('tiny-cnn', () => {
  let bb: Backbone;
  let x: tf.Tensor4D;

  beforeAll(async () => {
    await initRuntime();
    bb = createTinyCnn();
    x = seededBatch(3, 11);
  });
  afterAll(() => {
    x?.dispose();
    bb?.dispose();
  });

  describe('conformance', () => {
    backboneConformance({ backbone: () => bb, input: () => x, tolerance: 1e-5, trainSplit: 'conv1' });
  });

  it('has the splits conv1 [16,16,8], conv2 [8,8,16], embedding [16], and a seed in its version', () => {
    expect(bb.id).toBe(TINY_CNN_ID);
    expect(bb.version).toBe('1-seed1');
    expect(bb.splits.map((s) => [s.name, s.shape])).toEqual([
      ['conv1', [16, 16, 8]],
      ['conv2', [8, 8, 16]],
      ['embedding', [16]],
    ]);
  });

  it('gives the same features for the same seed and different ones for another seed', () => {
    const again = createTinyCnn({ seed: 1 });
    const other = createTinyCnn({ seed: 2 });

    const [a, b, c] = [bb, again, other].map((m) => {
      const f = m.bottom(x, 'embedding');
      const v = f.dataSync().slice();
      f.dispose();
      return v;
    });
    const otherVersion = other.version;
    again.dispose();
    other.dispose();

    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(c)).not.toEqual(Array.from(a));
    expect(otherVersion).toBe('1-seed2');
  });

  it('has features that vary with the input (no dead network)', () => {
    const f = bb.bottom(x, 'embedding');
    const spread = tf.tidy(() => tf.moments(f, 0).variance.mean().dataSync()[0]);
    f.dispose();

    expect(spread).toBeGreaterThan(1e-6);
  });

  it('counts conv1 as 2·3·3·3·8·32·32 + bias and relu, and the pool as 2·2 per output', () => {
    const costs = bb.bottomCosts('conv1');

    const [conv, pool] = costs;
    expect(costs).toHaveLength(2);
    expect(conv).toMatchObject({
      name: 'conv1',
      kind: 'conv2d',
      outputShape: [32, 32, 8],
      params: 3 * 3 * 3 * 8 + 8,
      trainableParams: 0,
      forwardFlops: 2 * 3 * 3 * 3 * 8 * 32 * 32 + 8 * 32 * 32 + 8 * 32 * 32,
    });
    expect(pool).toMatchObject({ kind: 'maxPool', outputShape: [16, 16, 8], forwardFlops: 4 * 16 * 16 * 8 });
    expect(sumCosts(bb.bottomCosts('embedding')).params).toBe(224 + 1168 + 4640 + 528);
  });
});
