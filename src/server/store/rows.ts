/**
 * The SQL rows both stores read (the same column names in SQLite and PostgreSQL) and their
 * conversion to the API's types. Pure: no database here.
 */
import type { FeatureSpec } from '../../core/types.js';
import type { Device, Job, JobStatus, JobTrigger, ModelInfo, Scope, User } from './types.js';

export interface UserRow {
  id: string;
  name: string;
  created_at: number;
  trained_through: number;
  last_trained_at: number | null;
  removals: number;
  trained_removals: number;
}
export interface DeviceRow {
  id: string;
  user_id: string;
  name: string;
  created_at: number;
  last_seen_at: number | null;
}
export interface ModelRow {
  id: number;
  scope: string;
  version: number;
  spec_key: string;
  head: string;
  config: string;
  metrics: string;
  labels: string;
  checksum: string;
  size: number;
  status: 'promoted' | 'rejected';
  reason: string | null;
  job_id: number | null;
  created_at: number;
  weights?: Buffer;
}
export interface JobRow {
  id: number;
  scope: string;
  trigger: string;
  status: JobStatus;
  progress: number;
  message: string | null;
  config: string;
  result: string | null;
  error: string | null;
  attempts: number;
  max_attempts: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  updated_at: number;
  lease_owner: string | null;
  lease_until: number | null;
  run_after: number;
}
export interface SpecRow {
  key: string;
  backbone_id: string;
  backbone_version: string;
  split: string;
  shape: string;
  /** NULL: a registry spec (or one stored before owners existed), shared; else the owning user. */
  owner: string | null;
}

export const toUser = (r: UserRow): User => ({
  id: r.id,
  name: r.name,
  createdAt: r.created_at,
  trainedThrough: r.trained_through,
  lastTrainedAt: r.last_trained_at,
});
export const toDevice = (r: DeviceRow): Device => ({
  id: r.id,
  userId: r.user_id,
  name: r.name,
  createdAt: r.created_at,
  lastSeenAt: r.last_seen_at,
});
export const toModelInfo = (r: ModelRow): ModelInfo => ({
  id: r.id,
  scope: r.scope as Scope,
  version: r.version,
  specKey: r.spec_key,
  head: r.head,
  config: JSON.parse(r.config) as Record<string, unknown>,
  metrics: JSON.parse(r.metrics) as Record<string, unknown>,
  labels: JSON.parse(r.labels) as string[],
  checksum: r.checksum,
  size: r.size,
  status: r.status,
  reason: r.reason,
  jobId: r.job_id,
  createdAt: r.created_at,
});
export const toJob = (r: JobRow): Job => ({
  id: r.id,
  scope: r.scope as Scope,
  trigger: r.trigger as JobTrigger,
  status: r.status,
  progress: r.progress,
  message: r.message,
  config: JSON.parse(r.config) as Record<string, unknown>,
  result: r.result === null ? null : (JSON.parse(r.result) as Record<string, unknown>),
  error: r.error,
  attempts: r.attempts,
  maxAttempts: r.max_attempts,
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  updatedAt: r.updated_at,
  leaseOwner: r.lease_owner,
  leaseUntil: r.lease_until,
  runAfter: r.run_after,
});
export const toSpec = (r: SpecRow): FeatureSpec => ({
  backboneId: r.backbone_id,
  backboneVersion: r.backbone_version,
  split: r.split,
  shape: JSON.parse(r.shape) as number[],
});

export const MODEL_COLUMNS =
  'id, scope, version, spec_key, head, config, metrics, labels, checksum, size, status, reason, job_id, created_at';
export const MODEL_INFO_COLUMNS = MODEL_COLUMNS;
