/**
 * The whole server in one process: the SQLite store in the data folder, the HTTP API, training
 * worker threads and the retraining scheduler. `startServer` is what `fedex serve` (and `npm
 * start`) run; tests start it on port 0 with a temporary folder. With `database: 'postgres://…'`
 * the same process is one of many: its state is in PostgreSQL (rate limits included), and training
 * may run here (`workers`) or in `fedex worker` processes anywhere.
 *
 * Start-up order matters for durability: the store opens (and migrates) first, jobs left running
 * by a crashed process go back to the queue, then the API listens, then workers start.
 */
import {
  accessSync,
  chmodSync,
  constants as fsConstants,
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { FedexError } from '../core/errors.js';
import { buildApp } from './app.js';
import { resolveServerConfig, type ServerConfig } from './config.js';
import { JobRunner, type JobFinishedEvent } from './jobs/runner.js';
import { readMaskTranslationFile } from './jobs/mask-translation-file.js';
import { Scheduler } from './jobs/scheduler.js';
import { createMetrics } from './metrics.js';
import type { RateLimiter } from './rate-limit.js';
import { openStore } from './store/open.js';
import { newSecret, type Store } from './store/store.js';

export const SERVER_VERSION = '0.1.0';
export const DB_FILE = 'fedex.db';
export const ADMIN_KEY_FILE = 'admin-key';

export interface RunningServer {
  /** `http://host:port` it listens on. */
  url: string;
  port: number;
  config: ServerConfig;
  adminKey: string;
  /** Where the admin key was read from or written to (null when given in the config). */
  adminKeyFile: string | null;
  /** The SQLite file (with the default store), else the PostgreSQL URL (password masked). */
  dbFile: string;
  store: Store;
  app: FastifyInstance;
  runner: JobRunner | null;
  scheduler: Scheduler;
  /** Stops listening, stops workers (running jobs go back to the queue), closes the database. */
  close(): Promise<void>;
}

/** The admin key: given, or read from `<dataDir>/admin-key`, or created there (mode 0600). */
function resolveAdminKey(config: ServerConfig): { key: string; file: string | null } {
  if (config.adminKey) return { key: config.adminKey, file: null };
  const file = path.join(config.dataDir, ADMIN_KEY_FILE);
  if (existsSync(file)) {
    const key = readFileSync(file, 'utf8').trim();
    if (key.length < 16)
      throw new FedexError('BAD_ARGUMENT', `${file} holds no usable admin key (16+ characters)`);
    return { key, file };
  }
  const key = newSecret('fxa');
  writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return { key, file };
}

/**
 * Makes sure the data folder exists and can be written, or says in one line why not (a read-only
 * folder, disk or mount used to end in a stack trace from deep inside the start-up).
 */
function prepareDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, fsConstants.W_OK);
  } catch (cause) {
    const e = cause as NodeJS.ErrnoException;
    const why =
      e.code === 'EACCES' || e.code === 'EPERM'
        ? 'permission denied'
        : e.code === 'EROFS'
          ? 'read-only file system'
          : e.code === 'ENOTDIR'
            ? 'a file is in the way'
            : e.code === 'ENOSPC'
              ? 'no space left'
              : (e.code ?? e.message);
    throw new FedexError(
      'UNAVAILABLE',
      `the data folder ${dir} cannot be written (${why}); give the server a writable folder with --data-dir`,
      { cause },
    );
  }
}

export async function startServer(partial: Partial<ServerConfig> = {}): Promise<RunningServer> {
  const config = resolveServerConfig(partial);
  // A bad translation file fails the start in one line, not every job later.
  if (config.maskTranslation !== undefined) readMaskTranslationFile(config.maskTranslation);
  prepareDataDir(config.dataDir);
  const { key: adminKey, file: adminKeyFile } = resolveAdminKey(config);
  const database = config.database || path.join(config.dataDir, DB_FILE);
  const store = await openStore(database, { synchronous: config.durability });
  // One process alone on its SQLite file: jobs it left running died with it. With PostgreSQL other
  // processes' jobs may be running; their leases say when they are gone.
  const recovered = store.kind === 'sqlite' ? await store.recoverRunningJobs() : 0;
  const metrics = createMetrics(store, { processMetrics: true });
  const dbFile = store.location;

  const runner =
    config.workers > 0
      ? new JobRunner({
          store,
          database,
          workers: config.workers,
          leaseMs: config.jobLeaseMs,
          recoverOnStart: false, // done above, before the API listens
          defaults: config.training,
          maxJobSamples: config.maxJobSamples,
          ...(config.maskTranslation !== undefined
            ? { maskTranslation: path.resolve(config.maskTranslation) }
            : {}),
          jobTimeoutMs: config.jobTimeoutMs,
          log: config.logRequests ? (line) => process.stderr.write(`${line}\n`) : undefined,
        })
      : null;
  runner?.on('finished', (e: JobFinishedEvent) => {
    metrics.jobsFinished.inc({ outcome: e.outcome });
    metrics.trainingSeconds.observe(e.seconds);
  });
  const scheduler = new Scheduler({
    store,
    runner: runner ?? undefined,
    minNewLabelled: config.retrainAfterLabelled,
    userIntervalMs: config.userRetrainIntervalMs,
    globalIntervalMs: config.globalRetrainIntervalMs,
    tickMs: config.schedulerTickMs,
  });

  // Many API processes on one PostgreSQL share each device's bucket; alone, memory is enough.
  const rateLimiter =
    store.kind === 'postgres'
      ? await pgRateLimiter(store, config.rateLimitPerSecond, config.rateLimitBurst)
      : undefined;
  let app: FastifyInstance;
  try {
    app = await buildApp({
      store,
      ...(rateLimiter ? { rateLimiter } : {}),
      config,
      metrics,
      adminKey,
      startedAt: Date.now(),
      version: SERVER_VERSION,
      onIngest: (userId) => scheduler.afterIngest(userId),
      onJobQueued: () => runner?.kick(),
      onJobCancelled: (jobId) => runner?.cancel(jobId),
    });
    await app.listen({ host: config.host, port: config.port });
  } catch (cause) {
    await store.close();
    const e = cause as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE')
      throw new FedexError('UNAVAILABLE', `port ${config.port} is in use; pick another with --port`, {
        cause,
      });
    throw cause;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  await runner?.start();
  scheduler.start();
  if (recovered > 0 && config.logRequests)
    process.stderr.write(`requeued ${recovered} job(s) left running\n`);

  let closed = false;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    port,
    config,
    adminKey,
    adminKeyFile,
    dbFile,
    store,
    app,
    runner,
    scheduler,
    async close() {
      if (closed) return;
      closed = true;
      scheduler.stop();
      await app.close();
      await runner?.stop();
      await store.close();
    },
  };
}

async function pgRateLimiter(store: Store, perSecond: number, burst: number): Promise<RateLimiter> {
  const [{ PgStore }, { PgRateLimiter }] = await Promise.all([
    import('./store/postgres.js'),
    import('./store/pg-rate-limit.js'),
  ]);
  if (!(store instanceof PgStore)) throw new FedexError('INTERNAL', 'a postgres store that is not a PgStore');
  return new PgRateLimiter(store.pool, perSecond, burst);
}
