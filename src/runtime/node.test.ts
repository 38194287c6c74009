import { describe, expect, it } from 'vitest';
import { isFedexError } from '../core/errors.js';
import { initRuntime, tf, wasmDir } from './node.js';
import { existsSync } from 'node:fs';
import path from 'node:path';

describe('initRuntime (Node)', () => {
  it('starts the WASM backend from the package files and reports it', async () => {
    // Prepare: the wasm files must come from node_modules, never the network.
    expect(existsSync(path.join(wasmDir(), 'tfjs-backend-wasm-simd.wasm'))).toBe(true);

    // Execute
    const info = await initRuntime({ backend: 'wasm' });

    // Assert
    expect(info.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    const y = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).dataSync()[0]);
    expect(y).toBe(11);
  });

  it('returns the same runtime when called twice', async () => {
    const a = initRuntime({ backend: 'wasm' });
    const b = initRuntime({ backend: 'wasm' });
    expect(a).toBe(b);
    await a;
  });

  it('fails loudly when tfjs-node is demanded but not installed', async () => {
    // tfjs-node cannot install on these machines; a user who has it gets it, nobody gets a silent fallback.
    let hasTfjsNode = true;
    try {
      await import('@tensorflow/tfjs-node' as string);
    } catch {
      hasTfjsNode = false;
    }
    if (hasTfjsNode) return;
    await expect(initRuntime({ backend: 'tensorflow' })).rejects.toSatisfy((e: unknown) =>
      isFedexError(e, 'RUNTIME_BACKEND'),
    );
    // The failed attempt leaves the working backend usable.
    await initRuntime({ backend: 'wasm' });
    expect(tf.getBackend()).toBe('wasm');
  });

  it('rejects an unknown FEDEX_BACKEND value with BAD_ARGUMENT', () => {
    const saved = process.env.FEDEX_BACKEND;
    process.env.FEDEX_BACKEND = 'gpu-please';
    try {
      expect(() => initRuntime()).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
    } finally {
      if (saved === undefined) delete process.env.FEDEX_BACKEND;
      else process.env.FEDEX_BACKEND = saved;
    }
  });
});
