/**
 * The server's store on one SQLite file (better-sqlite3): users, devices, labels, samples, batches,
 * model versions and jobs. WAL journal, foreign keys on, every write in one transaction, so an
 * acknowledged write survives a crash of the process (and, with `synchronous: 'full'`, of the
 * machine) and a rejected request leaves nothing behind.
 *
 * Synchronous by design (better-sqlite3): each call is a short transaction on the server's thread.
 * Training workers open their own read-only connection (`openStore(file, { readonly: true })`).
 */
import { randomUUID } from 'node:crypto';
import { accessSync, constants as fsConstants, mkdirSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { FedexError } from '../../core/errors.js';
import { shapeSize, UNLABELLED, type FeatureBatch, type FeatureSpec } from '../../core/types.js';
import {
  MODEL_COLUMNS,
  MODEL_INFO_COLUMNS,
  toDevice,
  toJob,
  toModelInfo,
  toSpec,
  toUser,
  type DeviceRow,
  type JobRow,
  type ModelRow,
  type SpecRow,
  type UserRow,
} from './rows.js';
import {
  checkQuota,
  checkRegistryShape,
  checkStoredShape,
  leaseExpiredMessage,
  pseudonymOf,
  specOwner,
  storedSpecKey,
} from './rules.js';
import { migrate } from './schema.js';
import {
  checkNewRound,
  DEFAULT_QUEUE_POLICY,
  hashSecret,
  newSecret,
  parseScope,
  sha256Hex,
  type IngestInput,
  type JobLease,
  type LeaseState,
  type NewRound,
  type QueuePolicy,
  type RoundPoll,
  type RoundProgress,
  type RoundTaskState,
  type RoundUpdate,
  type SampleRefs,
  type Store,
  type UserQuota,
  type UserUsage,
} from './store.js';
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

export interface StoreOptions {
  /** Open without writing (training workers). */
  readonly?: boolean;
  /** `full`: fsync at every commit (survives power loss). `normal`: survives a process crash. */
  synchronous?: 'full' | 'normal';
  /** Clock, for tests. */
  now?: () => number;
  /** Retry backoff of the job queue. */
  queue?: Partial<QueuePolicy>;
}

/** Lease owner of jobs claimed without one (the single-process server's own runner). */
export const LOCAL_OWNER = 'local';
/** Lease of such claims: long, since that runner also recovers its jobs at start. */
export const LOCAL_LEASE_MS = 24 * 3600_000;

const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * Float32 values as a little-endian blob. On little-endian machines a view of the array's bytes
 * (SQLite copies a bound blob), else a converted copy.
 */
function floatsToBlob(values: Float32Array, offset: number, length: number): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(values.buffer, values.byteOffset + offset * 4, length * 4);
  const out = Buffer.allocUnsafe(length * 4);
  for (let i = 0; i < length; i++) out.writeFloatLE(values[offset + i], i * 4);
  return out;
}

/** SQLite error codes that mean "the storage cannot take writes now" rather than a bug. */
const STORAGE_FULL_CODES = new Set(['SQLITE_FULL']);

/**
 * The typed error for a failure of the database itself: SQLITE_FULL (disk or file size limit) is
 * STORAGE_FULL (507), a read-only, vanished or unreadable file is UNAVAILABLE (503); anything else
 * is returned unchanged.
 */
export function storageError(e: unknown): unknown {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return e;
  if (STORAGE_FULL_CODES.has(code))
    return new FedexError('STORAGE_FULL', 'the server is out of storage space; try again later', {
      cause: e,
    });
  if (/^SQLITE_(READONLY|IOERR|CANTOPEN|CORRUPT|NOTADB|BUSY|LOCKED)/.test(code))
    return new FedexError('UNAVAILABLE', `the database cannot take the request now (${code})`, { cause: e });
  return e;
}

/**
 * Statements that take a list of ids as one JSON array parameter (`json_each`), so 10,000 ids are
 * one statement. Each is written so that SQLite walks the list and looks each id up by index
 * (rowid, or `(user_id, client_id)`): the JOIN form let the planner scan the user's rows and
 * re-read the list per row, and `user_id = ?` next to `id IN` made it pick the user index (hence
 * `+user_id`). `hardening.test.ts` checks every plan.
 */
export const BY_IDS_SQL = {
  countKnownClients:
    'SELECT COUNT(*) AS n FROM samples WHERE user_id = ? AND spec_key = ? AND client_id IN (SELECT value FROM json_each(?))',
  findIds: 'SELECT id FROM samples WHERE +user_id = ? AND id IN (SELECT value FROM json_each(?))',
  relabelIds:
    'UPDATE samples SET label = ?, updated_at = ? WHERE +user_id = ? AND id IN (SELECT value FROM json_each(?))',
  findClients:
    'SELECT id, client_id FROM samples WHERE user_id = ? AND client_id IN (SELECT value FROM json_each(?))',
  relabelClients:
    'UPDATE samples SET label = ?, updated_at = ? WHERE user_id = ? AND client_id IN (SELECT value FROM json_each(?))',
  deleteIds:
    'DELETE FROM samples WHERE +user_id = ? AND id IN (SELECT value FROM json_each(?)) RETURNING label',
  deleteClients:
    'DELETE FROM samples WHERE user_id = ? AND client_id IN (SELECT value FROM json_each(?)) RETURNING label',
} as const;

function fileIdentity(file: string): { dev: number; ino: number } | null {
  try {
    const st = statSync(file);
    return { dev: st.dev, ino: st.ino };
  } catch {
    return null;
  }
}

export class SqliteCore {
  readonly db: Database.Database;
  readonly file: string;
  private readonly now: () => number;
  private readonly queue: QueuePolicy;
  private readonly stmts: ReturnType<SqliteCore['prepare']>;
  /** Device and inode of the file opened, to notice it being deleted or replaced under us. */
  private readonly identity: { dev: number; ino: number } | null;
  private salt: string | undefined;
  /** Per-user usage, counted once and updated by every stored batch (see `usage`). */
  private readonly usageCache = new Map<string, UserUsage>();

  constructor(file: string, options: StoreOptions = {}) {
    this.file = file;
    this.now = options.now ?? Date.now;
    this.queue = { ...DEFAULT_QUEUE_POLICY, ...options.queue };
    if (!options.readonly && file !== ':memory:')
      mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    try {
      this.db = new Database(file, {
        readonly: options.readonly ?? false,
        fileMustExist: options.readonly ?? false,
      });
    } catch (cause) {
      throw new FedexError('UNAVAILABLE', `cannot open the database ${file}: ${(cause as Error).message}`, {
        cause,
      });
    }
    try {
      this.db.pragma('busy_timeout = 5000');
      if (!options.readonly) {
        this.db.pragma('journal_mode = WAL');
        this.db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
        this.db.pragma('foreign_keys = ON');
        migrate(this.db);
      }
    } catch (cause) {
      this.db.close();
      if (cause instanceof FedexError) throw cause;
      throw new FedexError(
        'UNAVAILABLE',
        `cannot use the database ${file}: ${(cause as Error).message} (is its folder writable?)`,
        { cause },
      );
    }
    this.identity = file === ':memory:' ? null : fileIdentity(file);
    this.stmts = this.prepare();
  }

  /**
   * Throws UNAVAILABLE when the database file is no longer the one opened (deleted, or replaced by
   * another file) or cannot be written: a write then would be acknowledged and lost at the next
   * start. Cheap (one `stat`), so every write path calls it before committing.
   */
  assertFileIntact(): void {
    if (!this.identity) return;
    const now = fileIdentity(this.file);
    if (!now || now.dev !== this.identity.dev || now.ino !== this.identity.ino) {
      throw new FedexError(
        'UNAVAILABLE',
        `the database file ${this.file} was deleted or replaced while the server ran; restart it`,
      );
    }
  }

  /**
   * What `/healthz` reports about storage: `ok`, or why writes would fail (the file gone or
   * replaced, the file or its folder not writable, or the database not answering).
   */
  health(): string {
    try {
      this.assertFileIntact();
      if (this.identity) {
        accessSync(this.file, fsConstants.W_OK);
        accessSync(path.dirname(this.file), fsConstants.W_OK);
      }
      this.db.prepare('SELECT 1').get();
      return 'ok';
    } catch (e) {
      return (e as Error).message;
    }
  }

  private prepare() {
    const db = this.db;
    return {
      userById: db.prepare<[string], UserRow>('SELECT * FROM users WHERE id = ?'),
      deviceByHash: db.prepare<[string], DeviceRow>(
        'SELECT id, user_id, name, created_at, last_seen_at FROM devices WHERE token_hash = ? AND revoked_at IS NULL',
      ),
      specByKey: db.prepare<[string], SpecRow>('SELECT * FROM specs WHERE key = ?'),
      batchByKey: db.prepare<
        [string, string],
        {
          device_id: string;
          sha256: string;
          samples: number;
          inserted: number;
          updated: number;
          received_at: number;
        }
      >(
        'SELECT device_id, sha256, samples, inserted, updated, received_at FROM batches WHERE user_id = ? AND batch_id = ?',
      ),
      insertSample: db.prepare(
        `INSERT OR IGNORE INTO samples (user_id, device_id, batch_id, client_id, spec_key, label, features, created_at, updated_at)
         VALUES (@user, @device, @batch, @client, @spec, @label, @features, @now, @now)`,
      ),
      // A re-sent sample: new features; the label only when the new one is set.
      updateSample: db.prepare(
        `UPDATE samples SET features = @features, device_id = @device, batch_id = @batch,
           label = CASE WHEN @label = -1 THEN label ELSE @label END, updated_at = @now
         WHERE user_id = @user AND spec_key = @spec AND client_id = @client`,
      ),
      insertLabelName: db.prepare(
        'INSERT INTO labels (user_id, label_id, name, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      insertBatch: db.prepare(
        'INSERT INTO batches (user_id, batch_id, device_id, sha256, spec_key, samples, inserted, updated, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      touchDevice: db.prepare('UPDATE devices SET last_seen_at = ? WHERE id = ?'),
      jobById: db.prepare<[number], JobRow>('SELECT * FROM jobs WHERE id = ?'),
      maxSampleId: db.prepare<[string], { m: number | null }>(
        'SELECT MAX(id) AS m FROM samples WHERE user_id = ?',
      ),
    };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // ---- users and devices -------------------------------------------------------------------

  createUser(name: string, id: string = randomUUID().replace(/-/g, '').slice(0, 16)): User {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new FedexError('BAD_REQUEST', `bad user id "${id}"`);
    if (this.stmts.userById.get(id))
      throw new FedexError('IDEMPOTENCY_CONFLICT', `user ${id} exists already`);
    const now = this.now();
    this.db.prepare('INSERT INTO users (id, name, created_at) VALUES (?, ?, ?)').run(id, name, now);
    return { id, name, createdAt: now, trainedThrough: 0, lastTrainedAt: null };
  }

  getUser(id: string): User | undefined {
    const row = this.stmts.userById.get(id);
    return row ? toUser(row) : undefined;
  }

  /** Users with their counts, oldest first (one user with `userId`). */
  listUsers(userId?: string): UserSummary[] {
    const rows = this.db
      .prepare<
        { id: string | null },
        UserRow & {
          devices: number;
          samples: number;
          labelled: number;
          new_labelled: number;
          model_version: number | null;
        }
      >(
        `SELECT u.*,
           (SELECT COUNT(*) FROM devices d WHERE d.user_id = u.id) AS devices,
           (SELECT COUNT(*) FROM samples s WHERE s.user_id = u.id) AS samples,
           (SELECT COUNT(*) FROM samples s WHERE s.user_id = u.id AND s.label >= 0) AS labelled,
           (SELECT COUNT(*) FROM samples s WHERE s.user_id = u.id AND s.label >= 0 AND s.id > u.trained_through) AS new_labelled,
           (SELECT MAX(version) FROM models m WHERE m.scope = 'user:' || u.id AND m.status = 'promoted') AS model_version
         FROM users u WHERE @id IS NULL OR u.id = @id ORDER BY u.created_at, u.id`,
      )
      .all({ id: userId ?? null });
    return rows.map((r) => ({
      ...toUser(r),
      devices: r.devices,
      samples: r.samples,
      labelled: r.labelled,
      newLabelled: r.new_labelled,
      forgetPending: r.removals > r.trained_removals,
      modelVersion: r.model_version,
    }));
  }

  /** What the retraining decision needs about one user (cheap: one indexed count). */
  retrainState(
    userId: string,
  ): Pick<UserSummary, 'id' | 'createdAt' | 'lastTrainedAt' | 'newLabelled' | 'forgetPending'> | undefined {
    const row = this.stmts.userById.get(userId);
    if (!row) return undefined;
    return {
      id: row.id,
      createdAt: row.created_at,
      lastTrainedAt: row.last_trained_at,
      newLabelled: this.countNewLabelled(userId),
      forgetPending: row.removals > row.trained_removals,
    };
  }

  /** A one-time enrollment secret for `userId` (valid `ttlMs`, `uses` enrollments). */
  createEnrollmentToken(
    userId: string,
    options: { ttlMs?: number; uses?: number } = {},
  ): { token: string; expiresAt: number } {
    if (!this.getUser(userId)) throw new FedexError('NOT_FOUND', `no user ${userId}`);
    const token = newSecret('fxe');
    const expiresAt = this.now() + (options.ttlMs ?? 24 * 3600_000);
    this.db
      .prepare(
        'INSERT INTO enrollment_tokens (token_hash, user_id, expires_at, uses_left, created_at) VALUES (?, ?, ?, ?, ?)',
      )
      .run(hashSecret(token), userId, expiresAt, options.uses ?? 1, this.now());
    return { token, expiresAt };
  }

  /** Enrolls a device for `userId` (the caller checked the admin key). */
  enrollDevice(userId: string, name: string): Enrollment {
    if (!this.getUser(userId)) throw new FedexError('NOT_FOUND', `no user ${userId}`);
    const token = newSecret('fxd');
    const device: Device = {
      id: randomUUID().replace(/-/g, '').slice(0, 16),
      userId,
      name,
      createdAt: this.now(),
      lastSeenAt: null,
    };
    this.db
      .prepare('INSERT INTO devices (id, user_id, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(device.id, userId, name, hashSecret(token), device.createdAt);
    return { device, token };
  }

  /** Enrolls a device with an enrollment secret (consumes one use); AUTH_INVALID when unknown or spent. */
  enrollWithToken(enrollmentToken: string, name: string): Enrollment {
    return this.db.transaction(() => {
      const row = this.db
        .prepare<[string], { user_id: string; expires_at: number; uses_left: number }>(
          'SELECT user_id, expires_at, uses_left FROM enrollment_tokens WHERE token_hash = ?',
        )
        .get(hashSecret(enrollmentToken));
      if (!row || row.uses_left <= 0 || row.expires_at < this.now()) {
        throw new FedexError('AUTH_INVALID', 'the enrollment token is unknown, used up or expired');
      }
      this.db
        .prepare('UPDATE enrollment_tokens SET uses_left = uses_left - 1 WHERE token_hash = ?')
        .run(hashSecret(enrollmentToken));
      return this.enrollDevice(row.user_id, name);
    })();
  }

  /** The device a bearer token belongs to, or undefined. */
  deviceByToken(token: string): Device | undefined {
    const row = this.stmts.deviceByHash.get(hashSecret(token));
    return row ? toDevice(row) : undefined;
  }

  /** A device by id (revoked or not), or undefined. */
  getDevice(deviceId: string): (Device & { revokedAt: number | null }) | undefined {
    const row = this.db
      .prepare<[string], DeviceRow & { revoked_at: number | null }>(
        'SELECT id, user_id, name, created_at, last_seen_at, revoked_at FROM devices WHERE id = ?',
      )
      .get(deviceId);
    return row ? { ...toDevice(row), revokedAt: row.revoked_at } : undefined;
  }

  /**
   * Revokes a device: its bearer token stops authenticating at once (`deviceByToken` no longer
   * finds it). Its uploaded data stays. True when the device exists (revoking twice is a no-op).
   */
  revokeDevice(deviceId: string): boolean {
    const r = this.db
      .prepare('UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?')
      .run(this.now(), deviceId);
    return r.changes > 0;
  }

  /** The user's devices that are not revoked. */
  listDevices(userId: string): Device[] {
    return this.db
      .prepare<[string], DeviceRow>(
        'SELECT id, user_id, name, created_at, last_seen_at FROM devices WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at, id',
      )
      .all(userId)
      .map(toDevice);
  }

  touchDevice(deviceId: string): void {
    this.db.prepare('UPDATE devices SET last_seen_at = ? WHERE id = ?').run(this.now(), deviceId);
  }

  // ---- labels ------------------------------------------------------------------------------

  getLabels(userId: string): Label[] {
    return this.db
      .prepare<[string], { label_id: number; name: string }>(
        'SELECT label_id, name FROM labels WHERE user_id = ? ORDER BY label_id',
      )
      .all(userId)
      .map((r) => ({ id: r.label_id, name: r.name }));
  }

  /** Sets names of label ids (insert or rename), in one transaction. */
  setLabels(userId: string, labels: readonly Label[]): Label[] {
    const stmt = this.db.prepare(
      `INSERT INTO labels (user_id, label_id, name, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (user_id, label_id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at`,
    );
    this.db.transaction(() => {
      for (const l of labels) stmt.run(userId, l.id, l.name, this.now());
    })();
    return this.getLabels(userId);
  }

  // ---- samples -----------------------------------------------------------------------------

  /**
   * The key a spec is stored under for `userId`. A spec of the backbone registry (a known backbone
   * id and split: its shape is fixed by code) is shared by every user, under `specKey(spec)`. Any
   * other spec belongs to the user who uploads it, under `specKey(spec)#<userId>` (`#` never occurs
   * in a percent-encoded spec key), so one user's first upload cannot fix the shape every other
   * user must send. Without `userId` (an admin's or a test's direct call) the key is the shared one.
   */
  specKeyFor(spec: Pick<FeatureSpec, 'backboneId' | 'backboneVersion' | 'split'>, userId?: string): string {
    return storedSpecKey(spec, userId);
  }

  /**
   * Records a feature spec (idempotent) and returns its stored key ({@link specKeyFor}).
   * FEATURE_MISMATCH when a registry spec comes with another shape than the registry's, or when the
   * key is stored with another shape.
   */
  registerSpec(spec: FeatureSpec, userId?: string): string {
    checkRegistryShape(spec);
    const key = this.specKeyFor(spec, userId);
    const existing = this.stmts.specByKey.get(key);
    if (existing) {
      checkStoredShape(key, existing.shape, spec);
      return key;
    }
    const owner = specOwner(spec, key, userId);
    this.db
      .prepare(
        'INSERT INTO specs (key, backbone_id, backbone_version, split, shape, owner) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(key, spec.backboneId, spec.backboneVersion, spec.split, JSON.stringify(spec.shape), owner);
    return key;
  }

  /**
   * QUOTA_EXCEEDED, before anything is written, when storing `batch` would take the user past
   * `quota`: only its samples new to the store count (a re-sent sample replaces its old row).
   */
  private checkQuota(userId: string, spec: string, batch: FeatureBatch, quota: UserQuota): void {
    const known =
      this.db
        .prepare<[string, string, string], { n: number }>(BY_IDS_SQL.countKnownClients)
        .get(userId, spec, JSON.stringify(batch.sampleIds))?.n ?? 0;
    const adding = batch.sampleIds.length - known;
    if (adding <= 0) return;
    checkQuota(this.usage(userId), adding, shapeSize(batch.spec.shape), quota);
  }

  /**
   * Samples and stored feature bytes of one user. Counted once (an index-only count per spec: ~8 ms
   * for 100,000 samples), then kept up to date by {@link ingestBatch}, so the quota check costs no
   * scan on every upload. This store is the server's only writer; a failed write drops the cache.
   */
  usage(userId: string): UserUsage {
    const cached = this.usageCache.get(userId);
    if (cached) return { ...cached };
    const counted = this.countUsage(userId);
    this.usageCache.set(userId, counted);
    return { ...counted };
  }

  private countUsage(userId: string): UserUsage {
    const rows = this.db
      .prepare<[string], { spec_key: string; n: number }>(
        'SELECT spec_key, COUNT(*) AS n FROM samples WHERE user_id = ? GROUP BY spec_key',
      )
      .all(userId);
    let samples = 0;
    let featureBytes = 0;
    for (const r of rows) {
      const spec = this.getSpec(r.spec_key);
      samples += r.n;
      featureBytes += r.n * (spec ? shapeSize(spec.shape) : 0) * 4;
    }
    return { samples, featureBytes };
  }

  getSpec(key: string): FeatureSpec | undefined {
    const row = this.stmts.specByKey.get(key);
    return row ? toSpec(row) : undefined;
  }

  /**
   * Stores a decoded batch for the device's user, idempotent by `batchId`: the same id with the
   * same bytes (`sha256`) returns the first result with `duplicate: true` and changes nothing; the
   * same id with other bytes is IDEMPOTENCY_CONFLICT. Label names in the batch are recorded (a
   * name never overwrites an existing one). One transaction: all of the batch or nothing.
   */
  ingestBatch(input: IngestInput): IngestResult {
    const { device, batchId, sha256, batch } = input;
    const userId = device.userId;
    const store = this.db.transaction((): IngestResult => {
      const prior = this.stmts.batchByKey.get(userId, batchId);
      if (prior) {
        if (prior.sha256 !== sha256) {
          throw new FedexError(
            'IDEMPOTENCY_CONFLICT',
            `batch id "${batchId}" was already used for different content; use a new id for new data`,
          );
        }
        return {
          batchId,
          samples: prior.samples,
          inserted: prior.inserted,
          updated: prior.updated,
          duplicate: true,
          receivedAt: prior.received_at,
        };
      }
      const quota = input.quota;
      if (quota && (quota.maxSamples > 0 || quota.maxFeatureBytes > 0)) {
        this.checkQuota(userId, this.specKeyFor(batch.spec, userId), batch, quota);
      }
      const spec = this.registerSpec(batch.spec, userId);
      const dim = shapeSize(batch.spec.shape);
      const now = this.now();
      let inserted = 0;
      let updated = 0;
      let renamed = Number.POSITIVE_INFINITY; // lowest id of a re-sent sample whose label changed
      for (let i = 0; i < batch.sampleIds.length; i++) {
        const label = batch.labels[i];
        const row = {
          user: userId,
          device: device.id,
          batch: batchId,
          client: batch.sampleIds[i],
          spec,
          label: label < 0 ? UNLABELLED : label,
          features: floatsToBlob(batch.features, i * dim, dim),
          now,
        };
        if (this.stmts.insertSample.run(row).changes === 1) {
          inserted++;
        } else {
          const old = this.db
            .prepare<[string, string, string], { id: number; label: number }>(
              'SELECT id, label FROM samples WHERE user_id = ? AND spec_key = ? AND client_id = ?',
            )
            .get(userId, spec, row.client);
          this.stmts.updateSample.run(row);
          updated++;
          if (old && row.label >= 0 && row.label !== old.label) renamed = Math.min(renamed, old.id);
        }
      }
      // A re-sent sample with another label is new labelled data, as a relabel is.
      if (Number.isFinite(renamed))
        this.db
          .prepare('UPDATE users SET trained_through = MIN(trained_through, ?) WHERE id = ?')
          .run(renamed - 1, userId);
      if (batch.labelNames) {
        batch.labelNames.forEach((name, id) => {
          if (typeof name === 'string' && name.length > 0)
            this.stmts.insertLabelName.run(userId, id, name, now);
        });
      }
      this.stmts.insertBatch.run(
        userId,
        batchId,
        device.id,
        sha256,
        spec,
        batch.sampleIds.length,
        inserted,
        updated,
        now,
      );
      this.stmts.touchDevice.run(now, device.id);
      const usage = this.usageCache.get(userId);
      if (usage) {
        usage.samples += inserted;
        usage.featureBytes += inserted * dim * 4;
      }
      return {
        batchId,
        samples: batch.sampleIds.length,
        inserted,
        updated,
        duplicate: false,
        receivedAt: now,
      };
    });
    try {
      return store();
    } catch (e) {
      this.usageCache.clear(); // whatever this write counted may be rolled back
      throw e;
    }
  }

  /**
   * Group commit: several uploads in one transaction (one fsync), each in its own savepoint, so one
   * rejected upload (conflict, spec mismatch) leaves the others stored. Returns, per input, its
   * result or the error it was rejected with; throws (storing none) only when the transaction
   * itself fails.
   */
  ingestMany(inputs: readonly IngestInput[]): (IngestResult | Error)[] {
    this.assertFileIntact();
    try {
      return this.db.transaction(() =>
        inputs.map((input) => {
          try {
            return this.ingestBatch(input);
          } catch (e) {
            // A full disk fails the whole transaction: let it reach the outer catch.
            if (storageError(e) !== e) throw e;
            return e instanceof Error ? e : new Error(String(e));
          }
        }),
      )();
    } catch (e) {
      this.usageCache.clear(); // the whole group was rolled back
      throw storageError(e);
    }
  }

  /** Whether a batch id is stored for the user. */
  hasBatch(userId: string, batchId: string): boolean {
    return this.stmts.batchByKey.get(userId, batchId) !== undefined;
  }

  countBatches(userId?: string): number {
    const row = userId
      ? this.db
          .prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM batches WHERE user_id = ?')
          .get(userId)
      : this.db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM batches').get();
    return row?.n ?? 0;
  }

  countSamples(userId?: string): number {
    const row = userId
      ? this.db
          .prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM samples WHERE user_id = ?')
          .get(userId)
      : this.db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM samples').get();
    return row?.n ?? 0;
  }

  /** A page of the user's samples (no features), by ascending id after `after`. */
  listSamples(
    userId: string,
    options: { after?: number; limit?: number; label?: number } = {},
  ): SampleInfo[] {
    const after = options.after ?? 0;
    const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
    const labelClause = options.label === undefined ? '' : ' AND label = @label';
    return this.db
      .prepare<
        { user: string; after: number; limit: number; label?: number },
        {
          id: number;
          client_id: string;
          device_id: string;
          batch_id: string;
          spec_key: string;
          label: number;
          created_at: number;
          updated_at: number;
        }
      >(
        `SELECT id, client_id, device_id, batch_id, spec_key, label, created_at, updated_at FROM samples
         WHERE user_id = @user AND id > @after${labelClause} ORDER BY id LIMIT @limit`,
      )
      .all({ user: userId, after, limit, ...(options.label === undefined ? {} : { label: options.label }) })
      .map((r) => ({
        id: r.id,
        clientId: r.client_id,
        deviceId: r.device_id,
        batchId: r.batch_id,
        specKey: r.spec_key,
        label: r.label,
        createdAt: r.created_at,
        updatedAt: r.updated_at,
      }));
  }

  /**
   * Sets the label of the user's samples (by server id or client id; -1 clears it). All or
   * nothing: NOT_FOUND (and no change) when any id is not one of the user's samples. A relabelled
   * sample counts as new labelled data: the user's `trained_through` is lowered below it, so the
   * retraining trigger sees it.
   */
  relabel(
    userId: string,
    ids: { sampleIds?: readonly number[]; clientIds?: readonly string[] },
    label: number,
  ): number {
    this.assertFileIntact();
    // One statement per kind of id, with the ids as one JSON parameter (json_each), each looked up
    // by index: 10,000 ids cost one indexed pass, not 10,000 scans of the user's samples.
    const sampleIds = [...new Set(ids.sampleIds ?? [])];
    const clientIds = [...new Set(ids.clientIds ?? [])];
    const run = this.db.transaction(() => {
      const now = this.now();
      let changed = 0;
      let lowest = Number.POSITIVE_INFINITY;
      if (sampleIds.length > 0) {
        lowest = Math.min(lowest, this.lowestOrMissing(userId, { sampleIds }));
        changed += this.db
          .prepare(BY_IDS_SQL.relabelIds)
          .run(label, now, userId, JSON.stringify(sampleIds)).changes;
      }
      if (clientIds.length > 0) {
        lowest = Math.min(lowest, this.lowestOrMissing(userId, { clientIds }));
        changed += this.db
          .prepare(BY_IDS_SQL.relabelClients)
          .run(label, now, userId, JSON.stringify(clientIds)).changes;
      }
      // A relabelled sample must be seen by the next "enough new labelled data" check.
      if (Number.isFinite(lowest)) {
        this.db
          .prepare('UPDATE users SET trained_through = MIN(trained_through, ?) WHERE id = ?')
          .run(lowest - 1, userId);
      }
      return changed;
    });
    try {
      return run();
    } catch (e) {
      throw storageError(e);
    }
  }

  /**
   * {@link relabel} for long id lists without holding the server's one thread: every id is checked
   * first (reads, `chunk` ids at a time), so an unknown id still rejects the request before anything
   * is written; then the labels are written `chunk` ids per transaction, yielding to the event loop
   * between steps (about 5-7 ms each for 500 ids), so other users' requests run in between.
   * Relabelling is idempotent: if the process dies between two steps, part of the list is
   * relabelled and resending the same request finishes it.
   */
  async relabelInSteps(
    userId: string,
    ids: { sampleIds?: readonly number[]; clientIds?: readonly string[] },
    label: number,
    chunk = 500,
  ): Promise<number> {
    const sampleIds = [...new Set(ids.sampleIds ?? [])];
    const clientIds = [...new Set(ids.clientIds ?? [])];
    if (sampleIds.length + clientIds.length <= chunk) return this.relabel(userId, ids, label);
    const parts = <T>(list: T[]): T[][] =>
      Array.from({ length: Math.ceil(list.length / chunk) }, (_, i) =>
        list.slice(i * chunk, (i + 1) * chunk),
      );
    const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
    for (const part of parts(sampleIds)) {
      this.lowestOrMissing(userId, { sampleIds: part });
      await turn();
    }
    for (const part of parts(clientIds)) {
      this.lowestOrMissing(userId, { clientIds: part });
      await turn();
    }
    let changed = 0;
    for (const part of parts(sampleIds)) {
      changed += this.relabel(userId, { sampleIds: part }, label);
      await turn();
    }
    for (const part of parts(clientIds)) {
      changed += this.relabel(userId, { clientIds: part }, label);
      await turn();
    }
    return changed;
  }

  /**
   * Deletes the user's samples named by server id or client id, features and all. Idempotent: ids
   * that are not (or no longer) the user's are counted in `missing`, never an error, so a device
   * can resend a deletion it is not sure arrived; nothing says whether such an id exists for
   * another user. When a labelled sample goes, the user's `removals` count rises: the scheduler
   * then retrains at once and the next model does not compare itself with models that saw them.
   */
  deleteSamples(
    userId: string,
    ids: { sampleIds?: readonly number[]; clientIds?: readonly string[] },
  ): { deleted: number; labelled: number; missing: number } {
    this.assertFileIntact();
    const sampleIds = [...new Set(ids.sampleIds ?? [])];
    const clientIds = [...new Set(ids.clientIds ?? [])];
    const run = this.db.transaction(() => {
      const labels: number[] = [];
      if (sampleIds.length > 0)
        for (const r of this.db
          .prepare<[string, string], { label: number }>(BY_IDS_SQL.deleteIds)
          .all(userId, JSON.stringify(sampleIds)))
          labels.push(r.label);
      if (clientIds.length > 0)
        for (const r of this.db
          .prepare<[string, string], { label: number }>(BY_IDS_SQL.deleteClients)
          .all(userId, JSON.stringify(clientIds)))
          labels.push(r.label);
      const labelled = labels.filter((l) => l >= 0).length;
      if (labelled > 0) this.db.prepare('UPDATE users SET removals = removals + 1 WHERE id = ?').run(userId);
      return { deleted: labels.length, labelled };
    });
    try {
      const { deleted, labelled } = run();
      // Several client ids may name one sample each; the ids asked for minus the rows found.
      const missing = Math.max(0, sampleIds.length + clientIds.length - deleted);
      return { deleted, labelled, missing };
    } catch (e) {
      throw storageError(e);
    } finally {
      // Counted again on the next upload: a few ms, once, after a rare request.
      this.usageCache.delete(userId);
    }
  }

  /** The lowest sample id the ids name; NOT_FOUND naming the first id that is not the user's. */
  private lowestOrMissing(userId: string, ids: { sampleIds?: number[]; clientIds?: string[] }): number {
    if (ids.sampleIds) {
      const found = this.db
        .prepare<[string, string], { id: number }>(BY_IDS_SQL.findIds)
        .all(userId, JSON.stringify(ids.sampleIds));
      if (found.length !== ids.sampleIds.length) {
        const have = new Set(found.map((r) => r.id));
        const missing = ids.sampleIds.find((id) => !have.has(id));
        throw new FedexError('NOT_FOUND', `no sample ${missing} for this user`);
      }
      return found.reduce((m, r) => Math.min(m, r.id), Number.POSITIVE_INFINITY);
    }
    const clientIds = ids.clientIds ?? [];
    const found = this.db
      .prepare<[string, string], { id: number; client_id: string }>(BY_IDS_SQL.findClients)
      .all(userId, JSON.stringify(clientIds));
    const have = new Set(found.map((r) => r.client_id));
    if (have.size !== clientIds.length) {
      const missing = clientIds.find((c) => !have.has(c));
      throw new FedexError('NOT_FOUND', `no sample "${missing}" for this user`);
    }
    return found.reduce((m, r) => Math.min(m, r.id), Number.POSITIVE_INFINITY);
  }

  /** Labelled samples that arrived or changed since the user's last finished training. */
  countNewLabelled(userId: string): number {
    const row = this.db
      .prepare<[string, string], { n: number }>(
        'SELECT COUNT(*) AS n FROM samples WHERE user_id = ? AND label >= 0 AND id > (SELECT trained_through FROM users WHERE id = ?)',
      )
      .get(userId, userId);
    return row?.n ?? 0;
  }

  /** Spec keys with labelled samples, most labelled first (of one user, or of everyone). */
  labelledSpecs(userId?: string): { specKey: string; labelled: number }[] {
    const rows = userId
      ? this.db
          .prepare<[string], { spec_key: string; n: number }>(
            'SELECT spec_key, COUNT(*) AS n FROM samples WHERE user_id = ? AND label >= 0 GROUP BY spec_key ORDER BY n DESC, spec_key',
          )
          .all(userId)
      : this.db
          .prepare<[], { spec_key: string; n: number }>(
            `SELECT s.spec_key, COUNT(*) AS n FROM samples s JOIN specs p ON p.key = s.spec_key
             WHERE s.label >= 0 AND p.owner IS NULL GROUP BY s.spec_key ORDER BY n DESC, s.spec_key`,
          )
          .all();
    return rows.map((r) => ({ specKey: r.spec_key, labelled: r.n }));
  }

  /** Labelled features of one spec: one user's (scope `user:<id>`) or everyone's (`global`). */
  trainingSet(scope: Scope, specKey: string, options: { maxSamples?: number } = {}): TrainingSet {
    const limit = options.maxSamples ?? -1; // SQLite: a negative LIMIT is no limit
    const row = this.stmts.specByKey.get(specKey);
    if (!row) throw new FedexError('NOT_FOUND', `no samples of spec ${specKey}`);
    const spec = toSpec(row);
    const dim = shapeSize(spec.shape);
    const parsed = parseScope(scope);
    if (!parsed) throw new FedexError('BAD_REQUEST', `bad scope "${scope}"`);
    if (row.owner !== null && !(parsed.kind === 'user' && parsed.userId === row.owner)) {
      throw new FedexError('NOT_FOUND', `no samples of spec ${specKey} in ${scope}`);
    }
    const read = this.db.transaction(() => {
      const rows =
        parsed.kind === 'user'
          ? this.db
              .prepare<
                [string, string, number],
                { id: number; user_id: string; label: number; features: Buffer }
              >(
                'SELECT id, user_id, label, features FROM samples WHERE user_id = ? AND spec_key = ? AND label >= 0 ORDER BY id DESC LIMIT ?',
              )
              .all(parsed.userId, specKey, limit)
          : this.db
              .prepare<[string, number], { id: number; user_id: string; label: number; features: Buffer }>(
                'SELECT id, user_id, label, features FROM samples WHERE spec_key = ? AND label >= 0 ORDER BY id DESC LIMIT ?',
              )
              .all(specKey, limit);
      rows.reverse(); // newest `limit`, in ascending id order
      const through =
        parsed.kind === 'user'
          ? (this.stmts.maxSampleId.get(parsed.userId)?.m ?? 0)
          : (this.db.prepare<[], { m: number | null }>('SELECT MAX(id) AS m FROM samples').get()?.m ?? 0);
      const user = parsed.kind === 'user' ? this.stmts.userById.get(parsed.userId) : undefined;
      return { rows, through, user };
    });
    const { rows, through, user } = read();
    // The global model's class names are `<owner>/<label>`: the owner is a keyed pseudonym of the
    // user id (stable across versions, so a candidate is still compared with the current model),
    // never the id itself, since every device may read the global model's metadata.
    const pseudonyms = new Map<string, string>();
    const ownerOf = (userId: string): string => {
      if (parsed.kind === 'user') return userId;
      let p = pseudonyms.get(userId);
      if (p === undefined) {
        p = this.pseudonym(userId);
        pseudonyms.set(userId, p);
      }
      return p;
    };
    const features = new Float32Array(rows.length * dim);
    const labels = new Int32Array(rows.length);
    rows.forEach((r, i) => {
      if (r.features.byteLength !== dim * 4) {
        throw new FedexError(
          'INTERNAL',
          `sample ${r.id} holds ${r.features.byteLength} bytes, expected ${dim * 4}`,
        );
      }
      for (let k = 0; k < dim; k++) features[i * dim + k] = r.features.readFloatLE(k * 4);
      labels[i] = r.label;
    });
    return {
      spec,
      specKey,
      sampleIds: rows.map((r) => r.id),
      labels,
      owners: rows.map((r) => ownerOf(r.user_id)),
      features,
      throughSampleId: through,
      ...(user ? { removals: { removals: user.removals, trained: user.trained_removals } } : {}),
    };
  }

  /**
   * A user's pseudonym in shared artefacts (the global model's class names): 16 hex digits of
   * HMAC-SHA256 of the id under this database's own random salt, so it cannot be reversed by
   * hashing candidate ids without the database.
   */
  pseudonym(userId: string): string {
    this.salt ??= this.db
      .prepare<[], { value: string }>("SELECT value FROM settings WHERE name = 'pseudonym_salt'")
      .get()?.value;
    if (!this.salt) throw new FedexError('INTERNAL', 'the database has no pseudonym salt');
    return pseudonymOf(this.salt, userId);
  }

  // ---- models ------------------------------------------------------------------------------

  /** Stores a new version (previous version + 1) in one transaction; returns it without weights. */
  insertModel(model: NewModel): ModelInfo {
    return this.db.transaction(() => {
      const prev = this.db
        .prepare<[string], { v: number | null }>('SELECT MAX(version) AS v FROM models WHERE scope = ?')
        .get(model.scope);
      const version = (prev?.v ?? 0) + 1;
      const checksum = sha256Hex(model.weights);
      const now = this.now();
      const info = this.db
        .prepare(
          `INSERT INTO models (scope, version, spec_key, head, config, metrics, labels, weights, checksum, size, status, reason, job_id, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          model.scope,
          version,
          model.specKey,
          model.head,
          JSON.stringify(model.config),
          JSON.stringify(model.metrics),
          JSON.stringify(model.labels),
          Buffer.from(model.weights.buffer, model.weights.byteOffset, model.weights.byteLength),
          checksum,
          model.weights.byteLength,
          model.status,
          model.reason ?? null,
          model.jobId ?? null,
          now,
        );
      return this.modelInfoById(Number(info.lastInsertRowid))!;
    })();
  }

  private modelInfoById(id: number): ModelInfo | undefined {
    const row = this.db
      .prepare<[number], ModelRow>(`SELECT ${MODEL_INFO_COLUMNS} FROM models WHERE id = ?`)
      .get(id);
    return row ? toModelInfo(row) : undefined;
  }

  /** The newest promoted version of a scope (what devices get), without weights. */
  latestModelInfo(scope: Scope): ModelInfo | undefined {
    const row = this.db
      .prepare<[string], ModelRow>(
        `SELECT ${MODEL_INFO_COLUMNS} FROM models WHERE scope = ? AND status = 'promoted' ORDER BY version DESC LIMIT 1`,
      )
      .get(scope);
    return row ? toModelInfo(row) : undefined;
  }

  /** One version with its weights (`latest`: newest promoted). */
  modelVersion(scope: Scope, version: number | 'latest'): ModelVersion | undefined {
    const row =
      version === 'latest'
        ? this.db
            .prepare<[string], ModelRow>(
              `SELECT ${MODEL_COLUMNS}, weights FROM models WHERE scope = ? AND status = 'promoted' ORDER BY version DESC LIMIT 1`,
            )
            .get(scope)
        : this.db
            .prepare<[string, number], ModelRow>(
              `SELECT ${MODEL_COLUMNS}, weights FROM models WHERE scope = ? AND version = ?`,
            )
            .get(scope, version);
    if (!row || !row.weights) return undefined;
    return { ...toModelInfo(row), weights: new Uint8Array(row.weights) };
  }

  /** Versions, newest first (one scope, or every scope). */
  listModels(options: { scope?: Scope; limit?: number } = {}): ModelInfo[] {
    const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
    const rows = options.scope
      ? this.db
          .prepare<[string, number], ModelRow>(
            `SELECT ${MODEL_INFO_COLUMNS} FROM models WHERE scope = ? ORDER BY version DESC LIMIT ?`,
          )
          .all(options.scope, limit)
      : this.db
          .prepare<[number], ModelRow>(`SELECT ${MODEL_INFO_COLUMNS} FROM models ORDER BY id DESC LIMIT ?`)
          .all(limit);
    return rows.map(toModelInfo);
  }

  // ---- jobs --------------------------------------------------------------------------------

  /**
   * Queues a training job for `scope`, unless one is already queued for it (that one is returned,
   * with `created: false`): a burst of triggers trains once.
   */
  enqueueJob(
    scope: Scope,
    trigger: JobTrigger,
    config: Record<string, unknown> = {},
    maxAttempts = 3,
  ): { job: Job; created: boolean } {
    return this.db.transaction(() => {
      const queued = this.db
        .prepare<[string], JobRow>(
          "SELECT * FROM jobs WHERE scope = ? AND status = 'queued' ORDER BY id LIMIT 1",
        )
        .get(scope);
      if (queued) return { job: toJob(queued), created: false };
      const now = this.now();
      const info = this.db
        .prepare(
          "INSERT INTO jobs (scope, trigger, status, config, max_attempts, created_at, updated_at) VALUES (?, ?, 'queued', ?, ?, ?, ?)",
        )
        .run(scope, trigger, JSON.stringify(config), maxAttempts, now, now);
      return { job: this.getJob(Number(info.lastInsertRowid))!, created: true };
    })();
  }

  getJob(id: number): Job | undefined {
    const row = this.stmts.jobById.get(id);
    return row ? toJob(row) : undefined;
  }

  listJobs(options: { scope?: Scope; status?: JobStatus; limit?: number } = {}): Job[] {
    const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
    const where: string[] = [];
    const params: Record<string, unknown> = { limit };
    if (options.scope) {
      where.push('scope = @scope');
      params.scope = options.scope;
    }
    if (options.status) {
      where.push('status = @status');
      params.status = options.status;
    }
    const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT @limit`;
    return this.db.prepare<Record<string, unknown>, JobRow>(sql).all(params).map(toJob);
  }

  /**
   * Running jobs whose lease ran out (their worker died or hung): back to the queue, or failed for
   * good (dead letter) when that was their last attempt. Called inside each claim.
   */
  private expireLeases(now: number): void {
    const expired = this.db
      .prepare<[number], JobRow>(
        "SELECT * FROM jobs WHERE status = 'running' AND lease_until IS NOT NULL AND lease_until < ?",
      )
      .all(now);
    for (const row of expired) {
      this.failJobNow(
        toJob(row),
        leaseExpiredMessage(row.lease_owner, row.attempts, row.max_attempts),
        true,
        now,
      );
    }
  }

  /**
   * Takes the oldest due queued job whose scope has no running job, marks it running under
   * `lease` (default: this process, {@link LOCAL_LEASE_MS}) and counts the attempt; first, running
   * jobs whose lease expired go back to the queue or fail for good. Undefined when there is none.
   */
  claimJob(lease?: JobLease): Job | undefined {
    const owner = lease?.owner ?? LOCAL_OWNER;
    const ms = lease?.ms ?? LOCAL_LEASE_MS;
    return this.db.transaction(() => {
      const now = this.now();
      this.expireLeases(now);
      const row = this.db
        .prepare<[number], JobRow>(
          `SELECT * FROM jobs j WHERE status = 'queued' AND run_after <= ?
             AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.scope = j.scope AND r.status = 'running')
           ORDER BY id LIMIT 1`,
        )
        .get(now);
      if (!row) return undefined;
      this.db
        .prepare(
          "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = ?, updated_at = ?, progress = 0, message = 'starting', lease_owner = ?, lease_until = ? WHERE id = ?",
        )
        .run(now, now, owner, now + ms, row.id);
      return this.getJob(row.id);
    })();
  }

  /** Renews the lease of a running job held by `lease.owner`; says whether it is still held. */
  heartbeatJob(id: number, lease: JobLease): LeaseState {
    const now = this.now();
    const r = this.db
      .prepare(
        "UPDATE jobs SET lease_until = ?, updated_at = ? WHERE id = ? AND status = 'running' AND lease_owner = ?",
      )
      .run(now + lease.ms, now, id, lease.owner);
    if (r.changes > 0) return 'held';
    return this.getJob(id)?.status === 'cancelled' ? 'cancelled' : 'lost';
  }

  /** Whether `lease.owner` still holds job `job` (running, claimed by it). */
  private holds(job: Job, lease: JobLease | undefined): boolean {
    return !lease || (job.status === 'running' && job.leaseOwner === lease.owner);
  }

  /** Writes a running job's progress (and, with `lease`, renews it while `lease.owner` holds it). */
  updateJobProgress(id: number, progress: number, message: string | null, lease?: JobLease): void {
    const now = this.now();
    const p = Math.min(Math.max(progress, 0), 1);
    if (lease)
      this.db
        .prepare(
          "UPDATE jobs SET progress = ?, message = ?, updated_at = ?, lease_until = ? WHERE id = ? AND status = 'running' AND lease_owner = ?",
        )
        .run(p, message, now, now + lease.ms, id, lease.owner);
    else
      this.db
        .prepare(
          "UPDATE jobs SET progress = ?, message = ?, updated_at = ? WHERE id = ? AND status = 'running'",
        )
        .run(p, message, now, id);
  }

  /**
   * Finishes a running job: stores its model version (if any), marks the user trained through
   * `trainedThrough`, and the job done — one transaction, so a crash leaves either all or none.
   */
  completeJob(
    id: number,
    outcome: {
      result: Record<string, unknown>;
      model?: NewModel;
      trainedThrough?: number;
      /** The user's `removals` when the training set was read. */
      trainedRemovals?: number;
    },
    lease?: JobLease,
  ): { job: Job; model?: ModelInfo; stale?: boolean } {
    return this.db.transaction(() => {
      const job = this.getJob(id);
      if (!job) throw new FedexError('NOT_FOUND', `no job ${id}`);
      // Cancelled while it trained: its outcome is dropped, nothing is stored.
      if (job.status === 'cancelled') return { job };
      // Taken over by another worker (this one's lease ran out) or already finished: the other
      // attempt stores its own outcome; storing this one too would make a second model version.
      if (!this.holds(job, lease) || job.status !== 'running') return { job, stale: true };
      const model = outcome.model ? this.insertModel({ ...outcome.model, jobId: id }) : undefined;
      const parsed = parseScope(job.scope);
      if (parsed?.kind === 'user' && outcome.trainedThrough !== undefined) {
        this.db
          .prepare(
            'UPDATE users SET trained_through = MAX(trained_through, ?), last_trained_at = ? WHERE id = ?',
          )
          .run(outcome.trainedThrough, this.now(), parsed.userId);
        // A sample relabelled (or re-sent) while the job trained may have been read with its old
        // label: it stays "new", so the next check retrains on it (the mark is never raised over it).
        const changed = this.db
          .prepare<[string, number, number], { m: number | null }>(
            'SELECT MIN(id) AS m FROM samples WHERE user_id = ? AND id <= ? AND updated_at > ? AND label >= 0',
          )
          .get(parsed.userId, outcome.trainedThrough, job.startedAt ?? 0)?.m;
        if (changed !== null && changed !== undefined)
          this.db
            .prepare('UPDATE users SET trained_through = MIN(trained_through, ?) WHERE id = ?')
            .run(changed - 1, parsed.userId);
        if (outcome.trainedRemovals !== undefined)
          this.db
            .prepare('UPDATE users SET trained_removals = MAX(trained_removals, ?) WHERE id = ?')
            .run(outcome.trainedRemovals, parsed.userId);
      }
      const now = this.now();
      const result = {
        ...outcome.result,
        ...(model ? { modelVersion: model.version, promoted: model.status === 'promoted' } : {}),
      };
      this.db
        .prepare(
          "UPDATE jobs SET status = 'done', progress = 1, message = 'done', result = ?, error = NULL, finished_at = ?, updated_at = ? WHERE id = ?",
        )
        .run(JSON.stringify(result), now, now, id);
      return { job: this.getJob(id)!, model };
    })();
  }

  /**
   * A running job failed. It goes back to the queue, after a backoff of `backoffMs × 2^(attempt-1)`,
   * while attempts remain and `retry` is true, else it is marked failed for good. With `lease`, only
   * while `lease.owner` holds it (else it is returned unchanged).
   */
  failJob(id: number, error: string, retry = true, lease?: JobLease): Job {
    return this.db.transaction(() => {
      const job = this.getJob(id);
      if (!job) throw new FedexError('NOT_FOUND', `no job ${id}`);
      // Only a running attempt can fail: a job already done, failed or cancelled stays as it is.
      if (job.status !== 'running' || !this.holds(job, lease)) return job;
      return this.failJobNow(job, error, retry, this.now(), true);
    })();
  }

  private failJobNow(job: Job, error: string, retry: boolean, now: number, backoff = false): Job {
    const again = retry && job.attempts < job.maxAttempts;
    const wait = again && backoff ? this.queue.backoffMs * 2 ** Math.max(0, job.attempts - 1) : 0;
    this.db
      .prepare(
        `UPDATE jobs SET status = ?, error = ?, message = ?, updated_at = ?, finished_at = ?,
           lease_owner = NULL, lease_until = NULL, run_after = ? WHERE id = ?`,
      )
      .run(
        again ? 'queued' : 'failed',
        error,
        again ? `retrying after: ${error}` : 'failed',
        now,
        again ? null : now,
        now + wait,
        job.id,
      );
    return this.getJob(job.id)!;
  }

  /**
   * Cancels a queued or running job: it becomes `cancelled` (final; the runner stops a running one
   * and stores nothing of it). Returns the job as it is now; a job already finished is returned
   * unchanged with `changed: false`.
   */
  cancelJob(id: number, by: string): { job: Job; changed: boolean; wasRunning: boolean } {
    return this.db.transaction(() => {
      const job = this.getJob(id);
      if (!job) throw new FedexError('NOT_FOUND', `no job ${id}`);
      if (job.status !== 'queued' && job.status !== 'running')
        return { job, changed: false, wasRunning: false };
      const now = this.now();
      this.db
        .prepare(
          "UPDATE jobs SET status = 'cancelled', message = ?, error = NULL, finished_at = ?, updated_at = ?, lease_owner = NULL, lease_until = NULL WHERE id = ?",
        )
        .run(`cancelled by ${by}`, now, now, id);
      return { job: this.getJob(id)!, changed: true, wasRunning: job.status === 'running' };
    })();
  }

  /** At start: jobs left running by a crashed process go back to the queue (or fail when spent). */
  recoverRunningJobs(): number {
    return this.db.transaction(() => {
      const running = this.listJobs({ status: 'running', limit: 1000 });
      const now = this.now();
      for (const job of running)
        this.failJobNow(job, 'the server stopped while the job was running', true, now);
      return running.length;
    })();
  }

  countJobs(): Record<JobStatus, number> {
    const out: Record<JobStatus, number> = { queued: 0, running: 0, done: 0, failed: 0, cancelled: 0 };
    for (const r of this.db
      .prepare<[], { status: JobStatus; n: number }>('SELECT status, COUNT(*) AS n FROM jobs GROUP BY status')
      .all()) {
      out[r.status] = r.n;
    }
    return out;
  }

  // ---- schedule ----------------------------------------------------------------------------

  lastScheduledRun(name: string): number | undefined {
    return this.db
      .prepare<[string], { last_run: number }>('SELECT last_run FROM schedule WHERE name = ?')
      .get(name)?.last_run;
  }

  markScheduledRun(name: string, at: number = this.now()): void {
    this.db
      .prepare(
        'INSERT INTO schedule (name, last_run) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET last_run = excluded.last_run',
      )
      .run(name, at);
  }

  // ---- federated rounds --------------------------------------------------------------------

  private lastRound(): number {
    return this.db.prepare<[], { m: number | null }>('SELECT MAX(round) AS m FROM rounds').get()?.m ?? 0;
  }

  /** The round numbered `round` while open; NOT_FOUND when never published, ROUND_CLOSED when past. */
  private openRoundRow(round: number, now: number): RoundRow {
    const row = this.db.prepare<[number], RoundRow>('SELECT * FROM rounds WHERE round = ?').get(round);
    if (!row)
      throw new FedexError('NOT_FOUND', `no round ${round} (the last one published is ${this.lastRound()})`);
    if (row.closed_at !== null) throw new FedexError('ROUND_CLOSED', `round ${round} is closed`);
    if (now >= row.deadline_at) throw new FedexError('ROUND_CLOSED', `round ${round} closed at its deadline`);
    return row;
  }

  private roundTaskRow(round: number, deviceId: string): RoundTaskRow {
    const row = this.db
      .prepare<[number, string], RoundTaskRow>(
        `SELECT t.task, t.weights_key,
           EXISTS (SELECT 1 FROM round_updates u WHERE u.round = t.round AND u.device_id = t.device_id) AS reported
         FROM round_tasks t WHERE t.round = ? AND t.device_id = ?`,
      )
      .get(round, deviceId);
    if (!row) throw new FedexError('NOT_SELECTED', `this device was not selected for round ${round}`);
    return row;
  }

  publishRound(r: NewRound): void {
    checkNewRound(r);
    this.assertFileIntact();
    this.db
      .transaction(() => {
        const now = this.now();
        const open = this.db
          .prepare<[number], { round: number }>(
            'SELECT round FROM rounds WHERE closed_at IS NULL AND deadline_at > ? ORDER BY round DESC LIMIT 1',
          )
          .get(now);
        if (open)
          throw new FedexError('BAD_ARGUMENT', `round ${open.round} is still open; rounds run one at a time`);
        const last = this.lastRound();
        if (r.round <= last)
          throw new FedexError('BAD_ARGUMENT', `round ${r.round} must be an integer after ${last}`);
        // Rounds left open past their deadline (their runner died) close now; what earlier rounds
        // stored (tasks, weights, updates) was read by their runner and is not needed any more.
        this.db.prepare('UPDATE rounds SET closed_at = deadline_at WHERE closed_at IS NULL').run();
        this.db.exec('DELETE FROM round_updates; DELETE FROM round_tasks; DELETE FROM round_weights;');
        this.db
          .prepare(
            'INSERT INTO rounds (round, deadline_at, published_at, closed_at, tasks) VALUES (?, ?, ?, ?, ?)',
          )
          .run(r.round, r.deadlineAt, now, r.tasks.length === 0 ? now : null, r.tasks.length);
        const weights = this.db.prepare(
          'INSERT INTO round_weights (round, key, bytes, etag) VALUES (?, ?, ?, ?)',
        );
        for (const w of r.weights)
          weights.run(
            r.round,
            w.key,
            Buffer.from(w.bytes.buffer, w.bytes.byteOffset, w.bytes.byteLength),
            w.etag,
          );
        const tasks = this.db.prepare(
          'INSERT INTO round_tasks (round, device_id, task, weights_key) VALUES (?, ?, ?, ?)',
        );
        for (const t of r.tasks) tasks.run(r.round, t.deviceId, t.task, t.weightsKey ?? null);
        this.setRoundsFinished(false);
      })
      .immediate();
  }

  private setRoundsFinished(finished: boolean): void {
    this.db
      .prepare(
        "INSERT INTO settings (name, value) VALUES ('rounds_finished', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
      )
      .run(finished ? '1' : '0');
  }

  currentRound(deviceId: string): RoundPoll {
    const now = this.now();
    return this.db
      .transaction((): RoundPoll => {
        this.db
          .prepare(
            'INSERT INTO round_devices (device_id, seen_at) VALUES (?, ?) ON CONFLICT (device_id) DO UPDATE SET seen_at = excluded.seen_at',
          )
          .run(deviceId, now);
        const last = this.lastRound();
        const finished =
          this.db
            .prepare<[], { value: string }>("SELECT value FROM settings WHERE name = 'rounds_finished'")
            .get()?.value === '1';
        const open = this.db
          .prepare<[number], RoundRow>(
            'SELECT * FROM rounds WHERE closed_at IS NULL AND deadline_at > ? ORDER BY round DESC LIMIT 1',
          )
          .get(now);
        if (!open) return { last, finished, open: null };
        const task = this.db
          .prepare<[string, number, string], RoundTaskRow & { etag: string | null }>(
            `SELECT t.task, t.weights_key, w.etag,
               EXISTS (SELECT 1 FROM round_updates u WHERE u.round = t.round AND u.device_id = ?) AS reported
             FROM round_tasks t LEFT JOIN round_weights w ON w.round = t.round AND w.key = t.weights_key
             WHERE t.round = ? AND t.device_id = ?`,
          )
          .get(deviceId, open.round, deviceId);
        return {
          last,
          finished,
          open: {
            round: open.round,
            deadlineAt: open.deadline_at,
            task: task?.task ?? null,
            weightsEtag: task?.etag ?? null,
            reported: Boolean(task?.reported),
          },
        };
      })
      .immediate();
  }

  roundTask(deviceId: string, round: number): RoundTaskState {
    return this.db.transaction((): RoundTaskState => {
      this.openRoundRow(round, this.now());
      const t = this.roundTaskRow(round, deviceId);
      const w =
        t.weights_key === null
          ? undefined
          : this.db
              .prepare<[number, string], { bytes: Buffer; etag: string }>(
                'SELECT bytes, etag FROM round_weights WHERE round = ? AND key = ?',
              )
              .get(round, t.weights_key);
      return {
        task: t.task,
        reported: Boolean(t.reported),
        weights: w ? { bytes: w.bytes, etag: w.etag } : null,
      };
    })();
  }

  recordRoundUpdate(
    deviceId: string,
    round: number,
    bytes: Uint8Array,
    result: string,
  ): { received: number } {
    this.assertFileIntact();
    return this.db
      .transaction(() => {
        const now = this.now();
        const row = this.openRoundRow(round, now);
        if (this.roundTaskRow(round, deviceId).reported)
          throw new FedexError('DUPLICATE_UPDATE', `your update for round ${round} was already recorded`);
        // The primary key (round, device_id) refuses a second update even if the check above raced.
        this.db
          .prepare(
            `INSERT INTO round_updates (round, device_id, seq, bytes, result, received_at)
             VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM round_updates WHERE round = ?), ?, ?, ?)`,
          )
          .run(
            round,
            deviceId,
            round,
            Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
            result,
            now,
          );
        const received = this.db
          .prepare<[number], { n: number }>('SELECT COUNT(*) AS n FROM round_updates WHERE round = ?')
          .get(round)!.n;
        if (received >= row.tasks)
          this.db.prepare('UPDATE rounds SET closed_at = ? WHERE round = ?').run(now, round);
        return { received };
      })
      .immediate();
  }

  roundProgress(round: number): RoundProgress | undefined {
    const row = this.db
      .prepare<[number], RoundRow & { updates: number }>(
        'SELECT r.*, (SELECT COUNT(*) FROM round_updates u WHERE u.round = r.round) AS updates FROM rounds r WHERE r.round = ?',
      )
      .get(round);
    return row && toRoundProgress(row);
  }

  closeRound(round: number): RoundUpdate[] {
    return this.db
      .transaction(() => {
        const exists = this.db.prepare<[number], { round: number }>(
          'SELECT round FROM rounds WHERE round = ?',
        );
        if (!exists.get(round))
          throw new FedexError(
            'NOT_FOUND',
            `no round ${round} (the last one published is ${this.lastRound()})`,
          );
        this.db
          .prepare('UPDATE rounds SET closed_at = ? WHERE round = ? AND closed_at IS NULL')
          .run(this.now(), round);
        return this.db
          .prepare<[number], { device_id: string; bytes: Buffer; result: string }>(
            'SELECT device_id, bytes, result FROM round_updates WHERE round = ? ORDER BY seq',
          )
          .all(round)
          .map((u) => ({ deviceId: u.device_id, bytes: u.bytes, result: u.result }));
      })
      .immediate();
  }

  finishRounds(): void {
    this.db
      .transaction(() => {
        this.db.prepare('UPDATE rounds SET closed_at = ? WHERE closed_at IS NULL').run(this.now());
        this.setRoundsFinished(true);
      })
      .immediate();
  }

  activeRoundDevices(withinMs: number): string[] {
    return this.db
      .prepare<[number], { device_id: string }>('SELECT device_id FROM round_devices WHERE seen_at >= ?')
      .all(this.now() - withinMs)
      .map((r) => r.device_id)
      .sort();
  }
}

/** A row of `rounds`. */
export interface RoundRow {
  round: number;
  deadline_at: number;
  published_at: number;
  closed_at: number | null;
  tasks: number;
}

/** A device's task row, and whether its update was recorded (0/1 in SQLite, boolean in PostgreSQL). */
interface RoundTaskRow {
  task: string;
  weights_key: string | null;
  reported: number | boolean;
}

/** What `roundProgress` returns, from the round's row and its count of updates. */
export function toRoundProgress(row: RoundRow & { updates: number }): RoundProgress {
  return {
    round: row.round,
    deadlineAt: row.deadline_at,
    closed: row.closed_at !== null,
    tasks: row.tasks,
    updates: row.updates,
  };
}

/**
 * The {@link Store} interface over one SQLite file: each call runs the synchronous {@link SqliteCore}
 * method (one short transaction on this thread) and resolves with its result. `core` is there for
 * what only SQLite has (its query plans, the file itself) and for tests.
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly core: SqliteCore;

  constructor(file: string, options: StoreOptions = {}) {
    this.core = new SqliteCore(file, options);
  }

  get location(): string {
    return this.core.file;
  }
  /** The open better-sqlite3 connection. */
  get db(): Database.Database {
    return this.core.db;
  }
  async close(): Promise<void> {
    this.core.close();
  }
  async health(): Promise<string> {
    return this.core.health();
  }
  async assertWritable(): Promise<void> {
    this.core.assertFileIntact();
  }
  async createUser(name: string, id?: string): Promise<User> {
    return this.core.createUser(name, id);
  }
  async getUser(id: string): Promise<User | undefined> {
    return this.core.getUser(id);
  }
  async listUsers(userId?: string): Promise<UserSummary[]> {
    return this.core.listUsers(userId);
  }
  async retrainState(userId: string) {
    return this.core.retrainState(userId);
  }
  async createEnrollmentToken(userId: string, options?: { ttlMs?: number; uses?: number }) {
    return this.core.createEnrollmentToken(userId, options);
  }
  async enrollDevice(userId: string, name: string): Promise<Enrollment> {
    return this.core.enrollDevice(userId, name);
  }
  async enrollWithToken(enrollmentToken: string, name: string): Promise<Enrollment> {
    return this.core.enrollWithToken(enrollmentToken, name);
  }
  async deviceByToken(token: string): Promise<Device | undefined> {
    return this.core.deviceByToken(token);
  }
  async getDevice(deviceId: string) {
    return this.core.getDevice(deviceId);
  }
  async revokeDevice(deviceId: string): Promise<boolean> {
    return this.core.revokeDevice(deviceId);
  }
  async listDevices(userId: string): Promise<Device[]> {
    return this.core.listDevices(userId);
  }
  async touchDevice(deviceId: string): Promise<void> {
    this.core.touchDevice(deviceId);
  }
  async getLabels(userId: string): Promise<Label[]> {
    return this.core.getLabels(userId);
  }
  async setLabels(userId: string, labels: readonly Label[]): Promise<Label[]> {
    return this.core.setLabels(userId, labels);
  }
  specKeyFor(spec: Pick<FeatureSpec, 'backboneId' | 'backboneVersion' | 'split'>, userId?: string): string {
    return this.core.specKeyFor(spec, userId);
  }
  async registerSpec(spec: FeatureSpec, userId?: string): Promise<string> {
    return this.core.registerSpec(spec, userId);
  }
  async getSpec(key: string): Promise<FeatureSpec | undefined> {
    return this.core.getSpec(key);
  }
  async usage(userId: string): Promise<UserUsage> {
    return this.core.usage(userId);
  }
  async ingestBatch(input: IngestInput): Promise<IngestResult> {
    return this.core.ingestBatch(input);
  }
  async ingestMany(inputs: readonly IngestInput[]): Promise<(IngestResult | Error)[]> {
    return this.core.ingestMany(inputs);
  }
  async hasBatch(userId: string, batchId: string): Promise<boolean> {
    return this.core.hasBatch(userId, batchId);
  }
  async countBatches(userId?: string): Promise<number> {
    return this.core.countBatches(userId);
  }
  async countSamples(userId?: string): Promise<number> {
    return this.core.countSamples(userId);
  }
  async listSamples(userId: string, options?: { after?: number; limit?: number; label?: number }) {
    return this.core.listSamples(userId, options);
  }
  async relabel(userId: string, ids: SampleRefs, label: number): Promise<number> {
    return this.core.relabel(userId, ids, label);
  }
  relabelInSteps(userId: string, ids: SampleRefs, label: number, chunk?: number): Promise<number> {
    return this.core.relabelInSteps(userId, ids, label, chunk);
  }
  async deleteSamples(userId: string, ids: SampleRefs) {
    return this.core.deleteSamples(userId, ids);
  }
  async countNewLabelled(userId: string): Promise<number> {
    return this.core.countNewLabelled(userId);
  }
  async labelledSpecs(userId?: string) {
    return this.core.labelledSpecs(userId);
  }
  async trainingSet(scope: Scope, specKey: string, options?: { maxSamples?: number }): Promise<TrainingSet> {
    return this.core.trainingSet(scope, specKey, options);
  }
  async pseudonym(userId: string): Promise<string> {
    return this.core.pseudonym(userId);
  }
  async insertModel(model: NewModel): Promise<ModelInfo> {
    return this.core.insertModel(model);
  }
  async latestModelInfo(scope: Scope): Promise<ModelInfo | undefined> {
    return this.core.latestModelInfo(scope);
  }
  async modelVersion(scope: Scope, version: number | 'latest'): Promise<ModelVersion | undefined> {
    return this.core.modelVersion(scope, version);
  }
  async listModels(options?: { scope?: Scope; limit?: number }): Promise<ModelInfo[]> {
    return this.core.listModels(options);
  }
  async enqueueJob(
    scope: Scope,
    trigger: JobTrigger,
    config?: Record<string, unknown>,
    maxAttempts?: number,
  ) {
    return this.core.enqueueJob(scope, trigger, config, maxAttempts);
  }
  async getJob(id: number): Promise<Job | undefined> {
    return this.core.getJob(id);
  }
  async listJobs(options?: { scope?: Scope; status?: JobStatus; limit?: number }): Promise<Job[]> {
    return this.core.listJobs(options);
  }
  async claimJob(lease?: JobLease): Promise<Job | undefined> {
    return this.core.claimJob(lease);
  }
  async heartbeatJob(id: number, lease: JobLease): Promise<LeaseState> {
    return this.core.heartbeatJob(id, lease);
  }
  async updateJobProgress(id: number, progress: number, message: string | null, lease?: JobLease) {
    this.core.updateJobProgress(id, progress, message, lease);
  }
  async completeJob(
    id: number,
    outcome: Parameters<SqliteCore['completeJob']>[1],
    lease?: JobLease,
  ): Promise<{ job: Job; model?: ModelInfo; stale?: boolean }> {
    return this.core.completeJob(id, outcome, lease);
  }
  async failJob(id: number, error: string, retry?: boolean, lease?: JobLease): Promise<Job> {
    return this.core.failJob(id, error, retry, lease);
  }
  async cancelJob(id: number, by: string) {
    return this.core.cancelJob(id, by);
  }
  async recoverRunningJobs(): Promise<number> {
    return this.core.recoverRunningJobs();
  }
  async countJobs(): Promise<Record<JobStatus, number>> {
    return this.core.countJobs();
  }
  async lastScheduledRun(name: string): Promise<number | undefined> {
    return this.core.lastScheduledRun(name);
  }
  async markScheduledRun(name: string, at?: number): Promise<void> {
    this.core.markScheduledRun(name, at);
  }
  async publishRound(round: NewRound): Promise<void> {
    this.core.publishRound(round);
  }
  async currentRound(deviceId: string): Promise<RoundPoll> {
    return this.core.currentRound(deviceId);
  }
  async roundTask(deviceId: string, round: number): Promise<RoundTaskState> {
    return this.core.roundTask(deviceId, round);
  }
  async recordRoundUpdate(deviceId: string, round: number, bytes: Uint8Array, result: string) {
    return this.core.recordRoundUpdate(deviceId, round, bytes, result);
  }
  async roundProgress(round: number): Promise<RoundProgress | undefined> {
    return this.core.roundProgress(round);
  }
  async closeRound(round: number): Promise<RoundUpdate[]> {
    return this.core.closeRound(round);
  }
  async finishRounds(): Promise<void> {
    this.core.finishRounds();
  }
  async activeRoundDevices(withinMs: number): Promise<string[]> {
    return this.core.activeRoundDevices(withinMs);
  }
}
