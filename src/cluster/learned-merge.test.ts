import { describe, expect, it } from 'vitest';
import { isFedexError } from '../core/errors.js';
import { createRng } from '../core/random.js';
import { agglomerativeFromDistances, nnChainMerges } from './agglomerative.js';
import { pairwiseDistances } from './distance.js';
import { CohortIndex } from './cohort.js';
import { prepareGalleries, withCohortStats } from './evaluate.js';
import {
  featureCount,
  fitLogistic,
  learnedMergeFromDistances,
  meanDescriptor,
  MERGE_FEATURES,
  mergeProbability,
  solveSpd,
  trainingMerges,
  walkMerges,
  type MergeModel,
} from './learned-merge.js';
import { fitMergeModel } from './merge-model-fit.js';
import { MERGE_MODEL } from './merge-model.generated.js';
import { gaussian, syntheticFaces } from './synthetic.js';

const F = MERGE_FEATURES.length;

/** A model that only looks at the average-linkage height: p ≥ 0.5 exactly when height ≤ t. */
function heightOnly(t: number, dim: number): MergeModel {
  return {
    centre: new Array<number>(dim).fill(0),
    mean: new Array<number>(F).fill(0),
    scale: new Array<number>(F).fill(1),
    weights: [-100, ...new Array<number>(F - 1).fill(0)],
    bias: 100 * t,
    accept: 0.5,
    maxHeight: 10,
  };
}

describe('walkMerges', () => {
  it('computes the merge features by hand on three points on a line', () => {
    // Prepare: faces at 0, 1 and 3 on the first axis (2-d); mean face at the origin.
    const descriptors = [Float32Array.of(0, 0), Float32Array.of(1, 0), Float32Array.of(3, 0)];
    const dist = pairwiseDistances(descriptors);
    const merges = nnChainMerges(3, dist.data.slice(), 'average');
    const seen: number[][] = [];
    // Execute
    walkMerges(dist, descriptors, merges, [0, 0], 10, (f) => (seen.push(Array.from(f)), true));
    // Assert: first {0} + {1} at 1; then {2} (smaller side, a) + {0, 1} at (3 + 2) / 2 = 2.5.
    expect(seen).toHaveLength(2);
    // First merge, two single faces 1 apart; the chain names face 1 first (a), face 0 second (b).
    expect(seen[0]).toEqual([1, 1, 1, 0, 0, 0, 0, 1, 0, 1, 1, 0]);
    const [d, lo, hi, logA, logB, spreadA, spreadB, qA, qB, single, normA, normB] = seen[1];
    expect(d).toBeCloseTo(2.5, 6);
    expect([lo, hi]).toEqual([2, 3]);
    expect(logA).toBe(0);
    expect(logB).toBeCloseTo(Math.log(2), 12);
    expect([spreadA, spreadB]).toEqual([0, 1]);
    expect(qA).toBe(3); // distance of face 2 from the mean face
    expect(qB).toBeCloseTo(0.5, 12); // (0 + 1) / 2
    expect(single).toBe(1);
    expect(normA).toBe(3);
    expect(normB).toBeCloseTo(0.5, 12);
  });

  it('never asks about a merge above a rejected side or above maxHeight', () => {
    const descriptors = [Float32Array.of(0), Float32Array.of(1), Float32Array.of(3), Float32Array.of(10)];
    const dist = pairwiseDistances(descriptors);
    const merges = nnChainMerges(4, dist.data.slice(), 'average');
    let asked = 0;
    // Reject the first merge ({0} + {1}): the merges above it are dead without being asked.
    const kept = walkMerges(dist, descriptors, merges, [0], 100, () => (asked++, false));
    expect(asked).toBe(1);
    expect(Array.from(kept)).toEqual([0, 0, 0]);
    // Accept everything below 2.6: the merge with face 3 (height 8.67) is never asked about.
    asked = 0;
    const kept2 = walkMerges(dist, descriptors, merges, [0], 2.6, () => (asked++, true));
    expect(asked).toBe(2);
    expect(Array.from(kept2).filter(Boolean)).toHaveLength(2);
  });
});

describe('learnedMergeFromDistances', () => {
  it('equals average linkage at t when the model only looks at the height (random sets)', () => {
    for (let seed = 0; seed < 20; seed++) {
      // Prepare: 25 random points in 6-d, distances around 1.
      const rng = createRng(seed);
      const descriptors = Array.from({ length: 25 }, () =>
        Float32Array.from({ length: 6 }, () => gaussian(rng) * 0.4),
      );
      const dist = pairwiseDistances(descriptors);
      for (const t of [0.5, 0.8, 1.1]) {
        // Execute
        const learned = learnedMergeFromDistances(dist, descriptors, { model: heightOnly(t, 6) });
        // Assert
        const plain = agglomerativeFromDistances(dist, { linkage: 'average', threshold: t });
        expect(Array.from(learned.labels), `seed ${seed}, t ${t}`).toEqual(Array.from(plain.labels));
      }
    }
  });

  it('leaves the matrix unchanged, and answers empty and one-face input', () => {
    const { descriptors } = syntheticFaces({ photos: [3, 2], around: MERGE_MODEL.centre, seed: 2 });
    const dist = pairwiseDistances(descriptors);
    const before = dist.data.slice();
    learnedMergeFromDistances(dist, descriptors, { model: MERGE_MODEL });
    expect(dist.data).toEqual(before);
    expect(learnedMergeFromDistances(pairwiseDistances([]), [], { model: MERGE_MODEL }).count).toBe(0);
    const one = [Float32Array.from(MERGE_MODEL.centre)];
    expect(learnedMergeFromDistances(pairwiseDistances(one), one, { model: MERGE_MODEL }).count).toBe(1);
  });

  it('rejects a matrix of another size and a model of another shape with BAD_ARGUMENT', () => {
    const d = [new Float32Array(4), new Float32Array(4)];
    const bad = [
      () => learnedMergeFromDistances(pairwiseDistances(d.slice(1)), d, { model: heightOnly(1, 4) }),
      () => learnedMergeFromDistances(pairwiseDistances(d), d, { model: heightOnly(1, 5) }),
      () =>
        learnedMergeFromDistances(pairwiseDistances(d), d, { model: { ...heightOnly(1, 4), weights: [1] } }),
      () => learnedMergeFromDistances(pairwiseDistances(d), d, { model: heightOnly(1, 4), accept: 1 }),
    ];
    for (const f of bad) {
      expect(f).toThrow();
      try {
        f();
      } catch (e) {
        expect(isFedexError(e, 'BAD_ARGUMENT')).toBe(true);
      }
    }
  });
});

describe('mergeProbability', () => {
  it('is the logistic of the standardised, weighted features', () => {
    const model: MergeModel = {
      ...heightOnly(0, 1),
      mean: [1, ...new Array<number>(F - 1).fill(0)],
      scale: [2, ...new Array<number>(F - 1).fill(1)],
      weights: [3, ...new Array<number>(F - 1).fill(0)],
      bias: -1,
    };
    // z = -1 + 3 * (5 - 1) / 2 = 5
    expect(mergeProbability(model, [5, ...new Array<number>(F - 1).fill(9)])).toBeCloseTo(
      1 / (1 + Math.exp(-5)),
      12,
    );
  });
});

describe('fitLogistic and solveSpd', () => {
  it('solves a symmetric positive definite system', () => {
    // [[4, 2], [2, 3]] x = [2, 1]  →  x = [0.5, 0]
    const x = solveSpd(Float64Array.of(4, 2, 2, 3), Float64Array.of(2, 1), 2);
    expect(x[0]).toBeCloseTo(0.5, 12);
    expect(x[1]).toBeCloseTo(0, 12);
  });

  it('recovers the boundary of noisy one-feature data and matches the balanced case by symmetry', () => {
    // Prepare: x in [-1, 1]; P(true) = logistic(4x), sampled deterministically by quantiles.
    const rows: Float64Array[] = [];
    const labels: boolean[] = [];
    for (let i = 0; i < 400; i++) {
      const x = -1 + (2 * i) / 399;
      const p = 1 / (1 + Math.exp(-4 * x));
      for (let k = 0; k < 10; k++) {
        rows.push(Float64Array.of(x));
        labels.push((k + 0.5) / 10 < p);
      }
    }
    // Execute
    const fit = fitLogistic(rows, labels, { l2: 1e-6 });
    // Assert: symmetric data → mean 0, bias 0; slope in raw units close to 4.
    expect(fit.mean[0]).toBeCloseTo(0, 12);
    expect(fit.bias).toBeCloseTo(0, 6);
    expect(fit.weights[0] / fit.scale[0]).toBeGreaterThan(3.6);
    expect(fit.weights[0] / fit.scale[0]).toBeLessThan(4.4);
  });
});

describe('fitMergeModel', () => {
  it('learns from calibration galleries and keeps the cut that counts them best', () => {
    // Prepare: 40 synthetic people with 1..8 photos around the mean real face; 12 galleries.
    const photos = Array.from({ length: 40 }, (_, p) => 1 + (p % 8));
    const faces = syntheticFaces({ photos, between: 0.8, within: 0.4, around: MERGE_MODEL.centre, seed: 6 });
    const galleries = prepareGalleries(
      faces.descriptors,
      Array.from({ length: 12 }, (_, g) => {
        const people = [g, g + 10, g + 20, (g + 7) % 40, (g + 33) % 40];
        const idx = faces.descriptors.map((_, i) => i).filter((i) => people.includes(faces.labels[i]));
        return { faces: idx, truth: Int32Array.from(idx, (i) => faces.labels[i]), people };
      }),
    );
    // Execute
    const fit = fitMergeModel(galleries, meanDescriptor(faces.descriptors), {
      accepts: [0.1, 0.3, 0.5, 0.7, 0.9],
    });
    // Assert: the chosen cut is the curve's best exact count; a higher height lowers p.
    expect(fit.curve).toHaveLength(5);
    expect(fit.calibrated.exactCountRate).toBe(Math.max(...fit.curve.map((c) => c.exactCountRate)));
    expect(fit.model.accept).toBe(fit.calibrated.params.accept);
    expect(fit.model.weights[0]).toBeLessThan(0);
    expect(fit.sameMerges).toBeLessThan(fit.trainingMerges);
    // Training rows: merges of pure sides only, as many as trainingMerges finds per gallery.
    const rows = galleries.reduce((s, g) => s + trainingMerges(g, fit.model.centre, 0.9).features.length, 0);
    expect(fit.trainingMerges).toBe(rows);
  });
});

describe('cohort merge models', () => {
  it('add the cohort-normalised cross distance as the 13th feature (by hand)', () => {
    // Prepare: faces at 0, 1 and 3 on a line; impostor means 1, 2, 2 and spreads 1, 0.5, 1.
    const descriptors = [Float32Array.of(0, 0), Float32Array.of(1, 0), Float32Array.of(3, 0)];
    const dist = pairwiseDistances(descriptors);
    const cohort = { k: 20, mean: Float64Array.of(1, 2, 2), spread: Float64Array.of(1, 0.5, 1) };
    // Execute
    const { features } = trainingMerges({ descriptors, dist, truth: [0, 0, 0], cohort }, [0, 0], 10);
    // Assert. {0} + {1} at d 1: ½((1 − 1)/1 + (1 − 2)/0.5) = −1. Then {2} + {0, 1}: pair (2, 0)
    // at 3: ½((3 − 2)/1 + (3 − 1)/1) = 1.5; pair (2, 1) at 2: ½(0/1 + 0/0.5) = 0; mean 0.75.
    expect(features.map((f) => f.length)).toEqual([F + 1, F + 1]);
    expect(features[0][F]).toBeCloseTo(-1, 12);
    expect(features[1][F]).toBeCloseTo(0.75, 12);
    // The 12 others are as without statistics.
    const plain = trainingMerges({ descriptors, dist, truth: [0, 0, 0] }, [0, 0], 10).features;
    features.forEach((f, m) => expect(Array.from(f.subarray(0, F))).toEqual(Array.from(plain[m])));
  });

  it('refuse statistics that are not one finite mean and positive spread per face', () => {
    const descriptors = [Float32Array.of(0, 0), Float32Array.of(1, 0)];
    const dist = pairwiseDistances(descriptors);
    const g = (mean: number[], spread: number[]) => ({
      descriptors,
      dist,
      truth: [0, 0],
      cohort: { k: 20, mean: Float64Array.from(mean), spread: Float64Array.from(spread) },
    });
    expect(() => trainingMerges(g([1], [1]), [0, 0], 10)).toThrow(/for 1 faces, not 2/);
    expect(() => trainingMerges(g([1, Number.NaN], [1, 1]), [0, 0], 10)).toThrow(
      /face 1 has a non-finite mean/,
    );
    expect(() => trainingMerges(g([1, 1], [1, 0]), [0, 0], 10)).toThrow(/face 1 has a spread/);
  });

  it('are fitted from galleries with cohort statistics, and need them to cluster', () => {
    // Prepare: synthetic galleries as above, each face's statistics from the people not in it.
    const photos = Array.from({ length: 40 }, (_, p) => 1 + (p % 8));
    const faces = syntheticFaces({ photos, between: 0.8, within: 0.4, around: MERGE_MODEL.centre, seed: 6 });
    const index = new CohortIndex(
      faces.descriptors,
      faces.descriptors.map((_, i) => i),
      faces.labels,
      5,
    );
    const galleries = withCohortStats(
      prepareGalleries(
        faces.descriptors,
        Array.from({ length: 12 }, (_, g) => {
          const people = [g, g + 10, g + 20, (g + 7) % 40, (g + 33) % 40];
          const idx = faces.descriptors.map((_, i) => i).filter((i) => people.includes(faces.labels[i]));
          return { faces: idx, truth: Int32Array.from(idx, (i) => faces.labels[i]), people };
        }),
      ),
      index,
    );
    // Execute
    const fit = fitMergeModel(galleries, meanDescriptor(faces.descriptors));
    // Assert: 13 weights and the statistics' k recorded; the fitted model clusters its own
    // calibration galleries at least as well as the cut it chose says.
    expect(fit.model.cohortK).toBe(5);
    expect(fit.model.weights).toHaveLength(F + 1);
    expect(featureCount(fit.model)).toBe(F + 1);
    const exact = galleries.filter((g) => {
      const out = learnedMergeFromDistances(g.dist, g.descriptors, { model: fit.model, cohort: g.cohort! });
      return out.count === new Set(g.people).size;
    }).length;
    expect(exact / galleries.length).toBeCloseTo(fit.calibrated.exactCountRate, 12);
    // Without statistics, with a plain model, with another k, with 12 features: refused.
    const g = galleries[0];
    expect(() => learnedMergeFromDistances(g.dist, g.descriptors, { model: fit.model })).toThrow(
      /cohort model: it needs/,
    );
    expect(() =>
      learnedMergeFromDistances(g.dist, g.descriptors, { model: MERGE_MODEL, cohort: g.cohort! }),
    ).toThrow(/fitted without a cohort/);
    expect(() =>
      learnedMergeFromDistances(g.dist, g.descriptors, { model: fit.model, cohort: { ...g.cohort!, k: 20 } }),
    ).toThrow(/taken over k = 20, the model needs k = 5/);
    expect(() => mergeProbability(fit.model, new Float64Array(F))).toThrow(/takes 13 features, got 12/);
    // All galleries or none: one without statistics is refused.
    expect(() =>
      fitMergeModel([...galleries, { ...galleries[0], cohort: undefined }], fit.model.centre),
    ).toThrow(/12 of 13 galleries carry cohort statistics/);
  });
});
