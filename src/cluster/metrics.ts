/**
 * How good a clustering is against the true people, as pure functions of two labellings of the
 * same faces (`predicted` from an algorithm, `truth` = who is really on each face):
 *
 * - BCubed precision / recall / F (Bagga & Baldwin 1998; Amigó et al. 2009): per face, precision
 *   is the share of its cluster that is its person, recall the share of its person that is in its
 *   cluster; both averaged over faces, F their harmonic mean. Per face, so a big person counts by
 *   its photos and a one-photo person still counts.
 * - Pairwise precision / recall / F: over all pairs of faces, "same cluster" against "same person".
 *   With no pair on one side the matching score is 1 (nothing claimed, nothing wrong) — e.g. all
 *   faces apart, or all people with one photo.
 * - NMI: mutual information over the arithmetic mean of the two entropies (scikit-learn's default
 *   normalisation); 1 when both labellings put everything in one group.
 * - Count error: people found minus people there (signed; its absolute value is averaged in reports).
 *
 * Labels are any integers (only equality matters). Platform-neutral and pure.
 */
import { FedexError } from '../core/errors.js';

export interface PrecisionRecallF {
  precision: number;
  recall: number;
  f: number;
}

/** Every score of one clustering against the truth. */
export interface ClusterScores {
  bcubed: PrecisionRecallF;
  pairwise: PrecisionRecallF;
  nmi: number;
  /** Clusters found. */
  predictedCount: number;
  /** People there. */
  trueCount: number;
  /** predictedCount − trueCount. */
  countError: number;
}

/** The contingency table of two labellings: cell sizes and both marginals. */
interface Contingency {
  n: number;
  cells: number[];
  /** For each cell, the size of its predicted cluster and of its true class. */
  cellCluster: number[];
  cellClass: number[];
  clusterSizes: number[];
  classSizes: number[];
}

function contingency(predicted: ArrayLike<number>, truth: ArrayLike<number>): Contingency {
  if (predicted.length !== truth.length) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `predicted and truth label different numbers of faces (${predicted.length} vs ${truth.length})`,
    );
  }
  const clusterIndex = new Map<number, number>();
  const classIndex = new Map<number, number>();
  const clusterSizes: number[] = [];
  const classSizes: number[] = [];
  const cellIndex = new Map<string, number>();
  const cells: number[] = [];
  const cellClusterId: number[] = [];
  const cellClassId: number[] = [];
  for (let i = 0; i < predicted.length; i++) {
    let c = clusterIndex.get(predicted[i]);
    if (c === undefined) {
      c = clusterSizes.length;
      clusterIndex.set(predicted[i], c);
      clusterSizes.push(0);
    }
    let l = classIndex.get(truth[i]);
    if (l === undefined) {
      l = classSizes.length;
      classIndex.set(truth[i], l);
      classSizes.push(0);
    }
    clusterSizes[c]++;
    classSizes[l]++;
    const key = `${c},${l}`;
    let k = cellIndex.get(key);
    if (k === undefined) {
      k = cells.length;
      cellIndex.set(key, k);
      cells.push(0);
      cellClusterId.push(c);
      cellClassId.push(l);
    }
    cells[k]++;
  }
  return {
    n: predicted.length,
    cells,
    cellCluster: cellClusterId.map((c) => clusterSizes[c]),
    cellClass: cellClassId.map((l) => classSizes[l]),
    clusterSizes,
    classSizes,
  };
}

function harmonic(p: number, r: number): number {
  return p + r > 0 ? (2 * p * r) / (p + r) : 0;
}

/**
 * BCubed precision, recall and F. Empty input scores 1 (nothing to get wrong).
 *
 * @example
 * // faces:     1 2 3 4 5
 * // truth:     A A A B B
 * // predicted: x x y y y
 * // precision per face: 1 1 1/3 2/3 2/3 -> 11/15; recall: 2/3 2/3 1/3 1 1 -> 11/15
 * bcubed([0, 0, 1, 1, 1], [0, 0, 0, 1, 1]); // { precision: 0.7333, recall: 0.7333, f: 0.7333 }
 */
export function bcubed(predicted: ArrayLike<number>, truth: ArrayLike<number>): PrecisionRecallF {
  const t = contingency(predicted, truth);
  if (t.n === 0) return { precision: 1, recall: 1, f: 1 };
  let p = 0;
  let r = 0;
  // Each of a cell's m faces has m same-person faces in its cluster: m × m / |cluster| per cell.
  for (let k = 0; k < t.cells.length; k++) {
    const m = t.cells[k];
    p += (m * m) / t.cellCluster[k];
    r += (m * m) / t.cellClass[k];
  }
  const precision = p / t.n;
  const recall = r / t.n;
  return { precision, recall, f: harmonic(precision, recall) };
}

const pairs = (m: number): number => (m * (m - 1)) / 2;

/**
 * Pairwise precision, recall and F over all pairs of faces (see the module header for the
 * no-pair convention).
 *
 * @example
 * // truth A A A B B, predicted x x y y y: same-cluster pairs {12, 34, 35, 45}, same-person pairs
 * // {12, 13, 23, 45}; both: {12, 45} -> precision 2/4, recall 2/4
 * pairwiseF([0, 0, 1, 1, 1], [0, 0, 0, 1, 1]); // { precision: 0.5, recall: 0.5, f: 0.5 }
 */
export function pairwiseF(predicted: ArrayLike<number>, truth: ArrayLike<number>): PrecisionRecallF {
  const t = contingency(predicted, truth);
  const both = t.cells.reduce((s, m) => s + pairs(m), 0);
  const claimed = t.clusterSizes.reduce((s, m) => s + pairs(m), 0);
  const real = t.classSizes.reduce((s, m) => s + pairs(m), 0);
  const precision = claimed > 0 ? both / claimed : 1;
  const recall = real > 0 ? both / real : 1;
  return { precision, recall, f: harmonic(precision, recall) };
}

function entropy(sizes: readonly number[], n: number): number {
  let h = 0;
  for (const s of sizes) if (s > 0) h -= (s / n) * Math.log(s / n);
  return h;
}

/**
 * Normalized mutual information, arithmetic-mean normalisation: `I(C; L) / ((H(C) + H(L)) / 2)`.
 * 1 when both labellings have one group each (or there are no faces); 0 when exactly one of them
 * has a single group.
 *
 * @example
 * nmi([0, 0, 1, 1], [5, 5, 7, 7]); // 1 (same partition, other names)
 * nmi([0, 1, 0, 1], [0, 0, 1, 1]); // 0 (independent)
 */
export function nmi(predicted: ArrayLike<number>, truth: ArrayLike<number>): number {
  const t = contingency(predicted, truth);
  if (t.n === 0) return 1;
  const hc = entropy(t.clusterSizes, t.n);
  const hl = entropy(t.classSizes, t.n);
  if (hc === 0 && hl === 0) return 1;
  let mi = 0;
  for (let k = 0; k < t.cells.length; k++) {
    const m = t.cells[k];
    mi += (m / t.n) * Math.log((t.n * m) / (t.cellCluster[k] * t.cellClass[k]));
  }
  // Clamp rounding noise (MI can come out a hair below 0 or above the mean entropy).
  return Math.min(1, Math.max(0, mi / ((hc + hl) / 2)));
}

/** Number of distinct labels. */
export function countDistinct(labels: ArrayLike<number>): number {
  return new Set(Array.from(labels)).size;
}

/**
 * Every score at once.
 *
 * @example
 * const s = scoreClustering(result.labels, truth);
 * s.bcubed.f; s.countError; // e.g. 0.97, -1 (one person missed)
 */
export function scoreClustering(predicted: ArrayLike<number>, truth: ArrayLike<number>): ClusterScores {
  const predictedCount = countDistinct(predicted);
  const trueCount = countDistinct(truth);
  return {
    bcubed: bcubed(predicted, truth),
    pairwise: pairwiseF(predicted, truth),
    nmi: nmi(predicted, truth),
    predictedCount,
    trueCount,
    countError: predictedCount - trueCount,
  };
}
