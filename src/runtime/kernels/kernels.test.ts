/**
 * The FedEx WASM kernels against the tfjs `cpu` backend (the reference): the same random inputs
 * run on both backends, outputs and gradients must agree to 1e-4 of their scale, and no kernel may
 * leave a tensor behind. Where the `cpu` kernel itself is wrong (StridedSlice with a shrink axis
 * next to a non-unit stride; BatchMatMul broadcasting [2,1] against [1,3] batch dims;
 * depthwise gradients with dilation) the reference is built from other ops on `cpu`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { isFedexError } from '../../core/errors.js';
import { createRng } from '../../core/random.js';
import { initRuntime, tf } from '../node.js';
import { FEDEX_WASM_KERNELS, originalKernel, registerWasmKernels, unregisterWasmKernels } from './index.js';

type Backend = 'cpu' | 'wasm';
type Out = tf.Tensor | tf.Tensor[];

interface Spec {
  shape: number[];
  dtype?: 'float32' | 'int32' | 'bool';
  values?: number[];
}

interface Run {
  outs: Array<{ shape: number[]; values: Float32Array | Int32Array | Uint8Array }>;
  leaked: number;
}

const rng = createRng(20261125);
const randn = (n: number): number[] => Array.from({ length: n }, () => rng() * 2 - 1);

/** Concrete values for each spec (random in [-1, 1) unless given), fixed for both backends. */
function materialise(specs: Spec[]): Array<{ spec: Spec; values: number[] }> {
  return specs.map((spec) => ({
    spec,
    values: spec.values ?? randn(spec.shape.reduce((a, b) => a * b, 1)),
  }));
}

async function runOn(
  backend: Backend,
  inputs: Array<{ spec: Spec; values: number[] }>,
  f: (...t: tf.Tensor[]) => Out,
): Promise<Run> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const ts = inputs.map(({ spec, values }) => tf.tensor(values, spec.shape, spec.dtype ?? 'float32'));
  const result = [f(...ts)].flat();
  const outs = result.map((t) => ({
    shape: t.shape,
    values: t.dataSync() as Float32Array | Int32Array | Uint8Array,
  }));
  tf.dispose(result);
  tf.dispose(ts);
  return { outs, leaked: tf.memory().numTensors - before };
}

/** Largest |a - b| and the largest |a| over all outputs; shapes must match. */
function compare(got: Run, want: Run): { diff: number; scale: number } {
  expect(got.outs.map((o) => o.shape)).toEqual(want.outs.map((o) => o.shape));
  let diff = 0;
  let scale = 0;
  want.outs.forEach((w, i) => {
    const g = got.outs[i].values;
    for (let j = 0; j < w.values.length; j++) {
      diff = Math.max(diff, Math.abs(g[j] - w.values[j]));
      scale = Math.max(scale, Math.abs(w.values[j]));
    }
  });
  return { diff, scale };
}

function expectClose(got: Run, want: Run, rel = 1e-4): void {
  const { diff, scale } = compare(got, want);
  expect(diff).toBeLessThanOrEqual(rel * Math.max(1, scale));
  expect(got.leaked).toBe(0);
}

/** Runs `f` on cpu and on wasm with the same inputs; `ref` (default `f`) is the cpu reference. */
async function crossCheck(
  specs: Spec[],
  f: (...t: tf.Tensor[]) => Out,
  ref: (...t: tf.Tensor[]) => Out = f,
  rel = 1e-4,
): Promise<void> {
  const inputs = materialise(specs);
  const want = await runOn('cpu', inputs, ref);
  const got = await runOn('wasm', inputs, f);
  expectClose(got, want, rel);
}

/** Gradients of sum(f(x, w) * r) w.r.t. x and w, with r a fixed random upstream gradient. */
function gradsOf(op: (x: tf.Tensor, w: tf.Tensor) => tf.Tensor, r: number[]) {
  return (x: tf.Tensor, w: tf.Tensor): tf.Tensor[] => {
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => {
      const y = op(a, b);
      return tf.sum(tf.mul(y, tf.tensor(r.slice(0, y.size), y.shape)));
    });
    return g([x, w]);
  };
}

async function expectKernelError(f: () => unknown): Promise<void> {
  await tf.setBackend('wasm');
  let caught: unknown;
  try {
    tf.dispose(f() as Out);
  } catch (e) {
    caught = e;
  }
  expect(isFedexError(caught, 'RUNTIME_KERNEL')).toBe(true);
}

const UPSTREAM = randn(20000);

beforeAll(async () => {
  await initRuntime({ backend: 'wasm' });
  // Makes the engine check every kernel call for data ids it leaves behind.
  tf.env().set('IS_TEST', true);
});

describe('registerWasmKernels', () => {
  it('registers the missing and the replaced kernels, and is idempotent', async () => {
    const names = FEDEX_WASM_KERNELS.map((k) => k.kernelName);
    expect(registerWasmKernels()).toEqual(names);
    expect(registerWasmKernels()).toEqual(names);
    for (const name of names) expect(tf.getKernel(name, 'wasm')).toBeDefined();
    for (const name of ['Conv2DBackpropInput', 'Tile', 'StridedSlice', 'BatchMatMul']) {
      const original = originalKernel(name);
      expect(original).toBeDefined();
      expect(tf.getKernel(name, 'wasm').kernelFunc).not.toBe(original);
    }
  });

  it('puts the stock kernels back on unregister and installs ours again on register', async () => {
    unregisterWasmKernels();
    try {
      expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
      const stockTile = tf.getKernel('Tile', 'wasm').kernelFunc;
      await crossCheck([{ shape: [2, 3] }], (x) => tf.tile(x, [2, 2]));
      expect(originalKernel('Tile')).toBeUndefined();
      registerWasmKernels();
      expect(originalKernel('Tile')).toBe(stockTile);
    } finally {
      registerWasmKernels();
    }
    await crossCheck([{ shape: [2, 3] }], (x) => tf.tile(x, [2, 2]));
  });
});

describe('kernels called with bare TensorInfo inputs', () => {
  it('compute the same result, keep the inputs alive and leave no tensor behind', async () => {
    await tf.setBackend('wasm');
    const x = tf.randomNormal([1, 5, 6, 2]);
    const dy = tf.randomNormal([1, 5, 6, 3]);
    const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 2, 3] };
    const want = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs) as tf.Tensor;
    const before = tf.memory().numTensors;
    const info = (t: tf.Tensor): tf.TensorInfo => ({ dataId: t.dataId, shape: t.shape, dtype: t.dtype });
    const kernel = tf.getKernel('Conv2DBackpropFilter', 'wasm');
    const got = kernel.kernelFunc({
      inputs: { x: info(x), dy: info(dy) },
      backend: tf.backend(),
      attrs,
    }) as tf.Tensor;
    expect(Array.from(got.dataSync())).toEqual(Array.from(want.dataSync()));
    got.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(x.dataSync().length).toBe(60);
    tf.dispose([x, dy, want]);
  });
});

describe('Conv2DBackpropFilter and Conv2DBackpropInput', () => {
  const shapes: Array<{ x: number[]; w: number[] }> = [
    { x: [2, 9, 10, 3], w: [3, 3, 3, 4] },
    { x: [1, 11, 8, 5], w: [5, 4, 5, 2] },
    { x: [3, 7, 7, 4], w: [1, 1, 4, 6] },
    { x: [2, 8, 9, 2], w: [2, 2, 2, 3] },
  ];
  for (const s of shapes) {
    for (const stride of [1, 2, 3]) {
      for (const pad of ['same', 'valid'] as const) {
        it(`match cpu for x [${s.x}] filter [${s.w}] stride ${stride} ${pad}`, async () => {
          const op = (x: tf.Tensor, w: tf.Tensor) =>
            tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad);
          await crossCheck([{ shape: s.x }, { shape: s.w }], gradsOf(op, UPSTREAM));
        });
      }
    }
  }

  it('match cpu for non-square strides and explicit padding', async () => {
    const pad: tf.Conv2DAttrs['pad'] = [
      [0, 0],
      [2, 1],
      [0, 3],
      [0, 0],
    ];
    const op = (x: tf.Tensor, w: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, [2, 3], pad);
    await crossCheck([{ shape: [2, 10, 11, 3] }, { shape: [3, 4, 3, 5] }], gradsOf(op, UPSTREAM));
  });

  it('match cpu for numeric padding with a rounding mode, also when the gradient drops the mode', async () => {
    // tfjs's conv2d gradient does not pass dimRoundingMode on; the kernels recover it from dy's
    // shape. The reference is the cpu kernels called with the mode.
    const attrs = { strides: 2, pad: 1, dataFormat: 'NHWC', dimRoundingMode: 'ceil' };
    const xShape = [1, 8, 9, 2];
    const filterShape = [3, 3, 2, 3];
    const dyShape = [1, 5, 5, 3];
    const byKernels = (x: tf.Tensor, w: tf.Tensor, dy: tf.Tensor) => [
      tf
        .engine()
        .runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: xShape }) as tf.Tensor,
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape }) as tf.Tensor,
    ];
    const specs = [{ shape: xShape }, { shape: filterShape }, { shape: dyShape }];
    await crossCheck(specs, byKernels);
    const byGradient = (x: tf.Tensor, w: tf.Tensor, dy: tf.Tensor) =>
      tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 1, 'NHWC', 1, 'ceil'), dy)),
      )([x, w]);
    await crossCheck(specs, byGradient, byKernels);
  });

  it('match cpu through conv2dTranspose', async () => {
    const f = (dy: tf.Tensor, w: tf.Tensor) =>
      tf.conv2dTranspose(dy as tf.Tensor4D, w as tf.Tensor4D, [2, 13, 12, 3], 2, 'same');
    await crossCheck([{ shape: [2, 7, 6, 4] }, { shape: [3, 3, 3, 4] }], f);
  });

  it('match cpu for NCHW when called as kernels', async () => {
    const xShape = [2, 3, 9, 8];
    const filterShape = [3, 3, 3, 4];
    const attrs = { strides: 2, pad: 'same', dataFormat: 'NCHW' };
    await crossCheck(
      [{ shape: xShape }, { shape: [2, 4, 5, 4] }],
      (x, dy) =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape }) as tf.Tensor,
    );
    await crossCheck(
      [{ shape: [2, 4, 5, 4] }, { shape: filterShape }],
      (dy, filter) =>
        tf
          .engine()
          .runKernel('Conv2DBackpropInput', { dy, filter }, { ...attrs, inputShape: xShape }) as tf.Tensor,
    );
  });

  it('refuse a dilations attribute other than 1 with RUNTIME_KERNEL', async () => {
    const x = tf.zeros([1, 5, 5, 1]);
    const dy = tf.zeros([1, 5, 5, 1]);
    const w = tf.zeros([3, 3, 1, 1]);
    const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 2 };
    await expectKernelError(() =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: [3, 3, 1, 1] }),
    );
    await expectKernelError(() =>
      tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: [1, 5, 5, 1] }),
    );
    tf.dispose([x, dy, w]);
  });
});

describe('DepthwiseConv2dNativeBackpropFilter and DepthwiseConv2dNativeBackpropInput', () => {
  for (const mul of [1, 2]) {
    for (const stride of [1, 2, 3]) {
      for (const pad of ['same', 'valid'] as const) {
        it(`match cpu for depth multiplier ${mul} stride ${stride} ${pad}`, async () => {
          const op = (x: tf.Tensor, w: tf.Tensor) =>
            tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad);
          await crossCheck([{ shape: [2, 9, 10, 3] }, { shape: [3, 3, 3, mul] }], gradsOf(op, UPSTREAM));
        });
      }
    }
  }

  it('match cpu for a 5x5 filter, a 2x2 filter at stride 3 and a 1x1 filter', async () => {
    for (const [w, stride] of [
      [[5, 5, 4, 1], 2],
      [[2, 2, 4, 2], 3],
      [[1, 1, 4, 1], 2],
    ] as const) {
      const op = (x: tf.Tensor, f: tf.Tensor) =>
        tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, stride, 'same');
      await crossCheck([{ shape: [2, 11, 9, 4] }, { shape: [...w] }], gradsOf(op, UPSTREAM));
    }
  });

  it('match a zero-dilated filter on cpu for dilation 2', async () => {
    // The cpu kernels ignore dilations, so the reference is the same convolution written with an
    // explicitly dilated 5x5 filter (dilation 1): same dx, and dW at the even taps.
    const xShape = [2, 9, 8, 3];
    const dyShape = [2, 9, 8, 6];
    const attrs = { strides: 1, dilations: 2, pad: 'same' };
    /** Zeros between the rows of axis 0: [a, ...] -> [2a - 1, ...]. */
    const dilate = (w: tf.Tensor) => {
      const [a, ...rest] = w.shape;
      const both = tf.stack([w, tf.zerosLike(w)], 1).reshape([2 * a, ...rest]);
      return tf.stridedSlice(both, [0, 0, 0, 0], [2 * a - 1, ...rest]);
    };
    const dilated = (w: tf.Tensor) => {
      const rows = dilate(w); // [5, 3, 3, 2]
      return dilate(rows.transpose([1, 0, 2, 3])).transpose([1, 0, 2, 3]); // [5, 5, 3, 2]
    };
    await crossCheck(
      [{ shape: dyShape }, { shape: [3, 3, 3, 2] }],
      (dy, w) =>
        tf
          .engine()
          .runKernel(
            'DepthwiseConv2dNativeBackpropInput',
            { dy, filter: w },
            { ...attrs, inputShape: xShape },
          ) as tf.Tensor,
      (dy, w) =>
        tf
          .engine()
          .runKernel(
            'DepthwiseConv2dNativeBackpropInput',
            { dy, filter: dilated(w) },
            { strides: 1, dilations: 1, pad: 'same', inputShape: xShape },
          ) as tf.Tensor,
    );
    await crossCheck(
      [{ shape: xShape }, { shape: dyShape }],
      (x, dy) =>
        tf
          .engine()
          .runKernel(
            'DepthwiseConv2dNativeBackpropFilter',
            { x, dy },
            { ...attrs, filterShape: [3, 3, 3, 2] },
          ) as tf.Tensor,
      (x, dy) => {
        const full = tf
          .engine()
          .runKernel(
            'DepthwiseConv2dNativeBackpropFilter',
            { x, dy },
            { strides: 1, dilations: 1, pad: 'same', filterShape: [5, 5, 3, 2] },
          ) as tf.Tensor;
        return tf.stridedSlice(full, [0, 0, 0, 0], [5, 5, 3, 2], [2, 2, 1, 1]);
      },
    );
  });

  it('refuse strides and dilations both above 1 with RUNTIME_KERNEL', async () => {
    const x = tf.zeros([1, 8, 8, 2]);
    const dy = tf.zeros([1, 4, 4, 2]);
    const w = tf.zeros([3, 3, 2, 1]);
    const attrs = { strides: 2, dilations: 2, pad: 'same' };
    await expectKernelError(() =>
      tf
        .engine()
        .runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...attrs, filterShape: [3, 3, 2, 1] }),
    );
    await expectKernelError(() =>
      tf
        .engine()
        .runKernel(
          'DepthwiseConv2dNativeBackpropInput',
          { dy, filter: w },
          { ...attrs, inputShape: [1, 8, 8, 2] },
        ),
    );
    tf.dispose([x, dy, w]);
  });
});

describe('UnsortedSegmentSum', () => {
  it('matches cpu through tf.unsortedSegmentSum, dropping out-of-range ids', async () => {
    const ids = [0, 2, 2, 1, 0, 4, 4, 4, -1, 9, 3, 3];
    await crossCheck([{ shape: [12, 3, 2] }, { shape: [12], dtype: 'int32', values: ids }], (x, i) =>
      tf.unsortedSegmentSum(x, i as tf.Tensor1D, 6),
    );
    await crossCheck(
      [
        { shape: [12], dtype: 'int32', values: ids.map((v) => v * 3) },
        { shape: [12], dtype: 'int32', values: ids },
      ],
      (x, i) => tf.unsortedSegmentSum(x, i as tf.Tensor1D, 5),
    );
  });

  it('matches cpu as the gradient of tf.gather on axis 0 and axis 1', async () => {
    const idx = [0, 5, 5, 2, 3, 0, 1];
    await crossCheck([{ shape: [6, 4] }], (p) =>
      tf.grad((q: tf.Tensor) =>
        tf.sum(tf.mul(tf.gather(q, tf.tensor1d(idx, 'int32')), tf.tensor(UPSTREAM.slice(0, 28), [7, 4]))),
      )(p),
    );
    await crossCheck([{ shape: [3, 6, 2] }], (p) =>
      tf.grad((q: tf.Tensor) =>
        tf.sum(
          tf.mul(tf.gather(q, tf.tensor1d(idx, 'int32'), 1), tf.tensor(UPSTREAM.slice(0, 42), [3, 7, 2])),
        ),
      )(p),
    );
  });
});

describe('Tile', () => {
  const cases: Array<{ shape: number[]; reps: number[]; dtype?: 'float32' | 'int32' | 'bool' }> = [
    { shape: [1, 1, 1, 5], reps: [2, 3, 4, 1] },
    { shape: [2, 1, 3], reps: [2, 3, 2] },
    { shape: [4], reps: [3] },
    { shape: [3, 2], reps: [1, 1] },
    { shape: [2, 3, 1, 2, 2], reps: [1, 2, 3, 1, 2] },
    { shape: [2, 2], reps: [3, 2], dtype: 'int32' },
    { shape: [2, 3], reps: [2, 2], dtype: 'bool' },
    { shape: [2, 0, 3], reps: [2, 2, 1] },
  ];
  for (const c of cases) {
    it(`matches cpu for [${c.shape}] x [${c.reps}] ${c.dtype ?? 'float32'}`, async () => {
      const n = c.shape.reduce((a, b) => a * b, 1);
      const values = c.dtype
        ? Array.from({ length: n }, (_, i) => (c.dtype === 'bool' ? i % 2 : i * 7 - 11))
        : undefined;
      await crossCheck([{ shape: c.shape, dtype: c.dtype, values }], (x) => tf.tile(x, c.reps));
    });
  }

  it('matches cpu in the batch-norm gradient', async () => {
    const f = (x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor) =>
      tf.grads((a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, s: tf.Tensor, o: tf.Tensor) =>
        tf.sum(
          tf.mul(
            tf.batchNorm(a, m, tf.abs(v), o, s, 1e-3),
            tf.tensor(UPSTREAM.slice(0, 2 * 5 * 4 * 6), [2, 5, 4, 6]),
          ),
        ),
      )([x, mean, variance, scale, offset]);
    await crossCheck(
      [{ shape: [2, 5, 4, 6] }, { shape: [6] }, { shape: [6] }, { shape: [6] }, { shape: [6] }],
      f,
    );
  });

  it('tiles strings', async () => {
    await tf.setBackend('wasm');
    const t = tf.tensor(['a', 'b', 'c', 'd'], [2, 2], 'string');
    const y = tf.tile(t, [2, 1]);
    expect(y.arraySync()).toEqual([
      ['a', 'b'],
      ['c', 'd'],
      ['a', 'b'],
      ['c', 'd'],
    ]);
    tf.dispose([t, y]);
  });
});

describe('StridedSlice', () => {
  interface SliceCase {
    begin: number[];
    end: number[];
    strides?: number[];
    beginMask?: number;
    endMask?: number;
    ellipsisMask?: number;
    newAxisMask?: number;
    shrinkAxisMask?: number;
  }
  const x = [4, 5, 6, 7];
  const slice = (c: SliceCase) => (t: tf.Tensor) =>
    tf.stridedSlice(
      t,
      c.begin,
      c.end,
      c.strides,
      c.beginMask,
      c.endMask,
      c.ellipsisMask,
      c.newAxisMask,
      c.shrinkAxisMask,
    );
  const cases: SliceCase[] = [
    { begin: [0, 0, 0, 10], end: [4, 5, 6, 20] },
    { begin: [1, 0, 0, 0], end: [3, 5, 6, 7] },
    { begin: [0, 0, 0, 0], end: [4, 5, 6, 7], strides: [1, 2, 2, 1] },
    { begin: [1, -1, 0, 5], end: [4, 0, 6, 1], strides: [2, -2, 1, -1] },
    { begin: [0, 0, 0, -1], end: [4, 5, 6, 0], strides: [1, 1, 1, -1], endMask: 8 },
    { begin: [3, 4, 5, 6], end: [0, 0, 0, 0], strides: [-1, -1, -1, -1], endMask: 15 },
    { begin: [0, 1, 0, 0], end: [0, 4, 0, 0], strides: [1, 1, 1, 3], beginMask: 13, endMask: 13 },
    { begin: [1, 2], end: [3, 5], strides: [1, 2], ellipsisMask: 1 },
    { begin: [0, 1, 0], end: [2, 4, 3], strides: [1, 1, 2], newAxisMask: 1 },
    { begin: [2, 0, 0, 0], end: [3, 5, 6, 7], shrinkAxisMask: 1 },
    { begin: [0, 0, 0, 0], end: [4, 5, 6, 7], strides: [3, 1, 2, 1], beginMask: 15, endMask: 15 },
    { begin: [0, 0, 0, 0], end: [4, 5, 6, 7], strides: [1, 1, 1, 1] },
    { begin: [2, 0, 0, 0], end: [2, 5, 6, 7] },
  ];
  for (const c of cases) {
    it(`matches cpu for ${JSON.stringify(c)}`, async () => {
      await crossCheck([{ shape: x }], slice(c));
    });
  }

  it('matches an unshrunk slice where the stock kernels misread a shrink axis next to a stride', async () => {
    // The stock cpu and wasm kernels index with the shrunk shape here and return wrong values.
    const shrunk: SliceCase = {
      begin: [1, 0, 2, 0],
      end: [3, 5, 3, 7],
      strides: [1, 1, 1, 3],
      shrinkAxisMask: 4,
    };
    const kept: SliceCase = { ...shrunk, shrinkAxisMask: 0 };
    await crossCheck([{ shape: x }], slice(shrunk), (t) => slice(kept)(t).reshape([2, 5, 3]));
    const negative: SliceCase = {
      begin: [0, -2, 0, 0],
      end: [4, 0, 6, 7],
      strides: [2, 1, -2, 1],
      shrinkAxisMask: 2,
      beginMask: 4,
      endMask: 4,
    };
    const negKept: SliceCase = {
      begin: [0, 3, 0, 0],
      end: [4, 4, 6, 7],
      strides: [2, 1, -2, 1],
      beginMask: 4,
      endMask: 4,
    };
    await crossCheck([{ shape: x }], slice(negative), (t) => slice(negKept)(t).reshape([2, 6 / 2, 7]));
  });

  it('keeps int32 and bool dtypes and slices strings', async () => {
    const n = 4 * 5 * 6 * 7;
    const c: SliceCase = { begin: [0, 1, 0, 1], end: [4, 5, 6, 7], strides: [2, 2, 3, 2] };
    await crossCheck(
      [{ shape: x, dtype: 'int32', values: Array.from({ length: n }, (_, i) => i - 100) }],
      slice(c),
    );
    await crossCheck(
      [{ shape: x, dtype: 'bool', values: Array.from({ length: n }, (_, i) => ((i * 7) % 3 === 0 ? 1 : 0)) }],
      slice(c),
    );
    await tf.setBackend('wasm');
    const s = tf.tensor(['a', 'b', 'c', 'd'], [4], 'string');
    const y = tf.stridedSlice(s, [3], [0], [-2]);
    expect(y.arraySync()).toEqual(['d', 'b']);
    tf.dispose([s, y]);
  });
});

describe('BatchMatMul', () => {
  for (const [ta, tb] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as const) {
    it(`matches cpu for 2-D transposeA=${ta} transposeB=${tb}`, async () => {
      const a = ta ? [37, 23] : [23, 37];
      const b = tb ? [19, 37] : [37, 19];
      await crossCheck([{ shape: a }, { shape: b }], (x, y) => tf.matMul(x, y, ta, tb));
    });
    it(`matches cpu for batched transposeA=${ta} transposeB=${tb}, large and small matrices`, async () => {
      for (const [m, k, n] of [
        [40, 50, 45],
        [3, 4, 5],
      ]) {
        const a = ta ? [2, 3, k, m] : [2, 3, m, k];
        const b = tb ? [2, 3, n, k] : [2, 3, k, n];
        await crossCheck([{ shape: a }, { shape: b }], (x, y) => tf.matMul(x, y, ta, tb));
      }
    });
  }

  it('matches cpu when one side has a batch of 1', async () => {
    await crossCheck([{ shape: [4, 30, 20] }, { shape: [1, 20, 35] }], (x, y) => tf.matMul(x, y));
    await crossCheck([{ shape: [1, 30, 20] }, { shape: [4, 35, 20] }], (x, y) =>
      tf.matMul(x, y, false, true),
    );
    await crossCheck([{ shape: [30, 20] }, { shape: [3, 20, 35] }], (x, y) => tf.matMul(x, y));
    await crossCheck([{ shape: [1, 3, 5] }, { shape: [4, 5, 2] }], (x, y) => tf.matMul(x, y));
    await crossCheck([{ shape: [4, 5, 3] }, { shape: [2, 5] }], (x, y) => tf.matMul(x, y, true, true));
  });

  it('broadcasts [2,1] against [1,3] batch dims like per-matrix products', async () => {
    // The stock cpu kernel cycles batch indices here instead of broadcasting them.
    for (const [m, k, n] of [
      [40, 50, 40],
      [4, 5, 4],
    ]) {
      const perMatrix = (x: tf.Tensor, y: tf.Tensor) =>
        tf.stack(
          [0, 1].map((i) =>
            tf.stack(
              [0, 1, 2].map((j) =>
                tf.matMul(
                  x.slice([i, 0, 0, 0], [1, 1, m, k]).reshape([m, k]),
                  y.slice([0, j, 0, 0], [1, 1, k, n]).reshape([k, n]),
                ),
              ),
            ),
          ),
        );
      await crossCheck(
        [{ shape: [2, 1, m, k] }, { shape: [1, 3, k, n] }],
        (x, y) => tf.matMul(x, y),
        perMatrix,
      );
    }
  });
});

describe('a small conv net on wasm', () => {
  /** conv2d -> batch norm -> relu -> depthwise (stride 2, multiplier 2) -> relu -> dense, softmax loss. */
  function makeNet(seed: number) {
    const r = createRng(seed);
    const init = (shape: number[], s: number) =>
      tf.variable(
        tf.tensor(
          Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (r() * 2 - 1) * s),
          shape,
        ),
      );
    const vars = {
      conv: init([3, 3, 3, 8], 0.3),
      gamma: tf.variable(tf.ones([8])),
      beta: tf.variable(tf.zeros([8])),
      dw: init([3, 3, 8, 2], 0.3),
      dense: init([6 * 6 * 16, 5], 0.05),
      bias: tf.variable(tf.zeros([5])),
      emb: init([10, 3], 0.5),
    };
    const x = tf.tensor(
      Array.from({ length: 4 * 12 * 12 * 3 }, () => r() * 2 - 1),
      [4, 12, 12, 3],
    );
    const labels = tf.oneHot(tf.tensor1d([0, 3, 1, 4], 'int32'), 5);
    const ids = tf.tensor1d([1, 7, 7, 2], 'int32');
    const loss = () => {
      const h = tf.conv2d(
        tf.add(x, tf.reshape(tf.gather(vars.emb, ids), [4, 1, 1, 3])) as tf.Tensor4D,
        vars.conv as tf.Tensor4D,
        1,
        'same',
      );
      const { mean, variance } = tf.moments(h, [0, 1, 2]);
      const bn = tf.relu(tf.batchNorm(h, mean, variance, vars.beta, vars.gamma, 1e-3));
      const d = tf.relu(tf.depthwiseConv2d(bn as tf.Tensor4D, vars.dw as tf.Tensor4D, 2, 'same'));
      const logits = tf.add(tf.matMul(tf.reshape(d, [4, -1]), vars.dense), vars.bias);
      // Cross-entropy written out: tf.losses' custom gradient trips the engine's IS_TEST leak check.
      return tf.mean(tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(labels, logits), 1))) as tf.Scalar;
    };
    const dispose = () => tf.dispose([...Object.values(vars), x, labels, ids]);
    return { vars, loss, dispose };
  }

  async function trainStep(
    backend: Backend,
  ): Promise<{ loss: number; weights: Float32Array[]; leaked: number }> {
    await tf.setBackend(backend);
    const net = makeNet(7);
    const opt = tf.train.sgd(0.1);
    const before = tf.memory().numTensors;
    const loss = opt.minimize(net.loss, true) as tf.Scalar;
    const value = loss.dataSync()[0];
    loss.dispose();
    const leaked = tf.memory().numTensors - before;
    const weights = Object.values(net.vars).map((v) => v.dataSync() as Float32Array);
    opt.dispose();
    net.dispose();
    return { loss: value, weights, leaked };
  }

  it('runs one optimizer.minimize step like cpu and leaks no tensor', async () => {
    const cpu = await trainStep('cpu');
    const wasm = await trainStep('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(wasm.leaked).toBe(0);
    expect(Math.abs(wasm.loss - cpu.loss)).toBeLessThan(1e-4 * Math.max(1, Math.abs(cpu.loss)));
    wasm.weights.forEach((w, i) => {
      const c = cpu.weights[i];
      let diff = 0;
      for (let j = 0; j < c.length; j++) diff = Math.max(diff, Math.abs(w[j] - c[j]));
      expect(diff).toBeLessThan(1e-4);
    });
  });
});
