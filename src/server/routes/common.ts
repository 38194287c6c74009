/**
 * JSON-schema pieces shared by the routes (request validation and the OpenAPI document).
 */
export const ID_PATTERN = '^[A-Za-z0-9_-]{1,64}$';

export const userIdParams = {
  type: 'object',
  required: ['userId'],
  properties: { userId: { type: 'string', pattern: ID_PATTERN } },
} as const;

export const errorSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' } },
      required: ['code', 'message'],
    },
  },
} as const;

/** Standard error responses for the OpenAPI document. */
export const errorResponses = {
  400: errorSchema,
  401: errorSchema,
  403: errorSchema,
  404: errorSchema,
  429: errorSchema,
} as const;
