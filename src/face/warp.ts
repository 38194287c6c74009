/**
 * Pure-TypeScript resampling of `RawImage`s: the affine warp that cuts an aligned face chip
 * (bilinear, optional supersampling against aliasing when shrinking), and border padding.
 * Platform-neutral; no tfjs (tfjs's `Transform` kernel is missing on the WASM backend, and a
 * 150x150 chip is 22,500 samples: cheaper in plain loops than a tensor round trip).
 */
import type { RawImage } from '../core/types.js';
import type { Affine, Box } from './geometry.js';

export interface WarpOptions {
  /**
   * Samples per output pixel along each axis (1 = plain bilinear). Use about the shrink factor
   * when the face is larger than the chip, so the chip is an area average and not aliased.
   */
  samples?: number;
  /** Source pixels outside this box (default: the whole image) read as black. */
  valid?: Box;
}

/**
 * Warps `image` into a `width` x `height` chip: chip pixel (u, v) takes the bilinear sample of
 * the source at `m(u, v)` (pixel centres on integer coordinates); outside the image is black,
 * as in dlib's `extract_image_chip`.
 *
 * @example
 * const chip = warpAffine(photo, [2, 0, 100, 0, 2, 80], 150, 150); // 2x shrink of a 300px region
 */
export function warpAffine(
  image: RawImage,
  m: Affine,
  width: number,
  height: number,
  options: WarpOptions = {},
): RawImage {
  const k = Math.max(1, Math.min(16, Math.round(options.samples ?? 1)));
  const src = image.data;
  const sw = image.width;
  const x0v = Math.max(0, Math.floor(options.valid?.x ?? 0));
  const y0v = Math.max(0, Math.floor(options.valid?.y ?? 0));
  const x1v = Math.min(image.width, x0v + Math.floor(options.valid?.width ?? image.width)) - 1;
  const y1v = Math.min(image.height, y0v + Math.floor(options.valid?.height ?? image.height)) - 1;
  const out = new Uint8Array(width * height * 3);
  const acc = [0, 0, 0];
  const [a, b, c, d, e, f] = m;
  const inv = 1 / (k * k);

  const sample = (x: number, y: number): void => {
    const xf = Math.floor(x);
    const yf = Math.floor(y);
    const fx = x - xf;
    const fy = y - yf;
    for (let dy = 0; dy <= 1; dy++) {
      const yy = yf + dy;
      if (yy < y0v || yy > y1v) continue;
      const wy = dy === 0 ? 1 - fy : fy;
      if (wy === 0) continue;
      for (let dx = 0; dx <= 1; dx++) {
        const xx = xf + dx;
        if (xx < x0v || xx > x1v) continue;
        const w = wy * (dx === 0 ? 1 - fx : fx);
        if (w === 0) continue;
        const o = (yy * sw + xx) * 3;
        acc[0] += w * src[o];
        acc[1] += w * src[o + 1];
        acc[2] += w * src[o + 2];
      }
    }
  };

  for (let v = 0; v < height; v++) {
    for (let u = 0; u < width; u++) {
      acc[0] = acc[1] = acc[2] = 0;
      for (let j = 0; j < k; j++) {
        const vv = v + (j + 0.5) / k - 0.5;
        for (let i = 0; i < k; i++) {
          const uu = u + (i + 0.5) / k - 0.5;
          sample(a * uu + b * vv + c, d * uu + e * vv + f);
        }
      }
      const o = (v * width + u) * 3;
      out[o] = Math.min(255, Math.round(acc[0] * inv));
      out[o + 1] = Math.min(255, Math.round(acc[1] * inv));
      out[o + 2] = Math.min(255, Math.round(acc[2] * inv));
    }
  }
  return { width, height, channels: 3, data: out };
}

/** `image` with a `border`-pixel black frame on every side. */
export function padImage(image: RawImage, border: number): RawImage {
  const p = Math.max(0, Math.round(border));
  const width = image.width + 2 * p;
  const height = image.height + 2 * p;
  const out = new Uint8Array(width * height * 3);
  const row = image.width * 3;
  for (let y = 0; y < image.height; y++) {
    out.set(image.data.subarray(y * row, (y + 1) * row), ((y + p) * width + p) * 3);
  }
  return { width, height, channels: 3, data: out };
}

/**
 * face-api's own way of cutting a face (`extractFaceTensors` + `toBatchTensor(size, true)`):
 * `rect` clipped to the image and floored, zero-padded equally on both sides of its shorter side
 * to a square, then resized with tfjs's legacy bilinear (`alignCorners = false`,
 * `halfPixelCenters = false`: source = destination * in/out, the far neighbour clamped to the
 * last row/column). Reproduced here so alignment needs no tensors; a test checks it against
 * the tfjs ops.
 */
export function cropSquareResize(image: RawImage, rect: Box, size: number): RawImage {
  const x0 = Math.floor(Math.max(0, rect.x));
  const y0 = Math.floor(Math.max(0, rect.y));
  const cw = Math.floor(
    Math.min(rect.x + rect.width - Math.max(0, rect.x), image.width - Math.max(0, rect.x)),
  );
  const ch = Math.floor(
    Math.min(rect.y + rect.height - Math.max(0, rect.y), image.height - Math.max(0, rect.y)),
  );
  const out = new Uint8Array(size * size * 3);
  if (cw <= 0 || ch <= 0) return { width: size, height: size, channels: 3, data: out };
  const side = Math.max(cw, ch);
  const diff = Math.abs(cw - ch);
  const prepend = diff - Math.round(diff * 0.5);
  const padX = cw < ch ? prepend : 0;
  const padY = ch < cw ? prepend : 0;
  const scale = side / size;
  const src = image.data;
  const px = (sx: number, sy: number, c: number): number => {
    const ix = sx - padX;
    const iy = sy - padY;
    if (ix < 0 || iy < 0 || ix >= cw || iy >= ch) return 0;
    return src[((y0 + iy) * image.width + (x0 + ix)) * 3 + c];
  };
  for (let v = 0; v < size; v++) {
    const fy = v * scale;
    const ya = Math.floor(fy);
    const yb = Math.min(side - 1, Math.ceil(fy));
    const wy = fy - ya;
    for (let u = 0; u < size; u++) {
      const fx = u * scale;
      const xa = Math.floor(fx);
      const xb = Math.min(side - 1, Math.ceil(fx));
      const wx = fx - xa;
      for (let c = 0; c < 3; c++) {
        const top = px(xa, ya, c) + (px(xb, ya, c) - px(xa, ya, c)) * wx;
        const bottom = px(xa, yb, c) + (px(xb, yb, c) - px(xa, yb, c)) * wx;
        out[(v * size + u) * 3 + c] = Math.round(top + (bottom - top) * wy);
      }
    }
  }
  return { width: size, height: size, channels: 3, data: out };
}

/**
 * `image` resized to `width` x `height`. Shrinking (both sides smaller) is an exact area average
 * (a separable box filter: each output pixel is the mean of the source area it covers), so a
 * 4000 px photo shrunk for a detector is not aliased; growing is bilinear (pixel centres aligned).
 * Cost is about three multiply-adds per source sample.
 *
 * @example
 * const small = resizeImage(photo, 512, 384);
 */
export function resizeImage(image: RawImage, width: number, height: number): RawImage {
  const sx = image.width / width;
  const sy = image.height / height;
  if (sx < 1 || sy < 1) {
    return warpAffine(image, [sx, 0, 0.5 * sx - 0.5, 0, sy, 0.5 * sy - 0.5], width, height);
  }
  // Horizontal pass: rows stay, columns shrink; then the vertical pass on the result.
  const mid = new Float32Array(width * image.height * 3);
  const cols = areaWeights(image.width, width);
  for (let y = 0; y < image.height; y++) {
    const rowIn = y * image.width * 3;
    const rowOut = y * width * 3;
    for (let u = 0; u < width; u++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = cols.start[u]; k < cols.start[u + 1]; k++) {
        const o = rowIn + cols.index[k] * 3;
        const w = cols.weight[k];
        r += w * image.data[o];
        g += w * image.data[o + 1];
        b += w * image.data[o + 2];
      }
      mid[rowOut + u * 3] = r;
      mid[rowOut + u * 3 + 1] = g;
      mid[rowOut + u * 3 + 2] = b;
    }
  }
  const out = new Uint8Array(width * height * 3);
  const rows = areaWeights(image.height, height);
  // Accumulate per output row in a float buffer, then round.
  const acc = new Float32Array(width * 3);
  for (let v = 0; v < height; v++) {
    acc.fill(0);
    for (let k = rows.start[v]; k < rows.start[v + 1]; k++) {
      const w = rows.weight[k];
      const rowIn = rows.index[k] * width * 3;
      for (let i = 0; i < width * 3; i++) acc[i] += w * mid[rowIn + i];
    }
    for (let i = 0; i < width * 3; i++) out[v * width * 3 + i] = Math.min(255, Math.round(acc[i]));
  }
  return { width, height, channels: 3, data: out };
}

/**
 * Box-filter weights shrinking `n` samples to `m`: output j covers source [j*n/m, (j+1)*n/m);
 * each source sample weighs the fraction of it inside, normalised to sum 1.
 */
function areaWeights(n: number, m: number): { start: Int32Array; index: Int32Array; weight: Float32Array } {
  const scale = n / m;
  const start = new Int32Array(m + 1);
  const index: number[] = [];
  const weight: number[] = [];
  for (let j = 0; j < m; j++) {
    start[j] = index.length;
    const a = j * scale;
    const b = Math.min(n, (j + 1) * scale);
    for (let i = Math.floor(a); i < Math.ceil(b); i++) {
      const w = Math.min(b, i + 1) - Math.max(a, i);
      if (w > 0) {
        index.push(i);
        weight.push(w / (b - a));
      }
    }
  }
  start[m] = index.length;
  return { start, index: Int32Array.from(index), weight: Float32Array.from(weight) };
}
