/**
 * `faceapi-resnet`: the face-api / dlib ResNet face descriptor (150×150 aligned chip → 128-d,
 * 99.38% on LFW), re-implemented as standard `tf.layers` from face-api's own weight map so it can
 * be cut between its stages: the device runs the bottom, the cloud trains the pretrained layers
 * above the cut (`upperStage`).
 *
 * The forward pass follows face-api's `FaceRecognitionNet.forwardInput` (src/faceRecognitionNet/ in
 * the package) exactly; only the arithmetic is regrouped, which is exact up to float rounding:
 * - each conv's `scale` layer (y·w + b per channel) is folded into the conv kernel and bias;
 * - the input normalisation ((x − mean RGB) / 255) is folded into the first conv (7×7, stride 2,
 *   `valid` padding, so every output sees a full window and the fold is exact).
 * So the bottom takes chips with values 0..255 (RGB), as `FacePipeline.chipBatch` makes them.
 *
 * Residual "down" units add an average-pooled shortcut: where it has fewer channels, face-api
 * appends zero channels (here: a `ZeroPadding2D` declared `channelsFirst` on a channels-last tensor,
 * which pads the last axis — a standard layer, saveable and loadable anywhere); where the conv
 * branch is smaller than the pooled one (3×3 vs 4×4, 1×1 vs 2×2), face-api appends a zero row and
 * column to the conv branch (a plain `ZeroPadding2D`).
 *
 * Splits (shapes per chip): `stage32` [35,35,32], `stage64` [17,17,64], `stage128` [8,8,128],
 * `stage256` [4,4,256], `embedding` [128] (face-api's descriptor).
 *
 * Platform-neutral: the weights come through a `FaceModelLoader` (Node: ../../platform/node/
 * model-files.ts; browser: `urlModelLoader`).
 */
import * as tf from '@tensorflow/tfjs';
import { FedexError } from '../../core/errors.js';
import { FACE_BACKBONE_ID } from '../../face/extractor.js';
import type { FaceApiNet } from '../../face/faceapi.js';
import { type FaceModelLoader, loadFaceNet } from '../../face/models.js';
import { CHIP_SIZE, RECOGNITION_MEAN_RGB } from '../../face/pipeline.js';
import type { Backbone, SplitPoint } from '../types.js';
import { LayeredBackbone, type Stage, type StoredWeight } from './layered.js';

export { FACE_BACKBONE_ID as FACEAPI_RESNET_ID };

/** face-api's weight tensors as plain arrays, by face-api's names (e.g. `conv32_1/conv1/conv/filters`). */
export type FaceApiWeights = ReadonlyMap<string, StoredWeight>;

/** The split points, bottom to top. */
export const FACEAPI_RESNET_SPLITS: readonly SplitPoint[] = Object.freeze([
  {
    name: 'stage32',
    shape: [35, 35, 32],
    description: 'after the 32-channel stage (7×7 conv, max pool, 3 residual units): 39,200 values',
  },
  {
    name: 'stage64',
    shape: [17, 17, 64],
    description: 'after the 64-channel stage (4 residual units): 18,496 values',
  },
  {
    name: 'stage128',
    shape: [8, 8, 128],
    description: 'after the 128-channel stage (3 residual units): 8,192 values',
  },
  {
    name: 'stage256',
    shape: [4, 4, 256],
    description: 'after 3 of the 4 256-channel residual units: 4,096 values; the top is 1 unit + pool + fc',
  },
  {
    name: 'embedding',
    shape: [128],
    description: "the 128-d face descriptor (face-api's computeFaceDescriptor)",
  },
]);

/** Residual units per stage, as named in face-api's weight map. */
const STAGE_UNITS: Record<string, readonly string[]> = {
  stage32: ['conv32_1', 'conv32_2', 'conv32_3'],
  stage64: ['conv64_down', 'conv64_1', 'conv64_2', 'conv64_3'],
  stage128: ['conv128_down', 'conv128_1', 'conv128_2'],
  stage256: ['conv256_down', 'conv256_1', 'conv256_2'],
  embedding: ['conv256_down_out'],
};

function get(w: FaceApiWeights, name: string, shape?: readonly number[]): StoredWeight {
  const v = w.get(name);
  if (!v) throw new FedexError('FACE_MODEL_LOAD', `face recognition weights lack ${name}`);
  if (shape && (v.shape.length !== shape.length || v.shape.some((d, i) => d !== shape[i]))) {
    throw new FedexError(
      'FACE_MODEL_LOAD',
      `face recognition weight ${name} is [${v.shape.join(', ')}], expected [${shape.join(', ')}]`,
    );
  }
  return v;
}

/**
 * One conv of face-api (`conv(x)+bias`, then `·scale.weights + scale.biases`) as a folded
 * [kernel, bias]. With `inputMean`/`inputScale`, also folds `(x − mean) · inputScale` applied to the
 * input (exact for `valid` padding only).
 */
export function foldConv(
  w: FaceApiWeights,
  prefix: string,
  input?: { mean: readonly number[]; scale: number },
): [StoredWeight, StoredWeight] {
  const filters = get(w, `${prefix}/conv/filters`);
  if (filters.shape.length !== 4)
    throw new FedexError('FACE_MODEL_LOAD', `${prefix}/conv/filters is not 4-d`);
  const [kh, kw, cin, cout] = filters.shape;
  const bias = get(w, `${prefix}/conv/bias`, [cout]).values;
  const sw = get(w, `${prefix}/scale/weights`, [cout]).values;
  const sb = get(w, `${prefix}/scale/biases`, [cout]).values;
  const kernel = new Float32Array(filters.values.length);
  const outBias = new Float32Array(cout);
  // Accumulate in float64: the mean fold sums kh·kw·cin products.
  const shift = new Float64Array(cout);
  for (let p = 0; p < kh * kw; p++) {
    for (let ci = 0; ci < cin; ci++) {
      const base = (p * cin + ci) * cout;
      for (let co = 0; co < cout; co++) {
        const f = filters.values[base + co];
        const fs = input ? f * input.scale : f;
        kernel[base + co] = fs * sw[co];
        if (input) shift[co] += fs * input.mean[ci];
      }
    }
  }
  for (let co = 0; co < cout; co++) outBias[co] = (bias[co] - shift[co]) * sw[co] + sb[co];
  return [
    { shape: [kh, kw, cin, cout], values: kernel },
    { shape: [cout], values: outBias },
  ];
}

/** Folds face-api's weight map into this backbone's layer weights (by layer name). */
export function foldFaceApiWeights(w: FaceApiWeights): Map<string, StoredWeight[]> {
  const store = new Map<string, StoredWeight[]>();
  store.set('conv32_down', foldConv(w, 'conv32_down', { mean: RECOGNITION_MEAN_RGB, scale: 1 / 255 }));
  for (const units of Object.values(STAGE_UNITS)) {
    for (const unit of units) {
      store.set(`${unit}_conv1`, foldConv(w, `${unit}/conv1`));
      store.set(`${unit}_conv2`, foldConv(w, `${unit}/conv2`));
    }
  }
  store.set('fc', [get(w, 'fc', [256, 128])]);
  return store;
}

function conv(
  name: string,
  filters: number,
  kernel: number,
  strides: number,
  padding: 'same' | 'valid',
  relu: boolean,
): tf.layers.Layer {
  return tf.layers.conv2d({
    name,
    filters,
    kernelSize: kernel,
    strides,
    padding,
    activation: relu ? 'relu' : 'linear',
    useBias: true,
    kernelInitializer: 'zeros',
  });
}

/** face-api's `residual` (3×3 conv relu, 3×3 conv, add input, relu). */
function residual(x: tf.SymbolicTensor, unit: string): tf.SymbolicTensor {
  const c = x.shape[3] as number;
  let out = conv(`${unit}_conv1`, c, 3, 1, 'same', true).apply(x) as tf.SymbolicTensor;
  out = conv(`${unit}_conv2`, c, 3, 1, 'same', false).apply(out) as tf.SymbolicTensor;
  out = tf.layers.add({ name: `${unit}_add` }).apply([out, x]) as tf.SymbolicTensor;
  return tf.layers.reLU({ name: `${unit}_relu` }).apply(out) as tf.SymbolicTensor;
}

/**
 * face-api's `residualDown`: 3×3 stride-2 `valid` conv relu, 3×3 conv; shortcut 2×2 average pool,
 * zero channels appended when the conv doubles them; the conv branch padded with a zero row and
 * column at the bottom right when it is smaller than the pooled shortcut.
 */
function residualDown(x: tf.SymbolicTensor, unit: string, filters: number): tf.SymbolicTensor {
  const cin = x.shape[3] as number;
  let out = conv(`${unit}_conv1`, filters, 3, 2, 'valid', true).apply(x) as tf.SymbolicTensor;
  out = conv(`${unit}_conv2`, filters, 3, 1, 'same', false).apply(out) as tf.SymbolicTensor;
  let pooled = tf.layers
    .averagePooling2d({ name: `${unit}_shortcut`, poolSize: 2, strides: 2, padding: 'valid' })
    .apply(x) as tf.SymbolicTensor;
  const [ph, pw] = [pooled.shape[1] as number, pooled.shape[2] as number];
  const [oh, ow] = [out.shape[1] as number, out.shape[2] as number];
  if (oh !== ph || ow !== pw) {
    // face-api concatenates one zero row, then one zero column, whatever the difference.
    if (ph - oh !== 1 || pw - ow !== 1) {
      throw new FedexError('INTERNAL', `${unit}: conv branch ${oh}×${ow} against shortcut ${ph}×${pw}`);
    }
    out = tf.layers
      .zeroPadding2d({
        name: `${unit}_pad`,
        padding: [
          [0, 1],
          [0, 1],
        ],
      })
      .apply(out) as tf.SymbolicTensor;
  }
  if (cin !== filters) {
    // face-api: concat([pooled, zeros(pooled.shape)], 3), so filters must be 2·cin. Declared
    // channelsFirst, ZeroPadding2D pads axes 2 and 3 of the [n, h, w, c] tensor: w by 0, c by cin.
    if (filters !== 2 * cin) throw new FedexError('INTERNAL', `${unit}: ${cin} → ${filters} channels`);
    pooled = tf.layers
      .zeroPadding2d({
        name: `${unit}_shortcut_pad`,
        padding: [
          [0, 0],
          [0, cin],
        ],
        dataFormat: 'channelsFirst',
      })
      .apply(pooled) as tf.SymbolicTensor;
  }
  out = tf.layers.add({ name: `${unit}_add` }).apply([pooled, out]) as tf.SymbolicTensor;
  return tf.layers.reLU({ name: `${unit}_relu` }).apply(out) as tf.SymbolicTensor;
}

function unitOf(x: tf.SymbolicTensor, unit: string): tf.SymbolicTensor {
  const m = /^conv(\d+)_down/.exec(unit);
  return m ? residualDown(x, unit, Number(m[1])) : residual(x, unit);
}

/** The stages as tf.layers builders (new layers on every call). */
export function faceApiResnetStages(): Stage[] {
  return FACEAPI_RESNET_SPLITS.map((split) => ({
    split,
    apply(x: tf.SymbolicTensor): tf.SymbolicTensor {
      let out = x;
      if (split.name === 'stage32') {
        out = conv('conv32_down', 32, 7, 2, 'valid', true).apply(out) as tf.SymbolicTensor;
        out = tf.layers
          .maxPooling2d({ name: 'conv32_down_pool', poolSize: 3, strides: 2, padding: 'valid' })
          .apply(out) as tf.SymbolicTensor;
      }
      for (const unit of STAGE_UNITS[split.name]) out = unitOf(out, unit);
      if (split.name === 'embedding') {
        out = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(out) as tf.SymbolicTensor;
        out = tf.layers
          .dense({ name: 'fc', units: 128, useBias: false, kernelInitializer: 'zeros' })
          .apply(out) as tf.SymbolicTensor;
      }
      return out;
    },
  }));
}

/**
 * Builds the backbone from face-api's (decoded) weight map. The map's tensors are read, not kept
 * or disposed.
 */
export function faceApiResnetFromWeightMap(weightMap: tf.NamedTensorMap, version: string): Backbone {
  const plain = new Map<string, StoredWeight>();
  for (const [name, t] of Object.entries(weightMap)) {
    plain.set(name, { shape: [...t.shape], values: Float32Array.from(t.dataSync() as Float32Array) });
  }
  return new LayeredBackbone({
    id: FACE_BACKBONE_ID,
    version,
    inputShape: [CHIP_SIZE, CHIP_SIZE, 3],
    stages: faceApiResnetStages(),
    weights: foldFaceApiWeights(plain),
  });
}

/** Reads face-api's `face_recognition_model` through a loader as a weight map (the caller disposes it). */
export async function loadFaceApiRecognitionWeights(models: FaceModelLoader): Promise<tf.NamedTensorMap> {
  let captured: tf.NamedTensorMap | undefined;
  // loadFaceNet checks the manifest against the shards and decodes (dequantises) the weights.
  const sink: FaceApiNet = {
    get isLoaded() {
      return captured !== undefined;
    },
    loadFromWeightMap(map) {
      captured = map;
    },
    dispose() {},
  };
  await loadFaceNet(sink, models, 'face_recognition_model');
  return captured!;
}

export interface FaceApiResnetOptions {
  /** Where face-api's model files are. Default (Node only): the installed package's `model/` folder. */
  models?: FaceModelLoader;
  /** Version recorded in feature specs. Default (Node only): the installed face-api package's version. */
  version?: string;
}

/**
 * Loads face-api's recognition weights and builds the backbone.
 *
 * @throws FedexError FACE_MODEL_LOAD when the weights are missing or do not match the network.
 * @example
 * await initRuntime();
 * const resnet = await createFaceApiResnet();
 * const f = resnet.bottom(chips, 'stage128'); // [n, 8, 8, 128]
 * const top = resnet.upperStage('stage128');  // [n, 8, 8, 128] → [n, 128], pretrained, trainable
 */
export async function createFaceApiResnet(options: FaceApiResnetOptions = {}): Promise<Backbone> {
  let { models, version } = options;
  if (!models || !version) {
    if (typeof globalThis.process?.versions?.node !== 'string') {
      throw new FedexError('BAD_ARGUMENT', 'createFaceApiResnet: pass `models` and `version` outside Node');
    }
    // Variable specifiers: bundlers for the browser must not pull the Node adapters in.
    const files = '../../platform/node/model-files.js';
    const pkg = '../../platform/node/backbone-files.js';
    const node = (await import(
      /* @vite-ignore */ files
    )) as typeof import('../../platform/node/model-files.js');
    const nodePkg = (await import(
      /* @vite-ignore */ pkg
    )) as typeof import('../../platform/node/backbone-files.js');
    models ??= node.fileModelLoader();
    version ??= nodePkg.faceApiVersion();
  }
  const weightMap = await loadFaceApiRecognitionWeights(models);
  try {
    return faceApiResnetFromWeightMap(weightMap, version);
  } finally {
    tf.dispose(Object.values(weightMap));
  }
}
