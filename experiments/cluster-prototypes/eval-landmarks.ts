/**
 * Research aid: the exact count over seeds 0-9 with 6-view descriptors cut from re-centred
 * landmarks (./landmarks-extractor.ts with LM_RECENTRED_ONLY=1, extracted first by
 * `LM_RECENTRED_ONLY=1 npx tsx experiments/cluster-prototypes/extract-features.ts landmarks`, ~30 min) against
 * the library's 6 views, on the same photos: both without the photos whose main face is off-centre.
 *
 *   LM_RECENTRED_ONLY=1 npx tsx experiments/cluster-prototypes/eval-landmarks.ts
 */
import path from 'node:path';
import { renderSeeds, runClusterExperiment, summarizeSeeds } from '../../src/cluster/experiment.js';
import {
  checkLfwSubjects,
  LFW_CLUSTER_SCAN,
  type LabelledFaces,
  loadLabelledFaces,
  withoutIds,
} from '../../src/cluster/lfw-data.js';
import { defaultDataDir } from '../../src/cli/defaults.js';
import { extractDataset } from '../../src/data/extract.js';
import { landmarksSpec } from './landmarks-extractor.js';

const dir = path.join(defaultDataDir(), 'lfw_deepfunneled_min5');
const set = await extractDataset({
  dir,
  scan: LFW_CLUSTER_SCAN,
  source: {
    kind: 'module',
    url: new URL('./landmarks-extractor.ts', import.meta.url).href,
    exportName: 'createLandmarksExtractor',
  },
  spec: landmarksSpec(),
  cache: {},
});
const recentred: LabelledFaces = {
  descriptors: set.samples.map((_, r) => set.features.slice(r * 128, r * 128 + 128)),
  labels: Int32Array.from(set.samples.map((s) => s.label)),
  ids: set.samples.map((s) => s.id),
  people: set.people,
};
const { faces: library } = await loadLabelledFaces({ dir, views: 6, cacheOnly: true });
const { offCentre } = await checkLfwSubjects({ dir });
// The same photos in both: those both have a face in, minus the off-centre ones.
const both = new Set(recentred.ids.filter((id) => library.ids.includes(id)));
const drop = (f: LabelledFaces): LabelledFaces =>
  withoutIds(f, new Set([...offCentre, ...f.ids.filter((id) => !both.has(id))]));
for (const [name, faces] of [
  ['library 6 views', drop(library)],
  ['6 views from re-centred landmarks', drop(recentred)],
] as const) {
  const reports = Array.from({ length: 10 }, (_, seed) =>
    runClusterExperiment(faces, {
      seed,
      views: 6,
      methods: ['agglomerative-average', 'agglomerative-learned'],
    }),
  );
  console.log(`\n${name}: ${faces.descriptors.length} faces\n` + renderSeeds(summarizeSeeds(reports)));
}
