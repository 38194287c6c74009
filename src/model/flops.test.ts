import { beforeAll, describe, expect, it } from 'vitest';
import { isFedexError } from '../core/errors.js';
import { initRuntime, tf } from '../runtime/node.js';
import { countModelCosts } from './flops.js';
import { getHead } from './heads/registry.js';

beforeAll(async () => {
  await initRuntime();
});

describe('countModelCosts', () => {
  it('counts a dense layer by hand', () => {
    // Prepare: 128 -> 10, bias, relu.
    const input = tf.input({ shape: [128] });
    const out = tf.layers
      .dense({ units: 10, activation: 'relu', name: 'fc' })
      .apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });

    // Execute
    const { layers, totals } = countModelCosts(model);

    // Assert:
    // params   = 128·10 weights + 10 biases                  = 1,290
    // forward  = 2·128·10 (multiply-adds) + 10 (bias) + 10 (relu) = 2,580
    // backward = input gradient + weight gradient ≈ 2 × forward  = 5,160
    expect(layers).toEqual([
      {
        name: 'fc',
        kind: 'dense',
        outputShape: [10],
        params: 1290,
        trainableParams: 1290,
        forwardFlops: 2580,
        backwardFlops: 5160,
      },
    ]);
    expect(totals).toEqual({ params: 1290, trainableParams: 1290, forwardFlops: 2580, backwardFlops: 5160 });
    model.dispose();
  });

  it('counts a strided conv layer by hand', () => {
    // Prepare: [9, 9, 3] input, 3×3 kernel, 4 filters, stride 2, valid padding -> [4, 4, 4].
    const input = tf.input({ shape: [9, 9, 3] });
    const out = tf.layers
      .conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'valid', name: 'conv' })
      .apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });

    // Execute
    const [conv] = countModelCosts(model).layers;

    // Assert:
    // output   = floor((9 - 3) / 2) + 1 = 4 per side -> [4, 4, 4] = 64 values
    // params   = 3·3·3·4 weights + 4 biases                       = 112
    // forward  = 2·(3·3·3) multiply-adds per output · 64 + 64 bias = 3,456 + 64 = 3,520
    // backward = 2 × forward                                      = 7,040
    expect(conv).toEqual({
      name: 'conv',
      kind: 'conv2d',
      outputShape: [4, 4, 4],
      params: 112,
      trainableParams: 112,
      forwardFlops: 3520,
      backwardFlops: 7040,
    });
    model.dispose();
  });

  it('counts a small CNN layer by layer and frozen layers have no trainable parameters', () => {
    // Prepare
    const input = tf.input({ shape: [8, 8, 2] });
    let x = tf.layers
      .depthwiseConv2d({ kernelSize: 3, padding: 'same', name: 'dw', useBias: false })
      .apply(input) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: 'bn', trainable: false }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: 'relu' }).apply(x) as tf.SymbolicTensor;
    const sep = tf.layers
      .separableConv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'sep' })
      .apply(x) as tf.SymbolicTensor;
    const skip = tf.layers.conv2d({ filters: 4, kernelSize: 1, name: 'skip' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.add({ name: 'add' }).apply([sep, skip]) as tf.SymbolicTensor;
    x = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.averagePooling2d({ poolSize: 2, name: 'avg' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.dropout({ rate: 0.5, name: 'drop' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reshape({ targetShape: [2, 2], name: 'reshape' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.flatten({ name: 'flat' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.activation({ activation: 'softmax', name: 'probs' }).apply(x) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: x });

    // Execute
    const byName = Object.fromEntries(countModelCosts(model).layers.map((c) => [c.name, c]));

    // Assert (64 positions of [8, 8]):
    // dw:   9 weights per channel, 2 channels = 18 params; 2·9·(64·2) = 2,304 FLOPs
    expect(byName.dw).toMatchObject({ params: 18, forwardFlops: 2304 });
    // bn:   4·2 = 8 params, frozen -> 0 trainable; 2 per element · 128 = 256; backward = forward (input gradient only)
    expect(byName.bn).toMatchObject({ params: 8, trainableParams: 0, forwardFlops: 256, backwardFlops: 256 });
    // relu: 1 per element = 128
    expect(byName.relu).toMatchObject({ kind: 'relu', forwardFlops: 128 });
    // sep:  depthwise 18 + pointwise 2·4 + 4 bias = 30 params; 2·9·128 + (2·2·4·64 + 4·64) = 2,304 + 1,280 = 3,584
    expect(byName.sep).toMatchObject({ kind: 'separableConv2d', params: 30, forwardFlops: 3584 });
    // add:  (2 - 1) · 8·8·4 = 256
    expect(byName.add).toMatchObject({ forwardFlops: 256 });
    // pool: 2·2 per output · [4, 4, 4] = 256; avg: 4 · [2, 2, 4] = 64; gap: 2·2·4 = 16
    expect(byName.pool).toMatchObject({ kind: 'maxPool', outputShape: [4, 4, 4], forwardFlops: 256 });
    expect(byName.avg).toMatchObject({ kind: 'avgPool', forwardFlops: 64 });
    expect(byName.gap).toMatchObject({ kind: 'globalAvgPool', outputShape: [4], forwardFlops: 16 });
    // dropout, reshape, flatten move data only
    for (const n of ['drop', 'reshape', 'flat']) expect(byName[n].forwardFlops).toBe(0);
    expect(byName.probs).toMatchObject({ kind: 'softmax', forwardFlops: 4 });
    model.dispose();
  });

  it('prefixes the layers of a nested model and freezes them with their parent', () => {
    // Prepare: an inner model used as one layer of the outer one.
    const innerIn = tf.input({ shape: [6] });
    const inner = tf.model({
      inputs: innerIn,
      outputs: tf.layers.dense({ units: 3, name: 'd' }).apply(innerIn) as tf.SymbolicTensor,
      name: 'inner',
    });
    inner.trainable = false;
    const input = tf.input({ shape: [6] });
    const out = tf.layers
      .dense({ units: 2, name: 'top' })
      .apply(inner.apply(input) as tf.SymbolicTensor) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });

    // Execute
    const { layers, totals } = countModelCosts(model);

    // Assert: inner/d = 6·3 + 3 = 21 params (frozen), top = 3·2 + 2 = 8 params.
    expect(layers.map((l) => l.name)).toEqual(['inner/d', 'top']);
    expect(layers[0]).toMatchObject({ params: 21, trainableParams: 0 });
    expect(totals).toMatchObject({ params: 29, trainableParams: 8 });
    model.dispose();
  });

  it('counts every registered vector head', () => {
    // Prepare
    const model = getHead('mlp').build([128], 5, { hidden: [64] }, 1);

    // Execute
    const { totals } = countModelCosts(model);

    // Assert: hidden 2·128·64 + 64 + 64 (relu) = 16,512; logits 2·64·5 + 5 = 645; softmax 5.
    expect(totals.forwardFlops).toBe(16512 + 645 + 5);
    expect(totals.params).toBe(128 * 64 + 64 + 64 * 5 + 5);
    model.dispose();
  });

  it('rejects a layer kind it has no rule for', () => {
    // Prepare
    const input = tf.input({ shape: [4, 3] });
    const out = tf.layers.lstm({ units: 2, name: 'rnn' }).apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });

    // Execute / Assert
    expect(() => countModelCosts(model)).toThrow(/no FLOP rule for layer "rnn" of kind LSTM/);
    try {
      countModelCosts(model);
    } catch (e) {
      expect(isFedexError(e, 'MODEL_UNSUPPORTED_LAYER')).toBe(true);
    }
    model.dispose();
  });
});
