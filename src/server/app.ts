/**
 * The HTTP API as a Fastify instance (no listening, no workers: `./server.ts` adds those), so tests
 * can drive it over real HTTP or `inject`. This file holds what every route shares: bearer
 * authentication (admin key or a device token, looked up by hash), and everything decided in
 * `onRequest` before a body is read (no token on a `/v1/` route, the per-device rate limit, the
 * upload gate); body limits, timeouts and the JSON depth and lone-surrogate checks; typed JSON
 * errors; security headers; request metrics and the OpenAPI document. Routes live in `./routes/`,
 * one file per resource, and depend on `./context.ts`, not on this file.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import swagger from '@fastify/swagger';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { FedexError } from '../core/errors.js';
import { httpError } from './errors.js';
import { findLoneSurrogate, jsonDepth } from './json-body.js';
import { API_CSP, APP_CSP, isApiPath, SECURITY_HEADERS } from './security-headers.js';
import { TokenBuckets, type RateLimiter } from './rate-limit.js';
import { UploadGate } from './upload-gate.js';
import { registerDeviceRoutes } from './routes/devices.js';
import { registerJobRoutes } from './routes/jobs.js';
import { registerModelRoutes } from './routes/models.js';
import { registerOpsRoutes } from './routes/ops.js';
import { registerRoundRoutes } from './routes/rounds.js';
import { registerSampleRoutes } from './routes/samples.js';
import { registerStaticRoutes } from './routes/static.js';
import type { AppContext, Guards, Principal } from './context.js';

export type { AppContext, Guards, Principal } from './context.js';

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * A timing-safe check of a bearer token against the admin key: both sides are hashed to 32-byte
 * sha256 digests first, so `timingSafeEqual` always compares equal lengths (it throws on unequal
 * ones) and the time taken says nothing about the key's length or a matching prefix.
 */
export function adminKeyMatcher(adminKey: string): (token: string) => boolean {
  const adminHash = sha256(adminKey);
  return (token) => timingSafeEqual(sha256(token), adminHash);
}

function bearer(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (h === undefined) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  if (!m) throw new FedexError('AUTH_INVALID', 'the Authorization header must be "Bearer <token>"');
  return m[1];
}

export function createGuards(): Guards {
  const principal = (req: FastifyRequest): Principal => {
    if (!req.principal)
      throw new FedexError('AUTH_REQUIRED', 'this endpoint needs "Authorization: Bearer <token>"');
    return req.principal;
  };
  return {
    principal,
    admin(req) {
      if (principal(req).kind !== 'admin')
        throw new FedexError('FORBIDDEN', 'this endpoint needs the admin key');
    },
    device(req) {
      const p = principal(req);
      if (p.kind !== 'device') throw new FedexError('FORBIDDEN', 'this endpoint needs a device token');
      return p.device;
    },
    userAccess(req, userId) {
      const p = principal(req);
      if (p.kind === 'device' && p.device.userId !== userId) {
        throw new FedexError('FORBIDDEN', "a device can only reach its own user's data");
      }
      return p;
    },
  };
}

/** Builds the API (call `await app.ready()` or `listen`). */
export async function buildApp(ctx: AppContext): Promise<FastifyInstance> {
  const { config, store, metrics } = ctx;
  const app = Fastify({
    logger: false,
    // JSON routes: small bodies; the binary upload routes set `config.bodyLimitBytes` themselves.
    bodyLimit: config.jsonBodyLimitBytes,
    // Slow clients (slowloris): headers must arrive within headersTimeoutMs, the whole request
    // within requestTimeoutMs, and an idle keep-alive socket closes after keepAliveTimeoutMs.
    // Node checks the first two every connectionsCheckingInterval.
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    // An idle socket's own timeout must come after the request timeout's 408, or it would close
    // a slow request silently first.
    connectionTimeout: 2 * config.requestTimeoutMs,
    http: {
      headersTimeout: config.headersTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs),
    },
    // Behind no proxy by default; ids stay short.
    requestIdHeader: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    // The router answers a malformed URL (bad percent-encoding, a path parameter over 100
    // characters) before any hook runs; give those the same typed body as every other error.
    frameworkErrors: (error, _req, reply) => {
      const status =
        typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500
          ? error.statusCode
          : 400;
      const r = reply as unknown as FastifyReply;
      void r
        .status(status)
        .type('application/json')
        .send({ error: { code: 'BAD_REQUEST', message: error.message } });
    },
  });
  const isAdminKey = adminKeyMatcher(ctx.adminKey);
  const limiter: RateLimiter =
    ctx.rateLimiter ?? new TokenBuckets(config.rateLimitPerSecond, config.rateLimitBurst);
  const uploads = new UploadGate({
    perDevice: config.uploadsInFlightPerDevice,
    totalBytes: config.uploadBytesInFlight,
  });
  const guards = createGuards();

  app.decorateRequest('principal', null);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'FedEx server',
        version: ctx.version,
        description:
          'Devices upload face feature batches (FXFB codec, see docs/wire-format.md); the server trains per-user and global heads as jobs and serves model versions (FXWT codec) with ETags.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });

  // Binary uploads: the raw bytes, up to the route's body limit.
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) =>
    done(null, body),
  );

  // JSON: Fastify's own parser (it refuses __proto__ and constructor.prototype), behind a nesting
  // check on the text and a lone-surrogate check on the strings it produced.
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body as string;
    if (jsonDepth(text, config.jsonMaxDepth) > config.jsonMaxDepth) {
      done(new FedexError('BAD_REQUEST', `the JSON body nests deeper than ${config.jsonMaxDepth} levels`));
      return;
    }
    defaultJson(req, text, (err, value) => {
      if (err) return done(err, undefined);
      const at = findLoneSurrogate(value);
      if (at)
        return done(
          new FedexError(
            'BAD_REQUEST',
            `the JSON body has a lone UTF-16 surrogate at ${at}; send valid Unicode`,
          ),
          undefined,
        );
      done(null, value);
    });
  });

  app.addHook('onRequest', async (req, reply) => {
    const token = bearer(req);
    if (token === null) {
      // Refused before the body is read: an anonymous client cannot make the server buffer,
      // parse or validate anything on a route that needs a token.
      const route = req.routeOptions.url;
      if (route?.startsWith('/v1/') && req.routeOptions.config.anonymous !== true)
        throw new FedexError('AUTH_REQUIRED', 'this endpoint needs "Authorization: Bearer <token>"');
      return;
    }
    if (isAdminKey(token)) {
      req.principal = { kind: 'admin' };
      return;
    }
    const device = await store.deviceByToken(token);
    if (!device) throw new FedexError('AUTH_INVALID', 'unknown or revoked token');
    req.principal = { kind: 'device', device };
    const decision = await limiter.take(device.id, Date.now());
    if (!decision.allowed) {
      metrics.rateLimited.inc();
      void reply.header('retry-after', String(Math.max(1, Math.ceil(decision.retryAfterSeconds))));
      throw new FedexError(
        'RATE_LIMITED',
        `too many requests from this device; retry in ${decision.retryAfterSeconds.toFixed(2)} s`,
      );
    }
    if (req.routeOptions.config.upload === true) {
      // Bodies are buffered whole: admit one only while this device and all uploads together
      // stay within the gate's limits, before a byte of it is read.
      const declared = Number(req.headers['content-length']);
      const bytes = Number.isFinite(declared) && declared >= 0 ? declared : config.bodyLimitBytes;
      const ticket = uploads.admit(device.id, Math.min(bytes, config.bodyLimitBytes));
      if (typeof ticket === 'string') {
        metrics.rateLimited.inc();
        void reply.header('retry-after', '1');
        throw new FedexError(
          'RATE_LIMITED',
          ticket === 'device'
            ? 'this device has too many uploads in flight; wait for one to finish'
            : 'the server is receiving too many uploads now; retry in a second',
        );
      }
      reply.raw.once('close', ticket);
    }
  });

  // A write to a database file that was deleted or replaced would be acknowledged and then lost:
  // every writing request checks the file first (one stat) and gets 503 instead.
  app.addHook('preHandler', async (req) => {
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'OPTIONS')
      await store.assertWritable();
  });

  app.addHook('onSend', async (req, reply, payload) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) void reply.header(name, value);
    if (!reply.hasHeader('content-security-policy')) {
      // By path, not by content type: a 304 has none, and a browser (or the app's service worker)
      // merges a 304's headers into the page it revalidated. The app's files (pages, and scripts:
      // a worker runs under its own script's policy) get the app's policy; the API the strictest.
      void reply.header('content-security-policy', isApiPath(req.url) ? API_CSP : APP_CSP);
    }
    return payload;
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    metrics.requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    metrics.latency.observe({ method: req.method, route }, seconds);
    if (config.logRequests) {
      process.stderr.write(`${req.method} ${req.url} ${reply.statusCode} ${(seconds * 1000).toFixed(1)}ms\n`);
    }
  });

  app.setErrorHandler((err: FastifyError | FedexError | Error, req, reply) => {
    let status: number;
    let body: { error: { code: string; message: string } };
    const fe = err as FastifyError;
    if (
      !(err instanceof FedexError) &&
      typeof fe.statusCode === 'number' &&
      fe.statusCode >= 400 &&
      fe.statusCode < 500
    ) {
      status = fe.statusCode;
      const code =
        status === 413
          ? 'PAYLOAD_TOO_LARGE'
          : status === 415
            ? 'UNSUPPORTED_MEDIA_TYPE'
            : status === 429
              ? 'RATE_LIMITED'
              : 'BAD_REQUEST';
      body = { error: { code, message: fe.message } };
    } else {
      const mapped = httpError(err);
      status = mapped.status;
      body = mapped.body;
      if (mapped.internal)
        process.stderr.write(`fedex serve: ${req.method} ${req.url} failed: ${err.stack ?? String(err)}\n`);
    }
    // Refused before its body was read (no token, too large): close the connection after the
    // answer instead of reading and discarding megabytes the client is still sending.
    if (!req.raw.complete) void reply.header('connection', 'close');
    void reply.status(status).type('application/json').send(body);
  });

  app.setNotFoundHandler((req, reply) => {
    void reply
      .status(404)
      .send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } });
  });

  registerOpsRoutes(app, ctx, guards);
  registerDeviceRoutes(app, ctx, guards);
  registerSampleRoutes(app, ctx, guards);
  registerJobRoutes(app, ctx, guards);
  registerModelRoutes(app, ctx, guards);
  registerRoundRoutes(app, ctx, guards);
  registerStaticRoutes(app, ctx, guards);
  return app;
}
