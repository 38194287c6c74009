/**
 * Server suite: feature-batch ingest over real HTTP and training throughput of the job workers.
 *
 * Ingest: `startServer` in this process on a temporary folder (no workers, no rate limit), 50
 * users with one device each, and autocannon with 50 connections posting FXFB uploads (32 samples
 * of 128-d float16 each, unique sample ids and a unique Idempotency-Key per request, rotating over
 * the 50 devices' tokens and URLs) for 10 s (`--quick`: 3 s) — once with `durability: 'full'`
 * (fsync per commit) and once with `'normal'`. Afterwards the stored samples must equal the 2xx
 * answers × 32 (uploads still in flight when the clock stopped are counted apart). The load
 * generator shares this process and its event loop with the server, so the figures are a floor
 * for a server on its own cores. A third, diagnostic run (full durability) replaces the
 * scheduler's after-upload check by a no-op, to show what that check costs.
 *
 * Training: a server with 2 workers; N users with 5 people × 4 labelled photos (128-d) each; one
 * manual linear-head job per user, timed from the first enqueue until every job finished.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { encodeFeatureBatch } from '../src/core/codec.js';
import type { FeatureBatch, FeatureSpec } from '../src/core/types.js';
import { startServer, type RunningServer } from '../src/server/server.js';
import { syntheticBatch } from '../src/server/testing/harness.js';
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

/** 50 users, one enrolled device each, and each device's 32 unlabelled feature vectors. */
function makeUploaders(server: RunningServer): Uploader[] {
  return Array.from({ length: DEVICES }, (_, d) => {
    const userId = `bench-${String(d).padStart(3, '0')}`;
    server.store.createUser(`bench user ${d}`, userId);
    const { token } = server.store.enrollDevice(userId, 'phone');
    const batch = syntheticBatch({ people: 4, perPerson: 8, seed: d + 1, labelled: 0, spec: SPEC });
    return { userId, token, batch };
  });
}

async function measureIngest(
  durability: 'full' | 'normal',
  seconds: number,
  log: (line: string) => void,
  options: { withoutScheduler?: boolean } = {},
): Promise<BenchRow[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fedex-bench-server-'));
  const server = await startServer({
    port: 0,
    dataDir: dir,
    workers: 0,
    durability,
    rateLimitPerSecond: 0,
  });
  try {
    // Diagnostic only: how fast ingest is without the scheduler's per-upload check (it reads every
    // user's counts, so its cost grows with the database).
    if (options.withoutScheduler) server.scheduler.afterIngest = () => undefined;
    const uploaders = makeUploaders(server);
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
    await new Promise((r) => setTimeout(r, 200));
    const tag = `ingest ${durability}${options.withoutScheduler ? ' (no scheduler check)' : ''}`;
    const ok = result['2xx'];
    const stored = server.store.countSamples();
    const storedBatches = server.store.countBatches();
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
    if (!consistent)
      throw new Error(
        `stored samples ${stored} do not match ${storedBatches} batches × ${SAMPLES_PER_BATCH} (2xx ${ok})`,
      );
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
    await server.close();
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
      server.store.createUser(`trainee ${u}`, userId);
      const { token } = server.store.enrollDevice(userId, 'phone');
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
        const c = server.store.countJobs();
        if (c.queued + c.running === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      return (performance.now() - t0) / 1000;
    };
    // The first job per worker pays for starting tfjs in it: warm both workers up apart.
    const warm = await trainAll(ids.slice(0, 1));
    const seconds = await trainAll(ids.slice(1));
    const counts = server.store.countJobs();
    const failed = server.store.listJobs({ status: 'failed', limit: 1 })[0];
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
    rows.push(...(await measureIngest('full', seconds, log)));
    rows.push(...(await measureIngest('normal', seconds, log)));
    const diagnostic = await measureIngest('full', seconds, log, { withoutScheduler: true });
    rows.push(...diagnostic.filter((r) => !/non-2xx|stored|p50|max/.test(r.name)));
    rows.push(...(await measureTraining(quick ? 8 : 30, log)));
    return rows;
  },
};
