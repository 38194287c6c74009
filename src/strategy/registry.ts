/**
 * Strategies by name. `fedex` needs to know the head it trains in the cloud; fedavg and fedprox
 * need nothing (their clients train whatever weights they are sent).
 */
import { FedexError } from '../core/errors.js';
import { createFedAvg, type FedAvgOptions } from './fedavg.js';
import { createFedEx, type FedExOptions } from './fedex.js';
import { createFedProx } from './fedprox.js';
import type { Strategy, StrategyName } from './types.js';

export const STRATEGY_NAMES: readonly StrategyName[] = ['fedavg', 'fedprox', 'fedex'];

/**
 * A fresh strategy (fedex keeps the uploaded features, so never share one between runs).
 *
 * @example
 * getStrategy('fedavg');
 * getStrategy('fedex', { fedex: { head: 'linear', inputShape: [128], numClasses: 158 } });
 */
export function getStrategy(
  name: string,
  options: { fedex?: FedExOptions; fedavg?: FedAvgOptions } = {},
): Strategy {
  switch (name) {
    case 'fedavg':
      return createFedAvg(options.fedavg);
    case 'fedprox':
      return createFedProx(options.fedavg);
    case 'fedex':
      if (!options.fedex)
        throw new FedexError(
          'BAD_ARGUMENT',
          'the fedex strategy needs options.fedex (head, inputShape, numClasses)',
        );
      return createFedEx(options.fedex);
    default:
      throw new FedexError('BAD_ARGUMENT', `unknown strategy ${name} (known: ${STRATEGY_NAMES.join(', ')})`);
  }
}
