/**
 * The store's rules that need no database, shared by both implementations so SQLite and
 * PostgreSQL cannot drift apart on them: where a spec is stored, the registry's fixed shapes, the
 * quota arithmetic, the users' pseudonyms and the dead letter's message. Pure.
 */
import { createHmac } from 'node:crypto';
import { FedexError } from '../../core/errors.js';
import { specKey as keyOfSpec, type FeatureSpec } from '../../core/types.js';
import { registeredSplitShape } from '../../model/backbones/registry.js';
import type { UserQuota, UserUsage } from './store.js';

/**
 * The key a spec is stored under for `userId`. A spec of the backbone registry (a known backbone
 * id and split: its shape is fixed by code) is shared by every user, under `specKey(spec)`. Any
 * other spec belongs to the user who uploads it, under `specKey(spec)#<userId>` (`#` never occurs
 * in a percent-encoded spec key), so one user's first upload cannot fix the shape every other
 * user must send. Without `userId` (an admin's or a test's direct call) the key is the shared one.
 */
export function storedSpecKey(
  spec: Pick<FeatureSpec, 'backboneId' | 'backboneVersion' | 'split'>,
  userId?: string,
): string {
  const key = keyOfSpec(spec);
  if (userId === undefined || registeredSplitShape(spec.backboneId, spec.split)) return key;
  return `${key}#${userId}`;
}

/** The user owning a stored spec key (null: shared). */
export function specOwner(spec: FeatureSpec, key: string, userId: string | undefined): string | null {
  return key === keyOfSpec(spec) ? null : (userId ?? null);
}

/** FEATURE_MISMATCH when a registry spec comes with another shape than the registry's. */
export function checkRegistryShape(spec: FeatureSpec): void {
  const fixed = registeredSplitShape(spec.backboneId, spec.split);
  if (fixed && (fixed.length !== spec.shape.length || fixed.some((d, i) => d !== spec.shape[i]))) {
    throw new FedexError(
      'FEATURE_MISMATCH',
      `${spec.backboneId} at split ${spec.split} produces shape ${JSON.stringify(fixed)}, the batch says ${JSON.stringify(spec.shape)}`,
    );
  }
}

/** FEATURE_MISMATCH when `key` is stored with another shape (JSON) than the batch's. */
export function checkStoredShape(key: string, storedShape: string, spec: FeatureSpec): void {
  const shape = JSON.stringify(spec.shape);
  if (storedShape !== shape)
    throw new FedexError(
      'FEATURE_MISMATCH',
      `spec ${key} has shape ${storedShape} here, the batch says ${shape}`,
    );
}

/**
 * QUOTA_EXCEEDED when adding `adding` new samples of `valuesPerSample` float32 values to a user
 * who holds `before` would pass `quota` (0: no limit).
 */
export function checkQuota(
  before: UserUsage,
  adding: number,
  valuesPerSample: number,
  quota: UserQuota,
): void {
  if (adding <= 0) return;
  const samples = before.samples + adding;
  const bytes = before.featureBytes + adding * valuesPerSample * 4;
  if (quota.maxSamples > 0 && samples > quota.maxSamples) {
    throw new FedexError(
      'QUOTA_EXCEEDED',
      `this user would hold ${samples} samples, over the quota of ${quota.maxSamples}; relabel or delete old ones`,
    );
  }
  if (quota.maxFeatureBytes > 0 && bytes > quota.maxFeatureBytes) {
    throw new FedexError(
      'QUOTA_EXCEEDED',
      `this user would hold ${bytes} bytes of features, over the quota of ${quota.maxFeatureBytes}`,
    );
  }
}

/**
 * A user's pseudonym in shared artefacts (the global model's class names): 16 hex digits of
 * HMAC-SHA256 of the id under the database's own random salt, so it cannot be reversed by hashing
 * candidate ids without the database.
 */
export function pseudonymOf(salt: string, userId: string): string {
  return createHmac('sha256', salt).update(userId).digest('hex').slice(0, 16);
}

/** Why a running job went back to the queue (or to the dead letter): its lease ran out. */
export function leaseExpiredMessage(owner: string | null, attempts: number, maxAttempts: number): string {
  return `lease expired: ${owner ?? 'a worker'} stopped renewing its claim (attempt ${attempts} of ${maxAttempts})`;
}
