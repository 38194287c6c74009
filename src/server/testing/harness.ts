/**
 * Test support: the API (no workers) on a real loopback port over a temporary SQLite file, a small
 * fetch wrapper, and synthetic feature batches. Used by the server's tests only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { encodeFeatureBatch } from '../../core/codec.js';
import { createRng } from '../../core/random.js';
import type { FeatureBatch, FeatureSpec } from '../../core/types.js';
import { buildApp } from '../app.js';
import { resolveServerConfig, type ServerConfig } from '../config.js';
import { createMetrics } from '../metrics.js';
import { SqliteStore } from '../store/sqlite.js';
import type { Job } from '../store/types.js';

export const TEST_ADMIN_KEY = 'fxa_test-admin-key-0123456789';

export const TEST_SPEC: FeatureSpec = {
  backboneId: 'test-net',
  backboneVersion: '1',
  split: 'embedding',
  shape: [8],
};

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  json: T;
  bytes: Uint8Array;
}

/** A caller with (or without) a bearer token. */
export interface Caller {
  request<T = Record<string, unknown>>(
    method: string,
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<ApiResponse<T>>;
}

export function caller(base: string, token: string | null): Caller {
  return {
    async request(method, url, body, headers = {}) {
      const h: Record<string, string> = { ...headers };
      if (token !== null) h.authorization = `Bearer ${token}`;
      let payload: BodyInit | undefined;
      if (body instanceof Uint8Array) {
        payload = Buffer.from(body.buffer, body.byteOffset, body.byteLength) as unknown as BodyInit;
        h['content-type'] ??= 'application/octet-stream';
      } else if (body !== undefined) {
        payload = JSON.stringify(body);
        h['content-type'] ??= 'application/json';
      }
      const res = await fetch(base + url, { method, headers: h, body: payload });
      const bytes = new Uint8Array(await res.arrayBuffer());
      let json = {} as never;
      if ((res.headers.get('content-type') ?? '').includes('json') && bytes.length > 0) {
        json = JSON.parse(new TextDecoder().decode(bytes)) as never;
      }
      return { status: res.status, headers: res.headers, json, bytes };
    },
  };
}

export interface TestApi {
  url: string;
  dir: string;
  store: SqliteStore;
  app: FastifyInstance;
  admin: Caller;
  anonymous: Caller;
  as(token: string): Caller;
  /** Jobs queued through the API (no workers run here). */
  queued: Job[];
  ingested: string[];
  /** Creates a user and enrolls one device for it (through the API); returns its caller. */
  userWithDevice(
    userId: string,
  ): Promise<{ userId: string; deviceId: string; token: string; device: Caller }>;
  close(): Promise<void>;
}

export async function startTestApi(partial: Partial<ServerConfig> = {}): Promise<TestApi> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fedex-api-'));
  const config = resolveServerConfig({
    port: 0,
    dataDir: dir,
    workers: 0,
    durability: 'normal',
    adminKey: TEST_ADMIN_KEY,
    rateLimitPerSecond: 0, // off unless a test sets it
    ...partial,
  });
  const store = new SqliteStore(path.join(dir, 'fedex.db'), { synchronous: config.durability });
  const queued: Job[] = [];
  const ingested: string[] = [];
  const app = await buildApp({
    store,
    config,
    metrics: createMetrics(store),
    adminKey: config.adminKey,
    startedAt: Date.now(),
    version: 'test',
    onJobQueued: (job) => queued.push(job),
    onIngest: (userId) => void ingested.push(userId),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const admin = caller(url, config.adminKey);
  return {
    url,
    dir,
    store,
    app,
    admin,
    anonymous: caller(url, null),
    as: (token) => caller(url, token),
    queued,
    ingested,
    async userWithDevice(userId) {
      const u = await admin.request('POST', '/v1/users', { name: `user ${userId}`, id: userId });
      if (u.status !== 201) throw new Error(`create user: ${u.status} ${JSON.stringify(u.json)}`);
      const e = await admin.request<{ device: { id: string }; token: string }>('POST', '/v1/devices', {
        name: 'phone',
        userId,
      });
      if (e.status !== 201) throw new Error(`enroll: ${e.status} ${JSON.stringify(e.json)}`);
      return { userId, deviceId: e.json.device.id, token: e.json.token, device: caller(url, e.json.token) };
    },
    async close() {
      await app.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * `people` clusters of `perPerson` samples each in `spec.shape` (Gaussian around a random centre),
 * sample ids `<prefix>-<person>-<i>`, all labelled unless `labelled` says how many per person are.
 */
export function syntheticBatch(options: {
  people: number;
  perPerson: number;
  seed?: number;
  prefix?: string;
  labelled?: number;
  spec?: FeatureSpec;
  noise?: number;
}): FeatureBatch {
  const spec = options.spec ?? TEST_SPEC;
  const dim = spec.shape.reduce((a, b) => a * b, 1);
  const rng = createRng(options.seed ?? 1);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  const n = options.people * options.perPerson;
  const features = new Float32Array(n * dim);
  const labels = new Int32Array(n);
  const sampleIds: string[] = [];
  const centres = Array.from({ length: options.people }, () => Array.from({ length: dim }, () => gauss()));
  let k = 0;
  for (let p = 0; p < options.people; p++) {
    for (let i = 0; i < options.perPerson; i++, k++) {
      for (let d = 0; d < dim; d++) features[k * dim + d] = centres[p][d] + (options.noise ?? 0.2) * gauss();
      labels[k] = options.labelled === undefined || i < options.labelled ? p : -1;
      sampleIds.push(`${options.prefix ?? 's'}-${p}-${i}`);
    }
  }
  return { spec, sampleIds, labels, features };
}

export function encodeBatch(batch: FeatureBatch): Uint8Array {
  return encodeFeatureBatch(batch, { dtype: 'float32' });
}
