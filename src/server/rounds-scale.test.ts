/**
 * Federated rounds behind a load balancer: two API processes (two apps, two stores, two pools) on
 * one PostgreSQL schema. The round is run from one; devices poll, download and post through either,
 * and the round resolves with every device's update. A process that restarts mid-round goes on
 * serving the open round from the database. Skipped loudly without PostgreSQL (failed in CI).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeWeights, type WeightTensor } from '../core/codec.js';
import type { ClientTask } from '../strategy/types.js';
import { buildApp } from './app.js';
import { resolveServerConfig } from './config.js';
import { createMetrics } from './metrics.js';
import type { Store } from './store/store.js';
import { createTestDatabase, storeSkipReason, type TestDatabase } from './store/testing.js';
import { caller, TEST_ADMIN_KEY, type Caller } from './testing/harness.js';

const SKIP = await storeSkipReason('postgres');

type Err = { error: { code: string; message: string } };
type Current = {
  status: string;
  round: number | null;
  task: { weightsPath: string; weightsEtag: string } | null;
  reported: boolean;
};

const W: WeightTensor[] = [
  { name: 'dense/kernel', shape: [2, 2], values: Float32Array.from([1, 2, 3, 4]) },
  { name: 'dense/bias', shape: [2], values: Float32Array.from([0, 0]) },
];

const task = (round: number): ClientTask => ({
  kind: 'train',
  round,
  weights: W,
  localEpochs: 1,
  batchSize: 4,
  learningRate: 0.1,
  mu: 0,
  seed: 3,
});

/** A device's trained weights: the global ones plus `delta`, with `numExamples` in the metadata. */
function update(numExamples: number, delta: number): Uint8Array {
  const tensors = W.map((t) => ({ ...t, values: t.values.map((v) => v + delta) }));
  return encodeWeights(
    { metadata: { numExamples, loss: 0.5, accuracy: 0.8, deviceFlops: 1e6 }, tensors },
    { dtype: 'float32' },
  );
}

/** One API process: an app on its own store (its own pool) over the shared database. */
interface ApiProcess {
  app: FastifyInstance;
  store: Store;
  url: string;
  admin: Caller;
  as(token: string): Caller;
  close(): Promise<void>;
}

/** Polls the current round through `via` until it is open (the runner publishes asynchronously). */
async function openRound(via: Caller): Promise<Current> {
  for (let tries = 0; ; tries++) {
    const cur = await via.request<Current>('GET', '/v1/rounds/current');
    if (cur.json.status === 'open' || tries > 200) return cur.json;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(SKIP !== undefined)(
  'federated rounds across two API processes on one PostgreSQL schema',
  () => {
    let db: TestDatabase;
    let dir: string;
    const running: ApiProcess[] = [];

    async function startProcess(): Promise<ApiProcess> {
      const store = await db.open();
      const config = resolveServerConfig({
        port: 0,
        dataDir: dir,
        workers: 0,
        durability: 'normal',
        adminKey: TEST_ADMIN_KEY,
        rateLimitPerSecond: 0,
      });
      const app = await buildApp({
        store,
        config,
        metrics: createMetrics(store),
        adminKey: config.adminKey,
        startedAt: Date.now(),
        version: 'test',
      });
      await app.listen({ host: '127.0.0.1', port: 0 });
      const address = app.server.address();
      const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      let closed = false;
      const proc: ApiProcess = {
        app,
        store,
        url,
        admin: caller(url, config.adminKey),
        as: (token) => caller(url, token),
        async close() {
          if (closed) return;
          closed = true;
          await app.close();
          await store.close();
        },
      };
      running.push(proc);
      return proc;
    }

    /** Enrolls `n` devices through `via`; returns their ids and tokens. */
    async function devices(via: ApiProcess, n: number): Promise<{ id: string; token: string }[]> {
      const out: { id: string; token: string }[] = [];
      for (let i = 0; i < n; i++) {
        const u = await via.admin.request('POST', '/v1/users', { name: `user ${i}`, id: `u${i}` });
        expect(u.status).toBe(201);
        const e = await via.admin.request<{ device: { id: string }; token: string }>('POST', '/v1/devices', {
          name: 'phone',
          userId: `u${i}`,
        });
        expect(e.status).toBe(201);
        out.push({ id: e.json.device.id, token: e.json.token });
      }
      return out;
    }

    beforeEach(async () => {
      db = await createTestDatabase('postgres');
      dir = mkdtempSync(path.join(tmpdir(), 'fedex-rounds-scale-'));
    });
    afterEach(async () => {
      for (const p of running.splice(0).reverse()) await p.close();
      await db.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('resolves a round run from one process with every update, whichever process each request reached', async () => {
      // Prepare: two processes; four devices enrolled through A (B knows them from the database).
      const a = await startProcess();
      const b = await startProcess();
      const devs = await devices(a, 4);
      const tasks = new Map(devs.map((d) => [d.id, task(1)]));

      // Execute: A runs the round; each device polls through one process, downloads through the
      // other and posts through the first again (alternating which process comes first).
      const done = a.app.rounds.runRound(1, tasks, 30_000);
      const acks: unknown[] = [];
      const duplicates: unknown[] = [];
      for (const [i, d] of devs.entries()) {
        const [first, second] = i % 2 === 0 ? [b, a] : [a, b];
        const cur = await openRound(first.as(d.token));
        expect(cur).toMatchObject({ status: 'open', round: 1, reported: false });
        const w = await second.as(d.token).request('GET', cur.task!.weightsPath);
        expect([w.status, w.headers.get('etag')]).toEqual([200, cur.task!.weightsEtag]);
        const ok = await first.as(d.token).request('POST', '/v1/rounds/1/updates', update(10 * (i + 1), i));
        acks.push([ok.status, ok.json]);
        if (i === 0) {
          // The same update again, through the other process: one update per device, either way.
          const dup = await second.as(d.token).request<Err>('POST', '/v1/rounds/1/updates', update(10, 0));
          duplicates.push([dup.status, dup.json.error.code]);
        }
      }
      const results = await done;
      const afterwards = await b.as(devs[0].token).request<Current>('GET', '/v1/rounds/current');
      const late = await b.as(devs[1].token).request<Err>('POST', '/v1/rounds/1/updates', update(10, 0));

      // Assert
      expect(acks).toEqual(devs.map((_, i) => [202, { round: 1, received: i + 1 }]));
      expect(duplicates).toEqual([[409, 'DUPLICATE_UPDATE']]);
      expect(results.map((r) => [r.clientId, r.kind === 'weights' && r.numExamples])).toEqual(
        devs.map((d, i) => [d.id, 10 * (i + 1)]),
      );
      const last = results[3];
      expect(last.kind === 'weights' && Array.from(last.weights[0].values)).toEqual([4, 5, 6, 7]);
      expect(afterwards.json).toMatchObject({ status: 'waiting', round: 1, task: null });
      expect([late.status, late.json.error.code]).toEqual([409, 'ROUND_CLOSED']);
      expect(await a.app.rounds.activeDevices(60_000)).toEqual(devs.map((d) => d.id).sort());
    });

    it('goes on with the open round when a serving process restarts mid-round', async () => {
      // Prepare: A runs the round; device 0 reports through B, then B goes away.
      const a = await startProcess();
      const b = await startProcess();
      const devs = await devices(a, 3);
      const done = a.app.rounds.runRound(1, new Map(devs.map((d) => [d.id, task(1)])), 30_000);
      await openRound(b.as(devs[0].token));
      const first = await b.as(devs[0].token).request('POST', '/v1/rounds/1/updates', update(10, 0));
      expect(first.status).toBe(202);

      // Execute: B closes mid-round; a new process on the same database serves the rest.
      await b.close();
      const c = await startProcess();
      const seen: unknown[] = [];
      for (const [i, d] of devs.slice(1).entries()) {
        const cur = await c.as(d.token).request<Current>('GET', '/v1/rounds/current');
        seen.push([cur.json.status, cur.json.round]);
        const w = await c.as(d.token).request('GET', cur.json.task!.weightsPath);
        expect(w.status).toBe(200);
        const ok = await c.as(d.token).request('POST', '/v1/rounds/1/updates', update(20 + i, 1));
        expect(ok.status).toBe(202);
      }
      const results = await done;
      await a.app.rounds.finish();
      const finished = await c.as(devs[0].token).request<Current>('GET', '/v1/rounds/current');

      // Assert: the round B left open was served by C and resolved with all three updates.
      expect(seen).toEqual([
        ['open', 1],
        ['open', 1],
      ]);
      expect(results.map((r) => [r.clientId, r.kind === 'weights' && r.numExamples])).toEqual([
        [devs[0].id, 10],
        [devs[1].id, 20],
        [devs[2].id, 21],
      ]);
      expect(finished.json).toMatchObject({ status: 'finished', round: 1 });
    });

    it('closes the round of a runner that died at its deadline: a later update is ROUND_CLOSED', async () => {
      // Prepare: a round published as a runner would, whose runner then never comes back.
      const a = await startProcess();
      const [d] = await devices(a, 1);
      const encoded = encodeWeights({ metadata: { round: 1 }, tensors: W }, { dtype: 'float32' });
      await a.store.publishRound({
        round: 1,
        deadlineAt: Date.now() + 300,
        tasks: [
          { deviceId: d.id, task: JSON.stringify({ ...task(1), weights: undefined }), weightsKey: 'w' },
        ],
        weights: [{ key: 'w', bytes: encoded, etag: '"x"' }],
      });
      const open = await a.as(d.token).request<Current>('GET', '/v1/rounds/current');

      // Execute
      await new Promise((r) => setTimeout(r, 350));
      const late = await a.as(d.token).request<Err>('POST', '/v1/rounds/1/updates', update(10, 0));
      const after = await a.as(d.token).request<Current>('GET', '/v1/rounds/current');

      // Assert
      expect(open.json).toMatchObject({ status: 'open', round: 1 });
      expect([late.status, late.json.error.code]).toEqual([409, 'ROUND_CLOSED']);
      expect(after.json).toMatchObject({ status: 'waiting', round: 1 });
    });
  },
);
