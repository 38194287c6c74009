/**
 * Agglomerative (hierarchical) clustering with a distance threshold: start with every face alone,
 * repeatedly merge the two closest clusters, stop when the closest pair is further apart than the
 * threshold. The linkage says how far two clusters are: `average` (UPGMA: mean of all cross
 * distances), `complete` (the largest cross distance: every pair in a cluster is close) or
 * `single` (the smallest: the connected components of the threshold graph).
 *
 * Cost O(n²) time and memory, never O(n³): the nearest-neighbour chain algorithm (Murtagh 1983;
 * Müllner 2011, "Modern hierarchical, agglomerative clustering algorithms", section 3.2) builds
 * the whole dendrogram with Lance–Williams updates of one distance matrix in place. It is exact
 * for these three linkages because they are reducible (merging two clusters never brings the
 * result closer to a third than both were), hence also monotone: the merges at or below the
 * threshold, joined in any order, give exactly the flat clustering of the greedy procedure.
 *
 * Platform-neutral and pure (the matrix passed to `...FromDistances` is copied, not changed).
 */
import { FedexError } from '../core/errors.js';
import { pairwiseDistances, type DistanceMatrix } from './distance.js';
import { canonicalLabels, checkThreshold, type Clustering } from './types.js';

export type Linkage = 'average' | 'complete' | 'single';

export const LINKAGES: readonly Linkage[] = ['average', 'complete', 'single'];

/** Options of agglomerative clustering; defaults in {@link DEFAULT_AGGLOMERATIVE_OPTIONS}. */
export interface AgglomerativeOptions {
  /** Cluster distance rule. Default `'average'`. */
  linkage?: Linkage;
  /**
   * Clusters at most this far apart (by the linkage) are merged. Default 0.59 (average linkage,
   * calibrated on LFW); each linkage's calibrated value is in `DEFAULT_METHOD_PARAMS` (./methods.ts).
   */
  threshold?: number;
}

export const DEFAULT_AGGLOMERATIVE_OPTIONS: Required<AgglomerativeOptions> = {
  linkage: 'average',
  threshold: 0.59,
};

/** One merge of the dendrogram: two representatives (original face indices) and the linkage distance. */
export interface Merge {
  a: number;
  b: number;
  height: number;
  /** Faces in the merged cluster. */
  size: number;
}

/**
 * The full dendrogram (n − 1 merges, in the order the chain found them, not sorted by height) by
 * the nearest-neighbour chain. `data` is used as scratch space and left changed.
 */
export function nnChainMerges(n: number, data: Float32Array, linkage: Linkage): Merge[] {
  if (!LINKAGES.includes(linkage)) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `linkage must be one of ${LINKAGES.join(', ')} (got ${String(linkage)})`,
    );
  }
  const size = new Int32Array(n).fill(1);
  // Active cluster slots, compact; a slot is named by one of its faces' indices.
  const active = Int32Array.from({ length: n }, (_, i) => i);
  const where = Int32Array.from({ length: n }, (_, i) => i); // slot -> position in `active`, -1 when merged
  let nActive = n;
  const chain = new Int32Array(n);
  let top = 0;
  const merges: Merge[] = [];
  while (nActive > 1) {
    if (top === 0) chain[top++] = active[0];
    let a: number;
    let b: number;
    let dab: number;
    for (;;) {
      a = chain[top - 1];
      const prev = top >= 2 ? chain[top - 2] : -1;
      // Start from the previous chain element, and only switch for something strictly closer:
      // with ties, this is what keeps the chain from cycling.
      let best = prev >= 0 ? data[a * n + prev] : Number.POSITIVE_INFINITY;
      let bi = prev;
      const row = a * n;
      for (let p = 0; p < nActive; p++) {
        const j = active[p];
        if (j === a) continue;
        const d = data[row + j];
        if (d < best) {
          best = d;
          bi = j;
        }
      }
      if (bi === prev) {
        b = prev;
        dab = best;
        top -= 2;
        break;
      }
      chain[top++] = bi;
    }
    // Merge b into a (slot a keeps the union); Lance–Williams update of a's row and column.
    const sa = size[a];
    const sb = size[b];
    const ra = a * n;
    const rb = b * n;
    for (let p = 0; p < nActive; p++) {
      const k = active[p];
      if (k === a || k === b) continue;
      const dka = data[ra + k];
      const dkb = data[rb + k];
      const d =
        linkage === 'average'
          ? (sa * dka + sb * dkb) / (sa + sb)
          : linkage === 'complete'
            ? Math.max(dka, dkb)
            : Math.min(dka, dkb);
      data[ra + k] = d;
      data[k * n + a] = d;
    }
    size[a] = sa + sb;
    const pos = where[b];
    const last = active[nActive - 1];
    active[pos] = last;
    where[last] = pos;
    where[b] = -1;
    nActive--;
    merges.push({ a, b, height: dab, size: sa + sb });
  }
  return merges;
}

/** The root of `x` in a union-find forest `parent`, halving the path on the way (shared helper). */
export function findRoot(parent: Int32Array, x: number): number {
  while (parent[x] !== x) {
    parent[x] = parent[parent[x]];
    x = parent[x];
  }
  return x;
}

/** Flat clusters: the faces joined by the merges `keep` accepts (k: the merge's index). */
export function labelsOfMerges(
  n: number,
  merges: readonly Merge[],
  keep: (merge: Merge, k: number) => boolean,
): Clustering {
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  merges.forEach((m, k) => {
    if (!keep(m, k)) return;
    const ra = findRoot(parent, m.a);
    const rb = findRoot(parent, m.b);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  });
  const roots = new Int32Array(n);
  for (let i = 0; i < n; i++) roots[i] = findRoot(parent, i);
  return canonicalLabels(roots);
}

/** Flat clusters from a dendrogram: faces joined by every merge of height at most `threshold`. */
export function cutMerges(n: number, merges: readonly Merge[], threshold: number): Clustering {
  return labelsOfMerges(n, merges, (m) => m.height <= threshold);
}

/**
 * Agglomerative clustering over a precomputed distance matrix (copied; see the module header).
 *
 * @example
 * agglomerativeFromDistances(pairwiseDistances(descriptors), { linkage: 'complete', threshold: 0.67 });
 */
export function agglomerativeFromDistances(
  dist: DistanceMatrix,
  options: AgglomerativeOptions = {},
): Clustering {
  const o = { ...DEFAULT_AGGLOMERATIVE_OPTIONS, ...options };
  checkThreshold('threshold', o.threshold);
  return agglomerativeInPlace(dist.n, dist.data.slice(), o);
}

/** As {@link agglomerativeFromDistances}, using `data` as scratch space (it is overwritten). */
export function agglomerativeInPlace(
  n: number,
  data: Float32Array,
  options: AgglomerativeOptions = {},
): Clustering {
  const o = { ...DEFAULT_AGGLOMERATIVE_OPTIONS, ...options };
  checkThreshold('threshold', o.threshold);
  return cutMerges(n, nnChainMerges(n, data, o.linkage), o.threshold);
}

/**
 * Agglomerative clustering of descriptors with a distance threshold (see the module header).
 *
 * @throws FedexError BAD_ARGUMENT for bad descriptors, an unknown linkage or a bad threshold.
 * @example
 * const { count } = agglomerative(descriptors, { linkage: 'average', threshold: 0.59 });
 */
export function agglomerative(
  descriptors: readonly Float32Array[],
  options: AgglomerativeOptions = {},
): Clustering {
  const dist = pairwiseDistances(descriptors);
  return agglomerativeInPlace(dist.n, dist.data, options);
}
