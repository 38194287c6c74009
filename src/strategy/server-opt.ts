/**
 * Server-side optimizers for FedAvg-like strategies (Reddi et al., "Adaptive Federated
 * Optimization", ICLR 2021): the round's averaged client weights minus the global ones is a
 * pseudo-gradient Δ, and the server takes a step along it instead of jumping to the average.
 * - `none`: w ← w + Δ (plain FedAvg: the average itself);
 * - `momentum` (FedAvgM, Hsu et al. 2019): v ← β·v + Δ; w ← w + η·v;
 * - `adam` (FedAdam): m ← β₁m + (1−β₁)Δ; v ← β₂v + (1−β₂)Δ²; w ← w + η·m / (√v + τ)
 *   (no bias correction, as in the paper's Algorithm 2).
 * Pure: the state is plain arrays the caller keeps between rounds.
 */
import { FedexError } from '../core/errors.js';
import type { Weights } from './types.js';

export type ServerOptimizerName = 'none' | 'momentum' | 'adam';

export interface ServerOptimizer {
  kind: ServerOptimizerName;
  /** Server learning rate η (ignored by `none`). */
  learningRate: number;
  /** Momentum β (`momentum`) or β₁ (`adam`). */
  beta1: number;
  /** β₂ of `adam`. */
  beta2: number;
  /** τ of `adam`: the adaptivity floor. */
  tau: number;
}

/**
 * Defaults: plain FedAvg. With `adam`, Reddi et al.'s usual settings are η 0.01..0.1 (tuned),
 * β₁ 0.9, β₂ 0.99, τ 1e-3; with `momentum`, η 1, β 0.9.
 */
export const DEFAULT_SERVER_OPTIMIZER: Readonly<ServerOptimizer> = Object.freeze({
  kind: 'none',
  learningRate: 1,
  beta1: 0.9,
  beta2: 0.99,
  tau: 1e-3,
});

/** The optimizer's memory between rounds (one array per weight tensor). */
export interface ServerOptimizerState {
  m: Float64Array[];
  v: Float64Array[];
}

export function checkServerOptimizer(o: ServerOptimizer): void {
  if (o.kind !== 'none' && o.kind !== 'momentum' && o.kind !== 'adam')
    throw new FedexError(
      'BAD_ARGUMENT',
      `server optimizer must be none, momentum or adam (got ${String(o.kind)})`,
    );
  if (!(o.learningRate > 0))
    throw new FedexError('BAD_ARGUMENT', `server learning rate must be > 0 (got ${o.learningRate})`);
  if (!(o.beta1 >= 0 && o.beta1 < 1))
    throw new FedexError('BAD_ARGUMENT', `server beta1 must be in [0, 1) (got ${o.beta1})`);
  if (!(o.beta2 >= 0 && o.beta2 < 1))
    throw new FedexError('BAD_ARGUMENT', `server beta2 must be in [0, 1) (got ${o.beta2})`);
  if (!(o.tau > 0)) throw new FedexError('BAD_ARGUMENT', `server tau must be > 0 (got ${o.tau})`);
}

/**
 * The next global weights from the current ones and the round's average; updates `state` in place
 * (created on the first call).
 *
 * @example
 * // momentum, η 1, β 0.5: Δ = 1 twice → v = 1 then 1.5 → w = 0 → 1 → 2.5
 * const state = { m: [], v: [] };
 * let w = [{ name: 'w', shape: [1], values: Float32Array.of(0) }];
 * w = serverStep(w, [{ ...w[0], values: Float32Array.of(1) }], state, { ...DEFAULT_SERVER_OPTIMIZER, kind: 'momentum', beta1: 0.5 });
 */
export function serverStep(
  global: Weights,
  averaged: Weights,
  state: ServerOptimizerState,
  o: ServerOptimizer,
): Weights {
  if (o.kind === 'none') return averaged;
  if (averaged.length !== global.length)
    throw new FedexError('BAD_ARGUMENT', 'serverStep: the average and the global weights differ in tensors');
  return global.map((g, i) => {
    const a = averaged[i].values;
    if (a.length !== g.values.length)
      throw new FedexError('BAD_ARGUMENT', `serverStep: tensor ${g.name} differs in size`);
    state.m[i] ??= new Float64Array(a.length);
    state.v[i] ??= new Float64Array(a.length);
    const m = state.m[i];
    const v = state.v[i];
    const out = new Float32Array(a.length);
    for (let j = 0; j < a.length; j++) {
      const delta = a[j] - g.values[j];
      if (o.kind === 'momentum') {
        m[j] = o.beta1 * m[j] + delta;
        out[j] = g.values[j] + o.learningRate * m[j];
      } else {
        m[j] = o.beta1 * m[j] + (1 - o.beta1) * delta;
        v[j] = o.beta2 * v[j] + (1 - o.beta2) * delta * delta;
        out[j] = g.values[j] + (o.learningRate * m[j]) / (Math.sqrt(v[j]) + o.tau);
      }
    }
    return { name: g.name, shape: [...g.shape], values: out };
  });
}
