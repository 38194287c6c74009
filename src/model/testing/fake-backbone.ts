/**
 * A tiny stand-in backbone for head tests: split `stage` has a [6, 6, 4] feature map and a
 * pretrained-looking upper stage (conv 3×3 → global average pool → dense 16, fixed seeded weights,
 * a fresh model per call as the Backbone contract asks); split `embedding` is the last one (no
 * upper stage). Test support only.
 */
import * as tf from '@tensorflow/tfjs';
import type { Backbone } from '../types.js';

export const FAKE_STAGE_SHAPE = [6, 6, 4];
export const FAKE_EMBEDDING_DIM = 16;

export function fakeBackbone(): Pick<Backbone, 'id' | 'upperStage'> {
  return {
    id: 'fake-backbone',
    upperStage(split: string): tf.LayersModel | null {
      if (split === 'embedding') return null;
      if (split !== 'stage') throw new Error(`no split ${split}`);
      const input = tf.input({ shape: FAKE_STAGE_SHAPE });
      let x = tf.layers
        .conv2d({
          filters: 8,
          kernelSize: 3,
          padding: 'same',
          activation: 'relu',
          name: 'conv',
          kernelInitializer: tf.initializers.glorotUniform({ seed: 11 }),
        })
        .apply(input) as tf.SymbolicTensor;
      x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
      x = tf.layers
        .dense({
          units: FAKE_EMBEDDING_DIM,
          name: 'embedding',
          kernelInitializer: tf.initializers.glorotUniform({ seed: 12 }),
        })
        .apply(x) as tf.SymbolicTensor;
      return tf.model({ inputs: input, outputs: x, name: 'fake_upper' });
    },
  };
}
