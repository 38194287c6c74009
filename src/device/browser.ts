/**
 * The browser entry of the device SDK, bundled by `scripts/build-sdk.ts` into
 * `fedex-device.js`, which the FedEx server serves at `/sdk/fedex-device.js`. A page imports it,
 * calls `createBrowserDevice` (or only `createBrowserFaceExtractor`) and feeds it photos through
 * `rawImageFrom`; only features leave the page.
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
import { FACE_EMBEDDING_FLOPS } from './costs.js';
import { FedexDevice } from './sdk.js';
import { IndexedDbDeviceStore } from './store/indexeddb.js';
import type { DeviceOptions, DeviceStore } from './types.js';

export { FedexDevice, DEFAULT_DEVICE_OPTIONS } from './sdk.js';
export type { AddPhotoResult, DeviceStatus, Enrollment, PullResult, SyncResult } from './sdk.js';
export { IndexedDbDeviceStore } from './store/indexeddb.js';
export { MemoryDeviceStore } from './store/memory.js';
export { UNKNOWN } from './types.js';
export type { Candidate, DeviceCosts, DeviceOptions, DeviceStore, Prediction } from './types.js';
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

/** Options of `createBrowserDevice`: the device's, without the parts this function makes. */
export interface BrowserDeviceOptions
  extends Omit<DeviceOptions, 'server' | 'store' | 'extractor'>, BrowserFaceExtractorOptions {
  /** Base URL of the FedEx server (default: the page's origin). */
  server?: string;
  /** Where the device keeps its state. Default: IndexedDB database `storeName`. */
  store?: DeviceStore;
  /** IndexedDB database name when no `store` is given. Default `fedex-device`. */
  storeName?: string;
}

/** Default IndexedDB database of `createBrowserDevice`. */
export const DEFAULT_BROWSER_STORE = 'fedex-device';

/**
 * A ready device in one call: WASM runtime, face bottom loaded from the server, state in IndexedDB
 * (so enrollment, queued uploads and the pulled model survive a reload).
 *
 * @example
 * const device = await createBrowserDevice({ server: 'https://fedex.example.org' });
 * if (!device.enrolled) await device.enroll({ enrollmentToken, name: 'my phone' });
 * await device.addPhoto(await rawImageFrom(file), { id: file.name, label: 'Ann' });
 * await device.sync();
 */
export async function createBrowserDevice(options: BrowserDeviceOptions = {}): Promise<FedexDevice> {
  const { server, store, storeName, runtime, face, ...deviceOptions } = options;
  const base = baseOf(server);
  const { extractor } = await createBrowserFaceExtractor({ server: base, runtime, face });
  try {
    return await FedexDevice.open({
      flopsPerPhoto: FACE_EMBEDDING_FLOPS,
      ...deviceOptions,
      server: base.replace(/\/$/, ''),
      store: store ?? (await IndexedDbDeviceStore.open(storeName ?? DEFAULT_BROWSER_STORE)),
      extractor,
    });
  } catch (e) {
    extractor.dispose();
    throw e;
  }
}
