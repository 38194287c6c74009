/**
 * The server's SQLite schema, as numbered migrations. `migrate` applies the missing ones in one
 * transaction each and records the version in `PRAGMA user_version`, so an old data folder is
 * upgraded in place and a half-applied migration never exists.
 */
import type Database from 'better-sqlite3';
import { FedexError } from '../../core/errors.js';

/** Migration i (1-based) brings the schema from version i-1 to version i. Never edit a shipped one. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    -- highest sample id (labelled or not) a finished training of this user's head has seen
    trained_through INTEGER NOT NULL DEFAULT 0,
    last_trained_at INTEGER
  );
  CREATE TABLE enrollment_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id),
    expires_at INTEGER NOT NULL,
    uses_left  INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE devices (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id),
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER
  );
  CREATE INDEX devices_user ON devices(user_id);
  CREATE TABLE labels (
    user_id    TEXT NOT NULL REFERENCES users(id),
    label_id   INTEGER NOT NULL,
    name       TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
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
    received_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, batch_id)
  );
  CREATE TABLE samples (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    TEXT NOT NULL REFERENCES users(id),
    device_id  TEXT NOT NULL REFERENCES devices(id),
    batch_id   TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    spec_key   TEXT NOT NULL REFERENCES specs(key),
    label      INTEGER NOT NULL DEFAULT -1,
    features   BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (user_id, spec_key, client_id)
  );
  CREATE INDEX samples_user_spec_label ON samples(user_id, spec_key, label);
  CREATE TABLE models (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    scope      TEXT NOT NULL,
    version    INTEGER NOT NULL,
    spec_key   TEXT NOT NULL REFERENCES specs(key),
    head       TEXT NOT NULL,
    config     TEXT NOT NULL,
    metrics    TEXT NOT NULL,
    labels     TEXT NOT NULL,
    weights    BLOB NOT NULL,
    checksum   TEXT NOT NULL,
    size       INTEGER NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('promoted', 'rejected')),
    reason     TEXT,
    job_id     INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (scope, version)
  );
  CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    scope        TEXT NOT NULL,
    trigger      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    progress     REAL NOT NULL DEFAULT 0,
    message      TEXT,
    config       TEXT NOT NULL,
    result       TEXT,
    error        TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER,
    updated_at   INTEGER NOT NULL
  );
  CREATE INDEX jobs_status ON jobs(status, id);
  CREATE INDEX jobs_scope ON jobs(scope, id);
  CREATE TABLE schedule (
    name     TEXT PRIMARY KEY,
    last_run INTEGER NOT NULL
  );
  `,
  // 2: device tokens can be revoked (a revoked device's token no longer authenticates).
  `
  ALTER TABLE devices ADD COLUMN revoked_at INTEGER;
  `,
  // 3: hardening. Relabel by client id uses an index (it scanned every sample of the user per id);
  // a spec not in the backbone registry belongs to the user who uploaded it (`owner`), so no user
  // can fix another's feature shape; a per-database salt pseudonymises user ids in the global
  // model's class names; jobs can be cancelled (a new status, so the table is rebuilt: SQLite
  // cannot change a CHECK constraint in place).
  `
  CREATE INDEX samples_user_client ON samples(user_id, client_id);
  ALTER TABLE specs ADD COLUMN owner TEXT;
  CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  INSERT INTO settings (name, value) VALUES ('pseudonym_salt', lower(hex(randomblob(16))));
  CREATE TABLE jobs_v3 (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    scope        TEXT NOT NULL,
    trigger      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    progress     REAL NOT NULL DEFAULT 0,
    message      TEXT,
    config       TEXT NOT NULL,
    result       TEXT,
    error        TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER,
    updated_at   INTEGER NOT NULL
  );
  INSERT INTO jobs_v3 SELECT id, scope, trigger, status, progress, message, config, result, error,
    attempts, max_attempts, created_at, started_at, finished_at, updated_at FROM jobs;
  DROP TABLE jobs;
  ALTER TABLE jobs_v3 RENAME TO jobs;
  CREATE INDEX jobs_status ON jobs(status, id);
  CREATE INDEX jobs_scope ON jobs(scope, id);
  `,
  // 4: deleting samples. `removals` counts deletions of a user's labelled samples; a training job
  // reads it with its training set and, once done, stores it in `trained_removals`. While
  // `removals > trained_removals` the user's models have seen deleted data: the scheduler retrains
  // at once and the new model is promoted without being compared with them.
  `
  ALTER TABLE users ADD COLUMN removals INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE users ADD COLUMN trained_removals INTEGER NOT NULL DEFAULT 0;
  `,
  // 5: the job queue for many workers. A claim is a lease (`lease_owner` until `lease_until`,
  // renewed by heartbeats); a lease that runs out means the worker died, and the job is taken
  // again or, on its last attempt, failed for good. A retry waits until `run_after` (backoff).
  `
  ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
  ALTER TABLE jobs ADD COLUMN lease_until INTEGER;
  ALTER TABLE jobs ADD COLUMN run_after INTEGER NOT NULL DEFAULT 0;
  `,
  // 6: federated rounds in the database, so every API process serves the open round and a restart
  // continues it. A round is open while \`closed_at\` is NULL and its deadline is ahead; one update
  // per device and round (the primary key, so two processes cannot both record one); \`seq\` keeps
  // the order updates arrived in. \`round_devices\` says when each device last polled.
  `
  CREATE TABLE rounds (
    round        INTEGER PRIMARY KEY,
    deadline_at  INTEGER NOT NULL,
    published_at INTEGER NOT NULL,
    closed_at    INTEGER,
    tasks        INTEGER NOT NULL
  );
  CREATE TABLE round_weights (
    round INTEGER NOT NULL REFERENCES rounds(round),
    key   TEXT NOT NULL,
    bytes BLOB NOT NULL,
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
    bytes       BLOB NOT NULL,
    result      TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (round, device_id)
  );
  CREATE TABLE round_devices (
    device_id TEXT PRIMARY KEY,
    seen_at   INTEGER NOT NULL
  );
  CREATE INDEX round_devices_seen ON round_devices(seen_at);
  `,
];

/** Brings the database to the newest schema version; returns the version it now has. */
export function migrate(db: Database.Database): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new FedexError(
      'UNAVAILABLE',
      `the database has schema version ${current}, newer than this server knows (${MIGRATIONS.length}); upgrade FedEx`,
    );
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return MIGRATIONS.length;
}
