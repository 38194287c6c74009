/**
 * The face pipeline's platform in Node: face-api's `node-wasm` build (loaded with
 * `createRequire`; the package's default entry needs tfjs-node) and model files read from disk.
 * Node-only. The face-api build shares the `@tensorflow/tfjs` engine that `initRuntime()`
 * configures, so call `initRuntime()` before running a pipeline.
 */
import { createRequire } from 'node:module';
import { FedexError } from '../../core/errors.js';
import type { FaceApiModule } from '../../face/faceapi.js';
import type { FacePlatform } from '../../face/pipeline.js';
import { fileModelLoader } from './model-files.js';

const require = createRequire(import.meta.url);
let cached: FaceApiModule | undefined;

/** face-api's Node WASM build, loaded once per process. */
export function nodeFaceApi(): FaceApiModule {
  if (!cached) {
    try {
      cached = require('@vladmandic/face-api/dist/face-api.node-wasm.js') as FaceApiModule;
    } catch (cause) {
      throw new FedexError('FACE_MODEL_LOAD', 'cannot load @vladmandic/face-api (node-wasm build)', {
        cause,
      });
    }
  }
  return cached;
}

/**
 * Node platform for `createFacePipeline` / `createFaceExtractor`.
 *
 * @param modelDir folder with face-api's model files; default: the installed package's `model/`.
 * @example
 * await initRuntime();
 * const pipeline = await createFacePipeline({ platform: nodeFacePlatform() });
 */
export function nodeFacePlatform(modelDir?: string): FacePlatform {
  return { faceapi: nodeFaceApi(), models: fileModelLoader(modelDir) };
}
