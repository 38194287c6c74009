import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../../core/random.js';
import { fileModelJsonHandler, humanModelFile, packageVersion } from '../../platform/node/backbone-files.js';
import { initRuntime } from '../../runtime/node.js';
import { sumCosts } from '../layer-cost.js';
import type { Backbone } from '../types.js';
import { backboneConformance } from './backbone.case.js';
import { createFaceres, FACERES_ID } from './faceres.js';

let bb: Backbone;
let x: tf.Tensor4D;
beforeAll(async () => {
  await initRuntime();
  bb = await createFaceres();
  const rng = createRng(9);
  x = tf.tensor4d(
    Float32Array.from({ length: 2 * 224 * 224 * 3 }, () => Math.floor(rng() * 256)),
    [2, 224, 224, 3],
  );
});
afterAll(() => {
  x?.dispose();
  bb?.dispose();
});

describe('faceres: conformance (seeded noise faces)', () => {
  backboneConformance({ backbone: () => bb, input: () => x, tolerance: 1e-5, trainSplit: 'conv_pw_12' });
});

describe('faceres', () => {
  it("gives the graph model's own activations at every split (max abs diff < 1e-4)", async () => {
    const graph = await tf.loadGraphModel(fileModelJsonHandler(humanModelFile('faceres.json')));
    const nodes = {
      conv_pw_11: 'conv_pw_11_relu/clip_by_value',
      conv_pw_12: 'conv_pw_12_relu/clip_by_value',
      conv_pw_13: 'conv_pw_13_relu/clip_by_value',
      embedding: 'global_pooling/Mean',
    };

    const diffs = Object.entries(nodes).map(([split, node]) =>
      tf.tidy(() => {
        const reference = graph.execute(x, node) as tf.Tensor;
        return tf.max(tf.abs(tf.sub(bb.bottom(x, split), reference))).dataSync()[0];
      }),
    );
    graph.dispose();
    console.info(
      `faceres vs human's graph model: max abs diff per split ${diffs.map((d) => d.toExponential(1)).join(', ')}`,
    );

    expect(diffs.every((d) => d < 1e-4)).toBe(true);
  });

  it('records the human package version and the splits conv_pw_11, conv_pw_12, conv_pw_13 and embedding', () => {
    expect(bb.id).toBe(FACERES_ID);
    expect(bb.version).toBe(packageVersion('@vladmandic/human'));
    expect(bb.inputShape).toEqual([224, 224, 3]);
    expect(bb.splits.map((s) => [s.name, s.shape])).toEqual([
      ['conv_pw_11', [14, 14, 512]],
      ['conv_pw_12', [7, 7, 1024]],
      ['conv_pw_13', [7, 7, 1024]],
      ['embedding', [1024]],
    ]);
  });

  it('counts the first conv by hand and MobileNetV1 multiply-adds for the whole bottom', () => {
    const costs = bb.bottomCosts('embedding');
    // MobileNetV1 1.0/224 without its classifier: conv1 + 13 × (depthwise 3×3 + pointwise 1×1).
    const blocks: [number, number, number][] = [
      // [side after the depthwise, channels in, channels out]
      [112, 32, 64],
      [56, 64, 128],
      [56, 128, 128],
      [28, 128, 256],
      [28, 256, 256],
      [14, 256, 512],
      ...Array.from({ length: 5 }, (): [number, number, number] => [14, 512, 512]),
      [7, 512, 1024],
      [7, 1024, 1024],
    ];
    const macs =
      3 * 3 * 3 * 32 * 112 * 112 +
      blocks.reduce((n, [side, cin, cout]) => n + side * side * (9 * cin + cin * cout), 0);

    const convFlops = costs
      .filter((c) => c.kind === 'conv2d' || c.kind === 'depthwiseConv2d')
      .reduce((n, c) => n + c.forwardFlops - c.outputShape.reduce((a, b) => a * b, 1) /* bias */, 0);
    console.info(
      `faceres per face: ${(sumCosts(costs).forwardFlops / 1e9).toFixed(3)} GFLOPs, ${macs} multiply-adds`,
    );

    expect(costs[0]).toMatchObject({
      name: 'conv1',
      kind: 'conv2d',
      outputShape: [112, 112, 32],
      forwardFlops: 2 * 3 * 3 * 3 * 112 * 112 * 32 + 112 * 112 * 32,
    });
    expect(convFlops).toBe(2 * macs);
    // The MobileNet paper's 569M multiply-adds include its 1024×1000 classifier (1.0M).
    expect(macs + 1024 * 1000).toBeGreaterThan(568e6);
    expect(macs + 1024 * 1000).toBeLessThan(570e6);
  });

  it('refuses a missing model file or a graph with other strides with FACE_MODEL_LOAD', async () => {
    const real = fileModelJsonHandler(humanModelFile('faceres.json'));
    const otherStrides: tf.io.IOHandler = {
      async load() {
        const a = await real.load!();
        const topology = structuredClone(a.modelTopology) as {
          node: { name: string; attr: { strides: { list: { i: string[] } } } }[];
        };
        topology.node.find((n) => n.name === 'conv_dw_2/depthwise')!.attr.strides.list.i = [
          '1',
          '1',
          '1',
          '1',
        ];
        return { ...a, modelTopology: topology };
      },
    };

    const missing = createFaceres({
      handler: fileModelJsonHandler('/nonexistent/faceres.json'),
      version: 'x',
    });
    const strided = createFaceres({ handler: otherStrides, version: 'x' });

    await expect(missing).rejects.toMatchObject({ code: 'FACE_MODEL_LOAD' });
    await expect(strided).rejects.toMatchObject({ code: 'FACE_MODEL_LOAD' });
  });
});
