/**
 * `StridedSlice` for the WASM backend. The stock kernel either goes through `Slice`, which first
 * copies the whole input out of the heap (`readSync`), or computes each element's index in C++;
 * both are slow on big activations. This one resolves the slice with tfjs's own `sliceInfo`
 * (masks, ellipsis, new and shrunk axes, negative indices and strides) and then copies on the
 * heap: trailing axes taken whole become one block, a unit-stride axis becomes one run, and the
 * outer axes are walked with an odometer. The identity case (a reshape, no copy) stays with the
 * stock kernel; strings (on which the stock C++ path aborts) are rearranged by index.
 * Two stock bugs are not repeated: the stock C++ path writes float32 for every dtype (this keeps
 * the input's), and the stock `wasm` and `cpu` kernels index with the shrunk shape, so a shrink
 * axis beside a non-unit stride reads the wrong elements.
 */
import * as tf from '@tensorflow/tfjs';
import { type HeapArray, copyRun, heapView, input, rearrangeStrings, wasmBackend } from './kernel-util.js';
import type { FedexKernel } from './registry.js';

/**
 * Copies `out[loc] = x[begin + loc * strides]` for every `loc` in `outShape` (all of rank
 * `xShape.length`).
 */
export function stridedCopy(
  out: HeapArray,
  x: HeapArray,
  xShape: readonly number[],
  outShape: readonly number[],
  begin: readonly number[],
  strides: readonly number[],
): void {
  const rank = xShape.length;
  if (rank === 0) {
    out[0] = x[0];
    return;
  }
  const xStrides = new Array<number>(rank);
  for (let a = rank - 1, s = 1; a >= 0; a--) {
    xStrides[a] = s;
    s *= xShape[a];
  }
  // Trailing axes taken whole, in order, are one contiguous block.
  let last = rank - 1;
  let block = 1;
  while (last > 0 && begin[last] === 0 && strides[last] === 1 && outShape[last] === xShape[last]) {
    block *= xShape[last];
    last--;
  }
  const n = outShape[last];
  const step = strides[last] * xStrides[last];
  const innerContiguous = step === block;
  const rowLen = n * block;
  // Odometer over axes [0, last).
  const idx = new Array<number>(last).fill(0);
  let base = 0;
  for (let a = 0; a <= last; a++) base += begin[a] * xStrides[a];
  let o = 0;
  const total = out.length;
  while (o < total) {
    if (innerContiguous && step > 0) {
      copyRun(out, o, x, base, rowLen);
      o += rowLen;
    } else if (block === 1) {
      for (let t = 0, src = base; t < n; t++, src += step) out[o++] = x[src];
    } else {
      for (let t = 0, src = base; t < n; t++, src += step) {
        copyRun(out, o, x, src, block);
        o += block;
      }
    }
    for (let a = last - 1; a >= 0; a--) {
      base += strides[a] * xStrides[a];
      if (++idx[a] < outShape[a]) break;
      base -= outShape[a] * strides[a] * xStrides[a];
      idx[a] = 0;
    }
  }
}

export const stridedSliceKernel: FedexKernel = {
  kernelName: tf.StridedSlice,
  kind: 'replace',
  make: (original) => (args) => {
    const x = input(args, 'x', tf.StridedSlice);
    if (x.dtype === 'complex64') return original(args);
    const a = args.attrs as unknown as tf.StridedSliceAttrs;
    const info = tf.slice_util.sliceInfo(
      x.shape,
      a.begin,
      a.end,
      a.strides,
      a.beginMask,
      a.endMask,
      a.ellipsisMask,
      a.newAxisMask,
      a.shrinkAxisMask,
    );
    if (info.isIdentity) return original(args);
    // One size per input axis (a shrunk axis has size 1). Not `finalShapeSparse`, which drops
    // shrunk axes: indexing with it is what makes the stock kernels wrong for a shrink axis
    // next to a non-unit stride.
    const dense = tf.slice_util
      .computeOutShape(info.begin, info.end, info.strides)
      .map((d) => Math.max(0, d));
    const backend = wasmBackend(args.backend);
    if (x.dtype === 'string') {
      return rearrangeStrings(backend, x, info.finalShape, (o, s) =>
        stridedCopy(o, s, x.shape, dense, info.begin, info.strides),
      );
    }
    const out = backend.makeOutput(info.finalShape, x.dtype);
    if (tf.util.sizeFromShape(dense) === 0) return out;
    stridedCopy(heapView(backend, out), heapView(backend, x), x.shape, dense, info.begin, info.strides);
    return out;
  },
};
