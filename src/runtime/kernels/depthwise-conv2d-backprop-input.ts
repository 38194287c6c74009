/**
 * `DepthwiseConv2dNativeBackpropInput` (the input gradient of `depthwiseConv2d`) for the WASM
 * backend, which lacks it. Runs as forward depthwise convolutions in XNNPACK: dy (C*mul channels)
 * with the spatially flipped filter, one convolution per output phase when strided (see
 * `transposedConv`; phase sub-filters are grown with zero taps to sizes XNNPACK is fast for), then
 * the depth multiplier is summed out. Supports depth multipliers > 1 and
 * dilations (with stride 1; TensorFlow allows strides or dilations > 1, not both).
 */
import * as tf from '@tensorflow/tfjs';
import { convGeometry, transposedConv } from './conv-util.js';
import { input, runOps, wasmBackend } from './kernel-util.js';
import type { FedexKernel } from './registry.js';

/** Tap counts XNNPACK's depthwise convolution has fast kernels for (measured: 2, 6, 16, 25 taps are 20-50x slower). */
const FAST_DEPTHWISE_TAPS = new Set([1, 3, 4, 9]);

/** The smallest [rows, cols] >= the given one whose tap count is fast; unchanged if none is. */
export function fastDepthwiseTaps(rows: number, cols: number): [number, number] {
  let best: [number, number] = [rows, cols];
  let bestTaps = Infinity;
  for (let r = rows; r <= 3; r++) {
    for (let c = cols; c <= 3; c++) {
      if (FAST_DEPTHWISE_TAPS.has(r * c) && r * c < bestTaps) {
        best = [r, c];
        bestTaps = r * c;
      }
    }
  }
  return best;
}

export const depthwiseConv2dBackpropInputKernel: FedexKernel = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  kind: 'add',
  make: () => (args) => {
    const name = tf.DepthwiseConv2dNativeBackpropInput;
    const dy = input(args, 'dy', name);
    const filter = input(args, 'filter', name);
    const { strides, dilations, pad, dimRoundingMode, inputShape } =
      args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
    const backend = wasmBackend(args.backend);
    return runOps(backend, [dy, filter], (tdy, tw) => {
      const dyf = tdy.toFloat() as tf.Tensor4D;
      const g = convGeometry(
        name,
        inputShape,
        filter.shape,
        strides,
        dilations ?? 1,
        pad,
        dimRoundingMode,
        true,
        dyf.shape,
      );
      const [fh, fw, c, mul] = filter.shape;
      // Each of the c*mul dy channels meets its own flipped filter: multiplier 1 over c*mul channels.
      const reversed = tf.reverse(tw.toFloat(), [0, 1]).reshape([fh, fw, c * mul, 1]) as tf.Tensor4D;
      const dxm = transposedConv(backend, dyf, reversed, g, {
        channels: c * mul,
        conv: (part, sub, p, dil) => tf.depthwiseConv2d(part, sub, 1, p, 'NHWC', dil),
        growTaps: fastDepthwiseTaps,
      });
      return mul === 1 ? dxm : dxm.reshape([g.batch, g.inH, g.inW, c, mul]).sum(4);
    });
  },
};
