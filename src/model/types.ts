/**
 * Interfaces of the model core: backbones cut at named split points (the device runs the frozen
 * bottom), heads (the top the cloud trains), and per-layer cost records (FLOPs and parameters)
 * that the simulator's time and energy model is built on.
 *
 * Everything trainable is a `tf.LayersModel`, so any top can be saved in the tfjs model format,
 * shipped to a device and loaded there to run after the bottom.
 */
import type * as tf from '@tensorflow/tfjs';
import type { FeatureSpec } from '../core/types.js';

/** A named place where a backbone can be cut. */
export interface SplitPoint {
  /** Name recorded in every feature batch, e.g. `embedding`, `stage128`, `conv_pw_11`. */
  name: string;
  /** Shape of one sample's feature at this split (no batch dimension). */
  shape: number[];
  /** One line for --help and reports. */
  description: string;
}

/** Cost of one layer for one sample. Backward is the cost of one training step's backward pass. */
export interface LayerCost {
  name: string;
  /** Layer kind, e.g. `conv2d`, `depthwiseConv2d`, `dense`, `add`, `maxPool`, `relu`. */
  kind: string;
  outputShape: number[];
  /** Parameters (all), and the trainable ones. */
  params: number;
  trainableParams: number;
  /** Floating-point operations for one sample forward (a multiply-add counts as 2). */
  forwardFlops: number;
  /** Floating-point operations for one sample backward (input and weight gradients). */
  backwardFlops: number;
}

/**
 * A pretrained network with named split points. `bottom` runs layers 1..k on the device; the cloud
 * top for a split starts from `upperStage(split)` (the pretrained layers k+1..n) when there is one.
 */
export interface Backbone {
  readonly id: string;
  readonly version: string;
  /** Input of one sample, e.g. `[150, 150, 3]` (a face chip): RGB values 0..255, every backbone normalises inside its bottom. */
  readonly inputShape: number[];
  readonly splits: readonly SplitPoint[];
  /** The spec recorded with features produced at `split` (FEATURE_MISMATCH guards the pairing). */
  spec(split: string): FeatureSpec;
  /** Runs the frozen bottom up to `split` on a batch `[n, ...inputShape]` (values as the backbone expects). */
  bottom(input: tf.Tensor4D, split: string): tf.Tensor;
  /**
   * The pretrained layers after `split`, as a trainable model from the split's feature shape to the
   * backbone's final representation (e.g. the 128-d embedding), or null when `split` is the last one.
   */
  upperStage(split: string): tf.LayersModel | null;
  /**
   * Per-layer costs of the bottom up to `split` (one sample), by the rule of ./layer-cost.ts. The
   * bottom is frozen: `trainableParams` is 0 and `backwardFlops` is the input-gradient cost only.
   */
  bottomCosts(split: string): LayerCost[];
  dispose(): void;
}
