/**
 * TensorFlow.js runtime for the browser, the twin of ./node.ts: `initBrowserRuntime()` points the
 * WASM backend at a URL serving its `.wasm` files (the FedEx server serves them at `/sdk/wasm/`),
 * registers the FedEx kernels, starts the backend and proves it is the one asked for. tfjs falls
 * back silently to the pure-JS `cpu` backend (25-35x slower) when WASM cannot start; we throw
 * `RUNTIME_BACKEND` instead.
 *
 * WASM, not WebGL, by default: it needs no GPU, gives the same numbers as Node's backend (the
 * features a device uploads must match what the server saw in development), and is as fast as
 * WebGL on the CPUs we measured. Must not import Node built-ins.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { FedexError } from '../core/errors.js';
import { registerWasmKernels } from './kernels/index.js';

/** Options of `initBrowserRuntime`. */
export interface BrowserRuntimeOptions {
  /**
   * `wasm` (default) or `webgl`/`cpu` for experiments. WebGL needs a GPU the page can use; `cpu`
   * is the pure-JS reference backend.
   */
  backend?: 'wasm' | 'webgl' | 'cpu';
  /**
   * URL of the folder holding `tfjs-backend-wasm*.wasm` (ending in `/`). Default: `/sdk/wasm/` on
   * the page's origin, where the FedEx server serves them.
   */
  wasmUrl?: string;
}

/** What is running after `initBrowserRuntime`. */
export interface BrowserRuntimeInfo {
  backend: string;
  version: string;
  /** Kernels FedEx registered on top of the backend. */
  kernels: string[];
}

/** Default of `wasmUrl`, relative to the page's origin. */
export const DEFAULT_WASM_PATH = '/sdk/wasm/';

let current: { key: string; info: Promise<BrowserRuntimeInfo> } | undefined;

async function start(backend: 'wasm' | 'webgl' | 'cpu', wasmUrl: string): Promise<BrowserRuntimeInfo> {
  let kernels: string[] = [];
  if (backend === 'wasm') {
    setWasmPaths(wasmUrl);
    kernels = registerWasmKernels();
  }
  let ok = false;
  try {
    ok = await tf.setBackend(backend);
    await tf.ready();
  } catch (cause) {
    throw new FedexError('RUNTIME_BACKEND', `tfjs backend "${backend}" failed to initialise`, { cause });
  }
  if (!ok || tf.getBackend() !== backend) {
    throw new FedexError(
      'RUNTIME_BACKEND',
      `tfjs backend "${backend}" did not start (active: "${tf.getBackend()}"; wasm files from ${wasmUrl}); ` +
        'refusing the slow fallback',
    );
  }
  return { backend, version: tf.version_core, kernels };
}

/**
 * Initialises TensorFlow.js once per page. Calling it again with the same options returns the same
 * promise.
 *
 * @throws FedexError RUNTIME_BACKEND (the backend did not start, e.g. the `.wasm` files 404).
 * @example
 * await initBrowserRuntime({ wasmUrl: 'https://fedex.example.org/sdk/wasm/' });
 */
export function initBrowserRuntime(options: BrowserRuntimeOptions = {}): Promise<BrowserRuntimeInfo> {
  const backend = options.backend ?? 'wasm';
  const base = options.wasmUrl ?? new URL(DEFAULT_WASM_PATH, globalThis.location?.href).href;
  const wasmUrl = base.endsWith('/') ? base : `${base}/`;
  const key = `${backend} ${wasmUrl}`;
  if (current && current.key === key) return current.info;
  const info = start(backend, wasmUrl);
  current = { key, info };
  info.catch(() => {
    if (current?.info === info) current = undefined;
  });
  return info;
}

export { tf };
