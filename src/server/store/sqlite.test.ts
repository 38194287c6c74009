/**
 * What only the SQLite store has: the file (WAL, migrations via `user_version`, a read-only
 * connection, the file deleted under it) and its per-process usage cache against SQLite's own
 * "disk full". Store semantics shared with PostgreSQL are in `conformance.test.ts`.
 */
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from './schema.js';
import { SqliteStore } from './sqlite.js';
import { testBatch } from './testing.js';

let dir: string;
let file: string;
let store: SqliteStore;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'fedex-store-'));
  file = path.join(dir, 'fedex.db');
  store = new SqliteStore(file, { synchronous: 'normal' });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SqliteStore', () => {
  it('creates the schema once, in WAL mode, and reopens an existing file without migrating again', async () => {
    const version = store.db.pragma('user_version', { simple: true });
    const journal = store.db.pragma('journal_mode', { simple: true });
    await store.createUser('Ana', 'ana');
    await store.close();

    store = new SqliteStore(file);
    const readonly = new SqliteStore(file, { readonly: true });

    expect([version, journal]).toEqual([MIGRATIONS.length, 'wal']);
    expect((await store.getUser('ana'))?.name).toBe('Ana');
    expect((await readonly.getUser('ana'))?.name).toBe('Ana');
    expect(() => readonly.core.createUser('Bob', 'bob')).toThrow(/readonly/);
    expect(store.location).toBe(file);
    await readonly.close();
  });

  it('refuses a database from a newer FedEx', async () => {
    store.db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    await store.close();

    expect(() => new SqliteStore(file)).toThrow(
      `the database has schema version ${MIGRATIONS.length + 1}, newer than this server knows (${MIGRATIONS.length}); upgrade FedEx`,
    );
    store = new SqliteStore(path.join(dir, 'other.db'));
  });

  it('refuses writes, and says why, once its file is deleted under it', async () => {
    expect(await store.health()).toBe('ok');
    unlinkSync(file);

    await expect(store.assertWritable()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(await store.health()).toMatch(/was deleted or replaced while the server ran/);
  });

  it("keeps its cached usage exact when SQLite's disk is full and the whole group rolls back", async () => {
    // Prepare
    await store.createUser('Ana', 'ana');
    const { device } = await store.enrollDevice('ana', 'phone');
    const recount = async () => {
      const fresh = new SqliteStore(file, { readonly: true });
      try {
        return await fresh.usage('ana');
      } finally {
        await fresh.close();
      }
    };
    const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
    await store.usage('ana'); // counted, then cached
    await store.ingestBatch({
      device,
      batchId: 'one',
      sha256: 's1',
      batch: testBatch(ids('a', 6), Array(6).fill(0)),
    });
    const before = await store.usage('ana');

    // Execute: the file may not grow, so a large group fails at commit.
    store.db.pragma(`max_page_count = ${store.db.pragma('page_count', { simple: true }) as number}`);
    const big = testBatch(ids('big', 480), Array(480).fill(1));
    const failed = await store
      .ingestMany([{ device, batchId: 'four', sha256: 's4', batch: big }])
      .catch((e: unknown) => e);

    // Assert
    expect(before).toEqual({ samples: 6, featureBytes: 6 * 16 });
    expect(failed).toMatchObject({ code: 'STORAGE_FULL' });
    expect(await store.usage('ana')).toEqual(before); // nothing of the failed group counted
    expect(await recount()).toEqual(before);
    expect(await store.hasBatch('ana', 'four')).toBe(false);
  });
});
