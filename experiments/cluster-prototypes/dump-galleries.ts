/**
 * Dumps the LFW descriptors and the exact calibration / evaluation galleries of `fedex cluster
 * --eval` (seeds 0, 1, 2; 570 calibration galleries, the first 95 being --eval's) to
 * out/cluster/proto-data.json, for the numpy prototypes beside this file (docs/clustering.md,
 * "What else was tried"). Cache only; never extracts.
 *
 *   npx tsx experiments/cluster-prototypes/dump-galleries.ts && python3 experiments/cluster-prototypes/learned_merges.py 0 570
 *
 * `--subject-check`: leave out the photos whose main face is off-centre first (as `fedex cluster
 * --eval --subject-check` does; boxes from the cache) and write proto-data-subject.json.
 * `SEEDS=0,1,...,9` dumps other seeds (default 0,1,2); `PROTO_OUT` names the file.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildGalleries, facesByPerson, splitPeople } from '../../src/cluster/gallery.js';
import {
  checkLfwSubjects,
  loadLabelledFaces,
  LFW_CLUSTER_SCAN,
  withoutIds,
} from '../../src/cluster/lfw-data.js';
import { defaultDataDir } from '../../src/cli/defaults.js';
import { deriveSeed } from '../../src/core/random.js';

const dir = path.join(defaultDataDir(), 'lfw_deepfunneled_min5');
const subject = process.argv.includes('--subject-check');
const loaded = (await loadLabelledFaces({ dir, scan: LFW_CLUSTER_SCAN, cacheOnly: true })).faces;
const faces = subject ? withoutIds(loaded, new Set((await checkLfwSubjects({ dir })).offCentre)) : loaded;
const byPerson = facesByPerson(faces.labels);
const seeds = (process.env.SEEDS ?? '0,1,2')
  .split(',')
  .map(Number)
  .map((seed) => {
    const { calibration, evaluation } = splitPeople([...byPerson.keys()], 1 / 3, seed);
    const cal = buildGalleries(faces.labels, calibration, {
      galleries: Number(process.env.CAL_GALLERIES ?? 570),
      seed: deriveSeed(seed, 'calibration'),
    });
    const ev = buildGalleries(faces.labels, evaluation, {
      galleries: 190,
      seed: deriveSeed(seed, 'evaluation'),
    });
    return { calibration, evaluation, cal: cal.map((g) => g.faces), ev: ev.map((g) => g.faces) };
  });
const out = path.resolve(
  'out',
  'cluster',
  process.env.PROTO_OUT ?? (subject ? 'proto-data-subject.json' : 'proto-data.json'),
);
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(
  out,
  JSON.stringify({
    X: faces.descriptors.map((d) => Array.from(d)),
    y: Array.from(faces.labels),
    ids: faces.ids,
    seeds,
  }),
);
process.stdout.write(`wrote ${out}\n`);
