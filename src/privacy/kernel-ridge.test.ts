import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../core/random.js';
import { fitKernelRidge } from './kernel-ridge.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const rng = createRng(11);
const gauss = () => Math.sqrt(-2 * Math.log(rng() + 1e-12)) * Math.cos(2 * Math.PI * rng());

function data(n: number, d: number, f: (x: Float32Array) => number[]) {
  const x = Array.from({ length: n }, () => Float32Array.from({ length: d }, gauss));
  return { x, y: x.map((r) => Float32Array.from(f(r))), groups: x.map((_, i) => i % 10) };
}

describe('fitKernelRidge', () => {
  it('recovers a linear map with the linear kernel and predicts unseen rows', () => {
    const f = (r: Float32Array) => [2 * r[0] - r[3] + 1, r[1] + 0.5 * r[2]];
    const { x, y, groups } = data(120, 8, f);
    const model = fitKernelRidge(x, y, { groups, seed: 1 });
    expect(model.kernel).toBe('linear');
    const test = data(20, 8, f);
    const pred = model.predict(test.x);
    const err = pred.flatMap((p, i) => [p[0] - test.y[i][0], p[1] - test.y[i][1]]);
    expect(Math.sqrt(err.reduce((s, e) => s + e * e, 0) / err.length)).toBeLessThan(0.1);
    model.dispose();
  });

  it('picks the RBF kernel for a nonlinear target, and leaks no tensor', () => {
    const before = tf.memory().numTensors;
    const f = (r: Float32Array) => [Math.sin(2 * r[0]) * Math.cos(r[1])];
    const { x, y, groups } = data(200, 3, f);
    const model = fitKernelRidge(x, y, { groups, seed: 2 });
    expect(model.kernel).toBe('rbf');
    const test = data(50, 3, f);
    const pred = model.predict(test.x);
    const mse = pred.reduce((s, p, i) => s + (p[0] - test.y[i][0]) ** 2, 0) / pred.length;
    const variance = test.y.reduce((s, t) => s + t[0] ** 2, 0) / test.y.length;
    expect(mse).toBeLessThan(variance * 0.3);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('is deterministic and refuses mismatched inputs', () => {
    const { x, y, groups } = data(40, 4, (r) => [r[0]]);
    const a = fitKernelRidge(x, y, { groups, seed: 3 });
    const b = fitKernelRidge(x, y, { groups, seed: 3 });
    expect(a.predict(x.slice(0, 3))).toEqual(b.predict(x.slice(0, 3)));
    a.dispose();
    b.dispose();
    const before = tf.memory().numTensors;
    expect(() => fitKernelRidge(x, y.slice(1), { groups })).toThrow(/39 targets/);
    expect(() => fitKernelRidge(x, y, { groups: groups.map(() => 0) })).toThrow(/at least 2 groups/);
    // Duplicate rows make the linear kernel singular at λ = 0: the factorisation fails, nothing leaks.
    const twins = [...x.slice(0, 10), ...x.slice(0, 10)];
    expect(() =>
      fitKernelRidge(
        twins,
        twins.map((r) => Float32Array.of(r[0])),
        {
          groups: twins.map((_, i) => i % 5),
          kernels: ['linear'],
          lambdas: [0],
        },
      ),
    ).toThrow(/not positive definite/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
