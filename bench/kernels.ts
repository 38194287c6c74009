/**
 * Micro-benchmark of the FedEx WASM kernels (src/runtime/kernels): each replaced kernel against
 * the stock WASM one on the same inputs, and the added kernels (which WASM lacks, so no baseline)
 * with their GFLOP/s. Median of several runs after warm-up; single-threaded WASM.
 *
 * Imported by the bench runner (`benchKernels()`), or standalone: `npx tsx bench/kernels.ts`.
 */
import { pathToFileURL } from 'node:url';
import { initRuntime, tf } from '../src/runtime/node.js';
import { registerWasmKernels, unregisterWasmKernels } from '../src/runtime/kernels/index.js';

export interface KernelBenchResult {
  name: string;
  /** Median milliseconds with the FedEx kernel. */
  ms: number;
  /** Useful GFLOP/s with the FedEx kernel (multiply-add = 2 flops), where it means something. */
  gflops?: number;
  /** Median milliseconds with the stock WASM kernel (replaced kernels only). */
  baselineMs?: number;
}

interface Case {
  name: string;
  /** Useful floating-point operations per call. */
  flops?: number;
  /** True for kernels the stock backend has (so a baseline exists). */
  replaced: boolean;
  run(): tf.Tensor | tf.Tensor[];
}

const RUNS = 7;
const WARMUP = 2;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function timeIt(run: () => tf.Tensor | tf.Tensor[], runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < WARMUP + runs; i++) {
    const t0 = performance.now();
    const out = run();
    // The WASM backend is synchronous: the work is done when the op returns.
    const ms = performance.now() - t0;
    tf.dispose(out);
    if (i >= WARMUP) times.push(ms);
  }
  return median(times);
}

function cases(): { list: Case[]; inputs: tf.Tensor[] } {
  const inputs: tf.Tensor[] = [];
  const r = (shape: number[]): tf.Tensor => {
    const t = tf.randomNormal(shape);
    inputs.push(t);
    return t;
  };
  const k = (name: string, ins: tf.NamedTensorMap, attrs: object) => () =>
    tf.engine().runKernel(name, ins, attrs as tf.NamedAttrMap) as tf.Tensor;
  const conv = (n: number, h: number, c: number, o: number, f: number, s: number) => {
    const x = r([n, h, h, c]);
    const w = r([f, f, c, o]);
    const oh = Math.ceil(h / s);
    const dy = r([n, oh, oh, o]);
    const flops = 2 * n * oh * oh * f * f * c * o;
    const attrs = { strides: s, pad: 'same', dataFormat: 'NHWC' };
    return { x, w, dy, flops, attrs, tag: `${n}x${h}x${h}x${c}->${o} ${f}x${f}/${s}` };
  };
  const c1 = conv(8, 14, 128, 128, 3, 1);
  const c2 = conv(8, 28, 64, 128, 3, 2);
  const c3 = conv(16, 14, 256, 256, 1, 1);
  const dw = (n: number, h: number, c: number, s: number) => {
    const x = r([n, h, h, c]);
    const w = r([3, 3, c, 1]);
    const oh = Math.ceil(h / s);
    const dy = r([n, oh, oh, c]);
    return { x, w, dy, flops: 2 * n * oh * oh * 9 * c, tag: `${n}x${h}x${h}x${c} 3x3/${s}` };
  };
  const d1 = dw(32, 14, 256, 1);
  const d2 = dw(32, 28, 144, 2);
  const list: Case[] = [];
  for (const c of [c1, c2, c3]) {
    list.push({
      name: `Conv2DBackpropInput ${c.tag}`,
      flops: c.flops,
      replaced: true,
      run: k('Conv2DBackpropInput', { dy: c.dy, filter: c.w }, { ...c.attrs, inputShape: c.x.shape }),
    });
  }
  for (const c of [c1, c2, c3]) {
    list.push({
      name: `Conv2DBackpropFilter ${c.tag}`,
      flops: c.flops,
      replaced: false,
      run: k('Conv2DBackpropFilter', { x: c.x, dy: c.dy }, { ...c.attrs, filterShape: c.w.shape }),
    });
  }
  for (const d of [d1, d2]) {
    const attrs = { strides: d.tag.endsWith('/2') ? 2 : 1, dilations: 1, pad: 'same' };
    list.push({
      name: `DepthwiseConv2dNativeBackpropInput ${d.tag}`,
      flops: d.flops,
      replaced: false,
      run: k(
        'DepthwiseConv2dNativeBackpropInput',
        { dy: d.dy, filter: d.w },
        { ...attrs, inputShape: d.x.shape },
      ),
    });
    list.push({
      name: `DepthwiseConv2dNativeBackpropFilter ${d.tag}`,
      flops: d.flops,
      replaced: false,
      run: k(
        'DepthwiseConv2dNativeBackpropFilter',
        { x: d.x, dy: d.dy },
        { ...attrs, filterShape: d.w.shape },
      ),
    });
  }
  const emb = r([4096, 128]);
  const ids = tf.randomUniform([4096], 0, 10000, 'int32');
  inputs.push(ids);
  list.push({
    name: 'UnsortedSegmentSum [4096,128] -> 10000 segments',
    replaced: false,
    run: () => tf.unsortedSegmentSum(emb, ids as tf.Tensor1D, 10000),
  });
  const bn = r([1, 1, 1, 256]);
  list.push({
    name: 'Tile [1,1,1,256] x [32,14,14,1]',
    replaced: true,
    run: () => tf.tile(bn, [32, 14, 14, 1]),
  });
  const t2 = r([64, 512]);
  list.push({ name: 'Tile [64,512] x [1,8]', replaced: true, run: () => tf.tile(t2, [1, 8]) });
  const act = r([32, 14, 14, 256]);
  list.push({
    name: 'StridedSlice [32,14,14,256] ::2 spatial',
    replaced: true,
    run: () => tf.stridedSlice(act, [0, 0, 0, 0], [32, 14, 14, 256], [1, 2, 2, 1]),
  });
  list.push({
    name: 'StridedSlice [32,14,14,256] channels 64:192',
    replaced: true,
    run: () => tf.stridedSlice(act, [0, 0, 0, 64], [32, 14, 14, 192], [1, 1, 1, 1]),
  });
  list.push({
    name: 'StridedSlice [32,14,14,256] reversed channels',
    replaced: true,
    run: () => tf.stridedSlice(act, [0, 0, 0, -1], [32, 14, 14, 0], [1, 1, 1, -1], 0, 8),
  });
  const x = r([256, 1024]);
  const dyDense = r([256, 512]);
  const wDense = r([1024, 512]);
  const mm = 2 * 256 * 1024 * 512;
  list.push({
    name: 'BatchMatMul [256,1024]^T [256,512] (dense dW)',
    flops: mm,
    replaced: true,
    run: () => tf.matMul(x, dyDense, true, false),
  });
  list.push({
    name: 'BatchMatMul [256,512] [1024,512]^T (dense dx)',
    flops: mm,
    replaced: true,
    run: () => tf.matMul(dyDense, wDense, false, true),
  });
  list.push({
    name: 'BatchMatMul [256,1024] [1024,512] (stock path)',
    flops: mm,
    replaced: true,
    run: () => tf.matMul(x, wDense),
  });
  const ba = r([16, 128, 128]);
  const bb = r([16, 128, 128]);
  list.push({
    name: 'BatchMatMul batched 16x[128,128]x[128,128]',
    flops: 2 * 16 * 128 ** 3,
    replaced: true,
    run: () => tf.matMul(ba, bb),
  });
  return { list, inputs };
}

/**
 * Times every FedEx kernel on the WASM backend, against the stock kernel where there is one.
 * Leaves the FedEx kernels registered and the previous backend active.
 */
export async function benchKernels(): Promise<KernelBenchResult[]> {
  await initRuntime({ backend: 'wasm' });
  const previous = tf.getBackend();
  if (previous !== 'wasm') await tf.setBackend('wasm');
  registerWasmKernels();
  const { list, inputs } = cases();
  const results: KernelBenchResult[] = [];
  try {
    for (const c of list) {
      const ms = timeIt(c.run, RUNS);
      let baselineMs: number | undefined;
      if (c.replaced) {
        unregisterWasmKernels();
        try {
          baselineMs = timeIt(c.run, Math.min(RUNS, 5));
        } finally {
          registerWasmKernels();
        }
      }
      results.push({ name: c.name, ms, gflops: c.flops ? c.flops / ms / 1e6 : undefined, baselineMs });
    }
  } finally {
    tf.dispose(inputs);
    if (previous !== 'wasm') await tf.setBackend(previous);
  }
  return results;
}

function printTable(rows: KernelBenchResult[]): void {
  const f = (v: number | undefined, d = 2) => (v === undefined ? '-' : v.toFixed(d));
  const w = Math.max(...rows.map((r) => r.name.length));
  console.log(
    `${'kernel'.padEnd(w)}  ${'ms'.padStart(8)}  ${'GFLOP/s'.padStart(8)}  ${'stock ms'.padStart(9)}  speedup`,
  );
  for (const r of rows) {
    const speedup = r.baselineMs === undefined ? '-' : `${(r.baselineMs / r.ms).toFixed(1)}x`;
    console.log(
      `${r.name.padEnd(w)}  ${f(r.ms).padStart(8)}  ${f(r.gflops, 1).padStart(8)}  ${f(r.baselineMs).padStart(9)}  ${speedup}`,
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable(await benchKernels());
}
