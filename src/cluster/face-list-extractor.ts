/**
 * Every face of a photo (box, score, chip transform, descriptor) as one "feature" — a face-list
 * record (../face/face-list.ts) — so `fedex cluster` runs through `extractDataset` like
 * `fedex extract` does: photos hashed, hits served from the persistent feature cache, misses
 * extracted on the worker-thread pool.
 *
 * The cache keys on the spec (`split` names the record layout, `shape` its slot count) and on the
 * source's options (`sourceVariant`), so 1-view and 6-view descriptors, or all faces and the main
 * face, never share entries.
 *
 * Node-only as a source (it initialises the tfjs runtime in each worker, as ./main-face-box.ts).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FedexError } from '../core/errors.js';
import type { FeatureExtractor, FeatureSpec, RawImage } from '../core/types.js';
import type { ExtractorSource } from '../data/extractor-source.js';
import type { FaceExtractorOptions } from '../face/extractor.js';
import {
  encodeFaceList,
  FACE_LIST_FORMAT,
  FACE_LIST_MAX,
  faceListLength,
  type ListedFace,
} from '../face/face-list.js';

/** Options of {@link createFaceListExtractor} (plain data: they cross into worker threads). */
export interface FaceListExtractorOptions {
  /** `all`: every face of the photo (at most FACE_LIST_MAX); `main`: its main face only. Default `all`. */
  faces?: 'all' | 'main';
  /** Face pipeline options (detector, `descriptorViews`, ...). Default: the pipeline's defaults. */
  face?: FaceExtractorOptions;
}

/** Defaults of {@link FaceListExtractorOptions}. */
export const DEFAULT_FACE_LIST_OPTIONS = { faces: 'all' } as const satisfies FaceListExtractorOptions;

/** Face slots of a record: FACE_LIST_MAX for all faces, one for the main face. */
export function faceListSlots(faces: 'all' | 'main'): number {
  return faces === 'main' ? 1 : FACE_LIST_MAX;
}

/**
 * The extractor's spec, known without loading any model (so a fully cached run builds none).
 * The layout version is in the split: a new layout gets new cache files, never a misread record.
 */
export function faceListSpec(faces: 'all' | 'main' = DEFAULT_FACE_LIST_OPTIONS.faces): FeatureSpec {
  const require = createRequire(import.meta.url);
  const { version } = require('@vladmandic/face-api/package.json') as { version: string };
  return {
    backboneId: 'faceapi-resnet',
    backboneVersion: version,
    split: `face-list-v${FACE_LIST_FORMAT}`,
    shape: [faceListLength(faceListSlots(faces))],
  };
}

/**
 * The source of {@link createFaceListExtractor} for `extractDataset` (pool and cache). The
 * options are spelled out in full, so the cache variant does not depend on how they were written.
 *
 * @example
 * const set = await extractDataset({ dataset, source: faceListSource({ faces: 'all', face: { descriptorViews: 6 } }), spec: faceListSpec('all') });
 */
export function faceListSource(options: FaceListExtractorOptions = {}): ExtractorSource {
  // This module's own extension: `.ts` when run from source, `.js` once built.
  const ext = path.extname(fileURLToPath(import.meta.url)) || '.js';
  return {
    kind: 'module',
    url: new URL(`./face-list-extractor${ext}`, import.meta.url).href,
    exportName: 'createFaceListExtractor',
    options: {
      faces: options.faces ?? DEFAULT_FACE_LIST_OPTIONS.faces,
      face: { descriptorViews: 1, ...options.face },
    } satisfies FaceListExtractorOptions,
  };
}

/**
 * Loads the face networks; `extract(photo)` gives the photo's face-list record, or null when no
 * face has a descriptor.
 *
 * @throws FedexError FACE_MODEL_LOAD, BAD_ARGUMENT.
 * @example
 * const ex = await createFaceListExtractor({ faces: 'all', face: { descriptorViews: 6 } });
 * const list = decodeFaceList((await ex.extract(photo))!);
 */
export async function createFaceListExtractor(
  options: FaceListExtractorOptions = {},
): Promise<FeatureExtractor> {
  const faces = options?.faces ?? DEFAULT_FACE_LIST_OPTIONS.faces;
  if (faces !== 'all' && faces !== 'main')
    throw new FedexError('BAD_ARGUMENT', `faces must be "all" or "main", got ${JSON.stringify(faces)}`);
  const { initRuntime } = await import('../runtime/node.js');
  await initRuntime();
  const { createFaceExtractor } = await import('../face/extractor.js');
  const face = await createFaceExtractor(options?.face ?? {});
  const spec = Object.freeze({ ...faceListSpec(faces), backboneVersion: face.pipeline.version });
  const slots = faceListSlots(faces);
  return {
    spec,
    async extract(image: RawImage): Promise<Float32Array | null> {
      const analysis = await face.pipeline.analyze(image, { faces });
      const listed: Array<Omit<ListedFace, 'index'>> = [];
      let main = -1;
      analysis.faces.forEach((f, i) => {
        if (!f.descriptor) return;
        if (i === analysis.main) main = listed.length;
        listed.push({
          box: f.box,
          score: f.score,
          chipTransform: f.aligned.transform,
          descriptor: f.descriptor,
        });
      });
      return listed.length === 0 ? null : encodeFaceList({ faces: listed, main }, slots);
    },
    dispose: () => face.dispose(),
  };
}
