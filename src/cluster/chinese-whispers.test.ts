import { describe, expect, it } from 'vitest';
import { chineseWhispers, chineseWhispersFromDistances, thresholdGraph } from './chinese-whispers.js';
import type { DistanceMatrix } from './distance.js';
import { syntheticFaces } from './synthetic.js';

/** A distance matrix from a list of (i, j, d) entries; everything else is far (10). */
function matrix(n: number, close: Array<[number, number, number]>): DistanceMatrix {
  const data = new Float32Array(n * n).fill(10);
  for (let i = 0; i < n; i++) data[i * n + i] = 0;
  for (const [i, j, d] of close) {
    data[i * n + j] = d;
    data[j * n + i] = d;
  }
  return { n, data };
}

describe('thresholdGraph', () => {
  it('joins pairs at most the threshold apart, and every node to itself', () => {
    const g = thresholdGraph(
      matrix(3, [
        [0, 1, 0.5],
        [1, 2, 0.6],
      ]),
      0.5,
    );
    expect(Array.from(g.offsets)).toEqual([0, 2, 4, 5]);
    expect(Array.from(g.neighbours)).toEqual([0, 1, 0, 1, 2]);
  });
});

describe('chineseWhispers', () => {
  it('merges a pair (the self-loop tie goes to the smaller label, as in dlib)', () => {
    const r = chineseWhispersFromDistances(matrix(3, [[0, 1, 0.1]]), { threshold: 0.5 });
    expect(Array.from(r.labels)).toEqual([0, 0, 1]);
  });

  it('splits two cliques joined by one bridge edge, where connected components would not', () => {
    // Prepare: cliques {0..4} and {5..9}, one stray edge 4–5.
    const close: Array<[number, number, number]> = [];
    for (const base of [0, 5])
      for (let i = 0; i < 5; i++) for (let j = i + 1; j < 5; j++) close.push([base + i, base + j, 0.3]);
    close.push([4, 5, 0.3]);
    // Execute, over several seeds
    for (let seed = 0; seed < 5; seed++) {
      const r = chineseWhispersFromDistances(matrix(10, close), { threshold: 0.5, seed });
      // Assert
      expect(r.count).toBe(2);
      expect(Array.from(r.labels)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    }
  });

  it('is reproducible with a seed, and the seed is what varies the visiting order', () => {
    const { descriptors } = syntheticFaces({
      photos: [10, 10, 10, 10, 10],
      between: 0.6,
      within: 0.5,
      seed: 2,
    });
    const runs = [0, 0, 1, 2, 3].map((seed) =>
      Array.from(chineseWhispers(descriptors, { threshold: 0.5, seed }).labels).join(),
    );
    expect(runs[0]).toBe(runs[1]);
  });

  it('stops at maxPasses and rejects a bad one', () => {
    const { descriptors } = syntheticFaces({ photos: [4, 4], seed: 1 });
    expect(chineseWhispers(descriptors, { threshold: 0.6, maxPasses: 1 }).count).toBeGreaterThanOrEqual(2);
    expect(() => chineseWhispers(descriptors, { maxPasses: 0 })).toThrow(/maxPasses/);
  });
});
