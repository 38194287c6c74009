/**
 * Training as jobs: trigger a user's (or, as admin, the global) training, and read job status and
 * progress. A device sees only its own user's jobs (another user's job is 404, not 403, so job ids
 * reveal nothing).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiTrainBody } from '../../core/api-types.js';
import { FedexError } from '../../core/errors.js';
import { headNames } from '../../model/heads/registry.js';
import type { AppContext, Guards, Principal } from '../context.js';
import { parseScope, userScope } from '../store/store.js';
import type { Job, JobStatus, Scope } from '../store/types.js';
import { resolveTrainJobConfig } from '../jobs/train-task.js';
import { userIdParams } from './common.js';

/** What a caller may set for one training job (the server's training defaults fill the rest). */
const trainBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    head: { type: 'string', enum: headNames() },
    specKey: { type: 'string', minLength: 1, maxLength: 300 },
    epochs: { type: 'integer', minimum: 1, maximum: 10_000 },
    learningRate: { type: 'number', exclusiveMinimum: 0, maximum: 10 },
    patience: { type: 'integer', minimum: 0, maximum: 10_000 },
    seed: { type: 'integer', minimum: 0, maximum: 2 ** 31 - 1 },
    holdoutFraction: { type: 'number', minimum: 0, maximum: 0.9 },
    openSetMargin: { type: 'number', exclusiveMinimum: 0, maximum: 100 },
    openSetRadius: { type: 'number', exclusiveMinimum: 0, maximum: 1_000_000 },
    genericMargin: { type: 'number', minimum: 0, exclusiveMaximum: 1 },
    maskTwins: { type: 'boolean' },
  },
} as const;

type TrainBody = ApiTrainBody;

/** A job as the API shows it (times as ISO strings). */
export function jobView(job: Job): Record<string, unknown> {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return {
    ...job,
    createdAt: iso(job.createdAt),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    updatedAt: iso(job.updatedAt),
  };
}

export function registerJobRoutes(app: FastifyInstance, ctx: AppContext, guards: Guards): void {
  const { store } = ctx;

  const enqueue = async (scope: Scope, body: TrainBody | undefined) => {
    const { specKey: _specKey, ...training } = body ?? {};
    const resolved = resolveTrainJobConfig(ctx.config.training, training); // a bad config is a 400 now, not a failed job later
    if (resolved.epochs > ctx.config.maxJobEpochs) {
      throw new FedexError(
        'BAD_REQUEST',
        `epochs must be at most ${ctx.config.maxJobEpochs} on this server (got ${resolved.epochs})`,
      );
    }
    const { job, created } = await store.enqueueJob(scope, 'manual', { ...(body ?? {}) });
    if (created) ctx.onJobQueued?.(job);
    return { job: jobView(job), created };
  };

  app.post<{ Params: { userId: string }; Body: TrainBody }>(
    '/v1/users/:userId/train',
    {
      schema: {
        summary: "Queue training of the user's head (returns the queued job; one queued job per scope)",
        tags: ['jobs'],
        params: userIdParams,
        body: trainBody,
      },
    },
    async (req, reply) => {
      guards.userAccess(req, req.params.userId);
      if (!(await store.getUser(req.params.userId)))
        throw new FedexError('NOT_FOUND', `no user ${req.params.userId}`);
      return reply.status(202).send(await enqueue(userScope(req.params.userId), req.body));
    },
  );

  app.post<{ Body: TrainBody }>(
    '/v1/global/train',
    { schema: { summary: 'Queue training of the global model (admin)', tags: ['jobs'], body: trainBody } },
    async (req, reply) => {
      guards.admin(req);
      return reply.status(202).send(await enqueue('global', req.body));
    },
  );

  /** The job, when the caller may see it: the admin any, a device its own user's (else 404). */
  const visibleJob = async (
    req: FastifyRequest,
    jobId: number,
  ): Promise<{ job: Job; principal: Principal }> => {
    const principal = guards.principal(req);
    const job = await store.getJob(jobId);
    const scope = job ? parseScope(job.scope) : null;
    const visible =
      job &&
      (principal.kind === 'admin' || (scope?.kind === 'user' && scope.userId === principal.device.userId));
    if (!job || !visible) throw new FedexError('NOT_FOUND', `no job ${jobId}`);
    return { job, principal };
  };
  const jobParams = {
    type: 'object',
    required: ['jobId'],
    properties: { jobId: { type: 'integer', minimum: 1 } },
  } as const;

  app.get<{ Params: { jobId: number } }>(
    '/v1/jobs/:jobId',
    {
      schema: {
        summary: 'A job: status, progress, result',
        tags: ['jobs'],
        params: jobParams,
      },
    },
    async (req) => {
      return { job: jobView((await visibleJob(req, req.params.jobId)).job) };
    },
  );

  app.delete<{ Params: { jobId: number } }>(
    '/v1/jobs/:jobId',
    {
      schema: {
        summary: 'Cancel a queued or running job (admin, or a device of its user)',
        description:
          'A queued job is taken off the queue; a running one is stopped (its worker is replaced) and ' +
          'stores nothing. 200 with the job (status cancelled); a job already finished is returned ' +
          "unchanged with cancelled: false. Another user's job is a 404.",
        tags: ['jobs'],
        params: jobParams,
      },
    },
    async (req) => {
      const { job, principal: p } = await visibleJob(req, req.params.jobId);
      const by = p.kind === 'admin' ? 'the admin' : `device ${p.device.id}`;
      const { job: now, changed, wasRunning } = await store.cancelJob(job.id, by);
      if (wasRunning) ctx.onJobCancelled?.(job.id);
      return { job: jobView(now), cancelled: changed };
    },
  );

  app.get<{ Querystring: { scope?: string; status?: JobStatus; limit?: number } }>(
    '/v1/jobs',
    {
      schema: {
        summary: "Recent jobs, newest first (admin: any scope; a device: its user's)",
        tags: ['jobs'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            scope: { type: 'string', maxLength: 80 },
            status: { type: 'string', enum: ['queued', 'running', 'done', 'failed', 'cancelled'] },
            limit: { type: 'integer', minimum: 1, maximum: 1000 },
          },
        },
      },
    },
    async (req) => {
      const p = guards.principal(req);
      let scope: Scope | undefined;
      if (req.query.scope !== undefined) {
        if (!parseScope(req.query.scope))
          throw new FedexError('BAD_REQUEST', `bad scope "${req.query.scope}" (global or user:<id>)`);
        scope = req.query.scope as Scope;
      }
      if (p.kind === 'device') {
        const own = userScope(p.device.userId);
        if (scope !== undefined && scope !== own)
          throw new FedexError('FORBIDDEN', "a device can only list its own user's jobs");
        scope = own;
      }
      return {
        jobs: (await store.listJobs({ scope, status: req.query.status, limit: req.query.limit })).map(
          jobView,
        ),
      };
    },
  );
}
