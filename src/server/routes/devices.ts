/**
 * Users (gallery owners) and their devices: the admin creates users and enrollment tokens; a device
 * enrolls with an enrollment token (or the admin enrolls it) and gets a bearer token, shown once.
 */
import type { FastifyInstance } from 'fastify';
import { FedexError } from '../../core/errors.js';
import type { AppContext, Guards } from '../context.js';
import { TokenBuckets } from '../rate-limit.js';
import { errorResponses, ID_PATTERN, userIdParams } from './common.js';

const nameSchema = { type: 'string', minLength: 1, maxLength: 200 } as const;

export function registerDeviceRoutes(app: FastifyInstance, ctx: AppContext, guards: Guards): void {
  // Sign-ups per network address: a bucket of `signupsPerHour`, refilled over the hour.
  const signupLimiter = new TokenBuckets(ctx.config.signupsPerHour / 3600, ctx.config.signupsPerHour, 10_000);
  const { store } = ctx;

  app.post<{ Body: { name: string; id?: string } }>(
    '/v1/users',
    {
      schema: {
        summary: 'Create a user (admin)',
        tags: ['users'],
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: { name: nameSchema, id: { type: 'string', pattern: ID_PATTERN } },
        },
        response: errorResponses,
      },
    },
    async (req, reply) => {
      guards.admin(req);
      const user = await store.createUser(req.body.name, req.body.id);
      return reply.status(201).send({ user });
    },
  );

  app.get(
    '/v1/users',
    { schema: { summary: 'List users with counts (admin)', tags: ['users'] } },
    async (req) => {
      guards.admin(req);
      return { users: await store.listUsers() };
    },
  );

  app.get<{ Params: { userId: string } }>(
    '/v1/users/:userId',
    {
      schema: {
        summary: "A user, its devices and counts (admin or the user's device)",
        tags: ['users'],
        params: userIdParams,
      },
    },
    async (req) => {
      guards.userAccess(req, req.params.userId);
      const [user] = await store.listUsers(req.params.userId);
      if (!user) throw new FedexError('NOT_FOUND', `no user ${req.params.userId}`);
      return { user, devices: await store.listDevices(user.id) };
    },
  );

  app.post<{ Params: { userId: string }; Body: { ttlSeconds?: number; uses?: number } }>(
    '/v1/users/:userId/enrollment-tokens',
    {
      schema: {
        summary: 'Create an enrollment token for a user (admin)',
        tags: ['users'],
        params: userIdParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ttlSeconds: { type: 'integer', minimum: 60, maximum: 30 * 24 * 3600 },
            uses: { type: 'integer', minimum: 1, maximum: 1000 },
          },
        },
      },
    },
    async (req, reply) => {
      guards.admin(req);
      const body = req.body ?? {};
      const t = await store.createEnrollmentToken(req.params.userId, {
        ttlMs: body.ttlSeconds === undefined ? undefined : body.ttlSeconds * 1000,
        uses: body.uses,
      });
      return reply
        .status(201)
        .send({ enrollmentToken: t.token, expiresAt: new Date(t.expiresAt).toISOString() });
    },
  );

  app.post<{
    Body: { name: string; enrollmentToken?: string; userId?: string; signup?: { userName: string } };
  }>(
    '/v1/devices',
    {
      config: { anonymous: true },
      schema: {
        summary: 'Enroll a device: with an enrollment token, as admin for a userId, or by sign-up',
        description:
          'Returns the device bearer token once; only its hash is stored. `signup` (servers started ' +
          'with --signup open) makes a new user named `signup.userName` with this device as its first.',
        tags: ['devices'],
        security: [{ bearer: [] }, {}],
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: nameSchema,
            enrollmentToken: { type: 'string', minLength: 8, maxLength: 200 },
            userId: { type: 'string', pattern: ID_PATTERN },
            signup: {
              type: 'object',
              required: ['userName'],
              additionalProperties: false,
              properties: { userName: nameSchema },
            },
          },
        },
      },
    },
    async (req, reply) => {
      const { name, enrollmentToken, userId, signup } = req.body;
      if (signup !== undefined) {
        if (enrollmentToken !== undefined || userId !== undefined)
          throw new FedexError('BAD_REQUEST', 'give signup alone, without enrollmentToken or userId');
        if (ctx.config.signup !== 'open' || ctx.config.enrollment === 'closed') {
          throw new FedexError(
            'ENROLLMENT_CLOSED',
            'self sign-up is off on this server: ask the admin for an enrollment token',
          );
        }
        const decision = signupLimiter.take(req.ip, Date.now());
        if (!decision.allowed) {
          void reply.header('retry-after', String(Math.ceil(decision.retryAfterSeconds)));
          throw new FedexError(
            'RATE_LIMITED',
            `too many sign-ups from this address (${ctx.config.signupsPerHour} per hour); retry in ${Math.ceil(decision.retryAfterSeconds)} s`,
          );
        }
        // A fresh user (random id) owns nothing but this device: sign-up reaches no one else's data.
        const user = await store.createUser(signup.userName);
        return reply.status(201).send(await store.enrollDevice(user.id, name));
      }
      if (enrollmentToken !== undefined) {
        if (userId !== undefined)
          throw new FedexError('BAD_REQUEST', 'give enrollmentToken or userId, not both');
        if (ctx.config.enrollment === 'closed') {
          throw new FedexError(
            'ENROLLMENT_CLOSED',
            'enrollment is closed on this server: the admin enrolls devices (by userId)',
          );
        }
        return reply.status(201).send(await store.enrollWithToken(enrollmentToken, name));
      }
      if (userId === undefined)
        throw new FedexError('BAD_REQUEST', 'give an enrollmentToken (or userId with the admin key)');
      guards.admin(req);
      return reply.status(201).send(await store.enrollDevice(userId, name));
    },
  );

  app.delete<{ Params: { deviceId: string } }>(
    '/v1/devices/:deviceId',
    {
      schema: {
        summary: "Revoke a device's token (admin, or a device of the same user)",
        description:
          'The token stops authenticating at once (401 AUTH_INVALID); the data it uploaded stays. ' +
          "Another user's device is a 404.",
        tags: ['devices'],
        params: {
          type: 'object',
          required: ['deviceId'],
          additionalProperties: false,
          properties: {
            deviceId: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_-]+$' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['device'],
            properties: {
              device: {
                type: 'object',
                required: ['id', 'userId', 'revokedAt'],
                properties: {
                  id: { type: 'string' },
                  userId: { type: 'string' },
                  name: { type: 'string' },
                  revokedAt: { type: 'string' },
                },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (req) => {
      const p = guards.principal(req);
      const target = await store.getDevice(req.params.deviceId);
      // Another user's device reads as missing: a device learns nothing about other users.
      if (!target || (p.kind === 'device' && p.device.userId !== target.userId)) {
        throw new FedexError('NOT_FOUND', `no device ${req.params.deviceId}`);
      }
      await store.revokeDevice(target.id);
      const revoked = await store.getDevice(target.id);
      return {
        device: {
          id: target.id,
          userId: target.userId,
          name: target.name,
          revokedAt: new Date(revoked?.revokedAt ?? Date.now()).toISOString(),
        },
      };
    },
  );

  app.get(
    '/v1/me',
    { schema: { summary: 'The calling device and its user', tags: ['devices'] } },
    async (req) => {
      const device = guards.device(req);
      return { device, user: await store.getUser(device.userId) };
    },
  );
}
