/**
 * Per-layer costs of a `tf.LayersModel` under the rule of ../layer-cost.ts, for the layer kinds the
 * backbones are built from. Backbones use it for `bottomCosts` (their bottoms are LayersModels), so
 * the device cost of a bottom and the cloud cost of a top come from the same functions.
 *
 * A layer kind not listed throws INTERNAL: a silent 0 would understate device energy.
 */
import type * as tf from '@tensorflow/tfjs';
import { FedexError } from '../../core/errors.js';
import {
  activationCost,
  addCost,
  batchNormCost,
  conv2dCost,
  dataMovementCost,
  denseCost,
  depthwiseConv2dCost,
  globalPoolCost,
  poolCost,
} from '../layer-cost.js';
import type { LayerCost } from '../types.js';

type Shape = (number | null)[];

function sampleShape(shape: Shape | Shape[], layer: string): number[] {
  const s = (Array.isArray(shape[0]) ? shape[0] : shape) as Shape;
  const dims = s.slice(1);
  if (dims.some((d) => d === null || d < 0)) {
    throw new FedexError('INTERNAL', `layer ${layer} has an undefined dimension: [${s.join(', ')}]`);
  }
  return dims as number[];
}

function pair(v: unknown): [number, number] {
  return Array.isArray(v) ? [Number(v[0]), Number(v[1] ?? v[0])] : [Number(v), Number(v)];
}

/** Cost of one layer of a built model (one sample). */
export function layerCostOf(layer: tf.layers.Layer): LayerCost | null {
  const kind = layer.getClassName();
  const config = layer.getConfig() as Record<string, unknown>;
  const name = layer.name;
  // A frozen model (`model.trainable = false`) freezes the weights, not the layer flag.
  const trainable = layer.trainable && layer.trainableWeights.length > 0;
  const out = sampleShape(layer.outputShape as Shape | Shape[], name);
  const input = (): number[] => {
    const t = layer.inboundNodes[0]?.inputTensors[0];
    if (!t) throw new FedexError('INTERNAL', `layer ${name} is not connected to an input`);
    return sampleShape(t.shape, name);
  };
  const activation = typeof config.activation === 'string' ? config.activation : undefined;
  switch (kind) {
    case 'InputLayer':
      return null;
    case 'Conv2D':
      return conv2dCost(name, {
        kernel: pair(config.kernelSize),
        inChannels: input()[2],
        outChannels: Number(config.filters),
        outputShape: out as [number, number, number],
        useBias: config.useBias !== false,
        activation,
        trainable,
      });
    case 'DepthwiseConv2D':
      return depthwiseConv2dCost(name, {
        kernel: pair(config.kernelSize),
        inChannels: input()[2],
        depthMultiplier: Number(config.depthMultiplier ?? 1),
        outputShape: out as [number, number, number],
        useBias: config.useBias !== false,
        activation,
        trainable,
      });
    case 'Dense':
      return denseCost(name, {
        inUnits: input()[input().length - 1],
        units: Number(config.units),
        useBias: config.useBias !== false,
        activation,
        trainable,
      });
    case 'BatchNormalization':
      return batchNormCost(name, { outputShape: out, trainable });
    case 'MaxPooling2D':
    case 'AveragePooling2D':
      return poolCost(name, kind === 'MaxPooling2D' ? 'maxPool' : 'avgPool', {
        pool: pair(config.poolSize),
        outputShape: out,
      });
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D':
      return globalPoolCost(
        name,
        kind === 'GlobalAveragePooling2D' ? 'globalAvgPool' : 'globalMaxPool',
        input() as [number, number, number],
      );
    case 'Add': {
      const inputs = layer.inboundNodes[0]?.inputTensors.length ?? 2;
      return addCost(name, { inputs, outputShape: out });
    }
    case 'ReLU':
      return activationCost(name, config.maxValue != null ? 'relu6' : 'relu', out);
    case 'Activation':
      return activationCost(name, activation ?? 'linear', out);
    case 'ZeroPadding2D':
    case 'Flatten':
    case 'Reshape':
    case 'Permute':
    case 'Concatenate':
    case 'Dropout':
      return dataMovementCost(name, kind.charAt(0).toLowerCase() + kind.slice(1), out);
    default:
      throw new FedexError('INTERNAL', `no cost rule for layer ${name} of kind ${kind}`);
  }
}

/** Costs of every layer of a model, in the model's layer order (input layers skipped). */
export function modelLayerCosts(model: tf.LayersModel): LayerCost[] {
  return model.layers.flatMap((l) => {
    const c = layerCostOf(l);
    return c ? [c] : [];
  });
}
