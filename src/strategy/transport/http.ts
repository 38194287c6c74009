/**
 * The server side of the HTTP transport: the round coordinator that `../rounds.ts` drives in the
 * server process, and that the round routes (`src/server/routes/rounds.ts`) read and write. A
 * round is published by `runRound` (its number, deadline and each selected device's task); devices
 * poll for it, download the global weights (FXWT, ETag) and post their trained weights (FXWT with
 * `{ numExamples, loss, accuracy, deviceFlops }` in the metadata). The round resolves when every
 * selected device posted, or at the deadline with whoever did.
 *
 * State is in memory, on purpose: a round lives for seconds to minutes, and the round runner that
 * waits on it lives in the same process. An update is acknowledged (202) only once it is recorded
 * here, so an acknowledged update is in the round unless the process dies. A server restart
 * abandons the open round: the runner awaiting it dies with the process, the weights its clients
 * trained are lost, and devices posting to it are answered `NOT_FOUND` (the new process has no such
 * round); they poll again and take part in whatever round the restarted runner publishes (the
 * abandoned round is re-run from the last global weights the runner kept).
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

function tag(bytes: Uint8Array): string {
  return `"${crc32(bytes).toString(16).padStart(8, '0')}-${bytes.byteLength.toString(16)}"`;
}

function finiteNumber(meta: Record<string, unknown>, key: string, min: number): number {
  const v = meta[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
    throw new CodecError('CODEC_BAD_HEADER', `update metadata "${key}" must be a finite number ≥ ${min}`);
  }
  return v;
}

/**
 * The HTTP transport, server side. Give it to the round runner as its `Transport`; the routes
 * call `current`, `weights` and `submit` for authenticated devices.
 *
 * @example
 * const transport = new HttpTransport();
 * app.decorate('rounds', transport); // the routes reach it
 * const log = await runRounds({ strategy, transport, clients: deviceIds, ... });
 * transport.finish();
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
        enc = { bytes, etag: tag(bytes), tensors: task.weights };
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
    const loss = finiteNumber(meta, 'loss', 0);
    const accuracy = finiteNumber(meta, 'accuracy', 0);
    const deviceFlops = finiteNumber(meta, 'deviceFlops', 0);
    const bytesDown =
      meta.bytesDown === undefined ? expected.bytes.byteLength : finiteNumber(meta, 'bytesDown', 0);
    open.results.set(deviceId, {
      kind: 'weights',
      clientId: deviceId,
      round,
      weights: got,
      numExamples,
      metrics: { loss, accuracy },
      costs: { deviceFlops, bytesUp: bytes.byteLength, bytesDown },
    });
    if (open.results.size === open.tasks.size) this.close(open);
    return { round, received: open.results.size };
  }

  private publish(open: OpenRound, deviceId: string, task: ClientTask): PublishedTask {
    if (task.kind !== 'train') return task;
    const enc = open.weights.get(deviceId)!;
    return {
      kind: 'train',
      round: task.round,
      localEpochs: task.localEpochs,
      batchSize: task.batchSize,
      learningRate: task.learningRate,
      mu: task.mu,
      seed: task.seed,
      weightsPath: `/v1/rounds/${open.round}/weights`,
      weightsEtag: enc.etag,
    };
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
