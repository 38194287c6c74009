/**
 * `DepthwiseConv2dNativeBackpropFilter` (the filter gradient of `depthwiseConv2d`) for the WASM
 * backend, which lacks it. dW[ky,kx,c,m] = sum over (n,oy,ox) of x[n, iy, ix, c] * dy[n,oy,ox,c*mul+m]
 * as one streaming pass over dy on the heap, accumulated in float64. The work is small (fh*fw
 * multiply-adds per dy element); written with XNNPACK ops it needed a transposed copy of a
 * 9x-dy-sized product for the reduction and ran 10-20x slower. Supports depth multipliers > 1
 * and dilations (with stride 1; TensorFlow allows strides or dilations > 1, not both).
 */
import * as tf from '@tensorflow/tfjs';
import { type ConvGeometry, convGeometry } from './conv-util.js';
import { type HeapArray, heapView, input, runOps, wasmBackend } from './kernel-util.js';
import type { FedexKernel } from './registry.js';

/** Accumulates the depthwise filter gradient into `acc` [fh*fw*C*mul] (NHWC x and dy). */
export function depthwiseFilterGrad(
  x: HeapArray,
  dy: HeapArray,
  g: ConvGeometry,
  mul: number,
  acc: Float64Array,
): void {
  const c = g.inC;
  const cm = c * mul;
  for (let n = 0; n < g.batch; n++) {
    for (let oy = 0; oy < g.outH; oy++) {
      for (let ox = 0; ox < g.outW; ox++) {
        const dyOff = ((n * g.outH + oy) * g.outW + ox) * cm;
        for (let ky = 0; ky < g.fh; ky++) {
          const iy = oy * g.sh + ky * g.dh - g.padTop;
          if (iy < 0 || iy >= g.inH) continue;
          for (let kx = 0; kx < g.fw; kx++) {
            const ix = ox * g.sw + kx * g.dw - g.padLeft;
            if (ix < 0 || ix >= g.inW) continue;
            const xOff = ((n * g.inH + iy) * g.inW + ix) * c;
            const tOff = (ky * g.fw + kx) * cm;
            if (mul === 1) {
              for (let k = 0; k < c; k++) acc[tOff + k] += x[xOff + k] * dy[dyOff + k];
            } else {
              for (let k = 0; k < c; k++) {
                const xv = x[xOff + k];
                const b = k * mul;
                for (let m = 0; m < mul; m++) acc[tOff + b + m] += xv * dy[dyOff + b + m];
              }
            }
          }
        }
      }
    }
  }
}

export const depthwiseConv2dBackpropFilterKernel: FedexKernel = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  kind: 'add',
  make: () => (args) => {
    const name = tf.DepthwiseConv2dNativeBackpropFilter;
    const x = input(args, 'x', name);
    const dy = input(args, 'dy', name);
    const { strides, dilations, pad, dimRoundingMode, filterShape } =
      args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
    const backend = wasmBackend(args.backend);
    return runOps(backend, [x, dy], (tx, tdy) => {
      const xf = tx.toFloat();
      const dyf = tdy.toFloat();
      const g = convGeometry(
        name,
        xf.shape,
        filterShape,
        strides,
        dilations ?? 1,
        pad,
        dimRoundingMode,
        true,
        dyf.shape,
      );
      const mul = filterShape[3];
      const acc = new Float64Array(tf.util.sizeFromShape(filterShape));
      depthwiseFilterGrad(heapView(backend, xf), heapView(backend, dyf), g, mul, acc);
      return tf.tensor(Float32Array.from(acc), filterShape);
    });
  },
};
