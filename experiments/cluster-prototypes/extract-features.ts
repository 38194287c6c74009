/**
 * Research aid: fills the feature cache with one of the prototype extractors' features for the
 * LFW cluster selection (or a subset: `--max-people N`) and dumps them, in the order of
 * `loadLabelledFaces`, to out/cluster/<name>[-N].json ({ ids, y, V }).
 *
 *   npx tsx experiments/cluster-prototypes/extract-features.ts views      [--max-people N]  # ./views-extractor.ts (6 views + landmarks), ~17 min
 *   npx tsx experiments/cluster-prototypes/extract-features.ts views18    [--max-people N]  # ./views18-extractor.ts
 *   npx tsx experiments/cluster-prototypes/extract-features.ts mfn        [--max-people N]  # ./mfn-extractor.ts (MFN_MODEL, MFN_DIM)
 *   npx tsx experiments/cluster-prototypes/extract-features.ts landmarks  [--max-people N]  # ./landmarks-extractor.ts (LM_RECENTRED_ONLY)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LFW_CLUSTER_SCAN } from '../../src/cluster/lfw-data.js';
import { defaultDataDir } from '../../src/cli/defaults.js';
import { shapeSize, type FeatureSpec } from '../../src/core/types.js';
import { extractDataset } from '../../src/data/extract.js';
import { landmarksSpec } from './landmarks-extractor.js';
import { mfnSpec } from './mfn-extractor.js';
import { viewsSpec } from './views-extractor.js';
import { views18Spec } from './views18-extractor.js';

const PROTOTYPES: Record<
  string,
  { file: string; exportName: string; spec: () => FeatureSpec; out: () => string }
> = {
  views: {
    file: './views-extractor.ts',
    exportName: 'createViewsExtractor',
    spec: viewsSpec,
    out: () => 'views',
  },
  views18: {
    file: './views18-extractor.ts',
    exportName: 'createViews18Extractor',
    spec: views18Spec,
    out: () => 'views18',
  },
  mfn: {
    file: './mfn-extractor.ts',
    exportName: 'createMfnExtractor',
    spec: mfnSpec,
    out: () => `mfn-${process.env.MFN_MODEL ?? 'mobilefacenet'}`,
  },
  landmarks: {
    file: './landmarks-extractor.ts',
    exportName: 'createLandmarksExtractor',
    spec: landmarksSpec,
    out: () => `landmarks${process.env.LM_RECENTRED_ONLY === '1' ? '-recentred' : ''}`,
  },
};

const name = process.argv[2];
const proto = PROTOTYPES[name];
if (!proto) {
  process.stderr.write(`usage: extract-features.ts ${Object.keys(PROTOTYPES).join('|')} [--max-people N]\n`);
  process.exit(2);
}
const i = process.argv.indexOf('--max-people');
const maxPeople = i > 0 ? Number(process.argv[i + 1]) : undefined;
const t0 = Date.now();
const spec = proto.spec();
const set = await extractDataset({
  dir: path.join(defaultDataDir(), 'lfw_deepfunneled_min5'),
  scan: { ...LFW_CLUSTER_SCAN, ...(maxPeople ? { maxPeople } : {}) },
  source: { kind: 'module', url: new URL(proto.file, import.meta.url).href, exportName: proto.exportName },
  spec,
  cache: {},
  onProgress: (done, total) => {
    if (done % 50 === 0 || done === total)
      process.stderr.write(`${done}/${total} ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  },
});
const out = path.resolve('out', 'cluster', `${proto.out()}${maxPeople ? `-${maxPeople}` : ''}.json`);
mkdirSync(path.dirname(out), { recursive: true });
const dim = shapeSize(spec.shape);
writeFileSync(
  out,
  JSON.stringify({
    ids: set.samples.map((s) => s.id),
    y: set.samples.map((s) => s.label),
    V: set.samples.map((_, r) => Array.from(set.features.subarray(r * dim, (r + 1) * dim))),
  }),
);
process.stderr.write(`wrote ${out} (${set.samples.length} faces, ${set.stats.extracted} extracted)\n`);
