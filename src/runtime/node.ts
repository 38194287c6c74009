/**
 * TensorFlow.js runtime for Node. One call, `initRuntime()`, picks the backend and proves it is
 * the one asked for: tfjs silently falls back to the pure-JS `cpu` backend (25-35x slower) when
 * WASM fails to start, so we check `tf.getBackend()` and throw `RUNTIME_BACKEND` instead.
 *
 * Backends, by `backend` option or the `FEDEX_BACKEND` environment variable:
 * - `auto` (default): `@tensorflow/tfjs-node` when the user has installed it, else `wasm`.
 * - `wasm`: `@tensorflow/tfjs-backend-wasm`, loading the `.wasm` files from the package's own
 *   `dist/` folder (never from the network), plus the FedEx kernels (training kernels WASM lacks).
 * - `tensorflow`: require `@tensorflow/tfjs-node` (fails loudly when it is not installed).
 * - `cpu`: the pure-JS reference backend; for numerical checks in tests only.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import path from 'node:path';
import { FedexError } from '../core/errors.js';
import { registerWasmKernels } from './kernels/index.js';

export type BackendChoice = 'auto' | 'wasm' | 'tensorflow' | 'cpu';

export interface RuntimeInfo {
  /** The active tfjs backend (`wasm`, `tensorflow` or `cpu`). */
  backend: string;
  /** tfjs version. */
  version: string;
  /** Kernels FedEx registered on top of the backend. */
  kernels: string[];
}

const require = createRequire(import.meta.url);
let current: { choice: BackendChoice; info: Promise<RuntimeInfo> } | undefined;

/** The folder holding the WASM backend's `.wasm` files, inside node_modules. */
export function wasmDir(): string {
  return (
    path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep
  );
}

function parseChoice(value: string | undefined): BackendChoice {
  const v = (value ?? 'auto').trim() || 'auto';
  if (v === 'auto' || v === 'wasm' || v === 'tensorflow' || v === 'cpu') return v;
  throw new FedexError('BAD_ARGUMENT', `FEDEX_BACKEND must be auto, wasm, tensorflow or cpu; got "${v}"`);
}

async function tryTfjsNode(): Promise<boolean> {
  try {
    // Optional dependency, never required: a user with internet access may have installed it.
    const name = '@tensorflow/tfjs-node';
    await import(/* @vite-ignore */ name);
    return tf.findBackend('tensorflow') !== null || tf.engine().registryFactory['tensorflow'] !== undefined;
  } catch {
    return false;
  }
}

async function start(choice: BackendChoice): Promise<RuntimeInfo> {
  let want: 'wasm' | 'tensorflow' | 'cpu' = choice === 'auto' ? 'wasm' : choice;
  if (choice === 'auto' || choice === 'tensorflow') {
    const ok = await tryTfjsNode();
    if (ok) want = 'tensorflow';
    else if (choice === 'tensorflow')
      throw new FedexError(
        'RUNTIME_BACKEND',
        'backend "tensorflow" asked for, but @tensorflow/tfjs-node is not installed (npm i @tensorflow/tfjs-node)',
      );
  }
  let kernels: string[] = [];
  if (want === 'wasm') {
    setWasmPaths(wasmDir());
    kernels = registerWasmKernels();
  }
  let ok = false;
  try {
    ok = await tf.setBackend(want);
    await tf.ready();
  } catch (cause) {
    throw new FedexError('RUNTIME_BACKEND', `tfjs backend "${want}" failed to initialise`, { cause });
  }
  if (!ok || tf.getBackend() !== want) {
    throw new FedexError(
      'RUNTIME_BACKEND',
      `tfjs backend "${want}" did not start (active: "${tf.getBackend()}"); refusing the slow fallback`,
    );
  }
  return { backend: want, version: tf.version_core, kernels };
}

/**
 * Initialises TensorFlow.js once per process and returns what is running. Calling it again with
 * the same choice returns the same promise; a different choice switches backend.
 *
 * @example
 * const rt = await initRuntime();   // { backend: 'wasm', ... } on a stock install
 */
export function initRuntime(options: { backend?: BackendChoice } = {}): Promise<RuntimeInfo> {
  const choice = options.backend ?? parseChoice(process.env.FEDEX_BACKEND);
  if (current && current.choice === choice) return current.info;
  const info = start(choice);
  current = { choice, info };
  info.catch(() => {
    if (current?.info === info) current = undefined;
  });
  return info;
}

export { tf };
