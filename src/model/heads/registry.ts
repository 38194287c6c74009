/**
 * Heads by name. The CLI, the server's training jobs and the simulator pick a head here; adding a
 * head is one file plus one line below.
 */
import { FedexError } from '../../core/errors.js';
import { centroidHead } from './centroid.js';
import { linearHead } from './linear.js';
import { mlpHead } from './mlp.js';
import type { Head } from './types.js';
import { upperHead } from './upper.js';

/** Every head, by name. */
export const HEADS: Readonly<Record<string, Head>> = Object.freeze({
  centroid: centroidHead,
  linear: linearHead,
  mlp: mlpHead,
  upper: upperHead,
});

/** Names of the registered heads. */
export function headNames(): string[] {
  return Object.keys(HEADS);
}

/**
 * The head registered under `name`; `MODEL_UNKNOWN_HEAD` otherwise.
 *
 * @example
 * const model = getHead('linear').build([128], 5, {}, 42);
 */
export function getHead(name: string): Head {
  const head = Object.hasOwn(HEADS, name) ? HEADS[name] : undefined;
  if (!head) {
    throw new FedexError('MODEL_UNKNOWN_HEAD', `unknown head "${name}"; known: ${headNames().join(', ')}`);
  }
  return head;
}

export type { Head, HeadOptions, HeadOptionsRecord, LabelledFeatures } from './types.js';
export { LOGITS_LAYER, PROBS_LAYER } from './common.js';
