/**
 * Kernels FedEx registers on the tfjs WASM backend: the training kernels WASM lacks and faster
 * replacements for slow ones (see shared/notes/runtime.md). Registration is idempotent and must
 * run before (or after) `tf.setBackend('wasm')`: replacements keep the stock kernel's setup.
 *
 * Missing on WASM (added): Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter,
 * DepthwiseConv2dNativeBackpropInput, UnsortedSegmentSum.
 * Slow on WASM (replaced, delegating to the stock kernel where it is already fast):
 * Conv2DBackpropInput, Tile, StridedSlice, BatchMatMul.
 *
 * Platform-neutral: no Node built-ins.
 */
import '@tensorflow/tfjs-backend-wasm'; // registers the stock kernels we replace
import { batchMatMulKernel } from './batch-mat-mul.js';
import { conv2dBackpropFilterKernel } from './conv2d-backprop-filter.js';
import { conv2dBackpropInputKernel } from './conv2d-backprop-input.js';
import { depthwiseConv2dBackpropFilterKernel } from './depthwise-conv2d-backprop-filter.js';
import { depthwiseConv2dBackpropInputKernel } from './depthwise-conv2d-backprop-input.js';
import { type FedexKernel, install, originalKernel, uninstall } from './registry.js';
import { stridedSliceKernel } from './strided-slice.js';
import { tileKernel } from './tile.js';
import { unsortedSegmentSumKernel } from './unsorted-segment-sum.js';

/** Every FedEx kernel, in registration order. */
export const FEDEX_WASM_KERNELS: readonly FedexKernel[] = [
  conv2dBackpropFilterKernel,
  conv2dBackpropInputKernel,
  depthwiseConv2dBackpropFilterKernel,
  depthwiseConv2dBackpropInputKernel,
  unsortedSegmentSumKernel,
  tileKernel,
  stridedSliceKernel,
  batchMatMulKernel,
];

/**
 * Registers every FedEx kernel on the `wasm` backend. Idempotent. Returns the names of the FedEx
 * kernels now registered (a kernel a future tfjs ships natively is left alone and not listed).
 *
 * @example
 * registerWasmKernels(); // ['Conv2DBackpropFilter', ..., 'BatchMatMul']
 * await tf.setBackend('wasm');
 */
export function registerWasmKernels(): string[] {
  return FEDEX_WASM_KERNELS.filter((k) => install(k)).map((k) => k.kernelName);
}

/**
 * Removes the FedEx kernels and puts the stock ones back (for benchmarks and tests comparing
 * against the stock kernels). `registerWasmKernels()` installs them again.
 */
export function unregisterWasmKernels(): void {
  for (const k of FEDEX_WASM_KERNELS) uninstall(k.kernelName);
}

export { originalKernel };
