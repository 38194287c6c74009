import { describe, expect, it } from 'vitest';
import {
  renderExperiment,
  renderSeeds,
  runClusterExperiment,
  type SeedReport,
  sizeBands,
  summarizeSeeds,
} from './experiment.js';
import { syntheticFaces } from './synthetic.js';

describe('sizeBands', () => {
  it('splits gallery sizes into three bands of about equal width', () => {
    expect(sizeBands(2, 20)).toEqual([
      [2, 7],
      [8, 14],
      [15, 20],
    ]);
    expect(sizeBands(2, 10)).toEqual([
      [2, 4],
      [5, 7],
      [8, 10],
    ]);
    expect(sizeBands(3, 4)).toEqual([
      [3, 3],
      [4, 4],
    ]);
    expect(sizeBands(5, 5)).toEqual([[5, 5]]);
  });
});

describe('summarizeSeeds', () => {
  const report = (seed: number, avg: [number, number], learned: [number, number]): SeedReport => ({
    options: { seed },
    methods: [
      { method: 'agglomerative-average', evaluation: { exactCountRate: avg[0], bcubedF: avg[1] } },
      { method: 'agglomerative-learned', evaluation: { exactCountRate: learned[0], bcubedF: learned[1] } },
    ],
  });

  it('gives each method its per-seed exact count, mean, range and the seeds at the goal', () => {
    const rows = summarizeSeeds([
      report(3, [0.6, 0.99], [0.8, 0.995]),
      report(4, [0.7, 0.97], [0.75, 0.993]),
    ]);
    expect(rows.map((r) => r.method)).toEqual(['agglomerative-average', 'agglomerative-learned']);
    const learned = rows[1];
    expect(learned.seeds).toEqual([3, 4]);
    expect(learned.exactCount).toEqual([0.8, 0.75]);
    expect(learned.meanExactCount).toBeCloseTo(0.775, 12);
    expect([learned.minExactCount, learned.maxExactCount]).toEqual([0.75, 0.8]);
    expect(learned.meanBcubedF).toBeCloseTo(0.994, 12);
    // 0.8 counts as reaching 80%; with a goal of 70% both seeds do.
    expect(learned.seedsAtGoal).toBe(1);
    expect(rows[0].seedsAtGoal).toBe(0);
    const at70 = summarizeSeeds(
      [report(3, [0.6, 0.99], [0.8, 0.995]), report(4, [0.7, 0.97], [0.75, 0.993])],
      0.7,
    );
    expect(at70[1].seedsAtGoal).toBe(2);
    const text = renderSeeds(rows);
    expect(text).toMatch(
      /\| agglomerative-learned \| 80\.0% \| 75\.0% \| 77\.5% \| 75\.0% - 80\.0% \| 1 of 2 \| 0\.994 \|/,
    );
    // The table's header names the goal the rows were counted against.
    expect(text).toMatch(/seeds >= 80\.0%/);
    expect(renderSeeds(at70)).toMatch(/seeds >= 70\.0%/);
    expect(renderSeeds(at70)).toMatch(/\| agglomerative-learned \|.*\| 2 of 2 \|/);
  });

  it('refuses no reports, and reports that ran different methods', () => {
    expect(() => summarizeSeeds([])).toThrow(/no reports/);
    const other: SeedReport = {
      options: { seed: 5 },
      methods: [report(5, [0.5, 0.9], [0.5, 0.9]).methods[0]],
    };
    expect(() => summarizeSeeds([report(3, [0.6, 0.99], [0.8, 0.995]), other])).toThrow(/different methods/);
  });
});

describe('runClusterExperiment', () => {
  it('calibrates on one pool of people and scores on the other, for every method', () => {
    // Prepare: 90 synthetic people with 1..20 photos, close enough for some wrong merges below
    // the learned model's highest merge (it needs both kinds to learn from).
    const photos = Array.from({ length: 90 }, (_, p) => 1 + (p % 20));
    const faces = syntheticFaces({ photos, between: 0.8, within: 0.35, seed: 4 });
    // Execute: a small grid and few galleries, to stay quick.
    const r = runClusterExperiment(faces, {
      calibrationGalleries: 19,
      modelGalleries: 38,
      evaluationGalleries: 19,
      thresholds: [0.3, 0.5, 0.7],
    });
    // Assert
    expect(r.people).toEqual({ calibration: 30, evaluation: 60 });
    expect(r.methods.map((m) => m.method)).toEqual([
      'chinese-whispers',
      'agglomerative-average',
      'agglomerative-complete',
      'agglomerative-single',
      'dbscan',
      'agglomerative-learned',
    ]);
    for (const m of r.methods) {
      expect(m.evaluation.galleries).toBe(19);
      if (m.method !== 'agglomerative-learned')
        expect([0.3, 0.5, 0.7]).toContain(m.calibrated.params.threshold);
      expect(m.bySize.map((b) => b.people)).toEqual(['2-7', '8-14', '15-20']);
    }
    // The merge model learned from the 38 calibration-people galleries only, cut chosen on them.
    const learned = r.methods.find((m) => m.method === 'agglomerative-learned')!;
    expect(learned.calibrated.galleries).toBe(38);
    expect(learned.calibrated.params.accept).toBe(r.mergeModel!.model.accept);
    expect(r.mergeModel!.sameMerges).toBeGreaterThan(0);
    expect(r.mergeModel!.sameMerges).toBeLessThan(r.mergeModel!.trainingMerges);
    const text = renderExperiment(r);
    expect(text).toMatch(/\| agglomerative-average \| 0\.\d\d \|/);
    expect(text).toMatch(/\| agglomerative-learned \| accept 0\.\d{3}, max 0\.90 \|/);
    expect(text).toMatch(/Pair verification on the calibration people/);
    expect(text).toMatch(
      /Merge model of agglomerative-learned: fitted on \d+ dendrogram merges .* of 38 galleries/,
    );
    expect(text).not.toMatch(/A cohort model/);
  });

  it('with cohort: fits a cohort merge model on the calibration people and scores with it', () => {
    const photos = Array.from({ length: 90 }, (_, p) => 1 + (p % 20));
    const faces = syntheticFaces({ photos, between: 0.8, within: 0.35, seed: 4 });
    const r = runClusterExperiment(faces, {
      modelGalleries: 38,
      evaluationGalleries: 19,
      methods: ['agglomerative-learned'],
      cohort: true,
    });
    expect(r.mergeModel!.model.cohortK).toBe(20);
    expect(r.mergeModel!.model.weights).toHaveLength(13);
    expect(r.methods[0].evaluation.galleries).toBe(19);
    expect(r.methods[0].evaluation.bcubedF).toBeGreaterThan(0.5);
    // The shipped defaults (no cohort) still score: the statistics go only to a cohort model.
    expect(r.methods[0].withDefaults.galleries).toBe(19);
    expect(renderExperiment(r)).toMatch(/A cohort model: its 13th feature .* 20 nearest calibration faces/);
    // Without agglomerative-learned a cohort would do nothing: refused.
    expect(() => runClusterExperiment(faces, { methods: ['agglomerative-average'], cohort: true })).toThrow(
      /feature of agglomerative-learned/,
    );
  });
});
