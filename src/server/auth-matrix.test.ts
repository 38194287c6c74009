/**
 * Issue 10 item 4, isolation and auth: every route of the OpenAPI document × every kind of caller
 * (no token, another user's device, a revoked token, the admin key, the right device). Only the
 * right party gets through; the matrix fails when the document has a route without a row. Also:
 * token revocation, closed enrollment and the timing-safe admin key comparison.
 */
import { timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWeights } from '../core/codec.js';
import { adminKeyMatcher } from './app.js';
import { resolveServerConfig } from './config.js';
import { MIGRATIONS } from './store/schema.js';
import { SqliteCore } from './store/sqlite.js';
import {
  encodeBatch,
  startTestApi,
  syntheticBatch,
  TEST_ADMIN_KEY,
  TEST_SPEC,
  type ApiResponse,
  type Caller,
  type TestApi,
} from './testing/harness.js';

type Err = { error: { code: string; message: string } };
type CallerKind = 'none' | 'other' | 'revoked' | 'admin' | 'right';
const CALLERS: readonly CallerKind[] = ['none', 'other', 'revoked', 'admin', 'right'];

/** One route's row: how to call it, and who besides the right device may get through. */
interface Row {
  /** `GET /v1/users/{userId}`, as in the OpenAPI document. */
  route: string;
  /** The concrete request (may create what it needs first, e.g. a device to revoke). */
  request(): Promise<{ url: string; body?: unknown; headers?: Record<string, string> }>;
  /** Who passes: `device` = the right device only; `admin` = the admin only; `both`; `anyone`. */
  pass: 'device' | 'admin' | 'both' | 'anyone';
}

const AUTH_CODES = new Set(['AUTH_REQUIRED', 'AUTH_INVALID', 'FORBIDDEN']);

describe('server API: auth matrix (every route × every caller)', () => {
  let api: TestApi;
  let callers: Record<CallerKind, Caller>;
  let rows: Row[];

  beforeAll(async () => {
    api = await startTestApi();
    const alice = await api.userWithDevice('alice');
    const bob = await api.userWithDevice('bob');
    // A sibling of Alice's device, revoked by Alice's device (the route under test).
    const revoked = await api.admin.request<{ device: { id: string }; token: string }>(
      'POST',
      '/v1/devices',
      {
        name: 'lost phone',
        userId: 'alice',
      },
    );
    const del = await alice.device.request('DELETE', `/v1/devices/${revoked.json.device.id}`);
    expect(del.status).toBe(200);
    callers = {
      none: api.anonymous,
      other: bob.device,
      revoked: api.as(revoked.json.token),
      admin: api.admin,
      right: alice.device,
    };

    await alice.device.request(
      'POST',
      '/v1/users/alice/batches',
      encodeBatch(syntheticBatch({ people: 2, perPerson: 3 })),
      {
        'idempotency-key': 'seed',
      },
    );
    const model = await api.store.insertModel({
      scope: 'user:alice',
      specKey: api.store.specKeyFor(TEST_SPEC, 'alice'),
      head: 'linear',
      config: {},
      metrics: {},
      labels: ['0'],
      weights: encodeWeights({
        metadata: {},
        tensors: [{ name: 'w', shape: [1], values: new Float32Array(1) }],
      }),
      status: 'promoted',
    });
    const job = (await api.admin.request<{ job: { id: number } }>('POST', '/v1/users/alice/train', {})).json
      .job.id;
    const sampleId = (await api.store.listSamples('alice'))[0].id;
    let n = 0;
    const bytes = encodeBatch(syntheticBatch({ people: 1, perPerson: 2, prefix: 'm' }));
    const fixed = (url: string, body?: unknown, headers?: Record<string, string>) => async () => ({
      url,
      body,
      headers,
    });

    rows = [
      { route: 'GET /healthz', pass: 'anyone', request: fixed('/healthz') },
      { route: 'GET /metrics', pass: 'anyone', request: fixed('/metrics') },
      {
        route: 'POST /v1/users',
        pass: 'admin',
        request: async () => ({ url: '/v1/users', body: { name: 'new' } }),
      },
      { route: 'GET /v1/users', pass: 'admin', request: fixed('/v1/users') },
      { route: 'GET /v1/users/{userId}', pass: 'both', request: fixed('/v1/users/alice') },
      {
        route: 'POST /v1/users/{userId}/enrollment-tokens',
        pass: 'admin',
        request: fixed('/v1/users/alice/enrollment-tokens', {}),
      },
      {
        route: 'POST /v1/devices',
        pass: 'admin',
        request: fixed('/v1/devices', { name: 'x', userId: 'alice' }),
      },
      {
        route: 'DELETE /v1/devices/{deviceId}',
        pass: 'both',
        // A fresh sibling of Alice's device for every call, so each caller has something to revoke.
        request: async () => {
          const d = await api.store.enrollDevice('alice', `victim ${++n}`);
          return { url: `/v1/devices/${d.device.id}` };
        },
      },
      { route: 'GET /v1/me', pass: 'device', request: fixed('/v1/me') },
      {
        route: 'POST /v1/users/{userId}/batches',
        pass: 'device',
        request: async () => ({
          url: '/v1/users/alice/batches',
          body: bytes,
          headers: { 'idempotency-key': `k${++n}` },
        }),
      },
      { route: 'GET /v1/users/{userId}/samples', pass: 'both', request: fixed('/v1/users/alice/samples') },
      {
        route: 'POST /v1/users/{userId}/samples/relabel',
        pass: 'both',
        request: fixed('/v1/users/alice/samples/relabel', { sampleIds: [sampleId], label: 1 }),
      },
      {
        // An id that names nothing: the allowed callers get 200 (`missing: 1`) and nothing changes.
        route: 'POST /v1/users/{userId}/samples/delete',
        pass: 'both',
        request: fixed('/v1/users/alice/samples/delete', { clientIds: ['no-such-sample'] }),
      },
      { route: 'GET /v1/users/{userId}/labels', pass: 'both', request: fixed('/v1/users/alice/labels') },
      {
        route: 'PUT /v1/users/{userId}/labels',
        pass: 'both',
        request: fixed('/v1/users/alice/labels', { labels: [{ id: 0, name: 'x' }] }),
      },
      { route: 'POST /v1/users/{userId}/train', pass: 'both', request: fixed('/v1/users/alice/train', {}) },
      { route: 'POST /v1/global/train', pass: 'admin', request: fixed('/v1/global/train', {}) },
      { route: 'GET /v1/jobs/{jobId}', pass: 'both', request: fixed(`/v1/jobs/${job}`) },
      { route: 'GET /v1/jobs', pass: 'both', request: fixed('/v1/jobs?scope=user:alice') },
      {
        route: 'DELETE /v1/jobs/{jobId}',
        pass: 'both',
        // Alice's queued job (a new one after each cancel), so each caller has one to cancel.
        request: async () => ({
          url: `/v1/jobs/${(await api.store.enqueueJob('user:alice', 'manual')).job.id}`,
        }),
      },
      { route: 'GET /v1/models', pass: 'admin', request: fixed('/v1/models') },
      { route: 'GET /v1/models/{scope}', pass: 'both', request: fixed('/v1/models/user:alice') },
      {
        route: 'GET /v1/models/{scope}/latest',
        pass: 'both',
        request: fixed('/v1/models/user:alice/latest'),
      },
      {
        route: 'GET /v1/models/{scope}/versions/{version}',
        pass: 'both',
        request: fixed(`/v1/models/user:alice/versions/${model.version}`),
      },
      // A device's own view of the round: Bob's device gets Bob's view (checked below), never Alice's.
      { route: 'GET /v1/rounds/current', pass: 'device', request: fixed('/v1/rounds/current') },
      // No round is open: the right device gets a non-auth 404; nobody gets a 2xx.
      { route: 'GET /v1/rounds/{round}/weights', pass: 'device', request: fixed('/v1/rounds/1/weights') },
      {
        route: 'POST /v1/rounds/{round}/updates',
        pass: 'device',
        request: fixed('/v1/rounds/1/updates', bytes),
      },
    ];
  });

  afterAll(async () => {
    await api.close();
  });

  it('has a row for every route of the OpenAPI document, and only routes of it', async () => {
    const doc = (
      await api.anonymous.request<{ paths: Record<string, Record<string, unknown>> }>('GET', '/openapi.json')
    ).json;
    const documented = Object.entries(doc.paths).flatMap(([p, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${p}`),
    );
    const covered = rows.map((r) => r.route);
    for (const route of documented) expect(covered, `no matrix row for ${route}`).toContain(route);
    expect([...covered].sort()).toEqual([...documented].sort());
    process.stdout.write(
      `auth matrix: ${documented.length} routes × ${CALLERS.length} callers = ${documented.length * CALLERS.length} cells\n`,
    );
  });

  it('lets only the right party through on every route', async () => {
    const failures: string[] = [];
    let cells = 0;
    for (const row of rows) {
      const method = row.route.split(' ')[0];
      for (const who of CALLERS) {
        const { url, body, headers } = await row.request();
        const r: ApiResponse<Err> = await callers[who].request<Err>(method, url, body, headers);
        cells++;
        const code = r.json?.error?.code;
        const allowed =
          row.pass === 'anyone'
            ? who !== 'revoked'
            : who === 'right'
              ? row.pass !== 'admin'
              : who === 'admin'
                ? row.pass === 'admin' || row.pass === 'both'
                : who === 'other'
                  ? row.route === 'GET /v1/me' || row.route === 'GET /v1/rounds/current' // its own view
                  : false;
        const cell = `${row.route} as ${who}: ${r.status} ${code ?? ''}`;
        if (who === 'revoked') {
          // A revoked token is dead everywhere, even on the open routes.
          if (r.status !== 401 || code !== 'AUTH_INVALID') failures.push(`${cell} (want 401 AUTH_INVALID)`);
        } else if (allowed) {
          const through =
            r.status < 400 || (r.status < 500 && !AUTH_CODES.has(code ?? '') && r.status !== 401);
          if (!through) failures.push(`${cell} (want through)`);
        } else if (![401, 403, 404].includes(r.status)) {
          failures.push(`${cell} (want 401/403/404)`);
        } else if (who === 'none' && r.status !== 401) {
          failures.push(`${cell} (no token: want 401)`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(cells).toBe(rows.length * CALLERS.length);
  });

  it("gives another user's device its own view of /v1/me, never Alice's", async () => {
    const me = await callers.other.request<{ device: { userId: string } }>('GET', '/v1/me');
    expect(me.json.device.userId).toBe('bob');
  });
});

describe('server API: token revocation', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(async () => {
    await api.close();
  });

  it('revokes a device: its token gets 401 AUTH_INVALID, its siblings keep working', async () => {
    const a = await api.userWithDevice('carol');
    const sibling = await api.store.enrollDevice('carol', 'tablet');
    const del = await a.device.request<{ device: { id: string; revokedAt: string } }>(
      'DELETE',
      `/v1/devices/${sibling.device.id}`,
    );
    expect(del.status).toBe(200);
    expect(del.json.device.id).toBe(sibling.device.id);
    expect(Date.parse(del.json.device.revokedAt)).not.toBeNaN();
    const dead = await api.as(sibling.token).request<Err>('GET', '/v1/me');
    expect([dead.status, dead.json.error.code]).toEqual([401, 'AUTH_INVALID']);
    expect((await a.device.request('GET', '/v1/me')).status).toBe(200);
    expect(await api.store.deviceByToken(sibling.token)).toBeUndefined();
    expect((await api.store.listDevices('carol')).map((d) => d.id)).toEqual([a.deviceId]);
    // A device may revoke itself; afterwards it is locked out too.
    expect((await a.device.request('DELETE', `/v1/devices/${a.deviceId}`)).status).toBe(200);
    expect((await a.device.request('GET', '/v1/me')).status).toBe(401);
  });

  it("hides another user's device (404) and leaves it working", async () => {
    const a = await api.userWithDevice('dave');
    const b = await api.userWithDevice('erin');
    const r = await b.device.request<Err>('DELETE', `/v1/devices/${a.deviceId}`);
    expect([r.status, r.json.error.code]).toEqual([404, 'NOT_FOUND']);
    expect((await a.device.request('GET', '/v1/me')).status).toBe(200);
    expect((await api.admin.request('DELETE', '/v1/devices/nosuchdevice')).status).toBe(404);
    expect((await api.admin.request('DELETE', `/v1/devices/${a.deviceId}`)).status).toBe(200);
    expect((await a.device.request('GET', '/v1/me')).status).toBe(401);
  });

  it('migrates a version-1 database in place (migration 2 adds devices.revoked_at)', () => {
    const file = path.join(api.dir, 'v1.db');
    const db = new Database(file);
    db.exec(MIGRATIONS[0]);
    db.pragma('user_version = 1');
    db.prepare("INSERT INTO users (id, name, created_at) VALUES ('u', 'u', 0)").run();
    db.close();
    const store = new SqliteCore(file);
    try {
      expect(store.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      const e = store.enrollDevice('u', 'phone');
      expect(store.deviceByToken(e.token)?.id).toBe(e.device.id);
      expect(store.revokeDevice(e.device.id)).toBe(true);
      expect(store.deviceByToken(e.token)).toBeUndefined();
      expect(store.getDevice(e.device.id)?.revokedAt).toBeTypeOf('number');
      expect(store.revokeDevice('missing')).toBe(false);
    } finally {
      store.close();
    }
  });
});

describe('server API: closed enrollment', () => {
  it('refuses enrollment tokens with 403 ENROLLMENT_CLOSED; the admin still enrolls by userId', async () => {
    const api = await startTestApi({ enrollment: 'closed' });
    try {
      await api.admin.request('POST', '/v1/users', { name: 'f', id: 'frank' });
      const t = await api.admin.request<{ enrollmentToken: string }>(
        'POST',
        '/v1/users/frank/enrollment-tokens',
        {},
      );
      expect(t.status).toBe(201);
      const r = await api.anonymous.request<Err>('POST', '/v1/devices', {
        name: 'phone',
        enrollmentToken: t.json.enrollmentToken,
      });
      expect([r.status, r.json.error.code]).toEqual([403, 'ENROLLMENT_CLOSED']);
      expect(await api.store.listDevices('frank')).toHaveLength(0);
      const byAdmin = await api.admin.request('POST', '/v1/devices', { name: 'phone', userId: 'frank' });
      expect(byAdmin.status).toBe(201);
    } finally {
      await api.close();
    }
  });

  it('is open by default and validates the setting', async () => {
    expect(resolveServerConfig({ dataDir: '/tmp/x' }).enrollment).toBe('open');
    expect(() => resolveServerConfig({ enrollment: 'sometimes' as never })).toThrow(/enrollment/);
    const api = await startTestApi();
    try {
      await api.admin.request('POST', '/v1/users', { name: 'g', id: 'gina' });
      const t = await api.admin.request<{ enrollmentToken: string }>(
        'POST',
        '/v1/users/gina/enrollment-tokens',
        {},
      );
      const r = await api.anonymous.request('POST', '/v1/devices', {
        name: 'p',
        enrollmentToken: t.json.enrollmentToken,
      });
      expect(r.status).toBe(201);
    } finally {
      await api.close();
    }
  });
});

describe('server API: admin key comparison', () => {
  it('is timing-safe: digests of equal length are compared, so keys of any length never throw', async () => {
    const matches = adminKeyMatcher(TEST_ADMIN_KEY);
    // timingSafeEqual itself throws on unequal lengths; the matcher hashes both sides first.
    expect(() => timingSafeEqual(Buffer.from('a'), Buffer.from('ab'))).toThrow();
    for (const token of ['', 'x', TEST_ADMIN_KEY.slice(0, -1), `${TEST_ADMIN_KEY}x`, 'k'.repeat(10_000)]) {
      expect(() => matches(token)).not.toThrow();
      expect(matches(token)).toBe(false);
    }
    expect(matches(TEST_ADMIN_KEY)).toBe(true);
    // Over HTTP: wrong keys of any length are a 401, never a 500.
    const api = await startTestApi();
    try {
      for (const token of ['x', TEST_ADMIN_KEY.slice(0, -1), `${TEST_ADMIN_KEY}x`, 'k'.repeat(4000)]) {
        const r = await api.as(token).request<Err>('GET', '/v1/users');
        expect([r.status, r.json.error.code]).toEqual([401, 'AUTH_INVALID']);
      }
    } finally {
      await api.close();
    }
  });
});
