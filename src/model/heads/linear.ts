/**
 * `linear`: a softmax classifier (multinomial logistic regression) on the features. The smallest
 * trained top; what a personalized head for a handful of people usually needs.
 *
 * `init: 'centroids'` starts it as the nearest-centroid classifier of the training samples (kernel
 * 2sμ_c, bias −s‖μ_c‖², scale fitted; `prepare`, run by the trainer before its first step), so
 * training starts where the frozen descriptor's nearest centroid is; a class without samples keeps
 * its weights (a warm start keeps what it knew of it). Default `random` (seeded).
 */
import * as tf from '@tensorflow/tfjs';
import { FedexError } from '../../core/errors.js';
import { fitCentroids } from './centroid.js';
import { checkBuildArgs, classifier, toVector } from './common.js';
import type { Head, HeadOptions } from './types.js';

/** The models this head built with init 'centroids' (a model carries no free-form options). */
const fromCentroids = new WeakSet<object>();

export const linearHead: Head = {
  name: 'linear',
  summary: 'softmax classifier on the features (feature maps are average-pooled first)',
  training: 'gradient',
  build(inputShape, numClasses, options: HeadOptions = {}, seed = 0) {
    checkBuildArgs('linear', inputShape, numClasses);
    const init = options.init ?? 'random';
    if (init !== 'centroids' && init !== 'random')
      throw new FedexError(
        'BAD_ARGUMENT',
        `linear head: init must be "centroids" or "random" (got ${String(init)})`,
      );
    const input = tf.input({ shape: [...inputShape], name: 'features' });
    const v = toVector(input, inputShape, options.pooling ?? 'avg');
    const model = tf.model({ inputs: input, outputs: classifier(v, numClasses, seed), name: 'fedex_linear' });
    if (init === 'centroids') fromCentroids.add(model);
    return model;
  },
  prepare(model, data) {
    if (fromCentroids.has(model)) fitCentroids(model, data, { missingClasses: 'keep' });
  },
};
