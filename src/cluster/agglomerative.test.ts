import { describe, expect, it } from 'vitest';
import {
  agglomerative,
  agglomerativeFromDistances,
  cutMerges,
  nnChainMerges,
  type Linkage,
} from './agglomerative.js';
import { pairwiseDistances, type DistanceMatrix } from './distance.js';
import { createRng } from '../core/random.js';

/** Points on a line as 1-d descriptors. */
const line = (...xs: number[]): Float32Array[] => xs.map((x) => Float32Array.of(x));

/**
 * The textbook O(n³) procedure: merge the closest pair of clusters while it is at most
 * `threshold` apart, recomputing linkages from the original distances. The reference the NN-chain
 * result must equal.
 */
function naive(dist: DistanceMatrix, linkage: Linkage, threshold: number): number[] {
  const { n, data } = dist;
  let clusters = Array.from({ length: n }, (_, i) => [i]);
  const link = (a: number[], b: number[]): number => {
    const ds = a.flatMap((i) => b.map((j) => data[i * n + j]));
    if (linkage === 'single') return Math.min(...ds);
    if (linkage === 'complete') return Math.max(...ds);
    return ds.reduce((s, d) => s + d, 0) / ds.length;
  };
  for (;;) {
    let best = Number.POSITIVE_INFINITY;
    let pair: [number, number] = [-1, -1];
    for (let i = 0; i < clusters.length; i++)
      for (let j = i + 1; j < clusters.length; j++) {
        const d = link(clusters[i], clusters[j]);
        if (d < best) [best, pair] = [d, [i, j]];
      }
    if (pair[0] < 0 || best > threshold) break;
    const merged = [...clusters[pair[0]], ...clusters[pair[1]]];
    clusters = clusters.filter((_, k) => k !== pair[0] && k !== pair[1]).concat([merged]);
  }
  const labels = new Array<number>(n);
  clusters.forEach((c) => c.forEach((i) => (labels[i] = Math.min(...c))));
  return labels;
}

/** Partition as a canonical string (cluster = its smallest member). */
function partition(labels: ArrayLike<number>): string {
  const min = new Map<number, number>();
  Array.from(labels).forEach((l, i) => min.set(l, Math.min(min.get(l) ?? i, i)));
  return Array.from(labels, (l) => min.get(l)).join(',');
}

describe('agglomerative', () => {
  it('average linkage: a hand-worked line', () => {
    // Points 0, 1, 3 and 10. Merges: {0,1} at 1; {0,1}+3 at average(3, 2) = 2.5; then 10 at
    // average(10, 9, 7) = 8.67. Cut at 2.5 -> {0, 1, 3}, {10}; cut at 2 -> {0, 1}, {3}, {10}.
    const d = line(0, 1, 3, 10);
    expect(Array.from(agglomerative(d, { linkage: 'average', threshold: 2.5 }).labels)).toEqual([0, 0, 0, 1]);
    expect(Array.from(agglomerative(d, { linkage: 'average', threshold: 2 }).labels)).toEqual([0, 0, 1, 2]);
  });

  it('complete linkage needs every pair close; single linkage chains', () => {
    // A chain 0, 1, 2, 3: single merges everything at 1; complete at threshold 1.5 only pairs.
    const d = line(0, 1, 2, 3);
    expect(agglomerative(d, { linkage: 'single', threshold: 1 }).count).toBe(1);
    expect(agglomerative(d, { linkage: 'complete', threshold: 1.5 }).count).toBe(2);
    expect(agglomerative(d, { linkage: 'average', threshold: 1.5 }).count).toBe(2);
  });

  it('records the dendrogram heights of a hand-worked example', () => {
    const dist = pairwiseDistances(line(0, 1, 3, 10));
    const heights = nnChainMerges(4, dist.data.slice(), 'complete')
      .map((m) => m.height)
      .sort((a, b) => a - b);
    // complete: {0,1} at 1; {0,1}+3 at max(3, 2) = 3; everything at 10.
    expect(heights).toEqual([1, 3, 10]);
  });

  it.each(['average', 'complete', 'single'] as const)(
    'equals the textbook O(n³) procedure (%s, random sets)',
    (linkage) => {
      // Prepare: random points in the plane (no two distances equal, so the greedy order is unique).
      const rng = createRng(11);
      for (let trial = 0; trial < 40; trial++) {
        const n = 1 + Math.floor(rng() * 30);
        const dist = pairwiseDistances(
          Array.from({ length: n }, () => Float32Array.of(rng() * 6, rng() * 6)),
        );
        for (const threshold of [0.5, 1, 1.5, 2.5, 4]) {
          // Execute
          const fast = agglomerativeFromDistances(dist, { linkage, threshold });
          // Assert
          expect(partition(fast.labels)).toBe(partition(naive(dist, linkage, threshold)));
        }
      }
    },
  );

  it('handles many equal distances (grid points): terminates, complete keeps every pair within the cut', () => {
    // With ties the greedy order, hence the partition, is not unique for average and complete
    // linkage; what must hold whatever the order: the chain terminates, single linkage is exact,
    // and a complete-linkage cluster has no pair further apart than the threshold.
    const rng = createRng(5);
    for (let trial = 0; trial < 30; trial++) {
      const n = 2 + Math.floor(rng() * 25);
      const dist = pairwiseDistances(
        Array.from({ length: n }, () => Float32Array.of(Math.round(rng() * 5), Math.round(rng() * 5))),
      );
      for (const threshold of [1, 1.5, 2.5]) {
        const single = agglomerativeFromDistances(dist, { linkage: 'single', threshold });
        expect(partition(single.labels)).toBe(partition(naive(dist, 'single', threshold)));
        const complete = agglomerativeFromDistances(dist, { linkage: 'complete', threshold });
        for (let i = 0; i < n; i++)
          for (let j = 0; j < n; j++)
            if (complete.labels[i] === complete.labels[j])
              expect(dist.data[i * n + j]).toBeLessThanOrEqual(threshold);
        expect(
          agglomerativeFromDistances(dist, { linkage: 'average', threshold }).count,
        ).toBeGreaterThanOrEqual(1);
      }
    }
  });

  it('does not change the matrix it is given', () => {
    const dist = pairwiseDistances(line(0, 1, 5));
    const before = dist.data.slice();
    agglomerativeFromDistances(dist, { linkage: 'average', threshold: 2 });
    expect(Array.from(dist.data)).toEqual(Array.from(before));
  });

  it('cuts a dendrogram at any threshold (union of merges at or below it)', () => {
    const merges = [
      { a: 0, b: 1, height: 0.2, size: 2 },
      { a: 2, b: 3, height: 0.4, size: 2 },
      { a: 0, b: 2, height: 0.9, size: 4 },
    ];
    expect(Array.from(cutMerges(4, merges, 0.3).labels)).toEqual([0, 0, 1, 2]);
    expect(cutMerges(4, merges, 0.4).count).toBe(2);
    expect(cutMerges(4, merges, 1).count).toBe(1);
  });

  it('rejects an unknown linkage', () => {
    expect(() => agglomerative(line(0, 1), { linkage: 'ward' as never })).toThrow(/linkage must be one of/);
  });
});
