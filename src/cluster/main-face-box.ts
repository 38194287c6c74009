/**
 * Where each photo's main face is, as a "feature extractor" whose 4 features are the main face's
 * box — so it runs through `extractDataset` (worker threads, the persistent cache keyed by photo
 * hash) like descriptors do. Used to check LFW labels: an LFW photo is a crop centred on the named
 * person, so when the main face the pipeline found sits far from the centre, the face that was
 * described is a bystander's (the detector missed the subject), and its LFW name is wrong for it.
 *
 * Features: `[dx, dy, w, h]`, the box centre's offset from the image centre and the box size, all
 * as fractions of the image width (x) and height (y). No face: `null`, as for descriptors.
 *
 * Node-only as a source (it initialises the tfjs runtime in each worker); the check itself
 * (`offCentre`) is pure.
 */
import { createRequire } from 'node:module';
import type { FeatureExtractor, FeatureSpec, RawImage } from '../core/types.js';
import type { FaceExtractorOptions } from '../face/extractor.js';
import type { Box } from '../face/geometry.js';
import { chooseMainFace } from '../face/main-face.js';

/** The box "feature" spec (its own cache file, apart from descriptors). */
export function mainFaceBoxSpec(): FeatureSpec {
  const require = createRequire(import.meta.url);
  const { version } = require('@vladmandic/face-api/package.json') as { version: string };
  return { backboneId: 'faceapi-main-face-box', backboneVersion: version, split: 'box', shape: [4] };
}

/**
 * The extractor (an `ExtractorSource` of kind `module`: `{ kind: 'module', url: <this file>,
 * exportName: 'createMainFaceBoxExtractor' }`). Options are the face pipeline's; the defaults
 * match the descriptors' defaults, so the same face is located.
 */
export async function createMainFaceBoxExtractor(
  options: FaceExtractorOptions = {},
): Promise<FeatureExtractor> {
  const { initRuntime } = await import('../runtime/node.js');
  await initRuntime();
  const { createFaceExtractor } = await import('../face/extractor.js');
  const face = await createFaceExtractor(options ?? {});
  return {
    spec: mainFaceBoxSpec(),
    async extract(image: RawImage): Promise<Float32Array | null> {
      // The same rule the descriptor extractor applies (FacePipeline.analyze with faces: 'main').
      const faces = await face.pipeline.detect(image);
      const main = chooseMainFace(faces, image.width, image.height, {
        minAreaRatio: face.pipeline.options.mainFaceMinAreaRatio,
      });
      if (main < 0) return null;
      return boxFeatures(faces[main].box, image.width, image.height);
    },
    dispose: () => face.dispose(),
  };
}

/**
 * A face box as the 4 features above: `[dx, dy, w, h]`, fractions of the image width and height.
 *
 * @example
 * boxFeatures({ x: 125, y: 75, width: 50, height: 50 }, 250, 250); // [0.1, -0.1, 0.2, 0.2]
 */
export function boxFeatures(b: Box, width: number, height: number): Float32Array {
  return Float32Array.of(
    (b.x + b.width / 2 - width / 2) / width,
    (b.y + b.height / 2 - height / 2) / height,
    b.width / width,
    b.height / height,
  );
}

/** Default largest centre offset (fraction of the image side) of a face taken as the LFW subject: 0.2 (50 px of 250). */
export const DEFAULT_MAX_SUBJECT_OFFSET = 0.2;

/**
 * True when a main-face box (as `createMainFaceBoxExtractor` gives it) is further than
 * `maxOffset` from the image centre — not the subject of a centred crop.
 *
 * @example
 * offCentre(Float32Array.of(0.33, 0.1, 0.2, 0.25)); // true: a face at the side of the photo
 */
export function offCentre(box: Float32Array, maxOffset = DEFAULT_MAX_SUBJECT_OFFSET): boolean {
  return Math.hypot(box[0], box[1]) > maxOffset;
}
