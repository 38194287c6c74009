/**
 * Load suite: 200 devices against a real `fedex serve` child process for 60 s (`--quick`: 10 s),
 * the mix a fleet of phones makes: feature uploads (32 faces, float16, at Poisson times), model
 * polls with the ETag the device holds (mostly 304s, a full download after each new version), and
 * FedAvg round polls (`/v1/rounds/current`; no round is open, so this measures the polling cost).
 * Reports throughput, p50/p99/max latency per kind, the error count (the goal is zero) and the
 * server's resident memory at the start and end (it must stay bounded).
 *
 * Set-up: 200 users with one device each, made through the admin API; each user gets one model
 * version written straight into the database before the load (a real linear head 128→5, encoded
 * as the server would), so the polls have something to compare with.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encodeFeatureBatch } from '../src/core/codec.js';
import { createRng } from '../src/core/random.js';
import { specKey, type FeatureSpec } from '../src/core/types.js';
import { getHead } from '../src/model/heads/registry.js';
import { modelToWeightsMessage } from '../src/model/io.js';
import { initRuntime } from '../src/runtime/node.js';
import { SqliteCore } from '../src/server/store/sqlite.js';
import { startChildServer, type ChildServer } from '../src/server/testing/child-server.js';
import { caller, syntheticBatch } from '../src/server/testing/harness.js';
import type { BenchRow, BenchSuite } from './types.js';

const DEVICES = 200;
const SPEC: FeatureSpec = {
  backboneId: 'faceapi-resnet',
  backboneVersion: '1.7.15',
  split: 'embedding',
  shape: [128],
};
/** Per device: an upload every 4 s, a model poll every 10 s, a round poll every 5 s (means). */
const RATES = { upload: 1 / 4, model: 1 / 10, round: 1 / 5 };

type Kind = keyof typeof RATES;

async function residentMb(server: ChildServer): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => /process_resident_memory_bytes \d/.test(l));
  return line ? Number(line.split(' ').pop()) / 2 ** 20 : NaN;
}

export const loadSuite: BenchSuite = {
  name: 'load',
  summary: '200 devices for 60 s: uploads, model polls (ETag), round polls; latency, errors, memory',
  async run({ quick, log }) {
    const seconds = quick ? 10 : 60;
    await initRuntime();
    const dir = mkdtempSync(path.join(tmpdir(), 'fedex-bench-load-'));
    let server = await startChildServer(dir, ['--workers', '0', '--rate-limit', '0']);
    try {
      // Users and devices through the API.
      const admin = caller(server.url, server.adminKey);
      const devices: { userId: string; token: string }[] = [];
      for (let d = 0; d < DEVICES; d++) {
        const userId = `load-${String(d).padStart(3, '0')}`;
        await admin.request('POST', '/v1/users', { name: userId, id: userId });
        const e = await admin.request<{ token: string }>('POST', '/v1/devices', { name: 'phone', userId });
        if (e.status !== 201) throw new Error(`enroll ${userId}: ${e.status}`);
        devices.push({ userId, token: e.json.token });
      }
      await server.stop();
      // One model version per user, written as the job runner would.
      const head = getHead('linear').build([128], 5, {}, 0);
      const weights = modelToWeightsMessage(head, { labels: ['0', '1', '2', '3', '4'] });
      head.dispose();
      const store = new SqliteCore(path.join(dir, 'fedex.db'));
      store.registerSpec(SPEC);
      for (const d of devices) {
        store.insertModel({
          scope: `user:${d.userId}`,
          specKey: specKey(SPEC),
          head: 'linear',
          config: {},
          metrics: {},
          labels: ['0', '1', '2', '3', '4'],
          weights,
          status: 'promoted',
        });
      }
      store.close();
      server = await startChildServer(dir, ['--workers', '0', '--rate-limit', '0']);
      const rssStart = await residentMb(server);

      const base = syntheticBatch({ people: 4, perPerson: 8, labelled: 0, spec: SPEC });
      const lat: Record<Kind, number[]> = { upload: [], model: [], round: [] };
      const errors: string[] = [];
      let bytesDown = 0;
      let n = 0;
      const rng = createRng(3);
      const t0 = performance.now();
      const end = t0 + seconds * 1000;
      const actor = async (d: { userId: string; token: string }, kind: Kind) => {
        const c = caller(server.url, d.token);
        let etag: string | undefined;
        let at = t0;
        for (;;) {
          at += (-Math.log(1 - rng()) * 1000) / RATES[kind];
          if (at >= end) return;
          const wait = at - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          const start = performance.now();
          let status: number;
          if (kind === 'upload') {
            const k = n++;
            const body = encodeFeatureBatch(
              { ...base, sampleIds: base.sampleIds.map((_, i) => `l${k}-${i}`) },
              { dtype: 'float16' },
            );
            status = (
              await c.request('POST', `/v1/users/${d.userId}/batches`, body, {
                'idempotency-key': `load-${k}`,
              })
            ).status;
          } else if (kind === 'model') {
            const r = await c.request(
              'GET',
              `/v1/models/user:${d.userId}/latest`,
              undefined,
              etag ? { 'if-none-match': etag } : {},
            );
            status = r.status;
            bytesDown += r.bytes.length;
            etag = r.headers.get('etag') ?? etag;
          } else {
            status = (await c.request('GET', '/v1/rounds/current')).status;
          }
          lat[kind].push(performance.now() - start);
          const ok =
            kind === 'upload'
              ? status === 201
              : kind === 'model'
                ? status === 200 || status === 304
                : status === 200;
          if (!ok) errors.push(`${kind} ${status}`);
        }
      };
      await Promise.all(devices.flatMap((d) => (Object.keys(RATES) as Kind[]).map((k) => actor(d, k))));
      const rssEnd = await residentMb(server);
      const q = (xs: number[], p: number) => {
        const s = [...xs].sort((a, b) => a - b);
        return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN;
      };
      const total = lat.upload.length + lat.model.length + lat.round.length;
      log(
        `load: ${total} requests from ${DEVICES} devices in ${seconds} s, ${errors.length} errors` +
          (errors.length ? ` (${[...new Set(errors)].join(', ')})` : '') +
          `; server RSS ${rssStart.toFixed(0)} → ${rssEnd.toFixed(0)} MiB; ${(bytesDown / 1024).toFixed(0)} KiB of models down`,
      );
      const note = `${DEVICES} devices, Poisson, ${seconds} s`;
      const rows: BenchRow[] = [
        { suite: 'load', name: 'requests/s (all kinds)', value: total / seconds, unit: 'req/s', note },
        { suite: 'load', name: 'errors', value: errors.length, unit: 'responses', note: 'goal 0' },
        { suite: 'load', name: 'server RSS start', value: rssStart, unit: 'MiB' },
        {
          suite: 'load',
          name: 'server RSS end',
          value: rssEnd,
          unit: 'MiB',
          note: 'bounded: compare with start',
        },
      ];
      for (const k of Object.keys(RATES) as Kind[]) {
        rows.push(
          { suite: 'load', name: `${k} count`, value: lat[k].length, unit: 'requests' },
          { suite: 'load', name: `${k} latency p50`, value: q(lat[k], 0.5), unit: 'ms' },
          { suite: 'load', name: `${k} latency p99`, value: q(lat[k], 0.99), unit: 'ms' },
          { suite: 'load', name: `${k} latency max`, value: q(lat[k], 1), unit: 'ms' },
        );
      }
      return rows;
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
