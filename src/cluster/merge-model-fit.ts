/**
 * Fitting the merge model of ./learned-merge.ts on labelled galleries of calibration people — the
 * "cloud trains a global model" step: the logistic weights from every dendrogram merge whose two
 * sides are each one person (label: are they the same person), then the acceptance cut that gives
 * the best exact-count rate on the same galleries (ties: mean absolute count error, BCubed F).
 *
 * Only calibration people go in; `fedex cluster --eval` refits per seed and
 * scripts/cluster-fit-merge-model.ts writes the shipped ./merge-model.generated.ts (seed 0).
 * Platform-neutral and pure.
 */
import { FedexError } from '../core/errors.js';
import { better, summarize, type MethodSummary, type PreparedGallery } from './evaluate.js';
import { fitLogistic, learnedMergeFromDistances, trainingMerges, type MergeModel } from './learned-merge.js';
import { scoreClustering } from './metrics.js';

/** Options of {@link fitMergeModel}; defaults in {@link DEFAULT_MERGE_FIT_OPTIONS}. */
export interface MergeFitOptions {
  /** Merges above this average-linkage distance are neither trained on nor accepted. Default 0.9. */
  maxHeight?: number;
  /** Acceptance cuts tried. Default 0.05, 0.075, ..., 0.95. */
  accepts?: readonly number[];
  /** L2 penalty of the logistic fit. Default 0.01. */
  l2?: number;
}

export const DEFAULT_MERGE_FIT_OPTIONS: Required<MergeFitOptions> = {
  maxHeight: 0.9,
  accepts: Array.from({ length: 37 }, (_, i) => Math.round((0.05 + i * 0.025) * 1000) / 1000),
  l2: 1e-2,
};

/** The fitted model, what it was fitted on, and the calibration curve of the acceptance cut. */
export interface MergeFit {
  model: MergeModel;
  /** Merges trained on, and how many of them joined one person. */
  trainingMerges: number;
  sameMerges: number;
  /** The chosen cut's scores on the calibration galleries. */
  calibrated: MethodSummary;
  curve: MethodSummary[];
}

/**
 * Fits the merge model (see the module header). `centre` is the mean descriptor of the
 * calibration people's faces; `galleries` must hold calibration people only. When the galleries
 * carry cohort statistics (every one of them), the model is a cohort model.
 *
 * @throws FedexError BAD_ARGUMENT when the galleries hold no merge to learn from.
 * @example
 * const { model } = fitMergeModel(calibrationGalleries, meanDescriptor(calibrationFaces));
 */
export function fitMergeModel(
  galleries: readonly PreparedGallery[],
  centre: readonly number[],
  options: MergeFitOptions = {},
): MergeFit {
  const o = { ...DEFAULT_MERGE_FIT_OPTIONS, ...options };
  const withCohort = galleries.filter((g) => g.cohort).length;
  if (withCohort !== 0 && withCohort !== galleries.length) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `${withCohort} of ${galleries.length} galleries carry cohort statistics: all or none must`,
    );
  }
  // A cohort model records the k of its galleries' statistics (all the same k).
  const cohortK = galleries[0]?.cohort?.k;
  if (galleries.some((g) => g.cohort && g.cohort.k !== cohortK))
    throw new FedexError('BAD_ARGUMENT', "the galleries' cohort statistics are over different k");
  const rows: Float64Array[] = [];
  const labels: boolean[] = [];
  for (const g of galleries) {
    const { features, same } = trainingMerges(g, centre, o.maxHeight);
    rows.push(...features);
    labels.push(...same);
  }
  const sameMerges = labels.filter(Boolean).length;
  if (sameMerges === 0 || sameMerges === labels.length) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `merge model needs both same-person and different-person merges (got ${sameMerges} of ${labels.length})`,
    );
  }
  const fit = fitLogistic(rows, labels, { l2: o.l2 });
  const base: Omit<MergeModel, 'accept'> = {
    centre: [...centre],
    ...fit,
    maxHeight: o.maxHeight,
    ...(cohortK !== undefined ? { cohortK } : {}),
  };
  const curve = o.accepts.map((accept) => {
    const model: MergeModel = { ...base, accept };
    const scores = galleries.map((g) =>
      scoreClustering(
        learnedMergeFromDistances(g.dist, g.descriptors, { model, ...(g.cohort ? { cohort: g.cohort } : {}) })
          .labels,
        g.truth,
      ),
    );
    return summarize('agglomerative-learned', { threshold: o.maxHeight, accept }, scores);
  });
  let best = curve[0];
  for (const s of curve) if (better(s, best, 'count') < 0) best = s;
  return {
    model: { ...base, accept: best.params.accept! },
    trainingMerges: labels.length,
    sameMerges,
    calibrated: best,
    curve,
  };
}
