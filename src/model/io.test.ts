import { beforeAll, describe, expect, it } from 'vitest';
import { encodeWeights } from '../core/codec.js';
import { isFedexError } from '../core/errors.js';
import { initRuntime, tf } from '../runtime/node.js';
import { getHead } from './heads/registry.js';
import type { HeadOptions } from './heads/types.js';
import {
  artifactsFromFiles,
  artifactsToFiles,
  modelFromArtifacts,
  modelFromWeightsMessage,
  modelToArtifacts,
  modelToWeightsMessage,
  WEIGHTS_FILE,
} from './io.js';
import { gaussianBlobs } from './testing/blobs.js';
import { fakeBackbone, FAKE_STAGE_SHAPE } from './testing/fake-backbone.js';
import { fitHead } from './trainer.js';

beforeAll(async () => {
  await initRuntime();
});

const CASES: Array<{ name: string; shape: number[]; options: HeadOptions }> = [
  { name: 'centroid', shape: [12], options: {} },
  { name: 'linear', shape: [12], options: {} },
  { name: 'mlp', shape: [12], options: { hidden: [8], dropout: 0.2 } },
  { name: 'upper', shape: FAKE_STAGE_SHAPE, options: { backbone: fakeBackbone(), split: 'stage' } },
];

/** A head fitted for a few steps, so its weights are not the initial ones, and an input batch. */
async function trainedHead(c: (typeof CASES)[number]): Promise<{ model: tf.LayersModel; x: tf.Tensor }> {
  const head = getHead(c.name);
  const model = head.build(c.shape, 3, c.options, 1);
  const size = c.shape.reduce((a, b) => a * b, 1);
  const data = gaussianBlobs({ dim: size, perClass: [5, 5, 5], spread: 0.5, seed: 3, shape: c.shape });
  await fitHead(head, model, data, { epochs: 2, batchSize: 8, validationSplit: 0 });
  return { model, x: tf.tensor(data.x, [15, ...c.shape]) };
}

function predict(model: tf.LayersModel, x: tf.Tensor): Float32Array {
  return tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync() as Float32Array);
}

describe.each(CASES)('$name head export', (c) => {
  it('round-trips through tfjs model artifacts and predicts identically', async () => {
    // Prepare
    const { model, x } = await trainedHead(c);

    // Execute
    const loaded = await modelFromArtifacts(await modelToArtifacts(model));

    // Assert
    expect(predict(loaded, x)).toEqual(predict(model, x));
    model.dispose();
    loaded.dispose();
    x.dispose();
  });

  it('round-trips through model.json plus one weights file', async () => {
    // Prepare
    const { model, x } = await trainedHead(c);

    // Execute: what a file store or HTTP server would hold, read back by path.
    const files = artifactsToFiles(await modelToArtifacts(model));
    const stored = JSON.parse(JSON.stringify(files.modelJson));
    const read: string[] = [];
    const loaded = await modelFromArtifacts(
      await artifactsFromFiles(stored, async (p) => {
        read.push(p);
        return files.weights;
      }),
    );

    // Assert
    expect(read).toEqual([`./${WEIGHTS_FILE}`]);
    expect(stored.format).toBe('layers-model');
    expect(predict(loaded, x)).toEqual(predict(model, x));
    model.dispose();
    loaded.dispose();
    x.dispose();
  });

  it('round-trips through a float32 weights message (FXWT) with its metadata', async () => {
    // Prepare
    const { model, x } = await trainedHead(c);

    // Execute
    const bytes = modelToWeightsMessage(model, { head: c.name, labels: ['a', 'b', 'c'] });
    const { model: loaded, metadata } = await modelFromWeightsMessage(bytes);

    // Assert
    expect(metadata).toEqual({ head: c.name, labels: ['a', 'b', 'c'] });
    expect(predict(loaded, x)).toEqual(predict(model, x));
    model.dispose();
    loaded.dispose();
    x.dispose();
  });
});

describe('weights message precision', () => {
  it('keeps a float16 linear head within float16 rounding of the original', async () => {
    // Prepare
    const { model, x } = await trainedHead(CASES[1]);

    // Execute
    const { model: loaded } = await modelFromWeightsMessage(
      modelToWeightsMessage(model, {}, { dtype: 'float16' }),
    );

    // Assert
    const a = predict(model, x);
    const b = predict(loaded, x);
    const maxDiff = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
    expect(maxDiff).toBeGreaterThan(0);
    expect(maxDiff).toBeLessThan(5e-3);
    model.dispose();
    loaded.dispose();
    x.dispose();
  });
});

describe('loading errors', () => {
  it('rejects a model.json without a topology', async () => {
    await expect(artifactsFromFiles({ weightsManifest: [] }, async () => new Uint8Array())).rejects.toSatisfy(
      (e: unknown) => isFedexError(e, 'MODEL_LOAD'),
    );
  });

  it('rejects weights that do not fit the topology', async () => {
    // Prepare: a model.json of one head with the weights of a smaller one.
    const big = getHead('linear').build([12], 3);
    const small = getHead('linear').build([4], 3);
    const files = artifactsToFiles(await modelToArtifacts(big));
    const smallFiles = artifactsToFiles(await modelToArtifacts(small));

    // Execute / Assert
    await expect(
      modelFromArtifacts(await artifactsFromFiles(files.modelJson, async () => smallFiles.weights)),
    ).rejects.toSatisfy((e: unknown) => isFedexError(e, 'MODEL_LOAD'));
    big.dispose();
    small.dispose();
  });

  it('rejects a weights message that carries no topology', async () => {
    const bytes = encodeWeights({
      metadata: { head: 'linear' },
      tensors: [{ name: 'w', shape: [1], values: Float32Array.of(1) }],
    });
    await expect(modelFromWeightsMessage(bytes)).rejects.toSatisfy((e: unknown) =>
      isFedexError(e, 'MODEL_LOAD'),
    );
  });
});
