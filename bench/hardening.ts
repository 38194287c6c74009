/**
 * Hardening suite: what one user or an anonymous client can do to everyone else, measured on a real
 * `fedex serve` child process (no workers, no rate limit, durability normal) over loopback.
 *
 * - Relabel: Alice holds 50,000 samples and relabels 10,000 of them by client id in one request
 *   (five times, alternating labels) while Bob uploads small batches back to back. Reported: the
 *   relabel's own time (median) and Bob's upload latency p99 during the relabels and without them.
 *   Goal: Bob's p99 < 50 ms during a 10k relabel (before the fix the whole server stopped for 160 s).
 * - Anonymous bodies: 40 anonymous 31 MB uploads and 4 nested 30 MB JSON bodies at once; the
 *   server's peak RSS increase (before: about 1 GB and a 54 s stall) and Bob's p99 meanwhile.
 * - Slowloris: 200 sockets that send half a request header and stop; how long until the server has
 *   closed them all (headers timeout 10 s by default; before: open until the client gave up).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encodeFeatureBatch } from '../src/core/codec.js';
import type { FeatureSpec } from '../src/core/types.js';
import { startChildServer, type ChildServer } from '../src/server/testing/child-server.js';
import { caller, syntheticBatch } from '../src/server/testing/harness.js';
import { median, type BenchRow, type BenchSuite } from './types.js';

const SPEC: FeatureSpec = {
  backboneId: 'faceapi-resnet',
  backboneVersion: '1.7.15',
  split: 'embedding',
  shape: [128],
};
const GOAL_P99_MS = 50;
/** Bob's upload counter, across loops (every upload needs a new Idempotency-Key). */
let n = 0;
/** Bob's failed uploads (network errors, non-201), reported with the rows. */
const errors: string[] = [];

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = values.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function enroll(server: ChildServer, userId: string): Promise<string> {
  const admin = caller(server.url, server.adminKey);
  await admin.request('POST', '/v1/users', { name: userId, id: userId });
  const e = await admin.request<{ token: string }>('POST', '/v1/devices', { name: 'phone', userId });
  if (e.status !== 201) throw new Error(`bench setup: enroll ${userId}: ${e.status}`);
  return e.json.token;
}

/** Bob's own keep-alive connection, apart from fetch's pool that the hostile clients use. */
const bobAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function post(url: string, token: string, body: Uint8Array, key: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent: bobAgent,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/octet-stream',
          'idempotency-key': key,
          'content-length': body.byteLength,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Bob's uploads, one at a time, until `stop()`; each latency with its start time. */
function uploadLoop(server: ChildServer, token: string): { stop(): Promise<{ at: number; ms: number }[]> } {
  const out: { at: number; ms: number }[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const batch = syntheticBatch({
        people: 2,
        perPerson: 4,
        seed: n,
        prefix: `bob${n}`,
        spec: SPEC,
        labelled: 0,
      });
      const body = encodeFeatureBatch(batch, { dtype: 'float16' });
      const t0 = performance.now();
      try {
        const status = await post(`${server.url}/v1/users/bob/batches`, token, body, `bob-${n++}`);
        if (status !== 201) throw new Error(`status ${status}`);
        out.push({ at: t0, ms: performance.now() - t0 });
      } catch (e) {
        console.error(
          `bob upload failed after ${(performance.now() - t0).toFixed(0)} ms: ${String((e as Error).cause ?? e)}`,
        );
        errors.push(String((e as Error).cause ?? e));
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return out;
    },
  };
}

async function relabelRows(
  server: ChildServer,
  aliceToken: string,
  bobToken: string,
  quick: boolean,
  log: (l: string) => void,
): Promise<BenchRow[]> {
  const alice = caller(server.url, aliceToken);
  const total = quick ? 10_000 : 50_000;
  for (let b = 0; b < total / 1000; b++) {
    const batch = syntheticBatch({
      people: 10,
      perPerson: 100,
      seed: b,
      prefix: `a${b}`,
      spec: SPEC,
      labelled: 0,
    });
    const r = await alice.request(
      'POST',
      '/v1/users/alice/batches',
      encodeFeatureBatch(batch, { dtype: 'float16' }),
      {
        'idempotency-key': `alice-${b}`,
      },
    );
    if (r.status !== 201) throw new Error(`alice's upload: ${r.status}`);
  }
  log(`hardening: alice holds ${total} samples`);
  const ids: string[] = [];
  for (let b = 0; b < 10; b++)
    for (let p = 0; p < 10; p++) for (let i = 0; i < 100; i++) ids.push(`a${b}-${p}-${i}`);

  const quiet = uploadLoop(server, bobToken);
  await new Promise((r) => setTimeout(r, quick ? 1000 : 3000));
  const baseline = (await quiet.stop()).map((x) => x.ms);

  const busy = uploadLoop(server, bobToken);
  const windows: [number, number][] = [];
  const relabelMs: number[] = [];
  for (let k = 0; k < 5; k++) {
    await new Promise((r) => setTimeout(r, 200));
    const t0 = performance.now();
    const r = await alice.request<{ changed: number }>('POST', '/v1/users/alice/samples/relabel', {
      clientIds: ids,
      label: k % 2,
    });
    const t1 = performance.now();
    if (r.status !== 200 || r.json.changed !== ids.length) throw new Error(`relabel: ${r.status}`);
    windows.push([t0, t1]);
    relabelMs.push(t1 - t0);
  }
  const during = (await busy.stop())
    .filter((x) => windows.some(([a, b]) => x.at + x.ms >= a && x.at <= b))
    .map((x) => x.ms);
  const p99 = percentile(during, 99);
  return [
    {
      suite: 'hardening',
      name: 'relabel 10k client ids of 50k samples',
      value: median(relabelMs),
      unit: 'ms',
      note: `median of 5; ${total} samples stored`,
    },
    {
      suite: 'hardening',
      name: "another user's upload p99 during relabels",
      value: p99,
      unit: 'ms',
      note: `${during.length} uploads overlapping the relabels, ${errors.length} failed; goal < ${GOAL_P99_MS}: ${p99 < GOAL_P99_MS ? 'met' : 'NOT met'}`,
    },
    {
      suite: 'hardening',
      name: "another user's upload p99, no relabel",
      value: percentile(baseline, 99),
      unit: 'ms',
      note: `${baseline.length} uploads`,
    },
  ];
}

async function hostileBodies(server: ChildServer, bobToken: string): Promise<BenchRow[]> {
  const pid = server.child.pid!;
  const rss0 = rssMiB(pid);
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 20);
  const busy = uploadLoop(server, bobToken);
  // The hostile clients run in a process of their own, so their sending does not slow Bob's client.
  const script = `
    const url = ${JSON.stringify(server.url)};
    const big = Buffer.alloc(31 * 1024 * 1024, 7);
    const half = 15 * 1024 * 1024;
    const nested = Buffer.from('{"name":"x","signup":' + '['.repeat(half) + ']'.repeat(half) + '}');
    const send = (path, type, body) => fetch(url + path, { method: 'POST', headers: { 'content-type': type }, body })
      .then((r) => r.status).catch(() => 0);
    Promise.all([
      ...Array.from({ length: 40 }, () => send('/v1/users/bob/batches', 'application/octet-stream', big)),
      ...Array.from({ length: 4 }, () => send('/v1/devices', 'application/json', nested)),
    ]).then((s) => process.stdout.write(JSON.stringify(s)));`;
  const t0 = performance.now();
  const answers = await new Promise<number[]>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out) as number[]) : reject(new Error(`hostile client exited ${code}`)),
    );
  });
  const seconds = (performance.now() - t0) / 1000;
  const lat = (await busy.stop()).map((x) => x.ms);
  clearInterval(sampler);
  const statuses = [...new Set(answers)].sort().join('/');
  return [
    {
      suite: 'hardening',
      name: 'RSS increase under 40×31 MB anonymous + 4×30 MB nested JSON',
      value: peak - rss0,
      unit: 'MiB',
      note: `answers ${statuses} (0: socket closed by the server) in ${seconds.toFixed(1)} s; RSS ${rss0.toFixed(0)} → peak ${peak.toFixed(0)} MiB`,
    },
    {
      suite: 'hardening',
      name: "another user's upload p99 during those bodies",
      value: percentile(lat, 99),
      unit: 'ms',
      note: `${lat.length} uploads, ${errors.length} failed in all`,
    },
  ];
}

async function slowloris(server: ChildServer, sockets: number): Promise<BenchRow[]> {
  const { port } = new URL(server.url);
  const t0 = performance.now();
  const closedAt = await Promise.all(
    Array.from(
      { length: sockets },
      () =>
        new Promise<number>((resolve) => {
          const s = net.connect(Number(port), '127.0.0.1', () =>
            s.write('POST /v1/devices HTTP/1.1\r\nHost: x\r\nX-Slow: '),
          );
          s.on('error', () => {});
          s.resume(); // read the 408: a paused socket never sees the server's close
          const give = setTimeout(() => {
            s.destroy();
            resolve(Number.POSITIVE_INFINITY);
          }, 60_000);
          s.on('close', () => {
            clearTimeout(give);
            resolve((performance.now() - t0) / 1000);
          });
        }),
    ),
  );
  const open = closedAt.filter((t) => !Number.isFinite(t)).length;
  return [
    {
      suite: 'hardening',
      name: `slowloris: ${sockets} half-sent headers, all closed after`,
      value: Math.max(...closedAt.filter(Number.isFinite)),
      unit: 's',
      note: `${open} still open at 60 s; headers timeout 10 s`,
    },
  ];
}

export const hardeningSuite: BenchSuite = {
  name: 'hardening',
  summary:
    'one user or an anonymous client against everyone else: 10k relabel, huge anonymous bodies, slowloris',
  async run({ quick, log }) {
    const dir = mkdtempSync(path.join(tmpdir(), 'fedex-bench-hardening-'));
    const server = await startChildServer(dir, [
      '--workers',
      '0',
      '--rate-limit',
      '0',
      '--durability',
      'normal',
    ]);
    try {
      const aliceToken = await enroll(server, 'alice');
      const bobToken = await enroll(server, 'bob');
      const rows = await relabelRows(server, aliceToken, bobToken, quick, log);
      log('hardening: relabel done; hostile bodies');
      rows.push(...(await hostileBodies(server, bobToken)));
      log('hardening: slowloris');
      rows.push(...(await slowloris(server, quick ? 50 : 200)));
      return rows;
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
