/**
 * The face app's face worker: loads the face networks once (from the server's `/sdk/` routes, like
 * the page did) and finds, describes and crops the faces of each photo the page sends, off the
 * page's thread. Photos never leave the device: the worker is this origin's own script.
 */
import { isFedexError } from '../../src/core/errors.js';
import { createBrowserFaceExtractor, rawImageFrom } from '../../src/device/browser.js';
import type { FaceExtractor } from '../../src/face/extractor.js';
import { findFaces } from './faces.js';
import type { WorkerReply, WorkerRequest } from './import-protocol.js';

const scope = self as unknown as {
  postMessage(m: WorkerReply, transfer?: Transferable[]): void;
  addEventListener(type: 'message', fn: (ev: MessageEvent<WorkerRequest>) => void): void;
};
let extractor: FaceExtractor | null = null;
// One photo at a time, in the order sent.
let chain: Promise<void> = Promise.resolve();

function messageOf(e: unknown): string {
  if (isFedexError(e)) return e.message;
  return e instanceof Error ? e.message : String(e);
}

scope.addEventListener('message', (ev) => {
  const m = ev.data;
  chain = chain.then(async () => {
    if (m.type === 'init') {
      try {
        ({ extractor } = await createBrowserFaceExtractor({ server: m.server }));
        const fetched = performance.getEntriesByType('resource').map((e) => e.name);
        scope.postMessage({ type: 'ready', spec: extractor.spec, fetched });
      } catch (e) {
        scope.postMessage({ type: 'fatal', message: `the face models could not load: ${messageOf(e)}` });
      }
      return;
    }
    if (!extractor) {
      scope.postMessage({ type: 'failed', id: m.id, message: 'the face models are not loaded' });
      return;
    }
    try {
      const t0 = performance.now();
      // Own buffers (a descriptor may be a view into a larger one), so each can be transferred.
      const faces = (await findFaces(extractor, await rawImageFrom(m.file))).map((f) => ({
        ...f,
        descriptor: f.descriptor.slice(),
      }));
      const transfer = faces.flatMap((f) => [f.descriptor.buffer, f.crop.buffer] as ArrayBuffer[]);
      scope.postMessage({ type: 'faces', id: m.id, faces, ms: performance.now() - t0 }, transfer);
    } catch (e) {
      scope.postMessage({ type: 'failed', id: m.id, message: messageOf(e) });
    }
  });
});
