/**
 * Shared plumbing for the FedEx WASM kernels: typed access to the WASM backend and its heap, a way
 * to run tfjs ops inside a kernel body without leaking, and the `RUNTIME_KERNEL` error.
 *
 * How a kernel that calls ops stays leak-free: the engine runs a kernel with its tape switched off
 * (nested ops record no gradients), and when a kernel returns a `Tensor` (not a bare TensorInfo)
 * the engine hands that very tensor to the caller. So `runOps` runs the body in `tf.tidy`, which
 * disposes every intermediate and moves the result into the caller's scope, exactly where a
 * normal kernel output would be tracked. Kernels that write the heap directly return a fresh
 * TensorInfo from `backend.makeOutput` (refCount 1), which the engine wraps itself.
 *
 * Platform-neutral: no Node built-ins.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { FedexError } from '../../core/errors.js';

/** The argument a kernel function receives. */
export type KernelArgs = Parameters<tf.KernelFunc>[0];

/** A typed array living on the WASM heap. */
export type HeapArray = Float32Array | Int32Array | Uint8Array;

/** The error every FedEx kernel throws for an input it does not support. */
export function kernelError(kernelName: string, message: string): FedexError {
  return new FedexError('RUNTIME_KERNEL', `${kernelName} (FedEx wasm kernel): ${message}`);
}

/** The kernel's backend as the WASM backend (these kernels are only registered on `wasm`). */
export function wasmBackend(backend: unknown): BackendWasm {
  return backend as BackendWasm;
}

/** A named input that must be present. */
export function input(args: KernelArgs, name: string, kernelName: string): tf.TensorInfo {
  const t = args.inputs[name];
  if (t == null) throw kernelError(kernelName, `missing input "${name}"`);
  return t;
}

/**
 * A view of a tensor's values on the WASM heap (no copy). Take views only after the last
 * allocation of the kernel: growing the heap detaches earlier views.
 */
export function heapView(backend: BackendWasm, t: tf.TensorInfo): HeapArray {
  return backend.typedArrayFromHeap(t) as HeapArray;
}

let viewsOf: ArrayBufferLike | undefined;
let views: { f32: Float32Array; i32: Int32Array; u8: Uint8Array } | undefined;

/** A view of the same type over the whole buffer of `a` (cached until the heap grows). */
function wholeBuffer(a: HeapArray): HeapArray {
  if (a.buffer !== viewsOf || !views) {
    viewsOf = a.buffer;
    views = { f32: new Float32Array(a.buffer), i32: new Int32Array(a.buffer), u8: new Uint8Array(a.buffer) };
  }
  return a instanceof Float32Array ? views.f32 : a instanceof Int32Array ? views.i32 : views.u8;
}

/**
 * Copies `len` elements. Within one buffer (the WASM heap) this is one `copyWithin` on a cached
 * whole-heap view: no per-call allocation, 2-3x faster than `set(subarray)` for runs of a few
 * hundred elements; plain loops win for the shortest runs.
 */
export function copyRun(dst: HeapArray, dstOff: number, src: HeapArray, srcOff: number, len: number): void {
  if (len < 16) {
    for (let i = 0; i < len; i++) dst[dstOff + i] = src[srcOff + i];
  } else if (dst.buffer === src.buffer && dst.constructor === src.constructor) {
    const bpe = dst.BYTES_PER_ELEMENT;
    const from = src.byteOffset / bpe + srcOff;
    wholeBuffer(dst).copyWithin(dst.byteOffset / bpe + dstOff, from, from + len);
  } else {
    dst.set(src.subarray(srcOff, srcOff + len), dstOff);
  }
}

/**
 * Runs tfjs ops as a kernel body. `body` gets the inputs as Tensors; everything it creates except
 * the returned tensor is disposed. An input that is a bare TensorInfo (not a Tensor) is wrapped in
 * a temporary Tensor holding its own reference, released afterwards.
 */
export function runOps(
  backend: BackendWasm,
  inputs: tf.TensorInfo[],
  body: (...tensors: tf.Tensor[]) => tf.Tensor,
): tf.Tensor {
  const wrapped: tf.Tensor[] = [];
  const tensors = inputs.map((info) => {
    if (info instanceof tf.Tensor) return info;
    backend.incRef(info.dataId);
    const t = tf.engine().makeTensorFromTensorInfo(info, backend);
    wrapped.push(t);
    return t;
  });
  try {
    return tf.tidy(() => {
      const out = body(...tensors);
      // Never hand an input back as the output: the caller would later dispose it twice.
      return tensors.includes(out) ? out.clone() : out;
    });
  } finally {
    for (const t of wrapped) t.dispose();
  }
}

/**
 * A string tensor rearranged like a numeric one: `layout(out, src)` fills `out` from `src` (the
 * element indices 0..n-1 of `x`), and the strings are picked by the resulting indices. The stock
 * WASM C++ kernels abort on strings, so the FedEx copy kernels handle them this way.
 */
export function rearrangeStrings(
  backend: BackendWasm,
  x: tf.TensorInfo,
  outShape: number[],
  layout: (out: Int32Array, src: Int32Array) => void,
): tf.TensorInfo {
  const values = backend.readSync(x.dataId) as Uint8Array[];
  const index = new Int32Array(tf.util.sizeFromShape(outShape));
  if (index.length > 0)
    layout(
      index,
      Int32Array.from(values, (_, i) => i),
    );
  const out = backend.makeOutput(outShape, 'string');
  backend.dataIdMap.get(out.dataId).stringBytes = Array.from(index, (i) => values[i]);
  return out;
}

/** Normalises an `int | [int, int]` attribute (strides, dilations). */
export function pair(v: number | [number, number] | undefined, fallback: number): [number, number] {
  if (v == null) return [fallback, fallback];
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}
