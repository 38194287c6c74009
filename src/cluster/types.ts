/**
 * Shared shapes of the clustering code: a clustering is one label per face (0..count-1, numbered
 * in order of first appearance, so equal partitions give equal arrays), plus the helpers that turn
 * any labelling into that form and into groups.
 *
 * Platform-neutral and pure: no Node built-ins, no tensors, no I/O.
 */
import { FedexError } from '../core/errors.js';

/** What every algorithm returns. */
export interface Clustering {
  /** Cluster of each input face, 0..count-1, numbered in order of first appearance. */
  labels: Int32Array;
  /** Number of clusters (people found). 0 for no input. */
  count: number;
}

/**
 * Renumbers any labels (any integers) to 0..k-1 in order of first appearance.
 *
 * @example
 * canonicalLabels([7, 7, 3, 7, 9]); // { labels: Int32Array [0, 0, 1, 0, 2], count: 3 }
 */
export function canonicalLabels(raw: ArrayLike<number>): Clustering {
  const map = new Map<number, number>();
  const labels = new Int32Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    let id = map.get(raw[i]);
    if (id === undefined) {
      id = map.size;
      map.set(raw[i], id);
    }
    labels[i] = id;
  }
  return { labels, count: map.size };
}

/**
 * The members of each cluster, as indices into the input, largest cluster first (ties: the cluster
 * whose first member comes first).
 *
 * @example
 * groupsOf(Int32Array.from([0, 1, 0])); // [[0, 2], [1]]
 */
export function groupsOf(labels: ArrayLike<number>): number[][] {
  const byLabel = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const g = byLabel.get(labels[i]);
    if (g) g.push(i);
    else byLabel.set(labels[i], [i]);
  }
  return [...byLabel.values()].sort((a, b) => b.length - a.length || a[0] - b[0]);
}

/**
 * Checks descriptors: all the same non-zero length, all values finite. Returns the dimension
 * (0 for an empty list).
 *
 * @throws FedexError BAD_ARGUMENT naming the first bad descriptor.
 */
export function checkDescriptors(descriptors: readonly Float32Array[]): number {
  if (!Array.isArray(descriptors))
    throw new FedexError('BAD_ARGUMENT', 'descriptors must be an array of Float32Array');
  if (descriptors.length === 0) return 0;
  const dim = descriptors[0]?.length ?? 0;
  for (let i = 0; i < descriptors.length; i++) {
    const d = descriptors[i];
    if (!(d instanceof Float32Array))
      throw new FedexError('BAD_ARGUMENT', `descriptor ${i} is not a Float32Array`);
    if (d.length === 0 || d.length !== dim) {
      throw new FedexError('BAD_ARGUMENT', `descriptor ${i} has ${d.length} values, descriptor 0 has ${dim}`);
    }
    for (let k = 0; k < d.length; k++) {
      if (!Number.isFinite(d[k]))
        throw new FedexError('BAD_ARGUMENT', `descriptor ${i} has a non-finite value at ${k}`);
    }
  }
  return dim;
}

/** Checks a distance threshold: finite and > 0. */
export function checkThreshold(name: string, value: number): void {
  if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
    throw new FedexError('BAD_ARGUMENT', `${name} must be a finite number > 0 (got ${String(value)})`);
  }
}
