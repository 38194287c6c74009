/**
 * Operations endpoints, no authentication: `/healthz` (the database answers, jobs waiting),
 * `/metrics` (Prometheus text) and `/openapi.json` (this API, generated from the route schemas).
 */
import type { FastifyInstance } from 'fastify';
import type { AppContext, Guards } from '../context.js';

export function registerOpsRoutes(app: FastifyInstance, ctx: AppContext, _guards: Guards): void {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness and readiness: 503 when the database file is gone, replaced or not writable',
        tags: ['ops'],
        security: [],
      },
    },
    async (_req, reply) => {
      // The file is the one opened and writable (a deleted or replaced file, a read-only folder or
      // disk says so here instead of "ok" while writes fail or vanish).
      let db = await ctx.store.health();
      let jobs: Record<string, number> = {};
      try {
        jobs = await ctx.store.countJobs();
      } catch (e) {
        if (db === 'ok') db = (e as Error).message;
      }
      const ok = db === 'ok';
      return reply.status(ok ? 200 : 503).send({
        status: ok ? 'ok' : 'unavailable',
        version: ctx.version,
        uptimeSeconds: Math.round((Date.now() - ctx.startedAt) / 1000),
        db,
        jobs,
      });
    },
  );

  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics', tags: ['ops'], security: [] } },
    async (_req, reply) => {
      const text = await ctx.metrics.registry.metrics();
      return reply.type(ctx.metrics.registry.contentType).send(text);
    },
  );

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
