/**
 * Geometry shared by the convolution gradient kernels (NHWC):
 * - `im2col` writes the input patches of a batch range as one [rows, fh*fw*C] matrix on the heap,
 *   so a filter gradient becomes one matrix product (or one reduction, for depthwise);
 * - `transposedConv` computes an input gradient as stride-1 forward convolutions, one per output
 *   phase (y mod stride, x mod stride), each with the sub-filter of taps that land on that phase,
 *   then scatters the phases into dx. All multiply-adds are useful ones (no zero-dilated dy), and
 *   the work runs in the fast XNNPACK forward convolution.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { copyRun, heapView, kernelError } from './kernel-util.js';

/** Forward-convolution geometry, as the gradient kernels need it. */
export interface ConvGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  fh: number;
  fw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  padTop: number;
  padLeft: number;
}

/**
 * The geometry of a forward convolution (NHWC `xShape`) whose output gradient has shape
 * `dyShape`, checked against tfjs's own rules. tfjs's conv gradients drop `dimRoundingMode`;
 * when dy only fits another rounding of a numeric pad, that rounding is the one used.
 */
export function convGeometry(
  kernelName: string,
  xShape: readonly number[],
  filterShape: readonly number[],
  strides: number | [number, number],
  dilations: number | [number, number],
  pad: tf.Conv2DAttrs['pad'],
  dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined,
  depthwise: boolean,
  dyShape: readonly number[],
): ConvGeometry {
  if (xShape.length !== 4 || filterShape.length !== 4) {
    throw kernelError(kernelName, `expected rank-4 input and filter, got [${xShape}] and [${filterShape}]`);
  }
  const infoFor = (mode: 'floor' | 'round' | 'ceil' | undefined) =>
    tf.backend_util.computeConv2DInfo(
      xShape as [number, number, number, number],
      filterShape as [number, number, number, number],
      strides,
      dilations,
      pad,
      mode,
      depthwise,
      'channelsLast',
    );
  const fits = (i: tf.backend_util.Conv2DInfo) =>
    dyShape.length === 4 && i.outShape.every((d, k) => d === dyShape[k]);
  let info = infoFor(dimRoundingMode);
  if (!fits(info) && dimRoundingMode == null && typeof pad === 'number') {
    info = [infoFor('ceil'), infoFor('round')].find(fits) ?? info;
  }
  if (!fits(info)) {
    throw kernelError(kernelName, `dy has shape [${dyShape}], expected [${info.outShape}]`);
  }
  if (
    (info.strideHeight > 1 || info.strideWidth > 1) &&
    (info.dilationHeight > 1 || info.dilationWidth > 1)
  ) {
    throw kernelError(
      kernelName,
      `strides [${info.strideHeight},${info.strideWidth}] with dilations [${info.dilationHeight},${info.dilationWidth}]: ` +
        'either strides or dilations must be 1 (as in TensorFlow)',
    );
  }
  return {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    outC: info.outChannels,
    fh: info.filterHeight,
    fw: info.filterWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    dh: info.dilationHeight,
    dw: info.dilationWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/** Most patch elements held at once; larger batches are processed in slices. */
export const MAX_PATCH_ELEMENTS = 16 * 1024 * 1024;

/** Images per im2col slice so one slice stays under `MAX_PATCH_ELEMENTS`. */
export function imagesPerSlice(g: ConvGeometry): number {
  const perImage = g.outH * g.outW * g.fh * g.fw * g.inC;
  return Math.max(1, Math.floor(MAX_PATCH_ELEMENTS / Math.max(1, perImage)));
}

/**
 * Patches of images [n0, n1) of `x` (NHWC float32) as a Tensor [rows, fh*fw*C], rows ordered
 * (n, oy, ox) and columns (ky, kx, c); out-of-image taps are zeros.
 */
export function im2col(
  backend: BackendWasm,
  x: tf.TensorInfo,
  g: ConvGeometry,
  n0: number,
  n1: number,
): tf.Tensor2D {
  const C = g.inC;
  const k = g.fh * g.fw * C;
  const rows = (n1 - n0) * g.outH * g.outW;
  const outInfo = backend.makeOutput([rows, k], 'float32');
  const out = heapView(backend, outInfo);
  const xv = heapView(backend, x);
  const rowStride = g.inW * C;
  const imgStride = g.inH * rowStride;
  let o = 0;
  for (let n = n0; n < n1; n++) {
    const img = n * imgStride;
    for (let oy = 0; oy < g.outH; oy++) {
      const y0 = oy * g.sh - g.padTop;
      for (let ox = 0; ox < g.outW; ox++) {
        const x0 = ox * g.sw - g.padLeft;
        // Taps kx in [kxa, kxb) fall inside the image width.
        let kxa = 0;
        while (kxa < g.fw && x0 + kxa * g.dw < 0) kxa++;
        let kxb = g.fw;
        while (kxb > kxa && x0 + (kxb - 1) * g.dw >= g.inW) kxb--;
        for (let ky = 0; ky < g.fh; ky++) {
          const iy = y0 + ky * g.dh;
          if (iy < 0 || iy >= g.inH || kxb <= kxa) {
            out.fill(0, o, o + g.fw * C);
            o += g.fw * C;
            continue;
          }
          if (kxa > 0) out.fill(0, o, o + kxa * C);
          o += kxa * C;
          const src = img + iy * rowStride + (x0 + kxa * g.dw) * C;
          if (g.dw === 1) {
            copyRun(out, o, xv, src, (kxb - kxa) * C);
            o += (kxb - kxa) * C;
          } else {
            for (let kx = kxa; kx < kxb; kx++) {
              copyRun(out, o, xv, src + (kx - kxa) * g.dw * C, C);
              o += C;
            }
          }
          if (kxb < g.fw) out.fill(0, o, o + (g.fw - kxb) * C);
          o += (g.fw - kxb) * C;
        }
      }
    }
  }
  return tf.engine().makeTensorFromTensorInfo(outInfo, backend) as tf.Tensor2D;
}

/** One output phase along one axis of a transposed convolution. */
interface AxisPhase {
  /** Number of filter taps landing on this phase (0: the phase gets no contribution). */
  taps: number;
  /** First tap, counted in the spatially reversed filter; taps step by the stride. */
  firstReversedTap: number;
  /** dy rows [cropStart, cropEnd) are used, with zero padding before/after. */
  cropStart: number;
  cropEnd: number;
  padBefore: number;
  padAfter: number;
}

/**
 * Splits one axis of a transposed convolution into `stride` phases. With forward
 * y[o] = sum_k x[o*s + k*d - pad] w[k], input position i = p + s*m (phase p) receives taps
 * k = k0 + s*j, k0 = (p + pad) mod s, from y[m + floor((p + pad)/s) - j]: a stride-1 correlation
 * of y with the phase's taps in reversed order. `len` is the number of positions m per phase.
 */
function axisPhases(inLen: number, outLen: number, f: number, s: number, d: number, pad: number) {
  const len = Math.ceil(inLen / s);
  const phases: AxisPhase[] = [];
  for (let p = 0; p < s; p++) {
    const k0 = (p + pad) % s;
    const taps = k0 < f ? Math.ceil((f - k0) / s) : 0;
    const offset = Math.floor((p + pad) / s) - (taps - 1) * d;
    const lo = offset;
    const hi = offset + len + (taps - 1) * d;
    const cropStart = Math.min(Math.max(lo, 0), outLen);
    const cropEnd = Math.min(Math.max(hi, 0), outLen);
    phases.push({
      taps: cropEnd > cropStart ? taps : 0,
      firstReversedTap: f - 1 - k0 - s * (taps - 1),
      cropStart,
      cropEnd,
      padBefore: cropStart - lo,
      padAfter: hi - cropEnd,
    });
  }
  return { len, phases };
}

/** Options of `transposedConv`. */
export interface TransposedConvOptions {
  /** Channels of the result (dx). */
  channels: number;
  /**
   * Runs one stride-1 forward convolution of a dy crop with a sub-filter and explicit padding;
   * returns [N, rows, cols, channels].
   */
  conv(
    dyPart: tf.Tensor4D,
    subFilter: tf.Tensor4D,
    pad: [[number, number], [number, number], [number, number], [number, number]],
    dilations: [number, number],
  ): tf.Tensor4D;
  /**
   * Optionally grows a sub-filter's [rows, cols] of taps (the extra taps are zeros), for
   * convolutions that are only fast for some filter sizes.
   */
  growTaps?(rows: number, cols: number): [number, number];
}

/**
 * The input gradient of a forward convolution with geometry `g`, from `dy` [N, outH, outW, Cy]
 * and the filter flipped in both spatial axes (`reversedFilter`). Each output phase is one
 * stride-1 convolution with a strided slice of the flipped filter; the phases are then scattered
 * into dx on the heap. Must run inside a tidy.
 */
export function transposedConv(
  backend: BackendWasm,
  dy: tf.Tensor4D,
  reversedFilter: tf.Tensor4D,
  g: ConvGeometry,
  opts: TransposedConvOptions,
): tf.Tensor4D {
  const ys = axisPhases(g.inH, g.outH, g.fh, g.sh, g.dh, g.padTop);
  const xs = axisPhases(g.inW, g.outW, g.fw, g.sw, g.dw, g.padLeft);
  const [fh, fw, f2, f3] = reversedFilter.shape;
  const results: Array<{ py: number; px: number; t: tf.Tensor4D }> = [];
  ys.phases.forEach((py, iy) =>
    xs.phases.forEach((px, ix) => {
      if (py.taps === 0 || px.taps === 0) return;
      const whole =
        py.cropStart === 0 && py.cropEnd === g.outH && px.cropStart === 0 && px.cropEnd === g.outW;
      const part = whole
        ? dy
        : (tf.stridedSlice(
            dy,
            [0, py.cropStart, px.cropStart, 0],
            [g.batch, py.cropEnd, px.cropEnd, dy.shape[3]],
          ) as tf.Tensor4D);
      let sub =
        py.taps === fh && px.taps === fw
          ? reversedFilter
          : (tf.stridedSlice(
              reversedFilter,
              [py.firstReversedTap, px.firstReversedTap, 0, 0],
              [
                py.firstReversedTap + g.sh * (py.taps - 1) + 1,
                px.firstReversedTap + g.sw * (px.taps - 1) + 1,
                f2,
                f3,
              ],
              [g.sh, g.sw, 1, 1],
            ) as tf.Tensor4D);
      const [rows, cols] = opts.growTaps ? opts.growTaps(py.taps, px.taps) : [py.taps, px.taps];
      if (rows > py.taps || cols > px.taps) {
        sub = tf.pad(sub, [
          [0, rows - py.taps],
          [0, cols - px.taps],
          [0, 0],
          [0, 0],
        ]);
      }
      const t = opts.conv(
        part,
        sub,
        [
          [0, 0],
          [py.padBefore, py.padAfter + (rows - py.taps) * g.dh],
          [px.padBefore, px.padAfter + (cols - px.taps) * g.dw],
          [0, 0],
        ],
        [g.dh, g.dw],
      );
      results.push({ py: iy, px: ix, t });
    }),
  );
  if (g.sh === 1 && g.sw === 1 && results.length === 1) return results[0].t;
  // Scatter the phases: dx[n, py + sh*m, px + sw*q, :] = phase[n, m, q, :].
  const c = opts.channels;
  const outInfo = backend.makeOutput([g.batch, g.inH, g.inW, c], 'float32');
  const out = heapView(backend, outInfo);
  if (results.length < ys.phases.length * xs.phases.length) out.fill(0);
  for (const { py, px, t } of results) {
    const src = heapView(backend, t);
    const rows = Math.ceil((g.inH - py) / g.sh);
    const cols = Math.ceil((g.inW - px) / g.sw);
    for (let n = 0; n < g.batch; n++) {
      for (let m = 0; m < rows; m++) {
        let s = (n * ys.len + m) * xs.len * c;
        let o = ((n * g.inH + py + g.sh * m) * g.inW + px) * c;
        for (let q = 0; q < cols; q++, s += c, o += g.sw * c) copyRun(out, o, src, s, c);
      }
    }
  }
  return tf.engine().makeTensorFromTensorInfo(outInfo, backend) as tf.Tensor4D;
}
