/**
 * Seeded client selection shared by fedavg and fedprox: max(minClients, round(C·available))
 * clients (at most all of them), a fresh seeded draw per round, and a per-client task seed.
 */
import { createRng, deriveSeed, shuffled } from '../core/random.js';
import type { RoundSettings } from './types.js';

/** How many of `available` clients a round selects. */
export function selectionSize(
  available: number,
  settings: Pick<RoundSettings, 'clientFraction' | 'minClients'>,
): number {
  const m = Math.max(settings.minClients, Math.round(settings.clientFraction * available));
  return Math.min(available, Math.max(1, m));
}

/**
 * The clients of round `round`: a seeded shuffle of the available ids (sorted first, so the order
 * they were listed in does not matter), cut to `selectionSize`; returned sorted.
 */
export function selectClients(
  round: number,
  available: readonly string[],
  settings: Pick<RoundSettings, 'clientFraction' | 'minClients' | 'seed'>,
): string[] {
  const ids = [...new Set(available)].sort();
  const rng = createRng(deriveSeed(settings.seed, `select:round:${round}`));
  return shuffled(rng, ids).slice(0, selectionSize(ids.length, settings)).sort();
}

/** Seed of a client's epoch order in a round. */
export function taskSeed(seed: number, round: number, clientId: string): number {
  return deriveSeed(seed, `task:${round}:${clientId}`);
}
