/**
 * The browser entry of the device SDK, bundled by `scripts/build-sdk.ts` into
 * `fedex-device.js`, which the FedEx server serves at `/sdk/fedex-device.js`. A page imports it,
 * calls `createBrowserFaceExtractor` (or, with the full SDK, `createBrowserDevice`) and feeds it
 * photos through `rawImageFrom`; only features leave the page.
 *
 * Must not import Node built-ins (the build fails if anything here reaches one).
 */
import { createFaceExtractor, type FaceExtractor, type FaceExtractorOptions } from '../face/extractor.js';
import { browserFacePlatform } from '../platform/browser/face.js';
import {
  initBrowserRuntime,
  type BrowserRuntimeInfo,
  type BrowserRuntimeOptions,
} from '../runtime/browser.js';

export { rawImageFrom, type BrowserImageSource } from '../platform/browser/image.js';
export { browserFacePlatform } from '../platform/browser/face.js';
export {
  initBrowserRuntime,
  type BrowserRuntimeInfo,
  type BrowserRuntimeOptions,
  tf,
} from '../runtime/browser.js';
export { createFaceExtractor, type FaceExtractor } from '../face/extractor.js';

/** Where the FedEx server serves the SDK's static files, relative to its base URL. */
export const SDK_PATHS = { models: 'sdk/models/face-api/', wasm: 'sdk/wasm/' } as const;

/** Options of `createBrowserFaceExtractor`. */
export interface BrowserFaceExtractorOptions {
  /** Base URL of the FedEx server (default: the page's origin). Models and `.wasm` come from it. */
  server?: string;
  /** Runtime options (backend, wasm URL); the wasm URL defaults to `<server>/sdk/wasm/`. */
  runtime?: BrowserRuntimeOptions;
  /** Face pipeline options (detector, thresholds...). */
  face?: FaceExtractorOptions;
}

function baseOf(server: string | undefined): string {
  const base = server ?? globalThis.location?.origin;
  if (!base) throw new Error('createBrowserFaceExtractor: pass `server` (no page origin here)');
  return base.endsWith('/') ? base : `${base}/`;
}

/**
 * Starts the WASM runtime and loads the face networks from the server: the frozen bottom a phone
 * runs once per photo.
 *
 * @example
 * const { extractor } = await createBrowserFaceExtractor({ server: 'https://fedex.example.org' });
 * const descriptor = await extractor.extract(await rawImageFrom(file)); // Float32Array(128) | null
 */
export async function createBrowserFaceExtractor(
  options: BrowserFaceExtractorOptions = {},
): Promise<{ extractor: FaceExtractor; runtime: BrowserRuntimeInfo }> {
  const base = baseOf(options.server);
  const runtime = await initBrowserRuntime({ wasmUrl: base + SDK_PATHS.wasm, ...options.runtime });
  const extractor = await createFaceExtractor(
    options.face ?? {},
    browserFacePlatform(base + SDK_PATHS.models),
  );
  return { extractor, runtime };
}
