/**
 * The head interface: the top the cloud trains on uploaded features. A head is a recipe that builds
 * a `tf.LayersModel` from the feature shape to class probabilities; every head ends in a linear
 * `logits` layer followed by a softmax `probs` activation, so the trainer can read logits (stable
 * cross-entropy) while the exported model predicts probabilities.
 *
 * Platform-neutral (tfjs only). Heads never train themselves: gradient heads are trained by
 * `../trainer.ts` (or `../batched.ts`), closed-form heads (centroid) are fitted by their `fit`.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Backbone } from '../types.js';

/** Options a head may read; each head documents which ones it uses. */
export interface HeadOptions {
  /** mlp: widths of the hidden layers (ReLU). Default `[256]`. */
  hidden?: number[];
  /** mlp: dropout rate after each hidden layer; upper: before the new classifier. Default 0 (none). */
  dropout?: number;
  /**
   * How a feature map (rank > 1, e.g. `[37, 37, 128]`) becomes a vector before the dense layers:
   * `avg` (global average pooling) or `flatten`. Default `avg` for linear and mlp, `flatten` for
   * centroid (so it matches the nearest-centroid metric in `data/eval.ts`). Ignored for vectors.
   */
  pooling?: 'avg' | 'flatten';
  /** upper: the backbone whose pretrained upper stage starts the head. Required by `upper`. */
  backbone?: Pick<Backbone, 'id' | 'upperStage'>;
  /** upper: the split the features were cut at. Required by `upper`. */
  split?: string;
  /**
   * upper and linear: how the new classifier starts. `centroids`: from the class centroids of the
   * vectors it reads (the pretrained stage's output, or the features), as the nearest-centroid
   * classifier with its scale fitted, so training starts where the frozen model is; `random`:
   * seeded random weights. Default `centroids` for upper, `random` for linear.
   */
  init?: 'centroids' | 'random';
  /**
   * centroid: prototypes (means) per class, 1 to 8, default 1. With P > 1 the class's samples are
   * split by P-means and the probability of a class is the sum of its prototypes' (a mixture): a
   * person named unmasked whose masked twins were added (`--mask-translation`) keeps a mean of the
   * photos and a mean of the twins, and a masked face is near the second.
   */
  prototypes?: number;
}

/** A serialisable view of the options (no backbone object), as recorded in meta.json. */
export type HeadOptionsRecord = Omit<HeadOptions, 'backbone'> & { backboneId?: string };

/** Features and integer class labels (0..numClasses-1), sample-major. */
export interface LabelledFeatures {
  /** `y.length * product(shape)` values. */
  x: Float32Array;
  /** One class id per sample. */
  y: ArrayLike<number>;
  /** Shape of one sample, e.g. `[128]`. */
  shape: readonly number[];
}

export interface Head {
  /** Registry name, e.g. `linear`. */
  readonly name: string;
  /** One line for --help. */
  readonly summary: string;
  /** `gradient`: trained by the trainer. `closed-form`: fitted by `fit`, no training loop. */
  readonly training: 'gradient' | 'closed-form';
  /**
   * Builds a fresh model `[n, ...inputShape] -> [n, numClasses]` (probabilities). Every new
   * weight is initialised from `seed` (same arguments, same seed: identical weights).
   */
  build(
    inputShape: readonly number[],
    numClasses: number,
    options?: HeadOptions,
    seed?: number,
  ): tf.LayersModel;
  /** Closed-form heads only: sets the model's weights from labelled features. */
  fit?(model: tf.LayersModel, data: LabelledFeatures): void;
  /**
   * Gradient heads, optional: sets new weights from the training samples before the first step
   * (upper: the classifier from class centroids, so training starts where the frozen model is).
   */
  prepare?(model: tf.LayersModel, data: LabelledFeatures): void;
}
