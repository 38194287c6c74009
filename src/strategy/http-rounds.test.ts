import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { encodeWeights, type WeightTensor } from '../core/codec.js';
import { getHead } from '../model/heads/registry.js';
import { startServer, type RunningServer } from '../server/server.js';
import { startTestApi, type TestApi } from '../server/testing/harness.js';
import { createClient } from './client.js';
import { getStrategy } from './registry.js';
import { DEFAULT_ROUND_SETTINGS, runRounds } from './rounds.js';
import type { DeviceProcessArgs } from './testing/device-process.js';
import { blobPopulation } from './testing/sim.js';
import { HttpTransport } from './transport/http.js';
import { HttpRoundClient, type RoundClientEvent } from './transport/http-client.js';
import { MemoryTransport } from './transport/memory.js';
import type { ClientResult, ClientTask, RoundSettings } from './types.js';

type Err = { error: { code: string; message: string } };

const W: WeightTensor[] = [
  { name: 'dense/kernel', shape: [2, 2], values: Float32Array.from([1, 2, 3, 4]) },
  { name: 'dense/bias', shape: [2], values: Float32Array.from([0, 0]) },
];

function task(round: number): ClientTask {
  return {
    kind: 'train',
    round,
    weights: W,
    localEpochs: 1,
    batchSize: 4,
    learningRate: 0.1,
    mu: 0,
    seed: 3,
  };
}

function update(meta: Record<string, unknown> = {}, tensors: WeightTensor[] = W): Uint8Array {
  return encodeWeights(
    { metadata: { numExamples: 10, loss: 0.5, accuracy: 0.8, deviceFlops: 1e6, ...meta }, tensors },
    { dtype: 'float32' },
  );
}

describe('rounds over HTTP: the routes', () => {
  let api: TestApi;
  beforeEach(async () => {
    api = await startTestApi();
  });
  afterEach(async () => {
    await api.app.rounds.finish();
    await api.close();
  });

  it('serves each selected device its task and weights, records one update each, and closes when all reported', async () => {
    // Prepare
    const a = await api.userWithDevice('a');
    const b = await api.userWithDevice('b');
    const c = await api.userWithDevice('c');
    const tasks = new Map([
      [a.deviceId, task(1)],
      [b.deviceId, task(1)],
    ]);
    const done = api.app.rounds.runRound(1, tasks, 30_000);

    // Execute + Assert: the current round, as each device sees it
    const cur = await a.device.request<{
      status: string;
      round: number;
      deadline: string;
      task: { weightsPath: string; weightsEtag: string; seed: number };
    }>('GET', '/v1/rounds/current');
    expect([cur.status, cur.json.status, cur.json.round, cur.json.task.seed]).toEqual([200, 'open', 1, 3]);
    expect(Date.parse(cur.json.deadline)).toBeGreaterThan(Date.now());
    expect((await c.device.request('GET', '/v1/rounds/current')).json).toMatchObject({
      status: 'open',
      task: null,
    });

    const w = await a.device.request('GET', cur.json.task.weightsPath);
    expect(w.status).toBe(200);
    expect(w.headers.get('etag')).toBe(cur.json.task.weightsEtag);
    const again = await a.device.request('GET', cur.json.task.weightsPath, undefined, {
      'if-none-match': cur.json.task.weightsEtag,
    });
    expect(again.status).toBe(304);

    // Another device, not selected, reaches neither the weights nor the round; the admin is no device.
    const cw = await c.device.request<Err>('GET', '/v1/rounds/1/weights');
    expect([cw.status, cw.json.error.code]).toEqual([403, 'NOT_SELECTED']);
    const cp = await c.device.request<Err>('POST', '/v1/rounds/1/updates', update());
    expect([cp.status, cp.json.error.code]).toEqual([403, 'NOT_SELECTED']);
    expect((await api.admin.request<Err>('GET', '/v1/rounds/current')).json.error.code).toBe('FORBIDDEN');
    expect((await api.anonymous.request<Err>('GET', '/v1/rounds/current')).status).toBe(401);

    // Malformed bytes and a wrong shape are refused at the boundary and record nothing.
    const junk = await a.device.request<Err>('POST', '/v1/rounds/1/updates', new Uint8Array([1, 2, 3]));
    expect(junk.status).toBe(400);
    expect(junk.json.error.code).toMatch(/^CODEC_/);
    const wrong = update({}, [W[0]]);
    const shaped = await a.device.request<Err>('POST', '/v1/rounds/1/updates', wrong);
    expect([shaped.status, shaped.json.error.code]).toEqual([400, 'CODEC_SHAPE_MISMATCH']);
    const badMeta = await a.device.request<Err>('POST', '/v1/rounds/1/updates', update({ numExamples: -1 }));
    expect(badMeta.status).toBe(400);

    const ok = await a.device.request('POST', '/v1/rounds/1/updates', update());
    expect([ok.status, ok.json]).toEqual([202, { round: 1, received: 1 }]);
    const dup = await a.device.request<Err>('POST', '/v1/rounds/1/updates', update());
    expect([dup.status, dup.json.error.code]).toEqual([409, 'DUPLICATE_UPDATE']);
    expect((await a.device.request('GET', '/v1/rounds/current')).json).toMatchObject({
      reported: true,
      task: null,
    });

    expect((await b.device.request('POST', '/v1/rounds/1/updates', update({ numExamples: 30 }))).status).toBe(
      202,
    );
    const results = await done;
    expect(results.map((r) => [r.clientId, r.kind === 'weights' && r.numExamples])).toEqual([
      [a.deviceId, 10],
      [b.deviceId, 30],
    ]);
    const first = results[0] as Extract<ClientResult, { kind: 'weights' }>;
    expect(first.weights.map((t) => [t.name, Array.from(t.values)])).toEqual(
      W.map((t) => [t.name, Array.from(t.values)]),
    );
    expect(first.costs).toEqual({
      deviceFlops: 1e6,
      bytesUp: update().byteLength,
      bytesDown: w.bytes.byteLength,
    });

    // After the round: late → ROUND_CLOSED; a round never published → NOT_FOUND.
    const late = await b.device.request<Err>('POST', '/v1/rounds/1/updates', update());
    expect([late.status, late.json.error.code]).toEqual([409, 'ROUND_CLOSED']);
    expect((await b.device.request<Err>('POST', '/v1/rounds/7/updates', update())).status).toBe(404);
    expect((await b.device.request('GET', '/v1/rounds/current')).json).toMatchObject({
      status: 'waiting',
      round: 1,
    });
  });

  it('closes at the deadline with whoever reported; a late update is ROUND_CLOSED', async () => {
    // Prepare
    const a = await api.userWithDevice('a');
    const b = await api.userWithDevice('b');
    const done = api.app.rounds.runRound(
      1,
      new Map([
        [a.deviceId, task(1)],
        [b.deviceId, task(1)],
      ]),
      300,
    );

    // Execute
    expect((await a.device.request('POST', '/v1/rounds/1/updates', update())).status).toBe(202);
    const results = await done;
    const late = await b.device.request<Err>('POST', '/v1/rounds/1/updates', update());

    // Assert
    expect(results.map((r) => r.clientId)).toEqual([a.deviceId]);
    expect([late.status, late.json.error.code]).toEqual([409, 'ROUND_CLOSED']);
  });

  it('lists the devices that polled recently, so a dead one can stop being selected', async () => {
    const a = await api.userWithDevice('a');
    const b = await api.userWithDevice('b');
    expect(await api.app.rounds.activeDevices(60_000)).toEqual([]);
    await a.device.request('GET', '/v1/rounds/current');
    await b.device.request('GET', '/v1/rounds/current');
    expect(await api.app.rounds.activeDevices(60_000)).toEqual([a.deviceId, b.deviceId].sort());
    await new Promise((r) => setTimeout(r, 300));
    await b.device.request('GET', '/v1/rounds/current');
    expect(await api.app.rounds.activeDevices(150)).toEqual([b.deviceId]);
  });
});

describe('HttpTransport: the same round in one process memory', () => {
  it('serves a task and its weights, records one update a device, and resolves when all reported', async () => {
    // Prepare
    const transport = new HttpTransport();
    const done = transport.runRound(
      1,
      new Map([
        ['a', task(1)],
        ['b', task(1)],
      ]),
      30_000,
    );

    // Execute
    const seen = transport.current('a');
    const served = transport.weights('a', 1);
    const wrong = (() => {
      try {
        return transport.submit('a', 1, update({}, [W[0]]));
      } catch (e) {
        return e;
      }
    })();
    const first = transport.submit('b', 1, update({ numExamples: 30 }));
    const duplicate = (() => {
      try {
        return transport.submit('b', 1, update());
      } catch (e) {
        return e;
      }
    })();
    transport.submit('a', 1, update());
    const results = await done;
    transport.finish();

    // Assert
    expect(seen).toMatchObject({ status: 'open', round: 1, reported: false });
    expect(seen.task).toMatchObject({ weightsPath: '/v1/rounds/1/weights', weightsEtag: served.etag });
    expect(wrong).toMatchObject({ code: 'CODEC_SHAPE_MISMATCH' });
    expect(first).toEqual({ round: 1, received: 1 });
    expect(duplicate).toMatchObject({ code: 'DUPLICATE_UPDATE' });
    expect(results.map((r) => [r.clientId, r.kind === 'weights' && r.numExamples])).toEqual([
      ['b', 30],
      ['a', 10],
    ]);
    expect(results[1].costs).toEqual({
      deviceFlops: 1e6,
      bytesUp: update().byteLength,
      bytesDown: served.bytes.byteLength,
    });
    expect(transport.current('a')).toMatchObject({ status: 'finished', round: 1 });
  });
});

describe('rounds over HTTP: the device loop', () => {
  it('skips a round it answered too late, takes part in the next, and stops when the run finished', async () => {
    // Prepare
    const api = await startTestApi();
    try {
      const a = await api.userWithDevice('a');
      const events: RoundClientEvent[] = [];
      const client = new HttpRoundClient({
        server: api.url,
        token: a.token,
        pollMs: 10,
        execute: async (t) => {
          if (t.round === 1) await new Promise((r) => setTimeout(r, 400)); // past round 1's deadline
          const trained = t.kind === 'train' ? t.weights : [];
          return {
            kind: 'weights',
            clientId: a.deviceId,
            round: t.round,
            weights: trained,
            numExamples: 5,
            metrics: { loss: 1, accuracy: 0.5 },
            costs: { deviceFlops: 10, bytesUp: 0, bytesDown: 0 },
          };
        },
        onEvent: (e) => events.push(e),
      });

      // Execute
      const running = client.run();
      const first = await api.app.rounds.runRound(1, new Map([[a.deviceId, task(1)]]), 200);
      const second = await api.app.rounds.runRound(2, new Map([[a.deviceId, task(2)]]), 10_000);
      await api.app.rounds.finish();
      const posted = await running;

      // Assert
      expect([first.length, second.map((r) => r.clientId), posted]).toEqual([0, [a.deviceId], 1]);
      expect(events.filter((e) => e.kind !== 'task')).toEqual([
        { kind: 'skipped', round: 1, code: 'ROUND_CLOSED' },
        { kind: 'posted', round: 2 },
      ]);
    } finally {
      await api.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

const ENTRY = fileURLToPath(new URL('./testing/device-process.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const POPULATION = { numClients: 5, numClasses: 5, dim: 8, perClass: 40, spread: 0.5, seed: 11 };
const SETTINGS: RoundSettings = {
  ...DEFAULT_ROUND_SETTINGS,
  clientFraction: 1,
  minClients: 2,
  deadlineMs: 5_000,
  localEpochs: 2,
  batchSize: 8,
  learningRate: 0.1,
  seed: 7,
};
const ROUNDS = 5;
/** The victim (client 2) is killed during this round and never comes back. */
const KILL_ROUND = 4;
const VICTIM = 2;

interface DeviceChild {
  child: ChildProcess;
  output: () => string;
  waitFor: (pattern: RegExp) => Promise<RegExpExecArray>;
  exited: Promise<number | null>;
}

function startDevice(args: DeviceProcessArgs): DeviceChild {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, JSON.stringify(args)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters: { pattern: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  const look = () => {
    for (const w of waiters.slice()) {
      const m = w.pattern.exec(out);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout!.on('data', (d: Buffer) => ((out += d.toString()), look()));
  child.stderr!.on('data', (d: Buffer) => ((out += d.toString()), look()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    exited,
    waitFor: (pattern) =>
      new Promise((resolve, reject) => {
        waiters.push({ pattern, resolve });
        look();
        void exited.then(() => reject(new Error(`device exited before ${pattern}:\n${out}`)));
      }),
  };
}

describe('rounds over HTTP: FedAvg with 5 device processes', () => {
  let server: RunningServer;
  let dir: string;
  const devices: DeviceChild[] = [];

  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = mkdtempSync(path.join(tmpdir(), 'fedex-rounds-'));
    server = await startServer({
      port: 0,
      dataDir: dir,
      workers: 0,
      durability: 'normal',
      rateLimitPerSecond: 0,
    });
  });
  afterAll(async () => {
    for (const d of devices)
      if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill('SIGKILL');
    await Promise.all(devices.map((d) => d.exited));
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('completes its rounds when one device is killed mid-round, and reaches the in-memory accuracy', async () => {
    // Prepare: five device processes enroll and announce their device ids.
    for (let i = 0; i < POPULATION.numClients; i++) {
      devices.push(
        startDevice({
          server: server.url,
          adminKey: server.adminKey,
          userId: `u${i}`,
          index: i,
          population: POPULATION,
          stallRound: i === VICTIM ? KILL_ROUND : undefined,
        }),
      );
    }
    const ids = await Promise.all(devices.map(async (d) => (await d.waitFor(/ready (\S+)/))[1]));
    const victimId = ids[VICTIM];
    void devices[VICTIM].waitFor(new RegExp(`stalled ${KILL_ROUND}`)).then(() =>
      devices[VICTIM].child.kill('SIGKILL'),
    );
    const pop = blobPopulation(POPULATION, tf);
    const strategy = getStrategy('fedavg');

    // Execute: over HTTP, then the same run in memory (same ids, data, seed and dropout).
    const overHttp = await runRounds({
      strategy,
      transport: server.app.rounds,
      clients: ids,
      initial: pop.initial,
      settings: SETTINGS,
      rounds: ROUNDS,
      evaluate: (w) => pop.evaluate(w),
    });
    await server.app.rounds.finish();
    const codes = await Promise.all(devices.map((d) => d.exited));

    const models: tf.LayersModel[] = [];
    const clients = new Map(
      ids.map((id, i) => {
        const m = getHead('linear').build([pop.dim], pop.numClasses, {}, 0);
        models.push(m);
        return [
          id,
          createClient(pop.data.get(pop.ids[i])!, m, {
            clientId: id,
            bottomMode: 'cached',
            bottomFlopsPerPhoto: 1000,
          }),
        ];
      }),
    );
    const inMemory = await runRounds({
      strategy,
      transport: new MemoryTransport(clients, {
        dropout: (id, round) => id === victimId && round >= KILL_ROUND,
      }),
      clients: ids,
      initial: pop.initial,
      settings: SETTINGS,
      rounds: ROUNDS,
      evaluate: (w) => pop.evaluate(w),
    });
    models.forEach((m) => m.dispose());

    // Assert
    const others = ids.filter((id) => id !== victimId).sort();
    expect(
      overHttp.logs.map((l) => [l.round, l.applied, [...l.participants].sort(), l.dropped, l.rejected]),
    ).toEqual(
      Array.from({ length: ROUNDS }, (_, r) =>
        r + 1 < KILL_ROUND ? [r + 1, true, [...ids].sort(), [], []] : [r + 1, true, others, [victimId], []],
      ),
    );
    expect(codes.filter((c, i) => i !== VICTIM)).toEqual([0, 0, 0, 0]);
    expect(devices[VICTIM].child.signalCode).toBe('SIGKILL');
    const httpAcc = overHttp.accuracyByRound[ROUNDS];
    const memAcc = inMemory.accuracyByRound[ROUNDS];
    expect(httpAcc).toBeGreaterThan(overHttp.accuracyByRound[0]);
    expect(Math.abs(httpAcc - memAcc)).toBeLessThanOrEqual(0.02);
    // Not only the end point: every round's accuracy matches (float32 weights travel losslessly).
    overHttp.accuracyByRound.forEach((acc, r) =>
      expect([r, Math.abs(acc - inMemory.accuracyByRound[r]) <= 0.02]).toEqual([r, true]),
    );
    pop.dispose();
  });
});
