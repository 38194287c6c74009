/**
 * The face pipeline's platform in the browser: face-api's ESM build without its own tfjs copy
 * (`face-api.esm-nobundle.js` imports `@tensorflow/tfjs`, so it shares the app's engine and
 * backend), and model files fetched from a base URL (the FedEx server serves face-api's `model/`
 * folder statically).
 *
 * Run in headless Chromium by `src/device/browser-face.test.ts` (descriptors match Node's) and
 * `src/device/browser-e2e.test.ts`; `urlModelLoader` is also tested in Node against a real server.
 * In a Web Worker (the face app imports photos in one) face-api finds no `window` and sets no
 * environment; `workerEnvironment` gives it one (the pipeline only hands it tensors).
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
  workerEnvironment();
  // face-api's typings inline their own tfjs classes; at run time it is the app's tfjs.
  return { faceapi: faceapi as unknown as FaceApiModule, models: urlModelLoader(modelBaseUrl) };
}

/** A class no value is an instance of: a worker has no <img> or <video>. */
class NoElement {}

/**
 * Sets face-api's environment where it set none (a worker: no `window`, no DOM). Its checks of
 * "is this input an <img>/<canvas>/<video>" then answer no, and canvases are OffscreenCanvases;
 * a tab keeps face-api's own browser environment.
 */
function workerEnvironment(): void {
  try {
    faceapi.env.getEnv();
    return;
  } catch {
    // no environment: a worker
  }
  if (typeof OffscreenCanvas === 'undefined') return;
  const noDom = (what: string) => (): never => {
    throw new Error(`face-api asked for ${what}, which a worker does not have`);
  };
  faceapi.env.setEnv({
    // Types name DOM classes; in a worker the closest real ones stand in for them.
    Canvas: OffscreenCanvas as unknown as typeof HTMLCanvasElement,
    CanvasRenderingContext2D: OffscreenCanvasRenderingContext2D as unknown as typeof CanvasRenderingContext2D,
    Image: NoElement as unknown as typeof HTMLImageElement,
    ImageData,
    Video: NoElement as unknown as typeof HTMLVideoElement,
    createCanvasElement: () => new OffscreenCanvas(1, 1) as unknown as HTMLCanvasElement,
    createImageElement: noDom('an <img>'),
    createVideoElement: noDom('a <video>'),
    fetch: (url: string, init?: RequestInit) => fetch(url, init),
    readFile: noDom('a file system'),
  });
}
