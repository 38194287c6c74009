/**
 * What a device does with a round's task, platform-neutral (tfjs only, no Node built-ins): the
 * same function runs in the simulator, in a Node device process and in a browser.
 *
 * - `train` (FedAvg/FedProx): start from the global weights, run E local epochs of minibatch
 *   **plain SGD** with the task's learning rate over a seeded epoch order, on mean softmax
 *   cross-entropy, plus (mu/2)·||w − w_global||² for FedProx. Plain SGD because that is FedAvg's
 *   definition (McMahan et al. 2017, Algorithm 1: ClientUpdate is w ← w − η∇ℓ(w; b)); Adam state
 *   would not survive the round and would change what is being compared.
 * - `upload-features` (FedEx): send the features themselves, once.
 *
 * Costs are counted, not measured: FLOPs from `countModelCosts` (top) and the caller's bottom
 * FLOPs per photo, bytes as the wire codec encodes them (weights float32 both ways, features
 * float16). With `bottomMode: 'cached'` the device runs its bottom once per photo, the first time
 * it takes part (`featuresCached: false`); with `recompute` every local epoch runs it again.
 */
import { FedexError } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs';
import { encodeFeatureBatch, encodeWeights } from '../core/codec.js';
import type { FeatureSpec } from '../core/types.js';
import { epochOrder } from '../model/trainer.js';
import { countModelCosts } from '../model/flops.js';
import { readWeights, writeWeights } from './model-weights.js';
import type { BottomMode, ClientResult, ClientTask, Weights } from './types.js';

/** A device's labelled features (what its bottom produced, or would produce, for its photos). */
export interface ClientData {
  /** `n × product(shape)` values, sample-major. */
  features: Float32Array;
  /** Global task label per sample. */
  labels: ArrayLike<number>;
  shape: readonly number[];
  n: number;
}

export interface ClientOptions {
  clientId: string;
  bottomMode: BottomMode;
  /** FLOPs of the frozen bottom for one photo (e.g. `FACE_EMBEDDING_FLOPS`). */
  bottomFlopsPerPhoto: number;
  /**
   * Whether this device already holds its bottom features (it ran its bottom in an earlier task).
   * Only matters for `cached` and for `upload-features`. Default false.
   */
  featuresCached?: boolean;
  /** Spec stamped on uploaded features. Default: `{ backboneId: 'unknown', ..., shape }`. */
  spec?: FeatureSpec;
}

/** Bytes of weights on the wire (float32 FXWT), as the HTTP transport sends them. */
export function weightsWireBytes(weights: Weights): number {
  return encodeWeights({ metadata: {}, tensors: weights }, { dtype: 'float32' }).length;
}

function gatherRows(x: Float32Array, dim: number, rows: readonly number[]): Float32Array {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, j) => out.set(x.subarray(r * dim, (r + 1) * dim), j * dim));
  return out;
}

/** The model up to its logits (every registered head ends in a softmax activation). */
function logitsView(model: tf.LayersModel): tf.LayersModel {
  const last = model.layers[model.layers.length - 1];
  const config = last.getConfig() as { activation?: unknown };
  if (last.getClassName() !== 'Activation' || config.activation !== 'softmax') {
    throw new FedexError(
      'BAD_ARGUMENT',
      'the client model must end in a softmax activation (every registered head does)',
    );
  }
  return tf.model({ inputs: model.inputs, outputs: last.input as tf.SymbolicTensor });
}

async function train(
  task: Extract<ClientTask, { kind: 'train' }>,
  data: ClientData,
  model: tf.LayersModel,
  options: ClientOptions,
): Promise<ClientResult> {
  writeWeights(model, task.weights);
  const dim = data.shape.reduce((a, b) => a * b, 1);
  const numClasses = model.outputs[0].shape[model.outputs[0].shape.length - 1] as number;
  const forward = logitsView(model);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const trainable = new Set(model.trainableWeights.map((w) => w.name));
  // Global copies of the trainable weights for the proximal term (only when mu > 0).
  const anchors =
    task.mu > 0
      ? model.weights
          .map((w, i) =>
            trainable.has(w.name) ? tf.tensor(task.weights[i].values, task.weights[i].shape) : null,
          )
          .filter((t): t is tf.Tensor => t !== null)
      : [];
  const optimizer = tf.train.sgd(task.learningRate);
  const indices = Array.from({ length: data.n }, (_, i) => i);
  let lossSum = 0;
  let right = 0;
  try {
    for (let epoch = 0; epoch < task.localEpochs; epoch++) {
      const order = epochOrder(task.seed, epoch, indices);
      const last = epoch === task.localEpochs - 1;
      for (let s = 0; s < order.length; s += task.batchSize) {
        const rows = order.slice(s, s + task.batchSize);
        const [l, r] = tf.tidy(() => {
          const xb = tf.tensor(gatherRows(data.features, dim, rows), [rows.length, ...data.shape]);
          const yb = tf.tensor1d(
            rows.map((i) => data.labels[i]),
            'int32',
          );
          let correct: tf.Tensor | undefined;
          let ce: tf.Tensor | undefined;
          const { grads } = tf.variableGrads(() => {
            const logits = forward.apply(xb, { training: true }) as tf.Tensor;
            correct = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, -1).toInt(), yb), 'float32')));
            const loss = tf.mean(
              tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(yb, numClasses)), -1)),
            );
            ce = tf.keep(loss);
            if (task.mu === 0) return loss as tf.Scalar;
            const prox = tf.addN(vars.map((v, i) => tf.sum(tf.square(tf.sub(v, anchors[i])))));
            return tf.add(loss, tf.mul(task.mu / 2, prox)) as tf.Scalar;
          }, vars);
          optimizer.applyGradients(grads);
          return [ce!, correct!];
        });
        if (last) {
          lossSum += (await l.data())[0] * rows.length;
          right += (await r.data())[0];
        }
        tf.dispose([l, r]);
      }
    }
  } finally {
    optimizer.dispose();
    tf.dispose(anchors);
  }
  const weights = readWeights(
    model,
    task.weights.map((t) => t.name),
  );
  const { forwardFlops, backwardFlops } = countModelCosts(model).totals;
  const epochs = task.localEpochs;
  const bottomPhotos =
    options.bottomMode === 'recompute' ? data.n * epochs : options.featuresCached ? 0 : data.n;
  return {
    kind: 'weights',
    clientId: options.clientId,
    round: task.round,
    weights,
    numExamples: data.n,
    metrics: { loss: lossSum / data.n, accuracy: right / data.n },
    costs: {
      deviceFlops:
        bottomPhotos * options.bottomFlopsPerPhoto + data.n * epochs * (forwardFlops + backwardFlops),
      bytesUp: weightsWireBytes(weights),
      bytesDown: weightsWireBytes(task.weights),
    },
  };
}

function uploadFeatures(
  task: Extract<ClientTask, { kind: 'upload-features' }>,
  data: ClientData,
  options: ClientOptions,
): ClientResult {
  const spec: FeatureSpec = options.spec ?? {
    backboneId: 'unknown',
    backboneVersion: '0',
    split: 'unknown',
    shape: [...data.shape],
  };
  const batch = {
    spec,
    sampleIds: Array.from({ length: data.n }, (_, i) => `${options.clientId}/${i}`),
    labels: Int32Array.from(data.labels),
    features: data.features.slice(0, data.n * spec.shape.reduce((a, b) => a * b, 1)),
  };
  return {
    kind: 'features',
    clientId: options.clientId,
    round: task.round,
    batch,
    costs: {
      deviceFlops: options.featuresCached ? 0 : data.n * options.bottomFlopsPerPhoto,
      bytesUp: encodeFeatureBatch(batch, { dtype: 'float16' }).length,
      bytesDown: 0,
    },
  };
}

/**
 * Runs one task on a device. `model` is built by the caller with the same head the server uses
 * (its weights are overwritten by a `train` task). Leaves no tensors behind.
 *
 * @example
 * const model = getHead('linear').build([128], classes, {}, 0);
 * const result = await runClientTask(task, data, model, { clientId: 'p1', bottomMode: 'cached',
 *   bottomFlopsPerPhoto: FACE_EMBEDDING_FLOPS });
 */
export async function runClientTask(
  task: ClientTask,
  data: ClientData,
  model: tf.LayersModel,
  options: ClientOptions,
): Promise<ClientResult> {
  if (data.n < 1) throw new FedexError('BAD_ARGUMENT', `client ${options.clientId} has no examples`);
  return task.kind === 'train' ? train(task, data, model, options) : uploadFeatures(task, data, options);
}

/**
 * A device that remembers whether it has run its bottom (for `cached` accounting): each call runs
 * one task with `runClientTask` and marks the features as cached afterwards.
 */
export function createClient(
  data: ClientData,
  model: tf.LayersModel,
  options: Omit<ClientOptions, 'featuresCached'>,
): (task: ClientTask) => Promise<ClientResult> {
  let featuresCached = false;
  return async (task) => {
    const result = await runClientTask(task, data, model, { ...options, featuresCached });
    featuresCached = true;
    return result;
  };
}
