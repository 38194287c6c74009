/**
 * The job runner's limits against one user holding a worker: a job past the wall-time limit is
 * stopped and failed for good, a running job can be cancelled (nothing of it is stored), and a job
 * reads at most `maxJobSamples` samples. Each time the worker is free for the next user's job.
 * And the lease: a running job is held by heartbeats, and a cancellation made by another process
 * (only in the store) stops it at the next heartbeat.
 * Real worker threads training with tfjs (WASM) on a temporary SQLite file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SqliteStore } from '../store/sqlite.js';
import type { Job } from '../store/types.js';
import { JobRunner } from './runner.js';
import { seedUser, waitFor } from './test-data.js';

const FAST = { epochs: 20, learningRate: 0.01, patience: 0 };
/** Far more epochs than the limit lets run (the HTTP route caps epochs; the runner's clock is the backstop). */
const ENDLESS = { epochs: 100_000, learningRate: 0.001, patience: 0, validationSplit: 0 };
const TIMEOUT_MS = 3000;

let dir: string;
let store: SqliteStore;
let runner: JobRunner;

const jobIn =
  (id: number, ...status: Job['status'][]) =>
  async () => {
    const job = (await store.getJob(id))!;
    return status.includes(job.status) ? job : undefined;
  };

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'fedex-limits-'));
  const dbFile = path.join(dir, 'fedex.db');
  store = new SqliteStore(dbFile, { synchronous: 'normal' });
  await seedUser(store, 'hog', { people: 4, perPerson: 10, seed: 1 });
  await seedUser(store, 'next', { people: 3, perPerson: 10, seed: 2 });
  runner = new JobRunner({
    store,
    database: dbFile,
    workers: 1,
    defaults: FAST,
    jobTimeoutMs: TIMEOUT_MS,
    maxJobSamples: 24,
  });
  await runner.start();
});

afterAll(async () => {
  await runner?.stop();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('JobRunner limits', () => {
  it('stops a job past the wall-time limit, fails it for good, and runs the next user on a fresh worker', async () => {
    // Prepare
    const { job: hog } = await store.enqueueJob('user:hog', 'manual', ENDLESS);
    const { job: next } = await store.enqueueJob('user:next', 'manual');

    // Execute
    runner.kick();
    const failed = await waitFor('the endless job to be stopped', jobIn(hog.id, 'failed', 'done'));
    const done = await waitFor('the next job', jobIn(next.id, 'done', 'failed'));

    // Assert
    expect(failed.status).toBe('failed');
    expect(failed.attempts).toBe(1); // not retried: it would only run as long again
    expect(failed.error).toMatch(/JOB_FAILED: stopped after \d+ s/);
    expect(await store.latestModelInfo('user:hog')).toBeUndefined();
    expect(done.status).toBe('done');
    expect(runner.stats().workers).toBe(1);
  });

  it('cancels a running job: its worker is replaced, nothing is stored, and the queue goes on', async () => {
    // Prepare
    const { job: hog } = await store.enqueueJob('user:hog', 'manual', ENDLESS);
    runner.kick();
    await waitFor('the job to run', jobIn(hog.id, 'running'));

    // Execute
    const { wasRunning } = await store.cancelJob(hog.id, 'the admin');
    const stopped = runner.cancel(hog.id);
    const { job: next } = await store.enqueueJob('user:next', 'manual');
    runner.kick();
    const done = await waitFor('the next job', jobIn(next.id, 'done', 'failed'));

    // Assert
    expect(wasRunning).toBe(true);
    expect(stopped).toBe(true);
    expect(await store.getJob(hog.id)).toMatchObject({
      status: 'cancelled',
      message: 'cancelled by the admin',
    });
    expect(await store.latestModelInfo('user:hog')).toBeUndefined();
    expect(done.status).toBe('done');
  });

  it('reads at most maxJobSamples samples (the newest) for one job', async () => {
    // Prepare: hog has 40 labelled samples; the runner reads 24
    const { job } = await store.enqueueJob('user:hog', 'manual');

    // Execute
    runner.kick();
    const done = await waitFor('the job', jobIn(job.id, 'done', 'failed'));

    // Assert
    expect(done.status).toBe('done');
    const r = done.result as { trainSamples: number; heldOut: number };
    expect(r.trainSamples + r.heldOut).toBe(24);
  });
});

describe('JobRunner leases: what another process does to its jobs', () => {
  let leaseDir: string;
  let db: SqliteStore;
  let leased: JobRunner;
  const jobOf =
    (id: number, ...status: Job['status'][]) =>
    async () => {
      const job = (await db.getJob(id))!;
      return status.includes(job.status) ? job : undefined;
    };

  beforeAll(async () => {
    leaseDir = mkdtempSync(path.join(os.tmpdir(), 'fedex-lease-'));
    const file = path.join(leaseDir, 'fedex.db');
    db = new SqliteStore(file, { synchronous: 'normal' });
    await seedUser(db, 'hog', { people: 4, perPerson: 10, seed: 1 });
    await seedUser(db, 'next', { people: 3, perPerson: 10, seed: 2 });
    // A 600 ms lease: renewed every 200 ms while a job trains.
    leased = new JobRunner({ store: db, database: file, workers: 1, defaults: FAST, leaseMs: 600 });
    await leased.start();
  });

  afterAll(async () => {
    await leased?.stop();
    await db?.close();
    rmSync(leaseDir, { recursive: true, force: true });
  });

  it('holds its running job by heartbeats, and stops it when another process cancels it in the store', async () => {
    // Prepare
    const { job: hog } = await db.enqueueJob('user:hog', 'manual', ENDLESS);
    leased.kick();
    const running = await waitFor('the job to run', jobOf(hog.id, 'running'));
    expect(running.leaseOwner).toBe(leased.lease.owner);
    const firstLease = running.leaseUntil!;
    await new Promise((r) => setTimeout(r, 700)); // past the first lease: renewed, not lost
    const renewed = (await db.getJob(hog.id))!;
    expect(renewed.status).toBe('running');
    expect(renewed.leaseUntil!).toBeGreaterThan(firstLease);

    // Execute: an API process cancels it; nobody tells this runner but the store.
    await db.cancelJob(hog.id, 'another process');
    const { job: next } = await db.enqueueJob('user:next', 'manual');
    leased.kick();
    const done = await waitFor('the next job on a fresh worker', jobOf(next.id, 'done', 'failed'), 30_000);

    // Assert
    expect(done.status).toBe('done');
    expect(await db.getJob(hog.id)).toMatchObject({ status: 'cancelled', leaseOwner: null });
    expect(await db.latestModelInfo('user:hog')).toBeUndefined();
    expect(leased.stats().workers).toBe(1);
  }, 60_000);
});
