/**
 * Messages between the job runner (main thread) and a training worker thread. Plain structured-
 * clone data; the weights buffer of a `done` reply is transferred, not copied.
 */
import type { Scope } from '../store/types.js';
import type { TrainJobConfig, TrainOutcome } from './train-task.js';

/** Runner → worker: train one job. */
export interface TrainRequest {
  type: 'train';
  jobId: number;
  scope: Scope;
  /** Feature spec to train on; default: the spec with most labelled samples in the scope. */
  specKey?: string;
  config: TrainJobConfig;
  /** Most labelled samples to read (the newest are kept); undefined: all. */
  maxSamples?: number;
  /**
   * A mask translation file (`fedex fit-mask-translation`): jobs whose features are of its spec
   * and whose config has `maskTwins` train on masked twins of their photos too.
   */
  maskTranslation?: string;
  /** The store's database: a SQLite file (opened read-only) or a PostgreSQL URL; kept open between jobs. */
  database: string;
}

/** Worker → runner. */
export type WorkerReply =
  | { type: 'ready' }
  | { type: 'fatal'; code: string; message: string }
  | { type: 'progress'; jobId: number; progress: number; message: string }
  | { type: 'done'; jobId: number; specKey: string; outcome: TrainOutcome }
  | { type: 'error'; jobId: number; code: string; message: string };

/** What the worker gets as `workerData` (through `extract-worker-boot.mjs`, which imports `entry`). */
export interface TrainWorkerData {
  entry: string;
}
