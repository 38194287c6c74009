import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFedexError } from '../../core/errors.js';
import { createRng } from '../../core/random.js';
import { loadFaceNet } from '../../face/models.js';
import { fileModelLoader } from '../../platform/node/model-files.js';
import { nodeFaceApi, nodeFacePlatform } from '../../platform/node/face.js';
import { readImageFile } from '../../platform/node/image.js';
import { initRuntime, tf } from '../../runtime/node.js';
import { listPeople } from '../../testing/datasets.js';
import { describeWithData } from '../../testing/describe-with-data.js';
import { sumCosts } from '../layer-cost.js';
import type { Backbone } from '../types.js';
import { backboneConformance } from './backbone.case.js';
import { createFaceApiResnet, FACEAPI_RESNET_ID, foldConv, type FaceApiWeights } from './faceapi-resnet.js';

/** face-api's own descriptor call, which the FaceApiRecognition seam does not expose. */
interface DescriptorNet {
  computeFaceDescriptor(input: tf.Tensor3D[]): Promise<Float32Array[]>;
  dispose(): void;
}

let bb: Backbone;
beforeAll(async () => {
  await initRuntime();
  bb = await createFaceApiResnet();
});
afterAll(() => bb?.dispose());

describe('faceapi-resnet: weight folding', () => {
  it('folds conv bias and the scale layer into kernel and bias: (conv(x) + b)·w + s', () => {
    // A 1×1 conv, 2 input channels → 1 output: filters [3, 5], bias 1, scale 2, shift 0.5.
    const w: FaceApiWeights = new Map([
      ['u/conv/filters', { shape: [1, 1, 2, 1], values: Float32Array.of(3, 5) }],
      ['u/conv/bias', { shape: [1], values: Float32Array.of(1) }],
      ['u/scale/weights', { shape: [1], values: Float32Array.of(2) }],
      ['u/scale/biases', { shape: [1], values: Float32Array.of(0.5) }],
    ]);

    const [kernel, bias] = foldConv(w, 'u');
    const [k2, b2] = foldConv(w, 'u', { mean: [10, 20], scale: 0.5 });

    expect(Array.from(kernel.values)).toEqual([6, 10]);
    expect(Array.from(bias.values)).toEqual([2.5]);
    // With (x − mean)·0.5 folded in: kernel·0.5·2 = [3, 5]; bias (1 − (3·10 + 5·20)·0.5)·2 + 0.5 = −127.5.
    expect(Array.from(k2.values)).toEqual([3, 5]);
    expect(Array.from(b2.values)).toEqual([-127.5]);
  });

  it('rejects a weight map without a layer with FACE_MODEL_LOAD', () => {
    let code: string | undefined;
    try {
      foldConv(new Map(), 'conv32_down');
    } catch (e) {
      code = isFedexError(e) ? e.code : 'other';
    }

    expect(code).toBe('FACE_MODEL_LOAD');
  });

  it('fails to load from a folder without model files with FACE_MODEL_LOAD', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fedex-resnet-'));
    try {
      const load = createFaceApiResnet({ models: fileModelLoader(dir), version: 'x' });

      await expect(load).rejects.toMatchObject({ code: 'FACE_MODEL_LOAD' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('faceapi-resnet: conformance (seeded noise chips)', () => {
  let x: tf.Tensor4D;
  beforeAll(() => {
    const rng = createRng(3);
    x = tf.tensor4d(
      Float32Array.from({ length: 2 * 150 * 150 * 3 }, () => Math.floor(rng() * 256)),
      [2, 150, 150, 3],
    );
  });
  afterAll(() => x?.dispose());

  backboneConformance({ backbone: () => bb, input: () => x, tolerance: 1e-5, trainSplit: 'stage256' });
});

describe('faceapi-resnet: splits and costs', () => {
  it('records the face-api package version and the splits stage32..stage256 and embedding', () => {
    expect(bb.id).toBe(FACEAPI_RESNET_ID);
    expect(bb.version).toBe(nodeFaceApi().version);
    expect(bb.spec('embedding')).toEqual({
      backboneId: 'faceapi-resnet',
      backboneVersion: nodeFaceApi().version,
      split: 'embedding',
      shape: [128],
    });
    expect(bb.splits.map((s) => [s.name, s.shape])).toEqual([
      ['stage32', [35, 35, 32]],
      ['stage64', [17, 17, 64]],
      ['stage128', [8, 8, 128]],
      ['stage256', [4, 4, 256]],
      ['embedding', [128]],
    ]);
  });

  it('counts the first conv (7×7, 3→32, stride 2, valid, 72×72 out) by hand', () => {
    const [first] = bb.bottomCosts('stage32');

    const out = 72 * 72 * 32;
    expect(first).toMatchObject({
      name: 'conv32_down',
      kind: 'conv2d',
      outputShape: [72, 72, 32],
      params: 7 * 7 * 3 * 32 + 32,
      forwardFlops: 2 * 7 * 7 * 3 * out + out /* bias */ + out /* relu */,
    });
  });

  it('counts the conv and dense FLOPs of the whole network as the architecture table gives them', () => {
    // Multiply-adds per conv: k·k·cin·cout·hout·wout, from face-api's layer list and the shapes.
    const mac = (k: number, cin: number, cout: number, side: number): number =>
      k * k * cin * cout * side * side;
    const table =
      mac(7, 3, 32, 72) +
      6 * mac(3, 32, 32, 35) +
      mac(3, 32, 64, 17) +
      7 * mac(3, 64, 64, 17) +
      mac(3, 64, 128, 8) +
      5 * mac(3, 128, 128, 8) +
      mac(3, 128, 256, 3) +
      mac(3, 256, 256, 3) +
      4 * mac(3, 256, 256, 4) +
      2 * mac(3, 256, 256, 1) +
      256 * 128;

    const costs = bb.bottomCosts('embedding');
    const weighted = costs.filter((c) => c.kind === 'conv2d' || c.kind === 'dense');
    const macFlops = weighted.reduce((n, c) => {
      const [h, w, ch] = c.outputShape.length === 3 ? c.outputShape : [1, 1, c.outputShape[0]];
      const bias = c.kind === 'conv2d' ? h * w * ch : 0;
      const relu = c.name.endsWith('_conv2') ? 0 : c.kind === 'conv2d' ? h * w * ch : 0;
      return n + c.forwardFlops - bias - relu;
    }, 0);
    const total = sumCosts(costs);
    console.info(
      `faceapi-resnet per chip: ${(total.forwardFlops / 1e9).toFixed(3)} GFLOPs forward, ${total.params} parameters; ` +
        bb.splits
          .map((s) => `${s.name} ${(sumCosts(bb.bottomCosts(s.name)).forwardFlops / 1e9).toFixed(3)}`)
          .join(', '),
    );

    expect(weighted).toHaveLength(29 + 1);
    expect(macFlops).toBe(2 * table);
    expect(total.params).toBe(5_607_488);
    // Everything else (bias, relu, pooling, adds) is under 2% of the conv work.
    expect(total.forwardFlops).toBeGreaterThan(2 * table);
    expect(total.forwardFlops).toBeLessThan(2 * table * 1.02);
  });
});

describeWithData('bbt_faceapi_demo', (dir) => {
  // The bbt photos are 150×150 face crops: used here directly as chips.
  const files = listPeople(dir)
    .slice(0, 4)
    .map((p) => p.files[0]);
  let chips: tf.Tensor4D;
  let reference: Float32Array[];

  beforeAll(async () => {
    const images = await Promise.all(files.map((f) => readImageFile(f)));
    chips = tf.tidy(
      () => tf.stack(images.map((i) => tf.tensor3d(Float32Array.from(i.data), [150, 150, 3]))) as tf.Tensor4D,
    );
    const platform = nodeFacePlatform();
    const net = new platform.faceapi.FaceRecognitionNet();
    await loadFaceNet(net, platform.models, 'face_recognition_model');
    const singles = tf.unstack(chips) as tf.Tensor3D[];
    reference = await (net as unknown as DescriptorNet).computeFaceDescriptor(singles);
    tf.dispose(singles);
    net.dispose(false);
  });
  afterAll(() => chips?.dispose());

  it("gives face-api's computeFaceDescriptor output at the embedding split (max abs diff < 1e-4)", () => {
    const out = bb.bottom(chips, 'embedding');
    const mine = out.dataSync();
    out.dispose();

    let worst = 0;
    reference.forEach((r, i) =>
      r.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - mine[i * 128 + j])))),
    );
    console.info(
      `faceapi-resnet vs face-api on ${files.length} bbt chips: max abs diff ${worst.toExponential(2)}`,
    );

    expect(reference).toHaveLength(4);
    expect(worst).toBeLessThan(1e-4);
  });

  it('gives the same descriptor through bottom(stage128) → upperStage(stage128) as face-api', () => {
    const top = bb.upperStage('stage128')!;
    const f = bb.bottom(chips, 'stage128');
    const y = top.predict(f) as tf.Tensor;
    const mine = y.dataSync();
    tf.dispose([f, y]);
    top.dispose();

    let worst = 0;
    reference.forEach((r, i) =>
      r.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - mine[i * 128 + j])))),
    );

    expect(worst).toBeLessThan(1e-4);
  });
});
