/**
 * `BatchMatMul` for the WASM backend. The stock kernel uses XNNPACK only for one un-transposed
 * 2-D product; a transposed operand (every dense layer's weight gradient is `x^T dy`) or a batch
 * falls to a naive C++ triple loop, 10-20x slower. This one transposes explicitly (cheap, O(size))
 * and then runs only fast products:
 * - one matrix each side: the stock kernel, un-transposed;
 * - `b` shared by a batch of `a`: one product with the batch folded into the rows of `a`;
 * - `a` shared by a batch of `b`: one product with the batch folded into the columns of `b`;
 * - both batched: one 2-D product per batch entry (with tfjs broadcasting of the batch dims).
 * Matrices under 48^3 multiply-adds stay with the stock loop, where extra kernel calls cost more
 * than they save. Non-float32 inputs go to the stock kernel (which rejects them). The stock
 * kernel does not broadcast batch dims like [2,1] against [1,3]; this one does.
 */
import * as tf from '@tensorflow/tfjs';
import { input, runOps, wasmBackend } from './kernel-util.js';
import type { FedexKernel } from './registry.js';

/** Below this many multiply-adds per matrix, a batched product stays with the stock loop. */
const PER_BATCH_MIN_MACS = 48 * 48 * 48;

function swapLast(t: tf.Tensor): tf.Tensor {
  const perm = t.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return tf.transpose(t, perm);
}

/** Row `i` of a [batch, rows, cols] tensor as [rows, cols], through the (fast) StridedSlice kernel. */
function batchEntry(t3: tf.Tensor, i: number): tf.Tensor {
  const [, r, c] = t3.shape;
  return tf.stridedSlice(t3, [i, 0, 0], [i + 1, r, c], [1, 1, 1], 0, 0, 0, 0, 1);
}

/** For each flat index of the broadcast batch shape, the flat batch index into `shape`. */
function broadcastIndex(shape: readonly number[], outShape: readonly number[]): number[] {
  const rank = outShape.length;
  const padded = [...new Array<number>(rank - shape.length).fill(1), ...shape];
  const strides = new Array<number>(rank);
  for (let a = rank - 1, s = 1; a >= 0; a--) {
    strides[a] = padded[a] === 1 ? 0 : s;
    s *= padded[a];
  }
  const total = tf.util.sizeFromShape(outShape as number[]);
  const out = new Array<number>(total);
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < total; i++) {
    let f = 0;
    for (let a = 0; a < rank; a++) f += idx[a] * strides[a];
    out[i] = f;
    for (let a = rank - 1; a >= 0; a--) {
      if (++idx[a] < outShape[a]) break;
      idx[a] = 0;
    }
  }
  return out;
}

export const batchMatMulKernel: FedexKernel = {
  kernelName: tf.BatchMatMul,
  kind: 'replace',
  make: (original) => (args) => {
    const a = input(args, 'a', tf.BatchMatMul);
    const b = input(args, 'b', tf.BatchMatMul);
    const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return original(args);
    const outerA = a.shape.slice(0, -2);
    const outerB = b.shape.slice(0, -2);
    const batchA = tf.util.sizeFromShape(outerA);
    const batchB = tf.util.sizeFromShape(outerB);
    if (!transposeA && !transposeB && batchA === 1 && batchB === 1) return original(args);
    const rank = (t: tf.TensorInfo) => t.shape.length;
    const m = a.shape[rank(a) - (transposeA ? 1 : 2)];
    const k = a.shape[rank(a) - (transposeA ? 2 : 1)];
    const n = b.shape[rank(b) - (transposeB ? 2 : 1)];
    // Tiny matrices: the stock loop beats any extra kernel call (it broadcasts a batch of 1 only).
    const stockBroadcasts = batchA === batchB || batchA === 1 || batchB === 1;
    if (m * k * n < PER_BATCH_MIN_MACS && stockBroadcasts) return original(args);
    const backend = wasmBackend(args.backend);
    const plain = { transposeA: false, transposeB: false };
    /** The stock kernel on un-transposed operands, as a Tensor in the current tidy scope. */
    const stock = (x: tf.Tensor, y: tf.Tensor): tf.Tensor =>
      tf
        .engine()
        .makeTensorFromTensorInfo(
          original({ inputs: { a: x, b: y }, backend, attrs: plain }) as tf.TensorInfo,
        );
    return runOps(backend, [a, b], (ta, tb) => {
      const a2 = transposeA ? swapLast(ta) : ta;
      const b2 = transposeB ? swapLast(tb) : tb;
      const outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
      const outShape = [...outer, m, n];
      if (batchA === 1 && batchB === 1) {
        return stock(a2.reshape([1, m, k]), b2.reshape([1, k, n])).reshape(outShape);
      }
      if (batchB === 1) {
        // Every a-matrix meets the same b: fold the batch into the rows of a.
        return stock(a2.reshape([1, batchA * m, k]), b2.reshape([1, k, n])).reshape(outShape);
      }
      if (batchA === 1) {
        // Every b-matrix meets the same a: fold the batch into the columns of b.
        const bCols = b2
          .reshape([batchB, k, n])
          .transpose([1, 0, 2])
          .reshape([1, k, batchB * n]);
        const y = stock(a2.reshape([1, m, k]), bCols);
        return y.reshape([m, batchB, n]).transpose([1, 0, 2]).reshape(outShape);
      }
      const a3 = a2.reshape([batchA, m, k]);
      const b3 = b2.reshape([batchB, k, n]);
      const ia = broadcastIndex(outerA, outer);
      const ib = broadcastIndex(outerB, outer);
      if (m * k * n < PER_BATCH_MIN_MACS) {
        // Batch dims the stock loop cannot broadcast ([2,1] with [1,3]): materialise both.
        const ga = tf.gather(a3, tf.tensor1d(ia, 'int32'));
        const gb = tf.gather(b3, tf.tensor1d(ib, 'int32'));
        return stock(ga, gb).reshape(outShape);
      }
      const parts = ia.map((i, j) =>
        stock(batchEntry(a3, i).reshape([1, m, k]), batchEntry(b3, ib[j]).reshape([1, k, n])),
      );
      return tf.stack(parts).reshape(outShape);
    });
  },
};
