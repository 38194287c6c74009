/**
 * `mlp`: one or more ReLU hidden layers, then the softmax classifier; optional dropout after each
 * hidden layer (the trainer seeds every dropout mask, so training stays deterministic).
 */
import * as tf from '@tensorflow/tfjs';
import { FedexError } from '../../core/errors.js';
import { checkBuildArgs, checkDropout, classifier, kernelInitializer, toVector } from './common.js';
import type { Head, HeadOptions } from './types.js';

/** Default hidden widths. */
export const DEFAULT_MLP_HIDDEN: readonly number[] = [256];

/** Name of hidden layer `i` (0-based); batched training relies on it to seed identically. */
export function hiddenLayerName(i: number): string {
  return `hidden_${i + 1}`;
}

export const mlpHead: Head = {
  name: 'mlp',
  summary: 'ReLU hidden layer(s) (--hidden, default 256) and a softmax classifier; dropout optional',
  training: 'gradient',
  build(inputShape, numClasses, options: HeadOptions = {}, seed = 0) {
    checkBuildArgs('mlp', inputShape, numClasses);
    const hidden = options.hidden ?? DEFAULT_MLP_HIDDEN;
    if (hidden.length === 0 || hidden.some((h) => !Number.isInteger(h) || h < 1)) {
      throw new FedexError(
        'BAD_ARGUMENT',
        `mlp head: hidden widths must be integers >= 1 (got [${hidden.join(', ')}])`,
      );
    }
    const dropout = checkDropout('mlp', options.dropout ?? 0);
    const input = tf.input({ shape: [...inputShape], name: 'features' });
    let x = toVector(input, inputShape, options.pooling ?? 'avg');
    hidden.forEach((units, i) => {
      if (dropout > 0 && i > 0)
        x = tf.layers.dropout({ rate: dropout, name: `dropout_${i}` }).apply(x) as tf.SymbolicTensor;
      const name = hiddenLayerName(i);
      x = tf.layers
        .dense({
          units,
          activation: 'relu',
          name,
          kernelInitializer: kernelInitializer(seed, name),
          biasInitializer: 'zeros',
        })
        .apply(x) as tf.SymbolicTensor;
    });
    if (dropout > 0)
      x = tf.layers
        .dropout({ rate: dropout, name: `dropout_${hidden.length}` })
        .apply(x) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: classifier(x, numClasses, seed), name: 'fedex_mlp' });
  },
};
