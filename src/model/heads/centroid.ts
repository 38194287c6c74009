/**
 * `centroid`: nearest class centroid (Euclidean), no training. It is still a `tf.LayersModel`, so it
 * exports, ships and predicts like any other head: the `logits` layer holds, per class c, the kernel
 * column `2·μ_c` and the bias `−‖μ_c‖²`, so `logits_c = 2·x·μ_c − ‖μ_c‖² = ‖x‖² − ‖x − μ_c‖²`. The
 * `‖x‖²` term is the same for every class, hence argmax(logits) is the nearest centroid (ties go to
 * the lowest class, like `nearestCentroidAccuracy`), and the probabilities are softmax(−s·‖x − μ_c‖²)
 * with the scale s fitted on the training samples (leave-one-out likelihood; kernel and bias are
 * both multiplied by s, which leaves the argmax unchanged).
 */
import * as tf from '@tensorflow/tfjs';
import { FedexError } from '../../core/errors.js';
import { shapeSize } from '../../core/types.js';
import { checkBuildArgs, classifier, LOGITS_LAYER, toVector } from './common.js';
import type { Head, HeadOptions, LabelledFeatures } from './types.js';

/** Candidate scales: 2^(k/2) for k = 0..24 (1 to 4096). */
const SCALES = Array.from({ length: 25 }, (_, k) => 2 ** (k / 2));

/**
 * The temperature of the probabilities, softmax(−s·‖x − μ_c‖²): the s (on a log grid) that
 * maximises the leave-one-out likelihood of the training samples — each sample scored against its
 * class centroid without itself, so a sample does not vouch for itself. Distances between face
 * descriptors are small (≈ 0.3 same person, ≈ 1 others), so s = 1 gives nearly flat probabilities
 * and a device could never be sure; the fitted s makes the confidence mean something. Returns 1
 * when no class has two samples (nothing to leave out). Argmax is the same for every s.
 */
function fitScale(
  vectors: Float32Array,
  y: ArrayLike<number>,
  means: Float64Array,
  counts: Float64Array,
  dim: number,
): number {
  const k = counts.length;
  const rows: Float64Array[] = [];
  const own: number[] = [];
  for (let i = 0; i < y.length; i++) {
    const c = y[i];
    if (counts[c] < 2) continue;
    const d2 = new Float64Array(k);
    for (let j = 0; j < k; j++) {
      let acc = 0;
      for (let d = 0; d < dim; d++) {
        const x = vectors[i * dim + d];
        // The own class's centroid without this sample.
        const mu = j === c ? (counts[c] * means[j * dim + d] - x) / (counts[c] - 1) : means[j * dim + d];
        acc += (x - mu) * (x - mu);
      }
      d2[j] = acc;
    }
    rows.push(d2);
    own.push(c);
  }
  if (rows.length === 0) return 1;
  let best = 1;
  let bestLl = Number.NEGATIVE_INFINITY;
  for (const s of SCALES) {
    let ll = 0;
    rows.forEach((d2, r) => {
      let min = Number.POSITIVE_INFINITY;
      for (const v of d2) min = Math.min(min, v);
      let z = 0;
      for (const v of d2) z += Math.exp(-s * (v - min));
      ll += -s * (d2[own[r]] - min) - Math.log(z);
    });
    if (ll > bestLl) {
      bestLl = ll;
      best = s;
    }
  }
  return best;
}

/**
 * The vectors the `logits` layer of `model` reads, for every sample of `data`: the layers before it
 * (flatten, pooling, a pretrained stage), run in chunks so a heavy stage over thousands of samples
 * stays in memory. A pooled input reduces [h, w, c] to c values. MODEL_BAD_DATA on a size mismatch.
 */
function logitsInputs(model: tf.LayersModel, data: LabelledFeatures, inDim: number): Float32Array {
  const dim = shapeSize(data.shape);
  const n = data.y.length;
  if (data.x.length !== n * dim) {
    throw new FedexError(
      'MODEL_BAD_DATA',
      `${data.x.length} feature values do not make ${n} samples of [${data.shape.join(', ')}]`,
    );
  }
  const upto = tf.model({
    inputs: model.inputs,
    outputs: model.getLayer(LOGITS_LAYER).input as tf.SymbolicTensor,
  });
  const vectors = new Float32Array(n * inDim);
  const chunk = 128;
  for (let s = 0; s < n; s += chunk) {
    const m = Math.min(chunk, n - s);
    const part = tf.tidy(() => {
      const x = tf.tensor(data.x.subarray(s * dim, (s + m) * dim), [m, ...data.shape]);
      return (upto.predict(x) as tf.Tensor).dataSync() as Float32Array;
    });
    if (part.length !== m * inDim) {
      throw new FedexError(
        'MODEL_BAD_DATA',
        `centroid head expects ${inDim} values per sample after reduction`,
      );
    }
    vectors.set(part, s * inDim);
  }
  return vectors;
}

/**
 * The nearest-mean classifier's weights for `units` means (rows of `inDim`) at scale `s`: kernel
 * column u = 2s·μ_u (`inDim × units`, row-major), bias u = −s‖μ_u‖².
 */
function meansClassifier(
  means: Float64Array,
  units: number,
  inDim: number,
  scale: number,
): { kernel: Float32Array; bias: Float32Array } {
  const kernel = new Float32Array(inDim * units);
  const bias = new Float32Array(units);
  for (let u = 0; u < units; u++) {
    let sq = 0;
    for (let d = 0; d < inDim; d++) {
      const mu = means[u * inDim + d];
      kernel[d * units + u] = 2 * scale * mu;
      sq += mu * mu;
    }
    bias[u] = -scale * sq;
  }
  return { kernel, bias };
}

/**
 * Sets the `logits` layer of any head from the class means of `data` as seen at that layer's input
 * (after pooling, or after a pretrained upper stage): the nearest-centroid classifier, its scale
 * fitted. The centroid head is only this; the upper head starts from it. Every class needs a sample,
 * unless `missingClasses: 'keep'`: then the classes without one keep the weights they had (a
 * label outside the classes is still an error).
 */
export function fitCentroids(
  model: tf.LayersModel,
  data: LabelledFeatures,
  options: { missingClasses?: 'error' | 'keep' } = {},
): void {
  const logits = model.getLayer(LOGITS_LAYER);
  const [kernel] = logits.getWeights();
  const [inDim, numClasses] = kernel.shape;
  const vectors = logitsInputs(model, data, inDim);
  if (options.missingClasses !== 'keep') {
    const { kernel: w, bias: b } = centroidClassifier(vectors, data.y, numClasses, inDim);
    const tensors = [tf.tensor2d(w, [inDim, numClasses]), tf.tensor1d(b)];
    logits.setWeights(tensors);
    tf.dispose(tensors);
    return;
  }
  // Only the classes that have samples (a federated round may not have seen everyone yet): their
  // columns become the centroid classifier, the others keep the weights they had.
  const present = [...new Set(Array.from(data.y))].sort((a, b) => a - b);
  const outside = present.find((c) => !Number.isInteger(c) || c < 0 || c >= numClasses);
  if (outside !== undefined)
    throw new FedexError('MODEL_BAD_DATA', `label ${outside} is outside 0..${numClasses - 1}`);
  const local = new Map(present.map((c, i) => [c, i]));
  const fitted = centroidClassifier(
    vectors,
    Array.from(data.y, (c) => local.get(c) ?? -1),
    present.length,
    inDim,
  );
  const [k0, b0] = logits.getWeights();
  const w = k0.dataSync().slice() as Float32Array;
  const b = b0.dataSync().slice() as Float32Array;
  present.forEach((c, i) => {
    for (let d = 0; d < inDim; d++) w[d * numClasses + c] = fitted.kernel[d * present.length + i];
    b[c] = fitted.bias[i];
  });
  const tensors = [tf.tensor2d(w, [inDim, numClasses]), tf.tensor1d(b)];
  logits.setWeights(tensors);
  tf.dispose(tensors);
}

/**
 * The nearest-centroid classifier as a dense layer's weights: per class c the kernel column
 * `2·s·μ_c` and the bias `−s·‖μ_c‖²` (kernel `dim × k`, row-major), with the scale s fitted (see
 * `fitScale`). Pure; throws MODEL_BAD_DATA for a label out of range or a class without samples.
 */
export function centroidClassifier(
  vectors: Float32Array,
  y: ArrayLike<number>,
  numClasses: number,
  inDim: number,
): { kernel: Float32Array; bias: Float32Array; scale: number } {
  const n = y.length;
  const sums = new Float64Array(numClasses * inDim);
  const counts = new Float64Array(numClasses);
  for (let i = 0; i < n; i++) {
    const c = y[i];
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) {
      throw new FedexError('MODEL_BAD_DATA', `label ${c} of sample ${i} is outside 0..${numClasses - 1}`);
    }
    counts[c] += 1;
    for (let d = 0; d < inDim; d++) sums[c * inDim + d] += vectors[i * inDim + d];
  }
  const missing = [...counts.keys()].filter((c) => counts[c] === 0);
  if (missing.length) {
    throw new FedexError('MODEL_BAD_DATA', `centroid head: no sample of class(es) ${missing.join(', ')}`);
  }
  const means = new Float64Array(numClasses * inDim);
  for (let c = 0; c < numClasses; c++) {
    for (let d = 0; d < inDim; d++) means[c * inDim + d] = sums[c * inDim + d] / counts[c];
  }
  const scale = fitScale(vectors, y, means, counts, inDim);
  return { ...meansClassifier(means, numClasses, inDim, scale), scale };
}

/** The layer that sums each class's prototype probabilities (centroid head with prototypes > 1). */
const PROTOTYPE_SUM_LAYER = 'prototype_sum';

/**
 * `p` prototypes of one class's vectors (rows of `dim`) by p-means: seeded by farthest points (the
 * row farthest from the class mean, then each next the farthest from those chosen), then Lloyd
 * steps until no row changes side (at most 50). Fewer distinct rows than `p`: prototypes repeat.
 *
 * @example
 * // 1-d: rows 0, 1, 10, 11 → prototypes 10.5 and 0.5 (the farthest from the mean 5.5 is 0 or 11)
 * classPrototypes(Float32Array.of(0, 1, 10, 11), 1, 2)
 */
export function classPrototypes(rows: Float32Array, dim: number, p: number): Float64Array {
  const n = rows.length / dim;
  const d2 = (i: number, c: ArrayLike<number>, o = 0) => {
    let acc = 0;
    for (let d = 0; d < dim; d++) acc += (rows[i * dim + d] - c[o + d]) ** 2;
    return acc;
  };
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d] += rows[i * dim + d] / n;
  const protos = new Float64Array(p * dim);
  const near = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  for (let j = 0; j < p; j++) {
    let pick = 0;
    let far = -1;
    for (let i = 0; i < n; i++) {
      const score = j === 0 ? d2(i, mean) : near[i];
      if (score > far) {
        far = score;
        pick = i;
      }
    }
    for (let d = 0; d < dim; d++) protos[j * dim + d] = rows[pick * dim + d];
    for (let i = 0; i < n; i++) near[i] = Math.min(near[i], d2(i, protos, j * dim));
  }
  const side = new Int32Array(n).fill(-1);
  for (let step = 0; step < 50; step++) {
    let moved = false;
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let j = 1; j < p; j++) if (d2(i, protos, j * dim) < d2(i, protos, best * dim)) best = j;
      if (side[i] !== best) moved = true;
      side[i] = best;
    }
    if (!moved) break;
    for (let j = 0; j < p; j++) {
      const members = [...side.keys()].filter((i) => side[i] === j);
      if (members.length === 0) continue;
      for (let d = 0; d < dim; d++)
        protos[j * dim + d] = members.reduce((a, i) => a + rows[i * dim + d], 0) / members.length;
    }
  }
  return protos;
}

/** Sets a prototypes model (built with prototypes > 1) from labelled features: closed form. */
function fitPrototypes(model: tf.LayersModel, data: LabelledFeatures): void {
  const logits = model.getLayer(LOGITS_LAYER);
  const [kernel] = logits.getWeights();
  const [inDim, units] = kernel.shape;
  const numClasses = model.outputs[0].shape[1] as number;
  const p = units / numClasses;
  const n = data.y.length;
  const vectors = logitsInputs(model, data, inDim);
  // The means by p-means per class; each sample belongs to its class's nearest prototype, and the
  // scale is fitted (leave-one-out likelihood) with every prototype as a class of its own, so the
  // probabilities are as sharp as the prototypes are tight.
  const means = new Float64Array(units * inDim);
  const sub = new Int32Array(n);
  for (let c = 0; c < numClasses; c++) {
    const members = Array.from({ length: n }, (_, i) => i).filter((i) => data.y[i] === c);
    if (members.length === 0)
      throw new FedexError('MODEL_BAD_DATA', `centroid head: no sample of class ${c}`);
    const rows = new Float32Array(members.length * inDim);
    members.forEach((i, j) => rows.set(vectors.subarray(i * inDim, (i + 1) * inDim), j * inDim));
    const protos = classPrototypes(rows, inDim, p);
    for (let j = 0; j < p; j++)
      means.set(protos.subarray(j * inDim, (j + 1) * inDim), (j * numClasses + c) * inDim);
    members.forEach((i, r) => {
      let best = 0;
      let bestD = Number.POSITIVE_INFINITY;
      for (let j = 0; j < p; j++) {
        let acc = 0;
        for (let d = 0; d < inDim; d++) acc += (rows[r * inDim + d] - protos[j * inDim + d]) ** 2;
        if (acc < bestD) {
          bestD = acc;
          best = j;
        }
      }
      sub[i] = best * numClasses + c;
    });
  }
  const counts = new Float64Array(units);
  for (const u of sub) counts[u] += 1;
  // A repeated prototype (fewer distinct samples than P) has no sample of its own: not in the fit.
  const scale = fitScale(vectors, sub, means, counts, inDim);
  const { kernel: w, bias: b } = meansClassifier(means, units, inDim, scale);
  const tensors = [tf.tensor2d(w, [inDim, units]), tf.tensor1d(b)];
  logits.setWeights(tensors);
  tf.dispose(tensors);
}

export const centroidHead: Head = {
  name: 'centroid',
  summary: 'nearest class centroid (Euclidean), fitted from class means, no training',
  training: 'closed-form',
  build(inputShape, numClasses, options: HeadOptions = {}, seed = 0) {
    checkBuildArgs('centroid', inputShape, numClasses);
    const p = options.prototypes ?? 1;
    if (!Number.isInteger(p) || p < 1 || p > 8)
      throw new FedexError(
        'BAD_ARGUMENT',
        `centroid head: prototypes must be an integer in [1, 8] (got ${String(p)})`,
      );
    const input = tf.input({ shape: [...inputShape], name: 'features' });
    const v = toVector(input, inputShape, options.pooling ?? 'flatten');
    if (p === 1) {
      const out = classifier(v, numClasses, seed, { trainable: false, zeros: true });
      return tf.model({ inputs: input, outputs: out, name: 'fedex_centroid' });
    }
    // P means a class: softmax over all P·k of them, then each class's P probabilities summed.
    const logits = tf.layers
      .dense({
        units: p * numClasses,
        name: LOGITS_LAYER,
        kernelInitializer: 'zeros',
        biasInitializer: 'zeros',
        trainable: false,
      })
      .apply(v) as tf.SymbolicTensor;
    const probs = tf.layers
      .activation({ activation: 'softmax', name: 'prototype_probs' })
      .apply(logits) as tf.SymbolicTensor;
    const sum = tf.layers.dense({
      units: numClasses,
      useBias: false,
      name: PROTOTYPE_SUM_LAYER,
      trainable: false,
      kernelInitializer: 'zeros',
    });
    const out = sum.apply(probs) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out, name: 'fedex_centroid' });
    const ones = new Float32Array(p * numClasses * numClasses);
    for (let j = 0; j < p; j++)
      for (let c = 0; c < numClasses; c++) ones[(j * numClasses + c) * numClasses + c] = 1;
    const t = tf.tensor2d(ones, [p * numClasses, numClasses]);
    sum.setWeights([t]);
    t.dispose();
    return model;
  },
  fit(model, data) {
    const units = model.getLayer(LOGITS_LAYER).getWeights()[0].shape[1];
    if (units === model.outputs[0].shape[1]) fitCentroids(model, data);
    else fitPrototypes(model, data);
  },
};
