/**
 * A small typed HTTP client of the FedEx server's admin API, used by the `fedex users`, `models`
 * and `jobs` commands. It speaks JSON with a bearer token and turns every failure into a
 * FedexError: the server's `{ error: { code, message } }` keeps the server's code, and a server
 * that is not there is `UNAVAILABLE` with a hint to start one. Nothing here prints.
 *
 * @example
 * const api = new ApiClient({ baseUrl: 'http://127.0.0.1:8787', token: adminKey });
 * const { users } = await api.listUsers();
 */
import type {
  ApiDevice,
  ApiJob,
  ApiJobStatus,
  ApiModel,
  ApiTrainBody,
  ApiUserSummary,
} from '../core/api-types.js';
import { FedexError, type ErrorCode } from '../core/errors.js';

/** A user as `GET /v1/users` lists it (times as epoch milliseconds, as the store keeps them). */
export type UserRow = ApiUserSummary;

export type DeviceRow = ApiDevice;

/** A model version as `GET /v1/models` lists it (no weights; `createdAt` is ISO). */
export type ModelRow = ApiModel;

export type JobStatus = ApiJobStatus;

/** A job as the API shows it (times ISO). */
export type JobRow = ApiJob;

/** What a caller may set for one training job (the server's defaults fill the rest). */
export type TrainRequest = ApiTrainBody;

export interface ApiClientOptions {
  /** `http://host:port` of the server (a trailing slash is fine). */
  baseUrl: string;
  /** Bearer token: the admin key. */
  token: string;
  /** Per-request timeout in ms. Default 30 000. */
  timeoutMs?: number;
}

/** Connection failures that mean "no server there" rather than "the server failed". */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ECONNRESET', 'EAI_AGAIN']);

function causeCode(e: unknown): string | undefined {
  let c: unknown = e;
  for (let depth = 0; depth < 4 && c; depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    c = (c as { cause?: unknown }).cause;
  }
  return undefined;
}

export class ApiClient {
  readonly baseUrl: string;
  private readonly token: string;
  private readonly timeoutMs: number;

  constructor(options: ApiClientOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch (cause) {
      throw new FedexError('BAD_ARGUMENT', `not a server URL: "${options.baseUrl}"`, { cause });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new FedexError('BAD_ARGUMENT', `the server URL must be http(s), got "${options.baseUrl}"`);
    this.baseUrl = url.origin + url.pathname.replace(/\/+$/, '');
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** One JSON request; resolves to the parsed body of a 2xx answer, else throws a FedexError. */
  async request<T>(method: string, pathAndQuery: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(this.baseUrl + pathAndQuery, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (cause) {
      const code = causeCode(cause);
      if (code !== undefined && UNREACHABLE.has(code)) {
        throw new FedexError(
          'UNAVAILABLE',
          `no FedEx server at ${this.baseUrl} (start one with fedex serve)`,
          {
            cause,
          },
        );
      }
      if ((cause as Error).name === 'TimeoutError') {
        throw new FedexError('UNAVAILABLE', `${this.baseUrl} did not answer in ${this.timeoutMs} ms`, {
          cause,
        });
      }
      throw new FedexError('UNAVAILABLE', `cannot reach ${this.baseUrl}: ${(cause as Error).message}`, {
        cause,
      });
    }
    const text = await res.text();
    let json: unknown = undefined;
    if (text.length > 0 && (res.headers.get('content-type') ?? '').includes('json')) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    if (res.ok) {
      if (json === undefined)
        throw new FedexError(
          'UNAVAILABLE',
          `${this.baseUrl} answered ${method} ${pathAndQuery} without JSON`,
        );
      return json as T;
    }
    const err = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    if (err && typeof err.code === 'string' && typeof err.message === 'string') {
      // The server's codes are the ErrorCode union (src/server/errors.ts maps them to statuses).
      throw new FedexError(err.code as ErrorCode, err.message);
    }
    const code: ErrorCode =
      res.status === 404 ? 'NOT_FOUND' : res.status >= 500 ? 'UNAVAILABLE' : 'BAD_REQUEST';
    throw new FedexError(code, `${method} ${pathAndQuery}: HTTP ${res.status} from ${this.baseUrl}`);
  }

  listUsers(): Promise<{ users: UserRow[] }> {
    return this.request('GET', '/v1/users');
  }

  createUser(name: string, id?: string): Promise<{ user: UserRow }> {
    return this.request('POST', '/v1/users', id === undefined ? { name } : { name, id });
  }

  /** A one-or-more-use token a phone enrolls with (`POST /v1/devices`). */
  createEnrollmentToken(
    userId: string,
    options: { uses?: number; ttlSeconds?: number } = {},
  ): Promise<{ enrollmentToken: string; expiresAt: string }> {
    return this.request('POST', `/v1/users/${encodeURIComponent(userId)}/enrollment-tokens`, options);
  }

  /** Enrolls a device for a user as admin; the device token is in the answer, once. */
  enrollDevice(userId: string, name: string): Promise<{ device: DeviceRow; token: string }> {
    return this.request('POST', '/v1/devices', { name, userId });
  }

  listModels(options: { scope?: string; limit?: number } = {}): Promise<{ models: ModelRow[] }> {
    return this.request('GET', `/v1/models${query(options)}`);
  }

  listJobs(
    options: { scope?: string; status?: JobStatus; limit?: number } = {},
  ): Promise<{ jobs: JobRow[] }> {
    return this.request('GET', `/v1/jobs${query(options)}`);
  }

  getJob(id: number): Promise<{ job: JobRow }> {
    return this.request('GET', `/v1/jobs/${id}`);
  }

  /** Queues training of a user's head, or of the global model (`userId` null). */
  train(userId: string | null, body: TrainRequest = {}): Promise<{ job: JobRow; created: boolean }> {
    const url = userId === null ? '/v1/global/train' : `/v1/users/${encodeURIComponent(userId)}/train`;
    return this.request('POST', url, body);
  }
}

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
