/**
 * A small pool of `worker_threads`, each with its own feature extractor (tfjs WASM runs on one
 * thread, so N workers give about N× throughput on N cores). Workers are fed one photo path at a
 * time from a shared queue and answer with features (buffers transferred, not copied).
 *
 * Any worker failure (extractor could not be built, an extractor error, an uncaught exception, an
 * unexpected exit, workers disagreeing on the spec) rejects `ready`/`run` with a FedexError. The
 * owner must call `terminate()` (in a `finally`): it stops every worker, so no thread outlives a run.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import { FedexError } from '../core/errors.js';
import { specKey, type FeatureSpec } from '../core/types.js';
import type { ExtractorSource } from './extractor-source.js';
import {
  deserializeError,
  serializeError,
  type PhotoOutcome,
  type WorkerInit,
  type WorkerReply,
  type WorkerRequest,
} from './extract-protocol.js';

/** One photo to extract; `key` comes back with its outcome. */
export interface PhotoJob {
  key: number;
  path: string;
}

interface Slot {
  index: number;
  worker: Worker;
  spec?: FeatureSpec;
  job?: PhotoJob;
  done: number;
}

function sameSpec(a: FeatureSpec, b: FeatureSpec): boolean {
  return specKey(a) === specKey(b) && a.shape.join(',') === b.shape.join(',');
}

/** The worker module next to this one, with this module's extension (`.ts` from source). */
function workerEntry(): string {
  const ext = path.extname(fileURLToPath(import.meta.url));
  return new URL(`./extract-worker${ext}`, import.meta.url).href;
}

let liveWorkers = 0;

/** Extraction worker threads alive in this process (tests check that none outlive a run). */
export function liveExtractionWorkers(): number {
  return liveWorkers;
}

/** A running pool. Create with {@link startExtractorPool}. */
export interface ExtractorPool {
  readonly size: number;
  /** The spec of the first worker ready (every later worker must agree). */
  readonly ready: Promise<FeatureSpec>;
  /**
   * Extracts every job, calling `onResult` as outcomes arrive (any order). Resolves with the number
   * of photos each worker handled. One `run` at a time.
   */
  run(jobs: readonly PhotoJob[], onResult: (job: PhotoJob, outcome: PhotoOutcome) => void): Promise<number[]>;
  /** Stops every worker. Safe to call more than once. */
  terminate(): Promise<void>;
}

/**
 * Starts `size` workers, each building an extractor from `source`.
 *
 * @example
 * const pool = startExtractorPool(2, { kind: 'face' });
 * try { const spec = await pool.ready; await pool.run(jobs, (job, outcome) => ...); } finally { await pool.terminate(); }
 */
export function startExtractorPool(size: number, source: ExtractorSource): ExtractorPool {
  if (!Number.isInteger(size) || size < 1)
    throw new FedexError('BAD_ARGUMENT', `pool size must be >= 1 (got ${size})`);
  const boot = new URL('./extract-worker-boot.mjs', import.meta.url);
  const init: WorkerInit = { entry: workerEntry(), source };

  let failure: FedexError | undefined;
  let terminated = false;
  const failListeners = new Set<(e: FedexError) => void>();
  const fail = (e: FedexError): void => {
    if (failure || terminated) return;
    failure = e;
    for (const l of failListeners) l(e);
  };
  let firstSpec: FeatureSpec | undefined;
  const readyListeners = new Set<() => void>();
  let resultListener: ((slot: Slot, key: number, outcome: PhotoOutcome) => void) | undefined;

  const slots: Slot[] = [];
  for (let index = 0; index < size; index++) {
    const where = `extraction worker ${index + 1}/${size}`;
    let worker: Worker;
    try {
      worker = new Worker(boot, { workerData: init });
    } catch (e) {
      for (const s of slots) void s.worker.terminate();
      throw new FedexError('INTERNAL', `${where} could not start: ${serializeError(e).message}`, {
        cause: e,
      });
    }
    liveWorkers += 1;
    const slot: Slot = { index, worker, done: 0 };
    slots.push(slot);
    worker.on('message', (msg: WorkerReply) => {
      switch (msg.type) {
        case 'ready':
          if (firstSpec && !sameSpec(firstSpec, msg.spec)) {
            fail(
              new FedexError(
                'FEATURE_MISMATCH',
                `${where} produces ${specKey(msg.spec)}, another produces ${specKey(firstSpec)}`,
              ),
            );
            return;
          }
          firstSpec ??= msg.spec;
          slot.spec = msg.spec;
          for (const l of readyListeners) l();
          return;
        case 'fatal':
          fail(deserializeError(msg.error, `${where} could not create its extractor`));
          return;
        case 'failed':
          fail(deserializeError(msg.error, `${where} failed on ${slot.job?.path ?? `job ${msg.key}`}`));
          return;
        case 'result':
          resultListener?.(slot, msg.key, msg.outcome);
          return;
      }
    });
    worker.on('error', (e) =>
      fail(new FedexError('INTERNAL', `${where} crashed: ${serializeError(e).message}`, { cause: e })),
    );
    worker.on('exit', (code) => {
      liveWorkers -= 1;
      if (!terminated) fail(new FedexError('INTERNAL', `${where} exited unexpectedly (exit code ${code})`));
    });
  }

  const whenFailed = (reject: (e: FedexError) => void): (() => void) => {
    if (failure) {
      reject(failure);
      return () => {};
    }
    failListeners.add(reject);
    return () => failListeners.delete(reject);
  };

  const ready = new Promise<FeatureSpec>((resolve, reject) => {
    if (firstSpec) return resolve(firstSpec);
    const offFail = whenFailed(reject);
    const onReady = (): void => {
      readyListeners.delete(onReady);
      offFail();
      resolve(firstSpec!);
    };
    readyListeners.add(onReady);
  });
  // Callers may never await `ready` (e.g. when `run` fails first); keep that from being "unhandled".
  ready.catch(() => {});

  let running = false;
  return {
    size,
    ready,
    run(jobs, onResult) {
      if (running) return Promise.reject(new FedexError('INTERNAL', 'extractor pool: one run at a time'));
      running = true;
      return new Promise<number[]>((resolve, reject) => {
        const queue = jobs.slice().reverse();
        const byKey = new Map<number, PhotoJob>();
        let outstanding = jobs.length;
        const finish = (error?: FedexError): void => {
          readyListeners.delete(dispatch);
          offFail();
          resultListener = undefined;
          running = false;
          if (error) reject(error);
          else resolve(slots.map((s) => s.done));
        };
        const dispatch = (): void => {
          for (const slot of slots) {
            if (failure) return;
            if (!slot.spec || slot.job || queue.length === 0) continue;
            const job = queue.pop()!;
            slot.job = job;
            byKey.set(job.key, job);
            const request: WorkerRequest = { type: 'job', key: job.key, path: job.path };
            slot.worker.postMessage(request);
          }
        };
        const offFail = whenFailed((e) => finish(e));
        if (failure) return;
        if (outstanding === 0) return finish();
        resultListener = (slot, key, outcome) => {
          const job = byKey.get(key);
          if (!job) return;
          byKey.delete(key);
          slot.job = undefined;
          slot.done += 1;
          outstanding -= 1;
          try {
            onResult(job, outcome);
          } catch (e) {
            return finish(
              e instanceof FedexError
                ? e
                : new FedexError('INTERNAL', serializeError(e).message, { cause: e }),
            );
          }
          if (outstanding === 0) return finish();
          dispatch();
        };
        readyListeners.add(dispatch);
        dispatch();
      });
    },
    async terminate() {
      if (terminated) return;
      terminated = true;
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}
