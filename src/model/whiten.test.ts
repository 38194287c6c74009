import { describe, expect, it } from 'vitest';
import { createRng } from '../core/random.js';
import { applyWhitening, fitWhitening, symmetricEigen } from './whiten.js';

describe('symmetricEigen', () => {
  it('finds the eigenpairs of a matrix worked by hand and rebuilds a random one', () => {
    // [[2, 1], [1, 2]]: eigenvalues 1 and 3, eigenvectors (1, -1)/√2 and (1, 1)/√2.
    const { values, vectors } = symmetricEigen([2, 1, 1, 2], 2);
    const sorted = Array.from(values).sort((a, b) => a - b);
    expect(sorted[0]).toBeCloseTo(1, 12);
    expect(sorted[1]).toBeCloseTo(3, 12);
    const i3 = values[0] > values[1] ? 0 : 1;
    expect(Math.abs(vectors[0 * 2 + i3])).toBeCloseTo(Math.SQRT1_2, 12);
    expect(vectors[0 * 2 + i3] * vectors[1 * 2 + i3]).toBeGreaterThan(0);

    // A random symmetric 12×12: V diag(λ) Vᵀ gives it back and V is orthonormal.
    const n = 12;
    const rng = createRng(5);
    const m = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = i; j < n; j++) m[i * n + j] = m[j * n + i] = rng() - 0.5;
    const e = symmetricEigen(m, n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let back = 0;
        let dot = 0;
        for (let k = 0; k < n; k++) {
          back += e.vectors[i * n + k] * e.values[k] * e.vectors[j * n + k];
          dot += e.vectors[k * n + i] * e.vectors[k * n + j];
        }
        expect(back).toBeCloseTo(m[i * n + j], 9);
        expect(dot).toBeCloseTo(i === j ? 1 : 0, 9);
      }
    expect(() => symmetricEigen([1, 2, 3, 4], 2)).toThrow(/not symmetric/);
    expect(() => symmetricEigen([1, 2, 3], 2)).toThrow(/2×2/);
  });
});

describe('fitWhitening', () => {
  // Two people, four photos each, spread ±2 along x and ±1 along y around (0, 0) and (10, 10).
  const x = Float32Array.of(-2, -1, 2, 1, 2, -1, -2, 1, 8, 9, 12, 11, 12, 9, 8, 11);
  const y = [0, 0, 0, 0, 1, 1, 1, 1];

  it('divides each direction by its within-person spread (hand-worked scatter)', () => {
    // Within-class scatter: Σ dx² = 8 × 4 = 32, Σ dy² = 8, no cross terms; / (n - k = 6) →
    // S_w = diag(16/3, 4/3), so P = diag(√3/4, √3/2).
    const w = fitWhitening(x, y, 2, 2, { shrinkage: 0 });
    expect(w.matrix[0]).toBeCloseTo(Math.sqrt(3) / 4, 9);
    expect(w.matrix[3]).toBeCloseTo(Math.sqrt(3) / 2, 9);
    expect(w.matrix[1]).toBeCloseTo(0, 9);
    expect(w.matrix[2]).toBeCloseTo(0, 9);
    // Shrinkage 0.5 blends with the mean eigenvalue (10/3): S = diag(13/3, 7/3).
    const half = fitWhitening(x, y, 2, 2, { shrinkage: 0.5 });
    expect(half.matrix[0]).toBeCloseTo(1 / Math.sqrt(13 / 3), 9);
    expect(half.matrix[3]).toBeCloseTo(1 / Math.sqrt(7 / 3), 9);
  });

  it('weighs a difference by the within-person spread along it (distances by hand)', () => {
    const w = fitWhitening(x, y, 2, 2, { shrinkage: 0 });
    // A probe at (4.5, 4): P = diag(0.433, 0.866), so its 4 along y (where one person's photos
    // vary ±1) counts twice its 4.5 along x (±2).
    const [p, c0, c1] = [
      applyWhitening(w, Float32Array.of(4.5, 4)),
      applyWhitening(w, Float32Array.of(0, 0)),
      applyWhitening(w, Float32Array.of(10, 10)),
    ];
    const d = (a: Float32Array, b: Float32Array) => Math.hypot(a[0] - b[0], a[1] - b[1]);
    expect(d(p, c0)).toBeCloseTo(Math.hypot(4.5 * 0.4330127, 4 * 0.8660254), 5);
    expect(d(p, c1)).toBeCloseTo(Math.hypot(5.5 * 0.4330127, 6 * 0.8660254), 5);
    expect(() => applyWhitening(w, Float32Array.of(1, 2, 3))).toThrow(/rows of 2/);
  });

  it('rejects too few samples and a shrinkage outside [0, 1]', () => {
    expect(() => fitWhitening(Float32Array.of(1, 2), [0, 1], 1, 2)).toThrow(/more samples/);
    expect(() => fitWhitening(x, y, 2, 2, { shrinkage: 1.5 })).toThrow(/shrinkage/);
  });
});
