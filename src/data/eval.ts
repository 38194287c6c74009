/**
 * Quick, training-free accuracy measures over features: nearest class centroid. Used by the bench to
 * measure what fp16/int8 features cost in accuracy, and for per-user (personalized) accuracy.
 *
 * Metric: Euclidean distance by default. The face descriptors here are dlib-style 128-d vectors
 * trained with a metric loss so that same-person pairs lie within about 0.6 of each other in
 * Euclidean distance; the centroid of a class is its mean, which is exactly the minimiser of summed
 * squared Euclidean distance. `cosine` is available for features that are not metric-trained.
 *
 * Pure: typed arrays in, numbers out.
 */
import { FedexError } from '../core/errors.js';
import { shapeSize, type FeatureSpec } from '../core/types.js';
import { labelsOf, type LabelledSet, type SimUser } from './users.js';

export type Metric = 'euclidean' | 'cosine';

/**
 * Top-1 accuracy of the nearest class centroid. Centroids are the means of the train samples per
 * label; a test sample whose label has no train sample counts as wrong (it cannot be predicted).
 * Ties go to the lowest label id. Returns NaN when `testIdx` is empty.
 *
 * @example
 * // 1-d features: train 0 → label 0, 10 → label 1; test 4 → 0 (right), 6 → 1 (right)
 * nearestCentroidAccuracy(Float32Array.of(0, 10, 4, 6), 1, [0, 1, 0, 1], [0, 1], [2, 3]); // 1
 */
export function nearestCentroidAccuracy(
  features: Float32Array,
  dim: number,
  labels: ArrayLike<number>,
  trainIdx: readonly number[],
  testIdx: readonly number[],
  metric: Metric = 'euclidean',
): number {
  if (!Number.isInteger(dim) || dim < 1 || features.length % dim !== 0) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `features of length ${features.length} do not split into rows of ${dim}`,
    );
  }
  if (features.length / dim !== labels.length) {
    throw new FedexError('BAD_ARGUMENT', `${features.length / dim} feature rows but ${labels.length} labels`);
  }
  if (testIdx.length === 0) return Number.NaN;

  const sums = new Map<number, Float64Array>();
  const counts = new Map<number, number>();
  for (const i of trainIdx) {
    const l = labels[i];
    let s = sums.get(l);
    if (!s) sums.set(l, (s = new Float64Array(dim)));
    const row = i * dim;
    if (metric === 'cosine') {
      const n = norm(features, row, dim) || 1;
      for (let d = 0; d < dim; d++) s[d] += features[row + d] / n;
    } else {
      for (let d = 0; d < dim; d++) s[d] += features[row + d];
    }
    counts.set(l, (counts.get(l) ?? 0) + 1);
  }
  const classes = [...sums.keys()].sort((a, b) => a - b);
  const centroids = classes.map((l) => {
    const s = sums.get(l)!;
    const c = counts.get(l)!;
    return s.map((v) => v / c);
  });
  const centroidNorms = centroids.map((c) => norm(c, 0, dim) || 1);

  let right = 0;
  for (const i of testIdx) {
    const row = i * dim;
    const rowNorm = metric === 'cosine' ? norm(features, row, dim) || 1 : 1;
    let best = -1;
    let bestScore = Number.POSITIVE_INFINITY;
    for (let k = 0; k < classes.length; k++) {
      const c = centroids[k];
      let score = 0;
      if (metric === 'cosine') {
        let dot = 0;
        for (let d = 0; d < dim; d++) dot += features[row + d] * c[d];
        score = -dot / (rowNorm * centroidNorms[k]);
      } else {
        for (let d = 0; d < dim; d++) {
          const diff = features[row + d] - c[d];
          score += diff * diff;
        }
      }
      if (score < bestScore) {
        bestScore = score;
        best = classes[k];
      }
    }
    if (best === labels[i]) right += 1;
  }
  return right / testIdx.length;
}

function norm(v: ArrayLike<number>, offset: number, dim: number): number {
  let s = 0;
  for (let d = 0; d < dim; d++) s += v[offset + d] * v[offset + d];
  return Math.sqrt(s);
}

/** A feature set to evaluate: features plus labels (an `ExtractedFeatureSet` fits). */
export type EvalSet = LabelledSet & { features: Float32Array } & ({ dim: number } | { spec: FeatureSpec });

/** Mean, worst decile and min of per-user accuracies. */
export interface AccuracySummary {
  /** Mean over users of each user's top-1 accuracy. */
  mean: number;
  /** Mean accuracy of the worst tenth of users (the ⌈users / 10⌉ lowest; at least one user). */
  worstDecile: number;
  /** The lowest user's accuracy. */
  min: number;
  /** Users summarised. */
  users: number;
}

/**
 * Summarises per-user accuracies: mean, worst decile (mean of the ⌈n / 10⌉ lowest) and min.
 *
 * @example
 * summarizeAccuracies([1, 0.5, 1, 1]); // { mean: 0.875, worstDecile: 0.5, min: 0.5, users: 4 }
 */
export function summarizeAccuracies(accuracies: readonly number[]): AccuracySummary {
  if (accuracies.length === 0)
    throw new FedexError('BAD_ARGUMENT', 'summarizeAccuracies needs at least one accuracy');
  if (accuracies.some((a) => !(a >= 0 && a <= 1)))
    throw new FedexError('BAD_ARGUMENT', 'accuracies must be numbers in [0, 1]');
  const sorted = accuracies.slice().sort((a, b) => a - b);
  const worst = sorted.slice(0, Math.ceil(sorted.length / 10));
  return {
    mean: accuracies.reduce((a, b) => a + b, 0) / accuracies.length,
    worstDecile: worst.reduce((a, b) => a + b, 0) / worst.length,
    min: sorted[0],
    users: accuracies.length,
  };
}

export interface PersonalizedAccuracy {
  /** Mean over users of each user's top-1 accuracy. */
  mean: number;
  /** Mean accuracy of the worst tenth of users (at least one user). */
  worstDecile: number;
  perUser: Array<{ id: string; accuracy: number; test: number }>;
}

/**
 * Personalized accuracy: for each user, nearest-centroid over its own people, centroids from its
 * labelled photos, top-1 on its test photos; then the mean over users and the mean of the worst
 * decile (the ⌈users / 10⌉ lowest accuracies).
 */
export function personalizedAccuracy(
  set: EvalSet,
  users: readonly SimUser[],
  metric: Metric = 'euclidean',
): PersonalizedAccuracy {
  if (users.length === 0)
    throw new FedexError('BAD_ARGUMENT', 'personalizedAccuracy needs at least one user');
  const dim = 'dim' in set ? set.dim : shapeSize(set.spec.shape);
  const labels = labelsOf(set);
  const perUser = users.map((u) => ({
    id: u.id,
    accuracy: nearestCentroidAccuracy(set.features, dim, labels, u.labelled, u.test, metric),
    test: u.test.length,
  }));
  const { mean, worstDecile } = summarizeAccuracies(perUser.map((p) => p.accuracy));
  return { mean, worstDecile, perUser };
}
