/**
 * Upper-stage training on the WASM backend needs kernels WASM lacks (FedEx registers them, see
 * src/runtime/kernels/): here the gradients of a training loss through real upper stages are
 * checked against tfjs's pure-JS `cpu` backend, on the same inputs and weights.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../../core/random.js';
import { initRuntime, tf } from '../../runtime/node.js';
import type { Backbone } from '../types.js';
import { createFaceApiResnet } from './faceapi-resnet.js';
import { createTinyCnn } from './tiny-cnn.js';

/** Gradients of an MSE loss w.r.t. every trainable weight of a fresh upper stage, on `backend`. */
async function upperStageGradients(
  bb: Backbone,
  split: string,
  features: { values: Float32Array; shape: number[] },
  target: { values: Float32Array; shape: number[] },
  backend: string,
): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const top = bb.upperStage(split)!;
  const vars = top.trainableWeights.map((w) => w.read() as tf.Variable);
  const f = tf.tensor(features.values, features.shape);
  const y = tf.tensor(target.values, target.shape);
  const { grads } = tf.variableGrads(
    () => tf.losses.meanSquaredError(y, top.apply(f) as tf.Tensor) as tf.Scalar,
    vars,
  );
  const out = vars.map((v) => grads[v.name].dataSync().slice() as Float32Array);
  tf.dispose([f, y, ...Object.values(grads)]);
  top.dispose();
  return out;
}

/** Largest difference per weight tensor, relative to that tensor's largest gradient. */
function worstRelativeDiff(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  a.forEach((g, i) => {
    let scale = 0;
    let diff = 0;
    g.forEach((v, j) => {
      scale = Math.max(scale, Math.abs(v));
      diff = Math.max(diff, Math.abs(v - b[i][j]));
    });
    worst = Math.max(worst, diff / (scale || 1));
  });
  return worst;
}

describe('upper-stage gradients on wasm against the cpu backend', () => {
  const backbones: Backbone[] = [];
  beforeAll(async () => {
    const rt = await initRuntime({ backend: 'wasm' });
    expect(rt.backend).toBe('wasm');
    backbones.push(createTinyCnn(), await createFaceApiResnet());
  });
  afterAll(async () => {
    await tf.setBackend('wasm');
    backbones.forEach((b) => b.dispose());
  });

  for (const [index, split, what] of [
    [0, 'conv1', 'tiny-cnn after conv1 (conv, max pool, global pool, dense)'],
    [
      1,
      'stage256',
      'faceapi-resnet after stage256 (stride-2 conv, zero padding of rows and channels, avg pool, add)',
    ],
  ] as const) {
    it(`matches for ${what}`, async () => {
      const bb = backbones[index];
      const rng = createRng(21);
      await tf.setBackend('wasm');
      const x = tf.tensor4d(
        Float32Array.from({ length: 3 * bb.inputShape.reduce((a, b) => a * b, 1) }, () => rng() * 255),
        [3, ...bb.inputShape] as [number, number, number, number],
      );
      const f = bb.bottom(x, split);
      const features = { values: f.dataSync().slice() as Float32Array, shape: f.shape };
      const outDim = bb.splits[bb.splits.length - 1].shape[0];
      const target = {
        values: Float32Array.from({ length: 3 * outDim }, () => rng() - 0.5),
        shape: [3, outDim],
      };
      tf.dispose([x, f]);

      const onWasm = await upperStageGradients(bb, split, features, target, 'wasm');
      const onCpu = await upperStageGradients(bb, split, features, target, 'cpu');

      expect(onWasm.length).toBeGreaterThan(0);
      expect(onWasm.some((g) => g.some((v) => v !== 0))).toBe(true);
      expect(worstRelativeDiff(onWasm, onCpu)).toBeLessThan(1e-4);
    });
  }
});
