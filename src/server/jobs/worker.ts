/**
 * A training worker thread: initialises tfjs (WASM) once, then trains one job per `train` message
 * — reads the scope's training set and current model through its own read-only store connection
 * (the SQLite file, or its own PostgreSQL pool),
 * runs `trainScope`, and replies with progress, the outcome (weights transferred) or a typed error.
 * Started by `runner.ts` through `../../data/extract-worker-boot.mjs` (which registers tsx so this
 * `.ts` file loads). Never writes to the database: the runner, on the main thread, does.
 */
import { parentPort } from 'node:worker_threads';

import { FedexError, isFedexError } from '../../core/errors.js';
import { shapeSize, specKey as specKeyOf } from '../../core/types.js';
import { applyMaskTranslation, type MaskTranslation } from '../../model/mask-translate.js';
import { initRuntime } from '../../runtime/node.js';
import { openStore } from '../store/open.js';
import { parseScope, type Store } from '../store/store.js';
import type { TrainRequest, WorkerReply } from './protocol.js';
import { readMaskTranslationFile } from './mask-translation-file.js';
import { trainScope, type TrainInput } from './train-task.js';

const port = parentPort;
if (!port) throw new Error('jobs/worker.ts must run in a worker thread');

function reply(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

const errorOf = (e: unknown): { code: string; message: string } =>
  isFedexError(e)
    ? { code: e.code, message: e.message }
    : { code: 'INTERNAL', message: (e as Error)?.message ?? String(e) };

let store: { database: string; store: Store } | undefined;

async function storeFor(database: string): Promise<Store> {
  if (store?.database !== database) {
    await store?.store.close();
    store = undefined;
    store = { database, store: await openStore(database, { readonly: true, poolSize: 2 }) };
  }
  return store.store;
}

let translation: { path: string; specKey: string; translation: MaskTranslation } | undefined;

/** The masked twins of a job's photos, when the server has a translation for their spec. */
function augmentFor(request: TrainRequest, set: TrainInput['set']): TrainInput['augment'] {
  if (!request.maskTranslation || !request.config.maskTwins) return undefined;
  if (translation?.path !== request.maskTranslation)
    translation = { path: request.maskTranslation, ...readMaskTranslationFile(request.maskTranslation) };
  const t = translation;
  if (t.specKey !== specKeyOf(set.spec) || t.translation.dim !== shapeSize(set.spec.shape)) return undefined;
  return (rows) => applyMaskTranslation(t.translation, rows);
}

/** Reads what a job trains on: the spec, its labelled set and the current model of that spec. */
async function readInput(request: TrainRequest): Promise<TrainInput> {
  const s = await storeFor(request.database);
  const parsed = parseScope(request.scope);
  if (!parsed) throw new FedexError('BAD_REQUEST', `bad scope "${request.scope}"`);
  const specKey =
    request.specKey ??
    (await s.labelledSpecs(parsed.kind === 'user' ? parsed.userId : undefined))[0]?.specKey;
  if (!specKey) throw new FedexError('NOT_ENOUGH_DATA', `${request.scope} has no labelled samples`);
  const set = await s.trainingSet(request.scope, specKey, { maxSamples: request.maxSamples });
  const latest = await s.modelVersion(request.scope, 'latest');
  // A current model of another spec cannot score these features: the candidate is then compared with nothing.
  // Nor can a model that saw samples the user has since deleted: it must be replaced, not kept because
  // it scores well on data it should no longer know.
  const forget = set.removals !== undefined && set.removals.removals > set.removals.trained;
  const current =
    latest && latest.specKey === specKey && !forget
      ? { weights: latest.weights, labels: latest.labels, version: latest.version }
      : undefined;
  const augment = augmentFor(request, set);
  return { scope: request.scope, set, current, config: request.config, ...(augment ? { augment } : {}) };
}

async function handle(request: TrainRequest): Promise<void> {
  try {
    const input = await readInput(request);
    const outcome = await trainScope(input, (progress, message) =>
      reply({ type: 'progress', jobId: request.jobId, progress, message }),
    );
    let w = outcome.weights;
    if (!(w.buffer instanceof ArrayBuffer) || w.byteOffset !== 0 || w.byteLength !== w.buffer.byteLength)
      w = w.slice();
    reply(
      { type: 'done', jobId: request.jobId, specKey: input.set.specKey, outcome: { ...outcome, weights: w } },
      [w.buffer as ArrayBuffer],
    );
  } catch (e) {
    reply({ type: 'error', jobId: request.jobId, ...errorOf(e) });
  }
}

try {
  await initRuntime();
  // One job at a time, in order, even if the runner ever sends several.
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (msg: TrainRequest) => {
    if (msg?.type !== 'train') return;
    chain = chain.then(() => handle(msg));
  });
  reply({ type: 'ready' });
} catch (e) {
  reply({ type: 'fatal', ...errorOf(e) });
}
