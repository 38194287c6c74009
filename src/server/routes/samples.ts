/**
 * A user's data: feature batch uploads (FXFB bytes, idempotent by `Idempotency-Key`), the list of
 * stored samples, relabelling, deletion, and label names. Every route checks that the caller is the admin or
 * a device of that user; an upload is a device's own.
 */
import type { FastifyInstance } from 'fastify';
import { decodeFeatureBatch } from '../../core/codec.js';
import { FedexError } from '../../core/errors.js';
import { shapeSize } from '../../core/types.js';
import type { AppContext, Guards } from '../context.js';
import { IngestQueue } from '../ingest-queue.js';
import { sha256Hex } from '../store/store.js';
import { userIdParams } from './common.js';

const BATCH_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const MAX_LABEL = 1_000_000;
/** Most ids one relabel request may name (one indexed statement handles them; see Store.relabel). */
export const MAX_RELABEL_IDS = 10_000;
/** Body limit of the routes that take long lists (relabel, label names). */
const RELABEL_BODY_LIMIT = 1024 * 1024;

export function registerSampleRoutes(app: FastifyInstance, ctx: AppContext, guards: Guards): void {
  const { store, config, metrics } = ctx;
  const ingest = new IngestQueue(store);

  app.post<{ Params: { userId: string }; Body: Buffer }>(
    '/v1/users/:userId/batches',
    {
      bodyLimit: config.bodyLimitBytes,
      config: { upload: true },
      schema: {
        summary: 'Upload a feature batch (FXFB bytes) from a device',
        description:
          'Body: application/octet-stream, a feature batch in the FedEx wire codec (docs/wire-format.md). ' +
          'Header Idempotency-Key: the client batch id; a retry with the same id and bytes is stored once ' +
          '(200, duplicate: true); the same id with other bytes is 409. 201 when stored.',
        tags: ['samples'],
        params: userIdParams,
        headers: {
          type: 'object',
          required: ['idempotency-key'],
          properties: { 'idempotency-key': { type: 'string', pattern: BATCH_ID.source } },
        },
      },
    },
    async (req, reply) => {
      const device = guards.device(req);
      guards.userAccess(req, req.params.userId);
      if (!Buffer.isBuffer(req.body)) {
        throw new FedexError('UNSUPPORTED_MEDIA_TYPE', 'upload the batch as application/octet-stream');
      }
      const bytes = new Uint8Array(req.body.buffer, req.body.byteOffset, req.body.byteLength);
      const batch = decodeFeatureBatch(bytes, {
        maxBytes: config.bodyLimitBytes,
        maxSamples: config.maxBatchSamples,
        maxFeatureSize: config.maxFeatureValues,
      });
      if (batch.sampleIds.length === 0) throw new FedexError('BAD_REQUEST', 'the batch holds no samples');
      if (shapeSize(batch.spec.shape) > config.maxFeatureValues) {
        throw new FedexError('BAD_REQUEST', `a sample may hold at most ${config.maxFeatureValues} values`);
      }
      for (let i = 0; i < batch.labels.length; i++) {
        if (batch.labels[i] > MAX_LABEL)
          throw new FedexError('BAD_REQUEST', `label ids must be ≤ ${MAX_LABEL}`);
      }
      const batchId = req.headers['idempotency-key'] as string;
      const result = await ingest.submit({
        device,
        batchId,
        sha256: sha256Hex(bytes),
        batch,
        quota: { maxSamples: config.maxSamplesPerUser, maxFeatureBytes: config.maxFeatureBytesPerUser },
      });
      if (result.duplicate) {
        metrics.ingestedBatches.inc({ result: 'duplicate' });
      } else {
        metrics.ingestedBatches.inc({ result: 'stored' });
        metrics.ingestedSamples.inc(result.samples);
        // Only labelled data can make a retraining due.
        if (batch.labels.some((l) => l >= 0)) await ctx.onIngest?.(device.userId);
      }
      return reply
        .status(result.duplicate ? 200 : 201)
        .send({ ...result, receivedAt: new Date(result.receivedAt).toISOString() });
    },
  );

  app.get<{ Params: { userId: string }; Querystring: { after?: number; limit?: number; label?: number } }>(
    '/v1/users/:userId/samples',
    {
      schema: {
        summary: "A page of the user's samples (no features), ascending id; `next` is the cursor",
        tags: ['samples'],
        params: userIdParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            after: { type: 'integer', minimum: 0 },
            limit: { type: 'integer', minimum: 1, maximum: 1000 },
            label: { type: 'integer', minimum: -1, maximum: MAX_LABEL },
          },
        },
      },
    },
    async (req) => {
      guards.userAccess(req, req.params.userId);
      const limit = req.query.limit ?? 100;
      const samples = await store.listSamples(req.params.userId, {
        after: req.query.after,
        limit,
        label: req.query.label,
      });
      return { samples, next: samples.length === limit ? samples[samples.length - 1].id : null };
    },
  );

  app.post<{
    Params: { userId: string };
    Body: { sampleIds?: number[]; clientIds?: string[]; label: number };
  }>(
    '/v1/users/:userId/samples/relabel',
    {
      // 10,000 ids of ~64 characters (sha256 hex client ids) need ~700 KB.
      bodyLimit: RELABEL_BODY_LIMIT,
      schema: {
        summary: 'Set (or clear, with -1) the label of samples, by server id or client id; all or nothing',
        description:
          'At most 10,000 ids. Every id is checked before anything is written: one that is not the ' +
          "user's is a 404 and nothing changes. Lists over 500 ids are written 500 at a time so " +
          'other requests run in between; relabelling is idempotent, so after a failure resend the same request.',
        tags: ['samples'],
        params: userIdParams,
        body: {
          type: 'object',
          required: ['label'],
          additionalProperties: false,
          properties: {
            label: { type: 'integer', minimum: -1, maximum: MAX_LABEL },
            sampleIds: { type: 'array', maxItems: MAX_RELABEL_IDS, items: { type: 'integer', minimum: 1 } },
            clientIds: {
              type: 'array',
              maxItems: MAX_RELABEL_IDS,
              items: { type: 'string', minLength: 1, maxLength: 1024 },
            },
          },
        },
      },
    },
    async (req) => {
      guards.userAccess(req, req.params.userId);
      const { sampleIds, clientIds, label } = req.body;
      if (!sampleIds?.length && !clientIds?.length)
        throw new FedexError('BAD_REQUEST', 'give sampleIds or clientIds');
      if ((sampleIds?.length ?? 0) + (clientIds?.length ?? 0) > MAX_RELABEL_IDS)
        throw new FedexError('BAD_REQUEST', `relabel at most ${MAX_RELABEL_IDS} ids per request`);
      // Long lists are written 500 ids at a time, yielding between steps (Store.relabelInSteps).
      const changed = await store.relabelInSteps(req.params.userId, { sampleIds, clientIds }, label);
      if (label >= 0) await ctx.onIngest?.(req.params.userId);
      return { changed };
    },
  );

  app.post<{ Params: { userId: string }; Body: { sampleIds?: number[]; clientIds?: string[] } }>(
    '/v1/users/:userId/samples/delete',
    {
      bodyLimit: RELABEL_BODY_LIMIT,
      schema: {
        summary: 'Delete samples (features and all), by server id or client id; idempotent',
        description:
          "At most 10,000 ids. Ids that are not (or no longer) the user's are counted in `missing`, " +
          'never an error, so a device can resend a deletion it is not sure arrived. Deleting a ' +
          "labelled sample retrains the user's head at once, and the new model replaces the current " +
          'one without being compared with it (the current one has seen the deleted samples).',
        tags: ['samples'],
        params: userIdParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            sampleIds: { type: 'array', maxItems: MAX_RELABEL_IDS, items: { type: 'integer', minimum: 1 } },
            clientIds: {
              type: 'array',
              maxItems: MAX_RELABEL_IDS,
              items: { type: 'string', minLength: 1, maxLength: 1024 },
            },
          },
        },
      },
    },
    async (req) => {
      guards.userAccess(req, req.params.userId);
      const { sampleIds, clientIds } = req.body;
      if (!sampleIds?.length && !clientIds?.length)
        throw new FedexError('BAD_REQUEST', 'give sampleIds or clientIds');
      if ((sampleIds?.length ?? 0) + (clientIds?.length ?? 0) > MAX_RELABEL_IDS)
        throw new FedexError('BAD_REQUEST', `delete at most ${MAX_RELABEL_IDS} ids per request`);
      const result = await store.deleteSamples(req.params.userId, { sampleIds, clientIds });
      if (result.labelled > 0) await ctx.onIngest?.(req.params.userId);
      return result;
    },
  );

  app.get<{ Params: { userId: string } }>(
    '/v1/users/:userId/labels',
    { schema: { summary: "The user's label names", tags: ['samples'], params: userIdParams } },
    async (req) => {
      guards.userAccess(req, req.params.userId);
      return { labels: await store.getLabels(req.params.userId) };
    },
  );

  app.put<{ Params: { userId: string }; Body: { labels: { id: number; name: string }[] } }>(
    '/v1/users/:userId/labels',
    {
      bodyLimit: RELABEL_BODY_LIMIT,
      schema: {
        summary: 'Name (or rename) label ids',
        tags: ['samples'],
        params: userIdParams,
        body: {
          type: 'object',
          required: ['labels'],
          additionalProperties: false,
          properties: {
            labels: {
              type: 'array',
              maxItems: 10_000,
              items: {
                type: 'object',
                required: ['id', 'name'],
                additionalProperties: false,
                properties: {
                  id: { type: 'integer', minimum: 0, maximum: MAX_LABEL },
                  name: { type: 'string', minLength: 1, maxLength: 200 },
                },
              },
            },
          },
        },
      },
    },
    async (req) => {
      guards.userAccess(req, req.params.userId);
      if (!(await store.getUser(req.params.userId)))
        throw new FedexError('NOT_FOUND', `no user ${req.params.userId}`);
      return { labels: await store.setLabels(req.params.userId, req.body.labels) };
    },
  );
}
