/**
 * Regression tests of the server's hardening against one user or an anonymous client (issue
 * "no single user or anonymous client can stall, block or poison it"): each test failed on the
 * server before the fix it names. Real HTTP on loopback over a temporary SQLite file; sockets are
 * raw `net` connections where a test must control exactly which bytes arrive when.
 */
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { specKey, type FeatureSpec } from '../core/types.js';
import { classKeys } from './jobs/train-task.js';
import { BY_IDS_SQL } from './store/sqlite.js';
import {
  encodeBatch,
  startTestApi,
  syntheticBatch,
  TEST_ADMIN_KEY,
  TEST_SPEC,
  type TestApi,
} from './testing/harness.js';

type Err = { error: { code: string; message: string } };

let api: TestApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

/** Every row count and SQLite's total_changes(), to show a rejected request changed nothing. */
function snapshot(a: TestApi): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of ['users', 'devices', 'samples', 'batches', 'specs', 'labels', 'jobs', 'models']) {
    out[t] = (a.store.db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n;
  }
  out.changes = (a.store.db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
  return out;
}

/**
 * Opens a socket, writes `head` (and nothing more), and resolves with what the server answered and
 * how long the socket stayed open, or `open: true` if it was still open after `waitMs`.
 */
function rawRequest(
  url: string,
  head: string,
  waitMs: number,
): Promise<{ answer: string; open: boolean; ms: number }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const t0 = Date.now();
    let answer = '';
    const socket = net.connect(Number(port), hostname, () => socket.write(head));
    socket.on('data', (d) => (answer += d.toString('latin1')));
    socket.on('error', () => {});
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ answer, open: true, ms: Date.now() - t0 });
    }, waitMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ answer, open: false, ms: Date.now() - t0 });
    });
  });
}

/** POSTs `text` as it is (not re-encoded) as application/json. */
async function postText(
  base: string,
  url: string,
  text: string,
  token?: string,
): Promise<{ status: number; json: Err }> {
  const res = await fetch(base + url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: text,
  });
  return { status: res.status, json: (await res.json()) as Err };
}

describe('relabel (1: one user blocked everyone)', () => {
  it('looks client ids up by index, in one statement, all or nothing, and caps ids per request', async () => {
    // Prepare
    api = await startTestApi();
    const a = await api.userWithDevice('alice');
    const batch = syntheticBatch({ people: 20, perPerson: 250, labelled: 0, prefix: 'c' }); // 5,000 samples
    expect(
      (
        await a.device.request('POST', '/v1/users/alice/batches', encodeBatch(batch), {
          'idempotency-key': 'b',
        })
      ).status,
    ).toBe(201);
    // Each by-ids statement walks the id list and looks every id up by rowid or index; none scans.
    const plans = Object.entries(BY_IDS_SQL).map(([name, sql]) => {
      const n = (sql.match(/\?/g) ?? []).length;
      const rows = api!.store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...Array<string>(n).fill('1')) as {
        detail: string;
      }[];
      return [name, rows.map((r) => r.detail).join(' | ')] as const;
    });
    const ids = batch.sampleIds.slice(0, 4000);
    const before = snapshot(api);

    // Execute
    const missing = await a.device.request<Err>('POST', '/v1/users/alice/samples/relabel', {
      clientIds: [...ids.slice(0, 100), 'no-such-photo'],
      label: 1,
    });
    const afterMissing = snapshot(api);
    const ok = await a.device.request<{ changed: number }>('POST', '/v1/users/alice/samples/relabel', {
      clientIds: ids,
      label: 3,
    });
    const tooMany = await a.device.request<Err>('POST', '/v1/users/alice/samples/relabel', {
      sampleIds: Array.from({ length: 6000 }, (_, i) => i + 1),
      clientIds: ids.slice(0, 4001 + 100).concat(Array.from({ length: 1000 }, (_, i) => `x${i}`)),
      label: 1,
    });

    // Assert: before, each client id was a scan of the user's rows (160 s for 10k ids of 50k samples)
    for (const [name, plan] of plans) {
      expect(plan, name).toMatch(
        /SEARCH samples USING (INTEGER PRIMARY KEY \(rowid=\?\)|(COVERING )?INDEX \w+ \(user_id=\? AND (spec_key=\? AND )?client_id=\?\))/,
      );
      expect(plan, name).not.toMatch(/SCAN samples|BLOOM/);
    }
    expect(missing.status).toBe(404);
    expect(missing.json.error.message).toContain('no-such-photo');
    expect(afterMissing).toEqual(before);
    expect(ok.status).toBe(200);
    expect(ok.json.changed).toBe(4000);
    expect((await api.store.listSamples('alice', { label: 3, limit: 1000 })).length).toBe(1000);
    expect(tooMany.status).toBe(400);
  });
});

describe('anonymous bodies (2: memory spent before auth)', () => {
  it('answers 401 to an anonymous upload before its body arrives', async () => {
    // Prepare
    api = await startTestApi();
    await api.userWithDevice('alice');
    // Headers promise 30 MB; only 1 KB follows. A server that reads the body first waits forever.
    const head =
      'POST /v1/users/alice/batches HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n' +
      `Idempotency-Key: a\r\nContent-Length: ${30 * 1024 * 1024}\r\n\r\n${'x'.repeat(1024)}`;

    // Execute
    const r = await rawRequest(api.url, head, 5000);

    // Assert
    expect(r.answer).toMatch(/^HTTP\/1\.1 401/);
    expect(r.answer).toContain('AUTH_REQUIRED');
  });

  it("admits at most 4 of one device's uploads in flight, refusing the 5th before its body", async () => {
    // Prepare: five uploads whose bodies never finish, so the first ones stay in flight
    api = await startTestApi({ requestTimeoutMs: 3000, headersTimeoutMs: 1000 });
    const a = await api.userWithDevice('alice');
    const other = await api.userWithDevice('bob');
    const head = (token: string, user: string, i: number) =>
      `POST /v1/users/${user}/batches HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n` +
      `Content-Type: application/octet-stream\r\nIdempotency-Key: k${i}\r\nContent-Length: 1000000\r\n\r\nFXFB`;

    // Execute
    const stuck = [0, 1, 2, 3].map((i) => rawRequest(api!.url, head(a.token, 'alice', i), 2000));
    await new Promise((r) => setTimeout(r, 300));
    const fifth = await rawRequest(api.url, head(a.token, 'alice', 4), 2000);
    const bobs = await other.device.request(
      'POST',
      '/v1/users/bob/batches',
      encodeBatch(syntheticBatch({ people: 2, perPerson: 2 })),
      {
        'idempotency-key': 'b',
      },
    );
    await Promise.all(stuck);

    // Assert
    expect(fifth.answer).toMatch(/^HTTP\/1\.1 429/);
    expect(fifth.answer).toContain('too many uploads in flight');
    expect(bobs.status).toBe(201); // another device is not held up
  });

  it('limits JSON bodies to 64 KB and 16 levels, with a typed 4xx and no change', async () => {
    // Prepare
    api = await startTestApi();
    const before = snapshot(api);
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;

    // Execute
    const big = await api.anonymous.request<Err>('POST', '/v1/devices', {
      name: 'x'.repeat(70 * 1024),
      enrollmentToken: 'fxe_00000000',
    });
    const nested = await postText(api.url, '/v1/devices', deep);
    const nestedAdmin = await postText(api.url, '/v1/users', `{"name":${deep}}`, TEST_ADMIN_KEY);

    // Assert
    expect(big.status).toBe(413);
    expect(big.json.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(nested.status).toBe(400);
    expect(nested.json.error.message).toMatch(/nests deeper than 16/);
    expect(nestedAdmin.status).toBe(400);
    expect(snapshot(api)).toEqual(before);
  });
});

describe('spec squatting (3: one user fixed a shape for everyone)', () => {
  it("takes registry specs' shapes from code and keeps other specs per user", async () => {
    // Prepare
    api = await startTestApi();
    const mallory = await api.userWithDevice('mallory');
    const alice = await api.userWithDevice('alice');
    const resnet = (shape: number[]): FeatureSpec => ({
      backboneId: 'faceapi-resnet',
      backboneVersion: '1.7.15',
      split: 'embedding',
      shape,
    });
    const upload = (who: typeof alice, spec: FeatureSpec, key: string) =>
      who.device.request<Err>(
        'POST',
        `/v1/users/${who.userId}/batches`,
        encodeBatch(syntheticBatch({ people: 2, perPerson: 2, spec })),
        { 'idempotency-key': key },
      );

    // Execute: Mallory registers the real backbone with a wrong shape, and an unknown one with [1].
    const squatKnown = await upload(mallory, resnet([1]), 'm1');
    const squatUnknown = await upload(mallory, { ...TEST_SPEC, shape: [1] }, 'm2');
    const aliceKnown = await upload(alice, resnet([128]), 'a1');
    const aliceUnknown = await upload(alice, TEST_SPEC, 'a2');

    // Assert
    expect(squatKnown.status).toBe(422);
    expect(squatKnown.json.error.message).toMatch(/produces shape \[128\]/);
    expect(squatUnknown.status).toBe(201);
    expect(aliceKnown.status).toBe(201);
    expect(aliceUnknown.status).toBe(201);
    expect(api.store.specKeyFor(TEST_SPEC, 'alice')).not.toBe(api.store.specKeyFor(TEST_SPEC, 'mallory'));
    expect(api.store.specKeyFor(resnet([128]), 'alice')).toBe(specKey(resnet([128])));
  });

  it('gives specs whose parts contain @ or / distinct keys', () => {
    const a = specKey({ backboneId: 'x@y', backboneVersion: 'z', split: 's' });
    const b = specKey({ backboneId: 'x', backboneVersion: 'y@z', split: 's' });
    const c = specKey({ backboneId: 'x', backboneVersion: 'y/s', split: 't' });
    const d = specKey({ backboneId: 'x', backboneVersion: 'y', split: 's/t' });
    expect(new Set([a, b, c, d]).size).toBe(4);
    expect(specKey({ backboneId: 'faceapi-resnet', backboneVersion: '1.7.15', split: 'embedding' })).toBe(
      'faceapi-resnet@1.7.15/embedding',
    );
  });
});

describe('training jobs (4: one user held a worker for hours)', () => {
  it('refuses epochs over the limit, cancels a queued job, and lets no one else cancel it', async () => {
    // Prepare
    api = await startTestApi({ maxJobEpochs: 500 });
    const a = await api.userWithDevice('alice');
    const b = await api.userWithDevice('bob');

    // Execute
    const huge = await a.device.request<Err>('POST', '/v1/users/alice/train', { epochs: 10_000 });
    const queued = await a.device.request<{ job: { id: number } }>('POST', '/v1/users/alice/train', {
      epochs: 500,
    });
    const id = queued.json.job.id;
    const byBob = await b.device.request<Err>('DELETE', `/v1/jobs/${id}`);
    const byAlice = await a.device.request<{ job: { status: string }; cancelled: boolean }>(
      'DELETE',
      `/v1/jobs/${id}`,
    );
    const again = await api.admin.request<{ job: { status: string }; cancelled: boolean }>(
      'DELETE',
      `/v1/jobs/${id}`,
    );

    // Assert
    expect(huge.status).toBe(400);
    expect(huge.json.error.message).toMatch(/at most 500/);
    expect(queued.status).toBe(202);
    expect(byBob.status).toBe(404);
    expect(byAlice.status).toBe(200);
    expect(byAlice.json).toMatchObject({ job: { status: 'cancelled' }, cancelled: true });
    expect(again.json).toMatchObject({ job: { status: 'cancelled' }, cancelled: false });
    expect(await api.store.claimJob()).toBeUndefined(); // a cancelled job is never run
  });

  it('refuses an upload past the per-user quota and stores none of it', async () => {
    // Prepare
    api = await startTestApi({ maxSamplesPerUser: 10 });
    const a = await api.userWithDevice('alice');
    const send = (people: number, key: string) =>
      a.device.request<Err>(
        'POST',
        '/v1/users/alice/batches',
        encodeBatch(syntheticBatch({ people, perPerson: 4, prefix: key })),
        { 'idempotency-key': key },
      );

    // Execute
    const first = await send(2, 'one'); // 8 samples
    const before = snapshot(api);
    const over = await send(1, 'two'); // 12 > 10

    // Assert
    expect(first.status).toBe(201);
    expect(over.status).toBe(403);
    expect(over.json.error.code).toBe('QUOTA_EXCEEDED');
    expect(snapshot(api)).toEqual(before);
    expect(await api.store.usage('alice')).toEqual({ samples: 8, featureBytes: 8 * 8 * 4 });
  });
});

describe('timeouts (5: slow clients held sockets open)', () => {
  it('closes a socket whose headers or body never finish', async () => {
    // Prepare
    api = await startTestApi({ headersTimeoutMs: 500, requestTimeoutMs: 1000, keepAliveTimeoutMs: 500 });
    const a = await api.userWithDevice('alice');

    // Execute
    const slowHeaders = rawRequest(api.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ', 15_000);
    const slowBody = rawRequest(
      api.url,
      `POST /v1/users/alice/batches HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${a.token}\r\n` +
        'Content-Type: application/octet-stream\r\nIdempotency-Key: s\r\nContent-Length: 100000\r\n\r\nFXFB',
      15_000,
    );
    const idle = rawRequest(api.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 15_000);
    const [h, b, i] = await Promise.all([slowHeaders, slowBody, idle]);

    // Assert: the server closed each one (before: open until the client gave up)
    expect(h.open).toBe(false);
    expect(b.open).toBe(false);
    expect(i.open).toBe(false);
    expect(i.answer).toMatch(/^HTTP\/1\.1 200/);
    expect(await api.store.countBatches()).toBe(0);
  });
});

describe('health (6: /healthz said ok while writes failed or vanished)', () => {
  it('answers 507 STORAGE_FULL when the database cannot grow, and stores nothing', async () => {
    // Prepare
    api = await startTestApi();
    const a = await api.userWithDevice('alice');
    const pages = api.store.db.pragma('page_count', { simple: true }) as number;
    api.store.db.pragma(`max_page_count = ${pages}`); // SQLite's own "disk full" (SQLITE_FULL)

    // Execute
    const r = await a.device.request<Err>(
      'POST',
      '/v1/users/alice/batches',
      encodeBatch(syntheticBatch({ people: 8, perPerson: 50 })),
      { 'idempotency-key': 'full' },
    );

    // Assert
    expect(r.status).toBe(507);
    expect(r.json.error.code).toBe('STORAGE_FULL');
    expect(await api.store.countSamples()).toBe(0);
  });

  it('answers 503 to writes and to /healthz once the database file is deleted', async () => {
    // Prepare
    api = await startTestApi();
    const a = await api.userWithDevice('alice');
    unlinkSync(api.store.location);

    // Execute
    const upload = await a.device.request<Err>(
      'POST',
      '/v1/users/alice/batches',
      encodeBatch(syntheticBatch({ people: 2, perPerson: 2 })),
      { 'idempotency-key': 'gone' },
    );
    const relabel = await a.device.request<Err>('PUT', '/v1/users/alice/labels', {
      labels: [{ id: 0, name: 'x' }],
    });
    const health = await api.anonymous.request<{ status: string; db: string }>('GET', '/healthz');

    // Assert
    expect(upload.status).toBe(503);
    expect(upload.json.error.code).toBe('UNAVAILABLE');
    expect(relabel.status).toBe(503);
    expect(health.status).toBe(503);
    expect(health.json.db).toMatch(/deleted or replaced/);
  });
});

describe('leaks and headers (7)', () => {
  it("names the global model's classes by pseudonyms, never by user id", async () => {
    // Prepare
    api = await startTestApi();
    for (const user of ['alice-secret-id', 'bob-secret-id']) {
      const u = await api.userWithDevice(user);
      await u.device.request(
        'POST',
        `/v1/users/${user}/batches`,
        encodeBatch(syntheticBatch({ people: 2, perPerson: 3 })),
        {
          'idempotency-key': 'k',
        },
      );
    }
    const resnet: FeatureSpec = {
      backboneId: 'faceapi-resnet',
      backboneVersion: '1',
      split: 'embedding',
      shape: [128],
    };
    for (const user of ['alice-secret-id', 'bob-secret-id']) {
      const device = (await api.store.listDevices(user))[0];
      await api.store.ingestBatch({
        device,
        batchId: 'r',
        sha256: 'r',
        batch: syntheticBatch({ people: 2, perPerson: 3, spec: resnet }),
      });
    }

    // Execute
    const set = await api.store.trainingSet('global', specKey(resnet));
    const keys = classKeys('global', set);
    const globalSpecs = (await api.store.labelledSpecs()).map((s) => s.specKey);

    // Assert
    expect(new Set(keys).size).toBe(4);
    for (const k of keys) expect(k).not.toMatch(/secret/);
    expect(keys[0]).toMatch(/^[0-9a-f]{16}\/\d+$/);
    expect(globalSpecs).toEqual([specKey(resnet)]); // users' own specs never train the global model
  });

  it('sends security headers on the API and the app, and no source maps', async () => {
    // Prepare: an SDK folder with its bundle and source map, as `npm run build:sdk` writes them
    const sdkDir = mkdtempSync(path.join(tmpdir(), 'fedex-sdk-'));
    writeFileSync(
      path.join(sdkDir, 'fedex-device.js'),
      'export {};\n//# sourceMappingURL=fedex-device.js.map\n',
    );
    writeFileSync(path.join(sdkDir, 'fedex-device.js.map'), '{"version":3,"sources":["secret.ts"]}');
    writeFileSync(path.join(sdkDir, 'index.html'), '<!doctype html><title>app</title>');
    api = await startTestApi({ sdkDir, webDir: sdkDir });
    const dev = await startTestApi({ sdkDir, serveSourceMaps: true });
    const devMap = await dev.anonymous.request('GET', '/sdk/fedex-device.js.map');
    await dev.close();

    // Execute
    const bundle = await api.anonymous.request('GET', '/sdk/fedex-device.js');
    const health = await api.anonymous.request('GET', '/healthz');
    const err = await api.anonymous.request('GET', '/v1/me');
    const page = await api.anonymous.request('GET', '/');
    const demo = await api.anonymous.request('GET', '/sdk/');
    const map = await api.anonymous.request('GET', '/sdk/fedex-device.js.map');
    // A revalidated page keeps the app's policy (a browser merges a 304's headers into the page).
    const revalidated = await api.anonymous.request('GET', '/', undefined, {
      'if-none-match': page.headers.get('etag')!,
    });
    rmSync(sdkDir, { recursive: true, force: true });

    // Assert
    for (const r of [health, err, page, demo]) {
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r.headers.get('referrer-policy')).toBe('no-referrer');
      expect(r.headers.get('x-frame-options')).toBe('DENY');
      expect(r.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    }
    expect(health.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.headers.get('content-security-policy')).toMatch(
      /^default-src 'self'; script-src 'self' 'wasm-unsafe-eval'/,
    );
    expect(revalidated.status).toBe(304);
    expect(revalidated.headers.get('content-security-policy')).toBe(
      page.headers.get('content-security-policy'),
    );
    expect(demo.headers.get('content-security-policy')).toMatch(
      /script-src 'self' 'wasm-unsafe-eval' 'sha256-/,
    );
    expect(bundle.status).toBe(200);
    expect(map.status).toBe(404);
    expect(devMap.status).toBe(200); // served when a developer asks for it
  });

  it('refuses names with a lone UTF-16 surrogate instead of storing a mangled one', async () => {
    // Prepare
    api = await startTestApi();
    const before = snapshot(api);

    // Execute (JSON.stringify keeps a lone surrogate as the escape \ud800)
    const lone = await api.admin.request<Err>('POST', '/v1/users', { name: 'Ana \ud800', id: 'ana' });
    const pair = await api.admin.request<{ user: { name: string } }>('POST', '/v1/users', {
      name: 'Ana 😀',
      id: 'ana',
    });

    // Assert
    expect(lone.status).toBe(400);
    expect(lone.json.error.message).toMatch(/lone UTF-16 surrogate at \$\.name/);
    expect(pair.status).toBe(201);
    expect(pair.json.user.name).toBe('Ana 😀');
    expect(before.users).toBe(0);
  });
});
