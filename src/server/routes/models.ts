/**
 * Model versions: metadata lists, and the weights (FXWT bytes) of the newest promoted version with
 * an ETag (`If-None-Match` → 304, so a device polls for free) or of one exact version. A device may
 * read its own user's scope and the global scope.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FedexError } from '../../core/errors.js';
import type { AppContext, Guards } from '../context.js';
import { parseScope } from '../store/store.js';
import type { ModelInfo, ModelVersion, Scope } from '../store/types.js';

const scopeParams = {
  type: 'object',
  required: ['scope'],
  properties: { scope: { type: 'string', pattern: '^(global|user:[A-Za-z0-9_-]{1,64})$' } },
} as const;

/** A model version as the API lists it (no weights). */
export function modelView(m: ModelInfo): Record<string, unknown> {
  return { ...m, createdAt: new Date(m.createdAt).toISOString() };
}

/** True when an If-None-Match header matches the entity tag. */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

export function registerModelRoutes(app: FastifyInstance, ctx: AppContext, guards: Guards): void {
  const { store } = ctx;

  const allowedScope = (req: FastifyRequest, text: string): Scope => {
    const scope = parseScope(text);
    if (!scope) throw new FedexError('BAD_REQUEST', `bad scope "${text}" (global or user:<id>)`);
    if (scope.kind === 'user') guards.userAccess(req, scope.userId);
    else guards.principal(req);
    return text as Scope;
  };

  const sendWeights = (req: FastifyRequest, reply: FastifyReply, m: ModelVersion, cache: string) => {
    const etag = `"${m.checksum}"`;
    void reply
      .header('etag', etag)
      .header('cache-control', cache)
      .header('x-fedex-model-version', String(m.version))
      .header('x-fedex-model-checksum', `sha256:${m.checksum}`)
      .header('x-fedex-model-status', m.status)
      .header('x-fedex-spec', m.specKey.split('#')[0]) // without the store's owner suffix
      .header('x-fedex-head', m.head);
    if (etagMatches(req.headers['if-none-match'], etag)) return reply.status(304).send();
    return reply
      .type('application/octet-stream')
      .send(Buffer.from(m.weights.buffer, m.weights.byteOffset, m.weights.byteLength));
  };

  app.get<{ Querystring: { scope?: string; limit?: number } }>(
    '/v1/models',
    {
      schema: {
        summary: 'Model versions of every scope, newest first (admin)',
        tags: ['models'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            scope: { type: 'string', maxLength: 80 },
            limit: { type: 'integer', minimum: 1, maximum: 1000 },
          },
        },
      },
    },
    async (req) => {
      guards.admin(req);
      let scope: Scope | undefined;
      if (req.query.scope !== undefined) {
        if (!parseScope(req.query.scope))
          throw new FedexError('BAD_REQUEST', `bad scope "${req.query.scope}"`);
        scope = req.query.scope as Scope;
      }
      return { models: (await store.listModels({ scope, limit: req.query.limit })).map(modelView) };
    },
  );

  app.get<{ Params: { scope: string } }>(
    '/v1/models/:scope',
    {
      schema: {
        summary: "A scope's versions (metadata and held-out metrics), newest first",
        tags: ['models'],
        params: scopeParams,
      },
    },
    async (req) => {
      const scope = allowedScope(req, req.params.scope);
      const models = await store.listModels({ scope });
      const latest = await store.latestModelInfo(scope);
      return { scope, latestVersion: latest?.version ?? null, models: models.map(modelView) };
    },
  );

  app.get<{ Params: { scope: string } }>(
    '/v1/models/:scope/latest',
    {
      schema: {
        summary: 'Weights (FXWT) of the newest promoted version; ETag = sha256, If-None-Match → 304',
        tags: ['models'],
        params: scopeParams,
      },
    },
    async (req, reply) => {
      const scope = allowedScope(req, req.params.scope);
      const m = await store.modelVersion(scope, 'latest');
      if (!m) throw new FedexError('NOT_FOUND', `no promoted model for ${scope} yet`);
      return sendWeights(req, reply, m, 'no-cache');
    },
  );

  app.get<{ Params: { scope: string; version: number } }>(
    '/v1/models/:scope/versions/:version',
    {
      schema: {
        summary: 'Weights (FXWT) of one version (promoted or not)',
        tags: ['models'],
        params: {
          type: 'object',
          required: ['scope', 'version'],
          properties: { ...scopeParams.properties, version: { type: 'integer', minimum: 1 } },
        },
      },
    },
    async (req, reply) => {
      const scope = allowedScope(req, req.params.scope);
      const m = await store.modelVersion(scope, req.params.version);
      if (!m) throw new FedexError('NOT_FOUND', `no version ${req.params.version} of ${scope}`);
      return sendWeights(req, reply, m, 'public, max-age=31536000, immutable');
    },
  );
}
