/**
 * A `Backbone` built from an ordered list of stages of standard `tf.layers`, each ending at a named
 * split point, plus a store of (pretrained or seeded) weights by layer name. The same stage code
 * builds the device bottom (input → split, frozen, shared by every split) and, on each
 * `upperStage(split)` call, a fresh trainable top (split → final representation) initialised from
 * the store — so bottom and top are one network cut in two, by construction.
 *
 * Platform-neutral (tfjs only). Tensor hygiene: the bottom models are owned here and freed by
 * `dispose()`; a model returned by `upperStage` belongs to the caller.
 */
import * as tf from '@tensorflow/tfjs';
import { FedexError } from '../../core/errors.js';
import type { FeatureSpec } from '../../core/types.js';
import type { Backbone, LayerCost, SplitPoint } from '../types.js';
import { countModelCosts } from '../flops.js';

/** One weight array of a layer, in the order `layer.getWeights()` lists them. */
export interface StoredWeight {
  shape: number[];
  values: Float32Array;
}

/** Weights by layer name (every layer with weights that a stage creates must be in it). */
export type WeightStore = ReadonlyMap<string, readonly StoredWeight[]>;

/** A run of layers ending at a split point. `apply` makes new layer objects on every call. */
export interface Stage {
  split: SplitPoint;
  apply(x: tf.SymbolicTensor): tf.SymbolicTensor;
}

export interface LayeredBackboneArgs {
  id: string;
  version: string;
  inputShape: number[];
  stages: readonly Stage[];
  weights: WeightStore;
}

function sameShape(a: readonly (number | null)[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Sets every layer's weights from the store (tensors made and freed here). */
function loadWeights(model: tf.LayersModel, weights: WeightStore, where: string): void {
  for (const layer of model.layers) {
    const expected = layer.weights;
    if (expected.length === 0) continue;
    const stored = weights.get(layer.name);
    if (!stored || stored.length !== expected.length) {
      throw new FedexError('INTERNAL', `${where}: no stored weights for layer ${layer.name}`);
    }
    stored.forEach((w, i) => {
      if (!sameShape(expected[i].shape, w.shape)) {
        throw new FedexError(
          'INTERNAL',
          `${where}: layer ${layer.name} weight ${i} is [${expected[i].shape.join(', ')}], stored [${w.shape.join(', ')}]`,
        );
      }
    });
    tf.tidy(() => layer.setWeights(stored.map((w) => tf.tensor(w.values, w.shape, 'float32'))));
  }
}

/** Throws MODEL_UNKNOWN_SPLIT unless `split` is one of `splits`; returns its index. */
export function splitIndex(backboneId: string, splits: readonly SplitPoint[], split: string): number {
  const i = splits.findIndex((s) => s.name === split);
  if (i < 0) {
    throw new FedexError(
      'MODEL_UNKNOWN_SPLIT',
      `backbone ${backboneId} has no split "${split}" (splits: ${splits.map((s) => s.name).join(', ')})`,
    );
  }
  return i;
}

/**
 * A backbone over stages of tf.layers. Build with `new LayeredBackbone(...)`; the bottom graph is
 * built at once (weights set), upper stages on demand.
 */
export class LayeredBackbone implements Backbone {
  readonly id: string;
  readonly version: string;
  readonly inputShape: number[];
  readonly splits: readonly SplitPoint[];
  private readonly stages: readonly Stage[];
  private readonly weights: WeightStore;
  private readonly bottoms = new Map<string, tf.LayersModel>();
  private readonly full: tf.LayersModel;
  private disposed = false;

  constructor(args: LayeredBackboneArgs) {
    this.id = args.id;
    this.version = args.version;
    this.inputShape = [...args.inputShape];
    this.stages = args.stages;
    this.splits = Object.freeze(
      args.stages.map((s) => Object.freeze({ ...s.split, shape: [...s.split.shape] })),
    );
    this.weights = args.weights;
    const input = tf.input({
      shape: this.inputShape,
      name: `${this.id.replace(/[^A-Za-z0-9_]/g, '_')}_input`,
    });
    let x = input;
    const outputs: tf.SymbolicTensor[] = [];
    for (const stage of this.stages) {
      x = stage.apply(x);
      if (!sameShape(x.shape.slice(1), stage.split.shape)) {
        throw new FedexError(
          'INTERNAL',
          `${this.id}: stage ${stage.split.name} gives [${x.shape.slice(1).join(', ')}], declared [${stage.split.shape.join(', ')}]`,
        );
      }
      outputs.push(x);
    }
    // The last split's model holds every layer; the others share its layers (and weights).
    this.full = tf.model({ inputs: input, outputs: x, name: `${this.id}_bottom` });
    this.full.trainable = false;
    loadWeights(this.full, this.weights, this.id);
    this.stages.forEach((s, i) => {
      const m =
        i === this.stages.length - 1
          ? this.full
          : tf.model({ inputs: input, outputs: outputs[i], name: `${this.id}_to_${s.split.name}` });
      // Frozen, as a model too: the FLOP counter reads `model.trainable`.
      m.trainable = false;
      this.bottoms.set(s.split.name, m);
    });
  }

  private check(): void {
    if (this.disposed) throw new FedexError('BAD_ARGUMENT', `backbone ${this.id} used after dispose()`);
  }

  spec(split: string): FeatureSpec {
    const s = this.splits[splitIndex(this.id, this.splits, split)];
    return { backboneId: this.id, backboneVersion: this.version, split: s.name, shape: [...s.shape] };
  }

  bottom(input: tf.Tensor4D, split: string): tf.Tensor {
    this.check();
    splitIndex(this.id, this.splits, split);
    if (input.rank !== 4 || !sameShape(input.shape.slice(1), this.inputShape)) {
      throw new FedexError(
        'BAD_ARGUMENT',
        `${this.id}: bottom expects [n, ${this.inputShape.join(', ')}], got [${input.shape.join(', ')}]`,
      );
    }
    const model = this.bottoms.get(split)!;
    return tf.tidy(() => model.predict(input) as tf.Tensor);
  }

  /** The bottom up to `split` as a (frozen, shared) LayersModel, e.g. to save and ship it. */
  bottomModel(split: string): tf.LayersModel {
    this.check();
    splitIndex(this.id, this.splits, split);
    return this.bottoms.get(split)!;
  }

  upperStage(split: string): tf.LayersModel | null {
    this.check();
    const i = splitIndex(this.id, this.splits, split);
    if (i === this.stages.length - 1) return null;
    const s = this.splits[i];
    const input = tf.input({ shape: s.shape, name: `${s.name}_features` });
    let x = input;
    for (const stage of this.stages.slice(i + 1)) x = stage.apply(x);
    const model = tf.model({ inputs: input, outputs: x, name: `${this.id}_after_${s.name}` });
    try {
      loadWeights(model, this.weights, `${this.id} upper stage after ${s.name}`);
    } catch (e) {
      model.dispose();
      throw e;
    }
    return model;
  }

  bottomCosts(split: string): LayerCost[] {
    this.check();
    splitIndex(this.id, this.splits, split);
    return countModelCosts(this.bottoms.get(split)!).layers;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.full.dispose();
    this.bottoms.clear();
  }
}
