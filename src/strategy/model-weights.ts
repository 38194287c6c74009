/**
 * Between a `tf.LayersModel` and plain `Weights` (the strategies' currency): read a model's
 * weights in `model.weights` order, named as in the FXWT messages of `../model/io.ts`
 * (`index:originalName`), and write them back after checking count and shapes. Leaves no tensors.
 */
import { FedexError } from '../core/errors.js';
import * as tf from '@tensorflow/tfjs';
import type { Weights } from './types.js';

/**
 * The model's weights as plain arrays (copies). `names` (e.g. the global weights' names) overrides
 * the generated names, so a client answers with the names it was sent.
 */
export function readWeights(model: tf.LayersModel, names?: readonly string[]): Weights {
  return model.weights.map((w, i) => ({
    name: names?.[i] ?? `${i}:${w.originalName}`,
    shape: [...w.shape] as number[],
    values: Float32Array.from(tf.tidy(() => w.read().dataSync() as Float32Array)),
  }));
}

/** Sets the model's weights; throws when the count or a shape differs. */
export function writeWeights(model: tf.LayersModel, weights: Weights): void {
  const vars = model.weights;
  if (vars.length !== weights.length) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `the model has ${vars.length} weights, got ${weights.length} tensors`,
    );
  }
  vars.forEach((v, i) => {
    const s = weights[i].shape;
    if (v.shape.length !== s.length || v.shape.some((d, j) => d !== s[j])) {
      throw new FedexError(
        'BAD_ARGUMENT',
        `weight ${i} has shape [${v.shape.join(', ')}], got [${s.join(', ')}]`,
      );
    }
  });
  const tensors = weights.map((t) => tf.tensor(t.values, t.shape, 'float32'));
  try {
    model.setWeights(tensors);
  } finally {
    tf.dispose(tensors);
  }
}
