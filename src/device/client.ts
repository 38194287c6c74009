/**
 * The device's HTTP client of the FedEx server: enrollment, feature batch uploads (idempotent by
 * batch id), labels, training jobs and model downloads (ETag, so polling an unchanged model costs
 * one empty 304). Every failure is a FedexError: the server's `{ error: { code, message } }` keeps
 * the server's code (as a `DeviceHttpError` carrying the HTTP status), and a server that cannot be
 * reached, times out or cuts a body short is `UNAVAILABLE`. `isRetryable` says which of these a
 * retry may cure.
 *
 * Platform-neutral (browser or Node): only `fetch`, `TextEncoder` and WebCrypto. It retries
 * nothing itself (see `./backoff.ts`) and keeps no state but the bearer token.
 *
 * @example
 * const client = new DeviceClient({ server: 'http://127.0.0.1:8787' });
 * const { device } = await client.enroll({ enrollmentToken, name: 'phone' });
 * await client.uploadBatch(device.userId, 'b-0001', fxfbBytes);
 * const m = await client.fetchModel(`user:${device.userId}`, lastEtag);
 */
import type {
  ApiDevice,
  ApiIngestResult,
  ApiJob,
  ApiJobStatus,
  ApiLabel,
  ApiTrainBody,
  ApiUser,
} from '../core/api-types.js';
import { FedexError, isFedexError, type ErrorCode } from '../core/errors.js';

/** A device as the server shows it (times as epoch milliseconds). */
export type DeviceInfo = ApiDevice;

/** The user a device belongs to. */
export type UserInfo = ApiUser;

/** What the server answers to an upload: 201 stored, or 200 `duplicate` (stored before). */
export type IngestResult = ApiIngestResult;

export type LabelName = ApiLabel;

export type JobStatus = ApiJobStatus;

/** A training job as the API shows it (times ISO). */
export type JobInfo = ApiJob;

/** What a device may set for its user's training job (the server's defaults fill the rest). */
export type TrainBody = ApiTrainBody;

/** A model scope: the device's own user (`user:<id>`) or the global model. */
export type ModelScope = `user:${string}` | 'global';

/** The answer of `fetchModel`: unchanged since `etag`, or the weights (FXWT bytes). */
export type ModelFetch =
  | { status: 'not-modified' }
  | {
      status: 'ok';
      bytes: Uint8Array;
      /** Send back as `etag` next time to get `not-modified` while the model is unchanged. */
      etag: string;
      version: number;
      /** `sha256:<hex>`, verified against `bytes`. */
      checksum: string;
    };

export interface DeviceClientOptions {
  /** `http(s)://host:port` of the server (a trailing slash is fine). */
  server: string;
  /** The device's bearer token, once enrolled (`enroll` sets it). */
  token?: string;
  /** Injected for tests and other runtimes. Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Per-request timeout in ms, body included. Default 30 000. */
  timeoutMs?: number;
  /**
   * Called once per request with the body bytes handed to the network and the body bytes
   * received (also for failed requests), so the SDK can account traffic.
   */
  onBytes?: (up: number, down: number) => void;
}

/** A FedexError answered by the server, with the HTTP status it came with. */
export class DeviceHttpError extends FedexError {
  readonly status: number;
  /** From `Retry-After` (429, 503), when the server sent one. */
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, status: number, retryAfterMs?: number) {
    super(code, message);
    this.name = 'DeviceHttpError';
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * True when a retry may succeed: the server unreachable or cut short (`UNAVAILABLE`), rate limited
 * (429), a server-side failure (5xx, whatever its code), or a model download whose bytes did not
 * match their checksum. Every other client error (4xx: auth, codec, idempotency conflicts, ...) is
 * final: sending the same request again would fail the same way.
 */
export function isRetryable(e: unknown): boolean {
  if (e instanceof DeviceHttpError && e.status >= 500) return true;
  return (
    isFedexError(e, 'UNAVAILABLE') || isFedexError(e, 'RATE_LIMITED') || isFedexError(e, 'MODEL_CORRUPT')
  );
}

const JSON_TYPE = 'application/json';
const encoder = new TextEncoder();

interface RawResponse {
  status: number;
  headers: Headers;
  bytes: Uint8Array;
}

export class DeviceClient {
  readonly server: string;
  private tokenValue: string | undefined;
  private readonly fetchFn: typeof fetch;
  private readonly timeoutMs: number;
  private readonly onBytes: ((up: number, down: number) => void) | undefined;

  constructor(options: DeviceClientOptions) {
    let url: URL;
    try {
      url = new URL(options.server);
    } catch (cause) {
      throw new FedexError('BAD_ARGUMENT', `not a server URL: "${options.server}"`, { cause });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new FedexError('BAD_ARGUMENT', `the server URL must be http(s), got "${options.server}"`);
    this.server = url.origin + url.pathname.replace(/\/+$/, '');
    this.tokenValue = options.token;
    // Bound to globalThis: a browser's fetch throws "Illegal invocation" when called as a method.
    this.fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.onBytes = options.onBytes;
  }

  /** The bearer token in use (undefined before enrollment). */
  get token(): string | undefined {
    return this.tokenValue;
  }

  setToken(token: string | undefined): void {
    this.tokenValue = token;
  }

  /** Enrolls this device with a token the admin made for its user; keeps the device token. */
  async enroll(request: {
    enrollmentToken: string;
    name: string;
  }): Promise<{ device: DeviceInfo; token: string }> {
    const res = await this.json<{ device: DeviceInfo; token: string }>('POST', '/v1/devices', request, {
      auth: false,
    });
    this.tokenValue = res.token;
    return res;
  }

  /**
   * Self sign-up (servers started with `--signup open`): a new user named `name` and this device
   * (`deviceName`, default `name`) in one call; keeps the device token.
   */
  async signup(request: {
    name: string;
    deviceName?: string;
  }): Promise<{ device: DeviceInfo; token: string }> {
    const res = await this.json<{ device: DeviceInfo; token: string }>(
      'POST',
      '/v1/devices',
      { name: request.deviceName ?? request.name, signup: { userName: request.name } },
      { auth: false },
    );
    this.tokenValue = res.token;
    return res;
  }

  /** The calling device and its user (also checks that the token still works). */
  me(): Promise<{ device: DeviceInfo; user: UserInfo }> {
    return this.json('GET', '/v1/me');
  }

  /**
   * Uploads one encoded feature batch (FXFB). `batchId` is the Idempotency-Key: resending the same
   * id and bytes is harmless (`duplicate: true`), the same id with other bytes is
   * `IDEMPOTENCY_CONFLICT`.
   */
  async uploadBatch(userId: string, batchId: string, bytes: Uint8Array): Promise<IngestResult> {
    const res = await this.send('POST', `/v1/users/${encodeURIComponent(userId)}/batches`, {
      body: bytes,
      contentType: 'application/octet-stream',
      headers: { 'idempotency-key': batchId },
    });
    return this.parseJson<IngestResult>(res, 'POST', 'batches');
  }

  async getLabels(userId: string): Promise<LabelName[]> {
    const res = await this.json<{ labels: LabelName[] }>(
      'GET',
      `/v1/users/${encodeURIComponent(userId)}/labels`,
    );
    return res.labels;
  }

  /** Names (or renames) label ids; answers the user's whole label list. */
  async putLabels(userId: string, labels: LabelName[]): Promise<LabelName[]> {
    const res = await this.json<{ labels: LabelName[] }>(
      'PUT',
      `/v1/users/${encodeURIComponent(userId)}/labels`,
      { labels },
    );
    return res.labels;
  }

  /** Sets (or clears, with -1) the label of samples by client id or server id; all or nothing. */
  relabel(
    userId: string,
    request: { clientIds?: string[]; sampleIds?: number[]; label: number },
  ): Promise<{ changed: number }> {
    return this.json('POST', `/v1/users/${encodeURIComponent(userId)}/samples/relabel`, request);
  }

  /**
   * Deletes samples on the server (idempotent: ids it does not hold count as `missing`). Deleting a
   * labelled sample makes the server retrain the user's head at once.
   */
  deleteSamples(
    userId: string,
    request: { clientIds?: string[]; sampleIds?: number[] },
  ): Promise<{ deleted: number; labelled: number; missing: number }> {
    return this.json('POST', `/v1/users/${encodeURIComponent(userId)}/samples/delete`, request);
  }

  /** Queues training of the user's head; answers the queued job (one queued job per scope). */
  train(userId: string, body: TrainBody = {}): Promise<{ job: JobInfo; created: boolean }> {
    return this.json('POST', `/v1/users/${encodeURIComponent(userId)}/train`, body);
  }

  async job(jobId: number): Promise<JobInfo> {
    const res = await this.json<{ job: JobInfo }>('GET', `/v1/jobs/${jobId}`);
    return res.job;
  }

  /**
   * The newest promoted model of `scope`. With the `etag` of the copy held, an unchanged model
   * answers `not-modified` (no body). The bytes are checked against the server's sha256
   * (`MODEL_CORRUPT` when they differ); no model yet is `NO_MODEL`.
   */
  async fetchModel(scope: ModelScope, etag?: string): Promise<ModelFetch> {
    const headers: Record<string, string> = {};
    if (etag !== undefined) headers['if-none-match'] = etag;
    const url = `/v1/models/${encodeURIComponent(scope)}/latest`;
    let res: RawResponse;
    try {
      res = await this.send('GET', url, { headers });
    } catch (e) {
      if (e instanceof DeviceHttpError && e.code === 'NOT_FOUND' && e.status === 404)
        throw new FedexError('NO_MODEL', `no model for ${scope} on ${this.server} yet`, { cause: e });
      throw e;
    }
    if (res.status === 304) return { status: 'not-modified' };
    const newEtag = res.headers.get('etag');
    const version = Number(res.headers.get('x-fedex-model-version'));
    const checksum = res.headers.get('x-fedex-model-checksum') ?? '';
    if (!newEtag || !Number.isInteger(version) || !/^sha256:[0-9a-f]{64}$/.test(checksum)) {
      throw new FedexError(
        'MODEL_CORRUPT',
        `${this.server} sent model ${scope} without its version, ETag or checksum`,
      );
    }
    const actual = `sha256:${await sha256Hex(res.bytes)}`;
    if (actual !== checksum) {
      throw new FedexError(
        'MODEL_CORRUPT',
        `model ${scope} v${version}: got ${res.bytes.length} bytes with ${actual}, the server says ${checksum}`,
      );
    }
    return { status: 'ok', bytes: res.bytes, etag: newEtag, version, checksum };
  }

  /** One JSON request; the parsed body of a 2xx answer. */
  private async json<T>(
    method: string,
    path: string,
    body?: unknown,
    options: { auth?: boolean } = {},
  ): Promise<T> {
    const res = await this.send(method, path, {
      auth: options.auth,
      body: body === undefined ? undefined : encoder.encode(JSON.stringify(body)),
      contentType: body === undefined ? undefined : JSON_TYPE,
    });
    return this.parseJson<T>(res, method, path);
  }

  private parseJson<T>(res: RawResponse, method: string, path: string): T {
    try {
      return JSON.parse(new TextDecoder().decode(res.bytes)) as T;
    } catch (cause) {
      // A 2xx without JSON: a proxy in the way, or a body cut short without the transport noticing.
      throw new FedexError('UNAVAILABLE', `${this.server} answered ${method} ${path} without JSON`, {
        cause,
      });
    }
  }

  /**
   * Sends one request and reads the whole body. Throws `DeviceHttpError` for a non-2xx/304 answer
   * and `UNAVAILABLE` when no complete answer came (refused, reset, timed out, body cut short).
   */
  private async send(
    method: string,
    path: string,
    options: {
      auth?: boolean;
      body?: Uint8Array;
      contentType?: string;
      headers?: Record<string, string>;
    } = {},
  ): Promise<RawResponse> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.auth !== false) {
      if (this.tokenValue === undefined)
        throw new FedexError(
          'DEVICE_NOT_ENROLLED',
          `${method} ${path} needs an enrolled device (call enroll first)`,
        );
      headers.authorization = `Bearer ${this.tokenValue}`;
    }
    if (options.contentType !== undefined) headers['content-type'] = options.contentType;
    const up = options.body?.byteLength ?? 0;
    let down = 0;
    try {
      let res: Response;
      try {
        res = await this.fetchFn(this.server + path, {
          method,
          headers,
          body: options.body as BodyInit | undefined,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (cause) {
        throw this.unreachable(method, path, cause);
      }
      let bytes: Uint8Array;
      try {
        bytes = new Uint8Array(await res.arrayBuffer());
      } catch (cause) {
        throw new FedexError(
          'UNAVAILABLE',
          `${method} ${path}: the answer from ${this.server} was cut short`,
          {
            cause,
          },
        );
      }
      down = bytes.byteLength;
      const declared = res.headers.get('content-length');
      if (declared !== null && res.headers.get('content-encoding') === null && Number(declared) !== down) {
        throw new FedexError(
          'UNAVAILABLE',
          `${method} ${path}: ${this.server} declared ${declared} bytes and sent ${down}`,
        );
      }
      if (res.ok || res.status === 304) return { status: res.status, headers: res.headers, bytes };
      throw this.httpError(res, bytes, method, path);
    } finally {
      this.onBytes?.(up, down);
    }
  }

  private unreachable(method: string, path: string, cause: unknown): FedexError {
    const name = (cause as { name?: unknown } | null)?.name;
    if (name === 'TimeoutError')
      return new FedexError(
        'UNAVAILABLE',
        `${this.server} did not answer ${method} ${path} in ${this.timeoutMs} ms`,
        {
          cause,
        },
      );
    const detail = causeText(cause);
    return new FedexError('UNAVAILABLE', `cannot reach ${this.server} (${method} ${path}): ${detail}`, {
      cause,
    });
  }

  private httpError(res: Response, bytes: Uint8Array, method: string, path: string): DeviceHttpError {
    const retryAfter = Number(res.headers.get('retry-after'));
    const retryAfterMs = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined;
    let err: { code?: unknown; message?: unknown } | undefined;
    try {
      err = (JSON.parse(new TextDecoder().decode(bytes)) as { error?: typeof err }).error;
    } catch {
      err = undefined;
    }
    if (err && typeof err.code === 'string' && typeof err.message === 'string') {
      // The server's codes are the ErrorCode union (src/server/errors.ts maps them to statuses).
      return new DeviceHttpError(err.code as ErrorCode, err.message, res.status, retryAfterMs);
    }
    const code: ErrorCode =
      res.status === 429
        ? 'RATE_LIMITED'
        : res.status >= 500
          ? 'UNAVAILABLE'
          : res.status === 404
            ? 'NOT_FOUND'
            : res.status === 401
              ? 'AUTH_INVALID'
              : res.status === 403
                ? 'FORBIDDEN'
                : 'BAD_REQUEST';
    return new DeviceHttpError(
      code,
      `${method} ${path}: HTTP ${res.status} from ${this.server}`,
      res.status,
      retryAfterMs,
    );
  }
}

/** `ECONNREFUSED`-style code or message of a fetch failure (undici nests it in `cause`). */
function causeText(e: unknown): string {
  let c: unknown = e;
  for (let depth = 0; depth < 4 && c; depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const next = (c as { cause?: unknown }).cause;
    if (!next) break;
    c = next;
  }
  return (e as Error)?.message ?? String(e);
}

/** Lower-case hex SHA-256 via WebCrypto (global in browsers and in Node ≥ 19). */
async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>),
  );
  let hex = '';
  for (const b of digest) hex += b.toString(16).padStart(2, '0');
  return hex;
}
