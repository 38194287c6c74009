/**
 * `Conv2DBackpropFilter` (the filter gradient of `conv2d`) for the WASM backend, which lacks it.
 * im2col + one matrix product: the input patches of a slice of the batch are written as a
 * [rows, fh*fw*inC] matrix on the heap and dW = patches^T . dy runs in XNNPACK; slices bound the
 * patch memory (`MAX_PATCH_ELEMENTS`) and their products are summed. NCHW is handled by
 * transposing to NHWC. Conv2D gradients take no dilations in tfjs; a `dilations` attribute other
 * than 1 is refused rather than ignored.
 */
import * as tf from '@tensorflow/tfjs';
import { convGeometry, im2col, imagesPerSlice } from './conv-util.js';
import { input, kernelError, pair, runOps, wasmBackend } from './kernel-util.js';
import type { FedexKernel } from './registry.js';

/** Refuses a `dilations` attribute other than 1 (tfjs never passes one to these kernels). */
export function refuseDilations(kernelName: string, attrs: tf.NamedAttrMap | undefined): void {
  const d = attrs?.['dilations'] as number | [number, number] | undefined;
  const [dh, dw] = pair(d, 1);
  if (dh !== 1 || dw !== 1) {
    throw kernelError(
      kernelName,
      `dilations [${dh},${dw}] are not supported (tfjs conv2d gradients need dilation 1)`,
    );
  }
}

export const conv2dBackpropFilterKernel: FedexKernel = {
  kernelName: tf.Conv2DBackpropFilter,
  kind: 'add',
  make: () => (args) => {
    const name = tf.Conv2DBackpropFilter;
    const x = input(args, 'x', name);
    const dy = input(args, 'dy', name);
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
      args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    refuseDilations(name, args.attrs);
    const backend = wasmBackend(args.backend);
    return runOps(backend, [x, dy], (tx, tdy) => {
      const nchw = dataFormat === 'NCHW';
      const xh = (nchw ? tx.transpose([0, 2, 3, 1]) : tx).toFloat();
      const dyh = (nchw ? tdy.transpose([0, 2, 3, 1]) : tdy).toFloat();
      const g = convGeometry(name, xh.shape, filterShape, strides, 1, pad, dimRoundingMode, false, dyh.shape);
      const per = imagesPerSlice(g);
      let acc: tf.Tensor | undefined;
      for (let n0 = 0; n0 < g.batch; n0 += per) {
        const n1 = Math.min(g.batch, n0 + per);
        const rows = (n1 - n0) * g.outH * g.outW;
        const patches = im2col(backend, xh, g, n0, n1);
        const dyPart =
          n1 - n0 === g.batch ? dyh : tf.stridedSlice(dyh, [n0, 0, 0, 0], [n1, g.outH, g.outW, g.outC]);
        // patches^T . dy = [K, outC], the filter layout. Transposing the patches (in the fast
        // BatchMatMul path) then packing the small dy beats packing the big patches as weights.
        const part = tf.matMul(patches, dyPart.reshape([rows, g.outC]), true, false);
        acc = acc ? acc.add(part) : part;
      }
      if (!acc) return tf.zeros(filterShape);
      return acc.reshape(filterShape);
    });
  },
};
