import { describe, expect, it } from 'vitest';
import { initRuntime, tf } from '../runtime/node.js';
import { euclideanDistance, pairwiseDistances } from './distance.js';
import { pairwiseDistancesTf } from './distance-tf.js';
import { syntheticFaces } from './synthetic.js';

describe('pairwiseDistances', () => {
  it('computes Euclidean distances, symmetric with a zero diagonal (hand-worked 3-4-5)', () => {
    const d = pairwiseDistances([Float32Array.of(0, 0), Float32Array.of(3, 4), Float32Array.of(3, 0)]);
    expect(Array.from(d.data)).toEqual([0, 5, 3, 5, 0, 4, 3, 4, 0]);
  });

  it('matches the direct formula on 128-d descriptors (odd sizes too)', () => {
    const { descriptors } = syntheticFaces({ photos: [3, 2], seed: 1 });
    const odd = descriptors.map((d) => d.subarray(0, 127));
    for (const set of [descriptors, odd]) {
      const d = pairwiseDistances(set);
      for (let i = 0; i < set.length; i++)
        for (let j = 0; j < set.length; j++)
          expect(d.data[i * set.length + j]).toBeCloseTo(i === j ? 0 : euclideanDistance(set[i], set[j]), 5);
    }
  });

  it('fills every pair for sizes 1 to 7 (odd sizes leave a last row to the blocks above it)', () => {
    const { descriptors } = syntheticFaces({ photos: [7], seed: 3 });
    for (let n = 1; n <= 7; n++) {
      const set = descriptors.slice(0, n);
      const d = pairwiseDistances(set);
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++)
          expect(d.data[i * n + j]).toBeCloseTo(i === j ? 0 : euclideanDistance(set[i], set[j]), 5);
    }
  });

  it('gives an empty matrix for no descriptors', () => {
    expect(pairwiseDistances([])).toEqual({ n: 0, data: new Float32Array(0) });
  });
});

describe('pairwiseDistancesTf', () => {
  it('agrees with the JS matrix, is symmetric, and leaks no tensor', async () => {
    await initRuntime();
    const { descriptors } = syntheticFaces({ photos: [40, 30, 20], seed: 2 });
    const before = tf.memory().numTensors;
    const a = pairwiseDistancesTf(descriptors);
    const b = pairwiseDistances(descriptors);
    expect(tf.memory().numTensors).toBe(before);
    const n = descriptors.length;
    let worst = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        worst = Math.max(worst, Math.abs(a.data[i * n + j] - b.data[i * n + j]));
        expect(a.data[i * n + j]).toBe(a.data[j * n + i]);
      }
    expect(worst).toBeLessThan(1e-4);
    expect(pairwiseDistancesTf([]).n).toBe(0);
  });
});
