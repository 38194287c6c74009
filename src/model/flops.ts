/**
 * FLOP and parameter counter for any `tf.LayersModel` built from standard layers: walks the layers
 * (nested models included, names prefixed `outer/inner`) and prices each one with the pure
 * formulas of `./layer-cost.ts`, the single rule that backbones' `bottomCosts` also follow, so the
 * device's cost of a bottom and the cloud's cost of a top are counted the same way. Numbers are for
 * one sample; a training step on a batch of b costs b × (forward + backward).
 *
 * An unknown layer kind is `MODEL_UNSUPPORTED_LAYER`, never a silent 0 (that would understate
 * device energy). Platform-neutral.
 */
import * as tf from '@tensorflow/tfjs';
import { FedexError } from '../core/errors.js';
import {
  activationCost,
  addCost,
  batchNormCost,
  conv2dCost,
  dataMovementCost,
  depthwiseConv2dCost,
  globalPoolCost,
  layerCost,
  activationFlops,
  poolCost,
  sumCosts,
} from './layer-cost.js';
import type { LayerCost } from './types.js';

/** Totals over layers. */
export interface CostTotals {
  params: number;
  trainableParams: number;
  forwardFlops: number;
  backwardFlops: number;
}

export interface ModelCosts {
  /** One entry per layer that computes or holds weights, in model order (input layers skipped). */
  layers: LayerCost[];
  totals: CostTotals;
}

/** Layer class names the counter prices. */
export const COUNTED_LAYERS: readonly string[] = [
  'Dense',
  'Conv2D',
  'DepthwiseConv2D',
  'SeparableConv2D',
  'BatchNormalization',
  'MaxPooling2D',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling2D',
  'Add',
  'Activation',
  'ReLU',
  'Softmax',
  'Dropout',
  'Flatten',
  'Reshape',
  'ZeroPadding2D',
  'InputLayer',
];

type Shape = (number | null)[];

function sampleShape(shape: Shape | Shape[], layer: string): number[] {
  const s = (Array.isArray(shape[0]) ? shape[0] : shape) as Shape;
  const dims = s.slice(1);
  if (dims.some((d) => d === null || d < 0)) {
    throw new FedexError(
      'MODEL_UNSUPPORTED_LAYER',
      `layer ${layer} has an undefined dimension [${s.join(', ')}]; FLOPs need fixed shapes`,
    );
  }
  return dims as number[];
}

function pair(v: unknown): [number, number] {
  return Array.isArray(v) ? [Number(v[0]), Number(v[1] ?? v[0])] : [Number(v), Number(v)];
}

const product = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * Cost of one layer (one sample), or null for an input layer. `trainable` is false inside a frozen
 * parent. Nested models are not handled here (see `countModelCosts`).
 */
export function layerCostOf(
  layer: tf.layers.Layer,
  name = layer.name,
  trainable = layer.trainable,
): LayerCost | null {
  const kind = layer.getClassName();
  const config = layer.getConfig() as Record<string, unknown>;
  const out = (): number[] => sampleShape(layer.outputShape as Shape | Shape[], name);
  const input = (): number[] => {
    const node = layer.inboundNodes[0];
    if (!node)
      throw new FedexError(
        'MODEL_UNSUPPORTED_LAYER',
        `layer ${name} was never applied, so its input shape is unknown`,
      );
    return sampleShape(node.inputShapes as Shape | Shape[], name);
  };
  const activation = typeof config.activation === 'string' ? config.activation : undefined;
  const useBias = config.useBias !== false;
  switch (kind) {
    case 'InputLayer':
      return null;
    case 'Dense': {
      // A dense layer on a [.., in] input applies to every leading position.
      const o = out();
      const inUnits = input()[input().length - 1];
      const units = Number(config.units);
      const positions = product(o.slice(0, -1));
      return layerCost({
        name,
        kind: 'dense',
        outputShape: o,
        params: inUnits * units + (useBias ? units : 0),
        trainable,
        forwardFlops:
          positions * (2 * inUnits * units + (useBias ? units : 0) + activationFlops(activation, units)),
      });
    }
    case 'Conv2D':
      return conv2dCost(name, {
        kernel: pair(config.kernelSize),
        inChannels: input()[2],
        outChannels: Number(config.filters),
        outputShape: out() as [number, number, number],
        useBias,
        activation,
        trainable,
      });
    case 'DepthwiseConv2D':
      return depthwiseConv2dCost(name, {
        kernel: pair(config.kernelSize),
        inChannels: input()[2],
        depthMultiplier: Number(config.depthMultiplier ?? 1),
        outputShape: out() as [number, number, number],
        useBias,
        activation,
        trainable,
      });
    case 'SeparableConv2D': {
      // A depthwise convolution (no bias) followed by a 1×1 convolution (bias, activation).
      const o = out() as [number, number, number];
      const inChannels = input()[2];
      const multiplier = Number(config.depthMultiplier ?? 1);
      const depthwise = depthwiseConv2dCost(name, {
        kernel: pair(config.kernelSize),
        inChannels,
        depthMultiplier: multiplier,
        outputShape: [o[0], o[1], inChannels * multiplier],
        useBias: false,
        trainable,
      });
      const pointwise = conv2dCost(name, {
        kernel: [1, 1],
        inChannels: inChannels * multiplier,
        outChannels: Number(config.filters),
        outputShape: o,
        useBias,
        activation,
        trainable,
      });
      return layerCost({
        name,
        kind: 'separableConv2d',
        outputShape: o,
        params: depthwise.params + pointwise.params,
        trainable,
        forwardFlops: depthwise.forwardFlops + pointwise.forwardFlops,
      });
    }
    case 'BatchNormalization':
      return batchNormCost(name, { outputShape: out(), trainable });
    case 'MaxPooling2D':
    case 'AveragePooling2D':
      return poolCost(name, kind === 'MaxPooling2D' ? 'maxPool' : 'avgPool', {
        pool: pair(config.poolSize),
        outputShape: out(),
      });
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D':
      return globalPoolCost(
        name,
        kind === 'GlobalAveragePooling2D' ? 'globalAvgPool' : 'globalMaxPool',
        input() as [number, number, number],
      );
    case 'Add':
      return addCost(name, { inputs: layer.inboundNodes[0]?.inputTensors.length ?? 2, outputShape: out() });
    case 'ReLU':
      return activationCost(name, config.maxValue != null ? 'relu6' : 'relu', out());
    case 'Softmax':
      return activationCost(name, 'softmax', out());
    case 'Activation':
      return activationCost(name, activation ?? 'linear', out());
    case 'Dropout':
    case 'Flatten':
    case 'Reshape':
    case 'ZeroPadding2D':
      return dataMovementCost(name, kind.charAt(0).toLowerCase() + kind.slice(1), out());
    default:
      throw new FedexError(
        'MODEL_UNSUPPORTED_LAYER',
        `no FLOP rule for layer "${name}" of kind ${kind}; counted kinds: ${COUNTED_LAYERS.join(', ')}`,
      );
  }
}

function walk(model: tf.LayersModel, prefix: string, parentTrainable: boolean, out: LayerCost[]): void {
  for (const layer of model.layers) {
    const name = `${prefix}${layer.name}`;
    const trainable = parentTrainable && layer.trainable;
    if (layer instanceof tf.LayersModel) {
      walk(layer, `${name}/`, trainable, out);
      continue;
    }
    const cost = layerCostOf(layer, name, trainable);
    if (cost) out.push(cost);
  }
}

/**
 * Per-layer costs of `model` for one sample, and their totals.
 *
 * @example
 * const { layers, totals } = countModelCosts(getHead('mlp').build([128], 5, { hidden: [64] }));
 * totals.forwardFlops; // (2·128·64 + 64 + 64) + (2·64·5 + 5) + 5 (softmax)
 */
export function countModelCosts(model: tf.LayersModel): ModelCosts {
  const layers: LayerCost[] = [];
  walk(model, '', model.trainable, layers);
  return { layers, totals: sumCosts(layers) };
}

export { sumCosts };
