/**
 * The whole clustering experiment on a labelled face set, as one pure function: split the people
 * into a calibration pool and a disjoint evaluation pool, calibrate every method's threshold on
 * galleries of calibration people (plus the pair-verification threshold on all their pairs), then
 * score every method, with its calibrated threshold, on galleries of evaluation people. The
 * evaluation people never influence a threshold. `agglomerative-learned` fits its merge model
 * (./merge-model-fit.ts) on more galleries of the same calibration people, per seed. With
 * `cohort`, that model is a cohort model (./cohort.ts) whose cohort is the calibration people's
 * faces: a calibration gallery's own people are left out of it, and no evaluation person is in it.
 *
 * `fedex cluster --eval` runs this on LFW and prints {@link renderExperiment}'s tables;
 * docs/clustering.md holds the result. Platform-neutral and pure.
 */
import { FedexError } from '../core/errors.js';
import { deriveSeed } from '../core/random.js';
import { CohortIndex, DEFAULT_COHORT_K } from './cohort.js';
import { pairwiseDistances } from './distance.js';
import {
  better,
  calibrateMethod,
  DEFAULT_THRESHOLD_GRID,
  prepareGalleries,
  scoreGalleries,
  summarize,
  withCohortStats,
  type MethodSummary,
  type PreparedGallery,
} from './evaluate.js';
import {
  buildGalleries,
  DEFAULT_GALLERY_OPTIONS,
  facesByPerson,
  splitPeople,
  type GalleryOptions,
} from './gallery.js';
import { meanDescriptor, type MergeModel } from './learned-merge.js';
import { fitMergeModel, type MergeFit } from './merge-model-fit.js';
import {
  CLUSTER_METHODS,
  DEFAULT_METHOD_PARAMS_BY_VIEWS,
  mergeModelFor,
  type ClusterMethod,
  type ClusterViews,
  type MethodParams,
} from './methods.js';
import type { ClusterScores } from './metrics.js';
import { bestPairThreshold, type PairThreshold } from './pairs.js';

/** Options of {@link runClusterExperiment}; defaults in {@link DEFAULT_EXPERIMENT_OPTIONS}. */
export interface ExperimentOptions {
  /** Share of people kept for calibration. Default 1/3. */
  calibrationShare?: number;
  /** Galleries of calibration people. Default 95 (5 of each size 2..20). */
  calibrationGalleries?: number;
  /**
   * Galleries of calibration people the merge model of `agglomerative-learned` is fitted on.
   * Default 570 (30 of each size 2..20; the first 95 are the calibration galleries above).
   */
  modelGalleries?: number;
  /** Galleries of evaluation people. Default 190 (10 of each size 2..20). */
  evaluationGalleries?: number;
  /** Gallery shape (sizes, photo counts); `galleries` and `seed` are set per pool. */
  gallery?: Omit<GalleryOptions, 'galleries' | 'seed'>;
  /** Methods to run. Default: all. */
  methods?: readonly ClusterMethod[];
  /** Threshold grid of the calibration. Default 0.30..0.80 by 0.01. */
  thresholds?: readonly number[];
  /** Seed of the people split and of both gallery sets. Default 0. */
  seed?: number;
  /**
   * Views averaged into the descriptors (../face/views.ts): which library defaults the
   * `withDefaults` scores use. Default 1.
   */
  views?: ClusterViews;
  /**
   * `agglomerative-learned` with cohort normalisation (./cohort.ts): the merge model is a cohort
   * model and the cohort is the calibration people's faces. Default false.
   */
  cohort?: boolean;
}

export const DEFAULT_EXPERIMENT_OPTIONS = {
  calibrationShare: 1 / 3,
  calibrationGalleries: 95,
  modelGalleries: 570,
  evaluationGalleries: 190,
  gallery: {},
  methods: CLUSTER_METHODS,
  views: 1 as ClusterViews,
  thresholds: DEFAULT_THRESHOLD_GRID,
  seed: 0,
  cohort: false,
} as const satisfies Required<ExperimentOptions>;

/**
 * The calibration people's faces of a seed as a cohort (./cohort.ts) for every face of the set:
 * each face's nearest calibration faces of other people, computed once.
 */
export function calibrationCohort(
  faces: { descriptors: readonly Float32Array[]; labels: ArrayLike<number> },
  options: ExperimentOptions = {},
): CohortIndex {
  const o = { ...DEFAULT_EXPERIMENT_OPTIONS, ...options };
  const byPerson = facesByPerson(faces.labels);
  const { calibration } = splitPeople([...byPerson.keys()], o.calibrationShare, o.seed);
  return new CohortIndex(
    faces.descriptors,
    calibration.flatMap((p) => byPerson.get(p)!),
    faces.labels,
    DEFAULT_COHORT_K,
  );
}

/** One method's results. */
export interface MethodResult {
  method: ClusterMethod;
  /** The calibrated settings, and how they scored on the calibration galleries. */
  calibrated: MethodSummary;
  /** Scores on the evaluation galleries with the calibrated settings. */
  evaluation: MethodSummary;
  /** The same, split by gallery size (people in the gallery). */
  bySize: Array<{ people: string; summary: MethodSummary }>;
  /** Scores on the evaluation galleries with the library defaults for the views (`DEFAULT_METHOD_PARAMS_BY_VIEWS`). */
  withDefaults: MethodSummary;
  /** The alternative: the threshold calibrated for the exact-count rate, and its evaluation. */
  forCount: { calibrated: MethodSummary; evaluation: MethodSummary };
  perGallery: ClusterScores[];
}

export interface ExperimentReport {
  options: Required<Omit<ExperimentOptions, 'gallery'>> & { gallery: GalleryOptions };
  people: { calibration: number; evaluation: number };
  faces: { calibration: number; evaluation: number };
  /** Faces and true people per evaluation gallery (min / mean / max). */
  galleries: {
    evaluation: number;
    calibration: number;
    faces: [number, number, number];
    people: [number, number, number];
  };
  pairs: PairThreshold;
  /** The merge model fitted on the calibration people (when `agglomerative-learned` ran). */
  mergeModel?: Omit<MergeFit, 'curve'>;
  methods: MethodResult[];
}

/**
 * The merge model of `agglomerative-learned` fitted on a seed's calibration people only: the
 * people split of {@link runClusterExperiment}, `modelGalleries` galleries of the calibration
 * people, their mean face. What `--eval` uses per seed, and (seed 0) what
 * scripts/cluster-fit-merge-model.ts ships. With `options.cohort`, a cohort model (`cohort`: the
 * index of {@link calibrationCohort}, when the caller has it already).
 *
 * @example
 * const { model } = fitMergeModelOnCalibration({ descriptors, labels }, { seed: 0 });
 */
export function fitMergeModelOnCalibration(
  faces: { descriptors: readonly Float32Array[]; labels: ArrayLike<number> },
  options: ExperimentOptions = {},
  cohort?: CohortIndex,
): MergeFit {
  const o = { ...DEFAULT_EXPERIMENT_OPTIONS, ...options };
  const byPerson = facesByPerson(faces.labels);
  const { calibration } = splitPeople([...byPerson.keys()], o.calibrationShare, o.seed);
  const prepared = prepareGalleries(
    faces.descriptors,
    buildGalleries(faces.labels, calibration, {
      ...o.gallery,
      galleries: o.modelGalleries,
      seed: deriveSeed(o.seed, 'calibration'),
    }),
  );
  if (cohort && !o.cohort)
    throw new FedexError('BAD_ARGUMENT', 'a cohort index was given without the cohort option');
  const galleries = o.cohort ? withCohortStats(prepared, cohort ?? calibrationCohort(faces, o)) : prepared;
  const centre = meanDescriptor(
    calibration.flatMap((p) => byPerson.get(p)!).map((i) => faces.descriptors[i]),
  );
  return fitMergeModel(galleries, centre);
}

/** Gallery sizes split into (up to) three bands of about equal width: 2-20 gives 2-7, 8-14, 15-20. */
export function sizeBands(minPeople: number, maxPeople: number): Array<[number, number]> {
  const sizes = maxPeople - minPeople + 1;
  const bands = Math.min(3, sizes);
  const out: Array<[number, number]> = [];
  for (let b = 0, lo = minPeople; b < bands; b++) {
    const hi =
      b === bands - 1 ? maxPeople : lo + Math.max(1, Math.round((maxPeople - lo + 1) / (bands - b))) - 1;
    out.push([lo, hi]);
    lo = hi + 1;
  }
  return out;
}

/**
 * Runs the experiment (see the module header).
 *
 * @example
 * const report = runClusterExperiment({ descriptors, labels }, { seed: 0 });
 * report.methods[0].evaluation.bcubedF;
 */
export function runClusterExperiment(
  faces: { descriptors: readonly Float32Array[]; labels: ArrayLike<number> },
  options: ExperimentOptions = {},
): ExperimentReport {
  const o = { ...DEFAULT_EXPERIMENT_OPTIONS, ...options };
  const byPerson = facesByPerson(faces.labels);
  const { calibration, evaluation } = splitPeople([...byPerson.keys()], o.calibrationShare, o.seed);
  const count = (people: number[]): number => people.reduce((s, p) => s + byPerson.get(p)!.length, 0);

  const calibrationSet = prepareGalleries(
    faces.descriptors,
    buildGalleries(faces.labels, calibration, {
      ...o.gallery,
      galleries: o.calibrationGalleries,
      seed: deriveSeed(o.seed, 'calibration'),
    }),
  );
  const learned = o.methods.includes('agglomerative-learned');
  if (o.cohort && !learned)
    throw new FedexError(
      'BAD_ARGUMENT',
      'cohort normalisation is a feature of agglomerative-learned: include it in methods',
    );
  const cohort = o.cohort ? calibrationCohort(faces, o) : undefined;
  const preparedEvaluation = prepareGalleries(
    faces.descriptors,
    buildGalleries(faces.labels, evaluation, {
      ...o.gallery,
      galleries: o.evaluationGalleries,
      seed: deriveSeed(o.seed, 'evaluation'),
    }),
  );
  // Evaluation people are not in the cohort; leaving the gallery's people out changes nothing.
  const evaluationSet = cohort ? withCohortStats(preparedEvaluation, cohort) : preparedEvaluation;

  const calibrationFaces = calibration.flatMap((p) => byPerson.get(p)!);
  const pairs = bestPairThreshold(
    pairwiseDistances(calibrationFaces.map((i) => faces.descriptors[i])),
    calibrationFaces.map((i) => faces.labels[i]),
  );

  const fit = learned ? fitMergeModelOnCalibration(faces, o, cohort) : undefined;
  const methods = o.methods.map((method): MethodResult => {
    let best: MethodSummary;
    let bestForCount: MethodSummary;
    let model: MergeModel | undefined;
    if (method === 'agglomerative-learned') {
      // Calibrated for the exact count already (./merge-model-fit.ts): one setting, both columns.
      best = bestForCount = fit!.calibrated;
      model = fit!.model;
    } else {
      const calibrated = calibrateMethod(calibrationSet, method, { thresholds: o.thresholds });
      best = calibrated.best;
      bestForCount = calibrated.curve[0];
      for (const c of calibrated.curve) if (better(c, bestForCount, 'count') < 0) bestForCount = c;
    }
    const params: MethodParams = best.params;
    const { summary, perGallery } = scoreGalleries(evaluationSet, method, params, model);
    const shape = { ...DEFAULT_GALLERY_OPTIONS, ...o.gallery };
    const bySize = sizeBands(shape.minPeople, shape.maxPeople).map(([lo, hi]) => {
      const pick = evaluationSet
        .map((g, i) => ({ g, i }))
        .filter(({ g }) => g.people.length >= lo && g.people.length <= hi);
      return {
        people: `${lo}-${hi}`,
        summary: summarize(
          method,
          params,
          pick.map(({ i }) => perGallery[i]),
        ),
      };
    });
    return {
      method,
      calibrated: best,
      evaluation: summary,
      bySize,
      withDefaults: scoreGalleries(
        evaluationSet,
        method,
        DEFAULT_METHOD_PARAMS_BY_VIEWS[o.views][method],
        mergeModelFor(o.views),
      ).summary,
      forCount: {
        calibrated: bestForCount,
        evaluation: scoreGalleries(evaluationSet, method, bestForCount.params, model).summary,
      },
      perGallery,
    };
  });

  const stats = (set: PreparedGallery[], f: (g: PreparedGallery) => number): [number, number, number] => {
    const v = set.map(f);
    return [Math.min(...v), v.reduce((a, b) => a + b, 0) / v.length, Math.max(...v)];
  };
  return {
    options: { ...o, gallery: { ...o.gallery } },
    people: { calibration: calibration.length, evaluation: evaluation.length },
    faces: { calibration: count(calibration), evaluation: count(evaluation) },
    galleries: {
      calibration: calibrationSet.length,
      evaluation: evaluationSet.length,
      faces: stats(evaluationSet, (g) => g.faces.length),
      people: stats(evaluationSet, (g) => g.people.length),
    },
    pairs,
    ...(fit
      ? {
          mergeModel: {
            model: fit.model,
            trainingMerges: fit.trainingMerges,
            sameMerges: fit.sameMerges,
            calibrated: fit.calibrated,
          },
        }
      : {}),
    methods,
  };
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const f3 = (x: number): string => x.toFixed(3);

function paramText(p: MethodParams): string {
  if (p.accept !== undefined) return `accept ${p.accept.toFixed(3)}, max ${p.threshold?.toFixed(2)}`;
  return `${p.threshold?.toFixed(2)}${p.minPoints !== undefined ? `, minPoints ${p.minPoints}` : ''}`;
}

/** The report as Markdown tables (the README / docs table). */
export function renderExperiment(r: ExperimentReport): string {
  const lines: string[] = [];
  const g = r.galleries;
  lines.push(
    `Evaluation: ${g.evaluation} galleries of ${r.people.evaluation} evaluation people (${g.people[0]}-${g.people[2]} people, ` +
      `${g.faces[0]}-${g.faces[2]} faces, mean ${g.faces[1].toFixed(1)}); thresholds calibrated on ${g.calibration} galleries ` +
      `of ${r.people.calibration} other people.`,
    '',
    '| method | threshold | BCubed F | BCubed P | BCubed R | pairwise F | NMI | exact count | mean abs count error | mean count error |',
    '|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const m of r.methods) {
    const e = m.evaluation;
    lines.push(
      `| ${m.method} | ${paramText(e.params)} | ${f3(e.bcubedF)} | ${f3(e.bcubedPrecision)} | ${f3(e.bcubedRecall)} | ${f3(e.pairwiseF)} | ${f3(e.nmi)} | ${pct(e.exactCountRate)} | ${e.meanAbsCountError.toFixed(2)} | ${e.meanCountError >= 0 ? '+' : ''}${e.meanCountError.toFixed(2)} |`,
    );
  }
  lines.push(
    '',
    'By gallery size (BCubed F / exact count):',
    '',
    `| method | ${r.methods[0]?.bySize.map((b) => `${b.people} people`).join(' | ')} |`,
  );
  lines.push(`|---|${r.methods[0]?.bySize.map(() => '---').join('|')}|`);
  for (const m of r.methods) {
    lines.push(
      `| ${m.method} | ${m.bySize.map((b) => `${f3(b.summary.bcubedF)} / ${pct(b.summary.exactCountRate)}`).join(' | ')} |`,
    );
  }
  lines.push(
    '',
    'Calibration (on calibration galleries, best mean BCubed F over the threshold grid):',
    '',
    '| method | calibrated threshold | BCubed F (calibration) | exact count (calibration) |',
    '|---|---|---|---|',
  );
  for (const m of r.methods) {
    lines.push(
      `| ${m.method} | ${paramText(m.calibrated.params)} | ${f3(m.calibrated.bcubedF)} | ${pct(m.calibrated.exactCountRate)} |`,
    );
  }
  lines.push(
    '',
    'The alternative calibration: thresholds chosen for the exact-count rate on the calibration galleries, scored on the evaluation galleries:',
    '',
    '| method | threshold | BCubed F | pairwise F | exact count | mean abs count error |',
    '|---|---|---|---|---|---|',
  );
  for (const m of r.methods) {
    const e = m.forCount.evaluation;
    lines.push(
      `| ${m.method} | ${paramText(e.params)} | ${f3(e.bcubedF)} | ${f3(e.pairwiseF)} | ${pct(e.exactCountRate)} | ${e.meanAbsCountError.toFixed(2)} |`,
    );
  }
  if (r.mergeModel) {
    const m = r.mergeModel;
    lines.push(
      '',
      `Merge model of agglomerative-learned: fitted on ${m.trainingMerges} dendrogram merges (${m.sameMerges} of one person) of ${m.calibrated.galleries} galleries of the calibration people; ` +
        `acceptance cut ${m.model.accept} chosen for the exact count on them (${pct(m.calibrated.exactCountRate)}, BCubed F ${f3(m.calibrated.bcubedF)}; its calibration row above is on those galleries).` +
        (m.model.cohortK !== undefined
          ? ` A cohort model: its 13th feature reads each distance against the faces' ${m.model.cohortK} nearest calibration faces of other people (a calibration gallery's own people left out).`
          : ''),
    );
  }
  const p = r.pairs;
  lines.push(
    '',
    `Pair verification on the calibration people: threshold ${p.threshold.toFixed(3)}, balanced accuracy ${pct(p.balancedAccuracy)} ` +
      `(same-person pairs accepted ${pct(p.sameRate)} of ${p.samePairs}, different-person pairs rejected ${pct(p.differentRate)} of ${p.differentPairs}).`,
  );
  return lines.join('\n') + '\n';
}

/** What {@link summarizeSeeds} reads of an {@link ExperimentReport}. */
export interface SeedReport {
  options: { seed: number };
  methods: ReadonlyArray<{
    method: ClusterMethod;
    evaluation: Pick<MethodSummary, 'exactCountRate' | 'bcubedF'>;
  }>;
}

/** One method over several seeds (see {@link summarizeSeeds}). */
export interface SeedsRow {
  method: ClusterMethod;
  seeds: number[];
  /** Exact-count rate on the evaluation galleries, per seed (in `seeds` order). */
  exactCount: number[];
  /** BCubed F per seed. */
  bcubedF: number[];
  meanExactCount: number;
  minExactCount: number;
  maxExactCount: number;
  meanBcubedF: number;
  /** The exact-count rate counted as reaching the goal. */
  goal: number;
  /** Seeds where the exact-count rate reached `goal`. */
  seedsAtGoal: number;
}

/**
 * The headline numbers of several experiments that differ only in their seed (people split,
 * galleries; each recalibrates on its own calibration people): per method, the exact-count rate
 * and BCubed F of each seed, their mean and range, and how many seeds reached `goal`
 * (default 0.8, the issue's floor). One seed is one draw of people: the spread is part of the result.
 *
 * @example
 * const rows = summarizeSeeds([0, 1, 2].map((seed) => runClusterExperiment(faces, { seed })));
 */
export function summarizeSeeds(reports: readonly SeedReport[], goal = 0.8): SeedsRow[] {
  if (reports.length === 0) throw new FedexError('BAD_ARGUMENT', 'summarizeSeeds: no reports');
  const methods = reports[0].methods.map((m) => m.method);
  for (const r of reports) {
    if (r.methods.map((m) => m.method).join() !== methods.join())
      throw new FedexError('BAD_ARGUMENT', 'summarizeSeeds: the reports ran different methods');
  }
  const mean = (v: readonly number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
  return methods.map((method, k) => {
    const exactCount = reports.map((r) => r.methods[k].evaluation.exactCountRate);
    const bcubedF = reports.map((r) => r.methods[k].evaluation.bcubedF);
    return {
      method,
      seeds: reports.map((r) => r.options.seed),
      exactCount,
      bcubedF,
      meanExactCount: mean(exactCount),
      minExactCount: Math.min(...exactCount),
      maxExactCount: Math.max(...exactCount),
      meanBcubedF: mean(bcubedF),
      goal,
      seedsAtGoal: exactCount.filter((x) => x >= goal - 1e-12).length,
    };
  });
}

/** {@link summarizeSeeds} as a Markdown table. */
export function renderSeeds(rows: readonly SeedsRow[]): string {
  const seeds = rows[0]?.seeds ?? [];
  const goal = rows[0]?.goal ?? 0.8;
  const lines = [
    `Exact count on the evaluation galleries, seeds ${seeds.join(', ')} (each recalibrated on its own calibration people):`,
    '',
    `| method | ${seeds.map((s) => `seed ${s}`).join(' | ')} | mean | min - max | seeds >= ${pct(goal)} | BCubed F (mean) |`,
    `|---|${seeds.map(() => '---|').join('')}---|---|---|---|`,
    ...rows.map(
      (r) =>
        `| ${r.method} | ${r.exactCount.map(pct).join(' | ')} | ${pct(r.meanExactCount)} | ${pct(r.minExactCount)} - ${pct(r.maxExactCount)} | ${r.seedsAtGoal} of ${r.seeds.length} | ${f3(r.meanBcubedF)} |`,
    ),
  ];
  return lines.join('\n') + '\n';
}
