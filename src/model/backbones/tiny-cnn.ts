/**
 * `tiny-cnn`: a small CNN with seeded random weights (no download, builds in milliseconds) for fast
 * tests of everything downstream of a backbone: split extraction, feature caches, heads, trainers,
 * FLOP counting, the simulator. Not a face model: its features carry no identity.
 *
 * Input [32, 32, 3] with values 0..255 (RGB), like a chip; the 1/255 scale is folded into the
 * first conv's weights. Splits: `conv1` [16,16,8], `conv2` [8,8,16], `embedding` [16].
 * Same seed, same weights, on every platform (mulberry32, ../../core/random.ts).
 *
 * Platform-neutral.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng } from '../../core/random.js';
import type { Backbone, SplitPoint } from '../types.js';
import { LayeredBackbone, type Stage, type StoredWeight } from './layered.js';

export const TINY_CNN_ID = 'tiny-cnn';

/** Default seed of the weights. */
export const TINY_CNN_DEFAULT_SEED = 1;

export const TINY_CNN_SPLITS: readonly SplitPoint[] = Object.freeze([
  { name: 'conv1', shape: [16, 16, 8], description: '3×3 conv (8) relu, 2×2 max pool: 2,048 values' },
  { name: 'conv2', shape: [8, 8, 16], description: '3×3 conv (16) relu, 2×2 max pool: 1,024 values' },
  {
    name: 'embedding',
    shape: [16],
    description: '3×3 conv (32) relu, global average pool, dense 16: 16 values',
  },
]);

export interface TinyCnnOptions {
  /** Seed of the weights. Default `TINY_CNN_DEFAULT_SEED` (1). Recorded in the version. */
  seed?: number;
}

function uniform(rng: () => number, n: number, limit: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (2 * rng() - 1) * limit;
  return a;
}

/** He-uniform kernels (`scale` folds an input scaling in) and small positive biases, seeded. */
function seededWeights(seed: number): Map<string, StoredWeight[]> {
  const rng = createRng(seed);
  const conv = (cin: number, cout: number, scale = 1): StoredWeight[] => [
    { shape: [3, 3, cin, cout], values: uniform(rng, 9 * cin * cout, scale * Math.sqrt(6 / (9 * cin))) },
    { shape: [cout], values: uniform(rng, cout, 0.05).map((v) => v + 0.05) },
  ];
  return new Map([
    ['conv1', conv(3, 8, 1 / 255)],
    ['conv2', conv(8, 16)],
    ['conv3', conv(16, 32)],
    [
      'fc',
      [
        { shape: [32, 16], values: uniform(rng, 32 * 16, Math.sqrt(6 / 48)) },
        { shape: [16], values: new Float32Array(16) },
      ],
    ],
  ]);
}

function convBlock(name: string, filters: number): Stage['apply'] {
  return (x) => {
    const c = tf.layers
      .conv2d({
        name,
        filters,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: 'zeros',
      })
      .apply(x) as tf.SymbolicTensor;
    return tf.layers
      .maxPooling2d({ name: `${name}_pool`, poolSize: 2, strides: 2 })
      .apply(c) as tf.SymbolicTensor;
  };
}

/**
 * Builds the tiny CNN (synchronous; no files).
 *
 * @example
 * const bb = createTinyCnn({ seed: 7 });
 * const f = bb.bottom(tf.zeros([2, 32, 32, 3]), 'conv2'); // [2, 8, 8, 16]
 */
export function createTinyCnn(options: TinyCnnOptions = {}): Backbone {
  const seed = options.seed ?? TINY_CNN_DEFAULT_SEED;
  const [s1, s2, s3] = TINY_CNN_SPLITS;
  const stages: Stage[] = [
    { split: s1, apply: convBlock('conv1', 8) },
    { split: s2, apply: convBlock('conv2', 16) },
    {
      split: s3,
      apply: (x) => {
        let y = tf.layers
          .conv2d({
            name: 'conv3',
            filters: 32,
            kernelSize: 3,
            padding: 'same',
            activation: 'relu',
            kernelInitializer: 'zeros',
          })
          .apply(x) as tf.SymbolicTensor;
        y = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(y) as tf.SymbolicTensor;
        return tf.layers
          .dense({ name: 'fc', units: 16, kernelInitializer: 'zeros' })
          .apply(y) as tf.SymbolicTensor;
      },
    },
  ];
  return new LayeredBackbone({
    id: TINY_CNN_ID,
    version: `1-seed${seed}`,
    inputShape: [32, 32, 3],
    stages,
    weights: seededWeights(seed),
  });
}
