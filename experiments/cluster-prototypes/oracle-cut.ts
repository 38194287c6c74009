/**
 * Research aid: how much of the gap to 80% is the calibration of the acceptance cut? For seeds
 * 0-9 (6 views, subject check: off-centre photos left out), the learned merges' exact count at the
 * cut calibrated on the calibration people, against the best cut in hindsight on the evaluation
 * galleries (an oracle, not a result). Reads the feature cache only.
 *
 *   npx tsx experiments/cluster-prototypes/oracle-cut.ts
 */
import path from 'node:path';
import { prepareGalleries, scoreGalleries } from '../../src/cluster/evaluate.js';
import { fitMergeModelOnCalibration } from '../../src/cluster/experiment.js';
import { buildGalleries, facesByPerson, splitPeople } from '../../src/cluster/gallery.js';
import {
  checkLfwSubjects,
  LFW_CLUSTER_SCAN,
  loadLabelledFaces,
  withoutIds,
} from '../../src/cluster/lfw-data.js';
import { defaultDataDir } from '../../src/cli/defaults.js';
import { deriveSeed } from '../../src/core/random.js';

const dir = path.join(defaultDataDir(), 'lfw_deepfunneled_min5');
const { faces } = await loadLabelledFaces({ dir, scan: LFW_CLUSTER_SCAN, views: 6, cacheOnly: true });
const { offCentre } = await checkLfwSubjects({ dir });
const used = withoutIds(faces, new Set(offCentre));
const cuts = Array.from({ length: 17 }, (_, i) => 0.1 + 0.05 * i);
let sumCal = 0;
let sumOracle = 0;
for (let seed = 0; seed < 10; seed++) {
  const byPerson = facesByPerson(used.labels);
  const { evaluation } = splitPeople([...byPerson.keys()], 1 / 3, seed);
  const gs = prepareGalleries(
    used.descriptors,
    buildGalleries(used.labels, evaluation, { galleries: 190, seed: deriveSeed(seed, 'evaluation') }),
  );
  const fit = fitMergeModelOnCalibration(used, { seed, views: 6 });
  const rate = (accept: number): number =>
    scoreGalleries(
      gs,
      'agglomerative-learned',
      { ...fit.calibrated.params, accept },
      { ...fit.model, accept },
    ).summary.exactCountRate;
  const calibrated = rate(fit.model.accept);
  const curve = cuts.map((c) => ({ c, r: rate(c) }));
  const best = curve.reduce((a, b) => (b.r > a.r ? b : a));
  sumCal += calibrated;
  sumOracle += best.r;
  console.log(
    `seed ${seed}: calibrated cut ${fit.model.accept.toFixed(3)} ${(calibrated * 100).toFixed(1)}%, best cut in hindsight ${best.c.toFixed(2)} ${(best.r * 100).toFixed(1)}%; curve ${curve.map((p) => (p.r * 100).toFixed(0)).join(' ')}`,
  );
}
console.log(
  `mean: calibrated ${((sumCal / 10) * 100).toFixed(1)}%, oracle ${((sumOracle / 10) * 100).toFixed(1)}%`,
);
