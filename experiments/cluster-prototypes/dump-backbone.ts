/**
 * Research aid: features of any backbone/split for the LFW cluster selection (or `--max-people N`),
 * through the feature cache (extracting misses), dumped to out/cluster/<backbone>-<split>[-N].json.
 *
 *   npx tsx experiments/cluster-prototypes/dump-backbone.ts faceres embedding [--max-people N]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LFW_CLUSTER_SCAN } from '../../src/cluster/lfw-data.js';
import { defaultDataDir } from '../../src/cli/defaults.js';
import { shapeSize } from '../../src/core/types.js';
import { extractDataset } from '../../src/data/extract.js';
import { splitExtractorSource } from '../../src/data/extractor-source.js';

const [backbone, split] = process.argv.slice(2);
const i = process.argv.indexOf('--max-people');
const maxPeople = i > 0 ? Number(process.argv[i + 1]) : undefined;
const t0 = Date.now();
const set = await extractDataset({
  dir: path.join(defaultDataDir(), 'lfw_deepfunneled_min5'),
  scan: { ...LFW_CLUSTER_SCAN, ...(maxPeople ? { maxPeople } : {}) },
  source: splitExtractorSource(backbone, split, {}),
  cache: {},
  onProgress: (done, total) => {
    if (done % 100 === 0 || done === total)
      process.stderr.write(`${done}/${total} ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  },
});
const dim = shapeSize(set.spec.shape);
const out = path.resolve('out', 'cluster', `${backbone}-${split}${maxPeople ? `-${maxPeople}` : ''}.json`);
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(
  out,
  JSON.stringify({
    ids: set.samples.map((s) => s.id),
    y: set.samples.map((s) => s.label),
    V: set.samples.map((_, r) => Array.from(set.features.subarray(r * dim, (r + 1) * dim))),
  }),
);
process.stderr.write(`wrote ${out} (${set.samples.length} faces, ${set.stats.extracted} extracted)\n`);
