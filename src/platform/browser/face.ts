/**
 * The face pipeline's platform in the browser: face-api's ESM build without its own tfjs copy
 * (`face-api.esm-nobundle.js` imports `@tensorflow/tfjs`, so it shares the app's engine and
 * backend), and model files fetched from a base URL (the FedEx server serves face-api's `model/`
 * folder statically).
 *
 * Run in headless Chromium by `src/device/browser-face.test.ts` (descriptors match Node's) and
 * `src/device/browser-e2e.test.ts`; `urlModelLoader` is also tested in Node against a real server.
 */
import * as faceapi from '@vladmandic/face-api/dist/face-api.esm-nobundle.js';
import type { FaceApiModule } from '../../face/faceapi.js';
import { urlModelLoader } from '../../face/models.js';
import type { FacePlatform } from '../../face/pipeline.js';

/**
 * @param modelBaseUrl URL of the folder holding `<model>-weights_manifest.json` and shards.
 * @example
 * const extractor = await createFaceExtractor({}, browserFacePlatform('/models/face-api/'));
 */
export function browserFacePlatform(modelBaseUrl: string): FacePlatform {
  // face-api's typings inline their own tfjs classes; at run time it is the app's tfjs.
  return { faceapi: faceapi as unknown as FaceApiModule, models: urlModelLoader(modelBaseUrl) };
}
