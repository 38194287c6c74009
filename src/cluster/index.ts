/**
 * Face clustering with an unknown number of people — the public surface for the device SDK, the
 * server and the face app's "People" view. Everything exported here is pure and platform-neutral
 * (no Node built-ins): descriptors in, labels and scores out. The Node-only LFW loader is
 * ./lfw-data.ts and is not re-exported.
 *
 * @example
 * import { clusterFaces } from './cluster/index.js';
 * const people = clusterFaces(descriptors); // { count, labels, groups, method, params }
 */
export { canonicalLabels, groupsOf, type Clustering } from './types.js';
export { pairwiseDistances, euclideanDistance, type DistanceMatrix } from './distance.js';
export {
  chineseWhispers,
  chineseWhispersFromDistances,
  DEFAULT_CHINESE_WHISPERS_OPTIONS,
  type ChineseWhispersOptions,
} from './chinese-whispers.js';
export {
  agglomerative,
  agglomerativeFromDistances,
  DEFAULT_AGGLOMERATIVE_OPTIONS,
  LINKAGES,
  type AgglomerativeOptions,
  type Linkage,
} from './agglomerative.js';
export { dbscan, dbscanFromDistances, DEFAULT_DBSCAN_OPTIONS, NOISE, type DbscanOptions } from './dbscan.js';
export {
  clusterFaces,
  clusterDistances,
  CLUSTER_METHODS,
  DEFAULT_CLUSTER_METHOD,
  FALLBACK_CLUSTER_METHOD,
  defaultMethodFor,
  DEFAULT_METHOD_PARAMS,
  DEFAULT_METHOD_PARAMS_VIEWS6,
  DEFAULT_METHOD_PARAMS_BY_VIEWS,
  CLUSTER_VIEWS,
  mergeModelFor,
  PAIR_THRESHOLD,
  METHOD_SUMMARIES,
  isClusterMethod,
  resolveParams,
  type ClusterMethod,
  type ClusterFacesOptions,
  type ClusterViews,
  type MethodParams,
  type PeopleClustering,
} from './methods.js';
export {
  learnedMergeFromDistances,
  mergeProbability,
  MERGE_FEATURES,
  COHORT_MERGE_FEATURE,
  featureCount,
  type LearnedMergeOptions,
  type MergeModel,
} from './learned-merge.js';
export { cohortStats, CohortIndex, DEFAULT_COHORT_K, type CohortStats } from './cohort.js';
export { MERGE_MODEL } from './merge-model.generated.js';
export { MERGE_MODEL_VIEWS6 } from './merge-model-views6.generated.js';
export {
  fitMergeModel,
  DEFAULT_MERGE_FIT_OPTIONS,
  type MergeFit,
  type MergeFitOptions,
} from './merge-model-fit.js';
export {
  bcubed,
  pairwiseF,
  nmi,
  scoreClustering,
  type ClusterScores,
  type PrecisionRecallF,
} from './metrics.js';
export {
  buildGalleries,
  splitPeople,
  zipfCounts,
  DEFAULT_GALLERY_OPTIONS,
  type Gallery,
  type GalleryOptions,
} from './gallery.js';
export { bestPairThreshold, type PairThreshold } from './pairs.js';
export {
  calibrateMethod,
  prepareGalleries,
  scoreGalleries,
  summarize,
  withCohortStats,
  DEFAULT_THRESHOLD_GRID,
  type MethodSummary,
  type PreparedGallery,
} from './evaluate.js';
export { groupPeople, type PeopleView } from './people.js';
export {
  renderContactSheet,
  escapeHtml,
  type ContactSheet,
  type SheetPerson,
  type SheetFace,
} from './contact-sheet.js';
