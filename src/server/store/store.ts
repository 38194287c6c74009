/**
 * The server's store as one asynchronous interface, with two implementations: the embedded SQLite
 * file (`./sqlite.ts`, the default: no service to run) and PostgreSQL (`./postgres.ts`, for many API
 * and worker processes). Routes, the scheduler, the job runner and the workers see only this
 * interface; nothing outside `store/` writes SQL. `openStore` picks the implementation from a
 * database locator (a file path or a `postgres://` URL).
 *
 * Every method is one transaction: a rejected call changes nothing, an acknowledged one is durable.
 * The job queue lives here too (claim with a lease, heartbeat, fenced completion, retry with
 * backoff, dead-letter after the last attempt), so a model version and its job's completion commit
 * together and a job is never done twice (see docs/server.md, "Scaling out").
 */
import { createHash, randomBytes } from 'node:crypto';
import { FedexError } from '../../core/errors.js';
import type { FeatureBatch, FeatureSpec } from '../../core/types.js';
import type {
  Device,
  Enrollment,
  IngestResult,
  Job,
  JobStatus,
  JobTrigger,
  Label,
  ModelInfo,
  ModelVersion,
  NewModel,
  SampleInfo,
  Scope,
  TrainingSet,
  User,
  UserSummary,
} from './types.js';

/** One upload to store: the device, its idempotency key, the sha256 of its bytes, the decoded batch. */
export interface IngestInput {
  device: Device;
  batchId: string;
  sha256: string;
  batch: FeatureBatch;
  /** Most samples / feature bytes (stored as float32) the user may hold after this batch. */
  quota?: UserQuota;
}

/** Per-user storage limits (0: no limit). */
export interface UserQuota {
  maxSamples: number;
  maxFeatureBytes: number;
}

/** What one user stores: samples and their feature bytes as stored (float32, 4 bytes a value). */
export interface UserUsage {
  samples: number;
  featureBytes: number;
}

/** Sample ids or client ids naming some of a user's samples. */
export interface SampleRefs {
  sampleIds?: readonly number[];
  clientIds?: readonly string[];
}

/** Who holds a claimed job and until when (a worker that stops renewing loses it). */
export interface JobLease {
  /** The claiming worker's id (any string unique among live workers). */
  owner: string;
  /** How long the claim lasts without a heartbeat. */
  ms: number;
}

/** What a heartbeat learned: the job is still ours, was cancelled, or was taken over (lease lost). */
export type LeaseState = 'held' | 'cancelled' | 'lost';

/** Queue policy: how long a failed attempt waits before its retry (`backoffMs × 2^(attempt-1)`). */
export interface QueuePolicy {
  backoffMs: number;
}

export const DEFAULT_QUEUE_POLICY: QueuePolicy = { backoffMs: 1000 };

/**
 * One federated round to publish (`publishRound`): each selected device's task as JSON (without
 * the weights) naming the encoded global weights it starts from, stored once per distinct array.
 */
export interface NewRound {
  /** Above every round published before (1-based). */
  round: number;
  /** When the round closes, in ms since the epoch (the store's clock). */
  deadlineAt: number;
  tasks: readonly { deviceId: string; task: string; weightsKey?: string }[];
  weights: readonly { key: string; bytes: Uint8Array; etag: string }[];
}

/** What one device's poll learns (`currentRound`). */
export interface RoundPoll {
  /** The highest round number published (0: none yet). */
  last: number;
  /** Whether `finishRounds` was called after the last round was published. */
  finished: boolean;
  /** The open round (not closed, deadline ahead) and this device's place in it; null when none. */
  open: {
    round: number;
    deadlineAt: number;
    /** This device's task (JSON), null when it was not selected. */
    task: string | null;
    /** ETag of the weights that task starts from (null: none). */
    weightsEtag: string | null;
    /** Whether this device's update was recorded. */
    reported: boolean;
  } | null;
}

/** A selected device's task in an open round (`roundTask`). */
export interface RoundTaskState {
  task: string;
  reported: boolean;
  /** The encoded global weights the task starts from (null: a task without weights). */
  weights: { bytes: Uint8Array; etag: string } | null;
}

/** How far a round got (`roundProgress`). */
export interface RoundProgress {
  round: number;
  deadlineAt: number;
  /** Closed explicitly, or when every selected device reported (the deadline alone does not set it). */
  closed: boolean;
  /** Devices selected, and updates recorded. */
  tasks: number;
  updates: number;
}

/** One recorded update: the device's bytes as posted and the numbers the transport read from them. */
export interface RoundUpdate {
  deviceId: string;
  bytes: Uint8Array;
  /** JSON written by the transport at `recordRoundUpdate`. */
  result: string;
}

/** Which implementation a store is. */
export type StoreKind = 'sqlite' | 'postgres';

export interface Store {
  readonly kind: StoreKind;
  /** Where it is: the SQLite file, or the PostgreSQL URL without its password. */
  readonly location: string;
  close(): Promise<void>;
  /** `ok`, or why writes would fail now (what `/healthz` reports). */
  health(): Promise<string>;
  /** Throws UNAVAILABLE when writes cannot be trusted now (a replaced SQLite file); cheap. */
  assertWritable(): Promise<void>;

  // users and devices
  createUser(name: string, id?: string): Promise<User>;
  getUser(id: string): Promise<User | undefined>;
  /** Users with their counts, oldest first (one user with `userId`). */
  listUsers(userId?: string): Promise<UserSummary[]>;
  /** What the retraining decision needs about one user. */
  retrainState(
    userId: string,
  ): Promise<
    Pick<UserSummary, 'id' | 'createdAt' | 'lastTrainedAt' | 'newLabelled' | 'forgetPending'> | undefined
  >;
  createEnrollmentToken(
    userId: string,
    options?: { ttlMs?: number; uses?: number },
  ): Promise<{ token: string; expiresAt: number }>;
  enrollDevice(userId: string, name: string): Promise<Enrollment>;
  /** Enrolls with an enrollment secret (one use); AUTH_INVALID when unknown, spent or expired. */
  enrollWithToken(enrollmentToken: string, name: string): Promise<Enrollment>;
  deviceByToken(token: string): Promise<Device | undefined>;
  getDevice(deviceId: string): Promise<(Device & { revokedAt: number | null }) | undefined>;
  revokeDevice(deviceId: string): Promise<boolean>;
  listDevices(userId: string): Promise<Device[]>;
  touchDevice(deviceId: string): Promise<void>;

  // labels
  getLabels(userId: string): Promise<Label[]>;
  setLabels(userId: string, labels: readonly Label[]): Promise<Label[]>;

  // samples
  /** The key a spec is stored under for `userId` (pure: registry specs are shared, others per user). */
  specKeyFor(spec: Pick<FeatureSpec, 'backboneId' | 'backboneVersion' | 'split'>, userId?: string): string;
  registerSpec(spec: FeatureSpec, userId?: string): Promise<string>;
  getSpec(key: string): Promise<FeatureSpec | undefined>;
  usage(userId: string): Promise<UserUsage>;
  ingestBatch(input: IngestInput): Promise<IngestResult>;
  /** Group commit: per input its result or the error it was rejected with, in one transaction. */
  ingestMany(inputs: readonly IngestInput[]): Promise<(IngestResult | Error)[]>;
  hasBatch(userId: string, batchId: string): Promise<boolean>;
  countBatches(userId?: string): Promise<number>;
  countSamples(userId?: string): Promise<number>;
  listSamples(
    userId: string,
    options?: { after?: number; limit?: number; label?: number },
  ): Promise<SampleInfo[]>;
  /** All or nothing: NOT_FOUND (no change) when an id is not the user's. Returns rows changed. */
  relabel(userId: string, ids: SampleRefs, label: number): Promise<number>;
  /** {@link relabel} for long lists, in steps that let other requests in between. */
  relabelInSteps(userId: string, ids: SampleRefs, label: number, chunk?: number): Promise<number>;
  /** Idempotent deletion: ids not (or no longer) the user's count as `missing`. */
  deleteSamples(
    userId: string,
    ids: SampleRefs,
  ): Promise<{ deleted: number; labelled: number; missing: number }>;
  countNewLabelled(userId: string): Promise<number>;
  labelledSpecs(userId?: string): Promise<{ specKey: string; labelled: number }[]>;
  trainingSet(scope: Scope, specKey: string, options?: { maxSamples?: number }): Promise<TrainingSet>;
  /** A user's keyed pseudonym in shared artefacts (the global model's class names). */
  pseudonym(userId: string): Promise<string>;

  // models
  insertModel(model: NewModel): Promise<ModelInfo>;
  latestModelInfo(scope: Scope): Promise<ModelInfo | undefined>;
  modelVersion(scope: Scope, version: number | 'latest'): Promise<ModelVersion | undefined>;
  listModels(options?: { scope?: Scope; limit?: number }): Promise<ModelInfo[]>;

  // jobs: the training queue
  /** Queues a job for `scope` unless one is queued already (that one comes back, `created: false`). */
  enqueueJob(
    scope: Scope,
    trigger: JobTrigger,
    config?: Record<string, unknown>,
    maxAttempts?: number,
  ): Promise<{ job: Job; created: boolean }>;
  getJob(id: number): Promise<Job | undefined>;
  listJobs(options?: { scope?: Scope; status?: JobStatus; limit?: number }): Promise<Job[]>;
  /**
   * Takes the oldest due queued job whose scope has no running job, or a running job whose lease
   * expired (its worker died), marks it running under `lease` and counts the attempt. A job whose
   * lease expired on its last attempt is failed for good instead (dead letter). Concurrent claims,
   * from any number of processes, never take the same job.
   */
  claimJob(lease?: JobLease): Promise<Job | undefined>;
  /** Renews a claim; says whether the job is still held, was cancelled, or was taken over. */
  heartbeatJob(id: number, lease: JobLease): Promise<LeaseState>;
  updateJobProgress(id: number, progress: number, message: string | null, lease?: JobLease): Promise<void>;
  /**
   * Finishes a running job: its model version, the user's "trained through" mark and the job's
   * status in one transaction. With `lease`, only while the caller still holds the job: otherwise
   * (`stale: true`) nothing is stored, so a job taken over by another worker is stored once.
   */
  completeJob(
    id: number,
    outcome: {
      result: Record<string, unknown>;
      model?: NewModel;
      trainedThrough?: number;
      trainedRemovals?: number;
    },
    lease?: JobLease,
  ): Promise<{ job: Job; model?: ModelInfo; stale?: boolean }>;
  /** A running attempt failed: back to the queue after a backoff while attempts remain, else failed. */
  failJob(id: number, error: string, retry?: boolean, lease?: JobLease): Promise<Job>;
  cancelJob(id: number, by: string): Promise<{ job: Job; changed: boolean; wasRunning: boolean }>;
  /** Single-process start-up: jobs left running by a crashed process go back to the queue. */
  recoverRunningJobs(): Promise<number>;
  countJobs(): Promise<Record<JobStatus, number>>;

  // schedule
  lastScheduledRun(name: string): Promise<number | undefined>;
  markScheduledRun(name: string, at?: number): Promise<void>;

  // federated rounds: shared by every API process (see `../rounds-store.ts`). One round is open at
  // a time; it closes when every selected device reported, by `closeRound`, or at its deadline.
  /**
   * Publishes a round. BAD_ARGUMENT when its number is not above the last one published, or while
   * another round is open. A round with no tasks is closed at once.
   */
  publishRound(round: NewRound): Promise<void>;
  /** The round as `deviceId` sees it now; records the poll (see `activeRoundDevices`). */
  currentRound(deviceId: string): Promise<RoundPoll>;
  /**
   * `deviceId`'s task in the open round `round`: NOT_FOUND when never published, ROUND_CLOSED when
   * closed or past its deadline, NOT_SELECTED when the device has no task in it.
   */
  roundTask(deviceId: string, round: number): Promise<RoundTaskState>;
  /**
   * Records `deviceId`'s update (validated by the caller) with the same checks as `roundTask`, and
   * DUPLICATE_UPDATE for a second one (enforced by a primary key, so concurrent processes record
   * one). Closes the round when it was the last selected device's. Returns the updates recorded.
   */
  recordRoundUpdate(
    deviceId: string,
    round: number,
    bytes: Uint8Array,
    result: string,
  ): Promise<{ received: number }>;
  /** How far round `round` got (undefined: never published). */
  roundProgress(round: number): Promise<RoundProgress | undefined>;
  /**
   * Closes round `round` (idempotent) and returns its updates in the order they were recorded; no
   * update is recorded after it. NOT_FOUND when never published.
   */
  closeRound(round: number): Promise<RoundUpdate[]>;
  /** The run is over: closes an open round and tells polling devices (until the next publish). */
  finishRounds(): Promise<void>;
  /** Devices whose last `currentRound` was within `withinMs`, sorted. */
  activeRoundDevices(withinMs: number): Promise<string[]>;
}

/**
 * The checks of `publishRound` both stores share (BAD_ARGUMENT): a positive integer round, a finite
 * deadline, one task per device, and weights keys that name published weights.
 */
export function checkNewRound(r: NewRound): void {
  if (!Number.isInteger(r.round) || r.round < 1)
    throw new FedexError('BAD_ARGUMENT', `round ${r.round} must be a positive integer`);
  if (!Number.isFinite(r.deadlineAt))
    throw new FedexError('BAD_ARGUMENT', `the deadline of round ${r.round} must be a finite time`);
  const keys = new Set(r.weights.map((w) => w.key));
  if (keys.size !== r.weights.length)
    throw new FedexError('BAD_ARGUMENT', `round ${r.round} names one weights key twice`);
  const devices = new Set<string>();
  for (const t of r.tasks) {
    if (devices.has(t.deviceId))
      throw new FedexError('BAD_ARGUMENT', `round ${r.round} gives device ${t.deviceId} two tasks`);
    devices.add(t.deviceId);
    if (t.weightsKey !== undefined && !keys.has(t.weightsKey))
      throw new FedexError('BAD_ARGUMENT', `round ${r.round} names unknown weights "${t.weightsKey}"`);
  }
}

/** sha256 hex of a secret; only hashes of tokens are stored. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** sha256 hex of bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A fresh bearer secret with a readable prefix (`fxd_` device, `fxe_` enrollment). */
export function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

/** `user:<id>` scope of a user. */
export function userScope(userId: string): Scope {
  return `user:${userId}`;
}

/** Parses `global` or `user:<id>`; null for anything else. */
export function parseScope(text: string): { kind: 'global' } | { kind: 'user'; userId: string } | null {
  if (text === 'global') return { kind: 'global' };
  const m = /^user:([A-Za-z0-9_-]{1,64})$/.exec(text);
  return m ? { kind: 'user', userId: m[1] } : null;
}

/** Whether a database locator names PostgreSQL (`postgres://` or `postgresql://`). */
export function isPostgresUrl(locator: string): boolean {
  return /^postgres(ql)?:\/\//i.test(locator);
}

/** A PostgreSQL URL with its password masked, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:\/\/([^:@/]+):[^@/]*@/, '://$1:***@');
  }
}
