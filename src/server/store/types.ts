/**
 * What the server stores, as the API and the job system see it (camelCase, parsed JSON). The SQL
 * rows behind them live in `./sqlite.ts`; nothing outside `store/` writes SQL.
 */
import type { FeatureSpec } from '../../core/types.js';

/** Milliseconds since the Unix epoch. */
export type Millis = number;

export interface User {
  id: string;
  name: string;
  createdAt: Millis;
  /** Highest sample id a finished training of this user's head has seen (0: never trained). */
  trainedThrough: number;
  lastTrainedAt: Millis | null;
}

export interface UserSummary extends User {
  devices: number;
  samples: number;
  labelled: number;
  /** Labelled samples that arrived (or were relabelled) after the last training. */
  newLabelled: number;
  /** Labelled samples were deleted after the last finished training: its model must be replaced. */
  forgetPending: boolean;
  /** Newest promoted version of `user:<id>`, or null. */
  modelVersion: number | null;
}

export interface Device {
  id: string;
  userId: string;
  name: string;
  createdAt: Millis;
  lastSeenAt: Millis | null;
}

/** A device just enrolled, with its bearer token (shown once; only its hash is stored). */
export interface Enrollment {
  device: Device;
  token: string;
}

export interface Label {
  id: number;
  name: string;
}

/** One stored sample, without its features. */
export interface SampleInfo {
  id: number;
  clientId: string;
  deviceId: string;
  batchId: string;
  specKey: string;
  /** -1 (`UNLABELLED`) when not labelled. */
  label: number;
  createdAt: Millis;
  updatedAt: Millis;
}

/** What an upload did. A retried batch (same id, same bytes) returns the first answer again. */
export interface IngestResult {
  batchId: string;
  samples: number;
  /** New samples stored. */
  inserted: number;
  /** Samples already stored under the same client id (features and label replaced). */
  updated: number;
  /** True when this batch id had been stored before: nothing changed this time. */
  duplicate: boolean;
  receivedAt: Millis;
}

/** Labelled features of one spec, ready for training (sample-major float32). */
export interface TrainingSet {
  spec: FeatureSpec;
  specKey: string;
  sampleIds: number[];
  /** Label id per sample (user label ids; for the global scope see `owners`). */
  labels: Int32Array;
  /** For the global scope: the user each sample belongs to. */
  owners: string[];
  features: Float32Array;
  /** Highest sample id of the user (any spec, any label) when the set was read. */
  throughSampleId: number;
  /**
   * User scope: the user's deletion count when the set was read (`removals`) and the one the
   * last finished training had seen (`trained`). `removals > trained`: the current model has seen
   * samples that are gone.
   */
  removals?: { removals: number; trained: number };
}

/** `user:<id>` or `global`. */
export type Scope = `user:${string}` | 'global';

export type ModelStatus = 'promoted' | 'rejected';

/** A model version without its weights. */
export interface ModelInfo {
  id: number;
  scope: Scope;
  version: number;
  specKey: string;
  head: string;
  /** Training configuration (head options, train options, data selection). */
  config: Record<string, unknown>;
  /** Held-out metrics and training summary; `heldOutAccuracy` decides promotion. */
  metrics: Record<string, unknown>;
  /** Class i of the model is `labels[i]` (a label id for users, `<userId>/<labelId>` for global). */
  labels: string[];
  /** sha256 (hex) of the weights message; also the ETag. */
  checksum: string;
  size: number;
  status: ModelStatus;
  /** Why a version was not promoted. */
  reason: string | null;
  jobId: number | null;
  createdAt: Millis;
}

export interface ModelVersion extends ModelInfo {
  /** The FXWT weights message (topology in its metadata). */
  weights: Uint8Array;
}

/** A new model version to store. `version` is assigned by the store (previous + 1). */
export interface NewModel {
  scope: Scope;
  specKey: string;
  head: string;
  config: Record<string, unknown>;
  metrics: Record<string, unknown>;
  labels: string[];
  weights: Uint8Array;
  status: ModelStatus;
  reason?: string | null;
  jobId?: number | null;
}

export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
export type JobTrigger = 'manual' | 'new-samples' | 'schedule' | 'deletion';

export interface Job {
  id: number;
  scope: Scope;
  trigger: JobTrigger;
  status: JobStatus;
  /** 0..1. */
  progress: number;
  message: string | null;
  config: Record<string, unknown>;
  result: Record<string, unknown> | null;
  error: string | null;
  attempts: number;
  maxAttempts: number;
  createdAt: Millis;
  startedAt: Millis | null;
  finishedAt: Millis | null;
  updatedAt: Millis;
  /** The worker holding the running job, and until when its claim lasts without a heartbeat. */
  leaseOwner: string | null;
  leaseUntil: Millis | null;
  /** A queued retry waits until then (backoff). */
  runAfter: Millis;
}
