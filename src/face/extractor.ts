/**
 * `createFaceExtractor`: the face pipeline as a `FeatureExtractor` — one photo in, the 128-d
 * descriptor of its main face out (or null when no face is found). This is the "bottom" a device
 * runs once per photo; its output feeds the uploaded feature batches.
 *
 * Platform-neutral. Options are plain data (they cross into worker threads by structured clone);
 * the platform (face-api build + model files) is a separate argument. Without one, Node gets
 * `nodeFacePlatform()` through a dynamic import that browser bundles never follow; a browser
 * caller passes `browserFacePlatform(...)`.
 */
import { FedexError } from '../core/errors.js';
import type { FeatureExtractor, FeatureSpec, RawImage } from '../core/types.js';
import { urlModelLoader } from './models.js';
import {
  type AnalyzedFace,
  createFacePipeline,
  type FacePipeline,
  type FacePipelineOptions,
  type FacePlatform,
  type FaceStats,
} from './pipeline.js';

/** Options of `createFaceExtractor`: the pipeline's (see `DEFAULT_FACE_OPTIONS`) plus where models are. */
export interface FaceExtractorOptions extends FacePipelineOptions {
  /** Node only: folder with face-api's model files. Default: the installed package's `model/`. */
  modelDir?: string;
  /** Load model files from this base URL over `fetch` instead (any platform). */
  modelUrl?: string;
}

/** Backbone id of the face-api / dlib ResNet descriptor. */
export const FACE_BACKBONE_ID = 'faceapi-resnet';

/** A FeatureExtractor over the face pipeline, with its timings and detection-path counts. */
export interface FaceExtractor extends FeatureExtractor {
  /** The pipeline underneath (stages, chips, options). */
  readonly pipeline: FacePipeline;
  /** The main face through every stage (box, landmarks, chip, descriptor), or null. */
  extractFace(image: RawImage): Promise<AnalyzedFace | null>;
  /** Cumulative stage timings (detect / landmarks / align / descriptor ms) and path counts. */
  stats(): FaceStats;
}

async function defaultPlatform(options: FaceExtractorOptions): Promise<FacePlatform> {
  const isNode = typeof globalThis.process?.versions?.node === 'string';
  if (!isNode) {
    throw new FedexError(
      'BAD_ARGUMENT',
      'createFaceExtractor: pass a platform outside Node (browserFacePlatform from src/platform/browser/face.ts)',
    );
  }
  // A variable specifier: bundlers for the browser must not pull the Node adapter in.
  const spec = '../platform/node/face.js';
  const mod = (await import(/* @vite-ignore */ spec)) as typeof import('../platform/node/face.js');
  return mod.nodeFacePlatform(options.modelDir);
}

/**
 * Loads the face networks and returns an extractor with spec
 * `{ backboneId: 'faceapi-resnet', backboneVersion: <face-api version>, split: 'embedding', shape: [128] }`.
 *
 * @throws FedexError FACE_MODEL_LOAD (model files missing or broken), BAD_ARGUMENT (bad options).
 * @example
 * await initRuntime();
 * const extractor = await createFaceExtractor({ detector: 'ssd' });
 * const descriptor = await extractor.extract(await readImageFile('anna.jpg')); // Float32Array(128) | null
 */
export async function createFaceExtractor(
  options: FaceExtractorOptions = {},
  platform?: FacePlatform,
): Promise<FaceExtractor> {
  const { modelDir: _modelDir, modelUrl, ...pipelineOptions } = options;
  let chosen = platform ?? (await defaultPlatform(options));
  if (modelUrl) chosen = { ...chosen, models: urlModelLoader(modelUrl) };
  const pipeline = await createFacePipeline(chosen, pipelineOptions);
  const spec: FeatureSpec = Object.freeze({
    backboneId: FACE_BACKBONE_ID,
    backboneVersion: pipeline.version,
    split: 'embedding',
    shape: [128],
  });

  const extractFace = async (image: RawImage): Promise<AnalyzedFace | null> => {
    const { faces, main } = await pipeline.analyze(image, { faces: 'main' });
    return main < 0 ? null : faces[main];
  };

  return {
    spec,
    pipeline,
    extractFace,
    async extract(image: RawImage): Promise<Float32Array | null> {
      return (await extractFace(image))?.descriptor ?? null;
    },
    stats: () => pipeline.stats(),
    dispose: () => pipeline.dispose(),
  };
}
