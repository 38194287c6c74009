import { describe, expect, it } from 'vitest';
import { DEFAULT_SERVER_OPTIMIZER, serverStep, type ServerOptimizerState } from './server-opt.js';
import type { Weights } from './types.js';

const w = (...v: number[]): Weights => [{ name: 'w', shape: [v.length], values: Float32Array.from(v) }];

describe('serverStep', () => {
  it('none: the average itself (plain FedAvg)', () => {
    const state: ServerOptimizerState = { m: [], v: [] };
    expect(Array.from(serverStep(w(0), w(3), state, DEFAULT_SERVER_OPTIMIZER)[0].values)).toEqual([3]);
  });

  it('momentum by hand: Δ = 1 twice with β 0.5, η 1 → 1 then 2.5', () => {
    const o = { ...DEFAULT_SERVER_OPTIMIZER, kind: 'momentum' as const, beta1: 0.5 };
    const state: ServerOptimizerState = { m: [], v: [] };
    const w1 = serverStep(w(0), w(1), state, o);
    expect(Array.from(w1[0].values)).toEqual([1]);
    const w2 = serverStep(w1, w(2), state, o); // Δ = 1 again: v = 0.5 + 1
    expect(Array.from(w2[0].values)).toEqual([2.5]);
  });

  it('adam by hand: one step of Δ = 2 with β₁ 0.9, β₂ 0.99, τ 0.001, η 0.1', () => {
    const o = { ...DEFAULT_SERVER_OPTIMIZER, kind: 'adam' as const, learningRate: 0.1 };
    const state: ServerOptimizerState = { m: [], v: [] };
    const next = serverStep(w(1, 1), w(3, 1), state, o);
    // m = 0.1·2 = 0.2, v = 0.01·4 = 0.04, step = 0.1·0.2 / (0.2 + 0.001); Δ = 0 moves nothing.
    expect(next[0].values[0]).toBeCloseTo(1 + (0.1 * 0.2) / 0.201, 6);
    expect(next[0].values[1]).toBe(1);
  });

  it('refuses an average whose tensors differ from the global ones', () => {
    const o = { ...DEFAULT_SERVER_OPTIMIZER, kind: 'adam' as const };
    expect(() => serverStep(w(1), w(1, 2), { m: [], v: [] }, o)).toThrow(/differs in size/);
  });
});
