/**
 * An extraction worker thread: builds its own extractor from the source in `workerData`, then reads,
 * decodes and extracts one photo per `job` message, replying with the features (buffer transferred).
 * Started by `extract-pool.ts` through `extract-worker-boot.mjs` (which registers tsx so this `.ts`
 * file loads). A failure to build the extractor is reported as `fatal`; the pool terminates us.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { loadExtractorSource } from './extractor-source.js';
import {
  processPhoto,
  serializeError,
  type WorkerInit,
  type WorkerReply,
  type WorkerRequest,
} from './extract-protocol.js';

const port = parentPort;
if (!port) throw new Error('extract-worker.ts must run in a worker thread');
const init = workerData as WorkerInit;

function reply(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

try {
  const { extractor, readImage } = await loadExtractorSource(init.source);
  // Jobs are handled one at a time, in order, even if the pool ever sends several.
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (msg: WorkerRequest) => {
    chain = chain.then(async () => {
      try {
        const outcome = await processPhoto(extractor, readImage, msg.path);
        if (outcome.kind !== 'face') return reply({ type: 'result', key: msg.key, outcome });
        // Transfer only a buffer we own whole (never a view into WASM memory or a shared buffer).
        let f = outcome.features;
        if (!(f.buffer instanceof ArrayBuffer) || f.byteOffset !== 0 || f.byteLength !== f.buffer.byteLength)
          f = f.slice();
        reply({ type: 'result', key: msg.key, outcome: { kind: 'face', features: f } }, [
          f.buffer as ArrayBuffer,
        ]);
      } catch (e) {
        reply({ type: 'failed', key: msg.key, error: serializeError(e) });
      }
    });
  });
  reply({ type: 'ready', spec: extractor.spec });
} catch (e) {
  reply({ type: 'fatal', error: serializeError(e) });
}
