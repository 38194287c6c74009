/**
 * The JSON shapes of the FedEx HTTP API as clients see them (the admin CLI, the device SDK),
 * platform-neutral and types only. The server builds them in src/server/routes/*; times are epoch
 * milliseconds for users and devices and ISO strings for jobs, models and uploads, as served.
 */

/** A device as the server shows it. */
export interface ApiDevice {
  id: string;
  userId: string;
  name: string;
  createdAt: number;
  lastSeenAt: number | null;
}

/** A user (the owner of a gallery). */
export interface ApiUser {
  id: string;
  name: string;
  createdAt: number;
  /** Highest sample id a finished training has seen. */
  trainedThrough: number;
  lastTrainedAt: number | null;
}

/** A user with its counts, as `GET /v1/users` lists it. */
export interface ApiUserSummary extends ApiUser {
  devices: number;
  samples: number;
  labelled: number;
  newLabelled: number;
  /** Labelled samples were deleted after the last finished training (a retraining is due). */
  forgetPending: boolean;
  modelVersion: number | null;
}

/** What the server answers to an upload: 201 stored, or 200 `duplicate` (stored before). */
export interface ApiIngestResult {
  batchId: string;
  samples: number;
  inserted: number;
  updated: number;
  duplicate: boolean;
  /** ISO time the server first stored the batch. */
  receivedAt: string;
}

/** A label id and its name, per user. */
export interface ApiLabel {
  id: number;
  name: string;
}

export type ApiJobStatus = 'queued' | 'running' | 'done' | 'failed';

/** A training job. */
export interface ApiJob {
  id: number;
  scope: string;
  trigger: string;
  status: ApiJobStatus;
  /** 0..1. */
  progress: number;
  message: string | null;
  config: Record<string, unknown>;
  result: Record<string, unknown> | null;
  error: string | null;
  attempts: number;
  maxAttempts: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
}

/** A model version without its weights. */
export interface ApiModel {
  id: number;
  scope: string;
  version: number;
  specKey: string;
  head: string;
  config: Record<string, unknown>;
  metrics: Record<string, unknown>;
  labels: string[];
  checksum: string;
  size: number;
  status: 'promoted' | 'rejected';
  reason: string | null;
  jobId: number | null;
  createdAt: string;
}

/** What a caller may set for one training job (the server's training defaults fill the rest). */
export interface ApiTrainBody {
  head?: string;
  specKey?: string;
  epochs?: number;
  learningRate?: number;
  patience?: number;
  seed?: number;
  holdoutFraction?: number;
  /** "Unknown" beyond this × the median leave-one-out distance to a known person (default 1.5). */
  openSetMargin?: number;
  /** "Unknown" beyond this distance to every known person, for every user (default: the face descriptor's 0.55; else the margin's). */
  openSetRadius?: number;
  /** "Unknown" nearer the mean face than this × the named faces' median distance (default 0.85; 0 off). */
  genericMargin?: number;
  /** Train on masked twins of the labelled photos too, when the server has a mask translation for their features (default true). */
  maskTwins?: boolean;
}
