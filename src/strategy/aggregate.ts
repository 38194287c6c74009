/**
 * The math of aggregation, apart from any I/O or tfjs (as Flower's `aggregate.py`): the example-
 * weighted mean of client weights (McMahan et al. 2017, eq. after Algorithm 1: w = Σ n_k/n · w_k),
 * L2 distance between weight sets, clipping an update to a norm ball around the global weights, and
 * the checks an update must pass before it may be averaged. Pure functions over typed arrays; the
 * sums run in float64 so the order of clients does not change the result beyond float32 rounding.
 *
 * Never averages without weights: an earlier TypeScript FL library did, and a client with one photo
 * then counted as much as one with a thousand.
 */
import { FedexError } from '../core/errors.js';
import type { Weights } from './types.js';

/** A client's weights and the number of training examples behind them (the aggregation weight). */
export interface WeightedUpdate {
  weights: Weights;
  numExamples: number;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Σ_k n_k·w_k / Σ_k n_k, tensor by tensor (names and shapes from the first update). Throws on an
 * empty list, on mismatched tensors and on a non-positive total weight; validate first.
 *
 * @example
 * // clients with 1 and 3 examples: 0.25·1 + 0.75·5 = 4 (an unweighted mean would give 3)
 * weightedMean([{ weights: [{ name: 'w', shape: [1], values: Float32Array.of(1) }], numExamples: 1 },
 *               { weights: [{ name: 'w', shape: [1], values: Float32Array.of(5) }], numExamples: 3 }]);
 */
export function weightedMean(updates: readonly WeightedUpdate[]): Weights {
  if (updates.length === 0) throw new FedexError('BAD_ARGUMENT', 'weightedMean needs at least one update');
  const total = updates.reduce((a, u) => a + u.numExamples, 0);
  if (!(total > 0))
    throw new FedexError('BAD_ARGUMENT', `weightedMean needs a positive total weight (got ${total})`);
  const first = updates[0].weights;
  return first.map((t, i) => {
    const acc = new Float64Array(t.values.length);
    for (const u of updates) {
      const v = u.weights[i];
      if (!v || !sameShape(v.shape, t.shape) || v.values.length !== acc.length) {
        throw new FedexError('BAD_ARGUMENT', `weightedMean: tensor ${i} (${t.name}) differs between updates`);
      }
      const f = u.numExamples / total;
      for (let j = 0; j < acc.length; j++) acc[j] += f * v.values[j];
    }
    return { name: t.name, shape: [...t.shape], values: Float32Array.from(acc) };
  });
}

/** ||a - b||₂ over all tensors together. Throws when the tensors do not line up. */
export function l2Distance(a: Weights, b: Weights): number {
  if (a.length !== b.length)
    throw new FedexError('BAD_ARGUMENT', `l2Distance: ${a.length} tensors vs ${b.length}`);
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i].values;
    const y = b[i].values;
    if (x.length !== y.length)
      throw new FedexError('BAD_ARGUMENT', `l2Distance: tensor ${i} sizes ${x.length} vs ${y.length}`);
    for (let j = 0; j < x.length; j++) {
      const d = x[j] - y[j];
      s += d * d;
    }
  }
  return Math.sqrt(s);
}

/**
 * The update moved back onto the ball of radius `maxNorm` around `global` when it lies outside:
 * global + (update − global)·maxNorm/||update − global||. Returned unchanged (same object) when
 * inside or when `maxNorm` is 0 (off).
 */
export function clipToNorm(update: Weights, global: Weights, maxNorm: number): Weights {
  if (!(maxNorm > 0)) return update;
  const d = l2Distance(update, global);
  if (d <= maxNorm) return update;
  const f = maxNorm / d;
  return update.map((t, i) => {
    const g = global[i].values;
    const values = new Float32Array(t.values.length);
    for (let j = 0; j < values.length; j++) values[j] = g[j] + (t.values[j] - g[j]) * f;
    return { name: t.name, shape: [...t.shape], values };
  });
}

/**
 * Why an update may not be averaged, or null when it may: a non-finite value, a tensor count,
 * name, shape or size unlike the global weights', a `numExamples` that is not a positive integer,
 * or an L2 distance from the global weights above `rejectNorm` (0: no limit).
 */
export function validateUpdate(
  update: WeightedUpdate,
  global: Weights,
  settings: { rejectNorm: number },
): string | null {
  const { weights, numExamples } = update;
  if (!Number.isInteger(numExamples) || numExamples < 1) {
    return `numExamples must be a positive integer (got ${numExamples})`;
  }
  if (!Array.isArray(weights) || weights.length !== global.length) {
    return `expected ${global.length} tensors, got ${Array.isArray(weights) ? weights.length : 'none'}`;
  }
  for (let i = 0; i < global.length; i++) {
    const t = weights[i];
    const g = global[i];
    if (t.name !== g.name) return `tensor ${i} is named ${t.name}, expected ${g.name}`;
    if (!sameShape(t.shape, g.shape) || t.values.length !== g.values.length) {
      return `tensor ${g.name} has shape [${t.shape.join(', ')}] (${t.values.length} values), expected [${g.shape.join(', ')}]`;
    }
    for (let j = 0; j < t.values.length; j++) {
      if (!Number.isFinite(t.values[j])) return `tensor ${g.name} holds a non-finite value at ${j}`;
    }
  }
  if (settings.rejectNorm > 0) {
    const d = l2Distance(weights, global);
    if (d > settings.rejectNorm) {
      return `update is ${d.toPrecision(4)} from the global weights (limit ${settings.rejectNorm})`;
    }
  }
  return null;
}
