/**
 * `UnsortedSegmentSum` for the WASM backend, which lacks it (it is the gradient of `gather`, so
 * embeddings and any `gather` in a model need it to train). A scatter-add on the heap:
 * `out[ids[i]] += x[i]`, one row of `x` per id. That is O(size of x), where a one-hot matmul would
 * be O(size of x * numSegments). Ids outside [0, numSegments) are dropped, as in TensorFlow and
 * the tfjs `cpu` kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { heapView, input, kernelError, wasmBackend } from './kernel-util.js';
import type { FedexKernel } from './registry.js';

export const unsortedSegmentSumKernel: FedexKernel = {
  kernelName: tf.UnsortedSegmentSum,
  kind: 'add',
  make: () => (args) => {
    const name = tf.UnsortedSegmentSum;
    const x = input(args, 'x', name);
    const segmentIds = input(args, 'segmentIds', name);
    const { numSegments } = args.attrs as unknown as tf.UnsortedSegmentSumAttrs;
    if (x.dtype !== 'float32' && x.dtype !== 'int32')
      throw kernelError(name, `dtype ${x.dtype} is not supported`);
    if (segmentIds.dtype !== 'int32')
      throw kernelError(name, `segmentIds must be int32, got ${segmentIds.dtype}`);
    const idRank = segmentIds.shape.length;
    if (segmentIds.shape.some((d, i) => d !== x.shape[i])) {
      throw kernelError(name, `segmentIds shape [${segmentIds.shape}] must prefix x shape [${x.shape}]`);
    }
    const rowShape = x.shape.slice(idRank);
    const row = tf.util.sizeFromShape(rowShape);
    const backend = wasmBackend(args.backend);
    const out = backend.makeOutput([numSegments, ...rowShape], x.dtype);
    const o = heapView(backend, out);
    o.fill(0);
    if (o.length === 0) return out;
    const xs = heapView(backend, x);
    const ids = heapView(backend, segmentIds);
    for (let i = 0, n = ids.length; i < n; i++) {
      const id = ids[i];
      if (id < 0 || id >= numSegments) continue;
      const src = i * row;
      const dst = id * row;
      for (let j = 0; j < row; j++) o[dst + j] += xs[src + j];
    }
    return out;
  },
};
