/**
 * Average linkage with learned merges: build the average-linkage dendrogram (./agglomerative.ts),
 * then accept each merge, bottom-up, only when a small logistic model says the two clusters are
 * one person — instead of one distance cut for every merge. The people are the largest subtrees
 * whose every merge was accepted.
 *
 * Why: the failure analysis of plain average linkage (docs/clustering.md) found most errors are one
 * poor face (profile, blur, tiny) breaking off as a person of its own, or, less often, two people
 * merged. A single threshold cannot tell a poor face of a known person from a real one-photo
 * person; the model also sees the cluster sizes, the closest and furthest cross pair, how spread
 * each side is, and two quality cues of the faces: their distance from the mean face of the
 * calibration people (poor descriptors sit near the mean) and their norm.
 *
 * The model (12 weights, a bias, the standardisation, the mean face and the acceptance cut) is
 * fitted only on galleries of calibration people (`fitMergeModel`), never on the people it is
 * scored on; the shipped one is ./merge-model.generated.ts (scripts/cluster-fit-merge-model.ts).
 *
 * Cost: the dendrogram (O(n²)), then each pair of faces is visited at most once, at the merge
 * that joins them, and only while both sides are still accepted and the merge is below
 * `maxHeight`. Platform-neutral and pure.
 *
 * A cohort model (`cohortK` set) has a 13th feature: the mean cross distance normalised by each
 * face's impostor statistics (./cohort.ts). It needs those statistics for every face, from a cohort
 * of people outside the gallery, and gains about 2 points of exact count (docs/clustering.md).
 */
import { FedexError } from '../core/errors.js';
import { findRoot, labelsOfMerges, nnChainMerges, type Merge } from './agglomerative.js';
import { checkCohortStats, type CohortStats } from './cohort.js';
import type { DistanceMatrix } from './distance.js';
import { checkDescriptors, type Clustering } from './types.js';

/** The merge features, in model order ("a" is the smaller side; ties: the first named). */
export const MERGE_FEATURES = [
  'mean cross distance (the average-linkage height)',
  'smallest cross distance',
  'largest cross distance',
  'log size of a',
  'log size of b',
  'spread of a (mean distance within; 0 for one face)',
  'spread of b',
  'mean distance of a’s faces from the mean face',
  'mean distance of b’s faces from the mean face',
  'a is one face (0/1)',
  'mean descriptor norm of a',
  'mean descriptor norm of b',
] as const;

/** The 13th feature, of cohort models only (./cohort.ts). */
export const COHORT_MERGE_FEATURE =
  'mean cohort-normalised cross distance: ½((d − μ)/σ of a’s face + the same of b’s face)';

/** A fitted merge model (see the module header); plain numbers so it ships as a constant. */
export interface MergeModel {
  /** The mean descriptor of the calibration people's faces. */
  centre: readonly number[];
  /** Standardisation of each feature: (x − mean) / scale. */
  mean: readonly number[];
  scale: readonly number[];
  /** Logistic weights per standardised feature, and the bias. */
  weights: readonly number[];
  bias: number;
  /** Merges scoring at least this probability are accepted (calibrated for the exact count). */
  accept: number;
  /** Merges higher than this (average-linkage distance) are never accepted, nor trained on. */
  maxHeight: number;
  /**
   * Set for a cohort model: the cohort faces per face its statistics were taken over
   * (./cohort.ts); the model then has the 13th feature, {@link COHORT_MERGE_FEATURE}.
   */
  cohortK?: number;
}

const F = MERGE_FEATURES.length;

/** The number of features of a model: 12, or 13 for a cohort model. */
export function featureCount(model: Pick<MergeModel, 'cohortK'>): number {
  return model.cohortK !== undefined ? F + 1 : F;
}

/**
 * Walks the dendrogram bottom-up (the merges in the order they were made, children first). For
 * each merge with height ≤ `maxHeight` whose two sides are both still "alive", computes its
 * features and asks `keep` whether the merged cluster stays alive; a dead side kills every merge
 * above it (its features are never computed). Returns, per merge, whether it was kept. With
 * `cohort` (per face, gallery order) the features have the 13th, cohort-normalised one.
 */
export function walkMerges(
  dist: DistanceMatrix,
  descriptors: readonly Float32Array[],
  merges: readonly Merge[],
  centre: readonly number[],
  maxHeight: number,
  keep: (features: Float64Array, a: number, b: number) => boolean,
  cohort?: CohortStats,
): Uint8Array {
  const n = dist.n;
  const D = dist.data;
  const dim = descriptors[0]?.length ?? 0;
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (x: number): number => findRoot(parent, x);
  // Per root: member list (linked), size, sum of within distances, quality sums, alive.
  const next = new Int32Array(n).fill(-1);
  const tail = Int32Array.from({ length: n }, (_, i) => i);
  const size = new Int32Array(n).fill(1);
  const within = new Float64Array(n);
  const qSum = new Float64Array(n);
  const normSum = new Float64Array(n);
  const alive = new Uint8Array(n).fill(1);
  for (let i = 0; i < n; i++) {
    let q = 0;
    let s = 0;
    const x = descriptors[i];
    for (let k = 0; k < dim; k++) {
      const t = x[k] - centre[k];
      q += t * t;
      s += x[k] * x[k];
    }
    qSum[i] = Math.sqrt(q);
    normSum[i] = Math.sqrt(s);
  }
  const kept = new Uint8Array(merges.length);
  if (cohort) checkCohortStats(cohort, n);
  const f = new Float64Array(cohort ? F + 1 : F);
  const mu = cohort?.mean;
  const inv = cohort ? cohort.spread.map((s) => 1 / s) : undefined;
  for (let m = 0; m < merges.length; m++) {
    let a = find(merges[m].a);
    let b = find(merges[m].b);
    if (size[a] > size[b]) [a, b] = [b, a];
    let ok = alive[a] === 1 && alive[b] === 1 && merges[m].height <= maxHeight;
    let cross = 0;
    if (ok) {
      let lo = Number.POSITIVE_INFINITY;
      let hi = 0;
      let z = 0;
      for (let i = a; i >= 0; i = next[i]) {
        const row = i * n;
        for (let j = b; j >= 0; j = next[j]) {
          const d = D[row + j];
          cross += d;
          if (d < lo) lo = d;
          if (d > hi) hi = d;
          if (mu && inv) z += (d - mu[i]) * inv[i] + (d - mu[j]) * inv[j];
        }
      }
      const na = size[a];
      const nb = size[b];
      const spread = (r: number): number => (size[r] > 1 ? within[r] / ((size[r] * (size[r] - 1)) / 2) : 0);
      f[0] = cross / (na * nb);
      f[1] = lo;
      f[2] = hi;
      f[3] = Math.log(na);
      f[4] = Math.log(nb);
      f[5] = spread(a);
      f[6] = spread(b);
      f[7] = qSum[a] / na;
      f[8] = qSum[b] / nb;
      f[9] = na === 1 ? 1 : 0;
      f[10] = normSum[a] / na;
      f[11] = normSum[b] / nb;
      if (cohort) f[12] = z / (2 * na * nb);
      ok = keep(f, a, b);
    }
    // Union (b's list appended to a's; the root is the smaller index, as in cutMerges).
    const root = Math.min(a, b);
    const other = root === a ? b : a;
    next[tail[root]] = other;
    tail[root] = tail[other];
    // Keep the list head at `root`: `other`'s list was appended after root's.
    parent[other] = root;
    within[root] += within[other] + cross;
    size[root] += size[other];
    qSum[root] += qSum[other];
    normSum[root] += normSum[other];
    alive[root] = ok ? 1 : 0;
    kept[m] = ok ? 1 : 0;
  }
  return kept;
}

/** The model's probability that a merge with these features joins one person. */
export function mergeProbability(model: MergeModel, features: ArrayLike<number>): number {
  let z = model.bias;
  const p = featureCount(model);
  if (features.length < p)
    throw new FedexError('BAD_ARGUMENT', `the model takes ${p} features, got ${features.length}`);
  for (let k = 0; k < p; k++) z += (model.weights[k] * (features[k] - model.mean[k])) / model.scale[k];
  return 1 / (1 + Math.exp(-z));
}

/** Checks a model's shape (a hand-edited or stale constant fails loudly, not silently). */
export function checkMergeModel(model: MergeModel, dim: number): void {
  const p = featureCount(model);
  const ok =
    (model.cohortK === undefined || (Number.isInteger(model.cohortK) && model.cohortK >= 1)) &&
    model.weights.length === p &&
    model.mean.length === p &&
    model.scale.length === p &&
    (dim === 0 || model.centre.length === dim) &&
    model.scale.every((s) => s > 0) &&
    model.accept > 0 &&
    model.accept < 1 &&
    model.maxHeight > 0;
  if (!ok) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `merge model does not fit: ${p} features and ${dim}-value descriptors expected (got ${model.weights.length} weights, a ${model.centre.length}-value mean face), accept in (0, 1), maxHeight > 0`,
    );
  }
}

/** Options of {@link learnedMergeFromDistances}. */
export interface LearnedMergeOptions {
  model: MergeModel;
  /** Override of the model's acceptance cut (a probability in (0, 1)). */
  accept?: number;
  /** Override of the model's `maxHeight`. */
  maxHeight?: number;
  /** A cohort model's per-face impostor statistics (./cohort.ts), in the descriptors' order. */
  cohort?: CohortStats;
}

/** Checks that a model and cohort statistics go together (a cohort model needs them; others take none). */
export function checkCohortFor(model: MergeModel, cohort: CohortStats | undefined, n: number): void {
  if (model.cohortK !== undefined && !cohort) {
    throw new FedexError(
      'BAD_ARGUMENT',
      "this merge model is a cohort model: it needs the faces' cohort statistics (the cohort option of clusterFaces, or cohortStats in src/cluster/cohort.ts)",
    );
  }
  if (model.cohortK === undefined && cohort) {
    throw new FedexError(
      'BAD_ARGUMENT',
      'cohort statistics were given, but this merge model was fitted without a cohort: use a cohort model',
    );
  }
  if (cohort) checkCohortStats(cohort, n, model.cohortK);
}

/**
 * Clusters faces by average linkage with learned merges (see the module header). `dist` must be
 * the descriptors' distance matrix; it is not changed.
 *
 * @throws FedexError BAD_ARGUMENT when the descriptors do not match the matrix or the model.
 * @example
 * learnedMergeFromDistances(pairwiseDistances(descriptors), descriptors, { model: MERGE_MODEL });
 */
export function learnedMergeFromDistances(
  dist: DistanceMatrix,
  descriptors: readonly Float32Array[],
  options: LearnedMergeOptions,
): Clustering {
  const dim = checkDescriptors(descriptors);
  if (descriptors.length !== dist.n) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `the distance matrix is for ${dist.n} faces, not ${descriptors.length}`,
    );
  }
  const model: MergeModel = {
    ...options.model,
    ...(options.accept !== undefined ? { accept: options.accept } : {}),
    ...(options.maxHeight !== undefined ? { maxHeight: options.maxHeight } : {}),
  };
  checkMergeModel(model, dim);
  const n = dist.n;
  checkCohortFor(model, options.cohort, n);
  if (n === 0) return { labels: new Int32Array(0), count: 0 };
  const merges = nnChainMerges(n, dist.data.slice(), 'average');
  const kept = walkMerges(
    dist,
    descriptors,
    merges,
    model.centre,
    model.maxHeight,
    (f) => mergeProbability(model, f) >= model.accept,
    options.cohort,
  );
  // A merge is kept only if its sides were (walkMerges), so the kept set is a forest of subtrees.
  return labelsOfMerges(n, merges, (_, k) => kept[k] === 1);
}

/** One labelled gallery to learn from: descriptors, their matrix and each face's true person. */
export interface TrainingGallery {
  descriptors: readonly Float32Array[];
  dist: DistanceMatrix;
  truth: ArrayLike<number>;
  /** For a cohort model: each face's impostor statistics, the gallery's own people left out. */
  cohort?: CohortStats;
}

/** The merges of one gallery whose sides are each one person, with "the merge is one person". */
export function trainingMerges(
  gallery: TrainingGallery,
  centre: readonly number[],
  maxHeight: number,
): { features: Float64Array[]; same: boolean[] } {
  const merges = nnChainMerges(gallery.dist.n, gallery.dist.data.slice(), 'average');
  const features: Float64Array[] = [];
  const same: boolean[] = [];
  walkMerges(
    gallery.dist,
    gallery.descriptors,
    merges,
    centre,
    maxHeight,
    (f, a, b) => {
      // Both sides are pure here (a dead side is never asked), so their first faces name them.
      const one = gallery.truth[a] === gallery.truth[b];
      features.push(Float64Array.from(f));
      same.push(one);
      return one;
    },
    gallery.cohort,
  );
  return { features, same };
}

/**
 * L2-regularised logistic regression by Newton's method on standardised features (the bias is
 * regularised too, lightly; it changes nothing at this data size). Pure float64.
 *
 * @example
 * const fit = fitLogistic([Float64Array.of(0), Float64Array.of(1)], [false, true]);
 */
export function fitLogistic(
  rows: readonly Float64Array[],
  labels: readonly boolean[],
  options: { l2?: number; iterations?: number } = {},
): { mean: number[]; scale: number[]; weights: number[]; bias: number } {
  const { l2 = 1e-2, iterations = 50 } = options;
  const m = rows.length;
  if (m === 0 || m !== labels.length) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `logistic fit needs rows and as many labels (got ${m} and ${labels.length})`,
    );
  }
  const p = rows[0].length;
  const mean = new Array<number>(p).fill(0);
  const scale = new Array<number>(p).fill(0);
  for (const r of rows) for (let k = 0; k < p; k++) mean[k] += r[k] / m;
  for (const r of rows) for (let k = 0; k < p; k++) scale[k] += (r[k] - mean[k]) ** 2 / m;
  for (let k = 0; k < p; k++) scale[k] = Math.sqrt(scale[k]) + 1e-9;
  const q = p + 1;
  const A = rows.map((r) => {
    const a = new Float64Array(q);
    for (let k = 0; k < p; k++) a[k] = (r[k] - mean[k]) / scale[k];
    a[p] = 1;
    return a;
  });
  const w = new Float64Array(q);
  for (let it = 0; it < iterations; it++) {
    const g = new Float64Array(q);
    const H = new Float64Array(q * q);
    for (let i = 0; i < m; i++) {
      const a = A[i];
      let z = 0;
      for (let k = 0; k < q; k++) z += a[k] * w[k];
      const pr = 1 / (1 + Math.exp(-z));
      const r = pr - (labels[i] ? 1 : 0);
      const s = pr * (1 - pr);
      for (let k = 0; k < q; k++) {
        g[k] += a[k] * r;
        const sa = s * a[k];
        for (let l = 0; l <= k; l++) H[k * q + l] += sa * a[l];
      }
    }
    for (let k = 0; k < q; k++) {
      g[k] += l2 * w[k];
      H[k * q + k] += l2;
      for (let l = 0; l < k; l++) H[l * q + k] = H[k * q + l];
    }
    const step = solveSpd(H, g, q);
    let change = 0;
    for (let k = 0; k < q; k++) {
      w[k] -= step[k];
      change = Math.max(change, Math.abs(step[k]));
    }
    if (change < 1e-10) break;
  }
  return { mean, scale, weights: Array.from(w.subarray(0, p)), bias: w[p] };
}

/** Solves H x = g for a symmetric positive definite H (Cholesky). */
export function solveSpd(H: Float64Array, g: Float64Array, q: number): Float64Array {
  const L = new Float64Array(q * q);
  for (let i = 0; i < q; i++) {
    for (let j = 0; j <= i; j++) {
      let s = H[i * q + j];
      for (let k = 0; k < j; k++) s -= L[i * q + k] * L[j * q + k];
      if (i === j) {
        if (!(s > 0)) throw new FedexError('BAD_ARGUMENT', 'matrix is not positive definite');
        L[i * q + i] = Math.sqrt(s);
      } else L[i * q + j] = s / L[j * q + j];
    }
  }
  const y = new Float64Array(q);
  for (let i = 0; i < q; i++) {
    let s = g[i];
    for (let k = 0; k < i; k++) s -= L[i * q + k] * y[k];
    y[i] = s / L[i * q + i];
  }
  const x = new Float64Array(q);
  for (let i = q - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < q; k++) s -= L[k * q + i] * x[k];
    x[i] = s / L[i * q + i];
  }
  return x;
}

/** The mean of descriptors (the "mean face" of the quality features). */
export function meanDescriptor(descriptors: readonly Float32Array[]): number[] {
  const dim = checkDescriptors(descriptors);
  const out = new Array<number>(dim).fill(0);
  for (const d of descriptors) for (let k = 0; k < dim; k++) out[k] += d[k];
  return out.map((v) => v / Math.max(descriptors.length, 1));
}
