/**
 * Clustering real face descriptors: the bbt demo set (8 people × 5 photos) through the shared
 * feature cache (extracted on a first run), and, when the feature cache already holds the LFW
 * selection, evaluation galleries of LFW people. The LFW part never extracts (minutes of work):
 * with an incomplete cache it skips, saying so.
 */
import { describe, expect, it } from 'vitest';
import { deriveSeed } from '../core/random.js';
import { datasetDir } from '../testing/datasets.js';
import { describeWithData } from '../testing/describe-with-data.js';
import { prepareGalleries, scoreGalleries } from './evaluate.js';
import { buildGalleries, facesByPerson, splitPeople } from './gallery.js';
import { type LabelledFaces, loadLabelledFaces } from './lfw-data.js';
import {
  CLUSTER_METHODS,
  clusterFaces,
  DEFAULT_CLUSTER_METHOD,
  mergeModelFor,
  resolveParams,
} from './methods.js';
import { scoreClustering } from './metrics.js';

describeWithData('bbt_faceapi_demo', (dir) => {
  it('finds the 8 people of the bbt demo set with every method', async () => {
    // Prepare: 40 descriptors (cached after the first run anywhere in the project).
    const { faces } = await loadLabelledFaces({ dir, scan: {} });
    expect(faces.descriptors).toHaveLength(40);
    for (const method of CLUSTER_METHODS) {
      // Execute: calibrated defaults, no count given.
      const people = clusterFaces(faces.descriptors, { method });
      const s = scoreClustering(people.labels, faces.labels);
      // Assert: measured, every method finds exactly the 8 (BCubed F 1); the floors leave room
      // for a small change of the face pipeline, not for a broken clustering.
      expect(people.count, method).toBeGreaterThanOrEqual(7);
      expect(people.count, method).toBeLessThanOrEqual(9);
      expect(s.bcubed.f, method).toBeGreaterThanOrEqual(0.97);
    }
    const best = clusterFaces(faces.descriptors, { method: DEFAULT_CLUSTER_METHOD });
    expect(best.count).toBe(8);
    expect(scoreClustering(best.labels, faces.labels).bcubed.f).toBe(1);
  });

  it('finds the same 8 people from descriptors averaged over 6 views, with the 6-view calibration', async () => {
    // Prepare: the face pipeline with descriptorViews 6 (its own cache file; ~15 s the first time).
    const { faces } = await loadLabelledFaces({ dir, scan: {}, views: 6 });
    const plain = (await loadLabelledFaces({ dir, scan: {} })).faces;
    expect(faces.descriptors).toHaveLength(40);
    // Execute
    const people = clusterFaces(faces.descriptors, { views: 6 });
    // Assert: the right answer, and really other descriptors than the plain ones.
    expect(people.count).toBe(8);
    expect(scoreClustering(people.labels, faces.labels).bcubed.f).toBe(1);
    const moved = faces.descriptors.map((d, i) =>
      Math.hypot(...d.map((v, k) => v - plain.descriptors[i][k])),
    );
    expect(Math.min(...moved)).toBeGreaterThan(1e-3);
  });
});

/** 19 evaluation galleries of seed 0 (2 to 20 people each), as `fedex cluster --eval` builds them. */
function evaluationGalleries(faces: LabelledFaces): ReturnType<typeof prepareGalleries> {
  const { evaluation } = splitPeople([...facesByPerson(faces.labels).keys()], 1 / 3, 0);
  return prepareGalleries(
    faces.descriptors,
    buildGalleries(faces.labels, evaluation, { galleries: 19, seed: deriveSeed(0, 'evaluation') }),
  );
}

describe('LFW evaluation galleries (needs the LFW selection in the feature cache)', () => {
  const lfw = datasetDir('lfw_deepfunneled_min5');
  it.skipIf(!lfw)(
    'scores the default method on 19 galleries of evaluation people (2 to 20 people each)',
    async (ctx) => {
      // Prepare: cached descriptors only; an incomplete cache skips loudly.
      const { faces, missing } = await loadLabelledFaces({ dir: lfw!, cacheOnly: true });
      if (missing.length > 0) {
        console.warn(
          `\n!!! SKIPPING the LFW gallery test: ${missing.length} photos of the selection are not in the feature cache.\n!!! Run: npm run fedex -- extract --data ${lfw} --min-photos 5 --max-per-person 20\n`,
        );
        ctx.skip();
      }
      const galleries = evaluationGalleries(faces);
      // Execute
      const { summary } = scoreGalleries(galleries, DEFAULT_CLUSTER_METHOD);
      // Assert: floors a little under the measured values of the default, learned merges (BCubed F
      // 0.992, exact count 15/19, mean absolute count error 0.26; plain average linkage measured
      // 0.985, 13/19, 0.32; docs/clustering.md has the full table).
      expect(summary.bcubedF).toBeGreaterThanOrEqual(0.97);
      expect(summary.exactCountRate).toBeGreaterThanOrEqual(0.7);
      expect(summary.meanAbsCountError).toBeLessThanOrEqual(0.5);
    },
  );
  it.skipIf(!lfw)('scores learned merges on 6-view descriptors on the same 19 galleries', async (ctx) => {
    const { faces, missing } = await loadLabelledFaces({ dir: lfw!, cacheOnly: true, views: 6 });
    if (missing.length > 0) {
      console.warn(
        `\n!!! SKIPPING the 6-view LFW gallery test: ${missing.length} photos of the selection have no 6-view descriptor in the feature cache.\n!!! Run: npm run fedex -- cluster --eval --views 6\n`,
      );
      ctx.skip();
    }
    const galleries = evaluationGalleries(faces);
    const { summary } = scoreGalleries(
      galleries,
      DEFAULT_CLUSTER_METHOD,
      resolveParams(DEFAULT_CLUSTER_METHOD, {}, 6),
      mergeModelFor(6),
    );
    // Floors a little under the measured values (BCubed F 0.994, exact count 15/19, mean
    // absolute count error 0.26; docs/clustering.md has the 190-gallery figures).
    expect(summary.bcubedF).toBeGreaterThanOrEqual(0.97);
    expect(summary.exactCountRate).toBeGreaterThanOrEqual(0.7);
    expect(summary.meanAbsCountError).toBeLessThanOrEqual(0.5);
  });
});
