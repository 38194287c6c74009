/**
 * A training worker process (`fedex worker`): no HTTP, only a {@link JobRunner} on the shared
 * PostgreSQL store. Any number of them, on any machines, take jobs from the same queue: each claim
 * is a lease renewed by heartbeats, so a worker that dies loses its jobs to the others when its
 * lease runs out, and a job's model version is stored once however often it was tried.
 */
import path from 'node:path';

import { FedexError } from '../core/errors.js';
import { readMaskTranslationFile } from './jobs/mask-translation-file.js';
import { JobRunner, type JobFinishedEvent } from './jobs/runner.js';
import type { TrainJobConfig } from './jobs/train-task.js';
import { openStore } from './store/open.js';
import { isPostgresUrl, type Store } from './store/store.js';

export interface WorkerProcessOptions {
  /** The shared database (a postgres:// URL). */
  database: string;
  /** Training threads in this process. */
  workers: number;
  /** Claim length without a heartbeat (ms). */
  leaseMs?: number;
  /** A job running longer is stopped and failed (ms). */
  jobTimeoutMs?: number;
  /** Most labelled samples one job reads. */
  maxJobSamples?: number;
  /** A mask translation file (`fedex fit-mask-translation`), checked before any job is taken. */
  maskTranslation?: string;
  training?: Partial<TrainJobConfig>;
  log?: (line: string) => void;
  /** PostgreSQL schema (tests). */
  schema?: string;
}

export interface RunningWorker {
  store: Store;
  runner: JobRunner;
  /** Stops taking jobs; running ones go back to the queue; closes the database. */
  close(): Promise<void>;
}

export async function startWorkerProcess(options: WorkerProcessOptions): Promise<RunningWorker> {
  if (!isPostgresUrl(options.database))
    throw new FedexError(
      'BAD_ARGUMENT',
      'fedex worker needs --database postgres://…: with the SQLite default, `fedex serve` runs the workers itself',
    );
  if (options.maskTranslation !== undefined) readMaskTranslationFile(options.maskTranslation);
  const store = await openStore(options.database, {
    ...(options.schema ? { schema: options.schema } : {}),
    poolSize: 4,
  });
  const runner = new JobRunner({
    store,
    database: options.schema ? withSchema(options.database, options.schema) : options.database,
    workers: options.workers,
    leaseMs: options.leaseMs,
    jobTimeoutMs: options.jobTimeoutMs,
    maxJobSamples: options.maxJobSamples,
    ...(options.maskTranslation !== undefined
      ? { maskTranslation: path.resolve(options.maskTranslation) }
      : {}),
    defaults: options.training,
    recoverOnStart: false,
    log: options.log,
  });
  await runner.start();
  let closed = false;
  return {
    store,
    runner,
    async close() {
      if (closed) return;
      closed = true;
      await runner.stop();
      await store.close();
    },
  };
}

/** The URL with `?schema=` set, which `PgStore.open` reads (so worker threads use the same schema). */
export function withSchema(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('schema', schema);
  return u.toString();
}

export type { JobFinishedEvent };
