/**
 * The server side of the HTTP transport: the wire types the round routes and the device loop share
 * (`PublishedTask`, `CurrentRound`, `UpdateMetadata`), the check every server applies to an update
 * (`readUpdate`), and `HttpTransport`, a round coordinator whose state is in memory. A round is
 * published by `runRound` (its number, deadline and each selected device's task); devices poll for
 * it, download the global weights (FXWT, ETag) and post their trained weights (FXWT with
 * `{ numExamples, loss, accuracy, deviceFlops }` in the metadata). The round resolves when every
 * selected device posted, or at the deadline with whoever did.
 *
 * The server's routes use the store-backed transport (`src/server/rounds-store.ts`), so many API
 * processes share a round and a restart continues it. `HttpTransport` keeps the same behaviour in
 * one process's memory, for a single process that needs no database: a restart abandons its open
 * round (the runner awaiting it dies with the process, and devices posting to it are answered
 * `NOT_FOUND`).
 *
 * Checks at this boundary: a malformed or non-finite FXWT is `CODEC_*` (400, from the codec); a
 * tensor list whose names or shapes differ from the task's weights is `CODEC_SHAPE_MISMATCH`
 * (400); a device not selected is `NOT_SELECTED`, a second update `DUPLICATE_UPDATE`, a round
 * past its deadline `ROUND_CLOSED`. Norm checks and clipping stay with the round runner.
 *
 * Platform-neutral: no Node built-ins (the codec and crc32 are pure).
 */
import { decodeWeights, encodeWeights, type WeightTensor } from '../../core/codec.js';
import { crc32 } from '../../core/crc32.js';
import { CodecError, FedexError } from '../../core/errors.js';
import type { ClientResult, ClientTask, Transport, Weights } from '../types.js';

/** What a device sees of its task: the training settings, with the weights downloaded apart. */
export type PublishedTask =
  | {
      kind: 'train';
      round: number;
      localEpochs: number;
      batchSize: number;
      learningRate: number;
      mu: number;
      seed: number;
      /** Path of the FXWT global weights to start from (`GET`, ETag). */
      weightsPath: string;
      weightsEtag: string;
    }
  | { kind: 'upload-features'; round: number };

/**
 * `open`: a round is accepting updates; `waiting`: none is open (poll again); `finished`: the
 * server's run is over (`finish()`), devices may stop.
 */
export type RoundStatus = 'open' | 'waiting' | 'finished';

/** The answer of `GET /v1/rounds/current` for one device. */
export interface CurrentRound {
  status: RoundStatus;
  /** The open round, else the last one published (null before the first). */
  round: number | null;
  /** ISO time the open round closes (null when none is open). */
  deadline: string | null;
  /** This device's task in the open round (null: not selected, or already reported). */
  task: PublishedTask | null;
  /** Whether this device's update for the open round was recorded. */
  reported: boolean;
}

/** Metadata a device sends in the FXWT of its update. */
export interface UpdateMetadata {
  numExamples: number;
  loss: number;
  accuracy: number;
  deviceFlops: number;
  /** Bytes the device downloaded for the task (default: the size of the weights it was served). */
  bytesDown?: number;
}

interface EncodedWeights {
  bytes: Uint8Array;
  etag: string;
  tensors: readonly WeightTensor[];
}

interface OpenRound {
  round: number;
  closesAt: number;
  tasks: ReadonlyMap<string, ClientTask>;
  /** Encoded global weights of each train task (tasks sharing one array share the bytes). */
  weights: Map<string, EncodedWeights>;
  results: Map<string, ClientResult>;
  timer: ReturnType<typeof setTimeout>;
  resolve: (results: ClientResult[]) => void;
}

/** Options of an `HttpTransport`. */
export interface HttpTransportOptions {
  /** Clock, for tests. Default `Date.now`. */
  now?: () => number;
}

/** The ETag of encoded weights: their crc32 and length (a quoted strong validator). */
export function weightsEtag(bytes: Uint8Array): string {
  return `"${crc32(bytes).toString(16).padStart(8, '0')}-${bytes.byteLength.toString(16)}"`;
}

function finiteNumber(meta: Record<string, unknown>, key: string, min: number): number {
  const v = meta[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
    throw new CodecError('CODEC_BAD_HEADER', `update metadata "${key}" must be a finite number ≥ ${min}`);
  }
  return v;
}

/** What an accepted update says: its tensors and the numbers of its `ClientResult`. */
export interface UpdateReading {
  tensors: WeightTensor[];
  numExamples: number;
  loss: number;
  accuracy: number;
  deviceFlops: number;
  bytesUp: number;
  bytesDown: number;
}

/**
 * Decodes a device's update (FXWT) and checks it against the weights its task started from: the
 * same tensor names and shapes, finite values, and the metadata numbers. Throws `CODEC_*` before
 * anything is recorded. Shared by every server-side transport, so they refuse the same bytes.
 *
 * @example
 * const reading = readUpdate(body, { bytes: served.bytes, tensors: task.weights });
 */
export function readUpdate(
  bytes: Uint8Array,
  expected: { bytes: Uint8Array; tensors: readonly WeightTensor[] },
): UpdateReading {
  const message = decodeWeights(bytes, { maxBytes: Math.max(expected.bytes.byteLength * 2, 1 << 16) });
  const want = expected.tensors;
  const got = message.tensors;
  const same =
    got.length === want.length &&
    got.every(
      (t, i) =>
        t.name === want[i].name &&
        t.shape.length === want[i].shape.length &&
        t.shape.every((d, j) => d === want[i].shape[j]),
    );
  if (!same) {
    const describe = (ts: readonly WeightTensor[]) =>
      ts.map((t) => `${t.name}[${t.shape.join(',')}]`).join(' ');
    throw new CodecError(
      'CODEC_SHAPE_MISMATCH',
      `the update's tensors (${describe(got)}) differ from the task's (${describe(want)})`,
    );
  }
  const meta = message.metadata;
  const numExamples = finiteNumber(meta, 'numExamples', 1);
  if (!Number.isInteger(numExamples))
    throw new CodecError('CODEC_BAD_HEADER', 'update metadata "numExamples" must be an integer');
  return {
    tensors: got,
    numExamples,
    loss: finiteNumber(meta, 'loss', 0),
    accuracy: finiteNumber(meta, 'accuracy', 0),
    deviceFlops: finiteNumber(meta, 'deviceFlops', 0),
    bytesUp: bytes.byteLength,
    bytesDown: meta.bytesDown === undefined ? expected.bytes.byteLength : finiteNumber(meta, 'bytesDown', 0),
  };
}

/** The round runner's `ClientResult` of an accepted update. */
export function updateResult(
  deviceId: string,
  round: number,
  r: Omit<UpdateReading, 'tensors'>,
  weights: WeightTensor[],
): ClientResult {
  return {
    kind: 'weights',
    clientId: deviceId,
    round,
    weights,
    numExamples: r.numExamples,
    metrics: { loss: r.loss, accuracy: r.accuracy },
    costs: { deviceFlops: r.deviceFlops, bytesUp: r.bytesUp, bytesDown: r.bytesDown },
  };
}

/** The task a device sees: the training settings, with the path and ETag of its weights. */
export function publishedTask(task: PublishedTaskSettings, round: number, etag: string): PublishedTask {
  if (task.kind !== 'train') return { kind: task.kind, round: task.round };
  return {
    kind: 'train',
    round: task.round,
    localEpochs: task.localEpochs,
    batchSize: task.batchSize,
    learningRate: task.learningRate,
    mu: task.mu,
    seed: task.seed,
    weightsPath: `/v1/rounds/${round}/weights`,
    weightsEtag: etag,
  };
}

/** A task without its weights (what a server keeps apart from the encoded weights). */
export type PublishedTaskSettings =
  Omit<Extract<ClientTask, { kind: 'train' }>, 'weights'> | Extract<ClientTask, { kind: 'upload-features' }>;

/**
 * The HTTP transport, server side, in one process's memory. Give it to the round runner as its
 * `Transport`; a server's routes call `current`, `weights` and `submit` for authenticated devices
 * (synchronously: nothing here waits on a database).
 *
 * @example
 * const transport = new HttpTransport();
 * const done = transport.runRound(1, tasks, 30_000);
 * transport.submit(deviceId, 1, fxwtBytes); // what a route does for a device's post
 * const results = await done;
 */
export class HttpTransport implements Transport {
  private open: OpenRound | null = null;
  /** Highest round number published so far (0: none). */
  private lastRound = 0;
  /** When each device last asked for the current round. */
  private readonly seen = new Map<string, number>();
  private finished = false;
  private readonly now: () => number;

  constructor(options: HttpTransportOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  runRound(
    round: number,
    tasks: ReadonlyMap<string, ClientTask>,
    deadlineMs: number,
  ): Promise<ClientResult[]> {
    if (this.open) {
      throw new FedexError(
        'BAD_ARGUMENT',
        `round ${this.open.round} is still open; rounds run one at a time`,
      );
    }
    if (!Number.isInteger(round) || round <= this.lastRound) {
      throw new FedexError('BAD_ARGUMENT', `round ${round} must be an integer after ${this.lastRound}`);
    }
    if (!(deadlineMs >= 0) || !Number.isFinite(deadlineMs)) {
      throw new FedexError('BAD_ARGUMENT', `deadlineMs must be a finite number ≥ 0, got ${deadlineMs}`);
    }
    this.lastRound = round;
    this.finished = false;
    if (tasks.size === 0) return Promise.resolve([]);
    const weights = new Map<string, EncodedWeights>();
    const byArray = new Map<Weights, EncodedWeights>();
    for (const [id, task] of tasks) {
      if (task.kind !== 'train') continue;
      let enc = byArray.get(task.weights);
      if (!enc) {
        const bytes = encodeWeights({ metadata: { round }, tensors: task.weights }, { dtype: 'float32' });
        enc = { bytes, etag: weightsEtag(bytes), tensors: task.weights };
        byArray.set(task.weights, enc);
      }
      weights.set(id, enc);
    }
    return new Promise<ClientResult[]>((resolve) => {
      const state: OpenRound = {
        round,
        closesAt: this.now() + deadlineMs,
        tasks,
        weights,
        results: new Map(),
        timer: setTimeout(() => this.close(state), deadlineMs),
        resolve,
      };
      this.open = state;
    });
  }

  /** Tells polling devices the run is over; closes an open round with whoever reported. */
  finish(): void {
    if (this.open) this.close(this.open);
    this.finished = true;
  }

  /** The round as `deviceId` sees it. */
  current(deviceId: string): CurrentRound {
    this.seen.set(deviceId, this.now());
    const open = this.open;
    if (!open || this.now() >= open.closesAt) {
      return {
        status: this.finished ? 'finished' : 'waiting',
        round: this.lastRound === 0 ? null : this.lastRound,
        deadline: null,
        task: null,
        reported: false,
      };
    }
    const reported = open.results.has(deviceId);
    const task = open.tasks.get(deviceId);
    return {
      status: 'open',
      round: open.round,
      deadline: new Date(open.closesAt).toISOString(),
      task: task && !reported ? this.publish(open, deviceId, task) : null,
      reported,
    };
  }

  /**
   * Devices that polled within the last `withinMs`, sorted: pass `() => transport.activeDevices(ms)`
   * as `runRounds`' `clients` so a device that died stops being selected (and stops costing every
   * later round a full deadline).
   */
  activeDevices(withinMs: number): string[] {
    const since = this.now() - withinMs;
    return [...this.seen]
      .filter(([, t]) => t >= since)
      .map(([id]) => id)
      .sort();
  }

  /** The FXWT global weights `deviceId`'s task in round `round` starts from. */
  weights(deviceId: string, round: number): { bytes: Uint8Array; etag: string } {
    const open = this.openRound(round);
    const enc = this.selected(open, deviceId) && open.weights.get(deviceId);
    if (!enc) throw new FedexError('NOT_FOUND', `your task in round ${round} carries no weights`);
    return { bytes: enc.bytes, etag: enc.etag };
  }

  /**
   * Records `deviceId`'s update (FXWT bytes) for round `round`. Returns once recorded; throws
   * before recording anything when the round, the device or the bytes are not acceptable.
   */
  submit(deviceId: string, round: number, bytes: Uint8Array): { round: number; received: number } {
    const open = this.openRound(round);
    const task = open.tasks.get(deviceId);
    this.selected(open, deviceId);
    if (open.results.has(deviceId)) {
      throw new FedexError('DUPLICATE_UPDATE', `your update for round ${round} was already recorded`);
    }
    if (task?.kind !== 'train') {
      throw new FedexError('BAD_REQUEST', `your task in round ${round} is ${task?.kind}, not weights`);
    }
    const expected = open.weights.get(deviceId)!;
    const reading = readUpdate(bytes, expected);
    open.results.set(deviceId, updateResult(deviceId, round, reading, reading.tensors));
    if (open.results.size === open.tasks.size) this.close(open);
    return { round, received: open.results.size };
  }

  private publish(open: OpenRound, deviceId: string, task: ClientTask): PublishedTask {
    if (task.kind !== 'train') return task;
    return publishedTask(task, open.round, open.weights.get(deviceId)!.etag);
  }

  /** The open round numbered `round`; NOT_FOUND when never published, ROUND_CLOSED when past. */
  private openRound(round: number): OpenRound {
    const open = this.open;
    if (open && open.round === round) {
      if (this.now() >= open.closesAt) {
        this.close(open);
        throw new FedexError('ROUND_CLOSED', `round ${round} closed at its deadline`);
      }
      return open;
    }
    if (round >= 1 && round <= this.lastRound)
      throw new FedexError('ROUND_CLOSED', `round ${round} is closed`);
    throw new FedexError('NOT_FOUND', `no round ${round} (the last one published is ${this.lastRound})`);
  }

  private selected(open: OpenRound, deviceId: string): true {
    if (!open.tasks.has(deviceId))
      throw new FedexError('NOT_SELECTED', `this device was not selected for round ${open.round}`);
    return true;
  }

  private close(open: OpenRound): void {
    if (this.open !== open) return;
    clearTimeout(open.timer);
    this.open = null;
    open.resolve([...open.results.values()]);
  }
}
