/**
 * Federated rounds over HTTP with their state in the store: the transport the round routes
 * (`./routes/rounds.ts`) serve and the round runner (`runRounds` in `../strategy/rounds.ts`) drives.
 * Same route-facing behaviour as the in-memory `HttpTransport` (`../strategy/transport/http.ts`),
 * but everything a round holds — its number and deadline, each device's task, the encoded global
 * weights, the updates — is in the database, so:
 * - any API process behind a load balancer serves any device's poll, weight download and update
 *   post, whichever process published the round;
 * - a restarted API process goes on serving the open round (it is in the database);
 * - the runner may live in any process with a store; it publishes, polls the store until every
 *   selected device reported or the deadline passed, closes the round and reads the updates. A
 *   runner that dies leaves its round to close at its deadline (devices then get ROUND_CLOSED).
 *
 * An update is checked here (`readUpdate`: codec, tensor names and shapes, metadata numbers)
 * before the store is asked to record it, so a refused update changes nothing; the store then
 * refuses a second update of a device, whichever process it reaches, by a primary key.
 */
import { decodeWeights, encodeWeights, type WeightTensor } from '../core/codec.js';
import { FedexError } from '../core/errors.js';
import {
  publishedTask,
  readUpdate,
  updateResult,
  weightsEtag,
  type CurrentRound,
  type PublishedTaskSettings,
  type UpdateReading,
} from '../strategy/transport/http.js';
import type { ClientResult, ClientTask, Transport, Weights } from '../strategy/types.js';
import type { NewRound, RoundUpdate, Store } from './store/store.js';

/** Options of a {@link StoreRoundTransport}. */
export interface StoreRoundTransportOptions {
  /** Clock of the deadlines; the store's clock decides when a round is past it. Default `Date.now`. */
  now?: () => number;
  /** How often the round runner asks the store whether every selected device reported, in ms. */
  pollMs?: number;
}

/** Defaults of {@link StoreRoundTransportOptions}: the runner polls every 50 ms. */
export const DEFAULT_STORE_ROUND_OPTIONS = { pollMs: 50 } as const;

/** The round this process runs, while `runRound` waits on it. */
interface LocalRun {
  round: number;
  /** Ends the current wait at once (an update arrived here, or the run stops). */
  wake: () => void;
  stopped: boolean;
  /** Settles when `runRound` has closed the round and read its updates. */
  done: Promise<unknown>;
}

const sleep = (ms: number, run: LocalRun): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      resolve();
    }
    run.wake = done;
  });

/**
 * The store-backed round transport. Give it to the round runner as its `Transport`; the routes call
 * `current`, `weights` and `submit` for authenticated devices, in any API process on the database.
 *
 * @example
 * const transport = new StoreRoundTransport(store);
 * const log = await runRounds({ strategy, transport, clients: await transport.activeDevices(60_000), ... });
 * await transport.finish();
 */
export class StoreRoundTransport implements Transport {
  private readonly now: () => number;
  private readonly pollMs: number;
  private running: LocalRun | null = null;
  /** Tensor names and shapes of the weights served in `layoutRound`, by ETag (decoded once). */
  private readonly layouts = new Map<string, readonly WeightTensor[]>();
  private layoutRound = 0;

  constructor(
    private readonly store: Store,
    options: StoreRoundTransportOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.pollMs = options.pollMs ?? DEFAULT_STORE_ROUND_OPTIONS.pollMs;
  }

  /**
   * Publishes round `round` and resolves with the devices' results once every selected device
   * reported, at the deadline with whoever did, or when this process stops (`stop`, `finish`).
   * BAD_ARGUMENT (from the store) when another round is open or `round` is not above the last one.
   */
  async runRound(
    round: number,
    tasks: ReadonlyMap<string, ClientTask>,
    deadlineMs: number,
  ): Promise<ClientResult[]> {
    if (!(deadlineMs >= 0) || !Number.isFinite(deadlineMs)) {
      throw new FedexError('BAD_ARGUMENT', `deadlineMs must be a finite number ≥ 0, got ${deadlineMs}`);
    }
    const deadlineAt = this.now() + deadlineMs;
    await this.store.publishRound(encodeRound(round, tasks, deadlineAt));
    if (tasks.size === 0) return [];
    const run: LocalRun = { round, wake: () => undefined, stopped: false, done: Promise.resolve() };
    const done = this.await(run, deadlineAt);
    run.done = done.catch(() => undefined);
    this.running = run;
    try {
      return await done;
    } finally {
      if (this.running === run) this.running = null;
    }
  }

  private async await(run: LocalRun, deadlineAt: number): Promise<ClientResult[]> {
    while (!run.stopped) {
      const left = deadlineAt - this.now();
      if (left <= 0) break;
      // A store that fails for a moment (a database restart) is asked again at the next poll.
      const progress = await this.store.roundProgress(run.round).catch(() => undefined);
      if (progress && (progress.closed || progress.updates >= progress.tasks)) break;
      await sleep(Math.min(this.pollMs, left), run);
    }
    const updates = await this.store.closeRound(run.round);
    return updates.map((u) => toResult(run.round, u));
  }

  /**
   * This process stops running rounds (its server closes): a round it runs closes with whoever
   * reported and its runner gets those results. The shared run goes on for other processes.
   */
  async stop(): Promise<void> {
    const run = this.running;
    if (!run) return;
    run.stopped = true;
    run.wake();
    await run.done;
  }

  /** The run is over: closes an open round with whoever reported and tells polling devices. */
  async finish(): Promise<void> {
    await this.stop();
    await this.store.finishRounds();
  }

  /** The round as `deviceId` sees it (and the store notes the poll, see `activeDevices`). */
  async current(deviceId: string): Promise<CurrentRound> {
    const poll = await this.store.currentRound(deviceId);
    const open = poll.open;
    if (!open) {
      return {
        status: poll.finished ? 'finished' : 'waiting',
        round: poll.last === 0 ? null : poll.last,
        deadline: null,
        task: null,
        reported: false,
      };
    }
    const task =
      open.task === null || open.reported
        ? null
        : publishedTask(JSON.parse(open.task) as PublishedTaskSettings, open.round, open.weightsEtag ?? '');
    return {
      status: 'open',
      round: open.round,
      deadline: new Date(open.deadlineAt).toISOString(),
      task,
      reported: open.reported,
    };
  }

  /**
   * Devices that polled within the last `withinMs` through any API process, sorted: the runner's
   * choice of clients, so a device that died stops being selected.
   */
  activeDevices(withinMs: number): Promise<string[]> {
    return this.store.activeRoundDevices(withinMs);
  }

  /** The FXWT global weights `deviceId`'s task in round `round` starts from. */
  async weights(deviceId: string, round: number): Promise<{ bytes: Uint8Array; etag: string }> {
    const state = await this.store.roundTask(deviceId, round);
    if (!state.weights) throw new FedexError('NOT_FOUND', `your task in round ${round} carries no weights`);
    return state.weights;
  }

  /**
   * Records `deviceId`'s update (FXWT bytes) for round `round`. Resolves once recorded in the store;
   * rejects before recording anything when the round, the device or the bytes are not acceptable.
   */
  async submit(
    deviceId: string,
    round: number,
    bytes: Uint8Array,
  ): Promise<{ round: number; received: number }> {
    const state = await this.store.roundTask(deviceId, round);
    if (state.reported) {
      throw new FedexError('DUPLICATE_UPDATE', `your update for round ${round} was already recorded`);
    }
    const task = JSON.parse(state.task) as PublishedTaskSettings;
    if (task.kind !== 'train' || !state.weights) {
      throw new FedexError('BAD_REQUEST', `your task in round ${round} is ${task.kind}, not weights`);
    }
    const served = state.weights;
    const { tensors: _tensors, ...numbers } = readUpdate(bytes, {
      bytes: served.bytes,
      tensors: this.layout(round, served),
    });
    const { received } = await this.store.recordRoundUpdate(deviceId, round, bytes, JSON.stringify(numbers));
    if (this.running?.round === round) this.running.wake();
    return { round, received };
  }

  /** The tensor layout of weights served in `round` (decoded once per round and ETag). */
  private layout(round: number, served: { bytes: Uint8Array; etag: string }): readonly WeightTensor[] {
    if (this.layoutRound !== round) {
      this.layouts.clear();
      this.layoutRound = round;
    }
    let tensors = this.layouts.get(served.etag);
    if (!tensors) {
      tensors = decodeWeights(served.bytes).tensors.map((t) => ({
        name: t.name,
        shape: t.shape,
        values: new Float32Array(0),
      }));
      this.layouts.set(served.etag, tensors);
    }
    return tensors;
  }
}

/** The round as the store keeps it: tasks as JSON without weights, each distinct array encoded once. */
function encodeRound(round: number, tasks: ReadonlyMap<string, ClientTask>, deadlineAt: number): NewRound {
  const keys = new Map<Weights, string>();
  const weights: { key: string; bytes: Uint8Array; etag: string }[] = [];
  const out: { deviceId: string; task: string; weightsKey?: string }[] = [];
  for (const [deviceId, task] of tasks) {
    if (task.kind !== 'train') {
      out.push({ deviceId, task: JSON.stringify(task) });
      continue;
    }
    let key = keys.get(task.weights);
    if (key === undefined) {
      key = `w${keys.size}`;
      keys.set(task.weights, key);
      const bytes = encodeWeights({ metadata: { round }, tensors: task.weights }, { dtype: 'float32' });
      weights.push({ key, bytes, etag: weightsEtag(bytes) });
    }
    const { weights: _weights, ...settings } = task;
    out.push({ deviceId, task: JSON.stringify(settings), weightsKey: key });
  }
  return { round, deadlineAt, tasks: out, weights };
}

/** A stored update as the runner's `ClientResult` (its bytes were checked when it was recorded). */
function toResult(round: number, u: RoundUpdate): ClientResult {
  const numbers = JSON.parse(u.result) as Omit<UpdateReading, 'tensors'>;
  return updateResult(u.deviceId, round, numbers, decodeWeights(u.bytes).tensors);
}
