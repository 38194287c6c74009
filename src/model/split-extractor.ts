/**
 * `createSplitExtractor`: a `FeatureExtractor` that cuts a backbone at a split point — photo →
 * face pipeline (detect, landmarks, align) → the main face's aligned chip → `backbone.bottom(split)`
 * → one feature of `backbone.spec(split)`. This is what a FedEx device runs once per photo; with
 * `extractDataset` and a `module` source it also fills the feature cache with intermediate
 * features (the cache keys on the spec, so each split has its own).
 *
 * The chip is the face pipeline's 150×150 RGB chip (values 0..255); a backbone with another input
 * size gets it resized (bilinear). Every backbone takes 0..255 and normalises inside its bottom.
 *
 * Options are plain data (they cross into worker threads); the face platform is a separate
 * argument, defaulting in Node to `nodeFacePlatform()` (see ../face/extractor.ts).
 *
 * Platform-neutral. Tensor hygiene: nothing survives a call but the returned Float32Array.
 */
import * as tf from '@tensorflow/tfjs';
import { FedexError } from '../core/errors.js';
import type { FeatureExtractor, FeatureSpec, RawImage } from '../core/types.js';
import type { FaceExtractorOptions } from '../face/extractor.js';
import { urlModelLoader } from '../face/models.js';
import { CHIP_SIZE, createFacePipeline, type FacePipeline, type FacePlatform } from '../face/pipeline.js';
import { type BackboneOptions, loadBackbone } from './backbones/registry.js';
import type { Backbone } from './types.js';

export { assertSameSpec } from './backbones/registry.js';

/** Options of `createSplitExtractor` (plain data). */
export interface SplitExtractorOptions {
  /** Backbone id (see `backboneIds()`), e.g. `faceapi-resnet`. */
  backbone: string;
  /** Split point name, e.g. `stage128` or `embedding`. */
  split: string;
  /** Passed to `loadBackbone` (e.g. `{ seed }` for `tiny-cnn`). */
  backboneOptions?: BackboneOptions;
  /** Face pipeline options and model location (defaults: `DEFAULT_FACE_OPTIONS`, face-api's `model/`). */
  face?: FaceExtractorOptions;
}

/** A FeatureExtractor over face pipeline + backbone bottom. */
export interface SplitExtractor extends FeatureExtractor {
  readonly backbone: Backbone;
  readonly pipeline: FacePipeline;
  /** Features of aligned chips (150×150 RGB, as `FacePipeline.align` makes them), one per chip. */
  extractChips(chips: readonly RawImage[]): Float32Array[];
}

async function defaultPlatform(face: FaceExtractorOptions): Promise<FacePlatform> {
  if (typeof globalThis.process?.versions?.node !== 'string') {
    throw new FedexError('BAD_ARGUMENT', 'createSplitExtractor: pass a face platform outside Node');
  }
  // Variable specifiers: bundlers for the browser must not pull the Node adapters in.
  const runtime = '../runtime/node.js';
  const faceSpec = '../platform/node/face.js';
  // A worker thread building this from a `module` source has no backend yet; never switch one
  // that the caller already chose (e.g. `cpu` in a numerical test).
  if (!tf.getBackend()) {
    const rt = (await import(/* @vite-ignore */ runtime)) as typeof import('../runtime/node.js');
    await rt.initRuntime();
  }
  const mod = (await import(/* @vite-ignore */ faceSpec)) as typeof import('../platform/node/face.js');
  return mod.nodeFacePlatform(face.modelDir);
}

function checkChip(chip: RawImage, i: number): void {
  if (
    chip.width !== CHIP_SIZE ||
    chip.height !== CHIP_SIZE ||
    chip.data.length !== CHIP_SIZE * CHIP_SIZE * 3
  ) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `chip ${i} is ${chip.width}x${chip.height}, expected ${CHIP_SIZE}x${CHIP_SIZE} RGB`,
    );
  }
}

/**
 * Runs `backbone.bottom(split)` on chips (150×150 RGB 0..255), resizing them to the backbone's
 * input when it differs. Returns one Float32Array per chip.
 */
export function chipFeatures(backbone: Backbone, split: string, chips: readonly RawImage[]): Float32Array[] {
  if (chips.length === 0) return [];
  chips.forEach(checkChip);
  const [h, w] = backbone.inputShape;
  const values = tf.tidy(() => {
    const data = new Float32Array(chips.length * CHIP_SIZE * CHIP_SIZE * 3);
    chips.forEach((c, i) => data.set(c.data, i * CHIP_SIZE * CHIP_SIZE * 3));
    let x = tf.tensor4d(data, [chips.length, CHIP_SIZE, CHIP_SIZE, 3], 'float32');
    if (h !== CHIP_SIZE || w !== CHIP_SIZE) x = tf.image.resizeBilinear(x, [h, w]);
    return backbone.bottom(x, split).dataSync() as Float32Array;
  });
  const dim = values.length / chips.length;
  return chips.map((_, i) => values.slice(i * dim, (i + 1) * dim));
}

/**
 * Loads the face networks and the backbone; returns an extractor with spec `backbone.spec(split)`.
 * Usable as a data-module source:
 * `{ kind: 'module', url: <this file>, exportName: 'createSplitExtractor', options: { backbone, split } }`.
 *
 * @throws FedexError MODEL_UNKNOWN_BACKBONE, MODEL_UNKNOWN_SPLIT, FACE_MODEL_LOAD, BAD_ARGUMENT.
 * @example
 * await initRuntime();
 * const ex = await createSplitExtractor({ backbone: 'faceapi-resnet', split: 'stage128' });
 * const f = await ex.extract(photo); // Float32Array(8 * 8 * 128) | null
 */
export async function createSplitExtractor(
  options: SplitExtractorOptions,
  platform?: FacePlatform,
): Promise<SplitExtractor> {
  if (!options || typeof options.backbone !== 'string' || typeof options.split !== 'string') {
    throw new FedexError('BAD_ARGUMENT', 'createSplitExtractor needs { backbone, split }');
  }
  const face = options.face ?? {};
  const { modelDir: _modelDir, modelUrl, ...pipelineOptions } = face;
  let chosen = platform ?? (await defaultPlatform(face));
  if (modelUrl) chosen = { ...chosen, models: urlModelLoader(modelUrl) };
  const backbone = await loadBackbone(options.backbone, options.backboneOptions);
  let pipeline: FacePipeline;
  let spec: FeatureSpec;
  try {
    spec = Object.freeze(backbone.spec(options.split));
    pipeline = await createFacePipeline(chosen, pipelineOptions);
  } catch (e) {
    backbone.dispose();
    throw e;
  }
  const split = options.split;
  return {
    spec,
    backbone,
    pipeline,
    extractChips: (chips) => chipFeatures(backbone, split, chips),
    async extract(image: RawImage): Promise<Float32Array | null> {
      const { faces, main } = await pipeline.analyze(image, { faces: 'main', descriptors: false });
      if (main < 0) return null;
      return chipFeatures(backbone, split, [faces[main].aligned.chip])[0];
    },
    dispose() {
      pipeline.dispose();
      backbone.dispose();
    },
  };
}
