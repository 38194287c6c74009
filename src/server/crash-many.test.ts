/**
 * Crash recovery under repeated SIGKILLs (issue 10, item 2): four devices (one per user) upload
 * batches concurrently to a real `fedex serve` child process, which is killed with SIGKILL at
 * seeded-random moments and restarted on the same data folder each time. Each device behaves like a
 * real outbox: a batch stays pending until the server acknowledges it (201, or 200 duplicate), and
 * after every restart the pending batches are retried with the SAME Idempotency-Key and bytes.
 *
 * Checked after every restart: every acknowledged batch so far is stored (including the last one
 * acknowledged right before the kill) and `PRAGMA integrity_check` is 'ok'. Checked at the end
 * (after a graceful stop): every batch is stored exactly once with all its samples, nothing else is
 * stored, and the integrity check is still 'ok'.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRng, deriveSeed, randomInt } from '../core/random.js';
import { SqliteCore } from './store/sqlite.js';
import { startChildServer, type ChildServer } from './testing/child-server.js';
import { caller, encodeBatch, syntheticBatch } from './testing/harness.js';

const SEED = 20261126;
const KILLS = 8;
const DEVICES = 4;
const LANES_PER_DEVICE = 2; // concurrent uploads per device, so several are in flight at each kill
const PEOPLE = 2;
const PER_PERSON = 5;
const PER_BATCH = PEOPLE * PER_PERSON;
// No per-device rate limit: the lanes upload as fast as the server answers (on a quick machine
// more than the default 50/s a device may make), and this test is about crashes, not limits
// (src/server/rate-limit.test.ts covers those).
const SERVE_ARGS = ['--workers', '0', '--rate-limit', '0'];

interface Pending {
  id: string;
  bytes: Uint8Array;
}

interface Device {
  userId: string;
  token: string;
  pending: Pending[]; // the outbox: sent (or not yet) but never acknowledged
  acknowledged: Set<string>;
  next: number;
}

let dataDir: string;
let server: ChildServer | undefined;
beforeEach(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'fedex-crash-many-'));
});
afterEach(async () => {
  await server?.kill();
  server = undefined;
  rmSync(dataDir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function integrity(store: SqliteCore): string {
  const rows = store.db.prepare('PRAGMA integrity_check').all() as { integrity_check: string }[];
  return rows.map((r) => r.integrity_check).join('; ');
}

describe('fedex serve killed with SIGKILL many times', () => {
  it('stores every acknowledged batch exactly once across repeated crashes and retries', async () => {
    const started = Date.now();
    const rng = createRng(SEED);
    const dbFile = path.join(dataDir, 'fedex.db');

    server = await startChildServer(dataDir, SERVE_ARGS);
    const admin = caller(server.url, server.adminKey);
    const devices: Device[] = [];
    for (let d = 0; d < DEVICES; d++) {
      const userId = `u${d}`;
      expect((await admin.request('POST', '/v1/users', { name: userId, id: userId })).status).toBe(201);
      const e = await admin.request<{ token: string }>('POST', '/v1/devices', { name: 'phone', userId });
      expect(e.status).toBe(201);
      devices.push({ userId, token: e.json.token, pending: [], acknowledged: new Set(), next: 0 });
    }

    let created = 0;
    let retried = 0; // pending batches re-sent after a restart
    let retriedDuplicates = 0; // ... that the server already had (stored, but the 201 was lost)
    let inFlightAtKills = 0;
    const lastAckGapsMs: number[] = [];

    const newBatch = (dev: Device): Pending => {
      const id = `${dev.userId}-b${dev.next++}`;
      created++;
      const batch = syntheticBatch({
        people: PEOPLE,
        perPerson: PER_PERSON,
        prefix: id,
        seed: deriveSeed(SEED, id),
      });
      return { id, bytes: encodeBatch(batch) };
    };

    /** One round of traffic against the running server; resolves once every lane has stopped. */
    const traffic = (
      s: ChildServer,
      state: { stop: boolean; lastAck: { id: string; userId: string; at: number } | null; inFlight: number },
    ) =>
      devices.flatMap((dev) => {
        const api = caller(s.url, dev.token);
        const retryQueue = dev.pending.splice(0); // retried first, as an outbox does after reconnecting
        return Array.from({ length: LANES_PER_DEVICE }, async () => {
          while (!state.stop) {
            const isRetry = retryQueue.length > 0;
            const item = retryQueue.shift() ?? newBatch(dev);
            if (isRetry) retried++;
            state.inFlight++;
            try {
              const r = await api.request<{ duplicate?: boolean }>(
                'POST',
                `/v1/users/${dev.userId}/batches`,
                item.bytes,
                { 'idempotency-key': item.id },
              );
              if (r.status !== 201 && r.status !== 200) {
                throw new Error(`upload ${item.id}: HTTP ${r.status} ${JSON.stringify(r.json)}`);
              }
              if (r.status === 200) {
                expect(r.json.duplicate, item.id).toBe(true);
                retriedDuplicates++;
              }
              dev.acknowledged.add(item.id);
              state.lastAck = { id: item.id, userId: dev.userId, at: Date.now() };
            } catch (e) {
              if (!state.stop) throw e; // only the kill may cut a request off
              dev.pending.push(item);
            } finally {
              state.inFlight--;
            }
          }
          dev.pending.push(...retryQueue.splice(0)); // not reached this round
        });
      });

    /** Every batch acknowledged so far is stored; the database file is sound. */
    const checkAcknowledged = (round: number, lastAck: { id: string; userId: string } | null) => {
      const store = new SqliteCore(dbFile, { readonly: true });
      try {
        expect(integrity(store), `integrity after kill ${round}`).toBe('ok');
        if (lastAck)
          expect(store.hasBatch(lastAck.userId, lastAck.id), `last 201 before kill ${round}`).toBe(true);
        for (const dev of devices) {
          for (const id of dev.acknowledged) expect(store.hasBatch(dev.userId, id), id).toBe(true);
        }
      } finally {
        store.close();
      }
    };

    for (let round = 1; round <= KILLS; round++) {
      const state = {
        stop: false,
        lastAck: null as { id: string; userId: string; at: number } | null,
        inFlight: 0,
      };
      const lanes = traffic(server, state);
      const delay = 100 + randomInt(rng, 701); // 100..800 ms of traffic, then the crash
      await sleep(delay);
      state.stop = true;
      const killedAt = Date.now();
      inFlightAtKills += state.inFlight;
      await server.kill();
      await Promise.all(lanes);
      if (state.lastAck) lastAckGapsMs.push(killedAt - state.lastAck.at);

      server = await startChildServer(dataDir, SERVE_ARGS);
      checkAcknowledged(round, state.lastAck);
    }

    // Final reconnect: every device drains its outbox, then a graceful stop.
    for (const dev of devices) {
      const api = caller(server.url, dev.token);
      for (const item of dev.pending.splice(0)) {
        retried++;
        const r = await api.request<{ duplicate?: boolean }>(
          'POST',
          `/v1/users/${dev.userId}/batches`,
          item.bytes,
          {
            'idempotency-key': item.id,
          },
        );
        expect([200, 201], `${item.id}: ${r.status}`).toContain(r.status);
        if (r.status === 200) retriedDuplicates++;
        dev.acknowledged.add(item.id);
      }
    }
    expect(await server.stop()).toBe(0);
    server = undefined;

    const store = new SqliteCore(dbFile, { readonly: true });
    let batchesChecked = 0;
    try {
      expect(integrity(store)).toBe('ok');
      for (const dev of devices) {
        const rows = store.db
          .prepare('SELECT batch_id AS id, COUNT(*) AS n FROM samples WHERE user_id = ? GROUP BY batch_id')
          .all(dev.userId) as { id: string; n: number }[];
        const stored = new Map(rows.map((r) => [r.id, r.n]));
        // Exactly the batches the device created, each once, each whole.
        expect([...stored.keys()].sort()).toEqual([...dev.acknowledged].sort());
        for (const [id, n] of stored) expect(n, id).toBe(PER_BATCH);
        const perBatch = store.db
          .prepare(
            'SELECT batch_id AS id, COUNT(*) AS n FROM batches WHERE user_id = ? GROUP BY batch_id HAVING n <> 1',
          )
          .all(dev.userId);
        expect(perBatch).toEqual([]);
        expect(await store.countBatches(dev.userId)).toBe(dev.acknowledged.size);
        expect(await store.countSamples(dev.userId)).toBe(dev.acknowledged.size * PER_BATCH);
        batchesChecked += dev.acknowledged.size;
      }
      expect(batchesChecked).toBe(created);
      expect(await store.countSamples()).toBe(created * PER_BATCH);
    } finally {
      await store.close();
    }
    expect(retried).toBeGreaterThan(0); // some uploads were cut off by the kills and retried

    console.info(
      `crash-many: survived ${KILLS} SIGKILLs; ${batchesChecked} batches (${batchesChecked * PER_BATCH} samples) ` +
        `from ${DEVICES} devices each stored exactly once; ${inFlightAtKills} uploads in flight at the kills, ` +
        `${retried} retried with the same Idempotency-Key (${retriedDuplicates} already stored → 200 duplicate); ` +
        `the last 201 of every round kept (read ${lastAckGapsMs.join('/')} ms before the SIGKILL was sent; ` +
        `negative: read just after, already written by the dying server); integrity_check ok after every ` +
        `restart; ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }, 120_000);
});
