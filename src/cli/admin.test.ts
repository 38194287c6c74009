import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../server/server.js';
import { run } from './testing/features.js';

let server: RunningServer;
let dir: string;
/** Connection flags of the test server; the admin key comes from the data folder's admin-key file. */
let conn: string[];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'fedex-admin-'));
  server = await startServer({
    port: 0,
    dataDir: dir,
    workers: 0,
    durability: 'normal',
    retrainAfterLabelled: 0,
  });
  conn = ['--server', server.url, '--data-dir', dir];
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A port nothing listens on. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('fedex users', () => {
  it('adds users and lists them in a table and as JSON', async () => {
    // Execute
    const added = await run(['users', 'add', 'Ann Example', '--id', 'ann', ...conn]);
    const addedJson = await run(['users', 'add', 'Bob', '--json', ...conn]);
    const table = await run(['users', ...conn]);
    const json = await run(['users', 'list', '--json', ...conn]);

    // Assert
    expect(added).toMatchObject({ code: 0, stdout: 'created user ann (Ann Example)\n' });
    expect(addedJson.code).toBe(0);
    const bobId = (JSON.parse(addedJson.stdout) as { user: { id: string } }).user.id;
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+DEVICES\s+SAMPLES/);
    expect(lines.some((l) => l.startsWith('ann ') && l.includes('Ann Example'))).toBe(true);
    const users = (JSON.parse(json.stdout) as { users: { id: string }[] }).users.map((u) => u.id);
    expect(users).toEqual(expect.arrayContaining(['ann', bobId]));
  });

  it('makes an enrollment token a phone can enroll with', async () => {
    // Prepare
    await run(['users', 'add', 'Cy', '--id', 'cy', ...conn]);

    // Execute
    const r = await run(['users', 'token', 'cy', '--uses', '2', '--ttl-hours', '1', '--json', ...conn]);
    const { enrollmentToken } = JSON.parse(r.stdout) as { enrollmentToken: string };
    const enrolled = await fetch(`${server.url}/v1/devices`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'cy-phone', enrollmentToken }),
    });

    // Assert
    expect(r.code).toBe(0);
    expect(enrolled.status).toBe(201);
    expect((await server.store.listDevices('cy')).map((d) => d.name)).toEqual(['cy-phone']);
  });

  it('enrolls a device and prints its token once', async () => {
    // Prepare
    await run(['users', 'add', 'Dee', '--id', 'dee', ...conn]);

    // Execute
    const r = await run(['users', 'enroll', 'dee', '--name', 'dee-phone', ...conn]);
    const token = /device token \(shown once\): (\S+)/.exec(r.stdout)?.[1];
    const me = await fetch(`${server.url}/v1/me`, { headers: { authorization: `Bearer ${token}` } });

    // Assert
    expect(r.code).toBe(0);
    expect(me.status).toBe(200);
    expect(((await me.json()) as { device: { userId: string } }).device.userId).toBe('dee');
  });

  it('rejects a missing device name and an unknown subcommand with exit 2', async () => {
    // Execute
    const noName = await run(['users', 'enroll', 'dee', ...conn]);
    const unknown = await run(['users', 'remove', 'dee', ...conn]);

    // Assert
    expect(noName.code).toBe(2);
    expect(noName.stderr).toContain('--name is required');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown subcommand "remove"');
  });
});

describe('fedex jobs', () => {
  it('queues a user training that then shows in the job list and in jobs show', async () => {
    // Prepare
    await run(['users', 'add', 'Eve', '--id', 'eve', ...conn]);

    // Execute
    const queued = await run(['jobs', 'train', '--user', 'eve', '--head', 'linear', ...conn]);
    const again = await run(['jobs', 'train', '--user', 'eve', ...conn]);
    const list = await run(['jobs', '--scope', 'user:eve', ...conn]);
    const id = /queued job (\d+)/.exec(queued.stdout)?.[1];
    const show = await run(['jobs', 'show', String(id), '--json', ...conn]);

    // Assert
    expect(queued.code).toBe(0);
    expect(id).toBeDefined();
    expect(again.stdout).toContain('already queued');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^\\s*${id}\\s+user:eve\\s+manual\\s+queued`, 'm'));
    const job = (JSON.parse(show.stdout) as { job: { id: number; config: { head: string } } }).job;
    expect(job).toMatchObject({ id: Number(id), config: { head: 'linear' } });
  });

  it('waits for a job with --wait until it is done', async () => {
    // Prepare: no workers here, so the test plays the worker.
    await run(['users', 'add', 'Fay', '--id', 'fay', ...conn]);
    const playWorker = (async () => {
      for (;;) {
        const job = (await server.store.listJobs({ scope: 'user:fay', status: 'queued' }))[0];
        if (job) {
          let claimed = (await server.store.claimJob())!;
          while (claimed.scope !== 'user:fay') claimed = (await server.store.claimJob())!; // earlier tests' jobs
          await server.store.updateJobProgress(claimed.id, 0.5, 'epoch 5');
          await new Promise((r) => setTimeout(r, 300));
          await server.store.completeJob(claimed.id, { result: { note: 'fake' } });
          return claimed.id;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    // Execute
    const r = await run(['jobs', 'train', '--user', 'fay', '--wait', '--json', ...conn]);
    const id = await playWorker;

    // Assert
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ job: { id, status: 'done' }, created: true });
    expect(r.stderr).toContain(`job ${id}`);
  }, 20_000);

  it('exits 1 naming JOB_FAILED when the awaited job fails', async () => {
    // Prepare
    await run(['users', 'add', 'Hal', '--id', 'hal', ...conn]);
    const playWorker = (async () => {
      for (;;) {
        if ((await server.store.listJobs({ scope: 'user:hal', status: 'queued' })).length > 0) {
          let claimed = (await server.store.claimJob())!;
          while (claimed.scope !== 'user:hal') claimed = (await server.store.claimJob())!;
          await server.store.failJob(claimed.id, 'not enough labelled samples', false);
          return claimed.id;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    // Execute
    const r = await run(['jobs', 'train', '--user', 'hal', '--wait', ...conn]);
    const id = await playWorker;

    // Assert
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`fedex jobs: job ${id} failed: not enough labelled samples [JOB_FAILED]`);
  }, 20_000);

  it('needs exactly one of --user and --global', async () => {
    // Execute
    const none = await run(['jobs', 'train', ...conn]);
    const both = await run(['jobs', 'train', '--user', 'ann', '--global', ...conn]);
    const badStatus = await run(['jobs', '--status', 'sleeping', ...conn]);

    // Assert
    expect(none.code).toBe(2);
    expect(both.code).toBe(2);
    expect(badStatus.code).toBe(2);
  });

  it('reports an unknown job as NOT_FOUND with exit 1', async () => {
    // Execute
    const r = await run(['jobs', 'show', '999999', ...conn]);

    // Assert
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('fedex jobs: no job 999999 [NOT_FOUND]\n');
  });
});

describe('fedex models', () => {
  it('lists no models, then the versions the store holds', async () => {
    // Prepare
    await run(['users', 'add', 'Gus', '--id', 'gus', ...conn]);

    // Execute
    const empty = await run(['models', '--scope', 'user:gus', ...conn]);
    const specKey = await server.store.registerSpec({
      backboneId: 'test-net',
      backboneVersion: '1',
      split: 'embedding',
      shape: [8],
    });
    await server.store.insertModel({
      scope: 'user:gus',
      specKey,
      head: 'linear',
      config: {},
      metrics: { heldOutAccuracy: 0.875 },
      labels: ['0', '1'],
      weights: new Uint8Array([1, 2, 3, 4]),
      status: 'promoted',
    });
    const table = await run(['models', '--scope', 'user:gus', ...conn]);
    const json = await run(['models', '--json', '--limit', '5', ...conn]);

    // Assert
    expect(empty).toMatchObject({ code: 0, stdout: 'no models for user:gus yet\n' });
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^user:gus\s+v1\s+promoted\s+linear\s+\S+\s+0\.875\s+4 B/m);
    const models = (JSON.parse(json.stdout) as { models: { scope: string; version: number }[] }).models;
    expect(models).toContainEqual(expect.objectContaining({ scope: 'user:gus', version: 1 }));
  });

  it('rejects a malformed scope with exit 2', async () => {
    const r = await run(['models', '--scope', 'everyone', ...conn]);
    expect(r.code).toBe(2);
  });
});

describe('admin command errors', () => {
  it('names AUTH_INVALID in one line when the admin key is wrong', async () => {
    // Execute
    const r = await run(['users', '--server', server.url, '--admin-key', 'fxa_not-the-right-key-at-all']);

    // Assert
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^fedex users: .*\[AUTH_INVALID\]\n$/);
  });

  it('says UNAVAILABLE and how to start a server when none listens', async () => {
    // Prepare
    const url = `http://127.0.0.1:${await freePort()}`;

    // Execute
    const r = await run(['jobs', '--server', url, '--admin-key', 'fxa_whatever-key-0123456789']);

    // Assert
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `fedex jobs: no FedEx server at ${url} (start one with fedex serve) [UNAVAILABLE]\n`,
    );
  });

  it('explains where it looked when no admin key is found', async () => {
    // Prepare
    const empty = mkdtempSync(path.join(tmpdir(), 'fedex-nokey-'));
    const saved = process.env.FEDEX_ADMIN_KEY;
    delete process.env.FEDEX_ADMIN_KEY;

    // Execute
    const r = await run(['users', '--server', server.url, '--data-dir', empty]);
    if (saved !== undefined) process.env.FEDEX_ADMIN_KEY = saved;
    rmSync(empty, { recursive: true, force: true });

    // Assert
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[AUTH_REQUIRED]');
    expect(r.stderr).toContain(path.join(empty, 'admin-key'));
  });
});
