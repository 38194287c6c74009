/**
 * What the HTTP routes share, as types only: who made a request (`Principal`), the context the app
 * is built with (`AppContext`) and the auth guards. Route modules depend on this small module, not
 * on `app.ts` that registers them, so there is no import cycle between the app and its routes.
 */
import type { FastifyRequest } from 'fastify';
import type { ServerConfig } from './config.js';
import type { ServerMetrics } from './metrics.js';
import type { RateLimiter } from './rate-limit.js';
import type { Store } from './store/store.js';
import type { Device, Job } from './store/types.js';

/** Who made a request. */
export type Principal = { kind: 'admin' } | { kind: 'device'; device: Device };

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /**
     * `true`: a `/v1/` route that callers without a token may use (enrollment, sign-up). Every other
     * `/v1/` route refuses a request without a token in `onRequest`, before its body is read.
     */
    anonymous?: boolean;
    /** `true`: a binary upload route; a device's request passes the {@link UploadGate} first. */
    upload?: boolean;
  }
}

/** What the routes need; `./server.ts` builds it. */
export interface AppContext {
  store: Store;
  config: ServerConfig;
  metrics: ServerMetrics;
  adminKey: string;
  /** Called after a user's data changed (a stored batch, a relabel, a deletion): the scheduler decides whether a retraining is due. */
  onIngest?: (userId: string) => void | Promise<unknown>;
  /** Called after a job was queued (the runner claims it at once if a worker is idle). */
  onJobQueued?: (job: Job) => void;
  /** Called after a running job was marked cancelled (the runner stops its worker). */
  onJobCancelled?: (jobId: number) => void;
  /** Per-device request limiter; default: in this process's memory (see `rate-limit.ts`). */
  rateLimiter?: RateLimiter;
  /** Process start, for /healthz. */
  startedAt: number;
  version: string;
}

/** Auth helpers bound to one app; routes call these first. */
export interface Guards {
  /** Any authenticated caller; AUTH_REQUIRED otherwise. */
  principal(req: FastifyRequest): Principal;
  admin(req: FastifyRequest): void;
  device(req: FastifyRequest): Device;
  /** The admin, or a device of `userId` (FORBIDDEN for another user's device). */
  userAccess(req: FastifyRequest, userId: string): Principal;
}
