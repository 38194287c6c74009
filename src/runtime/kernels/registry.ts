/**
 * Idempotent registration of FedEx kernels on the tfjs `wasm` backend.
 *
 * tfjs throws when a kernel name is registered twice, so a replacement first unregisters the
 * original and keeps it: the replacement delegates to it for the cases it does not speed up (by
 * calling the original function directly, never through the registry, so it cannot recurse into
 * itself). The original's `setupFunc` is carried over: the WASM kernels bind their C functions
 * there, when the backend starts, and a replacement registered before that must still bind them.
 *
 * Platform-neutral: no Node built-ins.
 */
import * as tf from '@tensorflow/tfjs';
import { kernelError } from './kernel-util.js';

const BACKEND = 'wasm';

/** One FedEx kernel. */
export interface FedexKernel {
  kernelName: string;
  /** `add`: the WASM backend lacks this kernel. `replace`: it has a slow one. */
  kind: 'add' | 'replace';
  /** Builds the kernel function; `original` runs the WASM backend's own kernel (replace only). */
  make(original: tf.KernelFunc): tf.KernelFunc;
}

/** Originals we displaced, by kernel name. */
const originals = new Map<string, tf.KernelConfig>();
/** Every kernel function FedEx built, to recognise our own registrations. */
const ours = new WeakSet<tf.KernelFunc>();

function missingOriginal(kernelName: string): tf.KernelFunc {
  return () => {
    throw kernelError(kernelName, 'the WASM backend has no original kernel to delegate this case to');
  };
}

/**
 * Registers `k` unless one of ours is already there. Returns true when a FedEx kernel is now
 * registered under its name; false when the backend already ships a native kernel we keep.
 */
export function install(k: FedexKernel): boolean {
  const current = tf.getKernel(k.kernelName, BACKEND);
  if (current && ours.has(current.kernelFunc)) return true;
  if (k.kind === 'add' && current) return false; // a newer tfjs provides it natively: keep that one
  let original = missingOriginal(k.kernelName);
  if (current) {
    originals.set(k.kernelName, current);
    original = current.kernelFunc;
    tf.unregisterKernel(k.kernelName, BACKEND);
  }
  const kernelFunc = k.make(original);
  ours.add(kernelFunc);
  tf.registerKernel({
    kernelName: k.kernelName,
    backendName: BACKEND,
    kernelFunc,
    setupFunc: current?.setupFunc,
    disposeFunc: current?.disposeFunc,
  });
  return true;
}

/** Removes our kernel for `kernelName` and puts the original back (if there was one). */
export function uninstall(kernelName: string): void {
  const current = tf.getKernel(kernelName, BACKEND);
  if (!current || !ours.has(current.kernelFunc)) return;
  tf.unregisterKernel(kernelName, BACKEND);
  const original = originals.get(kernelName);
  if (original) {
    tf.registerKernel(original);
    originals.delete(kernelName);
  }
}

/** The WASM backend's own kernel function we displaced, if any. */
export function originalKernel(kernelName: string): tf.KernelFunc | undefined {
  return originals.get(kernelName)?.kernelFunc;
}
