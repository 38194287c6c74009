/**
 * Research aid: face-api's age and gender network on the main face of every photo of the LFW
 * cluster selection, to test age and gender as extra cues for the merge model. Reuses the
 * landmarks cached by `extract-features.ts views` (out/cluster/views.json), so no detection runs:
 * each photo is decoded, the face cropped as face-api crops it for this net (the landmarks' box,
 * padded 0.2 per side, made square) and, mirrored, a second time; the two predictions are averaged.
 * Writes out/cluster/age-gender.json ({ ids, age, male } in views.json's order). ~3 min on 2 cores.
 *
 *   npx tsx experiments/cluster-prototypes/age-gender.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { defaultDataDir } from '../../src/cli/defaults.js';
import type { RawImage } from '../../src/core/types.js';
import type { FaceApiNet } from '../../src/face/faceapi.js';
import { loadFaceNet, type FaceModelName } from '../../src/face/models.js';
import { imageToTensor } from '../../src/face/pipeline.js';
import { mirrorImage } from '../../src/face/views.js';
import { nodeFaceApi } from '../../src/platform/node/face.js';
import { readImageFile } from '../../src/platform/node/image.js';
import { fileModelLoader } from '../../src/platform/node/model-files.js';
import { initRuntime } from '../../src/runtime/node.js';

interface AgeGenderNet extends FaceApiNet {
  predictAgeAndGender(
    input: tf.Tensor3D[],
  ): Promise<{ age: number; gender: 'male' | 'female'; genderProbability: number }[]>;
}

await initRuntime();
const fa = nodeFaceApi() as unknown as { AgeGenderNet: new () => AgeGenderNet };
const net = new fa.AgeGenderNet();
await loadFaceNet(net, fileModelLoader(), 'age_gender_model' as FaceModelName);

const V = JSON.parse(readFileSync('out/cluster/views.json', 'utf8')) as { ids: string[]; V: number[][] };
const dir = path.join(defaultDataDir(), 'lfw_deepfunneled_min5');

/** The landmarks' bounding box padded 0.2 of its size per side, made square, clipped to the photo. */
function crop(image: RawImage, lm: number[]): RawImage {
  const xs = lm.filter((_, i) => i % 2 === 0);
  const ys = lm.filter((_, i) => i % 2 === 1);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const [w, h] = [x1 - x0, y1 - y0];
  [x0, x1, y0, y1] = [x0 - 0.1 * w, x1 + 0.1 * w, y0 - 0.1 * h, y1 + 0.1 * h];
  const side = Math.max(x1 - x0, y1 - y0);
  const [cx, cy] = [(x0 + x1) / 2, (y0 + y1) / 2];
  const left = Math.max(0, Math.round(cx - side / 2));
  const top = Math.max(0, Math.round(cy - side / 2));
  const right = Math.min(image.width, Math.round(cx + side / 2));
  const bottom = Math.min(image.height, Math.round(cy + side / 2));
  const cw = right - left;
  const ch = bottom - top;
  const data = new Uint8Array(cw * ch * 3);
  for (let y = 0; y < ch; y++)
    data.set(
      image.data.subarray(((top + y) * image.width + left) * 3, ((top + y) * image.width + right) * 3),
      y * cw * 3,
    );
  return { width: cw, height: ch, channels: 3, data };
}

const age: number[] = [];
const male: number[] = [];
const t0 = Date.now();
for (let k = 0; k < V.ids.length; k++) {
  const image = await readImageFile(path.join(dir, V.ids[k]));
  const face = crop(image, V.V[k].slice(772));
  const inputs = [imageToTensor(face), imageToTensor(mirrorImage(face))];
  const r = await net.predictAgeAndGender(inputs);
  tf.dispose(inputs);
  age.push((r[0].age + r[1].age) / 2);
  const pm = r.map((x) => (x.gender === 'male' ? x.genderProbability : 1 - x.genderProbability));
  male.push((pm[0] + pm[1]) / 2);
  if (k % 200 === 0)
    process.stderr.write(`${k}/${V.ids.length} ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
}
writeFileSync('out/cluster/age-gender.json', JSON.stringify({ ids: V.ids, age, male }));
process.stderr.write(`done ${((Date.now() - t0) / 1000).toFixed(0)} s, tensors ${tf.memory().numTensors}\n`);
