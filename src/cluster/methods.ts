/**
 * The clustering methods by name, one entry each, all driven by one distance threshold (Chinese
 * whispers: the edge threshold; agglomerative: the linkage cut; DBSCAN: `eps`), so calibration,
 * evaluation, the CLI and library callers treat them alike. `clusterFaces` is the entry point
 * for callers that just want the people in a set of descriptors.
 *
 * Default thresholds were calibrated on LFW people kept out of every evaluation gallery
 * (`fedex cluster --eval`, seed 0, docs/clustering.md); each is the value that maximised mean
 * BCubed F on the 95 calibration galleries (141 people). They are Euclidean distances between
 * face-api / dlib descriptors; another descriptor needs its own calibration. The exception is
 * `agglomerative-learned` (./learned-merge.ts): the average-linkage dendrogram, each merge accepted
 * by a logistic model fitted on the same calibration people (./merge-model.generated.ts); it needs
 * the descriptors as well as their distances.
 *
 * Descriptors averaged over 6 views of each face (the face pipeline's `descriptorViews: 6`,
 * ../face/views.ts) are closer together than plain ones, so they have their own calibration:
 * pass `views: 6` and every default (thresholds, merge model) is the 6-view one
 * (`DEFAULT_METHOD_PARAMS_BY_VIEWS`, ./merge-model-views6.generated.ts).
 *
 * Platform-neutral and pure.
 */
import { FedexError } from '../core/errors.js';
import { agglomerativeInPlace } from './agglomerative.js';
import { chineseWhispersFromDistances } from './chinese-whispers.js';
import { cohortStats, type CohortStats } from './cohort.js';
import { dbscanFromDistances } from './dbscan.js';
import { pairwiseDistances, type DistanceMatrix } from './distance.js';
import { learnedMergeFromDistances, type MergeModel } from './learned-merge.js';
import { MERGE_MODEL_VIEWS6 } from './merge-model-views6.generated.js';
import { MERGE_MODEL } from './merge-model.generated.js';
import { checkThreshold, groupsOf, type Clustering } from './types.js';

export type ClusterMethod =
  | 'chinese-whispers'
  | 'agglomerative-average'
  | 'agglomerative-complete'
  | 'agglomerative-single'
  | 'dbscan'
  | 'agglomerative-learned';

/** Every method, in report order. */
export const CLUSTER_METHODS: readonly ClusterMethod[] = [
  'chinese-whispers',
  'agglomerative-average',
  'agglomerative-complete',
  'agglomerative-single',
  'dbscan',
  'agglomerative-learned',
];

/**
 * How many views of each face were averaged into its descriptor (../face/views.ts) — the
 * descriptors each calibration is for. 1: the plain descriptor (what devices upload); 6: the
 * test-time-augmented one `fedex cluster` uses.
 */
export type ClusterViews = 1 | 6;

export const CLUSTER_VIEWS: readonly ClusterViews[] = [1, 6];

function checkViews(views: number): asserts views is ClusterViews {
  if (!(CLUSTER_VIEWS as readonly number[]).includes(views)) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `views must be 1 or 6 (the calibrated descriptors), got ${String(views)}`,
    );
  }
}

/** The shipped merge model for descriptors of `views` views. */
export function mergeModelFor(views: ClusterViews = 1): MergeModel {
  checkViews(views);
  return views === 6 ? MERGE_MODEL_VIEWS6 : MERGE_MODEL;
}

/** Per-method settings; any field left out takes the method's calibrated default. */
export interface MethodParams {
  /** The method's distance threshold (see the module header). */
  threshold?: number;
  /** Chinese whispers: seed of the visiting order. Default 0. */
  seed?: number;
  /** DBSCAN: faces (itself included) within the threshold that make a core face. */
  minPoints?: number;
  /**
   * Learned merges: the model's probability at which a merge is accepted. Default: the shipped
   * model's calibrated cut. (Its `threshold` is the highest merge ever accepted.)
   */
  accept?: number;
}

/**
 * Calibrated defaults per method (see the module header and docs/clustering.md). The pair
 * verification threshold on the same calibration people is {@link PAIR_THRESHOLD}.
 */
export const DEFAULT_METHOD_PARAMS: Readonly<
  Record<ClusterMethod, Readonly<Required<Pick<MethodParams, 'threshold'>> & MethodParams>>
> = {
  'chinese-whispers': { threshold: 0.55 },
  'agglomerative-average': { threshold: 0.59 },
  'agglomerative-complete': { threshold: 0.67 },
  'agglomerative-single': { threshold: 0.53 },
  // minPoints 2 won the calibration over 3 and 4: galleries are full of people with one or two
  // photos, whom a higher minPoints turns into noise. With 2, DBSCAN equals single linkage.
  dbscan: { threshold: 0.53, minPoints: 2 },
  // The shipped merge model (./merge-model.generated.ts), fitted on the same calibration people.
  'agglomerative-learned': { threshold: MERGE_MODEL.maxHeight, accept: MERGE_MODEL.accept },
};

/**
 * The same calibration for descriptors averaged over 6 views (`fedex cluster --eval --views 6`,
 * seed 0, docs/clustering.md): every threshold is lower, as averaged descriptors sit closer
 * together (pair verification threshold 0.56 against 0.62).
 */
export const DEFAULT_METHOD_PARAMS_VIEWS6: typeof DEFAULT_METHOD_PARAMS = {
  'chinese-whispers': { threshold: 0.5 },
  'agglomerative-average': { threshold: 0.55 },
  'agglomerative-complete': { threshold: 0.62 },
  'agglomerative-single': { threshold: 0.47 },
  dbscan: { threshold: 0.47, minPoints: 2 },
  'agglomerative-learned': { threshold: MERGE_MODEL_VIEWS6.maxHeight, accept: MERGE_MODEL_VIEWS6.accept },
};

/** The calibrated defaults for descriptors of each number of views. */
export const DEFAULT_METHOD_PARAMS_BY_VIEWS: Readonly<Record<ClusterViews, typeof DEFAULT_METHOD_PARAMS>> = {
  1: DEFAULT_METHOD_PARAMS,
  6: DEFAULT_METHOD_PARAMS_VIEWS6,
};

/**
 * The distance that best separates same-person from different-person pairs of the calibration
 * people (highest balanced verification accuracy, 98.4% at 0.619); dlib's own rule is 0.6.
 */
export const PAIR_THRESHOLD = 0.62;

/**
 * The method `clusterFaces` uses when none is named: average linkage with learned merges had the
 * best exact-count rate and BCubed F on the calibration galleries, and on the evaluation galleries
 * of all three seeds (docs/clustering.md). Plain average linkage, the previous default, is
 * `method: 'agglomerative-average'`.
 */
export const DEFAULT_CLUSTER_METHOD: ClusterMethod = 'agglomerative-learned';

/** The default for descriptors the merge model does not fit (see {@link defaultMethodFor}). */
export const FALLBACK_CLUSTER_METHOD: ClusterMethod = 'agglomerative-average';

/** Summary of each method for help texts and reports. */
export const METHOD_SUMMARIES: Readonly<Record<ClusterMethod, string>> = {
  'chinese-whispers': "Chinese whispers on the distance-threshold graph (dlib's face clustering)",
  'agglomerative-average': 'agglomerative, average linkage (UPGMA), cut at the threshold',
  'agglomerative-complete': 'agglomerative, complete linkage, cut at the threshold',
  'agglomerative-single':
    'agglomerative, single linkage = connected components of the threshold graph (baseline)',
  dbscan: 'DBSCAN, eps = threshold; noise faces are people of their own',
  'agglomerative-learned':
    'average-linkage dendrogram, each merge accepted by a logistic model learned on calibration people',
};

export function isClusterMethod(name: string): name is ClusterMethod {
  return (CLUSTER_METHODS as readonly string[]).includes(name);
}

function checkMethod(method: string): asserts method is ClusterMethod {
  if (!isClusterMethod(method)) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `unknown clustering method "${method}"; known: ${CLUSTER_METHODS.join(', ')}`,
    );
  }
}

/**
 * The settings a method will run with: its calibrated defaults (for descriptors of `views` views)
 * overridden by `params`.
 */
export function resolveParams(
  method: ClusterMethod,
  params: MethodParams = {},
  views: ClusterViews = 1,
): Required<Pick<MethodParams, 'threshold'>> & MethodParams {
  checkMethod(method);
  checkViews(views);
  const defined = Object.fromEntries(
    Object.entries(params).filter(([, v]) => v !== undefined),
  ) as MethodParams;
  return { ...DEFAULT_METHOD_PARAMS_BY_VIEWS[views][method], ...defined };
}

/** Options of {@link clusterDistances}. */
export interface ClusterDistancesOptions {
  /** The matrix may be overwritten (agglomerative uses it as scratch space). Default false. */
  reuse?: boolean;
  /** The descriptors behind the matrix: `agglomerative-learned` needs them (quality features). */
  descriptors?: readonly Float32Array[];
  /** `agglomerative-learned`: the merge model. Default the shipped one for `views` ({@link mergeModelFor}). */
  model?: MergeModel;
  /** Views averaged into each descriptor: picks the calibrated defaults. Default 1. */
  views?: ClusterViews;
  /** `agglomerative-learned` with a cohort model: each face's cohort statistics (./cohort.ts). */
  cohort?: CohortStats;
}

/**
 * Runs a method on a distance matrix. With `reuse: true` the matrix may be overwritten
 * (agglomerative uses it as scratch space) — pass it only when it is not needed afterwards.
 *
 * @throws FedexError BAD_ARGUMENT for `agglomerative-learned` without `descriptors`.
 */
export function clusterDistances(
  dist: DistanceMatrix,
  method: ClusterMethod,
  params: MethodParams = {},
  options: ClusterDistancesOptions = {},
): Clustering {
  const views = options.views ?? 1;
  const p = resolveParams(method, params, views);
  switch (method) {
    case 'chinese-whispers':
      return chineseWhispersFromDistances(dist, {
        threshold: p.threshold,
        ...(p.seed !== undefined ? { seed: p.seed } : {}),
      });
    case 'agglomerative-average':
    case 'agglomerative-complete':
    case 'agglomerative-single': {
      const linkage = method.slice('agglomerative-'.length) as 'average' | 'complete' | 'single';
      const data = options.reuse ? dist.data : dist.data.slice();
      return agglomerativeInPlace(dist.n, data, { linkage, threshold: p.threshold });
    }
    case 'dbscan':
      return dbscanFromDistances(dist, {
        eps: p.threshold,
        ...(p.minPoints !== undefined ? { minPoints: p.minPoints } : {}),
      });
    case 'agglomerative-learned': {
      if (!options.descriptors) {
        throw new FedexError(
          'BAD_ARGUMENT',
          'agglomerative-learned needs the descriptors, not only their distances',
        );
      }
      checkThreshold('threshold', p.threshold);
      return learnedMergeFromDistances(dist, options.descriptors, {
        model: options.model ?? mergeModelFor(views),
        maxHeight: p.threshold,
        ...(p.accept !== undefined ? { accept: p.accept } : {}),
        ...(options.cohort ? { cohort: options.cohort } : {}),
      });
    }
  }
}

/**
 * The method {@link clusterFaces} picks when none is named: {@link DEFAULT_CLUSTER_METHOD} for
 * descriptors of the merge model's length (face-api's 128), else {@link FALLBACK_CLUSTER_METHOD}
 * — a learned model says nothing about descriptors of another length.
 */
export function defaultMethodFor(
  descriptors: readonly Float32Array[],
  model: MergeModel = MERGE_MODEL,
): ClusterMethod {
  const dim = descriptors[0]?.length ?? model.centre.length;
  return dim === model.centre.length ? DEFAULT_CLUSTER_METHOD : FALLBACK_CLUSTER_METHOD;
}

/** Options of {@link clusterFaces}. */
export interface ClusterFacesOptions extends MethodParams {
  /**
   * Default {@link DEFAULT_CLUSTER_METHOD} (`agglomerative-learned`); for descriptors that are not
   * the merge model's length, {@link FALLBACK_CLUSTER_METHOD} (see {@link defaultMethodFor}).
   */
  method?: ClusterMethod;
  /**
   * The descriptors' distance matrix, when the caller has it — e.g. from `pairwiseDistancesTf`
   * (./distance-tf.ts, about 3x faster on tfjs's WASM backend). It may be overwritten. Default:
   * computed in pure JS by `pairwiseDistances`.
   */
  distances?: DistanceMatrix;
  /** `agglomerative-learned`: the merge model. Default the shipped one for `views` ({@link mergeModelFor}). */
  model?: MergeModel;
  /**
   * Views averaged into each descriptor (the face pipeline's `descriptorViews`): 1 (default) or
   * 6. Picks the calibrated thresholds and merge model made for such descriptors.
   */
  views?: ClusterViews;
  /**
   * `agglomerative-learned` with a cohort `model` (one fitted with cohort statistics, see
   * ./cohort.ts): descriptors of other people — none of the gallery's — of the same network and
   * views, as many and as varied as the model's cohort was. No cohort ships with the library.
   */
  cohort?: readonly Float32Array[];
}

/** The people found in a set of faces. */
export interface PeopleClustering extends Clustering {
  method: ClusterMethod;
  /** The settings used (calibrated defaults merged with the caller's). */
  params: MethodParams;
  /** Indices of each person's faces, the person with most faces first. */
  groups: number[][];
}

/**
 * How many people, and which faces belong together, for face descriptors with no labels and no
 * known count — what the face app's "People" view and the server call. Empty input gives zero
 * people; a single face gives one.
 *
 * @throws FedexError BAD_ARGUMENT for descriptors of different lengths, non-finite values, an
 *   unknown method or a bad threshold.
 * @example
 * const people = clusterFaces(descriptors); // calibrated default method and threshold
 * people.count;       // e.g. 4
 * people.groups[0];   // indices of the faces of the person seen most
 */
export function clusterFaces(
  descriptors: readonly Float32Array[],
  options: ClusterFacesOptions = {},
): PeopleClustering {
  const { distances, model, views = 1, cohort, ...params } = options;
  checkViews(views);
  const method = options.method ?? defaultMethodFor(descriptors, model ?? mergeModelFor(views));
  checkMethod(method);
  const resolved = resolveParams(method, params, views);
  if (distances && distances.n !== descriptors.length) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `the distance matrix is for ${distances.n} faces, not ${descriptors.length}`,
    );
  }
  if (cohort && model?.cohortK === undefined) {
    throw new FedexError(
      'BAD_ARGUMENT',
      'a cohort needs a cohort merge model (model.cohortK set): none ships',
    );
  }
  if (cohort && method !== 'agglomerative-learned') {
    throw new FedexError('BAD_ARGUMENT', `a cohort is used by agglomerative-learned only, not ${method}`);
  }
  const stats =
    cohort && model?.cohortK !== undefined ? cohortStats(descriptors, cohort, model.cohortK) : undefined;
  const result = clusterDistances(distances ?? pairwiseDistances(descriptors), method, resolved, {
    reuse: true,
    descriptors,
    views,
    ...(model ? { model } : {}),
    ...(stats ? { cohort: stats } : {}),
  });
  return { ...result, method, params: resolved, groups: groupsOf(result.labels) };
}
