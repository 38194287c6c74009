/**
 * `Conv2DBackpropInput` (the input gradient of `conv2d`, also `conv2dTranspose`) for the WASM
 * backend. The stock kernel is a naive C++ loop (about 2.5 GFLOP/s against 20-30 for the forward
 * convolution). This one runs the gradient as forward convolutions in XNNPACK: for stride 1 one
 * convolution of dy with the flipped, channel-swapped filter; for stride s one per output phase
 * with that phase's sub-filter, interleaved (see `transposedConv`). NCHW is handled by transposing
 * to NHWC. There is no fall-back to the stock kernel: every valid attribute set is covered.
 */
import * as tf from '@tensorflow/tfjs';
import { refuseDilations } from './conv2d-backprop-filter.js';
import { convGeometry, transposedConv } from './conv-util.js';
import { input, runOps, wasmBackend } from './kernel-util.js';
import type { FedexKernel } from './registry.js';

export const conv2dBackpropInputKernel: FedexKernel = {
  kernelName: tf.Conv2DBackpropInput,
  kind: 'replace',
  make: () => (args) => {
    const name = tf.Conv2DBackpropInput;
    const dy = input(args, 'dy', name);
    const filter = input(args, 'filter', name);
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
      args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
    refuseDilations(name, args.attrs);
    const backend = wasmBackend(args.backend);
    return runOps(backend, [dy, filter], (tdy, tw) => {
      const nchw = dataFormat === 'NCHW';
      const [s0, s1, s2, s3] = inputShape;
      const xShape = nchw ? [s0, s2, s3, s1] : [s0, s1, s2, s3];
      const dyh = (nchw ? tdy.transpose([0, 2, 3, 1]) : tdy).toFloat() as tf.Tensor4D;
      const g = convGeometry(name, xShape, filter.shape, strides, 1, pad, dimRoundingMode, false, dyh.shape);
      // Flipped spatially, in/out channels swapped: [fh, fw, outC, inC].
      const reversed = tf.reverse(tw.toFloat(), [0, 1]).transpose([0, 1, 3, 2]) as tf.Tensor4D;
      const dx = transposedConv(backend, dyh, reversed, g, {
        channels: g.inC,
        conv: (part, sub, p, dil) => tf.conv2d(part, sub, 1, p, 'NHWC', dil),
      });
      return nchw ? dx.transpose([0, 3, 1, 2]) : dx;
    });
  },
};
