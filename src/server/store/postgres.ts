/**
 * The server's store on PostgreSQL (node-postgres), for many API and worker processes sharing one
 * database. Same semantics as the SQLite store (`SqliteCore` in `./sqlite.ts`, the reference): the
 * conformance suite (`conformance.test.ts`) runs every case against both.
 *
 * What differs because several processes write at once:
 * - every write that touches a user's samples first locks the user's row (`FOR UPDATE`), so one
 *   user's uploads, relabels and deletions run one at a time, the quota is counted inside the
 *   transaction (no per-process cache), and a user's sample ids grow in commit order (what
 *   `trained_through` relies on);
 * - claims take one transaction-scoped advisory lock, so concurrent claims serialise (they are
 *   short) and never take the same job; model versions of one scope are numbered under a lock too;
 * - a failure of the connection or the server becomes a typed UNAVAILABLE (503) error
 *   ({@link pgStorageError}) and the pool reconnects by itself when the database is back.
 *
 * Sample ids come from a sequence: an upload that only replaces samples still consumes ids, so ids
 * have gaps (SQLite's do not); nothing relies on them being dense.
 */
import { randomUUID } from 'node:crypto';
import { endianness } from 'node:os';
import pg from 'pg';
import { FedexError } from '../../core/errors.js';
import { shapeSize, UNLABELLED, type FeatureBatch, type FeatureSpec } from '../../core/types.js';
import { checkPgSchema, migratePg, PG_LOCK } from './pg-schema.js';
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
import { LOCAL_LEASE_MS, LOCAL_OWNER, toRoundProgress, type RoundRow } from './sqlite.js';
import {
  checkNewRound,
  DEFAULT_QUEUE_POLICY,
  hashSecret,
  newSecret,
  parseScope,
  redactUrl,
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

export interface PgStoreOptions {
  /** Schema to keep the tables in (`search_path` of every connection); created when missing. */
  schema?: string;
  /** Clock, for tests. */
  now?: () => number;
  /** Retry backoff of the job queue. */
  queue?: Partial<QueuePolicy>;
  /** Most connections this process holds (default 10). */
  poolSize?: number;
  /** Open without writing: no migration, every transaction read-only (training workers). */
  readonly?: boolean;
}

/** Defaults of {@link PgStoreOptions} and of the pool. */
export const DEFAULT_PG_OPTIONS = {
  poolSize: 10,
  /** A server that does not answer a connection attempt within this is reported unavailable. */
  connectionTimeoutMillis: 5000,
  /** Idle connections are closed after this. */
  idleTimeoutMillis: 30_000,
} as const;

/** Transactions retried (whole) after a deadlock or a serialization failure. */
const RETRIES = 3;

const LITTLE_ENDIAN = endianness() === 'LE';

/** Float32 values as little-endian bytes (the bytes SQLite's blob holds). */
function floatsToBytes(values: Float32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  const out = Buffer.allocUnsafe(values.length * 4);
  for (let i = 0; i < values.length; i++) out.writeFloatLE(values[i], i * 4);
  return out;
}

/** Node socket errors that mean the server cannot be reached now. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * SQLSTATEs that mean "the database cannot take the request now": connection exceptions (08),
 * the server shutting down or starting (57P01-57P03), too many connections (53300), a read-only
 * transaction or a standby (25006), an unknown database, role or a failed login (3D000, 28xxx).
 */
function unavailableState(code: string): boolean {
  return (
    code.startsWith('08') ||
    code.startsWith('28') ||
    ['57P01', '57P02', '57P03', '53300', '25006', '3D000'].includes(code)
  );
}

/** Messages node-postgres uses for a connection that died or could not be had. */
const CONNECTION_MESSAGE =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|not queryable|Cannot use a pool after calling end|Client was closed/i;

function codeOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  // Node reports a refused connection to a name with several addresses as an AggregateError.
  const inner = (e as { errors?: unknown } | null)?.errors;
  return Array.isArray(inner) && inner.length > 0 ? codeOf(inner[0]) : undefined;
}

/** A short, human reason for a database failure (its message, else its code). */
export function pgReason(e: unknown): string {
  if (e instanceof Error && e.message) return e.message;
  const inner = (e as { errors?: unknown } | null)?.errors;
  if (Array.isArray(inner) && inner.length > 0) return pgReason(inner[0]);
  return codeOf(e) ?? String(e);
}

/**
 * The typed error for a failure of the database itself: out of disk (53100) is STORAGE_FULL (507);
 * a refused, reset or terminated connection, a server shutting down, a pool timeout or a
 * read-only database is UNAVAILABLE (503). Anything else (a FedexError, a constraint violation the
 * logic did not expect) is returned unchanged.
 *
 * @example
 * catch (e) { throw pgStorageError(e); }
 */
export function pgStorageError(e: unknown): unknown {
  if (e instanceof FedexError) return e;
  const code = codeOf(e);
  if (code === '53100') {
    return new FedexError('STORAGE_FULL', 'the server is out of storage space; try again later', {
      cause: e,
    });
  }
  const message = e instanceof Error ? e.message : '';
  if (
    (code !== undefined && (NETWORK_CODES.has(code) || unavailableState(code))) ||
    CONNECTION_MESSAGE.test(message)
  ) {
    const reason = code && !/^[0-9A-Z]{5}$/.test(code) ? code : pgReason(e).slice(0, 120);
    return new FedexError('UNAVAILABLE', `the database cannot take the request now (${reason})`, {
      cause: e,
    });
  }
  return e;
}

/** A deadlock or a serialization failure: the transaction may simply run again. */
function retryable(e: unknown): boolean {
  const code = codeOf(e);
  return code === '40P01' || code === '40001';
}

type Db = pg.Pool | pg.PoolClient;

/** `SELECT ... FROM samples` row of a training set. */
interface TrainingRow {
  id: number;
  user_id: string;
  label: number;
  features: Buffer;
}

export class PgStore implements Store {
  readonly kind = 'postgres' as const;
  /** The URL without its password. */
  readonly location: string;
  /** The connection pool (for what only PostgreSQL has, and for tests). */
  readonly pool: pg.Pool;
  /** The schema the tables are in (undefined: the connection's default search path). */
  readonly schema: string | undefined;
  private readonly now: () => number;
  private readonly queue: QueuePolicy;
  private salt: string | undefined;
  private closed = false;
  /** The last error of an idle connection (the server restarted, say); the pool replaces it. */
  lastIdleError: Error | undefined;

  private constructor(pool: pg.Pool, url: string, options: PgStoreOptions) {
    this.pool = pool;
    this.location = redactUrl(url);
    this.schema = options.schema;
    this.now = options.now ?? Date.now;
    this.queue = { ...DEFAULT_QUEUE_POLICY, ...options.queue };
  }

  /**
   * Connects to `url`, creates `schema` when missing and migrates (unless `readonly`). Throws one
   * UNAVAILABLE error, within about {@link DEFAULT_PG_OPTIONS.connectionTimeoutMillis}, when the
   * server cannot be reached or refuses the database or the role.
   *
   * @example
   * const store = await PgStore.open('postgres://fedex@db/fedex', { schema: 'fedex' });
   */
  static async open(url: string, options: PgStoreOptions = {}): Promise<PgStore> {
    const schema = options.schema;
    if (schema !== undefined && !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
      throw new FedexError('BAD_ARGUMENT', `bad PostgreSQL schema name "${schema}" (letters, digits, _)`);
    }
    const types = new pg.TypeOverrides();
    // Ids and millisecond times are BIGINT; every one fits a double exactly (< 2^53).
    types.setTypeParser(20, 'text', (v: string) => Number(v));
    const { connectionString, urlOptions } = splitOptions(url);
    const serverOptions = [
      urlOptions,
      schema ? `-c search_path=${schema}` : '',
      options.readonly ? '-c default_transaction_read_only=on' : '',
    ]
      .filter((s) => s)
      .join(' ');
    const pool = new pg.Pool({
      connectionString,
      max: options.poolSize ?? DEFAULT_PG_OPTIONS.poolSize,
      connectionTimeoutMillis: DEFAULT_PG_OPTIONS.connectionTimeoutMillis,
      idleTimeoutMillis: DEFAULT_PG_OPTIONS.idleTimeoutMillis,
      application_name: 'fedex',
      types,
      ...(serverOptions ? { options: serverOptions } : {}),
    });
    const store = new PgStore(pool, url, options);
    // An idle connection that dies (the server restarted) is dropped by the pool and replaced on
    // the next checkout; without a listener the 'error' event would end the process.
    pool.on('error', (err) => {
      store.lastIdleError = err;
    });
    let client: pg.PoolClient | undefined;
    try {
      client = await pool.connect();
      client.on('error', ignore);
      if (options.readonly) {
        const version = await checkPgSchema(client);
        if (version === 0)
          throw new FedexError('UNAVAILABLE', `the database at ${store.location} holds no FedEx schema`);
      } else {
        if (schema) await createSchema(client, schema);
        await migratePg(client);
      }
      client.removeListener('error', ignore);
      client.release();
      return store;
    } catch (cause) {
      client?.removeListener('error', ignore);
      client?.release(true);
      await pool.end().catch(ignore);
      if (cause instanceof FedexError) throw cause;
      throw new FedexError(
        'UNAVAILABLE',
        `cannot connect to PostgreSQL at ${store.location}: ${pgReason(cause)}`,
        { cause },
      );
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  async health(): Promise<string> {
    try {
      await this.pool.query('SELECT 1');
      return 'ok';
    } catch (e) {
      return (pgStorageError(e) as Error).message;
    }
  }

  /** Nothing to check cheaply: a write to an unreachable database fails with UNAVAILABLE anyway. */
  async assertWritable(): Promise<void> {}

  // ---- plumbing ------------------------------------------------------------------------------

  /** Rows of one statement on the pool, failures typed. */
  private async rows<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query<R>(sql, params)).rows;
    } catch (e) {
      throw pgStorageError(e);
    }
  }

  private async one<R extends pg.QueryResultRow>(
    sql: string,
    params: unknown[] = [],
  ): Promise<R | undefined> {
    return (await this.rows<R>(sql, params))[0];
  }

  /**
   * Runs `fn` in one transaction on one connection (READ COMMITTED unless `isolation` says
   * otherwise); retried whole after a deadlock. Failures typed with {@link pgStorageError}.
   */
  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>, isolation = ''): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (e) {
        throw pgStorageError(e);
      }
      // A connection that dies between two statements emits 'error' on the checked-out client.
      let broken: unknown;
      const onError = (e: unknown) => {
        broken = e;
      };
      client.on('error', onError);
      try {
        await client.query(isolation ? `BEGIN ISOLATION LEVEL ${isolation}` : 'BEGIN');
        const out = await fn(client);
        await client.query('COMMIT');
        client.removeListener('error', onError);
        client.release();
        return out;
      } catch (e) {
        try {
          if (broken) throw broken;
          await client.query('ROLLBACK');
          client.removeListener('error', onError);
          client.release();
        } catch {
          client.removeListener('error', onError);
          client.release(true); // destroy it: the pool opens a fresh one
        }
        if (attempt < RETRIES && retryable(e)) continue;
        throw pgStorageError(e);
      }
    }
  }

  private async userRow(db: Db, id: string): Promise<UserRow | undefined> {
    return (await db.query<UserRow>('SELECT * FROM users WHERE id = $1', [id])).rows[0];
  }

  /**
   * Locks users' rows for this transaction: each user's sample writes run one at a time. `NO KEY
   * UPDATE` (what an UPDATE of the row takes) rather than `UPDATE`, so it does not block the
   * foreign-key checks of a device being enrolled meanwhile.
   */
  private async lockUsers(c: pg.PoolClient, ids: readonly string[]): Promise<void> {
    const sorted = [...new Set(ids)].sort(); // one order everywhere: no deadlock between groups
    await c.query('SELECT id FROM users WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE', [sorted]);
  }

  // ---- users and devices -------------------------------------------------------------------

  async createUser(name: string, id: string = randomUUID().replace(/-/g, '').slice(0, 16)): Promise<User> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new FedexError('BAD_REQUEST', `bad user id "${id}"`);
    const now = this.now();
    const r = await this.rows(
      'INSERT INTO users (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING RETURNING id',
      [id, name, now],
    );
    if (r.length === 0) throw new FedexError('IDEMPOTENCY_CONFLICT', `user ${id} exists already`);
    return { id, name, createdAt: now, trainedThrough: 0, lastTrainedAt: null };
  }

  async getUser(id: string): Promise<User | undefined> {
    const row = await this.one<UserRow>('SELECT * FROM users WHERE id = $1', [id]);
    return row ? toUser(row) : undefined;
  }

  async listUsers(userId?: string): Promise<UserSummary[]> {
    const rows = await this.rows<
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
       FROM users u WHERE $1::text IS NULL OR u.id = $1 ORDER BY u.created_at, u.id`,
      [userId ?? null],
    );
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

  async retrainState(
    userId: string,
  ): Promise<
    Pick<UserSummary, 'id' | 'createdAt' | 'lastTrainedAt' | 'newLabelled' | 'forgetPending'> | undefined
  > {
    const row = await this.one<UserRow & { new_labelled: number }>(
      `SELECT u.*,
         (SELECT COUNT(*) FROM samples s WHERE s.user_id = u.id AND s.label >= 0 AND s.id > u.trained_through) AS new_labelled
       FROM users u WHERE u.id = $1`,
      [userId],
    );
    if (!row) return undefined;
    return {
      id: row.id,
      createdAt: row.created_at,
      lastTrainedAt: row.last_trained_at,
      newLabelled: row.new_labelled,
      forgetPending: row.removals > row.trained_removals,
    };
  }

  async createEnrollmentToken(
    userId: string,
    options: { ttlMs?: number; uses?: number } = {},
  ): Promise<{ token: string; expiresAt: number }> {
    if (!(await this.getUser(userId))) throw new FedexError('NOT_FOUND', `no user ${userId}`);
    const token = newSecret('fxe');
    const now = this.now();
    const expiresAt = now + (options.ttlMs ?? 24 * 3600_000);
    await this.rows(
      'INSERT INTO enrollment_tokens (token_hash, user_id, expires_at, uses_left, created_at) VALUES ($1, $2, $3, $4, $5)',
      [hashSecret(token), userId, expiresAt, options.uses ?? 1, now],
    );
    return { token, expiresAt };
  }

  private async enrollIn(db: Db, userId: string, name: string): Promise<Enrollment> {
    if (!(await this.userRow(db, userId))) throw new FedexError('NOT_FOUND', `no user ${userId}`);
    const token = newSecret('fxd');
    const device: Device = {
      id: randomUUID().replace(/-/g, '').slice(0, 16),
      userId,
      name,
      createdAt: this.now(),
      lastSeenAt: null,
    };
    await db.query(
      'INSERT INTO devices (id, user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)',
      [device.id, userId, name, hashSecret(token), device.createdAt],
    );
    return { device, token };
  }

  async enrollDevice(userId: string, name: string): Promise<Enrollment> {
    try {
      return await this.enrollIn(this.pool, userId, name);
    } catch (e) {
      throw pgStorageError(e);
    }
  }

  async enrollWithToken(enrollmentToken: string, name: string): Promise<Enrollment> {
    return this.tx(async (c) => {
      // One statement checks and spends a use, so two devices cannot share the last one.
      const spent = await c.query<{ user_id: string }>(
        `UPDATE enrollment_tokens SET uses_left = uses_left - 1
         WHERE token_hash = $1 AND uses_left > 0 AND expires_at >= $2 RETURNING user_id`,
        [hashSecret(enrollmentToken), this.now()],
      );
      const row = spent.rows[0];
      if (!row) throw new FedexError('AUTH_INVALID', 'the enrollment token is unknown, used up or expired');
      return this.enrollIn(c, row.user_id, name);
    });
  }

  async deviceByToken(token: string): Promise<Device | undefined> {
    const row = await this.one<DeviceRow>(
      'SELECT id, user_id, name, created_at, last_seen_at FROM devices WHERE token_hash = $1 AND revoked_at IS NULL',
      [hashSecret(token)],
    );
    return row ? toDevice(row) : undefined;
  }

  async getDevice(deviceId: string): Promise<(Device & { revokedAt: number | null }) | undefined> {
    const row = await this.one<DeviceRow & { revoked_at: number | null }>(
      'SELECT id, user_id, name, created_at, last_seen_at, revoked_at FROM devices WHERE id = $1',
      [deviceId],
    );
    return row ? { ...toDevice(row), revokedAt: row.revoked_at } : undefined;
  }

  async revokeDevice(deviceId: string): Promise<boolean> {
    const r = await this.rows(
      'UPDATE devices SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING id',
      [this.now(), deviceId],
    );
    return r.length > 0;
  }

  async listDevices(userId: string): Promise<Device[]> {
    const rows = await this.rows<DeviceRow>(
      'SELECT id, user_id, name, created_at, last_seen_at FROM devices WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at, id',
      [userId],
    );
    return rows.map(toDevice);
  }

  async touchDevice(deviceId: string): Promise<void> {
    await this.rows('UPDATE devices SET last_seen_at = $1 WHERE id = $2', [this.now(), deviceId]);
  }

  // ---- labels ------------------------------------------------------------------------------

  async getLabels(userId: string): Promise<Label[]> {
    const rows = await this.rows<{ label_id: number; name: string }>(
      'SELECT label_id, name FROM labels WHERE user_id = $1 ORDER BY label_id',
      [userId],
    );
    return rows.map((r) => ({ id: r.label_id, name: r.name }));
  }

  async setLabels(userId: string, labels: readonly Label[]): Promise<Label[]> {
    await this.tx(async (c) => {
      // One statement per label, as SQLite does: a repeated id in the list is renamed twice.
      for (const l of labels) {
        await c.query(
          `INSERT INTO labels (user_id, label_id, name, updated_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (user_id, label_id) DO UPDATE SET name = EXCLUDED.name, updated_at = EXCLUDED.updated_at`,
          [userId, l.id, l.name, this.now()],
        );
      }
    });
    return this.getLabels(userId);
  }

  // ---- samples -----------------------------------------------------------------------------

  /** As `SqliteCore.specKeyFor` (pure): registry specs are shared, any other spec is its uploader's. */
  specKeyFor(spec: Pick<FeatureSpec, 'backboneId' | 'backboneVersion' | 'split'>, userId?: string): string {
    return storedSpecKey(spec, userId);
  }

  private async registerSpecIn(db: Db, spec: FeatureSpec, userId?: string): Promise<string> {
    checkRegistryShape(spec);
    const key = this.specKeyFor(spec, userId);
    const shape = JSON.stringify(spec.shape);
    const owner = specOwner(spec, key, userId);
    // Insert-or-keep first, then compare: two processes registering one key both end up here.
    await db.query(
      `INSERT INTO specs (key, backbone_id, backbone_version, split, shape, owner) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (key) DO NOTHING`,
      [key, spec.backboneId, spec.backboneVersion, spec.split, shape, owner],
    );
    const existing = (await db.query<{ shape: string }>('SELECT shape FROM specs WHERE key = $1', [key]))
      .rows[0];
    if (existing) checkStoredShape(key, existing.shape, spec);
    return key;
  }

  async registerSpec(spec: FeatureSpec, userId?: string): Promise<string> {
    return this.tx((c) => this.registerSpecIn(c, spec, userId));
  }

  async getSpec(key: string): Promise<FeatureSpec | undefined> {
    const row = await this.one<SpecRow>('SELECT * FROM specs WHERE key = $1', [key]);
    return row ? toSpec(row) : undefined;
  }

  private async usageIn(db: Db, userId: string): Promise<UserUsage> {
    const rows = (
      await db.query<{ n: number; shape: string | null }>(
        `SELECT COUNT(*) AS n, p.shape FROM samples s LEFT JOIN specs p ON p.key = s.spec_key
         WHERE s.user_id = $1 GROUP BY s.spec_key, p.shape`,
        [userId],
      )
    ).rows;
    let samples = 0;
    let featureBytes = 0;
    for (const r of rows) {
      samples += r.n;
      featureBytes += r.n * (r.shape ? shapeSize(JSON.parse(r.shape) as number[]) : 0) * 4;
    }
    return { samples, featureBytes };
  }

  /** Counted on every call: several processes write, so there is nothing to cache. */
  async usage(userId: string): Promise<UserUsage> {
    try {
      return await this.usageIn(this.pool, userId);
    } catch (e) {
      throw pgStorageError(e);
    }
  }

  /** QUOTA_EXCEEDED, before anything is written; the caller holds the user's row lock. */
  private async checkQuota(
    c: pg.PoolClient,
    userId: string,
    spec: string,
    batch: FeatureBatch,
    quota: UserQuota,
  ): Promise<void> {
    const known =
      (
        await c.query<{ n: number }>(
          'SELECT COUNT(*) AS n FROM samples WHERE user_id = $1 AND spec_key = $2 AND client_id = ANY($3::text[])',
          [userId, spec, batch.sampleIds],
        )
      ).rows[0]?.n ?? 0;
    const adding = batch.sampleIds.length - known;
    if (adding <= 0) return;
    checkQuota(await this.usageIn(c, userId), adding, shapeSize(batch.spec.shape), quota);
  }

  /** One upload inside the caller's transaction; the caller holds the user's row lock. */
  private async ingestIn(c: pg.PoolClient, input: IngestInput): Promise<IngestResult> {
    const { device, batchId, sha256, batch } = input;
    const userId = device.userId;
    const prior = (
      await c.query<{
        sha256: string;
        samples: number;
        inserted: number;
        updated: number;
        received_at: number;
      }>(
        'SELECT sha256, samples, inserted, updated, received_at FROM batches WHERE user_id = $1 AND batch_id = $2',
        [userId, batchId],
      )
    ).rows[0];
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
      await this.checkQuota(c, userId, this.specKeyFor(batch.spec, userId), batch, quota);
    }
    const spec = await this.registerSpecIn(c, batch.spec, userId);
    const dim = shapeSize(batch.spec.shape);
    const n = batch.sampleIds.length;
    if (batch.features.length < n * dim) {
      throw new FedexError(
        'FEATURE_MISMATCH',
        `the batch holds ${batch.features.length} values, expected ${n} samples × ${dim}`,
      );
    }
    const now = this.now();
    const labels = Array.from(batch.labels, (l) => (l < 0 ? UNLABELLED : l));
    // Samples this batch re-sends, with their labels before it: one with another label is new
    // labelled data, as a relabel is.
    const before = new Map(
      (
        await c.query<{ id: number; client_id: string; label: number }>(
          'SELECT id, client_id, label FROM samples WHERE user_id = $1 AND spec_key = $2 AND client_id = ANY($3::text[])',
          [userId, spec, batch.sampleIds],
        )
      ).rows.map((r) => [r.client_id, r]),
    );
    let inserted = 0;
    if (new Set(batch.sampleIds).size === n) {
      // One statement for the whole batch, in batch order (ids ascend as in SQLite). `xmax = 0`
      // only on a row this statement inserted; a re-sent sample takes the update branch.
      const r = await c.query<{ inserted: boolean }>(
        `INSERT INTO samples (user_id, device_id, batch_id, client_id, spec_key, label, features, created_at, updated_at)
         SELECT $1, $2, $3, t.c, $4, t.l, substring($7::bytea FROM ((t.o - 1) * $8::int + 1)::int FOR $8::int), $9, $9
         FROM unnest($5::text[], $6::int[]) WITH ORDINALITY AS t(c, l, o) ORDER BY t.o
         ON CONFLICT (user_id, spec_key, client_id) DO UPDATE SET
           features = EXCLUDED.features, device_id = EXCLUDED.device_id, batch_id = EXCLUDED.batch_id,
           label = CASE WHEN EXCLUDED.label = -1 THEN samples.label ELSE EXCLUDED.label END,
           updated_at = EXCLUDED.updated_at
         RETURNING (xmax = 0) AS inserted`,
        [
          userId,
          device.id,
          batchId,
          spec,
          batch.sampleIds,
          labels,
          floatsToBytes(batch.features),
          dim * 4,
          now,
        ],
      );
      inserted = r.rows.filter((x) => x.inserted).length;
    } else {
      // A client id twice in one batch (the codec rejects it; a direct caller may not): sample by
      // sample, as SQLite does, so the later one updates the earlier.
      for (let i = 0; i < n; i++) {
        const features = floatsToBytes(batch.features.subarray(i * dim, (i + 1) * dim));
        const params = [userId, device.id, batchId, batch.sampleIds[i], spec, labels[i], features, now];
        const r = await c.query(
          `INSERT INTO samples (user_id, device_id, batch_id, client_id, spec_key, label, features, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT DO NOTHING RETURNING id`,
          params,
        );
        if (r.rows.length === 1) {
          inserted++;
          continue;
        }
        await c.query(
          `UPDATE samples SET features = $7, device_id = $2, batch_id = $3,
             label = CASE WHEN $6::int = -1 THEN label ELSE $6 END, updated_at = $8
           WHERE user_id = $1 AND spec_key = $5 AND client_id = $4`,
          params,
        );
      }
    }
    const updated = n - inserted;
    let renamed = Number.POSITIVE_INFINITY;
    batch.sampleIds.forEach((client, i) => {
      const old = before.get(client);
      if (old && labels[i] >= 0 && labels[i] !== old.label) renamed = Math.min(renamed, old.id);
    });
    if (Number.isFinite(renamed))
      await c.query('UPDATE users SET trained_through = LEAST(trained_through, $1) WHERE id = $2', [
        renamed - 1,
        userId,
      ]);
    if (batch.labelNames) {
      const ids: number[] = [];
      const names: string[] = [];
      batch.labelNames.forEach((name, id) => {
        if (typeof name === 'string' && name.length > 0) {
          ids.push(id);
          names.push(name);
        }
      });
      if (ids.length > 0)
        await c.query(
          `INSERT INTO labels (user_id, label_id, name, updated_at)
           SELECT $1, t.i, t.n, $4 FROM unnest($2::int[], $3::text[]) AS t(i, n) ON CONFLICT DO NOTHING`,
          [userId, ids, names, now],
        );
    }
    await c.query(
      'INSERT INTO batches (user_id, batch_id, device_id, sha256, spec_key, samples, inserted, updated, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
      [userId, batchId, device.id, sha256, spec, n, inserted, updated, now],
    );
    await c.query('UPDATE devices SET last_seen_at = $1 WHERE id = $2', [now, device.id]);
    return { batchId, samples: n, inserted, updated, duplicate: false, receivedAt: now };
  }

  async ingestBatch(input: IngestInput): Promise<IngestResult> {
    return this.tx(async (c) => {
      await this.lockUsers(c, [input.device.userId]);
      return this.ingestIn(c, input);
    });
  }

  /**
   * Group commit: one transaction, each upload in its own savepoint, so a rejected one (conflict,
   * spec mismatch, quota) leaves the others stored. A failure of the database rejects the call.
   */
  async ingestMany(inputs: readonly IngestInput[]): Promise<(IngestResult | Error)[]> {
    return this.tx(async (c) => {
      await this.lockUsers(
        c,
        inputs.map((i) => i.device.userId),
      );
      const out: (IngestResult | Error)[] = [];
      for (const input of inputs) {
        await c.query('SAVEPOINT fedex_ingest');
        try {
          out.push(await this.ingestIn(c, input));
          await c.query('RELEASE SAVEPOINT fedex_ingest');
        } catch (e) {
          // The connection or the disk failed: the whole group fails (the caller retries it).
          if (pgStorageError(e) !== e || retryable(e)) throw e;
          await c.query('ROLLBACK TO SAVEPOINT fedex_ingest');
          out.push(e instanceof Error ? e : new Error(String(e)));
        }
      }
      return out;
    });
  }

  async hasBatch(userId: string, batchId: string): Promise<boolean> {
    const r = await this.rows('SELECT 1 FROM batches WHERE user_id = $1 AND batch_id = $2', [
      userId,
      batchId,
    ]);
    return r.length > 0;
  }

  async countBatches(userId?: string): Promise<number> {
    const row = await this.one<{ n: number }>(
      'SELECT COUNT(*) AS n FROM batches WHERE $1::text IS NULL OR user_id = $1',
      [userId || null], // as SQLite: no user id (or '') counts every user's
    );
    return row?.n ?? 0;
  }

  async countSamples(userId?: string): Promise<number> {
    const row = userId
      ? await this.one<{ n: number }>('SELECT COUNT(*) AS n FROM samples WHERE user_id = $1', [userId])
      : await this.one<{ n: number }>('SELECT COUNT(*) AS n FROM samples');
    return row?.n ?? 0;
  }

  async listSamples(
    userId: string,
    options: { after?: number; limit?: number; label?: number } = {},
  ): Promise<SampleInfo[]> {
    const after = options.after ?? 0;
    const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
    const rows = await this.rows<{
      id: number;
      client_id: string;
      device_id: string;
      batch_id: string;
      spec_key: string;
      label: number;
      created_at: number;
      updated_at: number;
    }>(
      `SELECT id, client_id, device_id, batch_id, spec_key, label, created_at, updated_at FROM samples
       WHERE user_id = $1 AND id > $2 AND ($3::int IS NULL OR label = $3) ORDER BY id LIMIT $4`,
      [userId, after, options.label ?? null, limit],
    );
    return rows.map((r) => ({
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

  /** The lowest sample id the ids name; NOT_FOUND naming the first id that is not the user's. */
  private async lowestOrMissing(
    db: Db,
    userId: string,
    ids: { sampleIds?: number[]; clientIds?: string[] },
  ): Promise<number> {
    if (ids.sampleIds) {
      const found = (
        await db.query<{ id: number }>(
          'SELECT id FROM samples WHERE user_id = $1 AND id = ANY($2::bigint[])',
          [userId, ids.sampleIds],
        )
      ).rows;
      if (found.length !== ids.sampleIds.length) {
        const have = new Set(found.map((r) => r.id));
        const missing = ids.sampleIds.find((id) => !have.has(id));
        throw new FedexError('NOT_FOUND', `no sample ${missing} for this user`);
      }
      return found.reduce((m, r) => Math.min(m, r.id), Number.POSITIVE_INFINITY);
    }
    const clientIds = ids.clientIds ?? [];
    const found = (
      await db.query<{ id: number; client_id: string }>(
        'SELECT id, client_id FROM samples WHERE user_id = $1 AND client_id = ANY($2::text[])',
        [userId, clientIds],
      )
    ).rows;
    const have = new Set(found.map((r) => r.client_id));
    if (have.size !== clientIds.length) {
      const missing = clientIds.find((c) => !have.has(c));
      throw new FedexError('NOT_FOUND', `no sample "${missing}" for this user`);
    }
    return found.reduce((m, r) => Math.min(m, r.id), Number.POSITIVE_INFINITY);
  }

  async relabel(userId: string, ids: SampleRefs, label: number): Promise<number> {
    const sampleIds = [...new Set(ids.sampleIds ?? [])];
    const clientIds = [...new Set(ids.clientIds ?? [])];
    return this.tx(async (c) => {
      await this.lockUsers(c, [userId]);
      const now = this.now();
      let changed = 0;
      let lowest = Number.POSITIVE_INFINITY;
      if (sampleIds.length > 0) {
        lowest = Math.min(lowest, await this.lowestOrMissing(c, userId, { sampleIds }));
        const r = await c.query(
          'UPDATE samples SET label = $1, updated_at = $2 WHERE user_id = $3 AND id = ANY($4::bigint[])',
          [label, now, userId, sampleIds],
        );
        changed += r.rowCount ?? 0;
      }
      if (clientIds.length > 0) {
        lowest = Math.min(lowest, await this.lowestOrMissing(c, userId, { clientIds }));
        const r = await c.query(
          'UPDATE samples SET label = $1, updated_at = $2 WHERE user_id = $3 AND client_id = ANY($4::text[])',
          [label, now, userId, clientIds],
        );
        changed += r.rowCount ?? 0;
      }
      // A relabelled sample must be seen by the next "enough new labelled data" check.
      if (Number.isFinite(lowest)) {
        await c.query('UPDATE users SET trained_through = LEAST(trained_through, $1) WHERE id = $2', [
          lowest - 1,
          userId,
        ]);
      }
      return changed;
    });
  }

  /**
   * {@link relabel} for long lists: every id is checked first (`chunk` at a time), so an unknown id
   * rejects the request before anything is written, then the labels are written `chunk` ids per
   * transaction. Relabelling is idempotent: resending a request cut short finishes it.
   */
  async relabelInSteps(userId: string, ids: SampleRefs, label: number, chunk = 500): Promise<number> {
    const sampleIds = [...new Set(ids.sampleIds ?? [])];
    const clientIds = [...new Set(ids.clientIds ?? [])];
    if (sampleIds.length + clientIds.length <= chunk) return this.relabel(userId, ids, label);
    const parts = <T>(list: T[]): T[][] =>
      Array.from({ length: Math.ceil(list.length / chunk) }, (_, i) =>
        list.slice(i * chunk, (i + 1) * chunk),
      );
    try {
      for (const part of parts(sampleIds)) await this.lowestOrMissing(this.pool, userId, { sampleIds: part });
      for (const part of parts(clientIds)) await this.lowestOrMissing(this.pool, userId, { clientIds: part });
    } catch (e) {
      throw pgStorageError(e);
    }
    let changed = 0;
    for (const part of parts(sampleIds)) changed += await this.relabel(userId, { sampleIds: part }, label);
    for (const part of parts(clientIds)) changed += await this.relabel(userId, { clientIds: part }, label);
    return changed;
  }

  async deleteSamples(
    userId: string,
    ids: SampleRefs,
  ): Promise<{ deleted: number; labelled: number; missing: number }> {
    const sampleIds = [...new Set(ids.sampleIds ?? [])];
    const clientIds = [...new Set(ids.clientIds ?? [])];
    const { deleted, labelled } = await this.tx(async (c) => {
      await this.lockUsers(c, [userId]);
      const labels: number[] = [];
      if (sampleIds.length > 0) {
        const r = await c.query<{ label: number }>(
          'DELETE FROM samples WHERE user_id = $1 AND id = ANY($2::bigint[]) RETURNING label',
          [userId, sampleIds],
        );
        for (const row of r.rows) labels.push(row.label);
      }
      if (clientIds.length > 0) {
        const r = await c.query<{ label: number }>(
          'DELETE FROM samples WHERE user_id = $1 AND client_id = ANY($2::text[]) RETURNING label',
          [userId, clientIds],
        );
        for (const row of r.rows) labels.push(row.label);
      }
      const labelled = labels.filter((l) => l >= 0).length;
      if (labelled > 0) await c.query('UPDATE users SET removals = removals + 1 WHERE id = $1', [userId]);
      return { deleted: labels.length, labelled };
    });
    // Several client ids may name one sample each; the ids asked for minus the rows found.
    const missing = Math.max(0, sampleIds.length + clientIds.length - deleted);
    return { deleted, labelled, missing };
  }

  async countNewLabelled(userId: string): Promise<number> {
    const row = await this.one<{ n: number }>(
      'SELECT COUNT(*) AS n FROM samples WHERE user_id = $1 AND label >= 0 AND id > (SELECT trained_through FROM users WHERE id = $1)',
      [userId],
    );
    return row?.n ?? 0;
  }

  async labelledSpecs(userId?: string): Promise<{ specKey: string; labelled: number }[]> {
    const rows = userId
      ? await this.rows<{ spec_key: string; n: number }>(
          'SELECT spec_key, COUNT(*) AS n FROM samples WHERE user_id = $1 AND label >= 0 GROUP BY spec_key ORDER BY n DESC, spec_key',
          [userId],
        )
      : await this.rows<{ spec_key: string; n: number }>(
          `SELECT s.spec_key, COUNT(*) AS n FROM samples s JOIN specs p ON p.key = s.spec_key
           WHERE s.label >= 0 AND p.owner IS NULL GROUP BY s.spec_key ORDER BY n DESC, s.spec_key`,
        );
    return rows.map((r) => ({ specKey: r.spec_key, labelled: r.n }));
  }

  async trainingSet(
    scope: Scope,
    specKey: string,
    options: { maxSamples?: number } = {},
  ): Promise<TrainingSet> {
    // SQLite reads a negative LIMIT as no limit; PostgreSQL reads NULL so.
    const limit = options.maxSamples === undefined || options.maxSamples < 0 ? null : options.maxSamples;
    const row = await this.one<SpecRow>('SELECT * FROM specs WHERE key = $1', [specKey]);
    if (!row) throw new FedexError('NOT_FOUND', `no samples of spec ${specKey}`);
    const spec = toSpec(row);
    const dim = shapeSize(spec.shape);
    const parsed = parseScope(scope);
    if (!parsed) throw new FedexError('BAD_REQUEST', `bad scope "${scope}"`);
    if (row.owner !== null && !(parsed.kind === 'user' && parsed.userId === row.owner)) {
      throw new FedexError('NOT_FOUND', `no samples of spec ${specKey} in ${scope}`);
    }
    // One snapshot: the samples, the through mark and the removals agree. A user's sample ids
    // grow in commit order (uploads hold the user's row lock), so every sample of the user with an
    // id up to the mark is in the snapshot.
    const { rows, through, user } = await this.tx(async (c) => {
      const rows =
        parsed.kind === 'user'
          ? (
              await c.query<TrainingRow>(
                'SELECT id, user_id, label, features FROM samples WHERE user_id = $1 AND spec_key = $2 AND label >= 0 ORDER BY id DESC LIMIT $3',
                [parsed.userId, specKey, limit],
              )
            ).rows
          : (
              await c.query<TrainingRow>(
                'SELECT id, user_id, label, features FROM samples WHERE spec_key = $1 AND label >= 0 ORDER BY id DESC LIMIT $2',
                [specKey, limit],
              )
            ).rows;
      rows.reverse(); // newest `limit`, in ascending id order
      const through =
        parsed.kind === 'user'
          ? (
              await c.query<{ m: number | null }>('SELECT MAX(id) AS m FROM samples WHERE user_id = $1', [
                parsed.userId,
              ])
            ).rows[0]?.m
          : (await c.query<{ m: number | null }>('SELECT MAX(id) AS m FROM samples')).rows[0]?.m;
      const user = parsed.kind === 'user' ? await this.userRow(c, parsed.userId) : undefined;
      return { rows, through: through ?? 0, user };
    }, 'REPEATABLE READ READ ONLY');
    // The global model's class names are `<owner>/<label>` with a keyed pseudonym as the owner.
    const pseudonyms = new Map<string, string>();
    const owners: string[] = [];
    for (const r of rows) {
      if (parsed.kind === 'user') {
        owners.push(r.user_id);
        continue;
      }
      let p = pseudonyms.get(r.user_id);
      if (p === undefined) {
        p = await this.pseudonym(r.user_id);
        pseudonyms.set(r.user_id, p);
      }
      owners.push(p);
    }
    const features = new Float32Array(rows.length * dim);
    const bytes = new Uint8Array(features.buffer);
    const labels = new Int32Array(rows.length);
    rows.forEach((r, i) => {
      if (r.features.byteLength !== dim * 4) {
        throw new FedexError(
          'INTERNAL',
          `sample ${r.id} holds ${r.features.byteLength} bytes, expected ${dim * 4}`,
        );
      }
      if (LITTLE_ENDIAN) bytes.set(r.features, i * dim * 4);
      else for (let k = 0; k < dim; k++) features[i * dim + k] = r.features.readFloatLE(k * 4);
      labels[i] = r.label;
    });
    return {
      spec,
      specKey,
      sampleIds: rows.map((r) => r.id),
      labels,
      owners,
      features,
      throughSampleId: through,
      ...(user ? { removals: { removals: user.removals, trained: user.trained_removals } } : {}),
    };
  }

  /** 16 hex digits of HMAC-SHA256 of the id under this database's random salt. */
  async pseudonym(userId: string): Promise<string> {
    this.salt ??= (
      await this.one<{ value: string }>("SELECT value FROM settings WHERE name = 'pseudonym_salt'")
    )?.value;
    if (!this.salt) throw new FedexError('INTERNAL', 'the database has no pseudonym salt');
    return pseudonymOf(this.salt, userId);
  }

  // ---- models ------------------------------------------------------------------------------

  /** Next version of the scope, numbered under a per-scope lock so concurrent inserts cannot clash. */
  private async insertModelIn(c: pg.PoolClient, model: NewModel): Promise<ModelInfo> {
    await c.query("SELECT pg_advisory_xact_lock($1, hashtext(COALESCE(current_schema(), '') || ':' || $2))", [
      PG_LOCK.model,
      model.scope,
    ]);
    const prev = (
      await c.query<{ v: number | null }>('SELECT MAX(version) AS v FROM models WHERE scope = $1', [
        model.scope,
      ])
    ).rows[0];
    const version = (prev?.v ?? 0) + 1;
    const r = await c.query<ModelRow>(
      `INSERT INTO models (scope, version, spec_key, head, config, metrics, labels, weights, checksum, size, status, reason, job_id, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING ${MODEL_INFO_COLUMNS}`,
      [
        model.scope,
        version,
        model.specKey,
        model.head,
        JSON.stringify(model.config),
        JSON.stringify(model.metrics),
        JSON.stringify(model.labels),
        Buffer.from(model.weights.buffer, model.weights.byteOffset, model.weights.byteLength),
        sha256Hex(model.weights),
        model.weights.byteLength,
        model.status,
        model.reason ?? null,
        model.jobId ?? null,
        this.now(),
      ],
    );
    return toModelInfo(r.rows[0]);
  }

  async insertModel(model: NewModel): Promise<ModelInfo> {
    return this.tx((c) => this.insertModelIn(c, model));
  }

  async latestModelInfo(scope: Scope): Promise<ModelInfo | undefined> {
    const row = await this.one<ModelRow>(
      `SELECT ${MODEL_INFO_COLUMNS} FROM models WHERE scope = $1 AND status = 'promoted' ORDER BY version DESC LIMIT 1`,
      [scope],
    );
    return row ? toModelInfo(row) : undefined;
  }

  async modelVersion(scope: Scope, version: number | 'latest'): Promise<ModelVersion | undefined> {
    const row =
      version === 'latest'
        ? await this.one<ModelRow>(
            `SELECT ${MODEL_COLUMNS}, weights FROM models WHERE scope = $1 AND status = 'promoted' ORDER BY version DESC LIMIT 1`,
            [scope],
          )
        : await this.one<ModelRow>(
            `SELECT ${MODEL_COLUMNS}, weights FROM models WHERE scope = $1 AND version = $2`,
            [scope, version],
          );
    if (!row || !row.weights) return undefined;
    return { ...toModelInfo(row), weights: new Uint8Array(row.weights) };
  }

  async listModels(options: { scope?: Scope; limit?: number } = {}): Promise<ModelInfo[]> {
    const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
    const rows = options.scope
      ? await this.rows<ModelRow>(
          `SELECT ${MODEL_INFO_COLUMNS} FROM models WHERE scope = $1 ORDER BY version DESC LIMIT $2`,
          [options.scope, limit],
        )
      : await this.rows<ModelRow>(`SELECT ${MODEL_INFO_COLUMNS} FROM models ORDER BY id DESC LIMIT $1`, [
          limit,
        ]);
    return rows.map(toModelInfo);
  }

  // ---- jobs --------------------------------------------------------------------------------

  async enqueueJob(
    scope: Scope,
    trigger: JobTrigger,
    config: Record<string, unknown> = {},
    maxAttempts = 3,
  ): Promise<{ job: Job; created: boolean }> {
    return this.tx(async (c) => {
      // Two processes triggering one scope at once must still queue one job.
      await c.query(
        "SELECT pg_advisory_xact_lock($1, hashtext(COALESCE(current_schema(), '') || ':' || $2))",
        [PG_LOCK.enqueue, scope],
      );
      const queued = (
        await c.query<JobRow>(
          "SELECT * FROM jobs WHERE scope = $1 AND status = 'queued' ORDER BY id LIMIT 1",
          [scope],
        )
      ).rows[0];
      if (queued) return { job: toJob(queued), created: false };
      const now = this.now();
      const r = await c.query<JobRow>(
        `INSERT INTO jobs (scope, trigger, status, config, max_attempts, created_at, updated_at)
         VALUES ($1, $2, 'queued', $3, $4, $5, $5) RETURNING *`,
        [scope, trigger, JSON.stringify(config), maxAttempts, now],
      );
      return { job: toJob(r.rows[0]), created: true };
    });
  }

  async getJob(id: number): Promise<Job | undefined> {
    const row = await this.one<JobRow>('SELECT * FROM jobs WHERE id = $1', [id]);
    return row ? toJob(row) : undefined;
  }

  async listJobs(options: { scope?: Scope; status?: JobStatus; limit?: number } = {}): Promise<Job[]> {
    const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
    const rows = await this.rows<JobRow>(
      `SELECT * FROM jobs WHERE ($1::text IS NULL OR scope = $1) AND ($2::text IS NULL OR status = $2)
       ORDER BY id DESC LIMIT $3`,
      [options.scope ?? null, options.status ?? null, limit],
    );
    return rows.map(toJob);
  }

  /** A running job's attempt ends: requeued (after a backoff when `backoff`) or failed for good. */
  private async failJobNow(
    c: pg.PoolClient,
    job: Job,
    error: string,
    retry: boolean,
    now: number,
    backoff = false,
  ): Promise<Job> {
    const again = retry && job.attempts < job.maxAttempts;
    const wait = again && backoff ? this.queue.backoffMs * 2 ** Math.max(0, job.attempts - 1) : 0;
    const r = await c.query<JobRow>(
      `UPDATE jobs SET status = $1, error = $2, message = $3, updated_at = $4, finished_at = $5,
         lease_owner = NULL, lease_until = NULL, run_after = $6 WHERE id = $7 RETURNING *`,
      [
        again ? 'queued' : 'failed',
        error,
        again ? `retrying after: ${error}` : 'failed',
        now,
        again ? null : now,
        now + wait,
        job.id,
      ],
    );
    return toJob(r.rows[0]);
  }

  /** Running jobs whose lease ran out go back to the queue, or fail for good on their last attempt. */
  private async expireLeases(c: pg.PoolClient, now: number): Promise<void> {
    const expired = (
      await c.query<JobRow>(
        "SELECT * FROM jobs WHERE status = 'running' AND lease_until IS NOT NULL AND lease_until < $1 ORDER BY id FOR UPDATE",
        [now],
      )
    ).rows;
    for (const row of expired) {
      await this.failJobNow(
        c,
        toJob(row),
        leaseExpiredMessage(row.lease_owner, row.attempts, row.max_attempts),
        true,
        now,
      );
    }
  }

  async claimJob(lease?: JobLease): Promise<Job | undefined> {
    const owner = lease?.owner ?? LOCAL_OWNER;
    const ms = lease?.ms ?? LOCAL_LEASE_MS;
    return this.tx(async (c) => {
      // Claims serialise on one lock (per schema): each sees the one before it committed.
      await c.query("SELECT pg_advisory_xact_lock($1, hashtext(COALESCE(current_schema(), '')))", [
        PG_LOCK.claim,
      ]);
      const now = this.now();
      await this.expireLeases(c, now);
      const row = (
        await c.query<{ id: number }>(
          `SELECT j.id FROM jobs j WHERE j.status = 'queued' AND j.run_after <= $1
             AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.scope = j.scope AND r.status = 'running')
           ORDER BY j.id LIMIT 1 FOR UPDATE OF j`,
          [now],
        )
      ).rows[0];
      if (!row) return undefined;
      const r = await c.query<JobRow>(
        `UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = $1, updated_at = $1, progress = 0,
           message = 'starting', lease_owner = $2, lease_until = $3 WHERE id = $4 RETURNING *`,
        [now, owner, now + ms, row.id],
      );
      return toJob(r.rows[0]);
    });
  }

  async heartbeatJob(id: number, lease: JobLease): Promise<LeaseState> {
    const now = this.now();
    const r = await this.rows(
      "UPDATE jobs SET lease_until = $1, updated_at = $2 WHERE id = $3 AND status = 'running' AND lease_owner = $4 RETURNING id",
      [now + lease.ms, now, id, lease.owner],
    );
    if (r.length > 0) return 'held';
    return (await this.getJob(id))?.status === 'cancelled' ? 'cancelled' : 'lost';
  }

  async updateJobProgress(
    id: number,
    progress: number,
    message: string | null,
    lease?: JobLease,
  ): Promise<void> {
    const now = this.now();
    const p = Math.min(Math.max(progress, 0), 1);
    if (lease)
      await this.rows(
        "UPDATE jobs SET progress = $1, message = $2, updated_at = $3, lease_until = $4 WHERE id = $5 AND status = 'running' AND lease_owner = $6",
        [p, message, now, now + lease.ms, id, lease.owner],
      );
    else
      await this.rows(
        "UPDATE jobs SET progress = $1, message = $2, updated_at = $3 WHERE id = $4 AND status = 'running'",
        [p, message, now, id],
      );
  }

  /** The job, locked for this transaction (NOT_FOUND when there is none). */
  private async lockJob(c: pg.PoolClient, id: number): Promise<Job> {
    const row = (await c.query<JobRow>('SELECT * FROM jobs WHERE id = $1 FOR UPDATE', [id])).rows[0];
    if (!row) throw new FedexError('NOT_FOUND', `no job ${id}`);
    return toJob(row);
  }

  private holds(job: Job, lease: JobLease | undefined): boolean {
    return !lease || (job.status === 'running' && job.leaseOwner === lease.owner);
  }

  async completeJob(
    id: number,
    outcome: {
      result: Record<string, unknown>;
      model?: NewModel;
      trainedThrough?: number;
      trainedRemovals?: number;
    },
    lease?: JobLease,
  ): Promise<{ job: Job; model?: ModelInfo; stale?: boolean }> {
    return this.tx(async (c) => {
      // The row lock fences against a claim taking the job over (or a cancel) meanwhile.
      const job = await this.lockJob(c, id);
      if (job.status === 'cancelled') return { job };
      if (!this.holds(job, lease) || job.status !== 'running') return { job, stale: true };
      const model = outcome.model ? await this.insertModelIn(c, { ...outcome.model, jobId: id }) : undefined;
      const now = this.now();
      const parsed = parseScope(job.scope);
      if (parsed?.kind === 'user' && outcome.trainedThrough !== undefined) {
        await c.query(
          'UPDATE users SET trained_through = GREATEST(trained_through, $1), last_trained_at = $2 WHERE id = $3',
          [outcome.trainedThrough, now, parsed.userId],
        );
        // A sample relabelled (or re-sent) while the job trained may have been read with its old
        // label: it stays "new", so the next check retrains on it (the mark is never raised over it).
        await c.query(
          `UPDATE users SET trained_through = LEAST(trained_through, s.m - 1)
           FROM (SELECT MIN(id) AS m FROM samples WHERE user_id = $1 AND id <= $2 AND updated_at > $3 AND label >= 0) s
           WHERE users.id = $1 AND s.m IS NOT NULL`,
          [parsed.userId, outcome.trainedThrough, job.startedAt ?? 0],
        );
        if (outcome.trainedRemovals !== undefined)
          await c.query('UPDATE users SET trained_removals = GREATEST(trained_removals, $1) WHERE id = $2', [
            outcome.trainedRemovals,
            parsed.userId,
          ]);
      }
      const result = {
        ...outcome.result,
        ...(model ? { modelVersion: model.version, promoted: model.status === 'promoted' } : {}),
      };
      const r = await c.query<JobRow>(
        `UPDATE jobs SET status = 'done', progress = 1, message = 'done', result = $1, error = NULL,
           finished_at = $2, updated_at = $2 WHERE id = $3 RETURNING *`,
        [JSON.stringify(result), now, id],
      );
      return { job: toJob(r.rows[0]), model };
    });
  }

  async failJob(id: number, error: string, retry = true, lease?: JobLease): Promise<Job> {
    return this.tx(async (c) => {
      const job = await this.lockJob(c, id);
      // Only a running attempt can fail: a job already done, failed or cancelled stays as it is.
      if (job.status !== 'running' || !this.holds(job, lease)) return job;
      return this.failJobNow(c, job, error, retry, this.now(), true);
    });
  }

  async cancelJob(id: number, by: string): Promise<{ job: Job; changed: boolean; wasRunning: boolean }> {
    return this.tx(async (c) => {
      const job = await this.lockJob(c, id);
      if (job.status !== 'queued' && job.status !== 'running')
        return { job, changed: false, wasRunning: false };
      const now = this.now();
      const r = await c.query<JobRow>(
        `UPDATE jobs SET status = 'cancelled', message = $1, error = NULL, finished_at = $2, updated_at = $2,
           lease_owner = NULL, lease_until = NULL WHERE id = $3 RETURNING *`,
        [`cancelled by ${by}`, now, id],
      );
      return { job: toJob(r.rows[0]), changed: true, wasRunning: job.status === 'running' };
    });
  }

  async recoverRunningJobs(): Promise<number> {
    return this.tx(async (c) => {
      const running = (
        await c.query<JobRow>(
          "SELECT * FROM jobs WHERE status = 'running' ORDER BY id DESC LIMIT 1000 FOR UPDATE",
        )
      ).rows;
      const now = this.now();
      for (const row of running)
        await this.failJobNow(c, toJob(row), 'the server stopped while the job was running', true, now);
      return running.length;
    });
  }

  async countJobs(): Promise<Record<JobStatus, number>> {
    const out: Record<JobStatus, number> = { queued: 0, running: 0, done: 0, failed: 0, cancelled: 0 };
    for (const r of await this.rows<{ status: JobStatus; n: number }>(
      'SELECT status, COUNT(*) AS n FROM jobs GROUP BY status',
    ))
      out[r.status] = r.n;
    return out;
  }

  // ---- schedule ----------------------------------------------------------------------------

  async lastScheduledRun(name: string): Promise<number | undefined> {
    return (await this.one<{ last_run: number }>('SELECT last_run FROM schedule WHERE name = $1', [name]))
      ?.last_run;
  }

  async markScheduledRun(name: string, at: number = this.now()): Promise<void> {
    await this.rows(
      'INSERT INTO schedule (name, last_run) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET last_run = EXCLUDED.last_run',
      [name, at],
    );
  }

  // ---- federated rounds --------------------------------------------------------------------
  // Every write to a round locks its row first (`FOR UPDATE`), so updates, their count and the
  // round's closing are serialised per round: an update acknowledged is one `closeRound` returns.

  private async lastRound(db: Db): Promise<number> {
    const r = await db.query<{ m: number | null }>('SELECT MAX(round) AS m FROM rounds');
    return r.rows[0]?.m ?? 0;
  }

  /** The round numbered `round` while open (locked); NOT_FOUND when never published, ROUND_CLOSED when past. */
  private async openRoundRow(c: pg.PoolClient, round: number, now: number, lock: boolean): Promise<RoundRow> {
    const row = (
      await c.query<RoundRow>(`SELECT * FROM rounds WHERE round = $1${lock ? ' FOR UPDATE' : ''}`, [round])
    ).rows[0];
    if (!row)
      throw new FedexError(
        'NOT_FOUND',
        `no round ${round} (the last one published is ${await this.lastRound(c)})`,
      );
    if (row.closed_at !== null) throw new FedexError('ROUND_CLOSED', `round ${round} is closed`);
    if (now >= row.deadline_at) throw new FedexError('ROUND_CLOSED', `round ${round} closed at its deadline`);
    return row;
  }

  private async roundTaskRow(c: pg.PoolClient, round: number, deviceId: string): Promise<PgRoundTaskRow> {
    const row = (
      await c.query<PgRoundTaskRow>(
        `SELECT t.task, t.weights_key,
           EXISTS (SELECT 1 FROM round_updates u WHERE u.round = t.round AND u.device_id = t.device_id) AS reported
         FROM round_tasks t WHERE t.round = $1 AND t.device_id = $2`,
        [round, deviceId],
      )
    ).rows[0];
    if (!row) throw new FedexError('NOT_SELECTED', `this device was not selected for round ${round}`);
    return row;
  }

  private async setRoundsFinished(c: pg.PoolClient, finished: boolean): Promise<void> {
    await c.query(
      "INSERT INTO settings (name, value) VALUES ('rounds_finished', $1) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
      [finished ? '1' : '0'],
    );
  }

  async publishRound(r: NewRound): Promise<void> {
    checkNewRound(r);
    await this.tx(async (c) => {
      // Two runners publishing at once: one at a time, so "another round is open" is decided once.
      await c.query("SELECT pg_advisory_xact_lock($1, hashtext(COALESCE(current_schema(), '')))", [
        PG_LOCK.rounds,
      ]);
      const now = this.now();
      const open = (
        await c.query<{ round: number }>(
          'SELECT round FROM rounds WHERE closed_at IS NULL AND deadline_at > $1 ORDER BY round DESC LIMIT 1',
          [now],
        )
      ).rows[0];
      if (open)
        throw new FedexError('BAD_ARGUMENT', `round ${open.round} is still open; rounds run one at a time`);
      const last = await this.lastRound(c);
      if (r.round <= last)
        throw new FedexError('BAD_ARGUMENT', `round ${r.round} must be an integer after ${last}`);
      // As in SQLite: overdue rounds close, earlier rounds' tasks, weights and updates go.
      await c.query('UPDATE rounds SET closed_at = deadline_at WHERE closed_at IS NULL');
      await c.query('DELETE FROM round_updates');
      await c.query('DELETE FROM round_tasks');
      await c.query('DELETE FROM round_weights');
      await c.query(
        'INSERT INTO rounds (round, deadline_at, published_at, closed_at, tasks) VALUES ($1, $2, $3, $4, $5)',
        [r.round, r.deadlineAt, now, r.tasks.length === 0 ? now : null, r.tasks.length],
      );
      for (const w of r.weights) {
        await c.query('INSERT INTO round_weights (round, key, bytes, etag) VALUES ($1, $2, $3, $4)', [
          r.round,
          w.key,
          Buffer.from(w.bytes.buffer, w.bytes.byteOffset, w.bytes.byteLength),
          w.etag,
        ]);
      }
      if (r.tasks.length > 0) {
        await c.query(
          `INSERT INTO round_tasks (round, device_id, task, weights_key)
           SELECT $1, d, t, k FROM unnest($2::text[], $3::text[], $4::text[]) AS x(d, t, k)`,
          [
            r.round,
            r.tasks.map((t) => t.deviceId),
            r.tasks.map((t) => t.task),
            r.tasks.map((t) => t.weightsKey ?? null),
          ],
        );
      }
      await this.setRoundsFinished(c, false);
    });
  }

  async currentRound(deviceId: string): Promise<RoundPoll> {
    const now = this.now();
    return this.tx(async (c) => {
      await c.query(
        'INSERT INTO round_devices (device_id, seen_at) VALUES ($1, $2) ON CONFLICT (device_id) DO UPDATE SET seen_at = EXCLUDED.seen_at',
        [deviceId, now],
      );
      const state = (
        await c.query<{ last: number | null; finished: string | null }>(
          `SELECT (SELECT MAX(round) FROM rounds) AS last,
             (SELECT value FROM settings WHERE name = 'rounds_finished') AS finished`,
        )
      ).rows[0];
      const last = state?.last ?? 0;
      const finished = state?.finished === '1';
      const open = (
        await c.query<RoundRow>(
          'SELECT * FROM rounds WHERE closed_at IS NULL AND deadline_at > $1 ORDER BY round DESC LIMIT 1',
          [now],
        )
      ).rows[0];
      if (!open) return { last, finished, open: null };
      const task = (
        await c.query<PgRoundTaskRow & { etag: string | null }>(
          `SELECT t.task, t.weights_key, w.etag,
             EXISTS (SELECT 1 FROM round_updates u WHERE u.round = t.round AND u.device_id = t.device_id) AS reported
           FROM round_tasks t LEFT JOIN round_weights w ON w.round = t.round AND w.key = t.weights_key
           WHERE t.round = $1 AND t.device_id = $2`,
          [open.round, deviceId],
        )
      ).rows[0];
      return {
        last,
        finished,
        open: {
          round: open.round,
          deadlineAt: open.deadline_at,
          task: task?.task ?? null,
          weightsEtag: task?.etag ?? null,
          reported: task?.reported ?? false,
        },
      };
    });
  }

  async roundTask(deviceId: string, round: number): Promise<RoundTaskState> {
    return this.tx(async (c) => {
      await this.openRoundRow(c, round, this.now(), false);
      const t = await this.roundTaskRow(c, round, deviceId);
      const w =
        t.weights_key === null
          ? undefined
          : (
              await c.query<{ bytes: Buffer; etag: string }>(
                'SELECT bytes, etag FROM round_weights WHERE round = $1 AND key = $2',
                [round, t.weights_key],
              )
            ).rows[0];
      return { task: t.task, reported: t.reported, weights: w ? { bytes: w.bytes, etag: w.etag } : null };
    });
  }

  async recordRoundUpdate(
    deviceId: string,
    round: number,
    bytes: Uint8Array,
    result: string,
  ): Promise<{ received: number }> {
    return this.tx(async (c) => {
      const now = this.now();
      const row = await this.openRoundRow(c, round, now, true);
      await this.roundTaskRow(c, round, deviceId);
      // The primary key (round, device_id) keeps one update per device, whatever process posts it.
      const inserted = await c.query(
        `INSERT INTO round_updates (round, device_id, seq, bytes, result, received_at)
         VALUES ($1, $2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM round_updates WHERE round = $1), $3, $4, $5)
         ON CONFLICT (round, device_id) DO NOTHING`,
        [round, deviceId, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), result, now],
      );
      if (inserted.rowCount === 0)
        throw new FedexError('DUPLICATE_UPDATE', `your update for round ${round} was already recorded`);
      const received = (
        await c.query<{ n: number }>('SELECT COUNT(*) AS n FROM round_updates WHERE round = $1', [round])
      ).rows[0].n;
      if (received >= row.tasks)
        await c.query('UPDATE rounds SET closed_at = $1 WHERE round = $2', [now, round]);
      return { received };
    });
  }

  async roundProgress(round: number): Promise<RoundProgress | undefined> {
    const row = await this.one<RoundRow & { updates: number }>(
      'SELECT r.*, (SELECT COUNT(*) FROM round_updates u WHERE u.round = r.round) AS updates FROM rounds r WHERE r.round = $1',
      [round],
    );
    return row && toRoundProgress(row);
  }

  async closeRound(round: number): Promise<RoundUpdate[]> {
    return this.tx(async (c) => {
      const row = (await c.query<RoundRow>('SELECT * FROM rounds WHERE round = $1 FOR UPDATE', [round]))
        .rows[0];
      if (!row)
        throw new FedexError(
          'NOT_FOUND',
          `no round ${round} (the last one published is ${await this.lastRound(c)})`,
        );
      if (row.closed_at === null)
        await c.query('UPDATE rounds SET closed_at = $1 WHERE round = $2', [this.now(), round]);
      const updates = await c.query<{ device_id: string; bytes: Buffer; result: string }>(
        'SELECT device_id, bytes, result FROM round_updates WHERE round = $1 ORDER BY seq',
        [round],
      );
      return updates.rows.map((u) => ({ deviceId: u.device_id, bytes: u.bytes, result: u.result }));
    });
  }

  async finishRounds(): Promise<void> {
    await this.tx(async (c) => {
      await c.query('UPDATE rounds SET closed_at = $1 WHERE closed_at IS NULL', [this.now()]);
      await this.setRoundsFinished(c, true);
    });
  }

  async activeRoundDevices(withinMs: number): Promise<string[]> {
    const rows = await this.rows<{ device_id: string }>(
      'SELECT device_id FROM round_devices WHERE seen_at >= $1',
      [this.now() - withinMs],
    );
    return rows.map((r) => r.device_id).sort(); // sorted here: the database's collation may differ
  }
}

/** A device's task row in PostgreSQL, and whether its update was recorded. */
interface PgRoundTaskRow {
  task: string;
  weights_key: string | null;
  reported: boolean;
}

function ignore(): void {}

/**
 * The URL without an `options` query parameter, and that parameter's value: node-postgres lets a
 * URL's `options` replace the config's, so the two are joined instead.
 */
function splitOptions(url: string): { connectionString: string; urlOptions: string } {
  try {
    const u = new URL(url);
    const urlOptions = u.searchParams.get('options') ?? '';
    if (!urlOptions) return { connectionString: url, urlOptions: '' };
    u.searchParams.delete('options');
    return { connectionString: u.toString(), urlOptions };
  } catch {
    return { connectionString: url, urlOptions: '' };
  }
}

/** Creates `schema` when missing (two processes doing it at once both succeed). */
async function createSchema(client: pg.ClientBase, schema: string): Promise<void> {
  // Looked up first: a role without CREATE on the database may still use an existing schema.
  const found = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
  if (found.rows.length > 0) return;
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`);
  } catch (e) {
    // CREATE SCHEMA IF NOT EXISTS races with itself: the loser sees a duplicate.
    const code = codeOf(e);
    if (code !== '23505' && code !== '42P06') throw e;
  }
}
