/**
 * The scale-out scenario, for the test (`scale.test.ts`, small) and the bench (`bench/scale.ts`,
 * big): API processes (`fedex serve --database postgres://… --workers 0`) behind a client-side
 * balancer that fails over as a load balancer would, training worker processes (`fedex worker`),
 * simulated devices that enroll, upload, label and pull through them, one worker SIGKILLed while it
 * holds a job and one API process killed and started again mid-run. Then it checks the database:
 * every acknowledged batch stored once, every job done once (one model version per job), and the
 * same model (ETag) served by every API process.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { FeatureSpec } from '../../core/types.js';
import { splitSchema } from '../store/open.js';
import { startChildServer, startChildWorker, type ChildServer, type ChildWorker } from './child-server.js';
import { encodeBatch, syntheticBatch } from './harness.js';

export interface ScaleOptions {
  /** postgres:// URL (with `?schema=` to keep a run apart). */
  database: string;
  /** Data folder of the API processes (they keep nothing in it but start-up files). */
  dataDir: string;
  apis: number;
  workers: number;
  threadsPerWorker?: number;
  devices: number;
  /** Per device: a labelled batch of people × perPerson, then `unlabelled` more that it labels. */
  people?: number;
  perPerson?: number;
  unlabelled?: number;
  spec: FeatureSpec;
  leaseSeconds?: number;
  killWorker?: boolean;
  restartApi?: boolean;
  /** Devices working at once. */
  concurrency?: number;
  timeoutMs?: number;
  log?: (line: string) => void;
}

export interface ScaleResult {
  devices: number;
  batchesAcknowledged: number;
  samplesAcknowledged: number;
  /** Wall time of the device phase (enroll, upload, label). */
  deviceSeconds: number;
  ingestSamplesPerSecond: number;
  /** From the first device's request to the last user's model promoted. */
  totalSeconds: number;
  jobsDone: number;
  jobsFailed: number;
  /** Job ids whose model was stored more than once (must be empty). */
  duplicateModelJobs: number[];
  /** Acknowledged batches not stored exactly once (must be empty). */
  badBatches: string[];
  /** Users whose samples are not all stored (must be empty). */
  badSampleCounts: string[];
  /** Devices whose model differed (ETag) between API processes, or was missing (must be empty). */
  pullMismatches: string[];
  /** The job running on the worker that was killed, after the run. */
  killedJob?: { id: number; attempts: number; status: string };
  apiRestarted: boolean;
  /** Requests that hit a dead API process and were sent to another. */
  failovers: number;
}

interface Response<T> {
  status: number;
  json: T;
  etag: string | null;
}

/** Round-robin over the live API processes; a refused connection goes to the next one. */
class Balancer {
  urls: string[];
  failovers = 0;
  private next = 0;

  constructor(urls: string[]) {
    this.urls = [...urls];
  }

  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    options: { token: string; body?: unknown; headers?: Record<string, string>; pin?: number } = {
      token: '',
    },
  ): Promise<Response<T>> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 40; attempt++) {
      const i = options.pin ?? this.next++ % this.urls.length;
      const url = this.urls[i % this.urls.length];
      const headers: Record<string, string> = {
        authorization: `Bearer ${options.token}`,
        ...options.headers,
      };
      let body: BodyInit | undefined;
      if (options.body instanceof Uint8Array) {
        body = Buffer.from(options.body) as unknown as BodyInit;
        headers['content-type'] = 'application/octet-stream';
      } else if (options.body !== undefined) {
        body = JSON.stringify(options.body);
        headers['content-type'] = 'application/json';
      }
      try {
        const res = await fetch(url + path, { method, headers, body });
        const text = await res.text();
        // 503: that process's database connection is not ready (or it is closing): try another.
        if (res.status === 503 && options.pin === undefined) {
          lastError = new Error(`503 from ${url}: ${text}`);
          this.failovers++;
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        const json = (
          text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : {}
        ) as T;
        return { status: res.status, json, etag: res.headers.get('etag') };
      } catch (e) {
        // Connection refused or reset: the process is down (restarting); another one takes it.
        lastError = e;
        this.failovers++;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error(`${method} ${path}: no API process answered: ${(lastError as Error)?.message}`);
  }
}

/** The API processes' logged errors (a 500's cause is only on the server), for a failure message. */
function serverErrors(apis: readonly ChildServer[]): string {
  const lines = apis
    .flatMap((a) => a.output().split('\n'))
    .filter((l) => /error|Error|ERR/.test(l))
    .slice(-20);
  return lines.length > 0 ? `\nserver log:\n${lines.join('\n')}` : '';
}

/** Runs `fn` over `items` with at most `limit` at once. */
async function pool<T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i], i);
      }
    }),
  );
}

export async function runScaleScenario(o: ScaleOptions): Promise<ScaleResult> {
  const log = o.log ?? (() => {});
  const people = o.people ?? 3;
  const perPerson = o.perPerson ?? 4;
  const unlabelled = o.unlabelled ?? 2;
  const adminKey = `fxa_${randomBytes(18).toString('base64url')}`;
  const { url: bareUrl, schema } = splitSchema(o.database);
  const db = new pg.Pool({
    connectionString: bareUrl,
    max: 2,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  db.on('error', () => undefined);
  const apiArgs = ['--database', o.database, '--workers', '0', '--retrain-after', String(people * perPerson)];
  const apis: ChildServer[] = [];
  const workers: ChildWorker[] = [];
  const t0 = performance.now();
  try {
    // The first API process creates the schema; the others find it migrated.
    apis.push(await startChildServer(o.dataDir, apiArgs, 60_000, adminKey));
    apis.push(
      ...(await Promise.all(
        Array.from({ length: o.apis - 1 }, () => startChildServer(o.dataDir, apiArgs, 60_000, adminKey)),
      )),
    );
    workers.push(
      ...(await Promise.all(
        Array.from({ length: o.workers }, () =>
          startChildWorker(o.database, [
            '--workers',
            String(o.threadsPerWorker ?? 1),
            '--lease',
            String(o.leaseSeconds ?? 2),
          ]),
        ),
      )),
    );
    log(
      `scale: ${apis.length} API and ${workers.length} worker process(es) up in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const lb = new Balancer(apis.map((a) => a.url));

    // Kill a worker as soon as one holds a job (its lease owner names its pid): whichever gets
    // there first, so a loaded machine where one worker takes every job still sees a kill.
    let killedJobId: number | undefined;
    let runOver = false;
    const killer =
      o.killWorker && workers.length > 1
        ? (async () => {
            while (!runOver) {
              const rows = await db
                .query<{ id: number; lease_owner: string }>(
                  "SELECT id, lease_owner FROM jobs WHERE status = 'running' ORDER BY id LIMIT 1",
                )
                .then((r) => r.rows)
                .catch(() => undefined); // the run failed and its pool is closing
              if (!rows) return;
              const victim = rows[0] && workers.find((w) => rows[0].lease_owner.includes(`:${w.child.pid}:`));
              if (victim) {
                killedJobId = Number(rows[0].id);
                await victim.kill();
                log(`scale: SIGKILLed worker pid ${victim.child.pid} while it ran job ${killedJobId}`);
                return;
              }
              await new Promise((r) => setTimeout(r, 20));
            }
          })()
        : Promise.resolve();

    // Devices: enroll, upload a labelled batch and an unlabelled one, label it.
    const ids = Array.from({ length: o.devices }, (_, d) => `dev${d}`);
    const tokens = new Map<string, string>();
    const acknowledged: { userId: string; batchId: string }[] = [];
    let samples = 0;
    let apiRestarted = false;
    let finished = 0;
    const restartAt = Math.floor(o.devices / 2);
    const tDevices = performance.now();
    await pool(ids, o.concurrency ?? 16, async (userId, d) => {
      const admin = { token: adminKey };
      const u = await lb.request('POST', '/v1/users', { ...admin, body: { name: userId, id: userId } });
      if (u.status !== 201 && u.status !== 409)
        throw new Error(`create ${userId}: ${u.status} ${JSON.stringify(u.json)}`);
      const e = await lb.request<{ token: string }>('POST', '/v1/devices', {
        ...admin,
        body: { name: 'phone', userId },
      });
      if (e.status !== 201)
        throw new Error(`enroll ${userId}: ${e.status} ${JSON.stringify(e.json)}${serverErrors(apis)}`);
      const token = e.json.token;
      tokens.set(userId, token);
      const labelled = syntheticBatch({
        people,
        perPerson,
        seed: 1000 + d,
        prefix: `${userId}-l`,
        spec: o.spec,
      });
      const later = syntheticBatch({
        people,
        perPerson: unlabelled,
        labelled: 0,
        seed: 5000 + d,
        prefix: `${userId}-u`,
        spec: o.spec,
      });
      for (const [batchId, batch] of [
        [`${userId}-b1`, labelled],
        [`${userId}-b2`, later],
      ] as const) {
        const r = await lb.request('POST', `/v1/users/${userId}/batches`, {
          token,
          body: encodeBatch(batch),
          headers: { 'idempotency-key': batchId },
        });
        if (r.status !== 201 && r.status !== 200)
          throw new Error(`upload ${batchId}: ${r.status} ${JSON.stringify(r.json)}${serverErrors(apis)}`);
        acknowledged.push({ userId, batchId });
        samples += batch.sampleIds.length;
      }
      for (let p = 0; p < people; p++) {
        const clientIds = later.sampleIds.filter((_, i) => i >= p * unlabelled && i < (p + 1) * unlabelled);
        const r = await lb.request('POST', `/v1/users/${userId}/samples/relabel`, {
          token,
          body: { clientIds, label: p },
        });
        if (r.status !== 200)
          throw new Error(`relabel ${userId}: ${r.status} ${JSON.stringify(r.json)}${serverErrors(apis)}`);
      }
      finished++;
      // Half-way: one API process dies (SIGKILL) and a new one takes its place.
      if (o.restartApi && finished === restartAt && !apiRestarted) {
        apiRestarted = true;
        const old = apis[0];
        await old.kill();
        log(`scale: SIGKILLed API process ${old.url} after ${finished} devices`);
        const fresh = await startChildServer(o.dataDir, apiArgs, 60_000, adminKey);
        apis[0] = fresh;
        lb.urls = apis.map((a) => a.url);
        log(`scale: a new API process took its place at ${fresh.url}`);
      }
    });
    const deviceSeconds = (performance.now() - tDevices) / 1000;
    log(
      `scale: ${o.devices} devices enrolled, uploaded ${samples} samples and labelled in ${deviceSeconds.toFixed(1)} s`,
    );

    // Every user's model, trained by the workers.
    const deadline = Date.now() + (o.timeoutMs ?? 300_000);
    for (;;) {
      const { rows } = await db.query<{ open: number; users: number }>(
        `SELECT (SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')) AS open,
                (SELECT COUNT(DISTINCT scope) FROM models WHERE status = 'promoted' AND scope LIKE 'user:dev%') AS users`,
      );
      if (Number(rows[0].open) === 0 && Number(rows[0].users) >= o.devices) {
        runOver = true;
        break;
      }
      if (Date.now() > deadline) {
        runOver = true;
        throw new Error(
          `scale: timed out with ${rows[0].open} job(s) open and ${rows[0].users}/${o.devices} users trained\n` +
            workers.map((w) => w.output().slice(-2000)).join('\n---\n'),
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await killer;
    const totalSeconds = (performance.now() - t0) / 1000;

    // Devices pull their model from every API process: the same bytes (ETag) everywhere.
    const pullMismatches: string[] = [];
    await pool(ids, o.concurrency ?? 16, async (userId) => {
      const token = tokens.get(userId)!;
      const etags: (string | null)[] = [];
      for (let i = 0; i < apis.length; i++) {
        const r = await lb.request('GET', `/v1/models/user:${userId}/latest`, { token, pin: i });
        etags.push(r.status === 200 ? r.etag : null);
      }
      if (etags.some((e) => e === null || e !== etags[0]))
        pullMismatches.push(`${userId}: ${etags.join(' ')}`);
    });

    // The database's account of the run.
    const badBatches: string[] = [];
    const counts = await db.query<{ user_id: string; batch_id: string; n: number }>(
      'SELECT user_id, batch_id, COUNT(*) AS n FROM batches GROUP BY user_id, batch_id',
    );
    const stored = new Map(counts.rows.map((r) => [`${r.user_id}/${r.batch_id}`, Number(r.n)]));
    for (const a of acknowledged) {
      const n = stored.get(`${a.userId}/${a.batchId}`) ?? 0;
      if (n !== 1) badBatches.push(`${a.userId}/${a.batchId}: stored ${n} times`);
    }
    const perUser = await db.query<{ user_id: string; n: number }>(
      'SELECT user_id, COUNT(*) AS n FROM samples GROUP BY user_id',
    );
    const expected = people * (perPerson + unlabelled);
    const have = new Map(perUser.rows.map((r) => [r.user_id, Number(r.n)]));
    const badSampleCounts = ids
      .filter((id) => have.get(id) !== expected)
      .map((id) => `${id}: ${have.get(id) ?? 0} samples, expected ${expected}`);
    const dup = await db.query<{ job_id: number }>(
      'SELECT job_id FROM models WHERE job_id IS NOT NULL GROUP BY job_id HAVING COUNT(*) > 1',
    );
    const jobs = await db.query<{ status: string; n: number }>(
      'SELECT status, COUNT(*) AS n FROM jobs GROUP BY status',
    );
    const byStatus = Object.fromEntries(jobs.rows.map((r) => [r.status, Number(r.n)]));
    let killedJob: ScaleResult['killedJob'];
    if (killedJobId !== undefined) {
      const { rows } = await db.query<{ id: number; attempts: number; status: string }>(
        'SELECT id, attempts, status FROM jobs WHERE id = $1',
        [killedJobId],
      );
      killedJob = { id: Number(rows[0].id), attempts: Number(rows[0].attempts), status: rows[0].status };
    }
    return {
      devices: o.devices,
      batchesAcknowledged: acknowledged.length,
      samplesAcknowledged: samples,
      deviceSeconds,
      ingestSamplesPerSecond: samples / deviceSeconds,
      totalSeconds,
      jobsDone: byStatus.done ?? 0,
      jobsFailed: byStatus.failed ?? 0,
      duplicateModelJobs: dup.rows.map((r) => Number(r.job_id)),
      badBatches,
      badSampleCounts,
      pullMismatches,
      ...(killedJob ? { killedJob } : {}),
      apiRestarted,
      failovers: lb.failovers,
    };
  } finally {
    await Promise.all([...apis.map((a) => a.stop()), ...workers.map((w) => w.stop())]);
    await db.end();
  }
}
