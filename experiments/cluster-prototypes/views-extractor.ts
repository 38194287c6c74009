/**
 * Research aid (not part of the library): a "feature extractor" whose features are several
 * face-api descriptors of the same main face — the normal chip, its mirror image, chips with a
 * tighter and a looser border, and the mirror of each — so prototypes can test test-time
 * augmentation without re-running detection per variant. Runs through `extractDataset` (worker
 * threads, cache keyed by photo hash) with its own spec.
 *
 * Features: 6 × 128 = [dlib5 p0.25, mirror, dlib5 p0.15, mirror, dlib5 p0.35, mirror], then the
 * detection [score, box width, box height, photo width] and the 68 landmarks (x, y in photo pixels).
 */
import { createRequire } from 'node:module';
import type { FeatureExtractor, FeatureSpec, RawImage } from '../../src/core/types.js';
import { alignFace } from '../../src/face/align.js';
import { mirrorImage } from '../../src/face/views.js';

export const VIEW_PADDINGS = [0.25, 0.15, 0.35] as const;
export const VIEWS_DIM = 768 + 4 + 136;

export function viewsSpec(): FeatureSpec {
  const require = createRequire(import.meta.url);
  const { version } = require('@vladmandic/face-api/package.json') as { version: string };
  return {
    backboneId: 'faceapi-resnet-views',
    backboneVersion: version,
    split: 'views6-lm',
    shape: [VIEWS_DIM],
  };
}

export async function createViewsExtractor(): Promise<FeatureExtractor> {
  const { initRuntime } = await import('../../src/runtime/node.js');
  await initRuntime();
  const { createFaceExtractor } = await import('../../src/face/extractor.js');
  const face = await createFaceExtractor({});
  const p = face.pipeline;
  return {
    spec: viewsSpec(),
    async extract(image: RawImage): Promise<Float32Array | null> {
      const { faces, main } = await p.analyze(image, { faces: 'main', descriptors: false });
      if (main < 0) return null;
      const f = faces[main];
      const lm = f.landmarks;
      const chips: RawImage[] = [];
      for (const padding of VIEW_PADDINGS) {
        const a = alignFace(image, lm, 'dlib5', { size: 150, padding, antialias: true });
        chips.push(a.chip, mirrorImage(a.chip));
      }
      const d = await p.describe(chips);
      const out = new Float32Array(VIEWS_DIM);
      d.forEach((v, i) => out.set(v, i * 128));
      out.set([f.score, f.box.width, f.box.height, image.width], 768);
      lm.forEach((pt, i) => out.set([pt.x, pt.y], 772 + 2 * i));
      return out;
    },
    dispose: () => face.dispose(),
  };
}
