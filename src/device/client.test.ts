import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeWeights } from '../core/codec.js';
import { FedexError } from '../core/errors.js';
import { specKey } from '../core/types.js';
import { startServer, type RunningServer } from '../server/server.js';
import {
  caller,
  encodeBatch,
  startTestApi,
  syntheticBatch,
  TEST_ADMIN_KEY,
  TEST_SPEC,
  type TestApi,
} from '../server/testing/harness.js';
import { DeviceClient, DeviceHttpError, isRetryable } from './client.js';
import { Outbox } from './outbox.js';
import { NodeFileDeviceStore } from './store/node-files.js';

async function enrolledClient(url: string, admin: ReturnType<typeof caller>, userId: string) {
  await admin.request('POST', '/v1/users', { name: `user ${userId}`, id: userId });
  const t = await admin.request<{ enrollmentToken: string }>(
    'POST',
    `/v1/users/${userId}/enrollment-tokens`,
    {},
  );
  const bytes: { up: number; down: number }[] = [];
  const client = new DeviceClient({ server: `${url}/`, onBytes: (up, down) => bytes.push({ up, down }) });
  const { device, token } = await client.enroll({ enrollmentToken: t.json.enrollmentToken, name: 'phone' });
  return { client, device, token, bytes };
}

describe('DeviceClient against the API', () => {
  let api: TestApi;
  beforeEach(async () => {
    api = await startTestApi();
  });
  afterEach(async () => {
    await api.close();
  });

  it('enrolls with an enrollment token and then calls as the device', async () => {
    const { client, device, token } = await enrolledClient(api.url, api.admin, 'alice');
    expect(device.userId).toBe('alice');
    expect(client.token).toBe(token);
    const me = await client.me();
    expect([me.device.id, me.user.id]).toEqual([device.id, 'alice']);
  });

  it('stores an upload once: 201, then 200 duplicate for the same batch id, counting bytes both ways', async () => {
    const { client, bytes } = await enrolledClient(api.url, api.admin, 'alice');
    const fxfb = encodeBatch(syntheticBatch({ people: 2, perPerson: 3 }));
    bytes.length = 0;
    const first = await client.uploadBatch('alice', 'b-1', fxfb);
    const again = await client.uploadBatch('alice', 'b-1', fxfb);
    expect([first.duplicate, first.inserted, again.duplicate]).toEqual([false, 6, true]);
    expect(await api.store.countBatches('alice')).toBe(1);
    expect(await api.store.countSamples('alice')).toBe(6);
    expect(bytes[0].up).toBe(fxfb.byteLength);
    expect(bytes[0].down).toBeGreaterThan(0);
  });

  it('gives a non-retryable codec error for a malformed batch and a conflict for other bytes under one id', async () => {
    const { client } = await enrolledClient(api.url, api.admin, 'alice');
    const bad = client.uploadBatch('alice', 'b-bad', new TextEncoder().encode('not a batch at all'));
    await expect(bad).rejects.toMatchObject({ code: expect.stringMatching(/^CODEC_/), status: 400 });
    await bad.catch((e) => expect(isRetryable(e)).toBe(false));

    await client.uploadBatch(
      'alice',
      'b-1',
      encodeBatch(syntheticBatch({ people: 1, perPerson: 2, seed: 1 })),
    );
    const conflict = client.uploadBatch(
      'alice',
      'b-1',
      encodeBatch(syntheticBatch({ people: 1, perPerson: 2, seed: 2 })),
    );
    await expect(conflict).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
    await conflict.catch((e) => expect(isRetryable(e)).toBe(false));
  });

  it('refuses another user’s data and calls before enrollment with typed errors', async () => {
    const { client } = await enrolledClient(api.url, api.admin, 'alice');
    await api.admin.request('POST', '/v1/users', { name: 'bob', id: 'bob' });
    const e = await client.getLabels('bob').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DeviceHttpError);
    expect(isRetryable(e)).toBe(false);
    await expect(new DeviceClient({ server: api.url }).me()).rejects.toMatchObject({
      code: 'DEVICE_NOT_ENROLLED',
    });
    await expect(
      new DeviceClient({ server: api.url, token: 'fxd_nope-nope-nope' }).me(),
    ).rejects.toMatchObject({
      code: expect.stringMatching(/^AUTH_/),
    });
  });

  it('names labels, relabels by client id, and queues training', async () => {
    const { client } = await enrolledClient(api.url, api.admin, 'alice');
    await client.uploadBatch(
      'alice',
      'b-1',
      encodeBatch(syntheticBatch({ people: 2, perPerson: 3, labelled: 0 })),
    );
    expect(await client.putLabels('alice', [{ id: 0, name: 'Ann' }])).toEqual([{ id: 0, name: 'Ann' }]);
    expect(await client.getLabels('alice')).toEqual([{ id: 0, name: 'Ann' }]);
    expect(await client.relabel('alice', { clientIds: ['s-0-0', 's-0-1'], label: 0 })).toEqual({
      changed: 2,
    });
    const { job, created } = await client.train('alice', { epochs: 1 });
    expect([job.status, job.scope, created]).toEqual(['queued', 'user:alice', true]);
    expect((await client.job(job.id)).id).toBe(job.id);
  });

  it('downloads a model, verifies its checksum, and answers not-modified for the same ETag', async () => {
    const { client, bytes } = await enrolledClient(api.url, api.admin, 'alice');
    await expect(client.fetchModel('user:alice')).rejects.toMatchObject({ code: 'NO_MODEL' });
    const weights = encodeWeights({
      metadata: { scope: 'user:alice' },
      tensors: [{ name: 'w', shape: [3], values: new Float32Array([1, 2, 3]) }],
    });
    await api.store.registerSpec(TEST_SPEC);
    const info = await api.store.insertModel({
      scope: 'user:alice',
      specKey: specKey(TEST_SPEC),
      head: 'linear',
      config: {},
      metrics: {},
      labels: ['0'],
      weights,
      status: 'promoted',
    });
    bytes.length = 0;
    const got = await client.fetchModel('user:alice');
    if (got.status !== 'ok') throw new Error('expected a model');
    expect(got.bytes).toEqual(weights);
    expect([got.version, got.checksum]).toEqual([info.version, `sha256:${info.checksum}`]);
    expect(bytes).toEqual([{ up: 0, down: weights.byteLength }]);
    expect(await client.fetchModel('user:alice', got.etag)).toEqual({ status: 'not-modified' });
    expect(bytes[1]).toEqual({ up: 0, down: 0 });
  });
});

describe('DeviceClient failures', () => {
  it('turns a refused connection into a retryable UNAVAILABLE', async () => {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    await new Promise((r) => srv.close(r));
    const e = await new DeviceClient({ server: `http://127.0.0.1:${port}`, token: 't' })
      .me()
      .catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'UNAVAILABLE' });
    expect(isRetryable(e)).toBe(true);
  });

  it('turns a body cut short into a retryable UNAVAILABLE', async () => {
    const srv: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '1000' });
      res.write(new Uint8Array(10));
      setTimeout(() => res.socket?.destroy(), 10);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    try {
      const e = await new DeviceClient({ server: url, token: 't' })
        .fetchModel('global')
        .catch((x: unknown) => x);
      expect(e).toMatchObject({ code: 'UNAVAILABLE' });
      expect(isRetryable(e)).toBe(true);
    } finally {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    }
  });

  it('keeps a 5xx answer’s code but retries it; 429 is retryable with its Retry-After', async () => {
    const answers = [
      new Response(JSON.stringify({ error: { code: 'INTERNAL', message: 'boom' } }), {
        status: 500,
        headers: { 'content-type': 'application/json' },
      }),
      new Response(JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'slow down' } }), {
        status: 429,
        headers: { 'content-type': 'application/json', 'retry-after': '2' },
      }),
      new Response('<html>bad gateway</html>', { status: 502 }),
    ];
    const client = new DeviceClient({
      server: 'http://fedex.invalid',
      token: 't',
      fetch: async () => answers.shift()!,
    });
    const e500 = await client.me().catch((x: unknown) => x);
    expect(e500).toMatchObject({ code: 'INTERNAL', status: 500 });
    expect(isRetryable(e500)).toBe(true);
    const e429 = await client.me().catch((x: unknown) => x);
    expect(e429).toMatchObject({ code: 'RATE_LIMITED', status: 429, retryAfterMs: 2000 });
    expect(isRetryable(e429)).toBe(true);
    const e502 = await client.me().catch((x: unknown) => x);
    expect(e502).toMatchObject({ code: 'UNAVAILABLE', status: 502 });
  });

  it('rejects model bytes that do not match their checksum as MODEL_CORRUPT', async () => {
    const client = new DeviceClient({
      server: 'http://fedex.invalid',
      token: 't',
      fetch: async () =>
        new Response(new Uint8Array([1, 2, 3]), {
          status: 200,
          headers: {
            etag: '"x"',
            'x-fedex-model-version': '1',
            'x-fedex-model-checksum': `sha256:${'0'.repeat(64)}`,
          },
        }),
    });
    await expect(client.fetchModel('global')).rejects.toMatchObject({ code: 'MODEL_CORRUPT' });
  });
});

describe('Outbox.flush against a real server that goes away', () => {
  let dir: string;
  const running: RunningServer[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fedex-flush-'));
  });
  afterEach(async () => {
    for (const s of running.splice(0)) await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps what the stopped server did not acknowledge and stores every batch exactly once after a restart', async () => {
    // Prepare: a server, an enrolled device and five batches in a file-backed outbox.
    const dataDir = path.join(dir, 'server');
    const start = async (port: number) => {
      const s = await startServer({
        port,
        dataDir,
        workers: 0,
        adminKey: TEST_ADMIN_KEY,
        durability: 'normal',
      });
      running.push(s);
      return s;
    };
    let server = await start(0);
    const port = server.port;
    const { client } = await enrolledClient(server.url, caller(server.url, TEST_ADMIN_KEY), 'alice');
    const outbox = await Outbox.open(await NodeFileDeviceStore.open(path.join(dir, 'device')));
    for (let i = 0; i < 5; i++)
      await outbox.add({
        batchId: `b-${i}`,
        bytes: encodeBatch(syntheticBatch({ people: 1, perPerson: 2, prefix: `p${i}` })),
      });
    const options = {
      policy: { baseMs: 1, maxMs: 5, maxAttempts: 3 },
      random: Math.random,
      sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
      retryable: isRetryable,
    };

    // Execute 1: the server stops after acknowledging two batches, mid-flush.
    let uploads = 0;
    const first = await outbox.flush(async (e) => {
      await client.uploadBatch('alice', e.batchId, e.bytes);
      if (++uploads === 2) await server.close();
    }, options);
    expect(first.sent).toBe(2);
    expect(first.remaining).toBe(3);
    expect(first.lastError).toMatchObject({ code: 'UNAVAILABLE' });
    expect(outbox.entries().map((e) => e.batchId)).toEqual(['b-2', 'b-3', 'b-4']);

    // Execute 2: a new server on the same port and data; the first send's answer is "lost" once.
    server = await start(port);
    let lostAck = true;
    const second = await outbox.flush(async (e) => {
      await client.uploadBatch('alice', e.batchId, e.bytes);
      if (lostAck) {
        lostAck = false;
        throw new FedexError('UNAVAILABLE', 'connection reset after the upload');
      }
    }, options);

    // Assert
    expect(second).toMatchObject({ sent: 3, remaining: 0, dead: [] });
    expect(await server.store.countBatches('alice')).toBe(5);
    expect(await server.store.countSamples('alice')).toBe(10);
  });
});
