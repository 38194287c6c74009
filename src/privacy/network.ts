/**
 * A backbone as the privacy experiment's `PrivacyNetwork`: the device's bottom at each split, the
 * pretrained upper layers from a split to the descriptor, and the whole network on a chip. Runs in
 * batches so a few hundred chips never hold more than one batch of activations.
 */
import * as tf from '@tensorflow/tfjs';
import type { RawImage } from '../core/types.js';
import { chipFeatures } from '../model/split-extractor.js';
import type { Backbone } from '../model/types.js';
import type { PrivacyNetwork } from './experiment.js';

const BATCH = 32;

function batched<T, U>(items: readonly T[], fn: (chunk: readonly T[]) => U[]): U[] {
  const out: U[] = [];
  for (let i = 0; i < items.length; i += BATCH) out.push(...fn(items.slice(i, i + BATCH)));
  return out;
}

/** The network a server holds, made of `backbone` (which the caller disposes). */
export function backboneNetwork(backbone: Backbone): PrivacyNetwork & { dispose(): void } {
  const splits = backbone.splits.map((s) => s.name);
  const last = splits[splits.length - 1];
  const uppers = new Map<string, tf.LayersModel | null>();
  const upper = (split: string) => {
    if (!uppers.has(split)) uppers.set(split, backbone.upperStage(split));
    return uppers.get(split)!;
  };
  return {
    splits,
    spec: (split) => backbone.spec(split),
    features: (split, chips: readonly RawImage[]) => batched(chips, (c) => chipFeatures(backbone, split, c)),
    toDescriptor(split, features) {
      const model = upper(split);
      if (!model) return features.map((f) => Float32Array.from(f));
      const shape = backbone.splits.find((s) => s.name === split)!.shape;
      return batched(features, (chunk) => {
        const flat = tf.tidy(() => {
          const data = new Float32Array(chunk.length * chunk[0].length);
          chunk.forEach((f, i) => data.set(f, i * f.length));
          const y = model.predict(tf.tensor(data, [chunk.length, ...shape])) as tf.Tensor;
          return y.dataSync() as Float32Array;
        });
        const dim = flat.length / chunk.length;
        return chunk.map((_, i) => flat.slice(i * dim, (i + 1) * dim));
      });
    },
    descriptor: (chips) => batched(chips, (c) => chipFeatures(backbone, last, c)),
    dispose() {
      for (const m of uppers.values()) m?.dispose();
    },
  };
}
