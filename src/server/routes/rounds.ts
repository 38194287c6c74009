/**
 * Federated rounds over HTTP (the device side of `StoreRoundTransport`, see `../rounds-store.ts`):
 * a device polls the current round, downloads the global weights its task starts from, and posts
 * its trained weights before the deadline. Device tokens only; a device is known by its id, and
 * sees only its own task. The round lives in the store, so every API process on one database
 * serves it. The transport is reachable as `app.rounds`, so a process that runs the rounds hands
 * it to the round runner.
 */
import type { FastifyInstance } from 'fastify';
import { FedexError } from '../../core/errors.js';
import type { AppContext, Guards } from '../context.js';
import { StoreRoundTransport } from '../rounds-store.js';
import { errorResponses, errorSchema } from './common.js';
import { etagMatches } from './models.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The round coordinator the round routes serve; give it to `runRounds` as its transport. */
    rounds: StoreRoundTransport;
  }
}

const roundParams = {
  type: 'object',
  required: ['round'],
  properties: { round: { type: 'integer', minimum: 1 } },
} as const;

const taskSchema = {
  type: 'object',
  nullable: true,
  properties: {
    kind: { type: 'string', enum: ['train', 'upload-features'] },
    round: { type: 'integer' },
    localEpochs: { type: 'integer' },
    batchSize: { type: 'integer' },
    learningRate: { type: 'number' },
    mu: { type: 'number' },
    seed: { type: 'integer' },
    weightsPath: { type: 'string' },
    weightsEtag: { type: 'string' },
  },
} as const;

const roundErrors = { ...errorResponses, 409: errorSchema } as const;

export function registerRoundRoutes(app: FastifyInstance, ctx: AppContext, guards: Guards): void {
  app.decorate('rounds', new StoreRoundTransport(ctx.store));
  // A closing server closes the round its own runner awaits (with whoever reported), so that runner
  // ends; a round another process runs stays open for the other API processes.
  app.addHook('onClose', async () => app.rounds.stop());

  app.get(
    '/v1/rounds/current',
    {
      schema: {
        summary: "The open federated round and this device's task in it (null: not selected)",
        tags: ['rounds'],
        response: {
          200: {
            type: 'object',
            properties: {
              status: { type: 'string', enum: ['open', 'waiting', 'finished'] },
              round: { type: 'integer', nullable: true },
              deadline: { type: 'string', format: 'date-time', nullable: true },
              task: taskSchema,
              reported: { type: 'boolean' },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (req) => app.rounds.current(guards.device(req).id),
  );

  app.get<{ Params: { round: number } }>(
    '/v1/rounds/:round/weights',
    {
      schema: {
        summary: "Global weights (FXWT) this device's task starts from; ETag, If-None-Match → 304",
        tags: ['rounds'],
        params: roundParams,
        response: roundErrors,
      },
    },
    async (req, reply) => {
      const device = guards.device(req);
      const { bytes, etag } = await app.rounds.weights(device.id, req.params.round);
      void reply.header('etag', etag).header('cache-control', 'no-cache');
      if (etagMatches(req.headers['if-none-match'], etag)) return reply.status(304).send();
      return reply
        .type('application/octet-stream')
        .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    },
  );

  app.post<{ Params: { round: number } }>(
    '/v1/rounds/:round/updates',
    {
      bodyLimit: ctx.config.bodyLimitBytes,
      config: { upload: true },
      schema: {
        summary:
          "This device's trained weights for the round (FXWT; metadata numExamples, loss, accuracy, deviceFlops) → 202 once recorded",
        tags: ['rounds'],
        params: roundParams,
        consumes: ['application/octet-stream'],
        response: {
          202: {
            type: 'object',
            properties: { round: { type: 'integer' }, received: { type: 'integer' } },
          },
          ...roundErrors,
        },
      },
    },
    async (req, reply) => {
      const device = guards.device(req);
      if (!(req.body instanceof Uint8Array)) {
        throw new FedexError('UNSUPPORTED_MEDIA_TYPE', 'send the update as application/octet-stream (FXWT)');
      }
      const ack = await app.rounds.submit(device.id, req.params.round, req.body);
      return reply.status(202).send(ack);
    },
  );
}
