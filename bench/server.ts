/**
 * Server suite: feature-batch ingest over real HTTP and training throughput of the job workers.
 *
 * Ingest: a real `fedex serve` child process on a temporary folder (no workers, no rate limit),
 * 50 users with one device each (made through the admin API), and autocannon in this process with
 * 50 connections posting FXFB uploads (32 samples of 128-d float16 each, unique sample ids and a
 * unique Idempotency-Key per request, rotating over the 50 devices' tokens and URLs) for 10 s
 * (`--quick`: 3 s) — once with `--durability full` (fsync per commit) and once with `normal`. The
 * server and the load generator each have a core of this 2-core machine. Afterwards the stored
 * samples (read from the database file) must equal the stored batches × 32, and the batches the 2xx
 * answers (plus at most one upload per connection cut off in flight when the clock stopped).
 *
 * Training: a server with 2 workers; N users with 5 people × 4 labelled photos (128-d) each; one
 * manual linear-head job per user, timed from the first enqueue until every job finished.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { encodeFeatureBatch } from '../src/core/codec.js';
import { createRng } from '../src/core/random.js';
import type { FeatureBatch, FeatureSpec } from '../src/core/types.js';
import { startServer } from '../src/server/server.js';
import { SqliteCore } from '../src/server/store/sqlite.js';
import { startChildServer, type ChildServer } from '../src/server/testing/child-server.js';
import { caller, syntheticBatch } from '../src/server/testing/harness.js';
import type { BenchRow, BenchSuite } from './types.js';

const SPEC: FeatureSpec = {
  backboneId: 'faceapi-resnet',
  backboneVersion: '1.7.15',
  split: 'embedding',
  shape: [128],
};
const DEVICES = 50;
const CONNECTIONS = 50;
const SAMPLES_PER_BATCH = 32;
const GOAL_PHOTOS_PER_S = 5000;
const GOAL_P99_MS = 50;

interface Uploader {
  userId: string;
  token: string;
  batch: FeatureBatch;
}

/** 50 users, one enrolled device each (through the admin API), and each device's 32 feature vectors. */
async function makeUploaders(server: ChildServer): Promise<Uploader[]> {
  const admin = caller(server.url, server.adminKey);
  const out: Uploader[] = [];
  for (let d = 0; d < DEVICES; d++) {
    const userId = `bench-${String(d).padStart(3, '0')}`;
    const u = await admin.request('POST', '/v1/users', { name: `bench user ${d}`, id: userId });
    const e = await admin.request<{ token: string }>('POST', '/v1/devices', { name: 'phone', userId });
    if (u.status !== 201 || e.status !== 201)
      throw new Error(`bench setup: user ${u.status}, device ${e.status}`);
    const batch = syntheticBatch({ people: 4, perPerson: 8, seed: d + 1, labelled: 0, spec: SPEC });
    out.push({ userId, token: e.json.token, batch });
  }
  return out;
}

/** A `fedex serve` child on a fresh folder (no workers, no rate limit) and its 50 uploaders. */
async function ingestServer(
  durability: 'full' | 'normal',
): Promise<{ dir: string; server: ChildServer; uploaders: Uploader[] }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fedex-bench-server-'));
  const server = await startChildServer(dir, [
    '--workers',
    '0',
    '--durability',
    durability,
    '--rate-limit',
    '0',
  ]);
  return { dir, server, uploaders: await makeUploaders(server) };
}

async function measureIngest(
  durability: 'full' | 'normal',
  seconds: number,
  log: (line: string) => void,
): Promise<BenchRow[]> {
  const { dir, server, uploaders } = await ingestServer(durability);
  try {
    let sent = 0;
    let encodeMs = 0;
    const instance = autocannon({
      url: server.url,
      connections: CONNECTIONS,
      duration: seconds,
      requests: [
        {
          method: 'POST',
          setupRequest: (req) => {
            const n = sent++;
            const u = uploaders[n % uploaders.length];
            const t0 = performance.now();
            // Fresh sample ids per request: every upload inserts 32 new samples.
            const body = encodeFeatureBatch(
              { ...u.batch, sampleIds: u.batch.sampleIds.map((_, i) => `r${n}-${i}`) },
              { dtype: 'float16' },
            );
            encodeMs += performance.now() - t0;
            return {
              ...req,
              path: `/v1/users/${u.userId}/batches`,
              headers: {
                authorization: `Bearer ${u.token}`,
                'content-type': 'application/octet-stream',
                'idempotency-key': `bench-${durability}-${n}`,
              },
              body: Buffer.from(body.buffer, body.byteOffset, body.byteLength),
            };
          },
        },
      ],
    });
    const result = await instance;
    // Let uploads the clock cut off finish on the server before counting.
    await new Promise((r) => setTimeout(r, 300));
    const tag = `ingest ${durability} saturated`;
    const ok = result['2xx'];
    const store = new SqliteCore(path.join(dir, 'fedex.db'), { readonly: true });
    const stored = store.countSamples();
    const storedBatches = store.countBatches();
    store.close();
    const expected = ok * SAMPLES_PER_BATCH;
    const inFlight = storedBatches - ok;
    const consistent =
      stored === storedBatches * SAMPLES_PER_BATCH && inFlight >= 0 && inFlight <= CONNECTIONS;
    const reqPerS = ok / result.duration;
    const photosPerS = reqPerS * SAMPLES_PER_BATCH;
    log(
      `${tag}: ${ok} uploads 2xx, ${result.non2xx} non-2xx, ${result.errors} errors in ${result.duration.toFixed(1)} s; ` +
        `stored ${stored} samples in ${storedBatches} batches (2xx × ${SAMPLES_PER_BATCH} = ${expected}; ${inFlight} cut off in flight); ` +
        `client encode ${(encodeMs / Math.max(sent, 1)).toFixed(3)} ms/request`,
    );
    if (!consistent) {
      throw new Error(
        `stored samples ${stored} do not match ${storedBatches} batches × ${SAMPLES_PER_BATCH} (2xx ${ok})`,
      );
    }
    const note = `${CONNECTIONS} conns, ${seconds} s, ${SAMPLES_PER_BATCH}×128-d f16/batch`;
    return [
      { suite: 'server', name: `${tag} requests/s`, value: reqPerS, unit: 'req/s', note },
      {
        suite: 'server',
        name: `${tag} photos/s`,
        value: photosPerS,
        unit: 'photos/s',
        note: `goal ≥ ${GOAL_PHOTOS_PER_S}: ${photosPerS >= GOAL_PHOTOS_PER_S ? 'met' : 'NOT met'}`,
      },
      { suite: 'server', name: `${tag} latency p50`, value: result.latency.p50, unit: 'ms' },
      {
        suite: 'server',
        name: `${tag} latency p99`,
        value: result.latency.p99,
        unit: 'ms',
        note: `goal < ${GOAL_P99_MS}: ${result.latency.p99 < GOAL_P99_MS ? 'met' : 'NOT met'}`,
      },
      { suite: 'server', name: `${tag} latency max`, value: result.latency.max, unit: 'ms' },
      {
        suite: 'server',
        name: `${tag} non-2xx`,
        value: result.non2xx + result.errors,
        unit: 'responses',
        note: `${result.non2xx} non-2xx, ${result.errors} connection errors`,
      },
      {
        suite: 'server',
        name: `${tag} stored samples`,
        value: stored,
        unit: 'samples',
        note: `= 2xx × ${SAMPLES_PER_BATCH} (${expected})${inFlight > 0 ? ` + ${inFlight} batch(es) cut off in flight` : ''}`,
      },
    ];
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Open loop, as phones behave: 50 devices each upload at Poisson-distributed times, together at the
 * goal rate (5,000 photos/s = 156 uploads/s), each on its own keep-alive connection (fetch). The
 * latency is each upload's round trip as the device sees it. (autocannon's `overallRate` paces all
 * connections in step, so its latencies at a set rate measure its own bursts, not the server.)
 */
async function measureAtGoalRate(
  durability: 'full' | 'normal',
  seconds: number,
  log: (line: string) => void,
): Promise<BenchRow[]> {
  const { dir, server, uploaders } = await ingestServer(durability);
  try {
    const perDevicePerSecond = GOAL_PHOTOS_PER_S / SAMPLES_PER_BATCH / DEVICES;
    const rng = createRng(7);
    const latencies: number[] = [];
    let n = 0;
    let failures = 0;
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    await Promise.all(
      uploaders.map(async (u) => {
        const device = caller(server.url, u.token);
        // Arrival times fixed in advance (a Poisson process), whatever the answers' latency.
        let at = t0;
        for (;;) {
          at += (-Math.log(1 - rng()) * 1000) / perDevicePerSecond;
          if (at >= end) return;
          const wait = at - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          const k = n++;
          const body = encodeFeatureBatch(
            { ...u.batch, sampleIds: u.batch.sampleIds.map((_, i) => `p${k}-${i}`) },
            { dtype: 'float16' },
          );
          const start = performance.now();
          const r = await device.request('POST', `/v1/users/${u.userId}/batches`, body, {
            'idempotency-key': `rate-${k}`,
          });
          latencies.push(performance.now() - start);
          if (r.status !== 201) failures++;
        }
      }),
    );
    const elapsed = seconds; // arrivals span exactly this long
    latencies.sort((a, b) => a - b);
    const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
    const photosPerS = ((latencies.length - failures) * SAMPLES_PER_BATCH) / elapsed;
    const tag = `ingest ${durability} at ${GOAL_PHOTOS_PER_S} photos/s`;
    log(
      `${tag}: ${latencies.length} uploads from ${DEVICES} devices (Poisson) in ${elapsed.toFixed(1)} s, ${failures} failed; ` +
        `p50 ${q(0.5).toFixed(1)} p90 ${q(0.9).toFixed(1)} p99 ${q(0.99).toFixed(1)} max ${q(1).toFixed(1)} ms`,
    );
    const note = `${DEVICES} devices, Poisson arrivals, ${seconds} s`;
    return [
      {
        suite: 'server',
        name: `${tag}: photos/s`,
        value: photosPerS,
        unit: 'photos/s',
        note: `${note}; ${failures} failed`,
      },
      { suite: 'server', name: `${tag}: latency p50`, value: q(0.5), unit: 'ms', note },
      {
        suite: 'server',
        name: `${tag}: latency p99`,
        value: q(0.99),
        unit: 'ms',
        note: `goal < ${GOAL_P99_MS}: ${q(0.99) < GOAL_P99_MS ? 'met' : 'NOT met'}`,
      },
      { suite: 'server', name: `${tag}: latency max`, value: q(1), unit: 'ms', note },
    ];
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measureTraining(users: number, log: (line: string) => void): Promise<BenchRow[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fedex-bench-train-'));
  const server = await startServer({
    port: 0,
    dataDir: dir,
    workers: 2,
    durability: 'normal',
    rateLimitPerSecond: 0,
    retrainAfterLabelled: 0,
  });
  const admin = { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json' };
  try {
    const ids: string[] = [];
    for (let u = 0; u <= users; u++) {
      const userId = `trainee-${u}`;
      await server.store.createUser(`trainee ${u}`, userId);
      const { token } = await server.store.enrollDevice(userId, 'phone');
      const batch = syntheticBatch({ people: 5, perPerson: 4, seed: 100 + u, spec: SPEC });
      const res = await fetch(`${server.url}/v1/users/${userId}/batches`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/octet-stream',
          'idempotency-key': `train-${u}`,
        },
        body: Buffer.from(encodeFeatureBatch(batch, { dtype: 'float16' })),
      });
      if (res.status !== 201) throw new Error(`upload for ${userId}: HTTP ${res.status} ${await res.text()}`);
      ids.push(userId);
    }
    const trainAll = async (list: string[]) => {
      const t0 = performance.now();
      for (const userId of list) {
        const res = await fetch(`${server.url}/v1/users/${userId}/train`, {
          method: 'POST',
          headers: admin,
          body: JSON.stringify({ head: 'linear' }),
        });
        if (res.status !== 202) throw new Error(`train ${userId}: HTTP ${res.status} ${await res.text()}`);
      }
      for (;;) {
        const c = await server.store.countJobs();
        if (c.queued + c.running === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      return (performance.now() - t0) / 1000;
    };
    // The first job per worker pays for starting tfjs in it: warm both workers up apart.
    const warm = await trainAll(ids.slice(0, 1));
    const seconds = await trainAll(ids.slice(1));
    const counts = await server.store.countJobs();
    const failed = (await server.store.listJobs({ status: 'failed', limit: 1 }))[0];
    log(
      `training: warm-up ${warm.toFixed(1)} s; ${users} users in ${seconds.toFixed(1)} s; jobs ${JSON.stringify(counts)}` +
        (failed ? `; a failure: ${failed.error}` : ''),
    );
    return [
      {
        suite: 'server',
        name: "users' models trained per minute",
        value: (users / seconds) * 60,
        unit: 'users/min',
        note: `${users} users, linear head, 5 people × 4 labelled, 128-d, 2 workers; ${counts.failed} failed`,
      },
    ];
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const serverSuite: BenchSuite = {
  name: 'server',
  summary: 'HTTP ingest of feature batches (autocannon, full vs normal durability); training jobs per minute',
  async run({ quick, log }) {
    const seconds = quick ? 3 : 10;
    const rows: BenchRow[] = [];
    // As fast as it goes (closed loop: latency is then ~ connections / throughput, queueing included)…
    rows.push(...(await measureIngest('full', seconds, log)));
    rows.push(...(await measureIngest('normal', seconds, log)));
    // …and the latency 50 devices see when together they send the goal rate.
    rows.push(...(await measureAtGoalRate('full', seconds, log)));
    rows.push(...(await measureAtGoalRate('normal', seconds, log)));
    rows.push(...(await measureTraining(quick ? 8 : 30, log)));
    return rows;
  },
};
