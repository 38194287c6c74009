/**
 * Many users' small heads trained at once. Each user's `linear`, `mlp` or `upper` head becomes one slice of
 * stacked weights (`[U, in, out]` kernels, `[U, 1, out]` biases); a step is a handful of batched
 * matrix products over all users instead of U tiny training loops, which is what makes thousands
 * of personalized heads per minute possible on one core.
 *
 * Users differ in sample count and class count. Samples are padded to the largest user and masked
 * out of the loss; classes are padded to the largest user and masked out of the softmax (their
 * logits get −1e9, so their probabilities and gradients are exactly 0 and their weights stay 0).
 * Each user's loss is its own class-weighted mean cross-entropy, and the users' losses are summed:
 * users share no weights, so each user's gradient is exactly the one it would get alone. Adam runs
 * per user with its own step count, so a user with fewer minibatches per epoch simply stops
 * updating when its epochs are done. The result therefore matches `trainModel` on each user
 * separately (same head, seed `userSeed(seed, id)`, no validation split), up to float rounding.
 *
 * `upper` is the per-user heavy top at scale: the pretrained upper stage's convolutions are shared
 * and frozen (the cloud runs them once per photo, `upperTrunk`), and each user fine-tunes its own
 * copy of the stage's last dense layer (the 256→128 `fc` of the face network, started from the
 * pretrained weights) under a classifier started from the class centroids, with the LP-FT schedule
 * of `trainModel` (`probeEpochs`, `pretrainedLearningRateScale`). It matches `trainModel` on each
 * user's `upperVectorModel` with those options.
 *
 * Platform-neutral (tfjs only). No dropout, no validation or early stopping here: those need
 * per-user control flow, which is what `trainModel` is for.
 */
import * as tf from '@tensorflow/tfjs';
import { FedexError } from '../core/errors.js';
import { deriveSeed } from '../core/random.js';
import { centroidClassifier } from './heads/centroid.js';
import { classifier, kernelInitializer, LOGITS_LAYER } from './heads/common.js';
import { DEFAULT_MLP_HIDDEN, hiddenLayerName } from './heads/mlp.js';
import { getHead } from './heads/registry.js';
import { epochOrder, resolveClassWeights } from './trainer.js';

/** One user's labelled features (vectors of the same length for every user). */
export interface UserSamples {
  /** Used to derive the user's seed; default `user:<index>`. */
  id?: string;
  /** `y.length * dim` values. */
  x: Float32Array;
  /** Class ids 0..numClasses-1. */
  y: ArrayLike<number>;
  /** The user's classes (people); may exceed the largest label. */
  numClasses: number;
}

/** A pretrained dense layer (no activation): the last layer of a backbone's upper stage. */
export interface PretrainedDense {
  /** Layer name in exported models (`fc` for the face network). */
  name: string;
  /** `inDim × units`, row-major. */
  kernel: Float32Array;
  /** `units` values, or none when the layer has no bias (the face network's `fc`). */
  bias?: Float32Array;
  units: number;
}

export interface BatchedOptions {
  head: 'linear' | 'mlp' | 'upper';
  /** mlp: hidden widths (ReLU). Default the mlp head's, `[256]`. */
  hidden?: number[];
  /** upper: the stage's last dense layer each user fine-tunes (inputs are the trunk's output). */
  pretrained?: PretrainedDense;
  /** upper: epochs in which only the classifier trains (linear probe), as in `trainModel`. */
  probeEpochs?: number;
  /** upper: the pretrained layer's rate as a fraction of `learningRate` (its own Adam), as in `trainModel`. */
  pretrainedLearningRateScale?: number;
  epochs: number;
  learningRate: number;
  /** Samples per user per step, or `full` (each user's whole set every step). */
  batchSize: number | 'full';
  /** Per user, as in `trainModel`: `balanced` (n/(k·n_c) over the user's samples) or `none`. */
  classWeight: 'balanced' | 'none';
  /** Base seed; user u's head uses `userSeed(seed, id_u)` for its initial weights and epoch order. */
  seed: number;
  /** Users stacked into one set of tensors; larger chunks are faster but need more memory. */
  chunkSize: number;
  /** Called after each chunk with the number of users done. */
  onProgress?: (usersDone: number, usersTotal: number) => void;
}

/**
 * Defaults: linear head, 100 full-batch epochs at learning rate 0.01 (a user has tens of samples,
 * so a full batch is one step per epoch), balanced class weights, seed 0, 1000 users per chunk.
 */
export const DEFAULT_BATCHED_OPTIONS: Readonly<Omit<BatchedOptions, 'onProgress' | 'hidden'>> = Object.freeze(
  {
    head: 'linear',
    epochs: 100,
    learningRate: 0.01,
    batchSize: 'full',
    classWeight: 'balanced',
    seed: 0,
    chunkSize: 1000,
  },
);

/** A user's trained head, as plain arrays. */
export interface BatchedUserResult {
  id: string;
  /** The seed its head was built and shuffled with (`userSeed(seed, id)`). */
  seed: number;
  numClasses: number;
  samples: number;
  /** Class-weighted mean cross-entropy and top-1 accuracy on its own samples after training. */
  loss: number;
  accuracy: number;
  /** Weights in the order the head's model lists them (per dense layer: kernel, bias). */
  weights: Array<{ shape: number[]; values: Float32Array }>;
}

export interface BatchedResult {
  users: BatchedUserResult[];
  head: 'linear' | 'mlp' | 'upper';
  hidden: number[];
  dim: number;
  seconds: number;
  usersPerMinute: number;
  /** User `u`'s head as a standalone model of the same head type (caller disposes it). */
  toModel(u: number): tf.LayersModel;
}

/** The seed of a user's head in batched training. */
export function userSeed(seed: number, id: string): number {
  return deriveSeed(seed, id);
}

/** Adam's constants, as `tf.train.adam` uses them. */
const BETA1 = 0.9;
const BETA2 = 0.999;
/** Logit offset of a padded class: exp(−1e9 − max) is exactly 0 in float32. */
const MASKED_LOGIT = -1e9;

interface Chunk {
  users: UserSamples[];
  ids: string[];
  seeds: number[];
}

function checkOptions(o: BatchedOptions, hidden: number[], dim: number): void {
  if (o.head !== 'linear' && o.head !== 'mlp' && o.head !== 'upper') {
    throw new FedexError(
      'MODEL_HEAD_NOT_APPLICABLE',
      `batched training supports the linear, mlp and upper heads, not "${o.head}"`,
    );
  }
  if (o.head === 'upper') {
    const p = o.pretrained;
    if (!p) {
      throw new FedexError(
        'BAD_ARGUMENT',
        'batched upper training needs the pretrained dense layer (options.pretrained, from upperTrunk)',
      );
    }
    if (!Number.isInteger(p.units) || p.units < 1 || p.kernel.length !== dim * p.units) {
      throw new FedexError(
        'FEATURE_MISMATCH',
        `the pretrained layer's kernel has ${p.kernel.length} values, not ${dim} inputs x ${p.units} units`,
      );
    }
    if (p.bias && p.bias.length !== p.units)
      throw new FedexError(
        'FEATURE_MISMATCH',
        `the pretrained layer's bias has ${p.bias.length} values, not ${p.units}`,
      );
  }
  const probe = o.probeEpochs ?? 0;
  if (!Number.isInteger(probe) || probe < 0)
    throw new FedexError('BAD_ARGUMENT', `probeEpochs must be an integer >= 0 (got ${probe})`);
  if (!((o.pretrainedLearningRateScale ?? 1) > 0)) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `pretrainedLearningRateScale must be > 0 (got ${o.pretrainedLearningRateScale})`,
    );
  }
  if (!Number.isInteger(o.epochs) || o.epochs < 1)
    throw new FedexError('BAD_ARGUMENT', `epochs must be an integer >= 1 (got ${o.epochs})`);
  if (!(o.learningRate > 0))
    throw new FedexError('BAD_ARGUMENT', `learningRate must be > 0 (got ${o.learningRate})`);
  if (o.batchSize !== 'full' && (!Number.isInteger(o.batchSize) || o.batchSize < 1)) {
    throw new FedexError('BAD_ARGUMENT', `batchSize must be an integer >= 1 or "full" (got ${o.batchSize})`);
  }
  if (!Number.isInteger(o.chunkSize) || o.chunkSize < 1)
    throw new FedexError('BAD_ARGUMENT', `chunkSize must be an integer >= 1 (got ${o.chunkSize})`);
  if (hidden.some((h) => !Number.isInteger(h) || h < 1))
    throw new FedexError('BAD_ARGUMENT', `hidden widths must be integers >= 1 (got [${hidden.join(', ')}])`);
}

function checkUser(u: UserSamples, index: number, dim: number): void {
  const n = u.y.length;
  const who = `user ${u.id ?? index}`;
  if (n === 0) throw new FedexError('MODEL_BAD_DATA', `${who} has no samples`);
  if (u.x.length !== n * dim)
    throw new FedexError(
      'FEATURE_MISMATCH',
      `${who}: ${u.x.length} values do not make ${n} samples of ${dim}`,
    );
  if (!Number.isInteger(u.numClasses) || u.numClasses < 1)
    throw new FedexError('MODEL_BAD_DATA', `${who}: numClasses must be >= 1`);
  for (let i = 0; i < n; i++) {
    const c = u.y[i];
    if (!Number.isInteger(c) || c < 0 || c >= u.numClasses) {
      throw new FedexError(
        'MODEL_BAD_DATA',
        `${who}: label ${c} of sample ${i} is outside 0..${u.numClasses - 1}`,
      );
    }
  }
}

/** Layer names and output widths of user `classes`'s head. */
function layerPlan(
  o: BatchedOptions,
  hidden: number[],
  classes: number,
): Array<{ name: string; units: number }> {
  if (o.head === 'upper') {
    const p = o.pretrained!;
    return [
      { name: p.name, units: p.units },
      { name: LOGITS_LAYER, units: classes },
    ];
  }
  return [
    ...hidden.map((units, i) => ({ name: hiddenLayerName(i), units })),
    { name: LOGITS_LAYER, units: classes },
  ];
}

/** What every user's stacked model is: widths (classes padded to K) and per-layer traits. */
interface Stack {
  widths: number[];
  /** Per layer: a ReLU after it. */
  relu: boolean[];
  /** Per layer: started from pretrained weights (scaled rate, frozen while probing). */
  pretrained: boolean[];
  /** Per layer: it has a bias (a layer without one keeps a zero bias that never trains). */
  bias: boolean[];
}

function stackOf(o: BatchedOptions, hidden: number[], dim: number, K: number): Stack {
  if (o.head === 'upper') {
    const p = o.pretrained!;
    return {
      widths: [dim, p.units, K],
      relu: [false, false],
      pretrained: [true, false],
      bias: [!!p.bias, true],
    };
  }
  const L = hidden.length + 1;
  return {
    widths: [dim, ...hidden, K],
    relu: Array.from({ length: L }, (_, l) => l < L - 1),
    pretrained: new Array<boolean>(L).fill(false),
    bias: new Array<boolean>(L).fill(true),
  };
}

/**
 * Initial weights (kernel, bias per layer, stacked over users): what the head's `build` gives each
 * user (same initialiser, same seed), or for `upper` the pretrained layer and the centroid
 * classifier of the user's samples as that layer maps them (what `fitCentroids` sets).
 */
function initialWeights(
  chunk: Chunk,
  stack: Stack,
  hidden: number[],
  o: BatchedOptions,
  xValues: Float32Array,
  N: number,
): Float32Array[] {
  const { users, seeds } = chunk;
  const U = users.length;
  const { widths } = stack;
  const init: Float32Array[] = [];
  if (o.head === 'upper') {
    const p = o.pretrained!;
    const [dim, units, K] = widths;
    const kernel = new Float32Array(U * dim * units);
    const bias = new Float32Array(U * units);
    for (let ui = 0; ui < U; ui++) {
      kernel.set(p.kernel, ui * dim * units);
      if (p.bias) bias.set(p.bias, ui * units);
    }
    // Every user's samples through the pretrained layer at once.
    const mapped = tf.tidy(() => {
      let h = tf.matMul(tf.tensor2d(xValues, [U * N, dim]), tf.tensor2d(p.kernel, [dim, units]));
      if (p.bias) h = tf.add(h, tf.tensor1d(p.bias));
      return h.dataSync() as Float32Array;
    });
    const logitsKernel = new Float32Array(U * units * K);
    const logitsBias = new Float32Array(U * K);
    users.forEach((u, ui) => {
      const n = u.y.length;
      const c = centroidClassifier(
        mapped.subarray(ui * N * units, (ui * N + n) * units),
        u.y,
        u.numClasses,
        units,
      );
      for (let r = 0; r < units; r++) {
        logitsKernel.set(c.kernel.subarray(r * u.numClasses, (r + 1) * u.numClasses), (ui * units + r) * K);
      }
      logitsBias.set(c.bias, ui * K);
    });
    init.push(kernel, bias, logitsKernel, logitsBias);
    return init;
  }
  for (let l = 0; l < widths.length - 1; l++) {
    const [fanIn, width] = [widths[l], widths[l + 1]];
    const kernel = new Float32Array(U * fanIn * width);
    users.forEach((u, ui) => {
      const plan = layerPlan(o, hidden, u.numClasses)[l];
      const values = tf.tidy(() =>
        kernelInitializer(seeds[ui], plan.name).apply([fanIn, plan.units]).dataSync(),
      );
      for (let r = 0; r < fanIn; r++) {
        kernel.set(values.subarray(r * plan.units, (r + 1) * plan.units), (ui * fanIn + r) * width);
      }
    });
    init.push(kernel, new Float32Array(U * width));
  }
  return init;
}

/** Trains one chunk of users; returns their results (no tensors left behind). */
function trainChunk(chunk: Chunk, dim: number, hidden: number[], o: BatchedOptions): BatchedUserResult[] {
  const { users, ids, seeds } = chunk;
  const U = users.length;
  const K = Math.max(...users.map((u) => u.numClasses));
  const N = Math.max(...users.map((u) => u.y.length));
  const stack = stackOf(o, hidden, dim, K);
  const { widths } = stack;
  const L = widths.length - 1;
  const B = o.batchSize === 'full' ? N : Math.min(o.batchSize, N);
  const probeEpochs = o.probeEpochs ?? 0;
  const rateScale = o.pretrainedLearningRateScale ?? 1;
  // As `trainModel`: a second Adam (its own step count) when the pretrained rate differs or it probes first.
  const twoRates = o.head === 'upper' && (rateScale !== 1 || probeEpochs > 0);

  const xValues = new Float32Array(U * N * dim);
  const yValues = new Int32Array(U * N);
  users.forEach((u, ui) => {
    xValues.set(u.x, ui * N * dim);
    for (let i = 0; i < u.y.length; i++) yValues[ui * N + i] = u.y[i];
  });
  const init = initialWeights(chunk, stack, hidden, o, xValues, N);
  const paramShapes = widths.slice(0, -1).flatMap((fanIn, l) => [
    [U, fanIn, widths[l + 1]],
    [U, 1, widths[l + 1]],
  ]);

  // Per-user constants: class weights, the padded-class mask, features and labels padded to N.
  const classWeights = users.map((u) =>
    resolveClassWeights(
      o.classWeight,
      u.y,
      Array.from({ length: u.y.length }, (_, i) => i),
      u.numClasses,
    ),
  );
  const maskValues = new Float32Array(U * K);
  users.forEach((u, ui) => maskValues.fill(MASKED_LOGIT, ui * K + u.numClasses, (ui + 1) * K));

  const steps = users.map((u) => o.epochs * Math.ceil(u.y.length / B));
  const totalSteps = Math.max(...steps);

  let params = paramShapes.map((shape, i) => tf.tensor(init[i], shape));
  let m = paramShapes.map((shape) => tf.zeros(shape));
  let v = paramShapes.map((shape) => tf.zeros(shape));
  const fullBatch = B === N && o.batchSize === 'full';
  const x = tf.tensor3d(xValues, [U, N, dim]);
  const y = tf.tensor2d(yValues, [U, N], 'int32');
  const yOneHot = tf.oneHot(y, K);
  const classMask = tf.tensor3d(maskValues, [U, 1, K]);
  const epsilon = tf.backend().epsilon();
  // Adam's step count per user: the new layers', and the pretrained layers' (their own with two rates).
  const t = new Array<number>(U).fill(0);
  const tPre = new Array<number>(U).fill(0);

  const forward = (ps: tf.Tensor[], xb: tf.Tensor): tf.Tensor => {
    let h = xb;
    for (let l = 0; l < L; l++) {
      h = tf.add(tf.matMul(h, ps[2 * l]), ps[2 * l + 1]);
      if (stack.relu[l]) h = tf.relu(h);
    }
    return tf.add(h, classMask);
  };

  try {
    // Each user's sample order in its current epoch (the same seeded order `trainModel` uses).
    const orders: Array<{ epoch: number; order: number[] } | undefined> = new Array(U);
    for (let step = 0; step < totalSteps; step++) {
      // This step's rows and per-sample weights (class weight / the user's batch size; 0 = padding).
      const rows = new Int32Array(U * B);
      const sampleWeights = new Float32Array(U * B);
      const active = new Float32Array(U);
      const bc1 = new Float32Array(U);
      const bc2 = new Float32Array(U);
      const activePre = new Float32Array(U);
      const bc1Pre = new Float32Array(U);
      const bc2Pre = new Float32Array(U);
      users.forEach((u, ui) => {
        const n = u.y.length;
        rows.fill(ui * N, ui * B, (ui + 1) * B);
        if (step >= steps[ui]) return;
        const perEpoch = Math.ceil(n / B);
        const epoch = Math.floor(step / perEpoch);
        const j = step % perEpoch;
        let batch: number[];
        if (o.batchSize === 'full') {
          batch = Array.from({ length: n }, (_, i) => i);
        } else {
          let current = orders[ui];
          if (current?.epoch !== epoch) {
            current = {
              epoch,
              order: epochOrder(
                seeds[ui],
                epoch,
                Array.from({ length: n }, (_, i) => i),
              ),
            };
            orders[ui] = current;
          }
          batch = current.order.slice(j * B, (j + 1) * B);
        }
        batch.forEach((i, k) => {
          rows[ui * B + k] = ui * N + i;
          sampleWeights[ui * B + k] = classWeights[ui][u.y[i]] / batch.length;
        });
        active[ui] = 1;
        t[ui] += 1;
        bc1[ui] = 1 / (1 - BETA1 ** t[ui]);
        bc2[ui] = 1 / (1 - BETA2 ** t[ui]);
        if (epoch >= probeEpochs) {
          activePre[ui] = 1;
          tPre[ui] = twoRates ? tPre[ui] + 1 : t[ui];
          bc1Pre[ui] = 1 / (1 - BETA1 ** tPre[ui]);
          bc2Pre[ui] = 1 / (1 - BETA2 ** tPre[ui]);
        }
      });
      const allActive = active.every((a) => a === 1);
      const allActivePre = activePre.every((a) => a === 1);
      const anyActivePre = activePre.some((a) => a === 1);

      const next = tf.tidy(() => {
        let xb: tf.Tensor;
        let oneHot: tf.Tensor;
        if (fullBatch) {
          // Every user's whole (padded) set, every step: no gathering at all.
          xb = x;
          oneHot = yOneHot;
        } else {
          // Copying rows in JS is far cheaper than tf.gather on the WASM backend.
          const xBatch = new Float32Array(U * B * dim);
          const yBatch = new Int32Array(U * B);
          rows.forEach((r, k) => {
            xBatch.set(xValues.subarray(r * dim, (r + 1) * dim), k * dim);
            yBatch[k] = yValues[r];
          });
          xb = tf.tensor3d(xBatch, [U, B, dim]);
          oneHot = tf.oneHot(tf.tensor1d(yBatch, 'int32'), K).reshape([U, B, K]);
        }
        const w = tf.tensor2d(sampleWeights, [U, B]);
        const lossOf = (...ps: tf.Tensor[]): tf.Scalar => {
          const ce = tf.neg(tf.sum(tf.mul(tf.logSoftmax(forward(ps, xb)), oneHot), -1));
          return tf.sum(tf.mul(ce, w));
        };
        const { grads } = tf.valueAndGrads(lossOf)(params);
        const groups = {
          own: {
            a: tf.tensor3d(active, [U, 1, 1]),
            c1: tf.tensor3d(bc1, [U, 1, 1]),
            c2: tf.tensor3d(bc2, [U, 1, 1]),
            rate: o.learningRate,
            all: allActive,
            any: true,
          },
          pre: {
            a: tf.tensor3d(activePre, [U, 1, 1]),
            c1: tf.tensor3d(bc1Pre, [U, 1, 1]),
            c2: tf.tensor3d(bc2Pre, [U, 1, 1]),
            rate: o.learningRate * rateScale,
            all: allActivePre,
            any: anyActivePre,
          },
        };
        const out = { params: [] as tf.Tensor[], m: [] as tf.Tensor[], v: [] as tf.Tensor[] };
        grads.forEach((g, i) => {
          const l = Math.floor(i / 2);
          const group = stack.pretrained[l] ? groups.pre : groups.own;
          if (!group.any || (i % 2 === 1 && !stack.bias[l])) {
            // Frozen this step for every user (probing), or a bias the layer does not have.
            out.params.push(tf.clone(params[i]));
            out.m.push(tf.clone(m[i]));
            out.v.push(tf.clone(v[i]));
            return;
          }
          // Adam as tf.train.adam computes it, with each user's own bias correction.
          let mi = tf.add(tf.mul(m[i], BETA1), tf.mul(g, 1 - BETA1));
          let vi = tf.add(tf.mul(v[i], BETA2), tf.mul(tf.square(g), 1 - BETA2));
          const update = tf.mul(
            tf.div(tf.mul(mi, group.c1), tf.add(tf.sqrt(tf.mul(vi, group.c2)), epsilon)),
            -group.rate,
          );
          let pi = tf.add(params[i], update);
          if (!group.all) {
            // Users whose epochs are done (or who still probe) keep their weights and moments.
            pi = tf.add(params[i], tf.mul(update, group.a));
            mi = tf.add(m[i], tf.mul(tf.sub(mi, m[i]), group.a));
            vi = tf.add(v[i], tf.mul(tf.sub(vi, v[i]), group.a));
          }
          out.params.push(pi);
          out.m.push(mi);
          out.v.push(vi);
        });
        return out;
      });
      tf.dispose([...params, ...m, ...v]);
      ({ params, m, v } = next);
    }

    // Final metrics on each user's own samples, with the trained weights.
    const [lossPerUser, rightPerUser] = tf.tidy(() => {
      const logits = forward(params, x);
      const wValues = new Float32Array(U * N);
      const valid = new Float32Array(U * N);
      users.forEach((u, ui) => {
        for (let i = 0; i < u.y.length; i++) {
          wValues[ui * N + i] = classWeights[ui][u.y[i]] / u.y.length;
          valid[ui * N + i] = 1;
        }
      });
      const ce = tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), yOneHot), -1));
      const loss = tf.sum(tf.mul(ce, tf.tensor2d(wValues, [U, N])), -1);
      const right = tf.mul(
        tf.cast(tf.equal(tf.argMax(logits, -1), y), 'float32'),
        tf.tensor2d(valid, [U, N]),
      );
      return [loss.dataSync(), tf.sum(right, -1).dataSync()];
    });

    const values = params.map((p) => p.dataSync() as Float32Array);
    return users.map((u, ui) => {
      const weights: BatchedUserResult['weights'] = [];
      layerPlan(o, hidden, u.numClasses).forEach((plan, l) => {
        const [fanIn, width] = [widths[l], widths[l + 1]];
        const kernel = new Float32Array(fanIn * plan.units);
        for (let r = 0; r < fanIn; r++) {
          const from = (ui * fanIn + r) * width;
          kernel.set(values[2 * l].subarray(from, from + plan.units), r * plan.units);
        }
        weights.push({ shape: [fanIn, plan.units], values: kernel });
        if (!stack.bias[l]) return;
        weights.push({
          shape: [plan.units],
          values: values[2 * l + 1].slice(ui * width, ui * width + plan.units),
        });
      });
      return {
        id: ids[ui],
        seed: seeds[ui],
        numClasses: u.numClasses,
        samples: u.y.length,
        loss: lossPerUser[ui],
        accuracy: rightPerUser[ui] / u.y.length,
        weights,
      };
    });
  } finally {
    tf.dispose([...params, ...m, ...v, x, y, yOneHot, classMask]);
  }
}

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/**
 * Trains one `linear` or `mlp` head per user, all users at once (in chunks of `chunkSize`).
 *
 * @example
 * const result = await trainUsersBatched(users, 128, { head: 'linear', epochs: 100, seed: 7 });
 * const model = result.toModel(0); // user 0's head, ready for modelToArtifacts
 */
export async function trainUsersBatched(
  users: readonly UserSamples[],
  dim: number,
  options: Partial<BatchedOptions> = {},
): Promise<BatchedResult> {
  const o: BatchedOptions = { ...DEFAULT_BATCHED_OPTIONS, ...options };
  const hidden = o.head === 'mlp' ? [...(o.hidden ?? DEFAULT_MLP_HIDDEN)] : [];
  if (!Number.isInteger(dim) || dim < 1)
    throw new FedexError('BAD_ARGUMENT', `dim must be an integer >= 1 (got ${dim})`);
  checkOptions(o, hidden, dim);
  users.forEach((u, i) => checkUser(u, i, dim));
  const ids = users.map((u, i) => u.id ?? `user:${i}`);
  if (new Set(ids).size !== ids.length) throw new FedexError('MODEL_BAD_DATA', 'user ids must be unique');

  const started = now();
  const results: BatchedUserResult[] = [];
  for (let s = 0; s < users.length; s += o.chunkSize) {
    const slice = users.slice(s, s + o.chunkSize);
    const chunkIds = ids.slice(s, s + o.chunkSize);
    results.push(
      ...trainChunk(
        { users: slice, ids: chunkIds, seeds: chunkIds.map((id) => userSeed(o.seed, id)) },
        dim,
        hidden,
        o,
      ),
    );
    o.onProgress?.(results.length, users.length);
    // Let other work (a server's requests) run between chunks.
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  const seconds = (now() - started) / 1000;
  return {
    users: results,
    head: o.head,
    hidden,
    dim,
    seconds,
    usersPerMinute: seconds > 0 ? (users.length / seconds) * 60 : 0,
    toModel(u: number): tf.LayersModel {
      const r = results[u];
      if (!r) throw new FedexError('BAD_ARGUMENT', `no user ${u} (there are ${results.length})`);
      const model =
        o.head === 'upper'
          ? upperVectorModel(dim, o.pretrained!, r.numClasses)
          : getHead(o.head).build([dim], r.numClasses, o.head === 'mlp' ? { hidden } : {}, r.seed);
      const tensors = r.weights.map((w) => tf.tensor(w.values, w.shape));
      model.setWeights(tensors);
      tf.dispose(tensors);
      return model;
    },
  };
}

/**
 * One user's `upper` head on the trunk's vectors, as its own model: `inDim` → the pretrained dense
 * layer (its weights set, trainable) → a `logits` classifier (zeros until `fitCentroids` or
 * training sets it). What batched `upper` training gives each user; `trainModel` on it with
 * `initialize: (train) => fitCentroids(model, train)` and the same LP-FT options trains the same
 * weights. Caller disposes.
 */
export function upperVectorModel(
  inDim: number,
  pretrained: PretrainedDense,
  numClasses: number,
): tf.LayersModel {
  const input = tf.input({ shape: [inDim], name: 'features' });
  const dense = tf.layers.dense({
    name: pretrained.name,
    units: pretrained.units,
    useBias: !!pretrained.bias,
    kernelInitializer: 'zeros',
  });
  const h = dense.apply(input) as tf.SymbolicTensor;
  const model = tf.model({
    inputs: input,
    outputs: classifier(h, numClasses, 0, { zeros: true }),
    name: 'fedex_upper_vector',
  });
  const tensors = [
    tf.tensor2d(pretrained.kernel, [inDim, pretrained.units]),
    ...(pretrained.bias ? [tf.tensor1d(pretrained.bias)] : []),
  ];
  dense.setWeights(tensors);
  tf.dispose(tensors);
  return model;
}
