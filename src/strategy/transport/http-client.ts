/**
 * The device side of the HTTP transport: a loop that polls `GET /v1/rounds/current`, and when this
 * device is selected downloads the global weights, runs its task on local data (the `execute`
 * callback, normally the strategy's `runClientTask` bound to the device's data) and posts the
 * trained weights as FXWT. Errors follow the device SDK (`../../device/client.ts`): a 4xx is final
 * for that round (a late or duplicate update is skipped, not retried), a retryable error
 * (unreachable, 5xx, rate limited) is retried after a pause.
 *
 * Platform-neutral: `fetch` only, no Node built-ins.
 */
import { decodeWeights, encodeWeights } from '../../core/codec.js';
import { FedexError, isFedexError, type ErrorCode } from '../../core/errors.js';
import { DeviceHttpError, isRetryable } from '../../device/client.js';
import type { ClientResult, ClientTask } from '../types.js';
import type { CurrentRound, UpdateMetadata } from './http.js';

export interface HttpRoundClientOptions {
  /** `http(s)://host:port` of the server. */
  server: string;
  /** The device's bearer token. */
  token: string;
  /** Runs one task on the device's data (e.g. `runClientTask` with its local features). */
  execute: (task: ClientTask) => Promise<ClientResult>;
  /** Stop after posting this many updates. Default: run until the server says `finished`. */
  maxRounds?: number;
  /** Stops the loop (between requests). */
  signal?: AbortSignal;
  /** Pause between polls when there is nothing to do, in ms. Default 100. */
  pollMs?: number;
  /** Pause before retrying a retryable failure, in ms. Default 500. */
  retryMs?: number;
  /** Per-request timeout in ms. Default 30 000. */
  timeoutMs?: number;
  /** Injected for tests and other runtimes. Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Called on each step, for logs and tests. */
  onEvent?: (event: RoundClientEvent) => void;
}

export type RoundClientEvent =
  | { kind: 'task'; round: number }
  | { kind: 'posted'; round: number }
  | { kind: 'skipped'; round: number; code: ErrorCode }
  | { kind: 'retry'; error: string };

export const DEFAULT_ROUND_CLIENT_OPTIONS: { pollMs: number; retryMs: number; timeoutMs: number } = {
  pollMs: 100,
  retryMs: 500,
  timeoutMs: 30_000,
};

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Takes part in federated rounds over HTTP until `maxRounds` updates were posted, the server's run
 * finished, or `signal` aborts.
 *
 * @example
 * const client = new HttpRoundClient({ server, token, execute: (task) => runClientTask(task, data) });
 * const posted = await client.run();
 */
export class HttpRoundClient {
  private readonly options: HttpRoundClientOptions & typeof DEFAULT_ROUND_CLIENT_OPTIONS;
  private readonly server: string;
  private readonly fetchFn: typeof fetch;

  constructor(options: HttpRoundClientOptions) {
    this.options = { ...DEFAULT_ROUND_CLIENT_OPTIONS, ...options };
    this.server = options.server.replace(/\/+$/, '');
    this.fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** Runs the loop; resolves with the number of updates posted. */
  async run(): Promise<number> {
    const { maxRounds, signal, pollMs, retryMs, onEvent } = this.options;
    let posted = 0;
    let done = 0; // last round this device is through with
    while (!signal?.aborted && (maxRounds === undefined || posted < maxRounds)) {
      try {
        const cur = await this.json<CurrentRound>('GET', '/v1/rounds/current');
        if (cur.status === 'finished') break;
        const task = cur.task;
        if (cur.status !== 'open' || task === null || cur.round === null || cur.round <= done) {
          await sleep(pollMs, signal);
          continue;
        }
        const round = cur.round;
        onEvent?.({ kind: 'task', round });
        try {
          if (task.kind !== 'train') {
            throw new FedexError('BAD_REQUEST', `task kind ${task.kind} is not served over this transport`);
          }
          const res = await this.send('GET', task.weightsPath);
          const weights = decodeWeights(res.bytes).tensors;
          const { weightsPath: _path, weightsEtag: _etag, ...settings } = task;
          const result = await this.options.execute({ ...settings, weights });
          if (result.kind !== 'weights') {
            throw new FedexError('BAD_REQUEST', `a ${result.kind} result is not served over this transport`);
          }
          const metadata: UpdateMetadata = {
            numExamples: result.numExamples,
            loss: result.metrics.loss,
            accuracy: result.metrics.accuracy,
            deviceFlops: result.costs.deviceFlops,
            bytesDown: res.bytes.byteLength,
          };
          const body = encodeWeights(
            { metadata: { ...metadata }, tensors: result.weights },
            { dtype: 'float32' },
          );
          await this.send('POST', `/v1/rounds/${round}/updates`, body);
          posted += 1;
          done = round;
          onEvent?.({ kind: 'posted', round });
        } catch (e) {
          if (isRetryable(e)) throw e;
          // Final for this round (closed, duplicate, not selected, a bad update): wait for the next.
          done = round;
          onEvent?.({ kind: 'skipped', round, code: isFedexError(e) ? e.code : 'INTERNAL' });
        }
      } catch (e) {
        if (!isRetryable(e)) throw e;
        onEvent?.({ kind: 'retry', error: e instanceof Error ? e.message : String(e) });
        await sleep(retryMs, signal);
      }
    }
    return posted;
  }

  private async json<T>(method: string, path: string): Promise<T> {
    const res = await this.send(method, path);
    try {
      return JSON.parse(new TextDecoder().decode(res.bytes)) as T;
    } catch (cause) {
      throw new FedexError('UNAVAILABLE', `${this.server} answered ${method} ${path} without JSON`, {
        cause,
      });
    }
  }

  /** One request; DeviceHttpError for a non-2xx answer, UNAVAILABLE when no answer came. */
  private async send(method: string, path: string, body?: Uint8Array): Promise<{ bytes: Uint8Array }> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.options.token}` };
    if (body) headers['content-type'] = 'application/octet-stream';
    let res: Response;
    let bytes: Uint8Array;
    try {
      res = await this.fetchFn(this.server + path, {
        method,
        headers,
        body: body as BodyInit | undefined,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      bytes = new Uint8Array(await res.arrayBuffer());
    } catch (cause) {
      throw new FedexError('UNAVAILABLE', `cannot reach ${this.server} (${method} ${path})`, { cause });
    }
    if (res.ok) return { bytes };
    let code: ErrorCode = res.status >= 500 ? 'UNAVAILABLE' : 'BAD_REQUEST';
    let message = `${method} ${path}: HTTP ${res.status}`;
    try {
      const parsed = JSON.parse(new TextDecoder().decode(bytes)) as {
        error?: { code?: string; message?: string };
      };
      if (parsed.error?.code) code = parsed.error.code as ErrorCode;
      if (parsed.error?.message) message = parsed.error.message;
    } catch {
      // not JSON: keep the status-derived code
    }
    const retryAfter = Number(res.headers.get('retry-after'));
    throw new DeviceHttpError(code, message, res.status, retryAfter > 0 ? retryAfter * 1000 : undefined);
  }
}
