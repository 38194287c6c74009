/**
 * The server against a PostgreSQL that goes away: `fedex serve` with an unreachable or wrong
 * database says so in one line; a running server whose database disappears answers 503 with a code
 * (never 500) and works again by itself when the database is back. The database "goes away" by
 * closing a TCP proxy in front of the shared PostgreSQL service, so other tests keep theirs.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './server.js';
import { postgresTestUrl, storeSkipReason } from './store/testing.js';
import { caller, encodeBatch, syntheticBatch, TEST_ADMIN_KEY } from './testing/harness.js';

const BIN = fileURLToPath(new URL('../../bin/fedex.js', import.meta.url));
const skip = await storeSkipReason('postgres');

/** A TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones refused) and restored. */
class CuttableProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(
    private readonly host: string,
    private readonly targetPort: number,
  ) {}

  async up(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
  }
}

function runFedex(args: string[], dataDir: string): { code: number | null; stderr: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [BIN, ...args, '--data-dir', dataDir], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, FEDEX_ADMIN_KEY: '' },
  });
  return { code: r.status, stderr: r.stderr, ms: Date.now() - t0 };
}

describe('fedex serve --database with a database it cannot use', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fedex-outage-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('says in one line that nothing listens at the address, and exits 1', () => {
    const r = runFedex(
      ['serve', '--port', '0', '--database', 'postgres://fedex:secret@127.0.0.1:9/fedex'],
      dir,
    );
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^fedex serve: cannot connect to PostgreSQL at postgres:\/\/fedex:\*\*\*@127\.0\.0\.1:9\/fedex/,
    );
    expect(lines[0]).toMatch(/\[UNAVAILABLE\]$/);
    expect(r.stderr).not.toContain('secret');
  });

  it('refuses a URL that is not postgres:// as a usage error', () => {
    const r = runFedex(['serve', '--port', '0', '--database', 'mysql://x@127.0.0.1/db'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /--database takes a postgres:\/\/user@host:port\/database URL.*\[BAD_ARGUMENT\]/,
    );
  });

  it.skipIf(skip !== undefined)('names a database that does not exist, in one line', () => {
    const url = new URL(postgresTestUrl());
    url.pathname = '/fedex_no_such_database';
    const r = runFedex(['serve', '--port', '0', '--database', url.toString()], dir);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/fedex_no_such_database.*does not exist.*\[UNAVAILABLE\]/);
  });
});

describe.skipIf(skip !== undefined)('a running server whose PostgreSQL goes away and comes back', () => {
  const schema = `fedex_outage_${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'fedex-outage-'));
  const target = new URL(postgresTestUrl());
  const proxy = new CuttableProxy(target.hostname, Number(target.port || 5432));
  let server: RunningServer;

  beforeAll(async () => {
    await proxy.up();
    const url = new URL(postgresTestUrl());
    url.port = String(proxy.port);
    url.searchParams.set('schema', schema);
    server = await startServer({
      port: 0,
      dataDir: dir,
      database: url.toString(),
      workers: 0,
      adminKey: TEST_ADMIN_KEY,
      rateLimitPerSecond: 0,
    });
  });

  afterAll(async () => {
    await proxy.up();
    await server?.close();
    await proxy.down();
    const client = new pg.Client({ connectionString: postgresTestUrl() });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 503 UNAVAILABLE while it is away, loses nothing acknowledged, and recovers by itself', async () => {
    const admin = caller(server.url, TEST_ADMIN_KEY);
    expect((await admin.request('POST', '/v1/users', { name: 'ana', id: 'ana' })).status).toBe(201);
    const enrolled = await admin.request<{ token: string }>('POST', '/v1/devices', {
      name: 'phone',
      userId: 'ana',
    });
    const device = caller(server.url, enrolled.json.token);
    const upload = (id: string, seed: number) =>
      device.request(
        'POST',
        '/v1/users/ana/batches',
        encodeBatch(syntheticBatch({ people: 2, perPerson: 3, seed, prefix: id })),
        {
          'idempotency-key': id,
        },
      );
    expect((await upload('before', 1)).status).toBe(201);

    await proxy.down();
    for (const [what, res] of [
      ['me', await device.request('GET', '/v1/me')],
      ['upload', await upload('during', 2)],
      ['users', await admin.request('GET', '/v1/users')],
      ['healthz', await caller(server.url, null).request('GET', '/healthz')],
    ] as const) {
      expect(res.status, `${what}: ${JSON.stringify(res.json)}`).toBe(503);
      if (what !== 'healthz')
        expect((res.json as { error: { code: string } }).error.code, what).toBe('UNAVAILABLE');
    }
    expect(((await caller(server.url, null).request('GET', '/healthz')).json as { db: string }).db).not.toBe(
      'ok',
    );

    await proxy.up();
    // The pool reconnects on the next request: no restart, no operator.
    let me = await device.request('GET', '/v1/me');
    for (let i = 0; i < 50 && me.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      me = await device.request('GET', '/v1/me');
    }
    expect(me.status).toBe(200);
    // The upload refused during the outage was not half-stored: resent with its key, it is stored now.
    expect((await upload('during', 2)).status).toBe(201);
    expect((await upload('before', 1)).status).toBe(200); // the acknowledged one is still there, once
    expect(await server.store.countBatches('ana')).toBe(2);
    expect((await caller(server.url, null).request('GET', '/healthz')).status).toBe(200);
  }, 60_000);
});
