/**
 * The face pipeline's platform in the browser: face-api's ESM build without its own tfjs copy
 * (`face-api.esm-nobundle.js` imports `@tensorflow/tfjs`, so it shares the app's engine and
 * backend), and model files fetched from a base URL (the FedEx server serves face-api's `model/`
 * folder statically).
 *
 * NOT RUN BY THE TEST SUITE YET (Node has no DOM; the device-SDK browser test will load it). The
 * model loader it uses, `urlModelLoader`, is tested in Node against a real HTTP server.
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
