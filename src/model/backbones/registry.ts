/**
 * Backbones by id: what each one is, its split points (known without loading any weights, for
 * --help, the split-point explorer and spec checks) and how to load it. Options are plain data, so
 * a `{ backbone, split, backboneOptions }` triple can cross into worker threads.
 *
 * Platform-neutral: loaders that read files in Node import their adapters dynamically; in a
 * browser, pass `modelUrl`.
 */
import { FedexError } from '../../core/errors.js';
import type { FeatureSpec } from '../../core/types.js';
import type { Backbone, SplitPoint } from '../types.js';
import { FACEAPI_RESNET_ID, FACEAPI_RESNET_SPLITS, createFaceApiResnet } from './faceapi-resnet.js';
import { FACERES_ID, FACERES_SPLITS, createFaceres } from './faceres.js';
import { TINY_CNN_ID, TINY_CNN_SPLITS, createTinyCnn } from './tiny-cnn.js';

/** Options of `loadBackbone` (plain data). Each backbone reads the ones it knows. */
export interface BackboneOptions {
  /** `tiny-cnn`: seed of the random weights (default 1). */
  seed?: number;
  /** Node: folder with the model files (default: the folder inside the npm package). */
  modelDir?: string;
  /** Any platform: base URL to fetch the model files from. */
  modelUrl?: string;
  /**
   * Version of the weights, recorded in feature specs. Default (Node): the installed package's
   * version; a browser loading from `modelUrl` must say it.
   */
  version?: string;
}

/** A registered backbone. */
export interface BackboneEntry {
  readonly id: string;
  readonly description: string;
  /** One sample's input, RGB values 0..255. */
  readonly inputShape: readonly number[];
  readonly splits: readonly SplitPoint[];
  /** The split a device uses unless told otherwise. */
  readonly defaultSplit: string;
  load(options?: BackboneOptions): Promise<Backbone>;
}

async function faceApiModels(options: BackboneOptions) {
  if (options.modelUrl) {
    const { urlModelLoader } = await import('../../face/models.js');
    return urlModelLoader(options.modelUrl);
  }
  if (options.modelDir) {
    const spec = '../../platform/node/model-files.js';
    const node = (await import(
      /* @vite-ignore */ spec
    )) as typeof import('../../platform/node/model-files.js');
    return node.fileModelLoader(options.modelDir);
  }
  return undefined;
}

async function faceresHandler(options: BackboneOptions) {
  if (options.modelUrl) {
    const base = options.modelUrl.endsWith('/') ? options.modelUrl : `${options.modelUrl}/`;
    const tf = await import('@tensorflow/tfjs');
    return tf.io.http(`${base}faceres.json`);
  }
  if (options.modelDir) {
    const spec = '../../platform/node/backbone-files.js';
    const node = (await import(
      /* @vite-ignore */ spec
    )) as typeof import('../../platform/node/backbone-files.js');
    return node.fileModelJsonHandler(`${options.modelDir}/faceres.json`);
  }
  return undefined;
}

const ENTRIES: readonly BackboneEntry[] = Object.freeze([
  {
    id: FACEAPI_RESNET_ID,
    description: 'face-api / dlib ResNet face descriptor: 150×150 aligned chip → 128-d (99.38% LFW)',
    inputShape: [150, 150, 3],
    splits: FACEAPI_RESNET_SPLITS,
    defaultSplit: 'embedding',
    load: async (o: BackboneOptions = {}) =>
      createFaceApiResnet({ models: await faceApiModels(o), version: o.version }),
  },
  {
    id: FACERES_ID,
    description: "@vladmandic/human's faceres (MobileNetV1): 224×224 face → 1024-d descriptor",
    inputShape: [224, 224, 3],
    splits: FACERES_SPLITS,
    defaultSplit: 'conv_pw_11',
    load: async (o: BackboneOptions = {}) =>
      createFaceres({ handler: await faceresHandler(o), version: o.version }),
  },
  {
    id: TINY_CNN_ID,
    description: 'small CNN with seeded random weights (32×32 input → 16-d), for fast tests',
    inputShape: [32, 32, 3],
    splits: TINY_CNN_SPLITS,
    defaultSplit: 'conv2',
    load: async (o: BackboneOptions = {}) => createTinyCnn({ seed: o.seed }),
  },
]);

/** Ids of every registered backbone. */
export function backboneIds(): string[] {
  return ENTRIES.map((e) => e.id);
}

/**
 * The registry entry of `id`.
 *
 * @throws FedexError MODEL_UNKNOWN_BACKBONE
 */
export function backboneEntry(id: string): BackboneEntry {
  const e = ENTRIES.find((x) => x.id === id);
  if (!e) {
    throw new FedexError(
      'MODEL_UNKNOWN_BACKBONE',
      `unknown backbone "${id}" (known: ${backboneIds().join(', ')})`,
    );
  }
  return e;
}

/**
 * The split point `split` of backbone `id`, without loading it.
 *
 * @throws FedexError MODEL_UNKNOWN_BACKBONE, MODEL_UNKNOWN_SPLIT
 */
export function splitPoint(id: string, split: string): SplitPoint {
  const e = backboneEntry(id);
  const s = e.splits.find((x) => x.name === split);
  if (!s) {
    throw new FedexError(
      'MODEL_UNKNOWN_SPLIT',
      `backbone ${id} has no split "${split}" (splits: ${e.splits.map((x) => x.name).join(', ')})`,
    );
  }
  return s;
}

/**
 * The feature shape that backbone `id` produces at `split`, fixed by code; undefined when the
 * backbone or the split is not registered (the server then treats the spec as its uploader's own).
 *
 * @example
 * registeredSplitShape('faceapi-resnet', 'embedding'); // [128]
 */
export function registeredSplitShape(id: string, split: string): readonly number[] | undefined {
  return ENTRIES.find((x) => x.id === id)?.splits.find((x) => x.name === split)?.shape;
}

/**
 * Loads a backbone by id.
 *
 * @throws FedexError MODEL_UNKNOWN_BACKBONE; FACE_MODEL_LOAD when its weights cannot be read.
 * @example
 * const resnet = await loadBackbone('faceapi-resnet');
 * const tiny = await loadBackbone('tiny-cnn', { seed: 3 });
 */
export async function loadBackbone(id: string, options: BackboneOptions = {}): Promise<Backbone> {
  return backboneEntry(id).load(options);
}

/**
 * Throws FEATURE_MISMATCH unless `actual` is the same spec as `expected` (backbone, version, split
 * and shape): features from one backbone or split are never fed to another's top.
 *
 * @example
 * assertSameSpec(top.spec, batch.spec);
 */
export function assertSameSpec(expected: FeatureSpec, actual: FeatureSpec, context = 'features'): void {
  const same =
    expected.backboneId === actual.backboneId &&
    expected.backboneVersion === actual.backboneVersion &&
    expected.split === actual.split &&
    expected.shape.length === actual.shape.length &&
    expected.shape.every((d, i) => d === actual.shape[i]);
  if (!same) {
    const show = (s: FeatureSpec): string =>
      `${s.backboneId}@${s.backboneVersion}/${s.split} [${s.shape.join(', ')}]`;
    throw new FedexError('FEATURE_MISMATCH', `${context}: expected ${show(expected)}, got ${show(actual)}`);
  }
}
