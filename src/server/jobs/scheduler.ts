/**
 * Decides when a scope is retrained, and queues the job (the runner trains it). Rules, checked on
 * every tick and, for one user, after each upload or relabel (`afterIngest`):
 *
 * - `user:<id>`, trigger `new-samples`: the user has at least `minNewLabelled` labelled samples
 *   that arrived (or were relabelled) after the last finished training.
 * - `user:<id>`, trigger `schedule`: fewer than that are new, but some are (retraining on
 *   unchanged data would give the same model: training is deterministic), and the user was last
 *   trained more than `userIntervalMs` ago — or never, and was created more than `userIntervalMs`
 *   ago (a user who labels a few photos still gets a model within a day).
 * - `user:<id>`, trigger `deletion`: labelled samples were deleted after the last finished training
 *   (the served model still knows them); due at once, whatever the counts.
 * - `global`, trigger `schedule`: the `global` schedule entry is older than `globalIntervalMs` (or
 *   absent) and labelled samples exist from at least two classes (two users with labelled samples,
 *   or one user with two named labels; the worker checks the exact rule). The entry is marked when
 *   the job is queued.
 *
 * Never queues a scope that already has a job queued or running, nor one whose last job failed
 * less than `failureBackoffMs` ago (a user with one labelled person would otherwise fail a job
 * every tick). Decisions read and write only the store; the timer is unref'd.
 */
import { userScope, type Store } from '../store/store.js';
import type { Job, JobTrigger, Scope, UserSummary } from '../store/types.js';

/** The part of the runner the scheduler uses. */
export interface Kickable {
  kick(): void;
}

export interface SchedulerOptions {
  store: Store;
  /** Told when a job was queued; absent: jobs wait for whoever polls the queue. */
  runner?: Kickable;
  /** New labelled samples that trigger a user's retraining. Default 10; 0: never by count. */
  minNewLabelled?: number;
  /** A user with new labelled samples is retrained at least this often. Default 24 h; 0: off. */
  userIntervalMs?: number;
  /** The global model is retrained this often. Default 24 h; 0: off. */
  globalIntervalMs?: number;
  /** After a failed job, the scope is left alone this long. Default 10 min. */
  failureBackoffMs?: number;
  /** Tick period of `start()`. Default 30 s. */
  tickMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export const DEFAULT_SCHEDULER_OPTIONS = Object.freeze({
  minNewLabelled: 10,
  userIntervalMs: 24 * 3600_000,
  globalIntervalMs: 24 * 3600_000,
  failureBackoffMs: 10 * 60_000,
  tickMs: 30_000,
});

/** Name of the global model's entry in the store's schedule table. */
export const GLOBAL_SCHEDULE = 'global';

/**
 * @example
 * const scheduler = new Scheduler({ store, runner });
 * scheduler.start();                       // ticks every 30 s
 * scheduler.afterIngest('alice');          // after an upload: queue if enough is new
 */
/** What the decision reads about a user. */
type RetrainState = Pick<UserSummary, 'id' | 'createdAt' | 'lastTrainedAt' | 'newLabelled' | 'forgetPending'>;

export class Scheduler {
  private readonly store: Store;
  private readonly runner?: Kickable;
  private readonly o: Required<Pick<SchedulerOptions, keyof typeof DEFAULT_SCHEDULER_OPTIONS>>;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;

  constructor(options: SchedulerOptions) {
    this.store = options.store;
    this.runner = options.runner;
    this.now = options.now ?? Date.now;
    this.o = {
      minNewLabelled: options.minNewLabelled ?? DEFAULT_SCHEDULER_OPTIONS.minNewLabelled,
      userIntervalMs: options.userIntervalMs ?? DEFAULT_SCHEDULER_OPTIONS.userIntervalMs,
      globalIntervalMs: options.globalIntervalMs ?? DEFAULT_SCHEDULER_OPTIONS.globalIntervalMs,
      failureBackoffMs: options.failureBackoffMs ?? DEFAULT_SCHEDULER_OPTIONS.failureBackoffMs,
      tickMs: options.tickMs ?? DEFAULT_SCHEDULER_OPTIONS.tickMs,
    };
  }

  /** Looks at every user and the global model once; queues what is due and kicks the runner. */
  async tick(): Promise<{ enqueued: Job[] }> {
    const enqueued: Job[] = [];
    for (const user of await this.store.listUsers()) {
      const job = await this.considerUser(user);
      if (job) enqueued.push(job);
    }
    const global = await this.considerGlobal();
    if (global) enqueued.push(global);
    if (enqueued.length > 0) this.runner?.kick();
    return { enqueued };
  }

  /**
   * After a stored upload or relabel of `userId`: queues the user's retraining when it is due (same
   * rules as a tick) and kicks the runner. Returns the job queued, if any.
   */
  async afterIngest(userId: string): Promise<Job | undefined> {
    const user = await this.store.retrainState(userId);
    const job = user ? await this.considerUser(user) : undefined;
    if (job) this.runner?.kick();
    return job;
  }

  /** Ticks every `tickMs` (unref'd: does not keep the process alive). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      // One tick at a time; a failed one (the database away) is retried at the next.
      if (this.ticking) return;
      this.ticking = true;
      this.tick()
        .catch(() => undefined)
        .finally(() => (this.ticking = false));
    }, this.o.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The trigger due for a user, or null. */
  dueTrigger(user: RetrainState): JobTrigger | null {
    // Deleted labelled samples: the served model still knows them, so it is replaced at once.
    if (user.forgetPending) return 'deletion';
    if (user.newLabelled === 0) return null;
    if (this.o.minNewLabelled > 0 && user.newLabelled >= this.o.minNewLabelled) return 'new-samples';
    if (this.o.userIntervalMs > 0) {
      const since = user.lastTrainedAt ?? user.createdAt;
      if (this.now() - since > this.o.userIntervalMs) return 'schedule';
    }
    return null;
  }

  private async considerUser(user: RetrainState): Promise<Job | undefined> {
    const trigger = this.dueTrigger(user);
    if (!trigger) return undefined;
    const scope = userScope(user.id);
    // A model replaced for a deletion keeps its head (a user whose app trains `centroid` must not
    // find a `linear` head after deleting a photo).
    const latest = trigger === 'deletion' ? await this.store.latestModelInfo(scope) : undefined;
    const config = latest
      ? {
          head: latest.head,
          ...(latest.config.headOptions ? { headOptions: latest.config.headOptions } : {}),
        }
      : {};
    return this.enqueue(scope, trigger, config);
  }

  private async considerGlobal(): Promise<Job | undefined> {
    if (this.o.globalIntervalMs <= 0) return undefined;
    const last = await this.store.lastScheduledRun(GLOBAL_SCHEDULE);
    if (last !== undefined && this.now() - last < this.o.globalIntervalMs) return undefined;
    const withLabels = (await this.store.listUsers()).filter((u) => u.labelled > 0);
    const twoClasses =
      withLabels.length >= 2 ||
      (withLabels.length === 1 && (await this.store.getLabels(withLabels[0].id)).length >= 2);
    if (!twoClasses) return undefined;
    const job = await this.enqueue('global', 'schedule');
    if (job) await this.store.markScheduledRun(GLOBAL_SCHEDULE, this.now());
    return job;
  }

  /** Queues a job unless the scope is busy or backing off after a failure. */
  private async enqueue(
    scope: Scope,
    trigger: JobTrigger,
    config: Record<string, unknown> = {},
  ): Promise<Job | undefined> {
    const [last] = await this.store.listJobs({ scope, limit: 1 });
    if (last && (last.status === 'queued' || last.status === 'running')) return undefined;
    if ((await this.store.listJobs({ scope, status: 'running', limit: 1 })).length > 0) return undefined;
    if (
      last?.status === 'failed' &&
      last.finishedAt !== null &&
      this.now() - last.finishedAt < this.o.failureBackoffMs
    )
      return undefined;
    const { job, created } = await this.store.enqueueJob(scope, trigger, config);
    return created ? job : undefined;
  }
}
