/**
 * Scoring methods on galleries: run a method on each gallery, score it against the truth, and
 * average — the numbers of the README table (mean BCubed F, pairwise F, NMI, exact-count rate,
 * mean absolute count error). Also the calibration sweep: the same over a grid of thresholds,
 * picking the best one on calibration galleries.
 *
 * Each gallery's distance matrix is computed once (`prepareGalleries`) and shared by every method
 * and threshold. Platform-neutral and pure.
 */
import { pairwiseDistances, type DistanceMatrix } from './distance.js';
import type { Gallery } from './gallery.js';
import type { CohortIndex, CohortStats } from './cohort.js';
import type { MergeModel } from './learned-merge.js';
import { clusterDistances, resolveParams, type ClusterMethod, type MethodParams } from './methods.js';
import { scoreClustering, type ClusterScores } from './metrics.js';

/** A gallery with its descriptors (gallery order) and their distance matrix. */
export interface PreparedGallery extends Gallery {
  descriptors: Float32Array[];
  dist: DistanceMatrix;
  /** Each face's cohort statistics (./cohort.ts), for cohort merge models; see `withCohortStats`. */
  cohort?: CohortStats;
}

/** Means over galleries. */
export interface MethodSummary {
  method: ClusterMethod;
  params: MethodParams;
  galleries: number;
  bcubedF: number;
  bcubedPrecision: number;
  bcubedRecall: number;
  pairwiseF: number;
  nmi: number;
  /** Share of galleries where the number of people found is exactly right. */
  exactCountRate: number;
  meanAbsCountError: number;
  /** Mean signed error (> 0: too many people, i.e. people split; < 0: people merged). */
  meanCountError: number;
  /** Faces clustered per second (distance matrix excluded: it is shared). */
  facesPerSecond: number;
}

/** Computes each gallery's distance matrix from the source descriptors. */
export function prepareGalleries(
  descriptors: readonly Float32Array[],
  galleries: readonly Gallery[],
): PreparedGallery[] {
  return galleries.map((g) => {
    const own = g.faces.map((i) => descriptors[i]);
    return { ...g, descriptors: own, dist: pairwiseDistances(own) };
  });
}

/**
 * The galleries with each face's cohort statistics, every face of the gallery's own people left
 * out of the cohort (a calibration gallery's people are in a calibration cohort).
 */
export function withCohortStats(
  galleries: readonly PreparedGallery[],
  index: CohortIndex,
): PreparedGallery[] {
  return galleries.map((g) => ({ ...g, cohort: index.statsFor(g.faces, new Set(g.people)) }));
}

/**
 * Runs and scores one method on every gallery (`model`: the merge model of
 * `agglomerative-learned`; default the shipped one). A cohort model uses the galleries' cohort
 * statistics; any other model ignores them.
 */
export function scoreGalleries(
  galleries: readonly PreparedGallery[],
  method: ClusterMethod,
  params: MethodParams = {},
  model?: MergeModel,
): { summary: MethodSummary; perGallery: ClusterScores[] } {
  const resolved = resolveParams(method, params);
  const perGallery: ClusterScores[] = [];
  let faces = 0;
  const t0 = performance.now();
  for (const g of galleries) {
    const result = clusterDistances(g.dist, method, resolved, {
      descriptors: g.descriptors,
      ...(model ? { model } : {}),
      ...(model?.cohortK !== undefined && g.cohort ? { cohort: g.cohort } : {}),
    });
    perGallery.push(scoreClustering(result.labels, g.truth));
    faces += g.faces.length;
  }
  const seconds = (performance.now() - t0) / 1000;
  return { summary: summarize(method, resolved, perGallery, faces / Math.max(seconds, 1e-9)), perGallery };
}

function mean(values: readonly number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN;
}

/** Averages per-gallery scores. */
export function summarize(
  method: ClusterMethod,
  params: MethodParams,
  scores: readonly ClusterScores[],
  facesPerSecond = Number.NaN,
): MethodSummary {
  return {
    method,
    params,
    galleries: scores.length,
    bcubedF: mean(scores.map((s) => s.bcubed.f)),
    bcubedPrecision: mean(scores.map((s) => s.bcubed.precision)),
    bcubedRecall: mean(scores.map((s) => s.bcubed.recall)),
    pairwiseF: mean(scores.map((s) => s.pairwise.f)),
    nmi: mean(scores.map((s) => s.nmi)),
    exactCountRate: mean(scores.map((s) => (s.countError === 0 ? 1 : 0))),
    meanAbsCountError: mean(scores.map((s) => Math.abs(s.countError))),
    meanCountError: mean(scores.map((s) => s.countError)),
    facesPerSecond,
  };
}

/** Options of {@link calibrateMethod}. */
export interface SweepOptions {
  /** Thresholds to try. Default 0.30, 0.31, ..., 0.80. */
  thresholds?: readonly number[];
  /** DBSCAN: the `minPoints` values to try. Default [2, 3, 4]. */
  minPoints?: readonly number[];
  /** Other fixed params (e.g. the Chinese whispers seed). */
  params?: MethodParams;
  /**
   * What "best" means: `'bcubed'` (default) the highest mean BCubed F, then the exact-count
   * rate; `'count'` the highest exact-count rate, then BCubed F.
   */
  objective?: CalibrationObjective;
}

export type CalibrationObjective = 'bcubed' | 'count';

/** The default threshold grid: 0.30 to 0.80 in steps of 0.01. */
export const DEFAULT_THRESHOLD_GRID: readonly number[] = Array.from(
  { length: 51 },
  (_, i) => Math.round((0.3 + i * 0.01) * 100) / 100,
);

/**
 * Orders summaries best first. `'bcubed'`: mean BCubed F, then exact-count rate, then mean absolute
 * count error; `'count'`: exact-count rate, then mean absolute count error, then BCubed F.
 */
export function better(
  a: MethodSummary,
  b: MethodSummary,
  objective: CalibrationObjective = 'bcubed',
): number {
  if (objective === 'count') {
    return (
      b.exactCountRate - a.exactCountRate ||
      a.meanAbsCountError - b.meanAbsCountError ||
      b.bcubedF - a.bcubedF
    );
  }
  return (
    b.bcubedF - a.bcubedF || b.exactCountRate - a.exactCountRate || a.meanAbsCountError - b.meanAbsCountError
  );
}

/**
 * Tries every threshold (and DBSCAN `minPoints`) on the galleries and returns the best setting
 * by the objective (see {@link better}; remaining ties: the first tried) with the whole curve.
 *
 * @example
 * const { best } = calibrateMethod(calibrationGalleries, 'agglomerative-average');
 * best.params.threshold; // e.g. 0.55
 */
export function calibrateMethod(
  galleries: readonly PreparedGallery[],
  method: ClusterMethod,
  options: SweepOptions = {},
): { best: MethodSummary; curve: MethodSummary[] } {
  const thresholds = options.thresholds ?? DEFAULT_THRESHOLD_GRID;
  const minPoints = method === 'dbscan' ? (options.minPoints ?? [2, 3, 4]) : [undefined];
  const curve: MethodSummary[] = [];
  for (const mp of minPoints) {
    for (const threshold of thresholds) {
      const params: MethodParams = {
        ...options.params,
        threshold,
        ...(mp !== undefined ? { minPoints: mp } : {}),
      };
      curve.push(scoreGalleries(galleries, method, params).summary);
    }
  }
  let best = curve[0];
  for (const s of curve) if (better(s, best, options.objective) < 0) best = s;
  return { best, curve };
}
