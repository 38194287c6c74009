/**
 * Image helpers and quality metrics for the inversion attack: box downsampling of a face chip,
 * grayscale, PSNR and SSIM (Wang et al. 2004: 11×11 Gaussian window, σ 1.5, K1 0.01, K2 0.03,
 * mean over the valid region). Pure math on interleaved RGB or single-channel arrays, values in a
 * stated range.
 */
import { FedexError } from '../core/errors.js';

/** Box-averages an interleaved RGB `size`×`size` image down by an integer `factor`. */
export function downsampleRgb(rgb: ArrayLike<number>, size: number, factor: number): Float32Array {
  if (!Number.isInteger(factor) || factor < 1 || size % factor !== 0 || rgb.length !== size * size * 3) {
    throw new FedexError('BAD_ARGUMENT', `downsampleRgb: ${size}×${size}×3 cannot shrink by ${factor}`);
  }
  const s = size / factor;
  const out = new Float32Array(s * s * 3);
  const k = 1 / (factor * factor);
  for (let y = 0; y < s; y++)
    for (let x = 0; x < s; x++)
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let dy = 0; dy < factor; dy++)
          for (let dx = 0; dx < factor; dx++)
            sum += rgb[((y * factor + dy) * size + x * factor + dx) * 3 + c];
        out[(y * s + x) * 3 + c] = sum * k;
      }
  return out;
}

/** ITU-R BT.601 luma of an interleaved RGB image. */
export function toGray(rgb: ArrayLike<number>): Float32Array {
  const n = rgb.length / 3;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 0.299 * rgb[3 * i] + 0.587 * rgb[3 * i + 1] + 0.114 * rgb[3 * i + 2];
  return out;
}

/** Peak signal-to-noise ratio in dB for values in [0, `peak`]; Infinity for identical images. */
export function psnr(a: ArrayLike<number>, b: ArrayLike<number>, peak = 1): number {
  if (a.length !== b.length || a.length === 0) throw new FedexError('BAD_ARGUMENT', 'psnr: sizes differ');
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i] - b[i]) ** 2;
  const mse = se / a.length;
  return mse === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((peak * peak) / mse);
}

const WINDOW = 11;
const SIGMA = 1.5;
const GAUSS = (() => {
  const g = Array.from({ length: WINDOW }, (_, i) =>
    Math.exp(-((i - (WINDOW - 1) / 2) ** 2) / (2 * SIGMA * SIGMA)),
  );
  const s = g.reduce((x, y) => x + y, 0);
  return g.map((v) => v / s);
})();

/** Separable Gaussian filter, valid region only: (w-10)×(h-10). */
function blur(img: Float64Array, w: number, h: number): Float64Array {
  const ow = w - WINDOW + 1;
  const oh = h - WINDOW + 1;
  const rows = new Float64Array(ow * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let k = 0; k < WINDOW; k++) s += GAUSS[k] * img[y * w + x + k];
      rows[y * ow + x] = s;
    }
  const out = new Float64Array(ow * oh);
  for (let y = 0; y < oh; y++)
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let k = 0; k < WINDOW; k++) s += GAUSS[k] * rows[(y + k) * ow + x];
      out[y * ow + x] = s;
    }
  return out;
}

/** Structural similarity of two single-channel `w`×`h` images with values in [0, `peak`]. */
export function ssim(a: ArrayLike<number>, b: ArrayLike<number>, w: number, h: number, peak = 1): number {
  if (a.length !== w * h || b.length !== w * h || w < WINDOW || h < WINDOW) {
    throw new FedexError('BAD_ARGUMENT', `ssim: needs two ${w}×${h} images of at least ${WINDOW}×${WINDOW}`);
  }
  const c1 = (0.01 * peak) ** 2;
  const c2 = (0.03 * peak) ** 2;
  const A = Float64Array.from(a);
  const B = Float64Array.from(b);
  const mulA = blur(A, w, h);
  const muB = blur(B, w, h);
  const aa = blur(
    A.map((v) => v * v),
    w,
    h,
  );
  const bb = blur(
    B.map((v) => v * v),
    w,
    h,
  );
  const ab = blur(
    A.map((v, i) => v * B[i]),
    w,
    h,
  );
  let sum = 0;
  for (let i = 0; i < mulA.length; i++) {
    const va = aa[i] - mulA[i] * mulA[i];
    const vb = bb[i] - muB[i] * muB[i];
    const cov = ab[i] - mulA[i] * muB[i];
    sum +=
      ((2 * mulA[i] * muB[i] + c1) * (2 * cov + c2)) /
      ((mulA[i] * mulA[i] + muB[i] * muB[i] + c1) * (va + vb + c2));
  }
  return sum / mulA.length;
}
