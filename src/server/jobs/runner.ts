/**
 * Runs queued training jobs on a pool of worker threads (tfjs WASM trains on one thread, so N
 * workers train N scopes at once on N cores, and the HTTP thread never trains). The store is the
 * queue: the runner claims a job for an idle worker, writes its progress (throttled), and stores
 * the outcome — model version and "trained through" mark and job status in one transaction.
 *
 * Failure handling: a job whose worker dies (crash, out of memory, terminated) goes back to the
 * queue (`failJob(..., retry)`) and a replacement worker starts; the scope's previous model stays
 * the one served, because nothing is written until a job finishes. Errors that would repeat on a
 * retry (not enough data, a bad config) fail the job for good. `stop()` puts running jobs back on
 * the queue; `start()` puts back jobs a crashed process left running.
 *
 * Only this module writes job outcomes; workers read the database through their own read-only
 * connection.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import { FedexError } from '../../core/errors.js';
import { isPostgresUrl, type JobLease, type Store } from '../store/store.js';
import type { Job, ModelInfo } from '../store/types.js';
import type { TrainRequest, TrainWorkerData, WorkerReply } from './protocol.js';
import { resolveTrainJobConfig, type TrainJobConfig, type TrainOutcome } from './train-task.js';

/** Error codes that a retry would only repeat: the job fails at once. */
const NO_RETRY_CODES: ReadonlySet<string> = new Set([
  'NOT_ENOUGH_DATA',
  'BAD_REQUEST',
  'MODEL_UNKNOWN_HEAD',
  'MODEL_HEAD_NOT_APPLICABLE',
  'NOT_FOUND',
  'FEATURE_MISMATCH',
]);

/** Least time between two progress writes of one job. */
const PROGRESS_WRITE_MS = 250;
const POLL_MS = 200;

export interface JobRunnerOptions {
  store: Store;
  /** The store's database, as workers open it: the SQLite file (read-only) or the PostgreSQL URL. */
  database: string;
  /**
   * How long a claim lasts without a heartbeat (renewed every third of it while the job runs). A
   * runner that dies (process killed, machine gone) loses its jobs to other runners after this.
   * Default 30 s.
   */
  leaseMs?: number;
  /**
   * At start, put every job left `running` back on the queue. Right for the single-process server
   * (no one else runs jobs); wrong with other runners on the same database, whose running jobs
   * are theirs (their leases say when they are gone). Default: true for SQLite, false otherwise.
   */
  recoverOnStart?: boolean;
  /** Worker threads. Default `os.availableParallelism()`. */
  workers?: number;
  /** Training config over `DEFAULT_TRAIN_JOB_CONFIG`, under each job's own config. */
  defaults?: Partial<TrainJobConfig>;
  /** Most labelled samples one job reads (the newest). Default: all. */
  maxJobSamples?: number;
  /**
   * A mask translation file (checked by the caller, read by each worker thread): jobs of its
   * feature spec with `maskTwins` also train on masked twins of their photos.
   */
  maskTranslation?: string;
  /** A job running longer is stopped (its worker terminated) and failed for good. Default 30 min. */
  jobTimeoutMs?: number;
  log?: (line: string) => void;
}

/** Emitted as `finished` after each job attempt ends (done, failed, or sent back to the queue). */
export interface JobFinishedEvent {
  job: Job;
  /** `done`: stored; `failed`: failed for good; `retry`: back on the queue. */
  outcome: 'done' | 'failed' | 'retry';
  model?: ModelInfo;
  metrics?: TrainOutcome['metrics'];
  error?: { code: string; message: string };
  seconds: number;
}

export interface JobRunnerStats {
  workers: number;
  busy: number;
  completed: number;
  failed: number;
  /** Attempts sent back to the queue (worker crashes, retryable errors). */
  retried: number;
  /** Outcomes dropped because this runner no longer held the job (its lease was taken over). */
  stale: number;
}

interface Slot {
  id: number;
  worker: Worker;
  ready: boolean;
  job?: Job;
  /** The resolved config of `job`. */
  config?: TrainJobConfig;
  startedAt: number;
  lastProgressWrite: number;
  /** Set when the runner itself terminates the worker. */
  retiring: boolean;
  /** Fires when the job runs past `jobTimeoutMs`. */
  deadline?: NodeJS.Timeout;
}

/** The worker module next to this one, with this module's extension (`.ts` from source). */
function workerEntry(): string {
  const ext = path.extname(fileURLToPath(import.meta.url));
  return new URL(`./worker${ext}`, import.meta.url).href;
}

const BOOT = new URL('../../data/extract-worker-boot.mjs', import.meta.url);

/**
 * A pool of training workers fed from the store's job queue.
 *
 * @example
 * const runner = new JobRunner({ store, dbFile, workers: 2 });
 * runner.on('finished', (e) => metrics.jobs.inc({ outcome: e.outcome }));
 * runner.start();
 * store.enqueueJob('user:alice', 'manual'); runner.kick();
 * await runner.stop();
 */
export class JobRunner extends EventEmitter {
  private readonly store: Store;
  private readonly database: string;
  /** This runner's claims: its id (host, pid, random) and lease length. */
  readonly lease: JobLease;
  private readonly recoverOnStart: boolean;
  private claiming = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly size: number;
  private readonly defaults: Partial<TrainJobConfig>;
  private readonly maxJobSamples: number | undefined;
  private readonly maskTranslation: string | undefined;
  private readonly jobTimeoutMs: number;
  private readonly log: (line: string) => void;
  private readonly slots: Slot[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private nextSlotId = 1;
  private counts = { completed: 0, failed: 0, retried: 0, stale: 0 };

  constructor(options: JobRunnerOptions) {
    super();
    this.store = options.store;
    this.database = isPostgresUrl(options.database) ? options.database : path.resolve(options.database);
    const leaseMs = options.leaseMs ?? 30_000;
    if (!Number.isFinite(leaseMs) || leaseMs < 100)
      throw new FedexError('BAD_ARGUMENT', `leaseMs must be at least 100 (got ${leaseMs})`);
    this.lease = {
      owner: `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
      ms: leaseMs,
    };
    this.recoverOnStart = options.recoverOnStart ?? options.store.kind === 'sqlite';
    this.size = options.workers ?? os.availableParallelism();
    if (!Number.isInteger(this.size) || this.size < 1)
      throw new FedexError('BAD_ARGUMENT', `workers must be an integer >= 1 (got ${this.size})`);
    this.defaults = options.defaults ?? {};
    resolveTrainJobConfig(this.defaults); // a bad default fails here, not in every job
    this.maxJobSamples = options.maxJobSamples;
    this.maskTranslation = options.maskTranslation;
    this.jobTimeoutMs = options.jobTimeoutMs ?? 30 * 60_000;
    this.log = options.log ?? (() => {});
  }

  /**
   * Puts jobs a previous process left running back on the queue (with `recoverOnStart`), starts
   * the workers, the poll and the heartbeat of running jobs.
   */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    if (this.recoverOnStart) {
      const recovered = await this.store.recoverRunningJobs();
      if (recovered > 0) this.log(`jobs: ${recovered} job(s) left running by a previous process requeued`);
    }
    for (let i = 0; i < this.size; i++) this.spawn();
    this.timer = setInterval(() => this.kick(), POLL_MS);
    this.timer.unref();
    this.heartbeat = setInterval(() => void this.renewLeases(), Math.max(50, this.lease.ms / 3));
    this.heartbeat.unref();
  }

  /** Claims queued jobs for idle workers now (call after enqueueing). Never throws. */
  kick(): void {
    void this.claim().catch((e: unknown) => this.log(`jobs: claim failed: ${(e as Error).message}`));
  }

  private async claim(): Promise<void> {
    if (!this.running || this.claiming) return;
    this.claiming = true;
    try {
      for (const slot of this.slots) {
        if (!slot.ready || slot.job || slot.retiring) continue;
        const job = await this.store.claimJob(this.lease);
        if (!job) return;
        if (!this.running || slot.retiring) {
          await this.store.failJob(job.id, 'the job runner stopped while claiming', true, this.lease);
          return;
        }
        this.dispatch(slot, job);
      }
    } finally {
      this.claiming = false;
    }
  }

  /**
   * Renews the lease of every running job. A job cancelled meanwhile (by any API process) or taken
   * over by another runner (this one was too slow to renew) is stopped here.
   */
  private async renewLeases(): Promise<void> {
    for (const slot of [...this.slots]) {
      const job = slot.job;
      if (!job || slot.retiring) continue;
      let state;
      try {
        state = await this.store.heartbeatJob(job.id, this.lease);
      } catch (e) {
        this.log(`jobs: heartbeat of job ${job.id} failed: ${(e as Error).message}`);
        continue;
      }
      if (state === 'held' || slot.job?.id !== job.id) continue;
      this.log(
        `jobs: job ${job.id} ${state === 'cancelled' ? 'was cancelled' : 'was taken over'}; stopping it`,
      );
      if (state === 'lost') this.counts.stale += 1;
      this.replaceWorker(slot);
    }
  }

  /** Stops the workers; jobs they were running go back to the queue. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.timer = undefined;
    this.heartbeat = undefined;
    const slots = this.slots.splice(0);
    const terminated = Promise.all(slots.map((s) => s.worker.terminate()));
    for (const slot of slots) {
      slot.retiring = true;
      clearTimeout(slot.deadline);
      if (slot.job) {
        const id = slot.job.id;
        slot.job = undefined;
        try {
          const job = await this.store.failJob(
            id,
            'the job runner stopped while the job was running',
            true,
            this.lease,
          );
          this.log(
            `jobs: job ${job.id} (${job.scope}) ${job.status === 'queued' ? 'requeued' : 'failed'} at stop`,
          );
        } catch (e) {
          // The database is away: the job's lease runs out and another runner takes it.
          this.log(`jobs: could not requeue job ${id} at stop: ${(e as Error).message}`);
        }
      }
    }
    await terminated;
  }

  /**
   * Stops the job `jobId` if a worker is running it: the worker thread is terminated (tfjs cannot
   * be interrupted mid-epoch otherwise) and a fresh one takes its place. The caller has already
   * marked the job cancelled in the store, so nothing of it is stored. True when it was running.
   */
  cancel(jobId: number): boolean {
    const slot = this.slots.find((s) => s.job?.id === jobId);
    if (!slot) return false;
    this.log(`jobs: job ${jobId} cancelled while running on worker ${slot.id}`);
    this.replaceWorker(slot);
    return true;
  }

  /** Terminates a slot's worker on purpose and starts a fresh one in its place. */
  private replaceWorker(slot: Slot): void {
    slot.retiring = true;
    slot.job = undefined;
    if (slot.deadline) clearTimeout(slot.deadline);
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    void slot.worker.terminate();
    if (this.running) this.spawn();
  }

  stats(): JobRunnerStats {
    return {
      workers: this.slots.length,
      busy: this.slots.filter((s) => s.job).length,
      ...this.counts,
    };
  }

  /** The live worker threads, so a test can kill one mid-job. Not for production use. */
  workerThreadsForTest(): Worker[] {
    return this.slots.map((s) => s.worker);
  }

  /** Worker threads of jobs running now, so a test can kill the one training a given job. */
  workerOfJobForTest(jobId: number): Worker | undefined {
    return this.slots.find((s) => s.job?.id === jobId)?.worker;
  }

  private spawn(): void {
    const data: TrainWorkerData = { entry: workerEntry() };
    const worker = new Worker(BOOT, { workerData: data });
    const slot: Slot = {
      id: this.nextSlotId++,
      worker,
      ready: false,
      startedAt: 0,
      lastProgressWrite: 0,
      retiring: false,
    };
    this.slots.push(slot);
    let lastError: string | undefined;
    worker.on('message', (msg: WorkerReply) => this.onMessage(slot, msg));
    worker.on('error', (e) => {
      lastError = e?.message ?? String(e);
    });
    worker.on('exit', (code) => this.onExit(slot, code, lastError));
  }

  private dispatch(slot: Slot, job: Job): void {
    const { specKey, ...jobConfig } = job.config as Record<string, unknown>;
    let config: TrainJobConfig;
    try {
      config = resolveTrainJobConfig(this.defaults, jobConfig);
      if (specKey !== undefined && typeof specKey !== 'string')
        throw new FedexError('BAD_REQUEST', 'training config: specKey must be a string');
    } catch (e) {
      const err = e as FedexError;
      void this.finishFailed(job, { code: err.code ?? 'BAD_REQUEST', message: err.message }, false, 0);
      return;
    }
    slot.job = job;
    slot.config = config;
    slot.startedAt = Date.now();
    slot.lastProgressWrite = 0;
    const request: TrainRequest = {
      type: 'train',
      jobId: job.id,
      scope: job.scope,
      ...(specKey !== undefined ? { specKey } : {}),
      config,
      ...(this.maxJobSamples !== undefined ? { maxSamples: this.maxJobSamples } : {}),
      ...(this.maskTranslation !== undefined ? { maskTranslation: this.maskTranslation } : {}),
      database: this.database,
    };
    slot.deadline = setTimeout(() => {
      if (slot.job?.id !== job.id) return;
      const seconds = (Date.now() - slot.startedAt) / 1000;
      this.replaceWorker(slot);
      // A retry would run as long again: the job fails for good, and the worker is free for others.
      void this.finishFailed(
        job,
        { code: 'JOB_FAILED', message: `stopped after ${seconds.toFixed(0)} s, the server's limit per job` },
        false,
        seconds,
      )
        .catch((e: unknown) => this.lostOutcome(job, e))
        .finally(() => this.kick());
    }, this.jobTimeoutMs);
    slot.deadline.unref();
    this.log(`jobs: job ${job.id} (${job.scope}, attempt ${job.attempts}) started on worker ${slot.id}`);
    slot.worker.postMessage(request);
  }

  private onMessage(slot: Slot, msg: WorkerReply): void {
    if (slot.retiring) return;
    switch (msg.type) {
      case 'ready':
        slot.ready = true;
        this.kick();
        return;
      case 'fatal':
        this.log(`jobs: worker ${slot.id} could not start: ${msg.code}: ${msg.message}`);
        // No respawn loop: a worker that cannot initialise would fail again. The pool shrinks.
        slot.retiring = true;
        this.slots.splice(this.slots.indexOf(slot), 1);
        void slot.worker.terminate();
        return;
      case 'progress': {
        if (slot.job?.id !== msg.jobId) return;
        const t = Date.now();
        if (t - slot.lastProgressWrite < PROGRESS_WRITE_MS && msg.progress < 1) return;
        slot.lastProgressWrite = t;
        void this.store
          .updateJobProgress(msg.jobId, msg.progress, msg.message, this.lease)
          .catch(() => undefined); // progress is advisory; the heartbeat reports a lost database
        return;
      }
      case 'done': {
        const job = slot.job;
        if (job?.id !== msg.jobId) return;
        slot.job = undefined;
        clearTimeout(slot.deadline);
        void this.finishDone(
          job,
          slot.config!,
          msg.specKey,
          msg.outcome,
          (Date.now() - slot.startedAt) / 1000,
        )
          .catch((e: unknown) => this.lostOutcome(job, e))
          .finally(() => this.kick());
        return;
      }
      case 'error': {
        const job = slot.job;
        if (job?.id !== msg.jobId) return;
        slot.job = undefined;
        clearTimeout(slot.deadline);
        void this.finishFailed(job, msg, !NO_RETRY_CODES.has(msg.code), (Date.now() - slot.startedAt) / 1000)
          .catch((e: unknown) => this.lostOutcome(job, e))
          .finally(() => this.kick());
        return;
      }
    }
  }

  private onExit(slot: Slot, code: number, lastError: string | undefined): void {
    if (slot.retiring) return;
    clearTimeout(slot.deadline);
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    const why = `training worker exited unexpectedly (exit code ${code}${lastError ? `: ${lastError}` : ''})`;
    this.log(`jobs: worker ${slot.id}: ${why}`);
    if (slot.job) {
      const job = slot.job;
      slot.job = undefined;
      void this.finishFailed(
        job,
        { code: 'INTERNAL', message: why },
        true,
        (Date.now() - slot.startedAt) / 1000,
      ).catch((e: unknown) => this.lostOutcome(job, e));
    }
    if (this.running) this.spawn();
  }

  /**
   * An outcome that could not be written (the database away): nothing of it is stored, and the
   * job's lease runs out, so it is trained again by whichever runner claims it next.
   */
  private lostOutcome(job: Job, e: unknown): void {
    this.log(`jobs: job ${job.id} (${job.scope}): outcome not stored: ${(e as Error).message}`);
  }

  private async finishDone(
    job: Job,
    config: TrainJobConfig,
    specKey: string,
    outcome: TrainOutcome,
    seconds: number,
  ): Promise<void> {
    const {
      job: stored,
      model,
      stale,
    } = await this.store.completeJob(
      job.id,
      {
        result: { ...outcome.metrics, specKey, promote: outcome.promote, reason: outcome.reason },
        model: {
          scope: job.scope,
          specKey,
          head: config.head,
          config: { ...config },
          metrics: { ...outcome.metrics },
          labels: outcome.labels,
          weights: outcome.weights,
          status: outcome.promote ? 'promoted' : 'rejected',
          reason: outcome.reason,
        },
        trainedThrough: outcome.trainedThrough,
        trainedRemovals: outcome.trainedRemovals,
      },
      this.lease,
    );
    if (stale) {
      // Another runner took the job over when this one's lease ran out: its attempt stores the
      // model, this one stores nothing (one version per job).
      this.counts.stale += 1;
      this.log(`jobs: job ${job.id} (${job.scope}) finished here after another runner took it over; dropped`);
      return;
    }
    this.counts.completed += 1;
    this.log(
      `jobs: job ${job.id} (${job.scope}) done in ${seconds.toFixed(1)} s: version ${model?.version} ${model?.status}` +
        (outcome.reason ? ` (${outcome.reason})` : ''),
    );
    this.emit('finished', {
      job: stored,
      outcome: 'done',
      model,
      metrics: outcome.metrics,
      seconds,
    } satisfies JobFinishedEvent);
  }

  private async finishFailed(
    job: Job,
    error: { code: string; message: string },
    retry: boolean,
    seconds: number,
  ): Promise<void> {
    const stored = await this.store.failJob(job.id, `${error.code}: ${error.message}`, retry, this.lease);
    const outcome = stored.status === 'queued' ? 'retry' : 'failed';
    if (outcome === 'retry') this.counts.retried += 1;
    else this.counts.failed += 1;
    this.log(
      `jobs: job ${job.id} (${job.scope}) ${outcome === 'retry' ? 'requeued' : 'failed'}: ${error.code}: ${error.message}`,
    );
    this.emit('finished', { job: stored, outcome, error, seconds } satisfies JobFinishedEvent);
  }
}
