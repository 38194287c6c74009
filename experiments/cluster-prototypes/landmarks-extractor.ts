/**
 * Research aid: do better landmarks give better descriptors? 6-view descriptors (as the library's
 * `descriptorViews: 6`) of the main face with three landmark sets: [the pipeline's, a second
 * landmark pass on the detection box re-centred on the first landmarks, the mean of the
 * pipeline's and those of the mirrored photo]. Features 3 x 128 (LM_RECENTRED_ONLY=1: the second
 * set only).
 */
import { createRequire } from 'node:module';
import type { FeatureExtractor, FeatureSpec, RawImage } from '../../src/core/types.js';
import { alignFace } from '../../src/face/align.js';
import type { Box, Point } from '../../src/face/geometry.js';
import { meanDescriptor, mirrorImage } from '../../src/face/views.js';

/** LM_RECENTRED_ONLY=1: only the re-centred set (128 features; its own cache file). */
const ONLY = process.env.LM_RECENTRED_ONLY === '1';
export const LM_DIM = (ONLY ? 1 : 3) * 128;

export function landmarksSpec(): FeatureSpec {
  const require = createRequire(import.meta.url);
  const { version } = require('@vladmandic/face-api/package.json') as { version: string };
  return {
    backboneId: 'faceapi-resnet-views',
    backboneVersion: version,
    split: ONLY ? 'views6-recentred' : 'views6-landmarks3',
    shape: [LM_DIM],
  };
}

/** Index of each of the 68 points in the mirrored face. */
const MIRROR_68: number[] = (() => {
  const m = Array.from({ length: 68 }, (_, i) => i);
  const swap = (a: number, b: number): void => {
    m[a] = b;
    m[b] = a;
  };
  for (let i = 0; i < 8; i++) swap(i, 16 - i);
  for (let i = 0; i < 5; i++) swap(17 + i, 26 - i);
  swap(31, 35);
  swap(32, 34);
  [
    [36, 45],
    [37, 44],
    [38, 43],
    [39, 42],
    [40, 47],
    [41, 46],
  ].forEach(([a, b]) => swap(a, b));
  [
    [48, 54],
    [49, 53],
    [50, 52],
    [55, 59],
    [56, 58],
    [60, 64],
    [61, 63],
    [65, 67],
  ].forEach(([a, b]) => swap(a, b));
  return m;
})();

export async function createLandmarksExtractor(): Promise<FeatureExtractor> {
  const { initRuntime } = await import('../../src/runtime/node.js');
  await initRuntime();
  const { createFaceExtractor } = await import('../../src/face/extractor.js');
  const face = await createFaceExtractor({});
  const p = face.pipeline;
  const sixViews = async (image: RawImage, lm: readonly Point[]): Promise<Float32Array> => {
    const chips: RawImage[] = [];
    for (const padding of [0.25, 0.15, 0.35]) {
      const c = alignFace(image, lm, 'dlib5', { size: 150, padding, antialias: true }).chip;
      chips.push(c, mirrorImage(c));
    }
    return meanDescriptor(await p.describe(chips));
  };
  return {
    spec: landmarksSpec(),
    async extract(image: RawImage): Promise<Float32Array | null> {
      const { faces, main } = await p.analyze(image, { faces: 'main', descriptors: false });
      if (main < 0) return null;
      const f = faces[main];
      const lm0 = f.landmarks;
      // Re-centred box: the detection box moved onto the centre of the landmarks' bounding box.
      const xs = lm0.map((q) => q.x);
      const ys = lm0.map((q) => q.y);
      const cx = (Math.min(...xs) + Math.max(...xs)) / 2;
      const cy = (Math.min(...ys) + Math.max(...ys)) / 2;
      const box: Box = { ...f.box, x: cx - f.box.width / 2, y: cy - f.box.height / 2 };
      const [lm1] = await p.landmarks(image, [{ box }]);
      if (ONLY) return sixViews(image, lm1);
      // Mirrored photo: the box mirrored, the points mirrored back and re-indexed.
      const W = image.width;
      const [lmM] = await p.landmarks(mirrorImage(image), [
        { box: { ...f.box, x: W - f.box.x - f.box.width } },
      ]);
      const lm2 = lm0.map((q, i) => {
        const r = lmM[MIRROR_68[i]];
        return { x: (q.x + (W - r.x)) / 2, y: (q.y + r.y) / 2 };
      });
      const out = new Float32Array(LM_DIM);
      out.set(await sixViews(image, lm0), 0);
      out.set(await sixViews(image, lm1), 128);
      out.set(await sixViews(image, lm2), 256);
      return out;
    },
    dispose: () => face.dispose(),
  };
}
