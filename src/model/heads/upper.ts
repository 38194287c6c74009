/**
 * `upper`: the backbone's pretrained upper stage (the layers after the split, e.g. the last
 * residual blocks up to the 128-d embedding) followed by a new softmax classifier, trained end to
 * end: the "heavier model" a phone could not train. Needs the backbone and an intermediate split;
 * at the backbone's last split (`embedding`) there is no upper stage, which is a clear
 * `MODEL_HEAD_NOT_APPLICABLE`, not a silent fallback to `linear`.
 *
 * It starts where the frozen model is: `prepare` (run by the trainer on the training samples) sets
 * the new classifier from the class centroids of the pretrained stage's output, i.e. the
 * nearest-centroid classifier on the frozen embedding (option `init: 'random'` for the old seeded
 * start). Trained with a linear-probe phase, a lower rate for the pretrained stage and the starting
 * weights as an early-stopping candidate (`TrainOptions.probeEpochs`, `pretrainedLearningRateScale`,
 * `validateStart`), it never ends below that start on its validation samples. The face-api ResNet
 * has no batch normalisation (its scales are folded into the convolutions), so there are no batch
 * statistics to freeze.
 *
 * The upper stage is nested in the head as one layer (named `upper`), so the exported model
 * carries its architecture and weights; the pretrained weights are used as the backbone returns
 * them (the seed only initialises the new classifier). `Backbone.upperStage` must return a fresh
 * model per call: training this head changes the weights of the model it was given.
 */
import * as tf from '@tensorflow/tfjs';
import { FedexError } from '../../core/errors.js';
import { fitCentroids } from './centroid.js';
import { checkBuildArgs, checkDropout, classifier, toVector } from './common.js';
import type { Backbone } from '../types.js';
import type { PretrainedDense } from '../batched.js';
import type { Head, HeadOptions } from './types.js';

/** Name of the nested upper-stage layer. */
export const UPPER_LAYER = 'upper';

function sameShape(a: readonly (number | null)[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export const upperHead: Head = {
  name: 'upper',
  summary: "the backbone's pretrained upper stage after the split, plus a new classifier, trained end to end",
  training: 'gradient',
  build(inputShape, numClasses, options: HeadOptions = {}, seed = 0) {
    checkBuildArgs('upper', inputShape, numClasses);
    const { backbone, split } = options;
    if (!backbone || !split) {
      throw new FedexError(
        'MODEL_HEAD_NOT_APPLICABLE',
        'upper head needs the backbone and the split the features were cut at (options.backbone, options.split)',
      );
    }
    const stage = backbone.upperStage(split);
    if (!stage) {
      throw new FedexError(
        'MODEL_HEAD_NOT_APPLICABLE',
        `upper head: split "${split}" is the last one of backbone ${backbone.id}, so there is no pretrained upper stage to train; ` +
          'use a head for vectors (linear, mlp, centroid) or cut the backbone earlier',
      );
    }
    const stageInput = stage.inputs[0].shape.slice(1);
    if (!sameShape(stageInput, inputShape)) {
      stage.dispose();
      throw new FedexError(
        'FEATURE_MISMATCH',
        `upper head: the upper stage of ${backbone.id} after "${split}" takes [${stageInput.join(', ')}] but the features are [${inputShape.join(', ')}]`,
      );
    }
    const dropout = checkDropout('upper', options.dropout ?? 0);
    if (options.init !== undefined && options.init !== 'centroids' && options.init !== 'random') {
      stage.dispose();
      throw new FedexError(
        'BAD_ARGUMENT',
        `upper head: init must be "centroids" or "random" (got ${String(options.init)})`,
      );
    }
    // Renaming the nested model keeps the exported weight names stable (`upper/...`).
    (stage as unknown as { name: string }).name = UPPER_LAYER;
    const input = tf.input({ shape: [...inputShape], name: 'features' });
    let x = stage.apply(input) as tf.SymbolicTensor;
    const outShape = x.shape.slice(1) as number[];
    x = toVector(x, outShape, options.pooling ?? 'avg');
    if (dropout > 0) x = tf.layers.dropout({ rate: dropout, name: 'dropout' }).apply(x) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: classifier(x, numClasses, seed), name: 'fedex_upper' });
    initOf.set(model, options.init ?? 'centroids');
    return model;
  },
  prepare(model, data) {
    // Only a model this head built with init 'centroids': a loaded or already trained model keeps
    // the classifier it has.
    // A class without samples (a federated round that has not seen everyone) keeps its weights.
    if (initOf.get(model) === 'centroids') fitCentroids(model, data, { missingClasses: 'keep' });
  },
};

/** The `init` option each built model was made with (a model carries no free-form options). */
const initOf = new WeakMap<object, 'centroids' | 'random'>();

/** A backbone's upper stage cut before its last dense layer (see `upperTrunk`). */
export interface UpperTrunk {
  /** Features → the vector the last dense layer reads (frozen, shared by every user). */
  trunk: tf.LayersModel;
  /** The stage's last dense layer, its pretrained weights as plain arrays. */
  last: PretrainedDense;
  /** Width of the trunk's output. */
  dim: number;
  dispose(): void;
}

/**
 * The upper stage after `split`, cut before its last dense layer: the shared, frozen part the
 * cloud runs once per photo, and the pretrained dense layer each user fine-tunes in batched
 * `upper` training (`trainUsersBatched`). For the face network: the last residual unit and the
 * average pool (→ 256 values), and `fc` (256 → 128, no bias). Throws MODEL_HEAD_NOT_APPLICABLE at the
 * last split or when the stage does not end in a dense layer without activation.
 */
export function upperTrunk(backbone: Backbone, split: string): UpperTrunk {
  const stage = backbone.upperStage(split);
  if (!stage) {
    throw new FedexError(
      'MODEL_HEAD_NOT_APPLICABLE',
      `split "${split}" is the last one of backbone ${backbone.id}: there is no upper stage to cut`,
    );
  }
  const lastLayer = stage.layers[stage.layers.length - 1];
  const config = lastLayer.getConfig();
  if (lastLayer.getClassName() !== 'Dense' || (config.activation ?? 'linear') !== 'linear') {
    stage.dispose();
    throw new FedexError(
      'MODEL_HEAD_NOT_APPLICABLE',
      `the upper stage of ${backbone.id} after "${split}" does not end in a dense layer without activation`,
    );
  }
  const [kernel, bias] = lastLayer.getWeights();
  const [dim, units] = kernel.shape;
  const last: PretrainedDense = {
    name: lastLayer.name,
    kernel: Float32Array.from(kernel.dataSync()),
    ...(bias ? { bias: Float32Array.from(bias.dataSync()) } : {}),
    units,
  };
  const trunk = tf.model({ inputs: stage.inputs, outputs: lastLayer.input as tf.SymbolicTensor });
  trunk.trainable = false;
  return { trunk, last, dim, dispose: () => stage.dispose() };
}

/** Runs `trunk` over `n` samples of `shape` in chunks; returns `n × dim` values. */
export function trunkVectors(
  trunk: tf.LayersModel,
  x: Float32Array,
  shape: readonly number[],
  dim: number,
  onProgress?: (done: number, total: number) => void,
): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const n = x.length / size;
  if (!Number.isInteger(n))
    throw new FedexError('MODEL_BAD_DATA', `${x.length} values do not make samples of [${shape.join(', ')}]`);
  const out = new Float32Array(n * dim);
  const chunk = 64;
  for (let s = 0; s < n; s += chunk) {
    const m = Math.min(chunk, n - s);
    const part = tf.tidy(
      () =>
        (
          trunk.predict(tf.tensor(x.subarray(s * size, (s + m) * size), [m, ...shape])) as tf.Tensor
        ).dataSync() as Float32Array,
    );
    out.set(part, s * dim);
    onProgress?.(s + m, n);
  }
  return out;
}
