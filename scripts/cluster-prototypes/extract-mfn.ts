/**
 * Research aid: fills the feature cache with ./mfn-extractor.ts features (MobileFaceNet) for the
 * LFW cluster selection (or `--max-people N`) and dumps them to out/cluster/mfn[-N].json.
 *
 *   npx tsx scripts/cluster-prototypes/extract-mfn.ts [--max-people N]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LFW_CLUSTER_SCAN } from '../../src/cluster/lfw-data.js';
import { defaultDataDir } from '../../src/cli/defaults.js';
import { extractDataset } from '../../src/data/extract.js';
import { MFN_DIM, mfnSpec } from './mfn-extractor.js';

const i = process.argv.indexOf('--max-people');
const maxPeople = i > 0 ? Number(process.argv[i + 1]) : undefined;
const dir = path.join(defaultDataDir(), 'lfw_deepfunneled_min5');
const t0 = Date.now();
const set = await extractDataset({
  dir,
  scan: { ...LFW_CLUSTER_SCAN, ...(maxPeople ? { maxPeople } : {}) },
  source: {
    kind: 'module',
    url: new URL('./mfn-extractor.ts', import.meta.url).href,
    exportName: 'createMfnExtractor',
  },
  spec: mfnSpec(),
  cache: {},
  onProgress: (done, total) => {
    if (done % 50 === 0 || done === total)
      process.stderr.write(`${done}/${total} ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  },
});
const out = path.resolve(
  'out',
  'cluster',
  maxPeople ? `mfn-${process.env.MFN_MODEL ?? 'mobilefacenet'}-${maxPeople}.json` : 'mfn.json',
);
mkdirSync(path.dirname(out), { recursive: true });
const dim = 6 * MFN_DIM;
writeFileSync(
  out,
  JSON.stringify({
    ids: set.samples.map((s) => s.id),
    y: set.samples.map((s) => s.label),
    V: set.samples.map((_, r) => Array.from(set.features.subarray(r * dim, (r + 1) * dim))),
  }),
);
process.stderr.write(`wrote ${out} (${set.samples.length} faces, ${set.stats.extracted} extracted)\n`);
