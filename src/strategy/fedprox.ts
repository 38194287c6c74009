/**
 * FedProx (Li et al. 2020): FedAvg whose clients add (mu/2)·||w − w_global||² to their local loss
 * (`settings.mu`), which keeps heterogeneous clients from drifting far from the global model.
 * Selection and aggregation are FedAvg's.
 */
import { createFedAvgVariant, type FedAvgOptions } from './fedavg.js';
import type { Strategy } from './types.js';

/** @example const strategy = createFedProx(); // settings.mu = 0.01 */
export function createFedProx(options: FedAvgOptions = {}): Strategy {
  return createFedAvgVariant('fedprox', options);
}
