/**
 * Test support for the stores: a fresh database per test for each implementation (SQLite on a
 * temporary file, PostgreSQL in a fresh random schema dropped afterwards), a settable clock, and
 * small batches with hand-checkable features. Used by tests only.
 *
 * PostgreSQL comes from `FEDEX_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`).
 * When it cannot be reached the PostgreSQL half of a suite is skipped with a loud warning, except
 * under `FEDEX_REQUIRE_SERVICES=1` (CI), where it runs and fails.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { FeatureBatch, FeatureSpec } from '../../core/types.js';
import { PgStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import { redactUrl, type QueuePolicy, type Store, type StoreKind } from './store.js';

export const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'postgres'];

/** A spec outside the backbone registry: stored per user (`…#<userId>`), 4 values a sample. */
export const TEST_SPEC: FeatureSpec = {
  backboneId: 'test-net',
  backboneVersion: '1',
  split: 'embedding',
  shape: [4],
};

/** A spec of the backbone registry (tiny-cnn's embedding): shared by every user, 16 values. */
export const REGISTRY_SPEC: FeatureSpec = {
  backboneId: 'tiny-cnn',
  backboneVersion: '1',
  split: 'embedding',
  shape: [16],
};

/** The PostgreSQL server the tests use. */
export function postgresTestUrl(): string {
  return process.env.FEDEX_TEST_POSTGRES || 'postgres://postgres@127.0.0.1:5432/test';
}

/** Whether a missing service must fail the tests instead of skipping them (CI). */
export function servicesRequired(): boolean {
  return process.env.FEDEX_REQUIRE_SERVICES === '1';
}

let probe: Promise<string | undefined> | undefined;

/** Why PostgreSQL cannot be used (undefined: it answers), asked once per process. */
function pgProblem(): Promise<string | undefined> {
  probe ??= (async () => {
    const client = new pg.Client({ connectionString: postgresTestUrl(), connectionTimeoutMillis: 3000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      return undefined;
    } catch (e) {
      const err = e as { message?: string; code?: string; errors?: { message?: string }[] };
      return err.message || err.errors?.[0]?.message || err.code || String(e);
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return probe;
}

/** Whether the test PostgreSQL server answers. */
export async function pgAvailable(): Promise<boolean> {
  return (await pgProblem()) === undefined;
}

/**
 * Why a kind's half of a suite must be skipped, or undefined to run it. PostgreSQL unreachable:
 * a loud warning and a reason, unless {@link servicesRequired} (then the tests run and fail).
 */
export async function storeSkipReason(kind: StoreKind): Promise<string | undefined> {
  if (kind !== 'postgres') return undefined;
  const problem = await pgProblem();
  if (problem === undefined) return undefined;
  const where = redactUrl(postgresTestUrl());
  if (servicesRequired()) {
    console.error(
      `\n!!! PostgreSQL at ${where} is unreachable (${problem}) and FEDEX_REQUIRE_SERVICES=1: failing.\n`,
    );
    return undefined;
  }
  const reason = `PostgreSQL at ${where} is unreachable (${problem})`;
  console.warn(
    `\n!!! ${reason}: SKIPPING the PostgreSQL half of the store tests.\n` +
      '!!! Start it or set FEDEX_TEST_POSTGRES; CI sets FEDEX_REQUIRE_SERVICES=1 so this fails there.\n',
  );
  return reason;
}

export interface TestStoreOptions {
  now?: () => number;
  queue?: Partial<QueuePolicy>;
  readonly?: boolean;
}

/** One empty database of one kind, and any number of stores on it (as separate processes would). */
export interface TestDatabase {
  kind: StoreKind;
  /** A new store instance on this database (each its own connection or pool). */
  open(options?: TestStoreOptions): Promise<Store>;
  /** Rows of SQL run on the database directly; `?` marks the parameters (both dialects). */
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Closes every store opened and removes the database (file or schema). */
  cleanup(): Promise<void>;
}

/**
 * A fresh database: SQLite on a file in a new temporary folder, or PostgreSQL in a new schema
 * `fedex_t_<random>` (dropped with CASCADE at cleanup).
 *
 * @example
 * const db = await createTestDatabase('postgres');
 * const a = await db.open(); const b = await db.open(); // two "processes"
 * await db.cleanup();
 */
export async function createTestDatabase(kind: StoreKind): Promise<TestDatabase> {
  const stores: Store[] = [];
  if (kind === 'sqlite') {
    const dir = mkdtempSync(path.join(tmpdir(), 'fedex-store-'));
    const file = path.join(dir, 'fedex.db');
    let raw: SqliteStore | undefined;
    return {
      kind,
      async open(options = {}) {
        const store = new SqliteStore(file, { synchronous: 'normal', ...options });
        stores.push(store);
        return store;
      },
      async query<R>(sql: string, params: unknown[] = []) {
        raw ??= new SqliteStore(file, { synchronous: 'normal' });
        return raw.db.prepare(sql).all(...params) as R[];
      },
      async cleanup() {
        for (const s of stores) await s.close();
        await raw?.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const url = postgresTestUrl();
  const schema = `fedex_t_${randomBytes(6).toString('hex')}`;
  let admin: pg.Pool | undefined;
  const adminPool = (): pg.Pool => {
    if (!admin) {
      const types = new pg.TypeOverrides();
      types.setTypeParser(20, 'text', (v: string) => Number(v)); // COUNT(*) and ids, as the store reads them
      admin = new pg.Pool({ connectionString: url, max: 2, options: `-c search_path=${schema}`, types });
      admin.on('error', () => undefined);
    }
    return admin;
  };
  return {
    kind,
    async open(options = {}) {
      const store = await PgStore.open(url, { schema, poolSize: 4, ...options });
      stores.push(store);
      return store;
    },
    async query<R>(sql: string, params: unknown[] = []) {
      let i = 0;
      const text = sql.replace(/\?/g, () => `$${++i}`);
      return (await adminPool().query(text, params)).rows as R[];
    },
    async cleanup() {
      for (const s of stores) await s.close();
      if (stores.length > 0 || admin) {
        await adminPool().query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      }
      await admin?.end();
    },
  };
}

/** A settable clock for the stores' `now` option (starts at a round number of milliseconds). */
export function testClock(start = 1_000_000): { now: () => number; advance(ms: number): number; t: number } {
  const clock = {
    t: start,
    now: () => clock.t,
    advance(ms: number) {
      clock.t += ms;
      return clock.t;
    },
  };
  return clock;
}

/**
 * A batch of `clientIds.length` samples with features `value(i, d)` (default `10·i + d`, exact in
 * float32) and the given labels (-1: unlabelled).
 *
 * @example
 * testBatch(['a', 'b'], [0, -1]); // features [0, 1, 2, 3, 10, 11, 12, 13]
 */
export function testBatch(
  clientIds: readonly string[],
  labels: readonly number[],
  options: { spec?: FeatureSpec; value?: (i: number, d: number) => number; labelNames?: string[] } = {},
): FeatureBatch {
  const spec = options.spec ?? TEST_SPEC;
  const dim = spec.shape.reduce((a, b) => a * b, 1);
  const value = options.value ?? ((i: number, d: number) => 10 * i + d);
  const features = new Float32Array(clientIds.length * dim);
  for (let i = 0; i < clientIds.length; i++)
    for (let d = 0; d < dim; d++) features[i * dim + d] = value(i, d);
  return {
    spec,
    sampleIds: [...clientIds],
    labels: Int32Array.from(labels),
    features,
    ...(options.labelNames ? { labelNames: options.labelNames } : {}),
  };
}
