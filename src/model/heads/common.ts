/**
 * Building blocks shared by the heads: seeded initialisers (one independent seed per layer, derived
 * from the head's seed and the layer's name, so adding a layer never shifts another's weights), the
 * reduction of a feature map to a vector, and the `logits` + `probs` classifier every head ends in.
 *
 * `../batched.ts` reuses `kernelInitializer` so a user's head trained in a batch starts from exactly
 * the weights `build` would give it.
 */
import * as tf from '@tensorflow/tfjs';
import { FedexError } from '../../core/errors.js';
import { deriveSeed } from '../../core/random.js';

/** Name of the last linear layer (the trainer reads its output as logits). */
export const LOGITS_LAYER = 'logits';
/** Name of the final softmax activation. */
export const PROBS_LAYER = 'probs';

/** Glorot-uniform kernel initialiser seeded from the head's seed and the layer's name. */
export function kernelInitializer(
  seed: number,
  layerName: string,
): ReturnType<typeof tf.initializers.glorotUniform> {
  return tf.initializers.glorotUniform({ seed: deriveSeed(seed, layerName) });
}

/** Checks the arguments every head's `build` takes. */
export function checkBuildArgs(head: string, inputShape: readonly number[], numClasses: number): void {
  if (inputShape.length === 0 || inputShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new FedexError('BAD_ARGUMENT', `${head} head: bad input shape [${inputShape.join(', ')}]`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `${head} head: numClasses must be an integer >= 1 (got ${numClasses})`,
    );
  }
}

/** Turns a feature map into a vector (vectors pass through untouched). */
export function toVector(
  x: tf.SymbolicTensor,
  inputShape: readonly number[],
  pooling: 'avg' | 'flatten',
): tf.SymbolicTensor {
  if (inputShape.length === 1) return x;
  if (pooling === 'avg') {
    if (inputShape.length !== 3) {
      throw new FedexError(
        'MODEL_HEAD_NOT_APPLICABLE',
        `average pooling needs a [height, width, channels] feature map, got [${inputShape.join(', ')}]; use pooling "flatten"`,
      );
    }
    return tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as tf.SymbolicTensor;
  }
  return tf.layers.flatten({ name: 'flatten' }).apply(x) as tf.SymbolicTensor;
}

/** The classifier every head ends in: a linear `logits` layer and a softmax `probs` activation. */
export function classifier(
  x: tf.SymbolicTensor,
  numClasses: number,
  seed: number,
  config: { trainable?: boolean; zeros?: boolean } = {},
): tf.SymbolicTensor {
  const logits = tf.layers
    .dense({
      units: numClasses,
      name: LOGITS_LAYER,
      kernelInitializer: config.zeros ? 'zeros' : kernelInitializer(seed, LOGITS_LAYER),
      biasInitializer: 'zeros',
      trainable: config.trainable ?? true,
    })
    .apply(x) as tf.SymbolicTensor;
  return tf.layers
    .activation({ activation: 'softmax', name: PROBS_LAYER })
    .apply(logits) as tf.SymbolicTensor;
}

/** Validates a dropout rate. */
export function checkDropout(head: string, rate: number): number {
  if (!(rate >= 0 && rate < 1)) {
    throw new FedexError('BAD_ARGUMENT', `${head} head: dropout must be in [0, 1) (got ${rate})`);
  }
  return rate;
}
