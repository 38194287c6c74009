/**
 * Scale-out, end to end: two `fedex serve --database postgres://…` processes and two `fedex worker`
 * processes on one PostgreSQL; 30 devices enroll, upload, label and pull through both API
 * processes while one worker is SIGKILLed holding a job and one API process is SIGKILLed and
 * replaced. Every acknowledged batch is stored once, every job done once, every model the same from
 * every process. The big run (200 devices, worker scaling) is `npm run bench -- --only scale`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { postgresTestUrl, storeSkipReason } from './store/testing.js';
import { runScaleScenario } from './testing/scale.js';

const skip = await storeSkipReason('postgres');
const schema = `fedex_scale_${randomBytes(4).toString('hex')}`;
const dataDir = mkdtempSync(path.join(tmpdir(), 'fedex-scale-'));

afterAll(async () => {
  rmSync(dataDir, { recursive: true, force: true });
  if (skip !== undefined) return;
  const client = new pg.Client({ connectionString: postgresTestUrl() });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
});

describe.skipIf(skip !== undefined)('scale-out on PostgreSQL', () => {
  it('keeps every acknowledged batch once and trains every job once through kills and restarts', async () => {
    const url = new URL(postgresTestUrl());
    url.searchParams.set('schema', schema);
    const r = await runScaleScenario({
      database: url.toString(),
      dataDir,
      apis: 2,
      workers: 2,
      devices: 30,
      spec: { backboneId: 'test-net', backboneVersion: '1', split: 'embedding', shape: [16] },
      killWorker: true,
      restartApi: true,
      leaseSeconds: 2,
      concurrency: 8,
      timeoutMs: 150_000,
      log: (l) => console.log(l),
    });
    console.log(`scale: ${JSON.stringify(r)}`);
    expect(r.batchesAcknowledged).toBe(60);
    expect(r.badBatches).toEqual([]);
    expect(r.badSampleCounts).toEqual([]);
    expect(r.duplicateModelJobs).toEqual([]);
    expect(r.jobsFailed).toBe(0);
    expect(r.jobsDone).toBeGreaterThanOrEqual(30);
    expect(r.pullMismatches).toEqual([]);
    expect(r.apiRestarted).toBe(true);
    // The killed worker's job was taken over after its lease ran out and finished once.
    expect(r.killedJob?.status).toBe('done');
    expect(r.killedJob?.attempts).toBe(2);
  }, 240_000);
});
