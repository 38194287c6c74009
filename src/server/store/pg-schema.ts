/**
 * The server's PostgreSQL schema, as numbered migrations that mirror the SQLite ones in
 * `./schema.ts`: migration i of either dialect brings its schema to version i, with the same table
 * and column names, so the row converters in `./rows.ts` read both. Ids are BIGSERIAL, times are
 * BIGINT milliseconds, features and weights BYTEA, JSON documents TEXT.
 *
 * `migratePg` records the version in `schema_version` and applies the missing migrations one
 * transaction each, under an advisory lock, so two servers starting at once migrate once.
 */
import type pg from 'pg';
import { FedexError } from '../../core/errors.js';

/** Migration i (1-based) brings the schema from version i-1 to version i. Never edit a shipped one. */
export const PG_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    -- highest sample id (labelled or not) a finished training of this user's head has seen
    trained_through BIGINT NOT NULL DEFAULT 0,
    last_trained_at BIGINT
  );
  CREATE TABLE enrollment_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id),
    expires_at BIGINT NOT NULL,
    uses_left  INTEGER NOT NULL,
    created_at BIGINT NOT NULL
  );
  CREATE TABLE devices (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id),
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT
  );
  CREATE INDEX devices_user ON devices(user_id);
  CREATE TABLE labels (
    user_id    TEXT NOT NULL REFERENCES users(id),
    label_id   INTEGER NOT NULL,
    name       TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, label_id)
  );
  CREATE TABLE specs (
    key              TEXT PRIMARY KEY,
    backbone_id      TEXT NOT NULL,
    backbone_version TEXT NOT NULL,
    split            TEXT NOT NULL,
    shape            TEXT NOT NULL
  );
  CREATE TABLE batches (
    user_id     TEXT NOT NULL REFERENCES users(id),
    batch_id    TEXT NOT NULL,
    device_id   TEXT NOT NULL REFERENCES devices(id),
    sha256      TEXT NOT NULL,
    spec_key    TEXT NOT NULL REFERENCES specs(key),
    samples     INTEGER NOT NULL,
    inserted    INTEGER NOT NULL,
    updated     INTEGER NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, batch_id)
  );
  CREATE TABLE samples (
    id         BIGSERIAL PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id),
    device_id  TEXT NOT NULL REFERENCES devices(id),
    batch_id   TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    spec_key   TEXT NOT NULL REFERENCES specs(key),
    label      INTEGER NOT NULL DEFAULT -1,
    features   BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (user_id, spec_key, client_id)
  );
  CREATE INDEX samples_user_spec_label ON samples(user_id, spec_key, label);
  CREATE TABLE models (
    id         BIGSERIAL PRIMARY KEY,
    scope      TEXT NOT NULL,
    version    INTEGER NOT NULL,
    spec_key   TEXT NOT NULL REFERENCES specs(key),
    head       TEXT NOT NULL,
    config     TEXT NOT NULL,
    metrics    TEXT NOT NULL,
    labels     TEXT NOT NULL,
    weights    BYTEA NOT NULL,
    checksum   TEXT NOT NULL,
    size       BIGINT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('promoted', 'rejected')),
    reason     TEXT,
    job_id     BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (scope, version)
  );
  CREATE TABLE jobs (
    id           BIGSERIAL PRIMARY KEY,
    scope        TEXT NOT NULL,
    trigger      TEXT NOT NULL,
    status       TEXT NOT NULL CONSTRAINT jobs_status_check
                   CHECK (status IN ('queued', 'running', 'done', 'failed')),
    progress     DOUBLE PRECISION NOT NULL DEFAULT 0,
    message      TEXT,
    config       TEXT NOT NULL,
    result       TEXT,
    error        TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    created_at   BIGINT NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT,
    updated_at   BIGINT NOT NULL
  );
  CREATE INDEX jobs_status ON jobs(status, id);
  CREATE INDEX jobs_scope ON jobs(scope, id);
  CREATE TABLE schedule (
    name     TEXT PRIMARY KEY,
    last_run BIGINT NOT NULL
  );
  `,
  // 2: device tokens can be revoked.
  `
  ALTER TABLE devices ADD COLUMN revoked_at BIGINT;
  `,
  // 3: hardening (see schema.ts): relabel by client id uses an index, specs have owners, a
  // per-database salt (32 hex digits, from gen_random_uuid's 122 random bits) pseudonymises user
  // ids in the global model, jobs can be cancelled. PostgreSQL changes the CHECK constraint in
  // place where SQLite rebuilds the table.
  `
  CREATE INDEX samples_user_client ON samples(user_id, client_id);
  ALTER TABLE specs ADD COLUMN owner TEXT;
  CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  INSERT INTO settings (name, value) VALUES ('pseudonym_salt', replace(gen_random_uuid()::text, '-', ''));
  ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
  ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled'));
  `,
  // 4: deleting samples: `removals` counts deletions of labelled samples, `trained_removals` the
  // count the last finished training had seen.
  `
  ALTER TABLE users ADD COLUMN removals INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE users ADD COLUMN trained_removals INTEGER NOT NULL DEFAULT 0;
  `,
  // 5: the job queue for many workers: leases and retry backoff.
  `
  ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
  ALTER TABLE jobs ADD COLUMN lease_until BIGINT;
  ALTER TABLE jobs ADD COLUMN run_after BIGINT NOT NULL DEFAULT 0;
  `,
  // 6: federated rounds in the database (see schema.ts): rounds, their weights and tasks, one
  // update per device and round (primary key), and when each device last polled.
  `
  CREATE TABLE rounds (
    round        INTEGER PRIMARY KEY,
    deadline_at  BIGINT NOT NULL,
    published_at BIGINT NOT NULL,
    closed_at    BIGINT,
    tasks        INTEGER NOT NULL
  );
  CREATE TABLE round_weights (
    round INTEGER NOT NULL REFERENCES rounds(round),
    key   TEXT NOT NULL,
    bytes BYTEA NOT NULL,
    etag  TEXT NOT NULL,
    PRIMARY KEY (round, key)
  );
  CREATE TABLE round_tasks (
    round       INTEGER NOT NULL REFERENCES rounds(round),
    device_id   TEXT NOT NULL,
    task        TEXT NOT NULL,
    weights_key TEXT,
    PRIMARY KEY (round, device_id)
  );
  CREATE TABLE round_updates (
    round       INTEGER NOT NULL REFERENCES rounds(round),
    device_id   TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    bytes       BYTEA NOT NULL,
    result      TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (round, device_id)
  );
  CREATE TABLE round_devices (
    device_id TEXT PRIMARY KEY,
    seen_at   BIGINT NOT NULL
  );
  CREATE INDEX round_devices_seen ON round_devices(seen_at);
  `,
];

/**
 * First key of the advisory locks FedEx takes (the second one names what is locked), so they do
 * not collide with another application's locks in the same database.
 */
export const PG_LOCK = {
  migrate: 0x6665_0001,
  claim: 0x6665_0002,
  model: 0x6665_0003,
  enqueue: 0x6665_0004,
  rounds: 0x6665_0005,
} as const;

/** The schema version recorded in the database (0: none, or no FedEx tables yet). */
export async function pgSchemaVersion(client: pg.ClientBase): Promise<number> {
  const exists = await client.query<{ t: string | null }>("SELECT to_regclass('schema_version')::text AS t");
  if (!exists.rows[0]?.t) return 0;
  const r = await client.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_version');
  return Number(r.rows[0]?.v ?? 0);
}

function newerError(current: number): FedexError {
  return new FedexError(
    'UNAVAILABLE',
    `the database has schema version ${current}, newer than this server knows (${PG_MIGRATIONS.length}); upgrade FedEx`,
  );
}

/** Throws UNAVAILABLE when the database's schema is newer than this code knows; returns its version. */
export async function checkPgSchema(client: pg.ClientBase): Promise<number> {
  const current = await pgSchemaVersion(client);
  if (current > PG_MIGRATIONS.length) throw newerError(current);
  return current;
}

/**
 * Brings the schema in the client's `search_path` to the newest version; returns that version.
 * A session advisory lock (keyed by the search path, so schemas migrate independently) makes a
 * second process wait and then find nothing to do.
 */
export async function migratePg(client: pg.ClientBase): Promise<number> {
  const lockArgs = [PG_LOCK.migrate];
  await client.query("SELECT pg_advisory_lock($1, hashtext(current_setting('search_path')))", lockArgs);
  try {
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)',
    );
    const current = await checkPgSchema(client);
    for (let v = current; v < PG_MIGRATIONS.length; v++) {
      await client.query('BEGIN');
      try {
        await client.query(PG_MIGRATIONS[v]);
        await client.query('INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)', [
          v + 1,
          Date.now(),
        ]);
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
    }
    return PG_MIGRATIONS.length;
  } finally {
    await client
      .query("SELECT pg_advisory_unlock($1, hashtext(current_setting('search_path')))", lockArgs)
      .catch(() => undefined);
  }
}
