/**
 * Kernels suite for the bench runner: wraps `benchKernels()` (bench/kernels.ts) as table rows —
 * the FedEx WASM kernel's median ms, and the stock kernel's where one exists, as a speedup.
 */
import { benchKernels } from './kernels.js';
import type { BenchRow, BenchSuite } from './types.js';

export const kernelsSuite: BenchSuite = {
  name: 'kernels',
  summary: 'FedEx WASM training kernels vs the stock ones (ms, GFLOP/s, speedup)',
  async run() {
    const rows: BenchRow[] = [];
    for (const r of await benchKernels()) {
      const notes = [
        r.gflops !== undefined ? `${r.gflops.toFixed(1)} GFLOP/s` : undefined,
        r.baselineMs !== undefined
          ? `stock ${r.baselineMs.toFixed(2)} ms = ${(r.baselineMs / r.ms).toFixed(1)}x slower`
          : 'no stock kernel on wasm',
      ].filter(Boolean);
      rows.push({ suite: 'kernels', name: r.name, value: r.ms, unit: 'ms', note: notes.join(', ') });
    }
    return rows;
  },
};
