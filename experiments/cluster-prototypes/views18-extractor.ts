/**
 * Research aid: 18 face-api descriptors of the main face per photo, for choosing test-time views:
 * [p0.25, p0.15, p0.35, rot +4°, rot -4°, p0.20, p0.30, auto-levels, gamma-to-mid] each with its
 * mirror (chip first). Features 18 x 128.
 */
import { createRequire } from 'node:module';
import type { FeatureExtractor, FeatureSpec, RawImage } from '../../src/core/types.js';
import { alignmentTransform } from '../../src/face/align.js';
import { affineScale, type Affine } from '../../src/face/geometry.js';
import { mirrorImage } from '../../src/face/views.js';
import { warpAffine } from '../../src/face/warp.js';

export const V18_DIM = 18 * 128;

export function views18Spec(): FeatureSpec {
  const require = createRequire(import.meta.url);
  const { version } = require('@vladmandic/face-api/package.json') as { version: string };
  return { backboneId: 'faceapi-resnet-views', backboneVersion: version, split: 'views18', shape: [V18_DIM] };
}

function rotated(m: Affine, deg: number, size: number): Affine {
  const t = (deg * Math.PI) / 180;
  const c = Math.cos(t);
  const s = Math.sin(t);
  const h = size / 2;
  // R: chip -> chip, rotation about the centre; then m: chip -> image.
  const r: Affine = [c, -s, h - c * h + s * h, s, c, h - s * h - c * h];
  const [a, b, cc, d, e, f] = m;
  return [
    a * r[0] + b * r[3],
    a * r[1] + b * r[4],
    a * r[2] + b * r[5] + cc,
    d * r[0] + e * r[3],
    d * r[1] + e * r[4],
    d * r[2] + e * r[5] + f,
  ];
}

function autoLevels(img: RawImage): RawImage {
  const out = new Uint8Array(img.data.length);
  for (let ch = 0; ch < 3; ch++) {
    const v: number[] = [];
    for (let i = ch; i < img.data.length; i += 3) v.push(img.data[i]);
    v.sort((x, y) => x - y);
    const lo = v[Math.floor(v.length * 0.01)];
    const hi = Math.max(lo + 1, v[Math.floor(v.length * 0.99)]);
    for (let i = ch; i < img.data.length; i += 3)
      out[i] = Math.max(0, Math.min(255, Math.round(((img.data[i] - lo) * 255) / (hi - lo))));
  }
  return { ...img, data: out };
}

function gammaToMid(img: RawImage): RawImage {
  // Luminance of the central half of the chip (the face) mapped to 0.5 by a gamma curve.
  const w = img.width;
  let sum = 0;
  let n = 0;
  for (let y = Math.floor(w / 4); y < (3 * w) / 4; y++)
    for (let x = Math.floor(w / 4); x < (3 * w) / 4; x++) {
      const i = 3 * (y * w + x);
      sum += 0.299 * img.data[i] + 0.587 * img.data[i + 1] + 0.114 * img.data[i + 2];
      n++;
    }
  const mean = Math.min(0.95, Math.max(0.05, sum / n / 255));
  const g = Math.log(0.5) / Math.log(mean);
  const lut = Array.from({ length: 256 }, (_, v) => Math.round(255 * Math.pow(v / 255, g)));
  return { ...img, data: Uint8Array.from(img.data, (v) => lut[v]) };
}

export async function createViews18Extractor(): Promise<FeatureExtractor> {
  const { initRuntime } = await import('../../src/runtime/node.js');
  await initRuntime();
  const { createFaceExtractor } = await import('../../src/face/extractor.js');
  const face = await createFaceExtractor({});
  const p = face.pipeline;
  return {
    spec: views18Spec(),
    async extract(image: RawImage): Promise<Float32Array | null> {
      const { faces, main } = await p.analyze(image, { faces: 'main', descriptors: false });
      if (main < 0) return null;
      const lm = faces[main].landmarks;
      const warp = (m: Affine): RawImage =>
        warpAffine(image, m, 150, 150, { samples: Math.max(1, Math.round(affineScale(m))) });
      const base = alignmentTransform(lm, 'dlib5', 150, 0.25);
      const plain = warp(base);
      const bases = [
        plain,
        warp(alignmentTransform(lm, 'dlib5', 150, 0.15)),
        warp(alignmentTransform(lm, 'dlib5', 150, 0.35)),
        warp(rotated(base, 4, 150)),
        warp(rotated(base, -4, 150)),
        warp(alignmentTransform(lm, 'dlib5', 150, 0.2)),
        warp(alignmentTransform(lm, 'dlib5', 150, 0.3)),
        autoLevels(plain),
        gammaToMid(plain),
      ];
      const chips = bases.flatMap((c) => [c, mirrorImage(c)]);
      const d = await p.describe(chips);
      const out = new Float32Array(V18_DIM);
      d.forEach((v, i) => out.set(v, i * 128));
      return out;
    },
    dispose: () => face.dispose(),
  };
}
