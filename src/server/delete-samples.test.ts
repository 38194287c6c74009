/**
 * Deleting samples over HTTP (`POST /v1/users/{id}/samples/delete`): who may, what a bad request
 * changes (nothing), idempotent resends, and — with a real `fedex serve` and its training worker —
 * that the next model forgets: it is trained at once without the deleted person and replaces the
 * model that knew them without being compared with it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startChildServer, type ChildServer } from './testing/child-server.js';
import { caller, encodeBatch, startTestApi, syntheticBatch, type TestApi } from './testing/harness.js';

type Err = { error: { code: string; message: string } };
type Deleted = { deleted: number; labelled: number; missing: number };

let api: TestApi | undefined;
let server: ChildServer | undefined;
let dataDir: string | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
  await server?.kill();
  server = undefined;
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

function counts(a: TestApi): Record<string, number> {
  const n = (sql: string) => (a.store.db.prepare(sql).get() as { n: number }).n;
  return {
    samples: n('SELECT COUNT(*) AS n FROM samples'),
    removals: n('SELECT COALESCE(SUM(removals), 0) AS n FROM users'),
    changes: n('SELECT total_changes() AS n'),
  };
}

describe('POST /v1/users/{id}/samples/delete', () => {
  it("deletes the caller's samples, is idempotent, and refuses other users and bad bodies without a change", async () => {
    // Prepare: Ana with 2 people x 3 samples; Bob with his own.
    api = await startTestApi();
    const ana = await api.userWithDevice('ana');
    const bob = await api.userWithDevice('bob');
    const batch = syntheticBatch({ people: 2, perPerson: 3, prefix: 'ana' });
    const up = await ana.device.request('POST', '/v1/users/ana/batches', encodeBatch(batch), {
      'idempotency-key': 'b1',
    });
    expect(up.status).toBe(201);
    const url = '/v1/users/ana/samples/delete';
    const gone = batch.sampleIds.slice(0, 2);

    // Execute + Assert: refused requests change nothing.
    const before = counts(api);
    const refused: Array<[number, string, unknown, string]> = [
      [403, 'bob', { clientIds: gone }, 'FORBIDDEN'],
      [400, 'ana', {}, 'BAD_REQUEST'],
      [400, 'ana', { clientIds: [] }, 'BAD_REQUEST'],
      [400, 'ana', { clientIds: gone, label: 3 }, 'BAD_REQUEST'],
      [400, 'ana', { sampleIds: [0] }, 'BAD_REQUEST'],
      [400, 'ana', { clientIds: Array.from({ length: 10_001 }, (_, i) => `x${i}`) }, 'BAD_REQUEST'],
    ];
    for (const [status, who, body, code] of refused) {
      const r = await (who === 'bob' ? bob : ana).device.request<Err>('POST', url, body);
      expect([r.status, r.json.error?.code], JSON.stringify(body).slice(0, 80)).toEqual([status, code]);
    }
    expect((await api.anonymous.request('POST', url, { clientIds: gone })).status).toBe(401);
    expect(counts(api)).toEqual(before);

    // A deletion, then the same deletion resent (a retry after a lost answer).
    const first = await ana.device.request<Deleted>('POST', url, { clientIds: [...gone, 'never-sent'] });
    const again = await ana.device.request<Deleted>('POST', url, { clientIds: gone });
    expect(first.status).toBe(200);
    expect(first.json).toEqual({ deleted: 2, labelled: 2, missing: 1 });
    expect(again.json).toEqual({ deleted: 0, labelled: 0, missing: 2 });
    const left = await ana.device.request<{ samples: { clientId: string }[] }>(
      'GET',
      '/v1/users/ana/samples',
    );
    expect(left.json.samples.map((s) => s.clientId)).toEqual(batch.sampleIds.slice(2));
    // Deleting labelled samples told the scheduler (once: the resend deleted nothing).
    expect(api.ingested.filter((u) => u === 'ana')).toHaveLength(2); // the upload and the deletion
    // The admin may delete too.
    const byAdmin = await api.admin.request<Deleted>('POST', url, { clientIds: [batch.sampleIds[2]] });
    expect(byAdmin.json.deleted).toBe(1);
  });

  it('the next model forgets a deleted person: retrained at once, promoted without comparing with the old one', async () => {
    // Prepare: a real server with a training worker; no retraining by count, so only the
    // deletion can start the second job.
    dataDir = mkdtempSync(path.join(tmpdir(), 'fedex-forget-'));
    server = await startChildServer(dataDir, ['--workers', '1', '--retrain-after', '0']);
    const admin = caller(server.url, server.adminKey);
    expect((await admin.request('POST', '/v1/users', { name: 'u1', id: 'u1' })).status).toBe(201);
    const enrolled = await admin.request<{ token: string }>('POST', '/v1/devices', {
      name: 'phone',
      userId: 'u1',
    });
    const device = caller(server.url, enrolled.json.token);
    const batch = syntheticBatch({ people: 3, perPerson: 6, seed: 9, prefix: 'p' });
    const up = await device.request('POST', '/v1/users/u1/batches', encodeBatch(batch), {
      'idempotency-key': 'b1',
    });
    expect(up.status).toBe(201);
    type JobJson = { job: { id: number; status: string; trigger: string; error: string | null } };
    const waitDone = async (jobId: number) => {
      const deadline = Date.now() + 90_000;
      for (;;) {
        const r = await device.request<JobJson>('GET', `/v1/jobs/${jobId}`);
        if (r.json.job.status === 'done') return r.json.job;
        expect(r.json.job.status, r.json.job.error ?? '').not.toBe('failed');
        expect(Date.now(), server!.output()).toBeLessThan(deadline);
        await new Promise((res) => setTimeout(res, 50));
      }
    };
    const j1 = await device.request<JobJson>('POST', '/v1/users/u1/train', { head: 'centroid' });
    await waitDone(j1.json.job.id);

    // Execute: delete every sample of person 2 (label 2).
    const person2 = batch.sampleIds.filter((_, i) => batch.labels[i] === 2);
    const del = await device.request<Deleted>('POST', '/v1/users/u1/samples/delete', { clientIds: person2 });

    // Assert
    expect(del.json).toEqual({ deleted: 6, labelled: 6, missing: 0 });
    const jobs = await device.request<{ jobs: JobJson['job'][] }>('GET', '/v1/jobs?scope=user:u1');
    const forget = jobs.json.jobs.find((j) => j.trigger === 'deletion');
    expect(forget, JSON.stringify(jobs.json)).toBeDefined();
    await waitDone(forget!.id);
    type Models = {
      models: Array<{ version: number; status: string; labels: string[]; metrics: Record<string, unknown> }>;
    };
    const models = await device.request<Models>('GET', '/v1/models/user:u1');
    const [v2, v1] = models.json.models;
    expect(v1.labels).toEqual(['0', '1', '2']);
    expect(v2).toMatchObject({ version: 2, status: 'promoted', labels: ['0', '1'], head: 'centroid' }); // the head kept
    expect(v2.metrics.currentVersion).toBeNull(); // not compared with v1, which knew person 2
    const latest = await device.request('GET', '/v1/models/user:u1/latest');
    expect(latest.headers.get('x-fedex-model-version')).toBe('2');
  }, 180_000);
});
