/**
 * Scale-out on PostgreSQL (`--only scale`): the end-to-end run (API processes, worker processes,
 * devices enrolling, uploading, labelling and pulling, one worker and one API process SIGKILLed),
 * then the scaling curves measured in the same run: users' heads trained per minute by 1, 2 and 3
 * `fedex worker` processes against the SQLite default server's worker threads, and ingest (photos
 * per second) through 1 and 2 API processes against the SQLite default. Needs PostgreSQL
 * (`FEDEX_TEST_POSTGRES`, default postgres://postgres@127.0.0.1:5432/test); each run keeps its
 * tables in a fresh schema it drops at the end.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { FeatureSpec } from '../src/core/types.js';
import { startServer } from '../src/server/server.js';
import { openStore } from '../src/server/store/open.js';
import type { Store } from '../src/server/store/store.js';
import { postgresTestUrl } from '../src/server/store/testing.js';
import { startChildServer, startChildWorker, type ChildServer } from '../src/server/testing/child-server.js';
import { encodeBatch, syntheticBatch } from '../src/server/testing/harness.js';
import { runScaleScenario } from '../src/server/testing/scale.js';
import { median, type BenchRow, type BenchSuite } from './types.js';

const SPEC: FeatureSpec = {
  backboneId: 'faceapi-resnet',
  backboneVersion: '1',
  split: 'embedding',
  shape: [128],
};
const PEOPLE = 5;
const PER_PERSON = 4;

function schemaUrl(schema: string): string {
  const u = new URL(postgresTestUrl());
  u.searchParams.set('schema', schema);
  return u.toString();
}

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgresTestUrl() });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
}

/** `users` users with one device and PEOPLE × PER_PERSON labelled 128-d samples each. */
async function seedUsers(store: Store, users: number, prefix: string): Promise<string[]> {
  const ids: string[] = [];
  for (let u = 0; u < users; u++) {
    const id = `${prefix}${u}`;
    await store.createUser(id, id);
    const { device } = await store.enrollDevice(id, 'phone');
    const batch = syntheticBatch({ people: PEOPLE, perPerson: PER_PERSON, seed: 7000 + u, spec: SPEC });
    await store.ingestBatch({ device, batchId: `seed-${u}`, sha256: `seed-${u}`, batch });
    ids.push(id);
  }
  return ids;
}

/**
 * Queues one linear-head job per user and waits until none is open. Returns the wall seconds and
 * the median training seconds of one job as its worker measured it: a median that grows with the
 * number of workers says the cores (or a neighbour on a shared machine) are the limit, not the queue.
 */
async function trainAll(
  store: Store,
  ids: string[],
  kick?: () => void,
): Promise<{ seconds: number; failed: number; jobSeconds: number }> {
  const before = (await store.countJobs()).failed;
  const firstId = ((await store.listJobs({ limit: 1 }))[0]?.id ?? 0) + 1;
  const t0 = performance.now();
  for (const id of ids) await store.enqueueJob(`user:${id}`, 'manual', { head: 'linear' });
  kick?.();
  for (;;) {
    const c = await store.countJobs();
    if (c.queued + c.running === 0) {
      const seconds = (performance.now() - t0) / 1000;
      const done = (await store.listJobs({ status: 'done', limit: 1000 })).filter((j) => j.id >= firstId);
      const jobSeconds = median(
        done.map((j) => Number(j.result?.seconds ?? Number.NaN)).filter(Number.isFinite),
      );
      return { seconds, failed: c.failed - before, jobSeconds };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Photos per second: every device sends `batches` batches of 16 samples, `inFlight` requests at once. */
async function ingestRate(
  urls: string[],
  tokens: { userId: string; token: string }[],
  batches: number,
  inFlight: number,
  tag: string,
): Promise<number> {
  const work: { userId: string; token: string; b: number }[] = [];
  for (let b = 0; b < batches; b++) for (const t of tokens) work.push({ ...t, b });
  const bodies = work.map((w, i) =>
    encodeBatch(
      syntheticBatch({
        people: 4,
        perPerson: 4,
        labelled: 0,
        seed: i + 1,
        prefix: `${tag}-${w.b}`,
        spec: SPEC,
      }),
    ),
  );
  let next = 0;
  let samples = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < work.length) {
        const i = next++;
        const w = work[i];
        const res = await fetch(`${urls[i % urls.length]}/v1/users/${w.userId}/batches`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${w.token}`,
            'content-type': 'application/octet-stream',
            'idempotency-key': `${tag}-${w.b}`,
          },
          body: Buffer.from(bodies[i]),
        });
        if (res.status !== 201)
          throw new Error(`upload ${w.userId}/${tag}-${w.b}: HTTP ${res.status} ${await res.text()}`);
        samples += 16;
      }
    }),
  );
  return samples / ((performance.now() - t0) / 1000);
}

/** Users trained per minute by the SQLite default server (in this process, a thread per core). */
async function sqliteTrainRate(
  users: number,
  log: (line: string) => void,
): Promise<{ perMinute: number; jobSeconds: number; failed: number; threads: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fedex-bench-scale-sqlite-'));
  const threads = availableParallelism();
  const server = await startServer({
    port: 0,
    dataDir: dir,
    workers: threads,
    durability: 'normal',
    rateLimitPerSecond: 0,
    retrainAfterLabelled: 0,
    // No global model in this measure: its first scheduler tick would queue one for every user
    // and the class of every person (minutes), and the PostgreSQL curve has none either.
    globalRetrainIntervalMs: 0,
  });
  try {
    const ids = await seedUsers(server.store, users, 'u');
    const kick = () => server.runner?.kick();
    await trainAll(server.store, ids.slice(0, threads), kick); // tfjs starts in each thread
    const { seconds, failed, jobSeconds } = await trainAll(server.store, ids, kick);
    log(
      `scale: SQLite default, ${threads} threads: ${users} users in ${seconds.toFixed(1)} s, median job ${jobSeconds.toFixed(2)} s`,
    );
    return { perMinute: (users / seconds) * 60, jobSeconds, failed, threads };
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const scaleSuite: BenchSuite = {
  name: 'scale',
  summary: 'PostgreSQL scale-out: 2 API + 3 worker processes end to end; worker and API scaling vs SQLite',
  async run({ quick, log }) {
    const rows: BenchRow[] = [];
    const row = (name: string, value: number, unit: string, note: string) =>
      rows.push({ suite: 'scale', name, value, unit, note });
    const devices = quick ? 40 : 200;
    // Users per point of the worker curve (equal work at every point), and the big run's users.
    const users = quick ? 60 : 300;
    const bigUsers = quick ? 0 : 1000;
    const dataDir = mkdtempSync(path.join(tmpdir(), 'fedex-bench-scale-'));
    const schemas: string[] = [];
    const fresh = () => {
      const s = `fedex_bench_${randomBytes(4).toString('hex')}`;
      schemas.push(s);
      return s;
    };
    try {
      // 1. End to end, with a worker and an API process killed mid-run.
      const e2e = await runScaleScenario({
        database: schemaUrl(fresh()),
        dataDir,
        apis: 2,
        workers: 3,
        devices,
        spec: SPEC,
        killWorker: true,
        restartApi: true,
        leaseSeconds: 5,
        concurrency: 16,
        timeoutMs: 1_200_000,
        log,
      });
      const broken =
        e2e.badBatches.length +
        e2e.badSampleCounts.length +
        e2e.duplicateModelJobs.length +
        e2e.pullMismatches.length;
      log(`scale: end to end ${JSON.stringify({ ...e2e, badBatches: e2e.badBatches.length })}`);
      row(
        `end to end: ${devices} devices, 2 API + 3 worker processes`,
        e2e.totalSeconds,
        's',
        `to every user's model; ${e2e.batchesAcknowledged} batches acknowledged, ${broken} lost/duplicated/mismatched; killed worker's job ${e2e.killedJob ? `${e2e.killedJob.status} after ${e2e.killedJob.attempts} attempts` : 'n/a'}; ${e2e.failovers} failovers`,
      );
      row(
        'end to end: ingest during the run',
        e2e.ingestSamplesPerSecond,
        'photos/s',
        'enroll + upload + label, 16 devices at once',
      );

      // 2. The SQLite default (one process, worker threads = cores) on the users of the curve below.
      const sqlite = await sqliteTrainRate(users, log);

      // 3. Users' heads trained per minute against worker processes (1, 2, 3) on one PostgreSQL.
      const trainSchema = fresh();
      const pgStore = await openStore(schemaUrl(trainSchema));
      const ids = await seedUsers(pgStore, users, 'u');
      log(`scale: seeded ${users} users (${PEOPLE} people × ${PER_PERSON} labelled, 128-d) in PostgreSQL`);
      const perMinute: Record<string, number> = {};
      for (const k of [1, 2, 3]) {
        const workers = await Promise.all(
          Array.from({ length: k }, () =>
            startChildWorker(schemaUrl(trainSchema), ['--workers', '1', '--quiet']),
          ),
        );
        try {
          // Warm-up: tfjs starts in each worker on its first job.
          await trainAll(pgStore, ids.slice(0, k));
          const { seconds, failed, jobSeconds } = await trainAll(pgStore, ids);
          perMinute[k] = (users / seconds) * 60;
          log(
            `scale: ${k} worker process(es): ${users} users in ${seconds.toFixed(1)} s, median job ${jobSeconds.toFixed(2)} s (${failed} failed)`,
          );
          row(
            `users trained/min, ${k} worker process(es)`,
            perMinute[k],
            'users/min',
            `${users} users, linear head, PostgreSQL; median job ${jobSeconds.toFixed(2)} s; ${failed} failed`,
          );
        } finally {
          await Promise.all(workers.map((w) => w.stop()));
        }
      }
      if (bigUsers > 0) {
        // 1,000 users' heads by 3 worker processes (the first `users` were trained above: their
        // retraining is as much work as a first training).
        const more = await seedUsers(pgStore, bigUsers - users, 'big');
        const workers = await Promise.all(
          Array.from({ length: 3 }, () =>
            startChildWorker(schemaUrl(trainSchema), ['--workers', '1', '--quiet']),
          ),
        );
        try {
          const { seconds, failed } = await trainAll(pgStore, [...ids, ...more]);
          const versions = await pgStore.listModels({ limit: 1 });
          log(`scale: ${bigUsers} users by 3 worker processes in ${seconds.toFixed(1)} s (${failed} failed)`);
          row(
            `${bigUsers} users' heads, 3 worker processes`,
            seconds,
            's',
            `${((bigUsers / seconds) * 60).toFixed(0)} users/min; ${failed} failed; newest model id ${versions[0]?.id}`,
          );
        } finally {
          await Promise.all(workers.map((w) => w.stop()));
        }
      }
      await pgStore.close();

      row(
        `users trained/min, SQLite default (${sqlite.threads} threads)`,
        sqlite.perMinute,
        'users/min',
        `same users, run first; median job ${sqlite.jobSeconds.toFixed(2)} s; ${sqlite.failed} failed`,
      );
      row(
        'worker scaling: 2 vs 1 worker process',
        perMinute[2] / perMinute[1],
        'x',
        `${availableParallelism()} cores: jobs are CPU-bound`,
      );
      row(
        'worker scaling: 3 vs 1 worker process',
        perMinute[3] / perMinute[1],
        'x',
        `bounded by ${availableParallelism()} cores`,
      );
      row(
        'PostgreSQL 2 workers vs SQLite default',
        perMinute[2] / sqlite.perMinute,
        'x',
        'same cores, same users',
      );

      // 4. Ingest through 1 and 2 API processes on PostgreSQL, and through the SQLite default.
      const ingestSchema = fresh();
      const ingestStore = await openStore(schemaUrl(ingestSchema));
      const senders = quick ? 16 : 32;
      const tokens: { userId: string; token: string }[] = [];
      for (let d = 0; d < senders; d++) {
        const id = `i${d}`;
        await ingestStore.createUser(id, id);
        tokens.push({ userId: id, token: (await ingestStore.enrollDevice(id, 'phone')).token });
      }
      await ingestStore.close();
      const batches = quick ? 8 : 25;
      const apiArgs = [
        '--database',
        schemaUrl(ingestSchema),
        '--workers',
        '0',
        '--rate-limit',
        '0',
        '--retrain-after',
        '0',
      ];
      const apis: ChildServer[] = [];
      try {
        apis.push(
          await startChildServer(dataDir, apiArgs, 60_000, `fxa_${randomBytes(18).toString('base64url')}`),
        );
        const one = await ingestRate([apis[0].url], tokens, batches, 16, 'one');
        apis.push(
          await startChildServer(dataDir, apiArgs, 60_000, `fxa_${randomBytes(18).toString('base64url')}`),
        );
        const two = await ingestRate(
          apis.map((a) => a.url),
          tokens,
          batches,
          16,
          'two',
        );
        row(
          'ingest, 1 API process (PostgreSQL)',
          one,
          'photos/s',
          `${senders} devices × ${batches} batches of 16, 16 in flight`,
        );
        row(
          'ingest, 2 API processes (PostgreSQL)',
          two,
          'photos/s',
          `ratio to 1: ${(two / one).toFixed(2)}x on ${availableParallelism()} cores`,
        );
        const sqliteIngestDir = mkdtempSync(path.join(tmpdir(), 'fedex-bench-scale-ingest-'));
        const sqliteApi = await startChildServer(sqliteIngestDir, [
          '--workers',
          '0',
          '--rate-limit',
          '0',
          '--retrain-after',
          '0',
          '--durability',
          'full',
        ]);
        try {
          const admin = { authorization: `Bearer ${sqliteApi.adminKey}`, 'content-type': 'application/json' };
          const sqliteTokens: { userId: string; token: string }[] = [];
          for (const t of tokens) {
            await fetch(`${sqliteApi.url}/v1/users`, {
              method: 'POST',
              headers: admin,
              body: JSON.stringify({ name: t.userId, id: t.userId }),
            });
            const e = await fetch(`${sqliteApi.url}/v1/devices`, {
              method: 'POST',
              headers: admin,
              body: JSON.stringify({ name: 'phone', userId: t.userId }),
            });
            sqliteTokens.push({ userId: t.userId, token: ((await e.json()) as { token: string }).token });
          }
          const sqlite = await ingestRate([sqliteApi.url], sqliteTokens, batches, 16, 'sqlite');
          row(
            'ingest, SQLite default (1 process)',
            sqlite,
            'photos/s',
            `same load; PostgreSQL 2 API ÷ SQLite ${(two / sqlite).toFixed(2)}x`,
          );
        } finally {
          await sqliteApi.stop();
          rmSync(sqliteIngestDir, { recursive: true, force: true });
        }
      } finally {
        await Promise.all(apis.map((a) => a.stop()));
      }
    } finally {
      for (const s of schemas) await dropSchema(s).catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    }
    return rows;
  },
};
