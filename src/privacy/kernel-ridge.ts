/**
 * Kernel ridge regression: the attacker's decoder (features → image pixels) and attribute model
 * (features → gender, age). Small, closed-form and deterministic: the dual solution
 * α = (K + λI)⁻¹ (Y − ȳ) over the attacker's public samples, with a linear or RBF kernel on
 * z-scored features, the kernel and λ chosen on held-out *people* of the attacker's own data (the
 * attacker tunes on what it has, never on the victims). Gram matrices run as tfjs matmuls; the
 * n×n solve is a Cholesky factorisation in float64.
 *
 * Size: n dual coefficients per output plus the n training feature vectors (the model *is* its
 * training set, as every kernel method is). Tensor hygiene: nothing survives a call but plain
 * arrays and the model's own tensors, freed by `dispose`.
 */
import * as tf from '@tensorflow/tfjs';
import { FedexError } from '../core/errors.js';
import { createRng, shuffled } from '../core/random.js';

export type RidgeKernel = 'linear' | 'rbf';

export interface RidgeOptions {
  /** Group (person) of each training sample: the validation holds out whole groups. */
  groups: readonly number[];
  /** Kernels tried. Default both. */
  kernels?: readonly RidgeKernel[];
  /** λ tried, relative to the kernel's mean diagonal. Default 1e-3 … 1. */
  lambdas?: readonly number[];
  /** Share of the groups held out for the choice. Default 0.2. */
  holdout?: number;
  seed?: number;
}

export interface RidgeModel {
  readonly kernel: RidgeKernel;
  /** λ relative to the mean diagonal. */
  readonly lambda: number;
  /** Mean squared error on the held-out groups, per output value in units of its variance, of the chosen setting. */
  readonly validationMse: number;
  /** Numbers the model holds (dual coefficients + standardised training features). */
  readonly size: number;
  predict(x: readonly Float32Array[]): Float32Array[];
  dispose(): void;
}

const DEFAULT_LAMBDAS = [1e-3, 1e-2, 1e-1, 1] as const;

/** Lower-triangular Cholesky factor of a symmetric positive-definite n×n matrix (row-major). */
function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j];
    for (let k = 0; k < j; k++) d -= l[j * n + k] * l[j * n + k];
    if (!(d > 0))
      throw new FedexError('BAD_ARGUMENT', 'kernel ridge: the kernel matrix is not positive definite');
    const ljj = Math.sqrt(d);
    l[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = s / ljj;
    }
  }
  return l;
}

/** (A)⁻¹ of a symmetric positive-definite matrix through its Cholesky factor. */
function spdInverse(a: Float64Array, n: number): Float64Array {
  const l = cholesky(a, n);
  // L⁻¹ column by column (forward substitution), then A⁻¹ = L⁻ᵀ L⁻¹.
  const li = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    for (let i = c; i < n; i++) {
      let s = i === c ? 1 : 0;
      for (let k = c; k < i; k++) s -= l[i * n + k] * li[k * n + c];
      li[i * n + c] = s / l[i * n + i];
    }
  }
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = i; k < n; k++) s += li[k * n + i] * li[k * n + j];
      inv[i * n + j] = s;
      inv[j * n + i] = s;
    }
  return inv;
}

function stack(rows: readonly Float32Array[], what: string): Float32Array {
  const d = rows[0]?.length ?? 0;
  const out = new Float32Array(rows.length * d);
  rows.forEach((r, i) => {
    if (r.length !== d)
      throw new FedexError('BAD_ARGUMENT', `kernel ridge: ${what} ${i} has ${r.length} values, not ${d}`);
    out.set(r, i * d);
  });
  return out;
}

/** Kernel matrix between standardised rows `a` [m,d] and `b` [n,d], given squared norms. */
function kernelOf(
  kind: RidgeKernel,
  cross: Float64Array,
  normsA: Float64Array,
  normsB: Float64Array,
  bandwidth: number,
): Float64Array {
  if (kind === 'linear') return cross;
  const m = normsA.length;
  const n = normsB.length;
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      const d2 = Math.max(0, normsA[i] + normsB[j] - 2 * cross[i * n + j]);
      out[i * n + j] = Math.exp(-d2 / bandwidth);
    }
  return out;
}

/** The values of a tensor made by `fn`, which is disposed. */
function read(fn: () => tf.Tensor): Float32Array {
  const t = tf.tidy(fn);
  const v = t.dataSync() as Float32Array;
  t.dispose();
  return v;
}

function median(values: number[]): number {
  const s = values.slice().sort((a, b) => a - b);
  return s.length === 0 ? 1 : s[Math.floor(s.length / 2)];
}

/** α = (K + λ·mean(diag)·I)⁻¹ Yc, as a tensor [n, k]. */
function solve(k: Float64Array, n: number, lambda: number, yc: tf.Tensor2D): tf.Tensor2D {
  let diag = 0;
  for (let i = 0; i < n; i++) diag += k[i * n + i];
  const reg = Float64Array.from(k);
  const l = (lambda * diag) / n;
  for (let i = 0; i < n; i++) reg[i * n + i] += l;
  const inv = spdInverse(reg, n);
  return tf.tidy(() => tf.matMul(tf.tensor2d(Float32Array.from(inv), [n, n]), yc));
}

function sub(k: Float64Array, n: number, rows: readonly number[], cols: readonly number[]): Float64Array {
  const out = new Float64Array(rows.length * cols.length);
  rows.forEach((r, i) => cols.forEach((c, j) => (out[i * cols.length + j] = k[r * n + c])));
  return out;
}

/**
 * Fits the decoder / attribute model on `x` → `y` (one row per sample) and returns the setting
 * that did best on held-out groups, refitted on every sample.
 */
export function fitKernelRidge(
  x: readonly Float32Array[],
  y: readonly Float32Array[],
  options: RidgeOptions,
): RidgeModel {
  const n = x.length;
  if (n < 4 || y.length !== n || options.groups.length !== n) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `kernel ridge: ${n} samples, ${y.length} targets, ${options.groups.length} groups`,
    );
  }
  // Held-out groups (seeded), for the choice of kernel and λ.
  const groups = [...new Set(options.groups)];
  const held = new Set(
    shuffled(createRng(options.seed ?? 0), groups).slice(
      0,
      Math.max(1, Math.round(groups.length * (options.holdout ?? 0.2))),
    ),
  );
  const tr = options.groups.flatMap((g, i) => (held.has(g) ? [] : [i]));
  const va = options.groups.flatMap((g, i) => (held.has(g) ? [i] : []));
  if (tr.length < 2 || va.length < 1)
    throw new FedexError('BAD_ARGUMENT', 'kernel ridge: needs at least 2 groups');

  const d = x[0].length;
  const k = y[0].length;
  // z-score statistics from the training rows (a floor keeps constant columns finite).
  const xs = stack(x, 'feature');
  const mean = new Float32Array(d);
  const inv = new Float32Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += xs[i * d + j] / n;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) inv[j] += (xs[i * d + j] - mean[j]) ** 2 / n;
  // A relative floor: a column (almost) constant on the attacker's data is not blown up.
  const floor = 1e-3 * (inv.reduce((a, b) => a + b, 0) / d) + 1e-12;
  for (let j = 0; j < d; j++) inv[j] = 1 / Math.sqrt(inv[j] + floor);
  const ys = stack(y, 'target');
  const ymean = new Float32Array(k);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) ymean[j] += ys[i * k + j] / n;
  // Validation error per output in units of that output's spread, so an output with a large scale
  // (age in years) does not choose the setting for one with a small one (gender as ±1).
  const yvar = new Float32Array(k);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) yvar[j] += (ys[i * k + j] - ymean[j]) ** 2 / n;
  const yw = yvar.map((v) => 1 / (v + 1e-12));

  const meanT = tf.tensor1d(mean);
  const invT = tf.tensor1d(inv);
  const standardise = (rows: Float32Array, m: number) =>
    tf.tidy(() => tf.mul(tf.sub(tf.tensor2d(rows, [m, d]), meanT), invT).div(Math.sqrt(d)) as tf.Tensor2D);
  const z = standardise(xs, n);
  const gram = Float64Array.from(read(() => tf.matMul(z, z, false, true)));
  const norms = Float64Array.from({ length: n }, (_, i) => gram[i * n + i]);
  const offDiag: number[] = [];
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) offDiag.push(norms[i] + norms[j] - 2 * gram[i * n + j]);
  const bandwidth = Math.max(1e-9, median(offDiag));
  const yc = tf.tidy(() => tf.sub(tf.tensor2d(ys, [n, k]), tf.tensor1d(ymean)) as tf.Tensor2D);

  let chosen: { kernel: RidgeKernel; lambda: number; mse: number };
  let alpha: tf.Tensor2D;
  try {
    let best: { kernel: RidgeKernel; lambda: number; mse: number } | undefined;
    for (const kernel of options.kernels ?? (['linear', 'rbf'] as const)) {
      const full = kernelOf(kernel, gram, norms, norms, bandwidth);
      const ktr = sub(full, n, tr, tr);
      const kva = sub(full, n, va, tr);
      for (const lambda of options.lambdas ?? DEFAULT_LAMBDAS) {
        const mse = tf.tidy(() => {
          const yTr = tf.gather(yc, tr);
          const yTrMean = tf.mean(yTr, 0);
          const alpha = solve(ktr, tr.length, lambda, tf.sub(yTr, yTrMean) as tf.Tensor2D);
          const pred = tf.add(
            tf.matMul(tf.tensor2d(Float32Array.from(kva), [va.length, tr.length]), alpha),
            yTrMean,
          );
          return tf
            .mean(tf.mul(tf.squaredDifference(pred, tf.gather(yc, va)), tf.tensor1d(yw)))
            .dataSync()[0];
        });
        if (!best || mse < best.mse) best = { kernel, lambda, mse };
      }
    }
    chosen = best!;
    alpha = solve(kernelOf(chosen.kernel, gram, norms, norms, bandwidth), n, chosen.lambda, yc);
  } catch (e) {
    tf.dispose([meanT, invT, z]);
    throw e;
  } finally {
    yc.dispose();
  }
  const ymeanT = tf.tensor1d(ymean);
  return {
    kernel: chosen.kernel,
    lambda: chosen.lambda,
    validationMse: chosen.mse,
    size: n * k + n * d,
    predict(rows) {
      if (rows.length === 0) return [];
      const m = rows.length;
      const zq = standardise(stack(rows, 'feature'), m);
      const cross = Float64Array.from(read(() => tf.matMul(zq, z, false, true)));
      const qn = Float64Array.from(read(() => tf.sum(tf.square(zq), 1)));
      zq.dispose();
      const kq = kernelOf(chosen.kernel, cross, qn, norms, bandwidth);
      const out = read(() => tf.add(tf.matMul(tf.tensor2d(Float32Array.from(kq), [m, n]), alpha), ymeanT));
      return rows.map((_, i) => out.slice(i * k, (i + 1) * k));
    },
    dispose() {
      tf.dispose([meanT, invT, z, alpha, ymeanT]);
    },
  };
}
