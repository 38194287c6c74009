/**
 * The server's settings: one object with embedded defaults (so `npm start` needs no file), read
 * from CLI flags and `FEDEX_*` environment variables by `fedex serve`. Everything the server does
 * that a deployment may want to change is here, with its unit in the name.
 */
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { FedexError } from '../core/errors.js';
import type { TrainJobConfig } from './jobs/train-task.js';
import { isPostgresUrl } from './store/store.js';

export interface ServerConfig {
  /** Host to bind (`127.0.0.1`: loopback only; `0.0.0.0` to serve a network). */
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Folder of the SQLite file (`fedex.db`) and the admin key file. */
  dataDir: string;
  /**
   * Empty (default): the embedded SQLite file in `dataDir`. A `postgres://` URL: PostgreSQL, shared
   * by any number of API and worker processes (`fedex worker`); rate limits live there too.
   */
  database: string;
  /** A running job's claim lasts this long without a heartbeat; then another worker takes it (ms). */
  jobLeaseMs: number;
  /**
   * Admin bearer key. Empty: read `<dataDir>/admin-key`, or create it (random, mode 0600) on the
   * first start.
   */
  adminKey: string;
  /** `full`: fsync at every commit (an acknowledged upload survives power loss); `normal`: a crash. */
  durability: 'full' | 'normal';
  /** Largest request body in bytes of the binary uploads (feature batches, FedAvg updates). */
  bodyLimitBytes: number;
  /** Binary uploads one device may have in flight at once (more: 429 before the body is read). */
  uploadsInFlightPerDevice: number;
  /** Declared bytes of all uploads in flight together (more: 429 before the body is read). */
  uploadBytesInFlight: number;
  /** Largest JSON request body in bytes (routes that take long id lists have their own, larger). */
  jsonBodyLimitBytes: number;
  /** Deepest nesting of arrays and objects a JSON body may have (no route needs more than 4). */
  jsonMaxDepth: number;
  /** Most samples one user may store (0: no limit). */
  maxSamplesPerUser: number;
  /** Most feature bytes one user may store, counted as stored: 4 bytes a value (0: no limit). */
  maxFeatureBytesPerUser: number;
  /** Most epochs a training job may ask for. */
  maxJobEpochs: number;
  /** Most labelled samples one training job reads; more is refused (global: the newest are kept). */
  maxJobSamples: number;
  /** Wall time after which a running training job is stopped and failed (ms). */
  jobTimeoutMs: number;
  /** A request's headers must arrive within this time (ms), or the socket is closed (408). */
  headersTimeoutMs: number;
  /** A whole request (headers and body) must arrive within this time (ms). */
  requestTimeoutMs: number;
  /** An idle keep-alive socket is closed after this time (ms). */
  keepAliveTimeoutMs: number;
  /** Most samples in one uploaded batch. */
  maxBatchSamples: number;
  /** Most float values in one sample's feature (product of its shape). */
  maxFeatureValues: number;
  /** Per-device token bucket: sustained requests per second and burst size. 0 disables. */
  rateLimitPerSecond: number;
  rateLimitBurst: number;
  /** Training worker threads (0: none, jobs stay queued — for tests of the API alone). */
  workers: number;
  /** A user's head is retrained when this many new labelled samples arrived (0: never by count). */
  retrainAfterLabelled: number;
  /** Fresh models: a user's head with labelled data is retrained at least this often (ms). */
  userRetrainIntervalMs: number;
  /** The global model is retrained this often (ms); 0 disables the global schedule. */
  globalRetrainIntervalMs: number;
  /** How often the scheduler looks (ms). */
  schedulerTickMs: number;
  /** Training defaults for every job (a job's own config overrides them). */
  training: Partial<TrainJobConfig>;
  /**
   * `open`: a device may enroll itself with an enrollment token; `closed`: enrollment tokens are
   * refused (403 ENROLLMENT_CLOSED) and only the admin enrolls devices (by userId).
   */
  enrollment: 'open' | 'closed';
  /**
   * `open`: anyone who reaches the server may create a user with its first device in one call
   * (`POST /v1/devices` with `signup`), as the face app does on a personal server; `closed`
   * (default): users exist only when the admin makes them. Sign-up needs `enrollment: 'open'` too.
   */
  signup: 'open' | 'closed';
  /**
   * Sign-ups one network address may make per hour (all at once at most; the bucket refills
   * evenly), so an open server cannot be filled with users by one client; 0: no limit.
   */
  signupsPerHour: number;
  /** Serve the SDK's and the face app's source maps (`.map`); off in production (default). */
  serveSourceMaps: boolean;
  /** Log one line per request to stderr. */
  logRequests: boolean;
  /** Folder of the browser SDK bundle served at `/sdk/` (default `<package>/dist/sdk`). */
  sdkDir?: string;
  /**
   * A mask translation file (`fedex fit-mask-translation`): user and global models of its feature
   * spec also train on masked twins of the labelled photos. Read and checked at start.
   */
  maskTranslation?: string;
  /** Folder of the face app served at `/` (default `<package>/dist/web`, `npm run build:web`). */
  webDir?: string;
}

export const DEFAULT_PORT = 8787;

/** Embedded defaults: loopback, port 8787, `./fedex-data`, fsync per commit, both cores train. */
export function defaultServerConfig(): ServerConfig {
  return {
    host: '127.0.0.1',
    port: DEFAULT_PORT,
    dataDir: path.resolve('fedex-data'),
    adminKey: '',
    database: '',
    jobLeaseMs: 30_000,
    durability: 'full',
    bodyLimitBytes: 32 * 1024 * 1024,
    jsonBodyLimitBytes: 64 * 1024,
    uploadsInFlightPerDevice: 4,
    uploadBytesInFlight: 256 * 1024 * 1024,
    jsonMaxDepth: 16,
    maxSamplesPerUser: 100_000,
    maxFeatureBytesPerUser: 512 * 1024 * 1024,
    maxJobEpochs: 1000,
    maxJobSamples: 200_000,
    jobTimeoutMs: 30 * 60_000,
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 120_000,
    keepAliveTimeoutMs: 5_000,
    maxBatchSamples: 10_000,
    maxFeatureValues: 1 << 20,
    rateLimitPerSecond: 50,
    rateLimitBurst: 100,
    workers: availableParallelism(),
    retrainAfterLabelled: 10,
    userRetrainIntervalMs: 24 * 3600_000,
    globalRetrainIntervalMs: 24 * 3600_000,
    schedulerTickMs: 30_000,
    training: {},
    enrollment: 'open',
    signup: 'closed',
    signupsPerHour: 30,
    serveSourceMaps: false,
    logRequests: false,
  };
}

/** Defaults overridden by `partial`, checked; BAD_ARGUMENT names the first bad setting. */
export function resolveServerConfig(partial: Partial<ServerConfig> = {}): ServerConfig {
  const c: ServerConfig = { ...defaultServerConfig(), ...partial };
  const intIn = (name: keyof ServerConfig, min: number, max: number) => {
    const v = c[name] as number;
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new FedexError(
        'BAD_ARGUMENT',
        `${name} must be an integer in [${min}, ${max}], got ${String(v)}`,
      );
    }
  };
  intIn('port', 0, 65535);
  intIn('bodyLimitBytes', 1024, 2 ** 31 - 1);
  intIn('maxBatchSamples', 1, 1_000_000);
  intIn('jsonBodyLimitBytes', 1024, 16 * 1024 * 1024);
  intIn('jsonMaxDepth', 2, 1000);
  intIn('uploadsInFlightPerDevice', 1, 1000);
  intIn('uploadBytesInFlight', 1024, Number.MAX_SAFE_INTEGER);
  intIn('maxSamplesPerUser', 0, 2 ** 31 - 1);
  intIn('maxFeatureBytesPerUser', 0, Number.MAX_SAFE_INTEGER);
  intIn('maxJobEpochs', 1, 100_000);
  intIn('maxJobSamples', 2, 100_000_000);
  intIn('jobTimeoutMs', 1000, 7 * 24 * 3600_000);
  intIn('jobLeaseMs', 100, 24 * 3600_000);
  if (typeof c.database !== 'string' || (c.database !== '' && !isPostgresUrl(c.database))) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `database must be empty (the SQLite file in the data folder) or a postgres:// URL, got "${String(c.database)}"`,
    );
  }
  intIn('headersTimeoutMs', 100, 3600_000);
  intIn('requestTimeoutMs', 100, 3600_000);
  intIn('keepAliveTimeoutMs', 100, 3600_000);
  if (c.headersTimeoutMs > c.requestTimeoutMs)
    throw new FedexError('BAD_ARGUMENT', 'headersTimeoutMs must not exceed requestTimeoutMs');
  intIn('maxFeatureValues', 1, 1 << 26);
  intIn('rateLimitBurst', 0, 1_000_000);
  intIn('workers', 0, 64);
  intIn('signupsPerHour', 0, 1_000_000);
  intIn('retrainAfterLabelled', 0, 1_000_000_000);
  intIn('schedulerTickMs', 10, 24 * 3600_000);
  for (const name of ['userRetrainIntervalMs', 'globalRetrainIntervalMs'] as const) {
    if (!(c[name] >= 0) || !Number.isFinite(c[name])) {
      throw new FedexError('BAD_ARGUMENT', `${name} must be a finite number ≥ 0, got ${String(c[name])}`);
    }
  }
  if (!(c.rateLimitPerSecond >= 0) || !Number.isFinite(c.rateLimitPerSecond)) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `rateLimitPerSecond must be ≥ 0, got ${String(c.rateLimitPerSecond)}`,
    );
  }
  if (c.durability !== 'full' && c.durability !== 'normal') {
    throw new FedexError('BAD_ARGUMENT', `durability must be full or normal, got ${String(c.durability)}`);
  }
  if (c.enrollment !== 'open' && c.enrollment !== 'closed') {
    throw new FedexError('BAD_ARGUMENT', `enrollment must be open or closed, got ${String(c.enrollment)}`);
  }
  if (c.signup !== 'open' && c.signup !== 'closed') {
    throw new FedexError('BAD_ARGUMENT', `signup must be open or closed, got ${String(c.signup)}`);
  }
  if (typeof c.dataDir !== 'string' || c.dataDir.length === 0) {
    throw new FedexError('BAD_ARGUMENT', 'dataDir must be a folder path');
  }
  if (c.adminKey !== '' && c.adminKey.length < 16) {
    throw new FedexError('BAD_ARGUMENT', 'adminKey must be at least 16 characters');
  }
  return c;
}
