/**
 * FedAvg (McMahan et al. 2017): each round a seeded fraction C of the available clients trains the
 * top for E local epochs with batch B from the global weights (plain SGD, see `./client.ts`); the
 * next global weights are the example-weighted mean of their weights, each first clipped to
 * `clipNorm` around the global weights when clipping is on, or, with a server optimizer
 * (`./server-opt.ts`: FedAvgM, FedAdam), a server step along the mean's difference from them.
 */
import { clipToNorm, weightedMean } from './aggregate.js';
import { selectClients, taskSeed } from './select.js';
import {
  checkServerOptimizer,
  DEFAULT_SERVER_OPTIMIZER,
  serverStep,
  type ServerOptimizer,
  type ServerOptimizerState,
} from './server-opt.js';
import type { ClientResult, ClientTask, RoundSettings, Strategy, StrategyName, Weights } from './types.js';

/** The train tasks of a round (shared with FedProx, which only sets `mu`). */
export function trainTasks(
  round: number,
  available: readonly string[],
  global: Weights,
  settings: RoundSettings,
  mu: number,
): Map<string, ClientTask> {
  const tasks = new Map<string, ClientTask>();
  for (const id of selectClients(round, available, settings)) {
    tasks.set(id, {
      kind: 'train',
      round,
      weights: global,
      localEpochs: settings.localEpochs,
      batchSize: settings.batchSize,
      learningRate: settings.learningRate,
      mu,
      seed: taskSeed(settings.seed, round, id),
    });
  }
  return tasks;
}

/** Example-weighted mean of the (clipped) weight results; the global weights when there are none. */
export function averageResults(
  global: Weights,
  results: readonly ClientResult[],
  settings: Pick<RoundSettings, 'clipNorm'>,
): Weights {
  const updates = results.flatMap((r) =>
    r.kind === 'weights'
      ? [{ weights: clipToNorm(r.weights, global, settings.clipNorm), numExamples: r.numExamples }]
      : [],
  );
  return updates.length === 0 ? global : weightedMean(updates);
}

export interface FedAvgOptions {
  /** The server's step along the averaged update (default `none`: the average itself). */
  server?: Partial<ServerOptimizer>;
}

class FedAvg implements Strategy {
  private readonly server: ServerOptimizer;
  private readonly state: ServerOptimizerState = { m: [], v: [] };

  constructor(
    readonly name: StrategyName = 'fedavg',
    options: FedAvgOptions = {},
  ) {
    this.server = { ...DEFAULT_SERVER_OPTIMIZER, ...options.server };
    checkServerOptimizer(this.server);
  }

  configureRound(round: number, available: readonly string[], global: Weights, settings: RoundSettings) {
    return trainTasks(round, available, global, settings, this.name === 'fedprox' ? settings.mu : 0);
  }

  aggregate(_round: number, global: Weights, results: readonly ClientResult[], settings: RoundSettings) {
    const averaged = averageResults(global, results, settings);
    if (averaged === global) return Promise.resolve(global);
    return Promise.resolve(serverStep(global, averaged, this.state, this.server));
  }
}

/**
 * @example
 * const strategy = createFedAvg();                                        // plain FedAvg
 * const adam = createFedAvg({ server: { kind: 'adam', learningRate: 0.03 } }); // FedAdam
 * const tasks = strategy.configureRound(1, clientIds, initial, settings);
 */
export function createFedAvg(options: FedAvgOptions = {}): Strategy {
  return new FedAvg('fedavg', options);
}

/** Internal: FedProx is FedAvg whose tasks carry `settings.mu`. */
export function createFedAvgVariant(name: 'fedavg' | 'fedprox', options: FedAvgOptions = {}): Strategy {
  return new FedAvg(name, options);
}
