/**
 * Typed errors for FedEx. Every error a user can cause carries a stable `code` (for programs and
 * for the HTTP mapping that the server does in one place) and an optional `cause`. Never throw a
 * bare `Error` across a module boundary: callers branch on `code`, not on message text.
 *
 * Platform-neutral: no Node built-ins here.
 */

/** Stable error codes. Add new ones here; never reuse a code for a different meaning. */
export type ErrorCode =
  // wire codec
  | 'CODEC_TRUNCATED'
  | 'CODEC_BAD_MAGIC'
  | 'CODEC_BAD_VERSION'
  | 'CODEC_BAD_HEADER'
  | 'CODEC_BAD_DTYPE'
  | 'CODEC_SHAPE_MISMATCH'
  | 'CODEC_NON_FINITE'
  | 'CODEC_TOO_LARGE'
  | 'CODEC_TRAILING_BYTES'
  | 'CODEC_CHECKSUM'
  | 'CODEC_DUPLICATE_ID'
  | 'CODEC_BAD_LABEL'
  | 'CODEC_BAD_VALUE'
  // runtime
  | 'RUNTIME_BACKEND'
  | 'RUNTIME_KERNEL'
  // images
  | 'IMAGE_DECODE'
  | 'IMAGE_UNSUPPORTED'
  | 'IMAGE_TOO_LARGE'
  // face pipeline
  | 'FACE_MODEL_LOAD'
  | 'FACE_NOT_FOUND'
  // datasets and files
  | 'DATASET_NOT_FOUND'
  | 'DATASET_EMPTY'
  | 'DATASET_TOO_FEW_PHOTOS'
  | 'DATASET_BAD_CACHE'
  // features / models
  | 'FEATURE_MISMATCH'
  | 'MODEL_UNKNOWN_BACKBONE'
  | 'MODEL_UNKNOWN_SPLIT'
  | 'MODEL_UNKNOWN_HEAD'
  | 'MODEL_HEAD_NOT_APPLICABLE'
  | 'MODEL_UNSUPPORTED_LAYER'
  | 'MODEL_LOAD'
  | 'MODEL_BAD_DATA'
  // server API (mapped to HTTP statuses in src/server/errors.ts)
  | 'AUTH_REQUIRED'
  | 'AUTH_INVALID'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'BAD_REQUEST'
  | 'IDEMPOTENCY_CONFLICT'
  | 'RATE_LIMITED'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'NOT_ENOUGH_DATA'
  | 'JOB_FAILED'
  | 'UNAVAILABLE'
  | 'ENROLLMENT_CLOSED'
  | 'QUOTA_EXCEEDED'
  | 'STORAGE_FULL'
  // federated rounds
  | 'ROUND_CLOSED'
  | 'DUPLICATE_UPDATE'
  | 'NOT_SELECTED'
  // device SDK
  | 'OUTBOX_FULL'
  | 'DEVICE_NOT_ENROLLED'
  | 'MODEL_CORRUPT'
  | 'NO_MODEL'
  // CLI and options
  | 'BAD_ARGUMENT'
  | 'INTERNAL';

/** Base class of every FedEx error. */
export class FedexError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FedexError';
    this.code = code;
  }

  /** A JSON-safe view, the shape the server sends: `{ error: { code, message } }`. */
  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/** Raised by the wire codec for any malformed input. Never leaves a partial result behind. */
export class CodecError extends FedexError {
  constructor(code: Extract<ErrorCode, `CODEC_${string}`>, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'CodecError';
  }
}

/** Raised for a bad dataset directory, an unreadable cache or a person with too few photos. */
export class DatasetError extends FedexError {
  constructor(code: Extract<ErrorCode, `DATASET_${string}`>, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'DatasetError';
  }
}

/** True when `e` is a FedexError, optionally with the given code. */
export function isFedexError(e: unknown, code?: ErrorCode): e is FedexError {
  return e instanceof FedexError && (code === undefined || e.code === code);
}
