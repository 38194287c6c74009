/**
 * `linear`: a softmax classifier (multinomial logistic regression) on the features. The smallest
 * trained top; what a personalized head for a handful of people usually needs.
 */
import * as tf from '@tensorflow/tfjs';
import { checkBuildArgs, classifier, toVector } from './common.js';
import type { Head, HeadOptions } from './types.js';

export const linearHead: Head = {
  name: 'linear',
  summary: 'softmax classifier on the features (feature maps are average-pooled first)',
  training: 'gradient',
  build(inputShape, numClasses, options: HeadOptions = {}, seed = 0) {
    checkBuildArgs('linear', inputShape, numClasses);
    const input = tf.input({ shape: [...inputShape], name: 'features' });
    const v = toVector(input, inputShape, options.pooling ?? 'avg');
    return tf.model({ inputs: input, outputs: classifier(v, numClasses, seed), name: 'fedex_linear' });
  },
};
