/**
 * Research aid: every detection down to confidence 0.1 in the given LFW photos (centre offset,
 * width, score), to see whether the detector saw the subject of an off-centre photo at all.
 *
 *   npx tsx experiments/cluster-prototypes/probe-offcentre.ts '["Boris_Becker/Boris_Becker_0004.jpg"]'
 */
import path from 'node:path';
import { initRuntime } from '../../src/runtime/node.js';
import { createFaceExtractor } from '../../src/face/extractor.js';
import { readImageFile } from '../../src/platform/node/image.js';
const ids = JSON.parse(process.argv[2]) as string[];
const dir = path.resolve('../shared/datasets/lfw_deepfunneled_min5');
await initRuntime();
const f = await createFaceExtractor({ minConfidence: 0.1, retryMinConfidence: 0 });
for (const id of ids) {
  const img = await readImageFile(path.join(dir, id));
  const faces = await f.pipeline.detect(img);
  const fmt = (fs: typeof faces, W: number) =>
    fs
      .map(
        (x) =>
          `(${((x.box.x + x.box.width / 2) / W - 0.5).toFixed(2)},${((x.box.y + x.box.height / 2) / W - 0.5).toFixed(2)} w${(x.box.width / W).toFixed(2)} s${x.score.toFixed(2)})`,
      )
      .join(' ');
  console.log(id, img.width, 'full:', fmt(faces, img.width));
}
f.dispose();
