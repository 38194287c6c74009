/**
 * DBSCAN (Ester et al. 1996) over face descriptors: a face with at least `minPoints` faces
 * (itself included) within `eps` is a core face; core faces within `eps` of each other share a
 * cluster, and a non-core face within `eps` of a core face joins the cluster that reaches it
 * first (clusters grow from core faces in index order, so no random order is involved).
 *
 * A face that no core face reaches is "noise" to DBSCAN; in a photo gallery it is a person seen
 * once (or a bad detection), so by default each noise face becomes its own cluster
 * (`noise: 'singleton'`) and counts as a person. `noise: 'label'` gives them label -1 and leaves
 * them out of the count instead.
 *
 * O(n²) over the distance matrix, no index structure: at gallery sizes (thousands of faces) the
 * matrix scan is cheaper than building one. Platform-neutral and pure.
 */
import { FedexError } from '../core/errors.js';
import { pairwiseDistances, type DistanceMatrix } from './distance.js';
import { checkThreshold, type Clustering } from './types.js';

/** Options of DBSCAN; defaults in {@link DEFAULT_DBSCAN_OPTIONS}. */
export interface DbscanOptions {
  /** Neighbourhood radius (Euclidean). Default 0.53 (calibrated on LFW, see ./methods.ts). */
  eps?: number;
  /** Faces (itself included) a face needs within `eps` to be a core face. Default 2 (calibrated). */
  minPoints?: number;
  /** What noise faces become (see the module header). Default `'singleton'`. */
  noise?: 'singleton' | 'label';
}

export const DEFAULT_DBSCAN_OPTIONS: Required<DbscanOptions> = {
  eps: 0.53,
  minPoints: 2,
  noise: 'singleton',
};

/** The label noise faces get with `noise: 'label'`. */
export const NOISE = -1;

/**
 * DBSCAN over a precomputed distance matrix (see the module header).
 *
 * @example
 * dbscanFromDistances(pairwiseDistances(descriptors), { eps: 0.53, minPoints: 2 }).count;
 */
export function dbscanFromDistances(dist: DistanceMatrix, options: DbscanOptions = {}): Clustering {
  const o = { ...DEFAULT_DBSCAN_OPTIONS, ...options };
  checkThreshold('eps', o.eps);
  if (!(Number.isInteger(o.minPoints) && o.minPoints >= 1)) {
    throw new FedexError('BAD_ARGUMENT', `minPoints must be an integer >= 1 (got ${o.minPoints})`);
  }
  if (o.noise !== 'singleton' && o.noise !== 'label') {
    throw new FedexError('BAD_ARGUMENT', `noise must be 'singleton' or 'label' (got ${String(o.noise)})`);
  }
  const { n, data } = dist;
  const core = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let c = 0;
    for (let j = 0, r = i * n; j < n; j++) if (data[r + j] <= o.eps) c++;
    if (c >= o.minPoints) core[i] = 1;
  }
  const labels = new Int32Array(n).fill(NOISE);
  let count = 0;
  const stack = new Int32Array(n);
  // Clusters grow from core faces in index order; border faces keep the first cluster that reaches them.
  for (let s = 0; s < n; s++) {
    if (!core[s] || labels[s] !== NOISE) continue;
    const id = count++;
    labels[s] = id;
    let top = 0;
    stack[top++] = s;
    while (top > 0) {
      const i = stack[--top];
      for (let j = 0, r = i * n; j < n; j++) {
        if (labels[j] !== NOISE || data[r + j] > o.eps) continue;
        labels[j] = id;
        if (core[j]) stack[top++] = j;
      }
    }
  }
  if (o.noise === 'singleton') {
    for (let i = 0; i < n; i++) if (labels[i] === NOISE) labels[i] = count++;
  }
  return { labels: renumberByFirstAppearance(labels), count };
}

/** Renumbers cluster ids (>= 0) by first appearance, keeping NOISE as is. */
function renumberByFirstAppearance(labels: Int32Array): Int32Array {
  const map = new Map<number, number>();
  const out = new Int32Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l === NOISE) {
      out[i] = NOISE;
      continue;
    }
    let id = map.get(l);
    if (id === undefined) {
      id = map.size;
      map.set(l, id);
    }
    out[i] = id;
  }
  return out;
}

/**
 * DBSCAN over descriptors (see the module header).
 *
 * @throws FedexError BAD_ARGUMENT for bad descriptors or options.
 * @example
 * const { count } = dbscan(descriptors, { eps: 0.53, minPoints: 2 });
 */
export function dbscan(descriptors: readonly Float32Array[], options: DbscanOptions = {}): Clustering {
  return dbscanFromDistances(pairwiseDistances(descriptors), options);
}
