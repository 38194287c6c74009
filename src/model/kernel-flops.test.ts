import { beforeAll, describe, expect, it } from 'vitest';
import { initRuntime, tf } from '../runtime/node.js';
import { countKernelFlops, kernelLaunchFlops } from './kernel-flops.js';
import { countModelCosts } from './flops.js';

beforeAll(async () => {
  await initRuntime();
});

describe('countKernelFlops', () => {
  it('counts a conv, a depthwise conv and a matmul by hand', async () => {
    // Prepare: 1x8x8x3 input, 3x3x3x4 filter, 'same' → 8x8x4 out: 2·256·27 = 13,824 FLOPs.
    const x = tf.ones([1, 8, 8, 3]) as tf.Tensor4D;
    const f = tf.ones([3, 3, 3, 4]) as tf.Tensor4D;
    const d = tf.ones([3, 3, 3, 1]) as tf.Tensor4D;
    const a = tf.ones([5, 7]) as tf.Tensor2D;
    const b = tf.ones([7, 6]) as tf.Tensor2D;

    // Execute
    const conv = await countKernelFlops(() => tf.conv2d(x, f, 1, 'same'));
    const depthwise = await countKernelFlops(() => tf.depthwiseConv2d(x, d, 2, 'same')); // 4x4x3 out
    const mm = await countKernelFlops(() => tf.matMul(a, b, false, false));
    const mmT = await countKernelFlops(() => tf.matMul(b, a, true, true)); // 6x5 out, k = 7

    // Assert
    expect(conv.flops).toBe(2 * 8 * 8 * 4 * 3 * 3 * 3);
    expect(depthwise.flops).toBe(2 * 4 * 4 * 3 * 3 * 3);
    expect(mm.flops).toBe(2 * 5 * 7 * 6);
    expect(mmT.flops).toBe(2 * 6 * 7 * 5);
    tf.dispose([x, f, d, a, b]);
  });

  it('agrees with the layer-by-layer count of a small CNN (conv + dense)', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [16, 16, 3], filters: 8, kernelSize: 3, padding: 'same' }),
        tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same' }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 10 }),
      ],
    });
    const x = tf.zeros([1, 16, 16, 3]);
    const counted = await countKernelFlops(() => model.predict(x) as tf.Tensor);
    // conv 2·256·8·27 + depthwise 2·256·8·9 + dense 2·2048·10; the layer count adds the bias adds.
    expect(counted.flops).toBe(110_592 + 36_864 + 40_960);
    const layered = countModelCosts(model).totals.forwardFlops;
    expect(Math.abs(counted.flops - layered) / layered).toBeLessThan(0.03);
    x.dispose();
    model.dispose();
  });

  it('counts nothing for element-wise kernels', () => {
    expect(kernelLaunchFlops('Relu', [[1, 8]], [[1, 8]])).toBe(0);
    expect(kernelLaunchFlops('Conv2D', [[1, 4, 4, 2]], [])).toBe(0);
  });
});
