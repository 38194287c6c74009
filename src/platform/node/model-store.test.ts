import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFedexError } from '../../core/errors.js';
import { getHead } from '../../model/heads/registry.js';
import { initRuntime, tf } from '../../runtime/node.js';
import { readModelDir, readModelMeta, writeModelDir } from './model-store.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'fedex-model-store-'));

beforeAll(async () => {
  await initRuntime();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('model store (Node files)', () => {
  it('writes model.json, weights.bin and meta.json and reads back a model that predicts the same', async () => {
    // Prepare
    const model = getHead('mlp').build([6], 3, { hidden: [4] }, 2);
    const dir = path.join(tmp, 'a', 'b');

    // Execute
    await writeModelDir(dir, model, { head: 'mlp', labels: ['x', 'y', 'z'] });
    const loaded = await readModelDir(dir);

    // Assert
    expect(readdirSync(dir).sort()).toEqual(['meta.json', 'model.json', 'weights.bin']);
    expect(JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')).weightsManifest[0].paths).toEqual([
      './weights.bin',
    ]);
    expect(await readModelMeta(dir)).toEqual({ head: 'mlp', labels: ['x', 'y', 'z'] });
    const x = tf.tensor2d([[1, 2, 3, 4, 5, 6]]);
    expect((loaded.predict(x) as tf.Tensor).dataSync()).toEqual((model.predict(x) as tf.Tensor).dataSync());
    model.dispose();
    loaded.dispose();
  });

  it('reports a missing folder and a manifest pointing outside the folder as MODEL_LOAD', async () => {
    // Prepare
    const dir = path.join(tmp, 'evil');
    const model = getHead('linear').build([2], 2);
    await writeModelDir(dir, model);
    const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
    json.weightsManifest[0].paths = ['../../../etc/passwd'];
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));

    // Execute / Assert
    await expect(readModelDir(path.join(tmp, 'missing'))).rejects.toSatisfy((e: unknown) =>
      isFedexError(e, 'MODEL_LOAD'),
    );
    await expect(readModelDir(dir)).rejects.toSatisfy(
      (e: unknown) => isFedexError(e, 'MODEL_LOAD') && /outside/.test((e as Error).message),
    );
    await expect(readModelMeta(dir)).rejects.toSatisfy((e: unknown) => isFedexError(e, 'MODEL_LOAD'));
    model.dispose();
  });
});
