import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeFeatureBatch } from '../core/codec.js';
import { encodeWeights } from '../core/codec.js';
import { specKey } from '../core/types.js';
import { encodeBatch, startTestApi, syntheticBatch, TEST_SPEC, type TestApi } from './testing/harness.js';

let api: TestApi;
beforeEach(async () => {
  api = await startTestApi();
});
afterEach(async () => {
  await api.close();
});

type Err = { error: { code: string; message: string } };

describe('server API: operations', () => {
  it('answers /healthz, /metrics and a complete /openapi.json without a token', async () => {
    const h = await api.anonymous.request('GET', '/healthz');
    expect(h.status).toBe(200);
    expect(h.json).toMatchObject({ status: 'ok', db: 'ok' });
    const m = await api.anonymous.request('GET', '/metrics');
    expect(m.status).toBe(200);
    expect(new TextDecoder().decode(m.bytes)).toContain('fedex_http_requests_total');
    const o = await api.anonymous.request<{ openapi: string; paths: Record<string, unknown> }>(
      'GET',
      '/openapi.json',
    );
    expect(o.json.openapi).toMatch(/^3\./);
    expect(Object.keys(o.json.paths)).toEqual(
      expect.arrayContaining([
        '/v1/users/{userId}/batches',
        '/v1/models/{scope}/latest',
        '/v1/jobs/{jobId}',
        '/v1/devices',
        '/healthz',
      ]),
    );
  });

  it('gives typed JSON errors: unknown route, no token, bad token, bad JSON', async () => {
    const nf = await api.anonymous.request<Err>('GET', '/v1/nothing');
    expect([nf.status, nf.json.error.code]).toEqual([404, 'NOT_FOUND']);
    const noToken = await api.anonymous.request<Err>('GET', '/v1/users');
    expect([noToken.status, noToken.json.error.code]).toEqual([401, 'AUTH_REQUIRED']);
    const bad = await api.as('fxd_not-a-real-token').request<Err>('GET', '/v1/me');
    expect([bad.status, bad.json.error.code]).toEqual([401, 'AUTH_INVALID']);
    const res = await fetch(`${api.url}/v1/users`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${'fxa_test-admin-key-0123456789'}`,
        'content-type': 'application/json',
      },
      body: '{"name": ',
    });
    const body = (await res.json()) as Err;
    expect(res.status).toBe(400);
    expect(body.error.code).toBe('BAD_REQUEST');
    expect(JSON.stringify(body)).not.toMatch(/at .*\.ts:\d+/); // no stack trace
    const invalid = await api.admin.request<Err>('POST', '/v1/users', { name: '' });
    expect([invalid.status, invalid.json.error.code]).toEqual([400, 'BAD_REQUEST']);
  });
});

describe('server API: users and enrollment', () => {
  it('enrolls a device with a one-use enrollment token, and the device knows who it is', async () => {
    expect((await api.admin.request('POST', '/v1/users', { name: 'Ana', id: 'ana' })).status).toBe(201);
    const dup = await api.admin.request<Err>('POST', '/v1/users', { name: 'Ana', id: 'ana' });
    expect(dup.status).toBe(409);
    const t = await api.admin.request<{ enrollmentToken: string }>(
      'POST',
      '/v1/users/ana/enrollment-tokens',
      {},
    );
    expect(t.status).toBe(201);
    const e = await api.anonymous.request<{ token: string; device: { userId: string } }>(
      'POST',
      '/v1/devices',
      {
        name: 'pixel',
        enrollmentToken: t.json.enrollmentToken,
      },
    );
    expect(e.status).toBe(201);
    expect(e.json.device.userId).toBe('ana');
    expect(e.json.token).toMatch(/^fxd_/);
    const again = await api.anonymous.request<Err>('POST', '/v1/devices', {
      name: 'x',
      enrollmentToken: t.json.enrollmentToken,
    });
    expect([again.status, again.json.error.code]).toEqual([401, 'AUTH_INVALID']);
    const me = await api
      .as(e.json.token)
      .request<{ device: { name: string }; user: { id: string } }>('GET', '/v1/me');
    expect(me.json.device.name).toBe('pixel');
    expect(me.json.user.id).toBe('ana');
    // Only the hash of the token is stored.
    const raw = api.store.db.prepare('SELECT token_hash FROM devices').all() as { token_hash: string }[];
    expect(raw.some((r) => r.token_hash.includes(e.json.token))).toBe(false);
    // Enrolling by userId needs the admin key.
    const noAdmin = await api
      .as(e.json.token)
      .request<Err>('POST', '/v1/devices', { name: 'y', userId: 'ana' });
    expect(noAdmin.status).toBe(403);
    const users = await api.admin.request<{ users: { id: string; devices: number }[] }>('GET', '/v1/users');
    expect(users.json.users).toEqual([expect.objectContaining({ id: 'ana', devices: 1 })]);
  });
});

describe('server API: uploads', () => {
  it('stores a batch once however often it is retried; a reused id with other bytes is a 409 with no change', async () => {
    const { device } = await api.userWithDevice('u1');
    const batch = syntheticBatch({ people: 3, perPerson: 4, labelled: 2 });
    const bytes = encodeBatch(batch);
    const first = await device.request('POST', '/v1/users/u1/batches', bytes, { 'idempotency-key': 'b-1' });
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({
      batchId: 'b-1',
      samples: 12,
      inserted: 12,
      updated: 0,
      duplicate: false,
    });
    const retry = await device.request('POST', '/v1/users/u1/batches', bytes, { 'idempotency-key': 'b-1' });
    expect(retry.status).toBe(200);
    expect(retry.json).toMatchObject({ batchId: 'b-1', samples: 12, inserted: 12, duplicate: true });
    expect(await api.store.countSamples('u1')).toBe(12);
    const other = encodeBatch(syntheticBatch({ people: 1, perPerson: 2, prefix: 'other' }));
    const conflict = await device.request<Err>('POST', '/v1/users/u1/batches', other, {
      'idempotency-key': 'b-1',
    });
    expect([conflict.status, conflict.json.error.code]).toEqual([409, 'IDEMPOTENCY_CONFLICT']);
    expect(await api.store.countSamples('u1')).toBe(12);
    expect(api.ingested).toEqual(['u1']); // the scheduler hears of the stored batch once
    const labelled = (await api.store.listSamples('u1', { limit: 1000 })).filter((s) => s.label >= 0);
    expect(labelled).toHaveLength(6);
  });

  it('answers 40 concurrent uploads each with its own result (group commit), every sample stored once', async () => {
    // One device with 42 uploads in flight: past the default gate of 4 per device (that gate has
    // its own test in hardening.test.ts), so this server admits them all.
    await api.close();
    api = await startTestApi({ uploadsInFlightPerDevice: 64 });
    const { device } = await api.userWithDevice('u1');
    const bodies = Array.from({ length: 40 }, (_, i) =>
      encodeBatch(syntheticBatch({ people: 2, perPerson: 2, prefix: `c${i}` })),
    );
    const send = (i: number, key = `c${i}`) =>
      device.request('POST', '/v1/users/u1/batches', bodies[i], { 'idempotency-key': key });
    const other = encodeBatch(syntheticBatch({ people: 2, perPerson: 2, prefix: 'x' }));
    const conflicting = device.request('POST', '/v1/users/u1/batches', other, { 'idempotency-key': 'c0' });
    const results = await Promise.all([...bodies.map((_, i) => send(i)), conflicting, send(3)]);
    const statuses = results.map((r) => r.status);
    // Arrival order decides which of two requests with one key comes first.
    expect([statuses[0], statuses[40]].sort()).toEqual([201, 409]); // key c0, two different bodies
    expect([statuses[3], statuses[41]].sort()).toEqual([200, 201]); // c3 twice: stored, then its duplicate
    expect(statuses.filter((s, i) => ![0, 3, 40, 41].includes(i) && s !== 201)).toEqual([]);
    expect(await api.store.countSamples('u1')).toBe(160);
  });

  it('rejects bad uploads with 4xx and stores nothing', async () => {
    const { device } = await api.userWithDevice('u1');
    const good = encodeBatch(syntheticBatch({ people: 2, perPerson: 3 }));
    const cases: {
      name: string;
      body: Uint8Array;
      headers: Record<string, string>;
      status: number;
      code: string;
    }[] = [];
    const flipped = good.slice();
    flipped[flipped.length - 10] ^= 0x55;
    cases.push({
      name: 'corrupt',
      body: flipped,
      headers: { 'idempotency-key': 'c1' },
      status: 400,
      code: 'CODEC_CHECKSUM',
    });
    cases.push({
      name: 'truncated',
      body: good.subarray(0, good.length - 7),
      headers: { 'idempotency-key': 'c2' },
      status: 400,
      code: 'CODEC_TRUNCATED',
    });
    cases.push({
      name: 'garbage',
      body: new Uint8Array(100).fill(7),
      headers: { 'idempotency-key': 'c3' },
      status: 400,
      code: 'CODEC_BAD_MAGIC',
    });
    cases.push({ name: 'no key', body: good, headers: {}, status: 400, code: 'BAD_REQUEST' });
    cases.push({
      name: 'bad key',
      body: good,
      headers: { 'idempotency-key': 'has space' },
      status: 400,
      code: 'BAD_REQUEST',
    });
    cases.push({
      name: 'json body',
      body: good,
      headers: { 'idempotency-key': 'c4', 'content-type': 'application/json' },
      status: 400,
      code: 'BAD_REQUEST',
    });
    cases.push({
      name: 'text body',
      body: good,
      headers: { 'idempotency-key': 'c5', 'content-type': 'text/plain' },
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    });
    const weights = encodeWeights({
      metadata: {},
      tensors: [{ name: 'w', shape: [2], values: new Float32Array(2) }],
    });
    cases.push({
      name: 'weights message',
      body: weights,
      headers: { 'idempotency-key': 'c6' },
      status: 400,
      code: 'CODEC_BAD_HEADER',
    });
    for (const c of cases) {
      const r = await device.request<Err>('POST', '/v1/users/u1/batches', c.body, c.headers);
      expect([c.name, r.status], JSON.stringify(r.json)).toEqual([c.name, c.status]);
      if (c.code !== 'CODEC_BAD_HEADER') expect([c.name, r.json.error.code]).toEqual([c.name, c.code]);
      else expect(r.json.error.code).toMatch(/^CODEC_/);
    }
    expect(await api.store.countSamples()).toBe(0);
    expect(await api.store.countBatches()).toBe(0);
  });

  it('answers 400 to 300 randomly mutated uploads and stores none of them', async () => {
    const { device } = await api.userWithDevice('u1');
    const good = encodeBatch(syntheticBatch({ people: 2, perPerson: 3 }));
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const codes = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      let body = good.slice();
      const kind = i % 3;
      if (kind === 0)
        body[rand(body.length)] ^= 1 << rand(8); // one bit flipped anywhere
      else if (kind === 1)
        body = body.subarray(0, rand(body.length)); // cut short
      else body = Uint8Array.from({ length: 1 + rand(200) }, () => rand(256)); // noise
      const r = await device.request<Err>('POST', '/v1/users/u1/batches', body, {
        'idempotency-key': `m${i}`,
      });
      expect(r.status, `mutation ${i}`).toBe(400);
      codes.set(r.json.error.code, (codes.get(r.json.error.code) ?? 0) + 1);
    }
    expect([...codes.keys()].every((c) => c.startsWith('CODEC_') || c === 'BAD_REQUEST')).toBe(true);
    expect(await api.store.countSamples()).toBe(0);
    expect(await api.store.countBatches()).toBe(0);
  });

  it('rejects a body over the limit with 413, and a spec whose shape disagrees with the stored one with 422', async () => {
    await api.close();
    api = await startTestApi({ bodyLimitBytes: 4096 });
    const { device } = await api.userWithDevice('u1');
    const big = encodeBatch(syntheticBatch({ people: 10, perPerson: 20 }));
    const r = await device.request<Err>('POST', '/v1/users/u1/batches', big, { 'idempotency-key': 'big' });
    expect([r.status, r.json.error.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    const ok = await device.request(
      'POST',
      '/v1/users/u1/batches',
      encodeBatch(syntheticBatch({ people: 1, perPerson: 2 })),
      {
        'idempotency-key': 'small',
      },
    );
    expect(ok.status).toBe(201);
    const otherShape = syntheticBatch({
      people: 1,
      perPerson: 2,
      prefix: 'x',
      spec: { ...TEST_SPEC, shape: [4] },
    });
    const mismatch = await device.request<Err>(
      'POST',
      '/v1/users/u1/batches',
      encodeFeatureBatch(otherShape),
      { 'idempotency-key': 'm' },
    );
    expect([mismatch.status, mismatch.json.error.code]).toEqual([422, 'FEATURE_MISMATCH']);
    expect(await api.store.countSamples()).toBe(2);
  });
});

describe('server API: samples and labels', () => {
  it('pages samples, relabels all-or-nothing, names labels', async () => {
    const { device } = await api.userWithDevice('u1');
    await device.request(
      'POST',
      '/v1/users/u1/batches',
      encodeBatch(syntheticBatch({ people: 2, perPerson: 3, labelled: 0 })),
      {
        'idempotency-key': 'b',
      },
    );
    const p1 = await device.request<{
      samples: { id: number; clientId: string; label: number }[];
      next: number;
    }>('GET', '/v1/users/u1/samples?limit=4');
    expect(p1.json.samples).toHaveLength(4);
    const p2 = await device.request<{ samples: { id: number }[]; next: number | null }>(
      'GET',
      `/v1/users/u1/samples?after=${p1.json.next}`,
    );
    expect(p2.json.samples).toHaveLength(2);
    expect(p2.json.next).toBeNull();
    const ids = p1.json.samples.slice(0, 2).map((s) => s.id);
    const bad = await device.request<Err>('POST', '/v1/users/u1/samples/relabel', {
      sampleIds: [...ids, 999_999],
      label: 1,
    });
    expect(bad.status).toBe(404);
    expect((await api.store.listSamples('u1')).filter((s) => s.label === 1)).toHaveLength(0); // nothing changed
    const ok = await device.request('POST', '/v1/users/u1/samples/relabel', { sampleIds: ids, label: 1 });
    expect(ok.json).toEqual({ changed: 2 });
    const byClient = await device.request('POST', '/v1/users/u1/samples/relabel', {
      clientIds: ['s-1-2'],
      label: 0,
    });
    expect(byClient.json).toEqual({ changed: 1 });
    expect((await device.request('GET', '/v1/users/u1/samples?label=1')).json.samples).toHaveLength(2);
    const names = await device.request('PUT', '/v1/users/u1/labels', {
      labels: [
        { id: 0, name: 'Mum' },
        { id: 1, name: 'Dad' },
      ],
    });
    expect(names.json).toEqual({
      labels: [
        { id: 0, name: 'Mum' },
        { id: 1, name: 'Dad' },
      ],
    });
    const badName = await device.request<Err>('PUT', '/v1/users/u1/labels', {
      labels: [{ id: -3, name: 'x' }],
    });
    expect(badName.status).toBe(400);
  });
});

describe('server API: models and jobs', () => {
  async function seedModel(
    scope: `user:${string}` | 'global',
    status: 'promoted' | 'rejected',
    fill: number,
  ) {
    const weights = encodeWeights({
      metadata: { scope },
      tensors: [{ name: 'w', shape: [3], values: new Float32Array(3).fill(fill) }],
    });
    await api.store.registerSpec(TEST_SPEC);
    return await api.store.insertModel({
      scope,
      specKey: specKey(TEST_SPEC),
      head: 'linear',
      config: {},
      metrics: { heldOutAccuracy: 1 },
      labels: ['0'],
      weights,
      status,
    });
  }

  it('serves the newest promoted version with an ETag, 304 on If-None-Match, exact versions by number', async () => {
    const { device } = await api.userWithDevice('u1');
    const none = await device.request<Err>('GET', '/v1/models/user:u1/latest');
    expect([none.status, none.json.error.code]).toEqual([404, 'NOT_FOUND']);
    const v1 = await seedModel('user:u1', 'promoted', 1);
    await seedModel('user:u1', 'rejected', 2); // version 2, never served as latest
    const latest = await device.request('GET', '/v1/models/user:u1/latest');
    expect(latest.status).toBe(200);
    expect(latest.headers.get('etag')).toBe(`"${v1.checksum}"`);
    expect(latest.headers.get('x-fedex-model-version')).toBe('1');
    expect(latest.bytes.length).toBe(v1.size);
    const again = await device.request('GET', '/v1/models/user:u1/latest', undefined, {
      'if-none-match': `"${v1.checksum}"`,
    });
    expect(again.status).toBe(304);
    expect(again.bytes.length).toBe(0);
    const v2 = await device.request('GET', '/v1/models/user:u1/versions/2');
    expect(v2.status).toBe(200);
    expect(v2.headers.get('x-fedex-model-status')).toBe('rejected');
    const list = await device.request<{ latestVersion: number; models: unknown[] }>(
      'GET',
      '/v1/models/user:u1',
    );
    expect(list.json.latestVersion).toBe(1);
    expect(list.json.models).toHaveLength(2);
    const v3 = await seedModel('user:u1', 'promoted', 3);
    const changed = await device.request('GET', '/v1/models/user:u1/latest', undefined, {
      'if-none-match': `"${v1.checksum}"`,
    });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).toBe(`"${v3.checksum}"`);
    await seedModel('global', 'promoted', 4);
    expect((await device.request('GET', '/v1/models/global/latest')).status).toBe(200);
    expect((await device.request<Err>('GET', '/v1/models/bogus/latest')).status).toBe(400);
  });

  it('queues one training job per scope and shows it to its user only', async () => {
    const { device } = await api.userWithDevice('u1');
    const t1 = await device.request<{ job: { id: number; status: string; scope: string }; created: boolean }>(
      'POST',
      '/v1/users/u1/train',
      {
        head: 'centroid',
      },
    );
    expect(t1.status).toBe(202);
    expect(t1.json).toMatchObject({ created: true, job: { status: 'queued', scope: 'user:u1' } });
    const t2 = await device.request<{ job: { id: number }; created: boolean }>(
      'POST',
      '/v1/users/u1/train',
      {},
    );
    expect(t2.json.created).toBe(false);
    expect(t2.json.job.id).toBe(t1.json.job.id);
    expect(api.queued).toHaveLength(1);
    const badHead = await device.request<Err>('POST', '/v1/users/u1/train', { head: 'nope' });
    expect(badHead.status).toBe(400);
    // A head that cannot train on uploaded features is refused now, not failed later in a job.
    const upper = await device.request<Err>('POST', '/v1/users/u1/train', { head: 'upper' });
    expect([upper.status, upper.json.error.code]).toEqual([400, 'MODEL_HEAD_NOT_APPLICABLE']);
    const job = await device.request<{ job: { config: { head: string } } }>(
      'GET',
      `/v1/jobs/${t1.json.job.id}`,
    );
    expect(job.json.job.config.head).toBe('centroid');
    expect((await device.request<{ jobs: unknown[] }>('GET', '/v1/jobs')).json.jobs).toHaveLength(1);
    expect((await device.request<Err>('POST', '/v1/global/train', {})).status).toBe(403);
    expect((await api.admin.request('POST', '/v1/global/train', {})).status).toBe(202);
    expect((await api.admin.request<{ jobs: unknown[] }>('GET', '/v1/jobs')).json.jobs).toHaveLength(2);
    expect((await device.request<{ jobs: unknown[] }>('GET', '/v1/jobs')).json.jobs).toHaveLength(1);
  });
});

describe('server API: isolation between users', () => {
  it("keeps every user-scoped endpoint closed to another user's device, and changes nothing", async () => {
    const a = await api.userWithDevice('alice');
    const b = await api.userWithDevice('bob');
    await a.device.request(
      'POST',
      '/v1/users/alice/batches',
      encodeBatch(syntheticBatch({ people: 2, perPerson: 3 })),
      {
        'idempotency-key': 'a1',
      },
    );
    const aliceModel = await api.store.insertModel({
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
    const aliceJob = (await a.device.request<{ job: { id: number } }>('POST', '/v1/users/alice/train', {}))
      .json.job.id;
    const before = {
      samples: await api.store.listSamples('alice'),
      labels: await api.store.getLabels('alice'),
      jobs: await api.store.listJobs(),
    };
    const bytes = encodeBatch(syntheticBatch({ people: 1, perPerson: 2, prefix: 'evil' }));
    // Every route with a user or a scope in its path, called by Bob's device on Alice's data.
    // [method, OpenAPI path, concrete url, body, headers]
    const attempts: [string, string, string, unknown, Record<string, string>?][] = [
      ['GET', '/v1/users/{userId}', '/v1/users/alice', undefined],
      ['POST', '/v1/users/{userId}/enrollment-tokens', '/v1/users/alice/enrollment-tokens', {}],
      [
        'POST',
        '/v1/users/{userId}/batches',
        '/v1/users/alice/batches',
        bytes,
        { 'idempotency-key': 'evil-1' },
      ],
      ['GET', '/v1/users/{userId}/samples', '/v1/users/alice/samples', undefined],
      [
        'POST',
        '/v1/users/{userId}/samples/relabel',
        '/v1/users/alice/samples/relabel',
        { sampleIds: [1], label: 1 },
      ],
      ['POST', '/v1/users/{userId}/samples/delete', '/v1/users/alice/samples/delete', { sampleIds: [1] }],
      ['GET', '/v1/users/{userId}/labels', '/v1/users/alice/labels', undefined],
      ['PUT', '/v1/users/{userId}/labels', '/v1/users/alice/labels', { labels: [{ id: 0, name: 'x' }] }],
      ['POST', '/v1/users/{userId}/train', '/v1/users/alice/train', {}],
      ['GET', '/v1/jobs/{jobId}', `/v1/jobs/${aliceJob}`, undefined],
      ['DELETE', '/v1/jobs/{jobId}', `/v1/jobs/${aliceJob}`, undefined],
      ['GET', '/v1/jobs', '/v1/jobs?scope=user:alice', undefined],
      ['GET', '/v1/models/{scope}', '/v1/models/user:alice', undefined],
      ['GET', '/v1/models/{scope}/latest', '/v1/models/user:alice/latest', undefined],
      [
        'GET',
        '/v1/models/{scope}/versions/{version}',
        `/v1/models/user:alice/versions/${aliceModel.version}`,
        undefined,
      ],
      ['GET', '/v1/models', '/v1/models', undefined],
      ['GET', '/v1/users', '/v1/users', undefined],
      ['POST', '/v1/users', '/v1/users', { name: 'mallory' }],
      ['POST', '/v1/devices', '/v1/devices', { name: 'evil', userId: 'alice' }],
      ['DELETE', '/v1/devices/{deviceId}', `/v1/devices/${a.deviceId}`, undefined],
      ['POST', '/v1/global/train', '/v1/global/train', {}],
      ['GET', '/v1/rounds/{round}/weights', '/v1/rounds/1/weights', undefined],
      ['POST', '/v1/rounds/{round}/updates', '/v1/rounds/1/updates', bytes],
    ];
    for (const [method, , url, body, headers] of attempts) {
      const r = await b.device.request<Err>(method, url, body, headers);
      expect([method, url, r.status === 403 || r.status === 404]).toEqual([method, url, true]);
      expect(r.json.error.code).toMatch(/^(FORBIDDEN|NOT_FOUND)$/);
    }
    expect({
      samples: await api.store.listSamples('alice'),
      labels: await api.store.getLabels('alice'),
      jobs: await api.store.listJobs(),
    }).toEqual(before);
    expect(await api.store.countSamples('bob')).toBe(0);

    // The table covers every route of the API except the open ones and a device's own /v1/me.
    const doc = (
      await api.anonymous.request<{ paths: Record<string, Record<string, unknown>> }>('GET', '/openapi.json')
    ).json;
    const covered = new Set(attempts.map(([m, template]) => `${m} ${template}`));
    // A device's own views: /v1/me, and its own task in the current round (never another's).
    const open = new Set(['GET /healthz', 'GET /metrics', 'GET /v1/me', 'GET /v1/rounds/current']);
    for (const [p, methods] of Object.entries(doc.paths)) {
      for (const m of Object.keys(methods)) {
        const route = `${m.toUpperCase()} ${p}`;
        if (!open.has(route)) expect(covered, route).toContain(route);
      }
    }
  });
});

describe('server API: rate limit', () => {
  it('answers 429 with Retry-After past the per-device burst, and other devices are not affected', async () => {
    await api.close();
    api = await startTestApi({ rateLimitPerSecond: 0.5, rateLimitBurst: 3 });
    const a = await api.userWithDevice('a');
    const b = await api.userWithDevice('b');
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await a.device.request('GET', '/v1/me')).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const limited = await a.device.request<Err>('GET', '/v1/me');
    expect(limited.json.error.code).toBe('RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await b.device.request('GET', '/v1/me')).status).toBe(200);
  });
});
