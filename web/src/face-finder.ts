/**
 * Where the face app finds faces: a Web Worker by default (the detector, landmarks and descriptor
 * networks run off the page's thread, so the page answers clicks and keys while 100 photos import),
 * or this tab itself when a worker cannot start (an old browser; `?import=tab` forces it, for
 * comparison). One interface, two implementations; both return the same faces for the same photo.
 */
import type { FeatureExtractor, FeatureSpec } from '../../src/core/types.js';
import { createBrowserFaceExtractor, rawImageFrom } from '../../src/device/browser.js';
import { findFaces, type FoundFace } from './faces.js';
import type { WorkerReply, WorkerRequest } from './import-protocol.js';

/** Finds and describes every face of a photo file. */
export interface FaceFinder {
  /** `worker` or `tab`: where the networks run. */
  readonly where: 'worker' | 'tab';
  /** The spec of the descriptors (the SDK checks uploads against it). */
  readonly spec: FeatureSpec;
  /** URLs the finder fetched (models, wasm), for the offline cache. */
  readonly fetched: readonly string[];
  /** The extractor running in this tab (`tab` only): the SDK can use it as is. */
  readonly extractor?: FeatureExtractor;
  /** The faces of one photo, with the milliseconds it took. Throws when the photo cannot be read. */
  find(file: File): Promise<{ faces: FoundFace[]; ms: number }>;
  dispose(): void;
}

/** A finder that runs the face networks in this tab (what the app did before workers). */
export async function tabFaceFinder(server: string): Promise<FaceFinder> {
  const { extractor } = await createBrowserFaceExtractor({ server });
  return {
    where: 'tab',
    spec: extractor.spec,
    extractor,
    fetched: [],
    async find(file) {
      const t0 = performance.now();
      const faces = await findFaces(extractor, await rawImageFrom(file));
      return { faces, ms: performance.now() - t0 };
    },
    dispose: () => extractor.dispose(),
  };
}

/** A finder backed by `./import-worker.ts`; rejects when the worker cannot start its networks. */
export function workerFaceFinder(server: string, timeoutMs = 120_000): Promise<FaceFinder> {
  const worker = new Worker(new URL('./import-worker.ts', import.meta.url), { type: 'module' });
  let next = 1;
  const waiting = new Map<
    number,
    { resolve: (r: { faces: FoundFace[]; ms: number }) => void; reject: (e: Error) => void }
  >();
  const failAll = (e: Error) => {
    for (const w of waiting.values()) w.reject(e);
    waiting.clear();
  };
  const send = (m: WorkerRequest) => worker.postMessage(m);
  return new Promise<FaceFinder>((resolve, reject) => {
    const timer = setTimeout(() => {
      worker.terminate();
      reject(new Error(`the face worker did not start in ${timeoutMs / 1000} s`));
    }, timeoutMs);
    worker.addEventListener('error', (ev) => {
      clearTimeout(timer);
      const e = new Error(`the face worker stopped: ${ev.message || 'script error'}`);
      failAll(e);
      reject(e);
    });
    worker.addEventListener('message', (ev: MessageEvent<WorkerReply>) => {
      const m = ev.data;
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve({
          where: 'worker',
          spec: m.spec,
          fetched: m.fetched,
          find(file) {
            const id = next++;
            return new Promise((res, rej) => {
              waiting.set(id, { resolve: res, reject: rej });
              send({ type: 'photo', id, file });
            });
          },
          dispose() {
            failAll(new Error('the face worker was stopped'));
            worker.terminate();
          },
        });
      } else if (m.type === 'fatal') {
        clearTimeout(timer);
        worker.terminate();
        reject(new Error(m.message));
      } else {
        const w = waiting.get(m.id);
        if (!w) return;
        waiting.delete(m.id);
        if (m.type === 'faces') w.resolve({ faces: m.faces, ms: m.ms });
        else w.reject(new Error(m.message));
      }
    });
    send({ type: 'init', server });
  });
}

/**
 * The extractor the SDK is opened with when faces are found elsewhere: it carries the spec (the
 * SDK checks feature lengths against it) and refuses to extract (the app hands the SDK descriptors
 * with `addFeatures`).
 */
export function specOnlyExtractor(spec: FeatureSpec): FeatureExtractor {
  return {
    spec,
    extract() {
      return Promise.reject(new Error('faces are found by the face finder; use addFeatures'));
    },
    dispose() {},
  };
}
