/**
 * Research aid: the counting errors of agglomerative-learned (6 views; the subject check leaves the
 * off-centre photos out, SECOND_LOOK=1 takes the second look instead, CHECK=0 neither) per evaluation gallery of seeds SEEDS (default 0,1,2): which people
 * were merged, which were split and which photos split off, and a tally of the most frequent.
 * Reads the feature cache only.
 *
 *   npx tsx experiments/cluster-prototypes/probe-errors.ts
 */
import path from 'node:path';
import {
  loadLabelledFaces,
  LFW_CLUSTER_SCAN,
  checkLfwSubjects,
  lookAgainForSubjects,
  withDescriptors,
  withoutIds,
} from '../../src/cluster/lfw-data.js';
import { fitMergeModelOnCalibration } from '../../src/cluster/experiment.js';
import { buildGalleries, facesByPerson, splitPeople } from '../../src/cluster/gallery.js';
import { prepareGalleries } from '../../src/cluster/evaluate.js';
import { clusterDistances, resolveParams } from '../../src/cluster/methods.js';
import { deriveSeed } from '../../src/core/random.js';
const dir = path.resolve('../shared/datasets/lfw_deepfunneled_min5');
const { faces } = await loadLabelledFaces({ dir, scan: LFW_CLUSTER_SCAN, views: 6, cacheOnly: true });
const { offCentre } = await checkLfwSubjects({ dir });
const again =
  process.env.SECOND_LOOK === '1'
    ? await lookAgainForSubjects({ dir, ids: offCentre, views: 6 })
    : { found: new Map<string, Float32Array>(), notFound: offCentre };
const used =
  process.env.CHECK === '0'
    ? faces
    : withoutIds(withDescriptors(faces, again.found), new Set(again.notFound));
const seeds = (process.env.SEEDS ?? '0,1,2').split(',').map(Number);
const tally = new Map<string, number>();
for (const seed of seeds) {
  const byPerson = facesByPerson(used.labels);
  const { evaluation } = splitPeople([...byPerson.keys()], 1 / 3, seed);
  const gs = prepareGalleries(
    used.descriptors,
    buildGalleries(used.labels, evaluation, { galleries: 190, seed: deriveSeed(seed, 'evaluation') }),
  );
  const fit = fitMergeModelOnCalibration(used, { seed, views: 6 });
  const params = resolveParams('agglomerative-learned', fit.calibrated.params, 6);
  console.log('seed', seed, 'accept', fit.model.accept);
  gs.forEach((g, gi) => {
    const r = clusterDistances(g.dist, 'agglomerative-learned', params, {
      descriptors: g.descriptors,
      model: fit.model,
    });
    const clusters = new Map<number, number[]>();
    r.labels.forEach((c, i) => {
      if (!clusters.has(c)) clusters.set(c, []);
      clusters.get(c)!.push(i);
    });
    const nPred = clusters.size,
      nTrue = g.people.length;
    if (nPred === nTrue) return;
    const parts: string[] = [];
    // majority label per cluster
    const owner = new Map<number, number>();
    for (const [c, members] of clusters) {
      const counts = new Map<number, number>();
      for (const i of members) counts.set(g.truth[i], (counts.get(g.truth[i]) ?? 0) + 1);
      const labs = [...counts.entries()].sort((a, b) => b[1] - a[1]);
      owner.set(c, labs[0][0]);
      if (labs.length > 1) {
        const s = 'MERGE ' + labs.map(([l, n]) => `${used.people[l]}x${n}`).join('+');
        parts.push(s);
        tally.set(s, (tally.get(s) ?? 0) + 1);
      }
    }
    const seen = new Map<number, number[]>();
    for (const [c, l] of owner) {
      if (!seen.has(l)) seen.set(l, []);
      seen.get(l)!.push(c);
    }
    for (const [l, cs] of seen)
      if (cs.length > 1) {
        const sizes = cs.map((c) => clusters.get(c)!.length).sort((a, b) => b - a);
        const small = cs
          .filter((c) => clusters.get(c)!.length < sizes[0])
          .flatMap((c) => clusters.get(c)!.map((i) => used.ids[g.faces[i]].split('/')[1]));
        const s = `SPLIT ${used.people[l]} ${sizes.join('/')} ${small.slice(0, 4).join(',')}`;
        parts.push(s);
        tally.set(
          `SPLIT ${small.slice(0, 3).join(',')}`,
          (tally.get(`SPLIT ${small.slice(0, 3).join(',')}`) ?? 0) + 1,
        );
      }
    console.log(`  g${gi} n=${nTrue} pred=${nPred}`, parts.join(' | '));
  });
}
console.log(
  [...tally.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 30)
    .map(([k, v]) => `${v} ${k}`)
    .join('\n'),
);
