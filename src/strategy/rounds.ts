/**
 * The round runner, the one loop the simulator and the server share: per round, the strategy
 * configures tasks, the transport carries them and closes at the deadline with whoever answered,
 * each result is checked (wrong round, unselected client, duplicate, wrong kind, NaN/Inf, shape,
 * outlandish norm: each a `Rejection` with its reason), and the strategy aggregates the accepted
 * results when at least `minClients` of them came back; otherwise the global weights stay.
 *
 * Pure orchestration: no clock, no I/O of its own (the transport has them). Device costs are
 * summed per client over every result that arrived, accepted or not (the device spent them);
 * dropped clients' spending is unknown and not counted.
 */
import { validateUpdate } from './aggregate.js';
import type {
  ClientCosts,
  ClientResult,
  ClientTask,
  Rejection,
  RoundLog,
  RoundSettings,
  Strategy,
  Transport,
  Weights,
} from './types.js';

/** Safe defaults for simulation: C = 0.1, at least 2 clients, 60 s deadline, E = 5, B = 10, lr 0.1. */
export const DEFAULT_ROUND_SETTINGS: Readonly<RoundSettings> = Object.freeze({
  clientFraction: 0.1,
  minClients: 2,
  deadlineMs: 60_000,
  localEpochs: 5,
  batchSize: 10,
  learningRate: 0.1,
  mu: 0,
  clipNorm: 0,
  rejectNorm: 0,
  seed: 0,
});

export interface RunRoundsOptions {
  strategy: Strategy;
  transport: Transport;
  /** Client ids available each round (a function for churn). */
  clients: readonly string[] | ((round: number) => readonly string[]);
  initial: Weights;
  settings: RoundSettings;
  rounds: number;
  /** Test accuracy of global weights; called after round 0 and after every applied round. */
  evaluate?: (weights: Weights) => Promise<number>;
  /** Called after every round with its log, the weights and the accuracy (if evaluated). */
  onRound?: (log: RoundLog, weights: Weights, accuracy: number | undefined) => void;
  /**
   * Stop early once the accuracy reaches this (default: run every round); with initial weights that
   * already reach it, run no round at all.
   */
  stopAtAccuracy?: number;
}

export interface RunRoundsResult {
  weights: Weights;
  logs: RoundLog[];
  /** `accuracyByRound[r]`: accuracy after round r (index 0: the initial weights); empty without `evaluate`. */
  accuracyByRound: number[];
  /** Summed device costs per client. */
  costs: Map<string, ClientCosts>;
}

/**
 * Splits a round's raw results into accepted ones and rejections. Every check that does not need
 * the strategy's math lives here so the HTTP transport can reuse it.
 */
export function screenResults(
  round: number,
  tasks: ReadonlyMap<string, ClientTask>,
  results: readonly ClientResult[],
  global: Weights,
  settings: Pick<RoundSettings, 'rejectNorm'>,
): { accepted: ClientResult[]; rejected: Rejection[] } {
  const accepted: ClientResult[] = [];
  const rejected: Rejection[] = [];
  const seen = new Set<string>();
  for (const r of results) {
    const reject = (reason: string) => rejected.push({ clientId: r.clientId, round: r.round, reason });
    const task = tasks.get(r.clientId);
    if (r.round !== round) {
      reject(`result for round ${r.round} arrived in round ${round}`);
      continue;
    }
    if (!task) {
      reject('client was not selected this round');
      continue;
    }
    if (seen.has(r.clientId)) {
      reject('duplicate result');
      continue;
    }
    seen.add(r.clientId);
    const why = reasonToReject(r, task, global, settings);
    if (why) reject(why);
    else accepted.push(r);
  }
  return { accepted, rejected };
}

function reasonToReject(
  r: ClientResult,
  task: ClientTask,
  global: Weights,
  settings: Pick<RoundSettings, 'rejectNorm'>,
): string | null {
  if (task.kind === 'train') {
    if (r.kind !== 'weights') return `asked to train, sent ${r.kind}`;
    return validateUpdate(r, global, settings);
  }
  if (r.kind !== 'features') return `asked to upload features, sent ${r.kind}`;
  const { batch } = r;
  const dim = batch.spec.shape.reduce((a, b) => a * b, 1);
  const n = batch.labels.length;
  if (n < 1) return 'empty feature batch';
  if (batch.sampleIds.length !== n || batch.features.length !== n * dim) {
    return `feature batch sizes disagree (${batch.sampleIds.length} ids, ${n} labels, ${batch.features.length} values of ${dim})`;
  }
  for (let i = 0; i < batch.features.length; i++) {
    if (!Number.isFinite(batch.features[i])) return `feature batch holds a non-finite value at ${i}`;
  }
  for (let i = 0; i < n; i++) if (!(batch.labels[i] >= 0)) return `sample ${i} is unlabelled`;
  return null;
}

function addCosts(into: Map<string, ClientCosts>, id: string, c: ClientCosts): void {
  const a = into.get(id) ?? { deviceFlops: 0, bytesUp: 0, bytesDown: 0 };
  into.set(id, {
    deviceFlops: a.deviceFlops + c.deviceFlops,
    bytesUp: a.bytesUp + c.bytesUp,
    bytesDown: a.bytesDown + c.bytesDown,
  });
}

/**
 * Runs `rounds` rounds (1-based) and returns the final weights, the round logs, the accuracy
 * curve and the per-client costs.
 *
 * @example
 * const out = await runRounds({ strategy: getStrategy('fedavg'), transport, clients: ids,
 *   initial, settings: { ...DEFAULT_ROUND_SETTINGS, seed: 1 }, rounds: 50, evaluate });
 */
export async function runRounds(options: RunRoundsOptions): Promise<RunRoundsResult> {
  const { strategy, transport, settings, evaluate } = options;
  let weights = options.initial;
  const logs: RoundLog[] = [];
  const costs = new Map<string, ClientCosts>();
  const accuracyByRound: number[] = [];
  if (evaluate) accuracyByRound.push(await evaluate(weights));
  // A start that already meets the target needs no round.
  const metAtStart =
    options.stopAtAccuracy !== undefined &&
    accuracyByRound.length > 0 &&
    accuracyByRound[0] >= options.stopAtAccuracy;
  for (let round = 1; round <= options.rounds && !metAtStart; round++) {
    const available = typeof options.clients === 'function' ? options.clients(round) : options.clients;
    const tasks = strategy.configureRound(round, available, weights, settings);
    const results = tasks.size > 0 ? await transport.runRound(round, tasks, settings.deadlineMs) : [];
    for (const r of results)
      if (tasks.has(r.clientId) && r.round === round) addCosts(costs, r.clientId, r.costs);
    const { accepted, rejected } = screenResults(round, tasks, results, weights, settings);
    const reported = new Set(results.filter((r) => r.round === round).map((r) => r.clientId));
    const applied = accepted.length > 0 && accepted.length >= settings.minClients;
    if (applied) weights = await strategy.aggregate(round, weights, accepted, settings);
    const log: RoundLog = {
      round,
      selected: [...tasks.keys()],
      participants: accepted.map((r) => r.clientId),
      dropped: [...tasks.keys()].filter((id) => !reported.has(id)),
      rejected,
      applied,
    };
    logs.push(log);
    let accuracy: number | undefined;
    if (evaluate) {
      accuracy = applied ? await evaluate(weights) : accuracyByRound[accuracyByRound.length - 1];
      accuracyByRound.push(accuracy);
    }
    options.onRound?.(log, weights, accuracy);
    if (options.stopAtAccuracy !== undefined && accuracy !== undefined && accuracy >= options.stopAtAccuracy)
      break;
  }
  return { weights, logs, accuracyByRound, costs };
}
