/**
 * Error codes to HTTP statuses, in one place, and the JSON error body every failing request gets:
 * `{ error: { code, message } }` — never a stack trace.
 */
import { isFedexError, type ErrorCode } from '../core/errors.js';
import { pgStorageError } from './store/postgres.js';
import { storageError } from './store/sqlite.js';

/** HTTP status of each code a request can cause; anything else is a 500 (logged, message hidden). */
const STATUS: Partial<Record<ErrorCode, number>> = {
  AUTH_REQUIRED: 401,
  AUTH_INVALID: 401,
  FORBIDDEN: 403,
  ENROLLMENT_CLOSED: 403,
  NOT_FOUND: 404,
  BAD_REQUEST: 400,
  BAD_ARGUMENT: 400,
  IDEMPOTENCY_CONFLICT: 409,
  RATE_LIMITED: 429,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  NOT_ENOUGH_DATA: 422,
  FEATURE_MISMATCH: 422,
  MODEL_UNKNOWN_HEAD: 400,
  MODEL_HEAD_NOT_APPLICABLE: 400,
  UNAVAILABLE: 503,
  QUOTA_EXCEEDED: 403,
  STORAGE_FULL: 507,
  ROUND_CLOSED: 409,
  DUPLICATE_UPDATE: 409,
  NOT_SELECTED: 403,
};

export interface ErrorBody {
  error: { code: string; message: string };
}

/** The status and body for an error thrown while handling a request. */
export function httpError(raw: unknown): { status: number; body: ErrorBody; internal: boolean } {
  // A database failure that is not a bug (disk full, file gone, PostgreSQL away) has a code of its own.
  const e = pgStorageError(storageError(raw));
  if (isFedexError(e)) {
    const status = e.code.startsWith('CODEC_') ? 400 : (STATUS[e.code] ?? 500);
    if (status < 500 || e.code === 'UNAVAILABLE' || e.code === 'STORAGE_FULL') {
      return { status, body: { error: { code: e.code, message: e.message } }, internal: false };
    }
  }
  return {
    status: 500,
    body: { error: { code: 'INTERNAL', message: 'internal server error (logged on the server)' } },
    internal: true,
  };
}
