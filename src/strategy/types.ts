/**
 * Federated strategies behind one small interface, in the shape of Flower's configure/aggregate
 * pairs: the server asks the strategy what each selected client should do this round
 * (`configureRound`), a transport carries those tasks to the clients and brings back their
 * results (in memory for the simulator, HTTP for real devices), and the strategy turns the
 * accepted results into the next global weights (`aggregate`). The same strategy objects run in
 * simulation and in the server. Platform-neutral: no Node built-ins.
 *
 * - `fedavg` (McMahan et al. 2017): a fraction C of the clients train the top for E local epochs
 *   with batch B from the global weights; the server averages the returned weights weighted by
 *   each client's example count.
 * - `fedprox`: fedavg plus the proximal term (mu/2)·||w - w_global||² in each client's loss.
 * - `fedex`: clients upload their bottom features once; the cloud trains the top on them.
 */
import type { WeightTensor } from '../core/codec.js';
import type { FeatureBatch } from '../core/types.js';

/** Model weights as plain arrays, in the model's `weights` order (see `../model/io.ts`). */
export type Weights = WeightTensor[];

export type StrategyName = 'fedavg' | 'fedprox' | 'fedex';

/**
 * How a FedAvg device gets the features its top trains on: `recompute` runs the frozen bottom
 * again in every local epoch (the seed deck's framing of FedAvg), `cached` runs it once per photo
 * and keeps the features on the device (the strongest honest FedAvg). The trained weights are the
 * same; the device's FLOPs and time are not.
 */
export type BottomMode = 'recompute' | 'cached';

/** What one client is asked to do in a round. */
export type ClientTask =
  | {
      kind: 'train';
      round: number;
      /** Global weights to start from. */
      weights: Weights;
      localEpochs: number;
      batchSize: number;
      learningRate: number;
      /** FedProx proximal coefficient; 0 for FedAvg. */
      mu: number;
      /** Seed of the client's epoch order this round. */
      seed: number;
    }
  | { kind: 'upload-features'; round: number };

/** What a client sends back. */
export type ClientResult =
  | {
      kind: 'weights';
      clientId: string;
      round: number;
      weights: Weights;
      /** Training examples behind the update: the aggregation weight. */
      numExamples: number;
      metrics: { loss: number; accuracy: number };
      costs: ClientCosts;
    }
  | { kind: 'features'; clientId: string; round: number; batch: FeatureBatch; costs: ClientCosts };

/** What a client spent on one task. */
export interface ClientCosts {
  /** Bottom forward passes + top training (multiply-add = 2). */
  deviceFlops: number;
  bytesUp: number;
  bytesDown: number;
}

/** A result the server refused, and why (NaN/Inf, wrong shape, norm too large, late, duplicate). */
export interface Rejection {
  clientId: string;
  round: number;
  reason: string;
}

/** How rounds run (the server's side). */
export interface RoundSettings {
  /** Fraction C of the available clients selected per round (at least `minClients`). */
  clientFraction: number;
  /** A round with fewer reporting clients is discarded (the global weights stay). */
  minClients: number;
  /** The round closes at this deadline with whoever reported. */
  deadlineMs: number;
  localEpochs: number;
  batchSize: number;
  learningRate: number;
  /** FedProx only. */
  mu: number;
  /** Updates whose L2 distance from the global weights exceeds this are clipped to it (0: off). */
  clipNorm: number;
  /** Updates whose L2 distance exceeds this are rejected as outlandish (0: off). */
  rejectNorm: number;
  seed: number;
}

/** One round as logged. */
export interface RoundLog {
  round: number;
  selected: string[];
  /** Clients whose results were accepted. */
  participants: string[];
  /** Selected clients that did not report before the deadline. */
  dropped: string[];
  rejected: Rejection[];
  /** Whether the round changed the global weights (false below `minClients`). */
  applied: boolean;
}

/** A strategy: what clients do each round, and how their results become the global model. */
export interface Strategy {
  readonly name: StrategyName;
  /** The task of each selected client this round (empty: nothing to do). */
  configureRound(
    round: number,
    available: readonly string[],
    global: Weights,
    settings: RoundSettings,
  ): Map<string, ClientTask>;
  /**
   * The next global weights from the accepted results (already validated). May train (fedex:
   * the cloud trains the top on the uploaded features), hence async.
   */
  aggregate(
    round: number,
    global: Weights,
    results: readonly ClientResult[],
    settings: RoundSettings,
  ): Promise<Weights>;
  /**
   * FLOPs the last `aggregate` spent in the cloud (the simulator's FLOP-based cloud clock).
   * Absent: the caller counts a weighted mean (2 FLOPs per weight per result).
   */
  lastAggregateFlops?(): number;
}

/** Carries tasks to clients and their results back (in memory, or HTTP). */
export interface Transport {
  /**
   * Sends each client its task and collects results until every selected client reported or the
   * deadline passed. Results arrive unvalidated; the round runner validates them.
   */
  runRound(
    round: number,
    tasks: ReadonlyMap<string, ClientTask>,
    deadlineMs: number,
  ): Promise<ClientResult[]>;
}
