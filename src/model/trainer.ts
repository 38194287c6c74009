/**
 * Trains a head on labelled features: minibatch Adam (or plain SGD) on softmax cross-entropy, a seeded stratified
 * validation split with early stopping (patience, best weights restored), balanced class weights
 * for imbalanced people, a progress callback, and no tensor leaks. Personalized (one user's few
 * labelled faces) and global (everyone's) training run this same code.
 *
 * Deterministic: the same model, data and seed give identical weights. That is why the loop is
 * written here rather than using `model.fit`, whose shuffling and dropout masks are unseeded: the
 * epoch order comes from `epochOrder` (also used by `./batched.ts`), and every dropout layer gets
 * a fresh seed derived from the step for the duration of each step.
 *
 * Platform-neutral (tfjs only). The loop yields to the event loop about every 50 ms, so a server
 * that trains in-process keeps answering requests.
 */
import * as tf from '@tensorflow/tfjs';
import { FedexError } from '../core/errors.js';
import { createRng, deriveSeed, shuffled } from '../core/random.js';
import { shapeSize } from '../core/types.js';
import { LOGITS_LAYER } from './heads/common.js';
import type { Head, LabelledFeatures } from './heads/types.js';

export type { LabelledFeatures } from './heads/types.js';

/** Metrics after one epoch. `valLoss`/`valAccuracy` are present when there is a validation set. */
export interface EpochProgress {
  /** 1-based. */
  epoch: number;
  /** Mean class-weighted training loss over the epoch's samples (dropout active). */
  loss: number;
  /** Training top-1 accuracy over the epoch's forward passes (dropout active). */
  accuracy: number;
  /** Mean unweighted cross-entropy on the validation samples (inference mode). */
  valLoss?: number;
  valAccuracy?: number;
}

/** How to train. */
/** Optimizers the trainer runs. */
export type TrainOptimizer = 'adam' | 'sgd';
export const TRAIN_OPTIMIZERS: readonly TrainOptimizer[] = ['adam', 'sgd'];

export interface TrainOptions {
  /** Most passes over the training samples. */
  epochs: number;
  /** Samples per step; the last batch of an epoch may be smaller. */
  batchSize: number;
  /** Learning rate of `optimizer`. */
  learningRate: number;
  /**
   * `adam` (default) or `sgd`: plain minibatch SGD, w ← w − lr·∇ (the step a FedAvg device takes;
   * useful to compare the cloud's training with FedAvg's on equal terms).
   */
  optimizer: TrainOptimizer;
  /**
   * Fraction of each class held out for validation (seeded, stratified; a class keeps at least one
   * training sample). 0 disables validation and early stopping.
   */
  validationSplit: number;
  /** Epochs without a validation-loss improvement before stopping. 0 disables early stopping. */
  patience: number;
  /** Smallest decrease of the validation loss that counts as an improvement. */
  minDelta: number;
  /**
   * With a validation set, end with the weights of the epoch with the lowest validation loss (after
   * early stopping, or after the last epoch when that was not the best).
   */
  restoreBestWeights: boolean;
  /**
   * `balanced`: class c weighs n/(k·n_c) (n training samples, k classes present, n_c of class c),
   * so each person counts equally however many photos they have. `none`: every sample weighs 1.
   * Or one weight per class. Validation loss is unweighted (as in Keras).
   */
  classWeight: 'balanced' | 'none' | readonly number[];
  /** Seed of the validation split, the epoch order and the dropout masks. */
  seed: number;
  /**
   * Linear probe first (LP-FT): for this many epochs only the `logits` layer trains, then every
   * trainable weight. 0: all from the start.
   */
  probeEpochs: number;
  /**
   * Weights outside the `logits` layer (a pretrained stage) learn at `learningRate` × this (their
   * own optimizer). 1: one rate for all.
   */
  pretrainedLearningRateScale: number;
  /**
   * Score the validation set before the first step: the starting weights are a candidate for the
   * best epoch (epoch 0), so a model that starts well (a classifier set from class centroids) ends
   * no worse on validation than it started. Needs a validation set.
   */
  validateStart: boolean;
  /**
   * L2 penalty on the kernels (not the biases): the training loss gains (weightDecay / 2) × the sum
   * of every trained kernel's squared weights. 0 (default): none.
   */
  weightDecay: number;
  /**
   * Called once with the training part of the data (validation samples left out) before the first
   * step: sets new weights from data (`Head.prepare`).
   */
  initialize?: (train: LabelledFeatures) => void;
  /** Called after every epoch. */
  onEpoch?: (progress: EpochProgress) => void;
  /** Stops training after the current step when aborted; the result reports `stopReason: 'aborted'`. */
  signal?: AbortSignal;
}

/**
 * Defaults: 100 epochs, batch 32, Adam at learning rate 1e-3, 20% validation with patience 10 and the best
 * weights restored, balanced class weights, seed 0; no probe epochs, one learning rate, the start
 * not validated.
 */
export const DEFAULT_TRAIN_OPTIONS: Readonly<Omit<TrainOptions, 'onEpoch' | 'signal' | 'initialize'>> =
  Object.freeze({
    epochs: 100,
    batchSize: 32,
    learningRate: 1e-3,
    optimizer: 'adam',
    validationSplit: 0.2,
    patience: 10,
    minDelta: 0,
    restoreBestWeights: true,
    classWeight: 'balanced',
    seed: 0,
    probeEpochs: 0,
    pretrainedLearningRateScale: 1,
    validateStart: false,
    weightDecay: 0,
  });

export interface TrainResult {
  /** One entry per epoch run. */
  history: EpochProgress[];
  /** Epochs run. */
  epochs: number;
  /**
   * 1-based epoch whose weights the model holds (the last one unless the best were restored); 0
   * with `validateStart` when no epoch beat the starting weights.
   */
  bestEpoch: number;
  /** With `validateStart`: validation loss and accuracy of the starting weights. */
  start?: { valLoss: number; valAccuracy: number };
  /** Metrics of `bestEpoch`. */
  final: EpochProgress;
  stopReason: 'epochs' | 'early-stopping' | 'aborted';
  /** Sample indices (into the data) used for training and for validation, ascending. */
  trainIndices: number[];
  valIndices: number[];
  /** Weight per class used in the loss. */
  classWeights: number[];
  /** Wall-clock seconds of the loop, and training samples processed per second. */
  seconds: number;
  samplesPerSecond: number;
}

/**
 * Seeded, stratified split: per class, `round(n_c · fraction)` samples go to validation, but a
 * class always keeps at least one training sample (a class with one sample is never validated).
 *
 * @example
 * stratifiedSplit([0, 0, 0, 0, 0, 1, 1, 1, 1, 1], 0.2, 7); // one sample of each class in `val`
 */
export function stratifiedSplit(
  y: ArrayLike<number>,
  fraction: number,
  seed: number,
): { train: number[]; val: number[] } {
  if (!(fraction >= 0 && fraction < 1)) {
    throw new FedexError('BAD_ARGUMENT', `validation split must be in [0, 1) (got ${fraction})`);
  }
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < y.length; i++) {
    const list = byClass.get(y[i]) ?? [];
    list.push(i);
    byClass.set(y[i], list);
  }
  const train: number[] = [];
  const val: number[] = [];
  for (const c of [...byClass.keys()].sort((a, b) => a - b)) {
    const idx = shuffled(createRng(deriveSeed(seed, `val:${c}`)), byClass.get(c)!);
    const nVal = Math.min(idx.length - 1, Math.round(idx.length * fraction));
    val.push(...idx.slice(0, nVal));
    train.push(...idx.slice(nVal));
  }
  const asc = (a: number, b: number) => a - b;
  return { train: train.sort(asc), val: val.sort(asc) };
}

/**
 * Balanced class weights over the samples `indices`: n/(k·n_c) for the k classes present, 0 for
 * absent classes (they contribute no samples anyway).
 *
 * @example
 * balancedClassWeights([0, 0, 0, 1], [0, 1, 2, 3], 2); // [4/(2·3), 4/(2·1)] = [0.667, 2]
 */
export function balancedClassWeights(
  y: ArrayLike<number>,
  indices: readonly number[],
  numClasses: number,
): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (const i of indices) counts[y[i]] += 1;
  const present = counts.filter((c) => c > 0).length;
  return counts.map((c) => (c > 0 ? indices.length / (present * c) : 0));
}

/** The order of the training samples in epoch `epoch` (0-based): a seeded shuffle. */
export function epochOrder(seed: number, epoch: number, indices: readonly number[]): number[] {
  return shuffled(createRng(deriveSeed(seed, `epoch:${epoch}`)), indices);
}

/** Resolves the class weights option. */
export function resolveClassWeights(
  option: TrainOptions['classWeight'],
  y: ArrayLike<number>,
  indices: readonly number[],
  numClasses: number,
): number[] {
  if (option === 'balanced') return balancedClassWeights(y, indices, numClasses);
  if (option === 'none') return new Array<number>(numClasses).fill(1);
  if (option.length !== numClasses || option.some((w) => !(w >= 0) || !Number.isFinite(w))) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `classWeight needs ${numClasses} finite weights >= 0 (got ${option.length})`,
    );
  }
  return [...option];
}

/** Checks features against the model's input and labels against its classes; returns n. */
export function checkTrainingData(
  model: tf.LayersModel,
  data: LabelledFeatures,
): { n: number; numClasses: number } {
  const inShape = model.inputs[0].shape.slice(1);
  const outShape = model.outputs[0].shape;
  const numClasses = outShape[outShape.length - 1] as number;
  if (inShape.length !== data.shape.length || inShape.some((d, i) => d !== data.shape[i])) {
    throw new FedexError(
      'FEATURE_MISMATCH',
      `the model takes features of shape [${inShape.join(', ')}] but the data has [${data.shape.join(', ')}]`,
    );
  }
  const n = data.y.length;
  if (data.x.length !== n * shapeSize(data.shape)) {
    throw new FedexError(
      'MODEL_BAD_DATA',
      `${data.x.length} feature values do not make ${n} samples of [${data.shape.join(', ')}]`,
    );
  }
  for (let i = 0; i < n; i++) {
    const c = data.y[i];
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) {
      throw new FedexError('MODEL_BAD_DATA', `label ${c} of sample ${i} is outside 0..${numClasses - 1}`);
    }
  }
  return { n, numClasses };
}

/** The variables of the model's `logits` layer (none when it has no such layer). */
function logitsVariables(model: tf.LayersModel): tf.Variable[] {
  const layer = model.layers.find((l) => l.name === LOGITS_LAYER);
  return layer ? layer.trainableWeights.map((w) => w.read() as tf.Variable) : [];
}

/** Dropout layers anywhere in the model (nested models included). */
function dropoutLayers(model: tf.LayersModel): Array<{ seed?: number }> {
  const out: Array<{ seed?: number }> = [];
  const walk = (layers: tf.layers.Layer[]) => {
    for (const l of layers) {
      if (l instanceof tf.LayersModel) walk(l.layers);
      else if (l.getClassName() === 'Dropout' || l.getClassName() === 'SpatialDropout1D')
        out.push(l as unknown as { seed?: number });
    }
  };
  walk(model.layers);
  return out;
}

/**
 * The model's pre-softmax output when it ends in a softmax activation layer (every registered head
 * does); otherwise null and the loss is computed from probabilities.
 */
function logitsOf(model: tf.LayersModel): tf.LayersModel | null {
  const last = model.layers[model.layers.length - 1];
  const config = last.getConfig() as { activation?: unknown };
  if (last.getClassName() !== 'Activation' || config.activation !== 'softmax') return null;
  // A view sharing the layers (and weights) of `model`; it owns nothing, so it is never disposed.
  return tf.model({ inputs: model.inputs, outputs: last.input as tf.SymbolicTensor });
}

/** Gathers rows of `x` (each `dim` values) into a new array. */
function gatherRows(x: Float32Array, dim: number, rows: readonly number[]): Float32Array {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, j) => out.set(x.subarray(r * dim, (r + 1) * dim), j * dim));
  return out;
}

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/** Per-sample cross-entropy from logits (or from probabilities when `fromProbs`). */
function crossEntropy(out: tf.Tensor, oneHot: tf.Tensor, fromProbs: boolean): tf.Tensor {
  const logp = fromProbs ? tf.log(tf.clipByValue(out, 1e-7, 1)) : tf.logSoftmax(out);
  return tf.neg(tf.sum(tf.mul(logp, oneHot), -1));
}

/** Validation loss and accuracy in inference mode, in chunks. */
function evaluate(
  forward: tf.LayersModel,
  fromProbs: boolean,
  data: LabelledFeatures,
  indices: readonly number[],
  numClasses: number,
): { loss: number; accuracy: number } {
  const dim = shapeSize(data.shape);
  const chunk = 256;
  let loss = 0;
  let right = 0;
  for (let s = 0; s < indices.length; s += chunk) {
    const rows = indices.slice(s, s + chunk);
    const [l, r] = tf.tidy(() => {
      const xb = tf.tensor(gatherRows(data.x, dim, rows), [rows.length, ...data.shape]);
      const yb = tf.tensor1d(
        rows.map((i) => data.y[i]),
        'int32',
      );
      const out = forward.apply(xb, { training: false }) as tf.Tensor;
      const ce = crossEntropy(out, tf.oneHot(yb, numClasses), fromProbs);
      const correct = tf.equal(tf.argMax(out, -1).toInt(), yb);
      return [tf.sum(ce).dataSync()[0], tf.sum(tf.cast(correct, 'float32')).dataSync()[0]];
    });
    loss += l;
    right += r;
  }
  return { loss: loss / indices.length, accuracy: right / indices.length };
}

/**
 * Trains `model` (a head from the registry, or any model from features to class probabilities) in
 * place. Throws FEATURE_MISMATCH when the data's sample shape is not the model's input, and
 * MODEL_BAD_DATA for labels outside the model's classes or an empty training set.
 *
 * @example
 * const model = getHead('mlp').build([128], 5, { hidden: [64] }, 1);
 * const result = await trainModel(model, { x, y, shape: [128] }, { epochs: 50, seed: 1 });
 * result.final.valAccuracy;
 */
export async function trainModel(
  model: tf.LayersModel,
  data: LabelledFeatures,
  options: Partial<TrainOptions> = {},
): Promise<TrainResult> {
  const o: TrainOptions = { ...DEFAULT_TRAIN_OPTIONS, ...options };
  if (!Number.isInteger(o.epochs) || o.epochs < 1)
    throw new FedexError('BAD_ARGUMENT', `epochs must be an integer >= 1 (got ${o.epochs})`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1)
    throw new FedexError('BAD_ARGUMENT', `batchSize must be an integer >= 1 (got ${o.batchSize})`);
  if (!(o.learningRate > 0))
    throw new FedexError('BAD_ARGUMENT', `learningRate must be > 0 (got ${o.learningRate})`);
  if (!TRAIN_OPTIMIZERS.includes(o.optimizer))
    throw new FedexError(
      'BAD_ARGUMENT',
      `optimizer must be one of ${TRAIN_OPTIMIZERS.join(', ')} (got ${String(o.optimizer)})`,
    );
  if (!(o.weightDecay >= 0) || !Number.isFinite(o.weightDecay))
    throw new FedexError('BAD_ARGUMENT', `weightDecay must be a finite number >= 0 (got ${o.weightDecay})`);
  if (!Number.isInteger(o.patience) || o.patience < 0)
    throw new FedexError('BAD_ARGUMENT', `patience must be an integer >= 0 (got ${o.patience})`);
  if (!Number.isInteger(o.probeEpochs) || o.probeEpochs < 0)
    throw new FedexError('BAD_ARGUMENT', `probeEpochs must be an integer >= 0 (got ${o.probeEpochs})`);
  if (!(o.pretrainedLearningRateScale > 0))
    throw new FedexError(
      'BAD_ARGUMENT',
      `pretrainedLearningRateScale must be > 0 (got ${o.pretrainedLearningRateScale})`,
    );
  const { n, numClasses } = checkTrainingData(model, data);
  if (n === 0) throw new FedexError('MODEL_BAD_DATA', 'no training samples');

  const { train, val } = stratifiedSplit(data.y, o.validationSplit, o.seed);
  const classWeights = resolveClassWeights(o.classWeight, data.y, train, numClasses);
  const dim = shapeSize(data.shape);
  const logitsModel = logitsOf(model);
  const forward = logitsModel ?? model;
  const fromProbs = logitsModel === null;
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  if (variables.length === 0) {
    throw new FedexError(
      'MODEL_BAD_DATA',
      'the model has no trainable weights (a closed-form head is fitted, not trained)',
    );
  }
  // The new classifier's variables, and the rest (a pretrained stage, when the head has one).
  const own = new Set(logitsVariables(model));
  const classifierVars = variables.filter((v) => own.has(v));
  const pretrainedVars = variables.filter((v) => !own.has(v));
  if (o.probeEpochs > 0 && classifierVars.length === 0)
    throw new FedexError('BAD_ARGUMENT', `probeEpochs needs a "${LOGITS_LAYER}" layer to probe`);
  const dropouts = dropoutLayers(model);
  const dropoutSeeds = dropouts.map((d) => d.seed);
  // One Adam per rate (scaling the gradients would not do: Adam's steps do not depend on their
  // scale). A probe phase needs two as well: tfjs's Adam keys its moments by position in the
  // variable list, so adding the pretrained variables after probing would misalign them.
  const twoRates =
    (o.pretrainedLearningRateScale !== 1 || o.probeEpochs > 0) &&
    classifierVars.length > 0 &&
    pretrainedVars.length > 0;
  const makeOptimizer = (lr: number): tf.Optimizer =>
    o.optimizer === 'sgd' ? tf.train.sgd(lr) : tf.train.adam(lr);
  const optimizer = makeOptimizer(o.learningRate);
  const pretrainedOptimizer = twoRates
    ? makeOptimizer(o.learningRate * o.pretrainedLearningRateScale)
    : optimizer;
  const weightTable = tf.tensor1d(classWeights, 'float32');
  o.initialize?.({
    x: gatherRows(data.x, dim, train),
    y: train.map((i) => data.y[i]),
    shape: data.shape,
  });

  const history: EpochProgress[] = [];
  let best: { epoch: number; loss: number; weights: tf.Tensor[] } | null = null;
  let start: TrainResult['start'];
  if (o.validateStart && val.length > 0) {
    const v = evaluate(forward, fromProbs, data, val, numClasses);
    start = { valLoss: v.loss, valAccuracy: v.accuracy };
    best = {
      epoch: 0,
      loss: v.loss,
      weights: o.restoreBestWeights ? model.weights.map((w) => w.read().clone()) : [],
    };
  }
  let sinceBest = 0;
  let stopReason: TrainResult['stopReason'] = 'epochs';
  let step = 0;
  let lastYield = now();
  const started = now();
  let processed = 0;

  try {
    for (let epoch = 0; epoch < o.epochs && stopReason === 'epochs'; epoch++) {
      const order = epochOrder(o.seed, epoch, train);
      const probing = epoch < o.probeEpochs;
      const stepVars = probing ? classifierVars : variables;
      const losses: tf.Tensor[] = [];
      const corrects: tf.Tensor[] = [];
      try {
        for (let s = 0; s < order.length; s += o.batchSize) {
          if (o.signal?.aborted) {
            stopReason = 'aborted';
            break;
          }
          const rows = order.slice(s, s + o.batchSize);
          const b = rows.length;
          dropouts.forEach((d, i) => (d.seed = deriveSeed(o.seed, `dropout:${step}:${i}`)));
          const [loss, correct] = tf.tidy(() => {
            const xb = tf.tensor(gatherRows(data.x, dim, rows), [b, ...data.shape]);
            const yb = tf.tensor1d(
              rows.map((i) => data.y[i]),
              'int32',
            );
            const oneHot = tf.oneHot(yb, numClasses);
            const sampleWeights = tf.gather(weightTable, yb);
            let right: tf.Tensor | undefined;
            const { value, grads } = tf.variableGrads(() => {
              const out = forward.apply(xb, { training: true }) as tf.Tensor;
              right = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(out, -1).toInt(), yb), 'float32')));
              // Keras semantics: the mean over the batch of weight × cross-entropy.
              const data = tf.div(tf.sum(tf.mul(crossEntropy(out, oneHot, fromProbs), sampleWeights)), b);
              if (o.weightDecay === 0) return data as tf.Scalar;
              const kernels = stepVars.filter((v) => v.name.includes('kernel'));
              const l2 = tf.addN(kernels.map((v) => tf.sum(tf.square(v))));
              return tf.add(data, tf.mul(o.weightDecay / 2, l2)) as tf.Scalar;
            }, stepVars);
            // An array keeps the variable order fixed, which Adam's per-slot moments rely on.
            const apply = (opt: tf.Optimizer, vars: tf.Variable[]) =>
              opt.applyGradients(vars.map((v) => ({ name: v.name, tensor: grads[v.name] })));
            if (!twoRates) apply(optimizer, stepVars);
            else {
              apply(optimizer, classifierVars);
              if (!probing) apply(pretrainedOptimizer, pretrainedVars);
            }
            return [tf.mul(value, b), right!];
          });
          losses.push(loss);
          corrects.push(correct);
          processed += b;
          step += 1;
          if (now() - lastYield > 50) {
            await yieldToEventLoop();
            lastYield = now();
          }
        }
        if (stopReason === 'aborted' && losses.length === 0) break;
        const seen = Math.min(order.length, losses.length * o.batchSize);
        const [lossSum, rightSum] = tf.tidy(() => [
          tf.addN(losses).dataSync()[0],
          tf.addN(corrects).dataSync()[0],
        ]);
        const progress: EpochProgress = { epoch: epoch + 1, loss: lossSum / seen, accuracy: rightSum / seen };
        if (val.length > 0) {
          const v = evaluate(forward, fromProbs, data, val, numClasses);
          progress.valLoss = v.loss;
          progress.valAccuracy = v.accuracy;
        }
        history.push(progress);
        o.onEpoch?.(progress);

        if (val.length > 0 && progress.valLoss !== undefined) {
          if (best === null || progress.valLoss < best.loss - o.minDelta) {
            if (best) tf.dispose(best.weights);
            best = {
              epoch: epoch + 1,
              loss: progress.valLoss,
              weights: o.restoreBestWeights ? model.weights.map((w) => w.read().clone()) : [],
            };
            sinceBest = 0;
          } else {
            sinceBest += 1;
            if (o.patience > 0 && sinceBest >= o.patience) stopReason = 'early-stopping';
          }
        }
      } finally {
        tf.dispose(losses);
        tf.dispose(corrects);
      }
    }

    let bestEpoch = history.length;
    if (best && o.restoreBestWeights && best.epoch !== bestEpoch) {
      model.setWeights(best.weights);
      bestEpoch = best.epoch;
    }
    const seconds = (now() - started) / 1000;
    const final = history[bestEpoch - 1] ?? {
      epoch: 0,
      loss: Number.NaN,
      accuracy: Number.NaN,
      ...(start ? { valLoss: start.valLoss, valAccuracy: start.valAccuracy } : {}),
    };
    return {
      history,
      epochs: history.length,
      bestEpoch,
      ...(start ? { start } : {}),
      final,
      stopReason,
      trainIndices: train,
      valIndices: val,
      classWeights,
      seconds,
      samplesPerSecond: seconds > 0 ? processed / seconds : 0,
    };
  } finally {
    if (best) tf.dispose(best.weights);
    optimizer.dispose();
    if (twoRates) pretrainedOptimizer.dispose();
    weightTable.dispose();
    dropouts.forEach((d, i) => (d.seed = dropoutSeeds[i]));
  }
}

/**
 * Fits any registered head: gradient heads with `trainModel` (after the head's `prepare` on the
 * training part, when it has one), closed-form heads (centroid) with their `fit` on all the samples
 * (no validation, no epochs; the result has one history entry with the training accuracy).
 */
export async function fitHead(
  head: Head,
  model: tf.LayersModel,
  data: LabelledFeatures,
  options: Partial<TrainOptions> = {},
): Promise<TrainResult> {
  if (head.training === 'gradient') {
    const prepare = head.prepare?.bind(head);
    return trainModel(model, data, {
      ...(prepare && !options.initialize ? { initialize: (train) => prepare(model, train) } : {}),
      ...options,
    });
  }
  if (!head.fit) throw new FedexError('INTERNAL', `head ${head.name} is closed-form but has no fit`);
  const { n, numClasses } = checkTrainingData(model, data);
  const started = now();
  head.fit(model, data);
  const all = Array.from({ length: n }, (_, i) => i);
  const logitsModel = logitsOf(model);
  const m = evaluate(logitsModel ?? model, logitsModel === null, data, all, numClasses);
  const seconds = (now() - started) / 1000;
  const final: EpochProgress = { epoch: 1, loss: m.loss, accuracy: m.accuracy };
  options.onEpoch?.(final);
  return {
    history: [final],
    epochs: 1,
    bestEpoch: 1,
    final,
    stopReason: 'epochs',
    trainIndices: all,
    valIndices: [],
    classWeights: new Array<number>(numClasses).fill(1),
    seconds,
    samplesPerSecond: seconds > 0 ? n / seconds : 0,
  };
}
