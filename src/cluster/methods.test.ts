/**
 * One conformance suite, run against every clustering method: what any "how many people" answer
 * must get right whatever the algorithm.
 */
import { describe, expect, it } from 'vitest';
import { isFedexError } from '../core/errors.js';
import {
  CLUSTER_METHODS,
  clusterFaces,
  DEFAULT_CLUSTER_METHOD,
  DEFAULT_METHOD_PARAMS,
  DEFAULT_METHOD_PARAMS_VIEWS6,
  defaultMethodFor,
  FALLBACK_CLUSTER_METHOD,
  mergeModelFor,
  resolveParams,
} from './methods.js';
import { MERGE_MODEL_VIEWS6 } from './merge-model-views6.generated.js';
import { bcubed } from './metrics.js';
import { pairwiseDistances } from './distance.js';
import { MERGE_MODEL } from './merge-model.generated.js';
import { cohortStats } from './cohort.js';
import { learnedMergeFromDistances } from './learned-merge.js';
import { syntheticFaces } from './synthetic.js';

// Synthetic people around the mean real face: distance-only methods do not care where they sit,
// the learned merge model does (it measures faces from that mean face, as on real descriptors).
const around = MERGE_MODEL.centre;

describe.each(CLUSTER_METHODS)('method %s', (method) => {
  it('finds no people in no faces', () => {
    const r = clusterFaces([], { method });
    expect(r.count).toBe(0);
    expect(r.labels).toHaveLength(0);
    expect(r.groups).toEqual([]);
  });

  it('finds one person in a single face', () => {
    const r = clusterFaces([Float32Array.from({ length: 128 }, () => 0.1)], { method });
    expect(r.count).toBe(1);
    expect(Array.from(r.labels)).toEqual([0]);
    expect(r.groups).toEqual([[0]]);
  });

  it('counts well-separated people right, with unbalanced photo counts', () => {
    // Prepare: 6 people with 12, 6, 4, 3, 2, 1 photos, far apart compared with their spread.
    const { descriptors, labels } = syntheticFaces({
      photos: [12, 6, 4, 3, 2, 1],
      between: 1.2,
      within: 0.25,
      around,
      seed: 3,
    });
    // Execute (DBSCAN: two faces make a core face, else the 2-photo person is noise by definition)
    const r = clusterFaces(descriptors, { method, minPoints: 2 });
    // Assert
    expect(r.count).toBe(6);
    expect(bcubed(r.labels, labels).f).toBe(1);
    expect(r.groups.map((g) => g.length)).toEqual([12, 6, 4, 3, 2, 1]);
  });

  it('puts identical faces together', () => {
    const a = Float32Array.from({ length: 128 }, (_, i) => Math.sin(i));
    const r = clusterFaces([a, a.slice(), a.slice()], { method });
    expect(r.count).toBe(1);
  });

  it('gives the same answer twice (seeded)', () => {
    const { descriptors } = syntheticFaces({
      photos: [8, 8, 8, 8],
      between: 0.7,
      within: 0.45,
      around,
      seed: 9,
    });
    const a = clusterFaces(descriptors, { method, seed: 4 });
    const b = clusterFaces(descriptors, { method, seed: 4 });
    expect(Array.from(a.labels)).toEqual(Array.from(b.labels));
  });

  it('rejects descriptors of different lengths and a bad threshold with BAD_ARGUMENT', () => {
    const bad = (): unknown => clusterFaces([new Float32Array(128), new Float32Array(64)], { method });
    expect(bad).toThrow(/descriptor 1 has 64 values/);
    expect(() => clusterFaces([new Float32Array(4)], { method, threshold: -1 })).toThrow(/> 0/);
    expect(() => clusterFaces([Float32Array.of(Number.NaN)], { method })).toThrow(/non-finite/);
    try {
      bad();
    } catch (e) {
      expect(isFedexError(e, 'BAD_ARGUMENT')).toBe(true);
    }
  });
});

describe('clusterFaces', () => {
  it('uses the calibrated default method and reports its settings', () => {
    const r = clusterFaces([Float32Array.from(around)]);
    expect(r.method).toBe(DEFAULT_CLUSTER_METHOD);
    expect(r.method).toBe('agglomerative-learned');
    expect(r.params).toEqual(resolveParams(DEFAULT_CLUSTER_METHOD));
    expect(r.params.accept).toBe(MERGE_MODEL.accept);
  });

  it('takes the 6-view calibration (thresholds and merge model) for views: 6', () => {
    const faces = syntheticFaces({ photos: [4, 3, 1], around, between: 0.9, within: 0.3, seed: 3 });

    const six = clusterFaces(faces.descriptors, { views: 6 });
    const avg6 = clusterFaces(faces.descriptors, { views: 6, method: 'agglomerative-average' });

    expect(six.params.accept).toBe(MERGE_MODEL_VIEWS6.accept);
    expect(six.params.threshold).toBe(MERGE_MODEL_VIEWS6.maxHeight);
    expect(avg6.params.threshold).toBe(DEFAULT_METHOD_PARAMS_VIEWS6['agglomerative-average'].threshold);
    expect(resolveParams('chinese-whispers', {}, 1)).toEqual(DEFAULT_METHOD_PARAMS['chinese-whispers']);
    expect(mergeModelFor(6)).toBe(MERGE_MODEL_VIEWS6);
    expect(mergeModelFor()).toBe(MERGE_MODEL);
    // An explicit setting still wins over the 6-view default.
    expect(clusterFaces(faces.descriptors, { views: 6, accept: 0.9 }).params.accept).toBe(0.9);
  });

  it('rejects views it has no calibration for', () => {
    const { descriptors } = syntheticFaces({ photos: [2], around, seed: 4 });
    for (const views of [0, 2, 3]) {
      let err: unknown;
      try {
        clusterFaces(descriptors, { views: views as 1 });
      } catch (e) {
        err = e;
      }
      expect(isFedexError(err, 'BAD_ARGUMENT'), String(views)).toBe(true);
    }
  });

  it('falls back to average linkage for descriptors the merge model does not fit', () => {
    // Prepare: 8-value descriptors (the model was learned on 128-value face-api ones).
    const { descriptors } = syntheticFaces({ photos: [3, 2], dim: 8, between: 1.2, within: 0.2, seed: 1 });
    // Execute
    const r = clusterFaces(descriptors);
    // Assert: the fallback, named in the result; asking for the learned method is an error.
    expect(defaultMethodFor(descriptors)).toBe(FALLBACK_CLUSTER_METHOD);
    expect(r.method).toBe('agglomerative-average');
    expect(r.count).toBe(2);
    expect(() => clusterFaces(descriptors, { method: 'agglomerative-learned' })).toThrow(
      /merge model does not fit/,
    );
  });

  it('takes a precomputed distance matrix, and refuses one of the wrong size', () => {
    const { descriptors } = syntheticFaces({ photos: [4, 3], between: 1.2, within: 0.25, around, seed: 2 });
    const people = clusterFaces(descriptors, { distances: pairwiseDistances(descriptors) });
    expect(people.count).toBe(2);
    expect(() => clusterFaces(descriptors.slice(1), { distances: pairwiseDistances(descriptors) })).toThrow(
      /for 7 faces, not 6/,
    );
  });

  it('clusters with a cohort model only when given a cohort, and takes a cohort only with one', () => {
    // Prepare: the shipped model with a strong 13th weight (closer than the strangers: merge), k 3.
    const { descriptors } = syntheticFaces({
      photos: [4, 3, 1],
      between: 1.2,
      within: 0.25,
      around,
      seed: 4,
    });
    const cohort = syntheticFaces({ photos: [1, 1, 1, 1, 1], around, seed: 9 }).descriptors;
    const model = {
      ...MERGE_MODEL,
      mean: [...MERGE_MODEL.mean, 0],
      scale: [...MERGE_MODEL.scale, 1],
      weights: [...MERGE_MODEL.weights, -3],
      cohortK: 3,
    };
    // Execute
    const people = clusterFaces(descriptors, { model, cohort });
    // Assert: the same as the learned merges given the statistics of the same cohort by hand.
    const byHand = learnedMergeFromDistances(pairwiseDistances(descriptors), descriptors, {
      model,
      cohort: cohortStats(descriptors, cohort, 3),
    });
    expect(Array.from(people.labels)).toEqual(Array.from(byHand.labels));
    expect(people.count).toBe(3);
    // Refused: a cohort model without a cohort, a cohort without one, too small a cohort, another method.
    expect(() => clusterFaces(descriptors, { model })).toThrow(/cohort model: it needs/);
    expect(() => clusterFaces(descriptors, { cohort })).toThrow(/a cohort needs a cohort merge model/);
    expect(() => clusterFaces(descriptors, { model, cohort: cohort.slice(0, 2) })).toThrow(
      /fewer than k = 3/,
    );
    expect(() => clusterFaces(descriptors, { model, cohort, method: 'agglomerative-average' })).toThrow(
      /agglomerative-learned only, not agglomerative-average/,
    );
  });

  it('rejects an unknown method', () => {
    expect(() => clusterFaces([], { method: 'kmeans' as never })).toThrow(
      /unknown clustering method "kmeans"/,
    );
  });

  it('lets the threshold decide: tiny joins nothing, huge joins everything', () => {
    const { descriptors } = syntheticFaces({ photos: [3, 3], around, seed: 1 });
    for (const method of CLUSTER_METHODS) {
      expect(clusterFaces(descriptors, { method, threshold: 1e-6 }).count).toBe(6);
      // The learned method's threshold only caps the merges; its model decides below the cap,
      // so "everything" also needs a cut that accepts any merge.
      expect(
        clusterFaces(descriptors, { method, threshold: 100, minPoints: 2, accept: Number.MIN_VALUE }).count,
      ).toBe(1);
    }
  });
});
