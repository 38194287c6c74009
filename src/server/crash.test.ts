/**
 * Durability with a real `fedex serve` process killed by SIGKILL (no shutdown code runs):
 * - mid-upload: after a restart every acknowledged batch is stored, and every batch is stored whole
 *   or not at all;
 * - mid-training: the previous model is still served and the interrupted job runs again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteCore } from './store/sqlite.js';
import { startChildServer, type ChildServer } from './testing/child-server.js';
import { caller, encodeBatch, syntheticBatch } from './testing/harness.js';

let dataDir: string;
let server: ChildServer | undefined;
beforeEach(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'fedex-crash-'));
});
afterEach(async () => {
  await server?.kill();
  server = undefined;
  rmSync(dataDir, { recursive: true, force: true });
});

async function enroll(s: ChildServer, userId: string): Promise<string> {
  const admin = caller(s.url, s.adminKey);
  expect((await admin.request('POST', '/v1/users', { name: userId, id: userId })).status).toBe(201);
  const e = await admin.request<{ token: string }>('POST', '/v1/devices', { name: 'phone', userId });
  expect(e.status).toBe(201);
  return e.json.token;
}

describe('fedex serve killed with SIGKILL', () => {
  it('keeps every acknowledged upload, and no batch half-stored', async () => {
    server = await startChildServer(dataDir, ['--workers', '0', '--durability', 'full']);
    const token = await enroll(server, 'u1');
    // Two phones of the same user, four upload lanes each (the server admits 4 in flight a device).
    const admin = caller(server.url, server.adminKey);
    const second = await admin.request<{ token: string }>('POST', '/v1/devices', {
      name: 'tablet',
      userId: 'u1',
    });
    expect(second.status).toBe(201);
    const devices = [caller(server.url, token), caller(server.url, second.json.token)];
    const perBatch = 20;
    const acknowledged: string[] = [];
    let inFlight = 0;
    let killing = false;
    let stop = false;
    // 8 concurrent upload lanes that keep sending until the server is gone, so the kill lands
    // while uploads are in flight (stopping them first could let every one finish).
    const loops = Array.from({ length: 8 }, async (_, loop) => {
      for (let i = 0; !stop; i++) {
        const id = `l${loop}-b${i}`;
        const bytes = encodeBatch(
          syntheticBatch({ people: 2, perPerson: perBatch / 2, prefix: id, seed: loop * 1000 + i }),
        );
        inFlight++;
        try {
          const r = await devices[loop % 2].request('POST', '/v1/users/u1/batches', bytes, {
            'idempotency-key': id,
          });
          if (r.status === 201) acknowledged.push(id);
          else if (!killing) throw new Error(`upload ${id}: ${r.status}`);
        } catch (e) {
          if (!killing) throw e;
        } finally {
          inFlight--;
        }
      }
    });
    while (acknowledged.length < 40) await new Promise((r) => setTimeout(r, 5));
    killing = true;
    const cutOff = inFlight;
    await server.kill();
    stop = true;
    await Promise.all(loops);
    expect(cutOff).toBeGreaterThan(0); // uploads were in flight when the kill landed

    server = await startChildServer(dataDir, ['--workers', '0']);
    const store = new SqliteCore(path.join(dataDir, 'fedex.db'), { readonly: true });
    try {
      for (const id of acknowledged) expect(await store.hasBatch('u1', id), id).toBe(true);
      const batches = await store.countBatches('u1');
      expect(batches).toBeGreaterThanOrEqual(acknowledged.length);
      expect(await store.countSamples('u1')).toBe(batches * perBatch); // whole batches only
    } finally {
      await store.close();
    }
    // The restarted server answers a retry of an acknowledged batch as a duplicate.
    const again = caller(server.url, token);
    const first = acknowledged[0];
    const [loop, b] = first.slice(1).split('-b').map(Number);
    const bytes = encodeBatch(
      syntheticBatch({ people: 2, perPerson: perBatch / 2, prefix: first, seed: loop * 1000 + b }),
    );
    const retry = await again.request<{ duplicate: boolean }>('POST', '/v1/users/u1/batches', bytes, {
      'idempotency-key': first,
    });
    expect([retry.status, retry.json.duplicate]).toEqual([200, true]);
  }, 120_000);

  it('serves the previous model after a crash during training, and retries the job', async () => {
    server = await startChildServer(dataDir, ['--workers', '1', '--retrain-after', '0']);
    const token = await enroll(server, 'u1');
    let device = caller(server.url, token);
    const batch = syntheticBatch({ people: 4, perPerson: 6, seed: 5 });
    expect(
      (await device.request('POST', '/v1/users/u1/batches', encodeBatch(batch), { 'idempotency-key': 'b1' }))
        .status,
    ).toBe(201);

    const waitFor = async (jobId: number, want: (j: { status: string; attempts: number }) => boolean) => {
      const deadline = Date.now() + 90_000;
      for (;;) {
        const r = await device.request<{ job: { status: string; attempts: number; error: string | null } }>(
          'GET',
          `/v1/jobs/${jobId}`,
        );
        if (want(r.json.job)) return r.json.job;
        expect(r.json.job.status, r.json.job.error ?? '').not.toBe('failed');
        expect(Date.now(), server!.output()).toBeLessThan(deadline);
        await new Promise((res) => setTimeout(res, 20));
      }
    };
    const j1 = (await device.request<{ job: { id: number } }>('POST', '/v1/users/u1/train', { epochs: 20 }))
      .json.job.id;
    await waitFor(j1, (j) => j.status === 'done');
    const v1 = await device.request('GET', '/v1/models/user:u1/latest');
    expect(v1.headers.get('x-fedex-model-version')).toBe('1');

    // A long second training; kill the server while it runs.
    const j2 = (
      await device.request<{ job: { id: number } }>('POST', '/v1/users/u1/train', {
        epochs: 1000,
        patience: 0,
      })
    ).json.job.id;
    await waitFor(j2, (j) => j.status === 'running');
    await server.kill();

    server = await startChildServer(dataDir, ['--workers', '0']); // no workers: look before it retrains
    device = caller(server.url, token);
    const latest = await device.request('GET', '/v1/models/user:u1/latest');
    expect(latest.status).toBe(200);
    expect(latest.headers.get('etag')).toBe(v1.headers.get('etag'));
    const requeued = await waitFor(j2, () => true);
    expect(requeued).toMatchObject({ status: 'queued', attempts: 1 });
    await server.stop();

    server = await startChildServer(dataDir, ['--workers', '1']);
    device = caller(server.url, token);
    const done = await waitFor(j2, (j) => j.status === 'done');
    expect(done.attempts).toBe(2);
    const models = await device.request<{ latestVersion: number; models: { version: number }[] }>(
      'GET',
      '/v1/models/user:u1',
    );
    expect(models.json.models.map((m) => m.version)).toEqual([2, 1]);
  }, 240_000);
});
