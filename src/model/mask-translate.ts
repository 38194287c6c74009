/**
 * Mask translation: a map the cloud learns from pairs of features of the *same* photo without and
 * with a face mask, and uses to give a user's unmasked gallery masked twins. A user who named
 * people before masks has never shown the model a masked face of them; the cloud, which can draw
 * masks on public photos and run the frozen bottom on both versions, learns how a mask moves the
 * descriptor, x_masked ≈ A x_plain + b, and adds A g + b for every labelled photo g to what the
 * user's top is fitted on (a second prototype per person for a nearest-centroid model, extra
 * samples for a trained head).
 *
 * The fit is ridge regression, one closed form for all output dimensions:
 *   [A b]ᵀ = (X̃ᵀX̃ + λ n I')⁻¹ X̃ᵀY,   X̃ = [X 1],  I' = I with no penalty on the bias,
 * solved through one symmetric eigendecomposition (src/model/whiten.ts's Jacobi). `λ` may be chosen
 * by held-out error over whole people (`fitMaskTranslationCv`), never over photos of one person on
 * both sides.
 *
 * Pure: typed arrays in and out; no tfjs, no I/O.
 */
import { FedexError } from '../core/errors.js';
import { symmetricEigen } from './whiten.js';

export interface MaskTranslation {
  dim: number;
  /** A, dim × dim, row-major: y = A x + b. */
  matrix: Float64Array;
  bias: Float64Array;
  /** The ridge λ it was fitted with (relative: the penalty is λ · n). */
  ridge: number;
}

function checkPairs(plain: Float32Array, masked: Float32Array, dim: number): number {
  if (!Number.isInteger(dim) || dim < 1)
    throw new FedexError('BAD_ARGUMENT', `dim must be >= 1 (got ${dim})`);
  if (plain.length !== masked.length)
    throw new FedexError(
      'BAD_ARGUMENT',
      `plain and masked features differ in length (${plain.length} vs ${masked.length}): they must be the same photos`,
    );
  if (plain.length % dim !== 0)
    throw new FedexError('BAD_ARGUMENT', `${plain.length} values are not rows of ${dim}`);
  const n = plain.length / dim;
  if (n < 2)
    throw new FedexError('BAD_ARGUMENT', `need at least 2 photo pairs to fit a translation (got ${n})`);
  return n;
}

/**
 * Fits x_masked ≈ A x_plain + b on `n` pairs (rows of `dim`, row i of both arrays the same photo).
 * `ridge` ≥ 0 (default 0.01) is relative to n.
 *
 * @example
 * // 1-d: masked = 2·plain + 1 exactly → A = [2], b = [1] (ridge 0)
 * fitMaskTranslation(Float32Array.of(0, 1, 2), Float32Array.of(1, 3, 5), 1, { ridge: 0 })
 */
export function fitMaskTranslation(
  plain: Float32Array,
  masked: Float32Array,
  dim: number,
  options: { ridge?: number } = {},
): MaskTranslation {
  const ridge = options.ridge ?? 0.01;
  if (!(ridge >= 0) || !Number.isFinite(ridge))
    throw new FedexError('BAD_ARGUMENT', `ridge must be a finite number >= 0 (got ${ridge})`);
  const n = checkPairs(plain, masked, dim);
  const m = dim + 1;
  // Gram matrix of X̃ = [X 1] and X̃ᵀY.
  const gram = new Float64Array(m * m);
  const xty = new Float64Array(m * dim);
  const row = new Float64Array(m);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) row[d] = plain[i * dim + d];
    row[dim] = 1;
    for (let a = 0; a < m; a++) {
      const ra = row[a];
      if (ra === 0) continue;
      for (let b = a; b < m; b++) gram[a * m + b] += ra * row[b];
      for (let o = 0; o < dim; o++) xty[a * dim + o] += ra * masked[i * dim + o];
    }
  }
  for (let a = 0; a < m; a++) for (let b = 0; b < a; b++) gram[a * m + b] = gram[b * m + a];
  for (let d = 0; d < dim; d++) gram[d * m + d] += ridge * n;
  // (X̃ᵀX̃ + λnI')⁻¹ by its eigendecomposition; a direction the data never spans is dropped.
  const { values, vectors } = symmetricEigen(gram, m);
  const top = Math.max(...values);
  const floor = Math.max(1e-300, top * 1e-12);
  const w = new Float64Array(m * dim);
  const proj = new Float64Array(dim);
  for (let e = 0; e < m; e++) {
    if (values[e] <= floor) continue;
    proj.fill(0);
    for (let a = 0; a < m; a++) {
      const v = vectors[a * m + e];
      if (v === 0) continue;
      for (let o = 0; o < dim; o++) proj[o] += v * xty[a * dim + o];
    }
    for (let a = 0; a < m; a++) {
      const v = vectors[a * m + e] / values[e];
      for (let o = 0; o < dim; o++) w[a * dim + o] += v * proj[o];
    }
  }
  const matrix = new Float64Array(dim * dim);
  for (let o = 0; o < dim; o++) for (let d = 0; d < dim; d++) matrix[o * dim + d] = w[d * dim + o];
  const bias = Float64Array.from({ length: dim }, (_, o) => w[dim * dim + o]);
  return { dim, matrix, bias, ridge };
}

/** The masked twins of rows of `x` (each `t.dim` long). */
export function applyMaskTranslation(t: MaskTranslation, x: Float32Array): Float32Array {
  const { dim, matrix, bias } = t;
  if (x.length % dim !== 0) throw new FedexError('BAD_ARGUMENT', `${x.length} values are not rows of ${dim}`);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length / dim; i++)
    for (let o = 0; o < dim; o++) {
      let acc = bias[o];
      for (let d = 0; d < dim; d++) acc += matrix[o * dim + d] * x[i * dim + d];
      out[i * dim + o] = acc;
    }
  return out;
}

/** Mean squared error per row (summed over dimensions) of `t` on pairs. */
export function translationError(t: MaskTranslation, plain: Float32Array, masked: Float32Array): number {
  const n = checkPairs(plain, masked, t.dim);
  const pred = applyMaskTranslation(t, plain);
  let sum = 0;
  for (let i = 0; i < pred.length; i++) sum += (pred[i] - masked[i]) ** 2;
  return sum / n;
}

/**
 * Chooses the ridge by held-out error over whole people: `groups[i]` is the person of pair i; the
 * people are dealt into `folds` folds, each ridge fitted on the others and scored on one. Returns
 * the translation refitted on every pair with the best ridge, and each ridge's held-out error.
 */
export function fitMaskTranslationCv(
  plain: Float32Array,
  masked: Float32Array,
  dim: number,
  groups: ArrayLike<number>,
  options: { ridges?: readonly number[]; folds?: number } = {},
): { translation: MaskTranslation; heldOut: Map<number, number> } {
  const n = checkPairs(plain, masked, dim);
  if (groups.length !== n) throw new FedexError('BAD_ARGUMENT', `${groups.length} groups for ${n} pairs`);
  const ridges = options.ridges ?? [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1];
  const folds = options.folds ?? 5;
  const people = [...new Set(Array.from(groups))].sort((a, b) => a - b);
  if (people.length < folds)
    throw new FedexError(
      'BAD_ARGUMENT',
      `need at least ${folds} people for ${folds} folds (got ${people.length})`,
    );
  const foldOf = new Map(people.map((p, i) => [p, i % folds]));
  const heldOut = new Map<number, number>();
  const rows = (x: Float32Array, idx: number[]) => {
    const out = new Float32Array(idx.length * dim);
    idx.forEach((i, j) => out.set(x.subarray(i * dim, (i + 1) * dim), j * dim));
    return out;
  };
  for (const ridge of ridges) {
    let err = 0;
    for (let f = 0; f < folds; f++) {
      const train: number[] = [];
      const test: number[] = [];
      for (let i = 0; i < n; i++) (foldOf.get(groups[i]) === f ? test : train).push(i);
      const t = fitMaskTranslation(rows(plain, train), rows(masked, train), dim, { ridge });
      err += translationError(t, rows(plain, test), rows(masked, test)) * test.length;
    }
    heldOut.set(ridge, err / n);
  }
  const best = [...heldOut].reduce((a, b) => (b[1] < a[1] ? b : a))[0];
  return { translation: fitMaskTranslation(plain, masked, dim, { ridge: best }), heldOut };
}

/** The file the cloud keeps a fitted translation in (`fedex fit-mask-translation` writes it). */
export interface MaskTranslationFile {
  format: 'fedex-mask-translation';
  version: 1;
  /** The feature spec it maps (`backbone@version/split`): it is used for that spec only. */
  specKey: string;
  dim: number;
  ridge: number;
  /** A, row-major. */
  matrix: number[];
  bias: number[];
  /** What it was fitted on, for the record. */
  fittedOn?: { people: number; photos: number; heldOutError?: number; identityError?: number };
}

export function maskTranslationToFile(
  t: MaskTranslation,
  specKey: string,
  fittedOn?: MaskTranslationFile['fittedOn'],
): MaskTranslationFile {
  return {
    format: 'fedex-mask-translation',
    version: 1,
    specKey,
    dim: t.dim,
    ridge: t.ridge,
    matrix: Array.from(t.matrix),
    bias: Array.from(t.bias),
    ...(fittedOn ? { fittedOn } : {}),
  };
}

/**
 * Checks a parsed JSON value as a translation file; BAD_ARGUMENT naming the first thing wrong.
 * Returns the translation and the spec it is for.
 */
export function parseMaskTranslationFile(value: unknown): { specKey: string; translation: MaskTranslation } {
  const bad = (what: string) => new FedexError('BAD_ARGUMENT', `mask translation file: ${what}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('not a JSON object');
  const f = value as Record<string, unknown>;
  if (f.format !== 'fedex-mask-translation') throw bad(`format must be "fedex-mask-translation"`);
  if (f.version !== 1) throw bad(`version ${JSON.stringify(f.version)} is not supported (1 is)`);
  if (typeof f.specKey !== 'string' || f.specKey.length === 0)
    throw bad('specKey must be a non-empty string');
  const dim = f.dim;
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1 || dim > 4096)
    throw bad('dim must be an integer in [1, 4096]');
  const numbers = (name: string, length: number): Float64Array => {
    const a = f[name];
    if (!Array.isArray(a) || a.length !== length) throw bad(`${name} must be an array of ${length} numbers`);
    const out = Float64Array.from(a as unknown[], (v) => (typeof v === 'number' ? v : NaN));
    if (!out.every(Number.isFinite)) throw bad(`${name} holds a value that is not a finite number`);
    return out;
  };
  const ridge = typeof f.ridge === 'number' && f.ridge >= 0 && Number.isFinite(f.ridge) ? f.ridge : NaN;
  if (Number.isNaN(ridge)) throw bad('ridge must be a finite number >= 0');
  return {
    specKey: f.specKey,
    translation: { dim, matrix: numbers('matrix', dim * dim), bias: numbers('bias', dim), ridge },
  };
}
