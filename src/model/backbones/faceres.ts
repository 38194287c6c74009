/**
 * `faceres`: the face description network of `@vladmandic/human` (HSE FaceRes: a MobileNetV1,
 * 224×224 input → 1024-d descriptor from its global average pool; the package's graph model also
 * predicts age and gender from it, which FedEx does not use). Rebuilt as standard `tf.layers` from
 * the graph model's weights so that it can be cut anywhere and its upper stages trained.
 *
 * The converted graph is a plain MobileNetV1 with batch norm already folded: each pointwise conv
 * has its BN scale merged into the kernel (`merged_input`) and a bias (`…_bn/batchnorm_1/sub`); each
 * depthwise conv is followed by a per-channel multiply and add, folded here into the depthwise
 * kernel and bias (exact up to float rounding); every activation is relu6 (`clip_by_value` 0..6,
 * bounds read from the weights). The strides and paddings are checked against the graph topology at
 * load, so a different faceres file fails loudly instead of computing something else.
 *
 * Input: RGB 0..255, 224×224 — what human feeds it (its face crop, 0..1, times 255). Human crops
 * with its own face mesh; FedEx feeds the face pipeline's aligned chip resized to 224 (see
 * ../split-extractor.ts), a somewhat different framing of the face.
 *
 * Splits: `conv_pw_11` [14,14,512], `conv_pw_12` [7,7,1024], `conv_pw_13` [7,7,1024], `embedding`
 * [1024]. The upper stage after `conv_pw_13` is the global average pool alone (no weights).
 *
 * Platform-neutral: the weights come through a tfjs `IOHandler` (Node: ../../platform/node/
 * backbone-files.ts reads the package's `models/faceres.json`; browser: `tf.io.http(url)`).
 */
import * as tf from '@tensorflow/tfjs';
import { FedexError } from '../../core/errors.js';
import type { Backbone, SplitPoint } from '../types.js';
import { LayeredBackbone, type Stage, type StoredWeight } from './layered.js';

export const FACERES_ID = 'faceres';

/** Input side of the network. */
export const FACERES_INPUT_SIZE = 224;

/** [depthwise stride, pointwise filters] of conv_dw_i / conv_pw_i, i = 1..13 (MobileNetV1). */
const BLOCKS: readonly (readonly [number, number])[] = [
  [1, 64],
  [2, 128],
  [1, 128],
  [2, 256],
  [1, 256],
  [2, 512],
  [1, 512],
  [1, 512],
  [1, 512],
  [1, 512],
  [1, 512],
  [2, 1024],
  [1, 1024],
];

export const FACERES_SPLITS: readonly SplitPoint[] = Object.freeze([
  {
    name: 'conv_pw_11',
    shape: [14, 14, 512],
    description: 'after block 11 of 13 (conv_pw_11 relu6): 100,352 values',
  },
  {
    name: 'conv_pw_12',
    shape: [7, 7, 1024],
    description: 'after block 12 (stride-2 depthwise, pointwise to 1024): 50,176 values',
  },
  {
    name: 'conv_pw_13',
    shape: [7, 7, 1024],
    description: 'after the last block, before the global pool: 50,176 values',
  },
  {
    name: 'embedding',
    shape: [1024],
    description: "the 1024-d descriptor (global average pool), human's face description",
  },
]);

/** Last block of each split (0 = the first conv). */
const SPLIT_BLOCK: Record<string, number> = { conv_pw_11: 11, conv_pw_12: 12, conv_pw_13: 13, embedding: 13 };

type WeightMap = ReadonlyMap<string, StoredWeight>;

function get(w: WeightMap, name: string, shape?: readonly number[]): StoredWeight {
  const v = w.get(name);
  if (!v) throw new FedexError('FACE_MODEL_LOAD', `faceres weights lack ${name}`);
  if (shape && (v.shape.length !== shape.length || v.shape.some((d, i) => d !== shape[i]))) {
    throw new FedexError(
      'FACE_MODEL_LOAD',
      `faceres weight ${name} is [${v.shape.join(', ')}], expected [${shape.join(', ')}]`,
    );
  }
  return v;
}

/** relu6 bounds of an activation: `clip_by_value(relu(x), Const_1, Cast)` in the graph. */
function relu6Max(w: WeightMap, prefix: string): number {
  const max = get(w, `${prefix}_relu/Cast`).values[0];
  const min = get(w, `${prefix}_relu/Const_1`).values[0];
  if (min !== 0 || !(max > 0)) {
    throw new FedexError(
      'FACE_MODEL_LOAD',
      `faceres ${prefix}: activation clips to [${min}, ${max}], expected [0, max]`,
    );
  }
  return max;
}

/** The graph's weights folded into this backbone's layer weights, plus each activation's clip. */
export function foldFaceresWeights(w: WeightMap): {
  weights: Map<string, StoredWeight[]>;
  clip: Map<string, number>;
} {
  const weights = new Map<string, StoredWeight[]>();
  const clip = new Map<string, number>();
  weights.set('conv1', [
    get(w, 'conv1/convolution/merged_input', [3, 3, 3, 32]),
    get(w, 'conv1_bn/batchnorm_1/sub', [32]),
  ]);
  clip.set('conv1', relu6Max(w, 'conv1'));
  let channels = 32;
  BLOCKS.forEach(([, filters], k) => {
    const i = k + 1;
    const dw = get(w, `conv_dw_${i}/depthwise_kernel`, [3, 3, channels, 1]);
    const mul = get(w, `conv_dw_${i}_bn/batchnorm_1/mul`, [channels]).values;
    const kernel = Float32Array.from(dw.values, (v, j) => v * mul[j % channels]);
    weights.set(`conv_dw_${i}`, [
      { shape: dw.shape, values: kernel },
      get(w, `conv_dw_${i}_bn/batchnorm_1/sub`, [channels]),
    ]);
    clip.set(`conv_dw_${i}`, relu6Max(w, `conv_dw_${i}`));
    weights.set(`conv_pw_${i}`, [
      get(w, `conv_pw_${i}/convolution/merged_input`, [1, 1, channels, filters]),
      get(w, `conv_pw_${i}_bn/batchnorm_1/sub`, [filters]),
    ]);
    clip.set(`conv_pw_${i}`, relu6Max(w, `conv_pw_${i}`));
    channels = filters;
  });
  return { weights, clip };
}

interface GraphNode {
  name: string;
  op: string;
  attr?: Record<string, { list?: { i?: string[] }; s?: string }>;
}

/** Checks the strides and `SAME` padding of every conv of the graph against the table above. */
function checkTopology(topology: unknown): void {
  const nodes = (topology as { node?: GraphNode[] } | undefined)?.node;
  if (!Array.isArray(nodes))
    throw new FedexError('FACE_MODEL_LOAD', 'faceres: the model has no graph topology');
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const expect = (name: string, stride: number): void => {
    const n = byName.get(name);
    const strides = n?.attr?.strides?.list?.i?.map(Number);
    const padding = n?.attr?.padding?.s ? atob(n.attr.padding.s) : undefined;
    if (!n || strides?.[1] !== stride || strides?.[2] !== stride || padding !== 'SAME') {
      throw new FedexError(
        'FACE_MODEL_LOAD',
        `faceres: node ${name} is not a stride-${stride} SAME convolution (strides ${strides?.join(',')}, padding ${padding})`,
      );
    }
  };
  expect('conv1_bn/batchnorm_1/mul_1', 2);
  BLOCKS.forEach(([stride], k) => {
    expect(`conv_dw_${k + 1}/depthwise`, stride);
    expect(`conv_pw_${k + 1}_bn/batchnorm_1/mul_1`, 1);
  });
}

function relu6(name: string, max: number): tf.layers.Layer {
  return tf.layers.reLU({ name, maxValue: max });
}

/** The stages as tf.layers builders (new layers on every call). */
function faceresStages(clip: ReadonlyMap<string, number>): Stage[] {
  const block = (x: tf.SymbolicTensor, i: number): tf.SymbolicTensor => {
    const [stride, filters] = BLOCKS[i - 1];
    let y = tf.layers
      .depthwiseConv2d({
        name: `conv_dw_${i}`,
        kernelSize: 3,
        strides: stride,
        padding: 'same',
        depthMultiplier: 1,
        useBias: true,
        depthwiseInitializer: 'zeros',
      })
      .apply(x) as tf.SymbolicTensor;
    y = relu6(`conv_dw_${i}_relu`, clip.get(`conv_dw_${i}`)!).apply(y) as tf.SymbolicTensor;
    y = tf.layers
      .conv2d({
        name: `conv_pw_${i}`,
        filters,
        kernelSize: 1,
        padding: 'same',
        useBias: true,
        kernelInitializer: 'zeros',
      })
      .apply(y) as tf.SymbolicTensor;
    return relu6(`conv_pw_${i}_relu`, clip.get(`conv_pw_${i}`)!).apply(y) as tf.SymbolicTensor;
  };
  let done = 0;
  return FACERES_SPLITS.map((split) => {
    const from = done + 1;
    const to = SPLIT_BLOCK[split.name];
    done = to;
    return {
      split,
      apply(x: tf.SymbolicTensor): tf.SymbolicTensor {
        let out = x;
        if (from === 1) {
          out = tf.layers
            .conv2d({
              name: 'conv1',
              filters: 32,
              kernelSize: 3,
              strides: 2,
              padding: 'same',
              useBias: true,
              kernelInitializer: 'zeros',
            })
            .apply(out) as tf.SymbolicTensor;
          out = relu6('conv1_relu', clip.get('conv1')!).apply(out) as tf.SymbolicTensor;
        }
        for (let i = from; i <= to; i++) out = block(out, i);
        if (split.name === 'embedding') {
          out = tf.layers.globalAveragePooling2d({ name: 'global_pooling' }).apply(out) as tf.SymbolicTensor;
        }
        return out;
      },
    };
  });
}

/** Builds the backbone from decoded graph-model weights (read, not kept or disposed) and its topology. */
export function faceresFromWeightMap(
  weightMap: tf.NamedTensorMap,
  topology: unknown,
  version: string,
): Backbone {
  checkTopology(topology);
  const plain = new Map<string, StoredWeight>();
  for (const [name, t] of Object.entries(weightMap)) {
    plain.set(name, { shape: [...t.shape], values: Float32Array.from(t.dataSync() as Float32Array) });
  }
  const { weights, clip } = foldFaceresWeights(plain);
  return new LayeredBackbone({
    id: FACERES_ID,
    version,
    inputShape: [FACERES_INPUT_SIZE, FACERES_INPUT_SIZE, 3],
    stages: faceresStages(clip),
    weights,
  });
}

export interface FaceresOptions {
  /** Loads `faceres.json` and its weights. Default (Node only): the installed `@vladmandic/human`'s `models/`. */
  handler?: tf.io.IOHandler;
  /** Version recorded in feature specs. Default (Node only): the installed `@vladmandic/human` version. */
  version?: string;
}

/**
 * Loads human's faceres weights and builds the backbone.
 *
 * @throws FedexError FACE_MODEL_LOAD when the model is missing (`npm install @vladmandic/human`) or
 *   is not the MobileNetV1 this code expects.
 * @example
 * const faceres = await createFaceres();
 * const f = faceres.bottom(faces224, 'conv_pw_11'); // [n, 14, 14, 512]
 */
export async function createFaceres(options: FaceresOptions = {}): Promise<Backbone> {
  let { handler, version } = options;
  if (!handler || !version) {
    if (typeof globalThis.process?.versions?.node !== 'string') {
      throw new FedexError('BAD_ARGUMENT', 'createFaceres: pass `handler` and `version` outside Node');
    }
    const spec = '../../platform/node/backbone-files.js';
    const node = (await import(
      /* @vite-ignore */ spec
    )) as typeof import('../../platform/node/backbone-files.js');
    handler ??= node.fileModelJsonHandler(node.humanModelFile('faceres.json'));
    version ??= node.packageVersion('@vladmandic/human');
  }
  let artifacts: tf.io.ModelArtifacts;
  try {
    if (!handler.load) throw new Error('IOHandler has no load()');
    artifacts = await handler.load();
  } catch (cause) {
    if (cause instanceof FedexError) throw cause;
    throw new FedexError('FACE_MODEL_LOAD', `cannot load faceres: ${(cause as Error)?.message ?? cause}`, {
      cause,
    });
  }
  if (!artifacts.weightSpecs || !artifacts.weightData) {
    throw new FedexError('FACE_MODEL_LOAD', 'faceres: no weights in the model artifacts');
  }
  let weightMap: tf.NamedTensorMap;
  try {
    weightMap = tf.io.decodeWeights(artifacts.weightData, artifacts.weightSpecs);
  } catch (cause) {
    throw new FedexError('FACE_MODEL_LOAD', `faceres: cannot decode weights: ${(cause as Error).message}`, {
      cause,
    });
  }
  try {
    return faceresFromWeightMap(weightMap, artifacts.modelTopology, version);
  } finally {
    tf.dispose(Object.values(weightMap));
  }
}
