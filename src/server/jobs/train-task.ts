/**
 * One training job's math: from a scope's labelled features (and the scope's current model, if
 * any) to a candidate model, its held-out accuracy, the current model's accuracy on the same
 * held-out samples, and the promotion decision. Runs inside a training worker thread.
 *
 * Pure tfjs: no files, no database, no clock other than for the `seconds` metric. Every tensor and
 * model it makes is disposed before it returns or throws (tests check `tf.memory().numTensors`).
 *
 * Procedure: seeded stratified holdout (`holdoutFraction` of each class) → a candidate trained on
 * the rest → promote when the candidate is at least as accurate on the holdout as the current
 * model (a held-out sample of a class the current model does not know counts as wrong for it), or
 * when there is no current model or no holdout. A promoted candidate is refitted on all the samples
 * (gradient heads: for the candidate's best epoch count, no validation) and that refit is shipped.
 * A rejected candidate is shipped as is (stored for audit, never served), without a refit.
 *
 * Every model also carries an open-set rule in its metadata (`openSet`, src/model/open-set.ts):
 * the class centroids of all the kept samples, a radius beyond which a face is "unknown" (for the
 * face descriptor an absolute one, `OPEN_SET_RADII`; else `openSetMargin` × the median
 * leave-one-out distance; `openSetRadius` sets it), the mean face of the user's people and a
 * radius nearer which a face is "no one in particular" (`genericMargin`, with 4 people or more),
 * and a temperature fitted on the holdout's
 * probabilities (1 without a holdout). Features longer than OPEN_SET_MAX_DIM carry no centroids
 * (radius off), only the temperature.
 */
import * as tf from '@tensorflow/tfjs';
import type { WireDtype } from '../../core/types.js';
import { FedexError } from '../../core/errors.js';
import { shapeSize, specKey } from '../../core/types.js';
import { getHead, type Head, type HeadOptionsRecord } from '../../model/heads/registry.js';
import { modelFromWeightsMessage, modelToWeightsMessage } from '../../model/io.js';
import {
  DEFAULT_GENERIC_MARGIN,
  DEFAULT_OPEN_SET_MARGIN,
  fitOpenSet,
  knownOpenSetRadius,
  knownTwinRadius,
  fitTemperature,
  OPEN_SET_MAX_DIM,
  type OpenSetRule,
} from '../../model/open-set.js';
import { DEFAULT_TRAIN_OPTIONS, fitHead, stratifiedSplit, type TrainOptions } from '../../model/trainer.js';
import type { Scope, TrainingSet } from '../store/types.js';

/** How a training job trains. Every field has a default in {@link DEFAULT_TRAIN_JOB_CONFIG}. */
export interface TrainJobConfig {
  /** Head from the registry (`linear`, `centroid`, `mlp`; `upper` needs a backbone: not here). */
  head: string;
  /** Head options (`hidden`, `dropout`, `pooling`). */
  headOptions: HeadOptionsRecord;
  /** Most epochs of the candidate (gradient heads). */
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Fraction of the candidate's training samples used for early stopping (0: none). */
  validationSplit: number;
  /** Early-stopping patience in epochs (0: off). */
  patience: number;
  /** Seed of the holdout split, the initial weights, the epoch order and dropout. */
  seed: number;
  /** Fraction of each class held out to compare the candidate with the current model. */
  holdoutFraction: number;
  /** Classes with fewer labelled samples are left out of the model. */
  minSamplesPerClass: number;
  /** Retrain a promoted candidate on all the samples before shipping it. */
  refit: boolean;
  /** Precision of the shipped weights message. */
  dtype: WireDtype;
  /** Open set: "unknown" beyond this × the median leave-one-out distance to a class centroid. */
  openSetMargin: number;
  /**
   * Open set: "unknown" beyond this distance to every class centroid, for every user (a feature
   * space with a known scale). `null`: the feature space's known radius (`OPEN_SET_RADII`: the
   * face descriptor's), else `openSetMargin`'s relative one.
   */
  openSetRadius: number | null;
  /** Open set: "no one in particular" nearer the mean face than this × the samples' median; 0: off. */
  genericMargin: number;
  /**
   * Add a masked twin of every training photo (src/model/mask-translate.ts) when the server has a
   * mask translation for the features' spec (`fedex serve --mask-translation`); no effect without.
   */
  maskTwins: boolean;
}

/**
 * Defaults: linear head, no head options, 100 epochs, batch 32, learning rate 0.03, 20% inner
 * validation with patience 10, seed 0, 20% holdout, classes need ≥ 2 samples, refit on, float32.
 *
 * The learning rate is 30× the trainer's generic default on purpose: a user's head trains on a
 * handful of photos (one or two steps per epoch), and at 1e-3 it ends so unsure (top probability
 * ≈ 0.2 for 8 people) that every prediction falls under the device's "unknown" threshold although
 * its top-1 is right; at 0.03 the same photos are named with probability ≥ 0.9 (bbt in Chromium).
 */
export const DEFAULT_TRAIN_JOB_CONFIG: Readonly<TrainJobConfig> = Object.freeze({
  head: 'linear',
  headOptions: {},
  epochs: DEFAULT_TRAIN_OPTIONS.epochs,
  batchSize: DEFAULT_TRAIN_OPTIONS.batchSize,
  learningRate: 0.03,
  validationSplit: DEFAULT_TRAIN_OPTIONS.validationSplit,
  patience: DEFAULT_TRAIN_OPTIONS.patience,
  seed: 0,
  holdoutFraction: 0.2,
  minSamplesPerClass: 2,
  refit: true,
  dtype: 'float32',
  openSetMargin: DEFAULT_OPEN_SET_MARGIN,
  openSetRadius: null,
  genericMargin: DEFAULT_GENERIC_MARGIN,
  maskTwins: true,
});

const bad = (message: string): FedexError => new FedexError('BAD_REQUEST', `training config: ${message}`);

function checkNumber(
  value: unknown,
  name: string,
  test: (n: number) => boolean,
  what: string,
): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !test(value))
    throw bad(`${name} must be ${what} (got ${JSON.stringify(value)})`);
}

/**
 * Merges config layers over {@link DEFAULT_TRAIN_JOB_CONFIG} (later layers win; unknown keys are
 * ignored) and checks the result. BAD_REQUEST on a bad value, MODEL_UNKNOWN_HEAD on an unknown head.
 *
 * @example
 * resolveTrainJobConfig({ epochs: 20 }, job.config); // { head: 'linear', epochs: 20, ... }
 */
export function resolveTrainJobConfig(
  ...layers: Array<Partial<TrainJobConfig> | Record<string, unknown> | undefined>
): TrainJobConfig {
  const out: Record<string, unknown> = { ...DEFAULT_TRAIN_JOB_CONFIG };
  for (const layer of layers) {
    if (!layer) continue;
    for (const key of Object.keys(DEFAULT_TRAIN_JOB_CONFIG)) {
      const v = (layer as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = v;
    }
  }
  const c = out as unknown as TrainJobConfig;
  if (typeof c.head !== 'string') throw bad('head must be a string');
  const head = getHead(c.head);
  if (head.name === 'upper')
    throw new FedexError(
      'MODEL_HEAD_NOT_APPLICABLE',
      'the upper head needs a backbone; the server trains feature heads only',
    );
  if (typeof c.headOptions !== 'object' || c.headOptions === null || Array.isArray(c.headOptions))
    throw bad('headOptions must be an object');
  const isInt = (n: number) => Number.isInteger(n);
  checkNumber(c.epochs, 'epochs', (n) => isInt(n) && n >= 1 && n <= 100_000, 'an integer in [1, 100000]');
  checkNumber(c.batchSize, 'batchSize', (n) => isInt(n) && n >= 1, 'an integer >= 1');
  checkNumber(c.learningRate, 'learningRate', (n) => n > 0 && n <= 10, 'in (0, 10]');
  checkNumber(c.validationSplit, 'validationSplit', (n) => n >= 0 && n < 1, 'in [0, 1)');
  checkNumber(c.patience, 'patience', (n) => isInt(n) && n >= 0, 'an integer >= 0');
  checkNumber(c.seed, 'seed', (n) => isInt(n) && n >= 0 && n < 2 ** 32, 'an integer in [0, 2^32)');
  checkNumber(c.holdoutFraction, 'holdoutFraction', (n) => n >= 0 && n < 1, 'in [0, 1)');
  checkNumber(c.minSamplesPerClass, 'minSamplesPerClass', (n) => isInt(n) && n >= 1, 'an integer >= 1');
  if (typeof c.refit !== 'boolean') throw bad('refit must be true or false');
  if (c.dtype !== 'float32' && c.dtype !== 'float16' && c.dtype !== 'int8')
    throw bad(`dtype must be float32, float16 or int8 (got ${JSON.stringify(c.dtype)})`);
  checkNumber(c.openSetMargin, 'openSetMargin', (n) => n > 0 && n <= 100, 'in (0, 100]');
  if (c.openSetRadius !== null)
    checkNumber(c.openSetRadius, 'openSetRadius', (n) => n > 0 && n <= 1e6, 'in (0, 1e6] or null');
  checkNumber(c.genericMargin, 'genericMargin', (n) => n >= 0 && n < 1, 'in [0, 1) (0: off)');
  if (typeof c.maskTwins !== 'boolean') throw bad('maskTwins must be true or false');
  return { ...c, headOptions: { ...c.headOptions } };
}

/** What {@link trainScope} needs. */
export interface TrainInput {
  scope: Scope;
  set: TrainingSet;
  /** The scope's promoted model of the same spec, if any. */
  current?: { weights: Uint8Array; labels: string[]; version: number };
  config: TrainJobConfig;
  /**
   * Extra training samples made from training samples (e.g. masked twins of unmasked photos,
   * src/model/mask-translate.ts): given rows of features, returns as many rows, row i of the
   * same class as input row i. Used for the candidate and the refit, never for the holdout that
   * decides promotion (so an augmentation that hurts is not promoted). The open-set rule keeps
   * the class means of the augmented rows as `twins` (a face near them is near the class).
   */
  augment?: (rows: Float32Array) => Float32Array;
}

/** Held-out and training summary, stored with the model version and the job. */
export interface TrainMetrics {
  /** Candidate accuracy on the holdout (null when the holdout is empty). */
  heldOutAccuracy: number | null;
  /** Current model's accuracy on the same holdout (null: no current model or empty holdout). */
  currentHeldOutAccuracy: number | null;
  currentVersion: number | null;
  heldOut: number;
  /** Samples the candidate was trained on (augmented ones not counted). */
  trainSamples: number;
  /** Augmented samples added to the shipped model's training (0: no `augment`). */
  augmentedSamples?: number;
  /** Samples of the shipped model (all of the kept classes after a refit). */
  samples: number;
  classes: number;
  /** Classes left out for having fewer than `minSamplesPerClass` samples. */
  droppedClasses: string[];
  /** Candidate epochs run, and the one whose weights it kept. */
  epochs: number;
  bestEpoch: number;
  stopReason: string;
  /** Epochs of the refit (0: no refit). */
  refitEpochs: number;
  /** Training accuracy of the shipped model's last epoch. */
  trainAccuracy: number;
  seconds: number;
}

export interface TrainOutcome {
  /** FXWT weights message (topology and `{scope, head, labels, specKey}` in its metadata). */
  weights: Uint8Array;
  /** Class i of the model is `labels[i]`. */
  labels: string[];
  metrics: TrainMetrics;
  promote: boolean;
  /** Why it was not promoted (null when promoted). */
  reason: string | null;
  trainedThrough: number;
  /** User scope: the user's deletion count the training set reflects (see `TrainingSet.removals`). */
  trainedRemovals?: number;
}

export type ProgressFn = (fraction: number, message: string) => void;

/** Class key of every sample: the label id (`"3"`) for a user, `"<userId>/<labelId>"` for global. */
export function classKeys(scope: Scope, set: TrainingSet): string[] {
  const keys: string[] = new Array(set.labels.length);
  for (let i = 0; i < set.labels.length; i++)
    keys[i] = scope === 'global' ? `${set.owners[i]}/${set.labels[i]}` : String(set.labels[i]);
  return keys;
}

/** Sorted class keys: label ids numerically for a user, by user then label id for global. */
function compareKeys(a: string, b: string): number {
  const [ua, la] = a.includes('/')
    ? [a.slice(0, a.lastIndexOf('/')), a.slice(a.lastIndexOf('/') + 1)]
    : ['', a];
  const [ub, lb] = b.includes('/')
    ? [b.slice(0, b.lastIndexOf('/')), b.slice(b.lastIndexOf('/') + 1)]
    : ['', b];
  if (ua !== ub) return ua < ub ? -1 : 1;
  return Number(la) - Number(lb);
}

/** Predicted class index of each of `rows` (inference, chunked, leak-free). */
function predictRows(
  model: tf.LayersModel,
  x: Float32Array,
  shape: readonly number[],
  rows: readonly number[],
): Int32Array {
  const dim = shapeSize(shape);
  const out = new Int32Array(rows.length);
  const chunk = 512;
  for (let s = 0; s < rows.length; s += chunk) {
    const part = rows.slice(s, s + chunk);
    const buf = new Float32Array(part.length * dim);
    part.forEach((r, j) => buf.set(x.subarray(r * dim, (r + 1) * dim), j * dim));
    const p = tf.tidy(() =>
      (model.predict(tf.tensor(buf, [part.length, ...shape])) as tf.Tensor).argMax(-1).dataSync(),
    );
    out.set(p, s);
  }
  return out;
}

/** Output probabilities of `rows`, row-major (`rows.length × classes`). */
function probabilitiesOf(
  model: tf.LayersModel,
  x: Float32Array,
  shape: readonly number[],
  rows: readonly number[],
): Float32Array {
  const dim = shapeSize(shape);
  const buf = gather(x, dim, rows);
  return tf.tidy(
    () => (model.predict(tf.tensor(buf, [rows.length, ...shape])) as tf.Tensor).dataSync() as Float32Array,
  );
}

/** The open-set rule a model ships with (see the module header). */
function openSetRule(
  x: Float32Array,
  y: Int32Array,
  dim: number,
  classes: number,
  margins: {
    margin: number;
    radius: number | undefined;
    genericMargin: number;
    twinRadius: number | undefined;
  },
  temperature: number,
  augment: TrainInput['augment'],
): OpenSetRule {
  const { margin, radius, genericMargin, twinRadius } = margins;
  if (dim <= OPEN_SET_MAX_DIM)
    return fitOpenSet(x, y, dim, classes, {
      margin,
      genericMargin,
      temperature,
      ...(augment ? { twins: augment(x), ...(twinRadius === undefined ? {} : { twinRadius }) } : {}),
      ...(radius === undefined ? {} : { radius }),
    });
  return { dim, centroids: [], radius: Number.POSITIVE_INFINITY, temperature, margin };
}

function gather(x: Float32Array, dim: number, rows: readonly number[]): Float32Array {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, j) => out.set(x.subarray(r * dim, (r + 1) * dim), j * dim));
  return out;
}

/** `x` (rows of `dim`) and `y` followed by `augment`'s rows with the same labels. */
function withAugmented(
  x: Float32Array,
  y: ArrayLike<number>,
  dim: number,
  augment: TrainInput['augment'],
): { x: Float32Array; y: number[] } {
  const labels = Array.from(y);
  if (!augment) return { x, y: labels };
  const extra = augment(x);
  if (extra.length !== x.length)
    throw new FedexError(
      'INTERNAL',
      `augment returned ${extra.length / dim} rows for ${x.length / dim}: it must return one row per row`,
    );
  const out = new Float32Array(x.length * 2);
  out.set(x);
  out.set(extra, x.length);
  return { x: out, y: [...labels, ...labels] };
}

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/**
 * Trains a candidate for `input.scope` and decides whether it replaces the current model.
 * NOT_ENOUGH_DATA when fewer than two classes have `minSamplesPerClass` samples.
 *
 * @example
 * const out = await trainScope({ scope: 'user:alice', set, config: resolveTrainJobConfig() }, (f, m) => log(f, m));
 * if (out.promote) serve(out.weights);
 */
export async function trainScope(
  input: TrainInput,
  onProgress: ProgressFn = () => {},
): Promise<TrainOutcome> {
  const started = now();
  const { scope, set, current } = input;
  const config = resolveTrainJobConfig(input.config);
  const head: Head = getHead(config.head);
  const shape = set.spec.shape;
  const dim = shapeSize(shape);

  // Classes: keep those with enough samples.
  const keys = classKeys(scope, set);
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  const labels = [...counts.keys()]
    .filter((k) => counts.get(k)! >= config.minSamplesPerClass)
    .sort(compareKeys);
  const droppedClasses = [...counts.keys()]
    .filter((k) => counts.get(k)! < config.minSamplesPerClass)
    .sort(compareKeys);
  if (labels.length < 2) {
    throw new FedexError(
      'NOT_ENOUGH_DATA',
      `${scope} has ${labels.length} class(es) with at least ${config.minSamplesPerClass} labelled samples ` +
        `(${set.labels.length} labelled samples in ${counts.size} classes); training needs 2`,
    );
  }
  const classOf = new Map(labels.map((k, i) => [k, i]));
  const kept: number[] = [];
  keys.forEach((k, i) => {
    if (classOf.has(k)) kept.push(i);
  });
  const x = gather(set.features, dim, kept);
  const y = Int32Array.from(kept, (i) => classOf.get(keys[i])!);
  const keyOfRow = kept.map((i) => keys[i]);

  const { train, val: holdout } = stratifiedSplit(y, config.holdoutFraction, config.seed);
  const willRefit = config.refit && holdout.length > 0;
  const candidateShare = willRefit ? 0.5 : 1;
  const trainOptions: Partial<TrainOptions> = {
    epochs: config.epochs,
    batchSize: config.batchSize,
    learningRate: config.learningRate,
    validationSplit: config.validationSplit,
    patience: config.patience,
    seed: config.seed,
  };
  // With masked twins the centroid head keeps two means a person: of the photos and of the twins.
  const headOptions =
    input.augment && head.name === 'centroid' && config.headOptions.prototypes === undefined
      ? { ...config.headOptions, prototypes: 2 }
      : { ...config.headOptions };
  const build = (): tf.LayersModel => head.build(shape, labels.length, headOptions, config.seed);
  const epochsOf = (n: number) => (head.training === 'gradient' ? n : 1);

  let candidate: tf.LayersModel | undefined = build();
  let shipped: tf.LayersModel | undefined;
  try {
    onProgress(0, `training a candidate on ${train.length} samples, ${labels.length} classes`);
    const total = epochsOf(config.epochs);
    const result = await fitHead(
      head,
      candidate,
      {
        ...withAugmented(
          gather(x, dim, train),
          train.map((i) => y[i]),
          dim,
          input.augment,
        ),
        shape,
      },
      {
        ...trainOptions,
        onEpoch: (p) =>
          onProgress(
            (candidateShare * p.epoch) / total,
            `candidate epoch ${p.epoch}/${total}: loss ${p.loss.toFixed(4)}`,
          ),
      },
    );

    let heldOutAccuracy: number | null = null;
    let currentHeldOutAccuracy: number | null = null;
    let temperature = 1;
    if (holdout.length > 0) {
      const p = predictRows(candidate, x, shape, holdout);
      heldOutAccuracy = p.filter((c, j) => c === y[holdout[j]]).length / holdout.length;
      temperature = fitTemperature(
        probabilitiesOf(candidate, x, shape, holdout),
        holdout.map((i) => y[i]),
        labels.length,
      );
      if (current) currentHeldOutAccuracy = await currentAccuracy(current, x, shape, holdout, keyOfRow);
    }
    const promote =
      heldOutAccuracy === null ||
      currentHeldOutAccuracy === null ||
      heldOutAccuracy >= currentHeldOutAccuracy;
    const reason = promote
      ? null
      : `held-out accuracy ${heldOutAccuracy!.toFixed(4)} is below the current version ${current!.version}'s ${currentHeldOutAccuracy!.toFixed(4)} on the same ${holdout.length} samples`;

    let refitEpochs = 0;
    let trainAccuracy = result.final.accuracy;
    let samples = train.length;
    if (promote && willRefit) {
      const refitTotal = epochsOf(result.bestEpoch);
      onProgress(0.5, `refitting on all ${y.length} samples for ${refitTotal} epoch(s)`);
      shipped = build();
      const refit = await fitHead(
        head,
        shipped,
        { ...withAugmented(x, y, dim, input.augment), shape },
        {
          ...trainOptions,
          epochs: Math.max(1, result.bestEpoch),
          validationSplit: 0,
          patience: 0,
          onEpoch: (p) =>
            onProgress(
              0.5 + (0.5 * p.epoch) / refitTotal,
              `refit epoch ${p.epoch}/${refitTotal}: loss ${p.loss.toFixed(4)}`,
            ),
        },
      );
      refitEpochs = refit.epochs;
      trainAccuracy = refit.final.accuracy;
      samples = y.length;
      candidate.dispose();
      candidate = undefined;
    } else {
      shipped = candidate;
      candidate = undefined;
    }
    const weights = modelToWeightsMessage(
      shipped,
      // The spec's own key (what devices compare with theirs), not the store's per-owner key.
      {
        scope,
        head: head.name,
        labels,
        specKey: specKey(set.spec),
        openSet: openSetRule(
          x,
          y,
          dim,
          labels.length,
          {
            margin: config.openSetMargin,
            radius: config.openSetRadius ?? knownOpenSetRadius(set.spec),
            // A configured radius applies to the twins too; else the feature space's twin radius.
            twinRadius: config.openSetRadius ?? knownTwinRadius(set.spec),
            genericMargin: config.genericMargin,
          },
          temperature,
          input.augment,
        ),
      },
      { dtype: config.dtype },
    );
    onProgress(1, promote ? 'done: promoted' : 'done: rejected');
    return {
      weights,
      labels,
      metrics: {
        heldOutAccuracy,
        currentHeldOutAccuracy,
        currentVersion: current?.version ?? null,
        heldOut: holdout.length,
        trainSamples: train.length,
        ...(input.augment ? { augmentedSamples: samples } : {}),
        samples,
        classes: labels.length,
        droppedClasses,
        epochs: result.epochs,
        bestEpoch: result.bestEpoch,
        stopReason: result.stopReason,
        refitEpochs,
        trainAccuracy,
        seconds: (now() - started) / 1000,
      },
      promote,
      reason,
      trainedThrough: set.throughSampleId,
      ...(set.removals ? { trainedRemovals: set.removals.removals } : {}),
    };
  } finally {
    candidate?.dispose();
    shipped?.dispose();
  }
}

/**
 * The current model's accuracy on the held-out rows. Its class i is `current.labels[i]`; a sample
 * whose class it does not know, or a model that cannot take these features, scores as wrong.
 */
async function currentAccuracy(
  current: NonNullable<TrainInput['current']>,
  x: Float32Array,
  shape: readonly number[],
  rows: readonly number[],
  keyOfRow: readonly string[],
): Promise<number> {
  const { model } = await modelFromWeightsMessage(current.weights);
  try {
    const inShape = model.inputs[0].shape.slice(1);
    if (inShape.length !== shape.length || inShape.some((d, i) => d !== shape[i])) return 0;
    const p = predictRows(model, x, shape, rows);
    let right = 0;
    p.forEach((c, j) => {
      if (current.labels[c] === keyOfRow[rows[j]]) right++;
    });
    return right / rows.length;
  } finally {
    model.dispose();
  }
}
