/**
 * The one place where FedEx says what a layer costs: pure functions from a layer's shape to its
 * `LayerCost` (parameters and FLOPs for one sample). Backbones (`bottomCosts`) and the FLOP counter
 * that walks `tf.LayersModel`s both use these, so device and cloud costs follow the same rule.
 * Platform-neutral, no tfjs.
 *
 * THE RULE (one sample; shapes without the batch dimension):
 * - A multiply-add counts as 2 FLOPs; any other arithmetic operation or comparison as 1.
 * - conv2d forward = 2·kh·kw·cin·cout·hout·wout, plus hout·wout·cout for the bias.
 * - depthwiseConv2d forward = 2·kh·kw·cin·multiplier·hout·wout, plus the bias (hout·wout·cin·multiplier).
 * - dense forward = 2·in·units, plus units for the bias.
 * - batchNormalization forward = 2 per element (inference form y = a·x + b, a and b folded).
 * - maxPool / avgPool forward = kh·kw per output element; global pooling = h·w·c (one per input element).
 * - add (n inputs) = (n − 1) per output element; an activation (relu, relu6, sigmoid, tanh, …) = 1 per
 *   element, whether it is a layer of its own or fused into a conv/dense layer (`activationFlops`).
 * - Layers that only move data (zero padding, reshape, flatten, permute, concatenate, input, dropout
 *   at inference) cost 0.
 * - Backward (one training step) ≈ 2 × forward for a layer with trainable weights (the input
 *   gradient and the weight gradient each cost about one forward pass), 1 × forward for a layer
 *   without (input gradient only). The first trainable layer of a model needs no input gradient;
 *   the rule ignores that saving (it is an upper bound by at most one layer's forward cost).
 */
import type { LayerCost } from './types.js';

/** Backward FLOPs from forward FLOPs under the rule above. */
export function backwardFlops(forwardFlops: number, hasTrainableWeights: boolean): number {
  return hasTrainableWeights ? 2 * forwardFlops : forwardFlops;
}

/** Product of a shape's dimensions. */
function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Builds a LayerCost, applying the backward rule. */
export function layerCost(args: {
  name: string;
  kind: string;
  outputShape: readonly number[];
  params: number;
  /** Default: all parameters are trainable. */
  trainable?: boolean;
  forwardFlops: number;
}): LayerCost {
  const trainable = args.trainable ?? true;
  const trainableParams = trainable ? args.params : 0;
  return {
    name: args.name,
    kind: args.kind,
    outputShape: [...args.outputShape],
    params: args.params,
    trainableParams,
    forwardFlops: args.forwardFlops,
    backwardFlops: backwardFlops(args.forwardFlops, trainableParams > 0),
  };
}

/** FLOPs of an activation applied to `elements` values: 1 each, 0 for `linear` (or none). */
export function activationFlops(activation: string | undefined | null, elements: number): number {
  return !activation || activation === 'linear' ? 0 : elements;
}

export interface Conv2dShape {
  /** Kernel height and width. */
  kernel: readonly [number, number];
  inChannels: number;
  outChannels: number;
  /** Output `[h, w, c]` (c must equal outChannels). */
  outputShape: readonly [number, number, number];
  useBias: boolean;
  /** A fused activation (e.g. `relu`); default none. */
  activation?: string;
  trainable?: boolean;
}

/**
 * A standard convolution.
 *
 * @example
 * conv2dCost('c1', { kernel: [3, 3], inChannels: 32, outChannels: 64, outputShape: [17, 17, 64], useBias: true });
 * // forwardFlops = 2·3·3·32·64·17·17 + 17·17·64
 */
export function conv2dCost(name: string, s: Conv2dShape): LayerCost {
  const [kh, kw] = s.kernel;
  const [h, w] = s.outputShape;
  const out = h * w * s.outChannels;
  const forward =
    2 * kh * kw * s.inChannels * out + (s.useBias ? out : 0) + activationFlops(s.activation, out);
  return layerCost({
    name,
    kind: 'conv2d',
    outputShape: s.outputShape,
    params: kh * kw * s.inChannels * s.outChannels + (s.useBias ? s.outChannels : 0),
    trainable: s.trainable,
    forwardFlops: forward,
  });
}

export interface DepthwiseConv2dShape {
  kernel: readonly [number, number];
  inChannels: number;
  depthMultiplier: number;
  /** Output `[h, w, inChannels · depthMultiplier]`. */
  outputShape: readonly [number, number, number];
  useBias: boolean;
  activation?: string;
  trainable?: boolean;
}

/** A depthwise convolution (each input channel convolved with its own `depthMultiplier` filters). */
export function depthwiseConv2dCost(name: string, s: DepthwiseConv2dShape): LayerCost {
  const [kh, kw] = s.kernel;
  const [h, w] = s.outputShape;
  const channels = s.inChannels * s.depthMultiplier;
  const out = h * w * channels;
  return layerCost({
    name,
    kind: 'depthwiseConv2d',
    outputShape: s.outputShape,
    params: kh * kw * channels + (s.useBias ? channels : 0),
    trainable: s.trainable,
    forwardFlops: 2 * kh * kw * out + (s.useBias ? out : 0) + activationFlops(s.activation, out),
  });
}

/** A fully connected layer `in → units`. */
export function denseCost(
  name: string,
  s: { inUnits: number; units: number; useBias: boolean; activation?: string; trainable?: boolean },
): LayerCost {
  return layerCost({
    name,
    kind: 'dense',
    outputShape: [s.units],
    params: s.inUnits * s.units + (s.useBias ? s.units : 0),
    trainable: s.trainable,
    forwardFlops:
      2 * s.inUnits * s.units + (s.useBias ? s.units : 0) + activationFlops(s.activation, s.units),
  });
}

/**
 * Batch normalisation over the last axis of `outputShape`: 4 parameters per channel (gamma, beta,
 * moving mean and variance), of which gamma and beta are trainable.
 */
export function batchNormCost(
  name: string,
  s: { outputShape: readonly number[]; trainable?: boolean },
): LayerCost {
  const channels = s.outputShape[s.outputShape.length - 1] ?? 1;
  const trainable = s.trainable ?? true;
  const c = layerCost({
    name,
    kind: 'batchNormalization',
    outputShape: s.outputShape,
    params: 4 * channels,
    trainable,
    forwardFlops: 2 * size(s.outputShape),
  });
  c.trainableParams = trainable ? 2 * channels : 0;
  return c;
}

/** Max or average pooling with a `[kh, kw]` window. */
export function poolCost(
  name: string,
  kind: 'maxPool' | 'avgPool',
  s: { pool: readonly [number, number]; outputShape: readonly number[] },
): LayerCost {
  return layerCost({
    name,
    kind,
    outputShape: s.outputShape,
    params: 0,
    forwardFlops: s.pool[0] * s.pool[1] * size(s.outputShape),
  });
}

/** Global average or max pooling of an `[h, w, c]` input to `[c]`. */
export function globalPoolCost(
  name: string,
  kind: 'globalAvgPool' | 'globalMaxPool',
  inputShape: readonly [number, number, number],
): LayerCost {
  return layerCost({ name, kind, outputShape: [inputShape[2]], params: 0, forwardFlops: size(inputShape) });
}

/** Element-wise sum of `inputs` tensors of `outputShape`. */
export function addCost(name: string, s: { inputs: number; outputShape: readonly number[] }): LayerCost {
  return layerCost({
    name,
    kind: 'add',
    outputShape: s.outputShape,
    params: 0,
    forwardFlops: Math.max(0, s.inputs - 1) * size(s.outputShape),
  });
}

/** A stand-alone activation layer (`kind` is its name, e.g. `relu`). */
export function activationCost(name: string, kind: string, outputShape: readonly number[]): LayerCost {
  return layerCost({
    name,
    kind,
    outputShape,
    params: 0,
    forwardFlops: activationFlops(kind, size(outputShape)),
  });
}

/** A layer that only moves data (zero padding, reshape, flatten, permute, concatenate): 0 FLOPs. */
export function dataMovementCost(name: string, kind: string, outputShape: readonly number[]): LayerCost {
  return layerCost({ name, kind, outputShape, params: 0, forwardFlops: 0 });
}

/** Totals of a list of layer costs. */
export function sumCosts(costs: readonly LayerCost[]): {
  params: number;
  trainableParams: number;
  forwardFlops: number;
  backwardFlops: number;
} {
  const t = { params: 0, trainableParams: 0, forwardFlops: 0, backwardFlops: 0 };
  for (const c of costs) {
    t.params += c.params;
    t.trainableParams += c.trainableParams;
    t.forwardFlops += c.forwardFlops;
    t.backwardFlops += c.backwardFlops;
  }
  return t;
}
