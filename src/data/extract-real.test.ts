// Real faces through the real pipeline: bbt_faceapi_demo (8 people × 5 photos) extracted by the
// face extractor on two worker threads, then answered from the cache. Needs the datasets folder
// ($FEDEX_DATA_DIR, default ../shared/datasets): skipped loudly when missing, failed under
// FEDEX_REQUIRE_DATA=1. Slow (models load in each worker), hence the long timeout.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';

import { describeWithData } from '../testing/describe-with-data.js';
import { nearestCentroidAccuracy } from './eval.js';
import { extractDataset, type ExtractedFeatureSet } from './extract.js';

const LONG = 600_000;

describeWithData('bbt_faceapi_demo', (dir) => {
  let cacheDir: string;
  let first: ExtractedFeatureSet;

  beforeAll(async () => {
    cacheDir = mkdtempSync(path.join(os.tmpdir(), 'fedex-bbt-'));
    first = await extractDataset({ dir, concurrency: 2, cache: { dir: cacheDir } });
  }, LONG);
  afterAll(() => {
    rmSync(cacheDir, { recursive: true, force: true });
  });

  it('extracts a 128-d descriptor for (nearly) every photo using two workers', () => {
    expect(first.spec).toMatchObject({ backboneId: 'faceapi-resnet', split: 'embedding', shape: [128] });
    expect(first.people).toEqual([
      'amy',
      'bernadette',
      'howard',
      'leonard',
      'penny',
      'raj',
      'sheldon',
      'stuart',
    ]);
    expect(first.stats.photos).toBe(40);
    expect(first.stats.unreadable).toEqual([]);
    expect(first.stats.workers).toBe(2);
    expect(first.stats.extracted).toBe(40);
    expect(first.samples.length).toBeGreaterThanOrEqual(36);
    expect(first.features).toHaveLength(first.samples.length * 128);
    expect(first.features.every(Number.isFinite)).toBe(true);
  });

  it('keeps labels aligned with features: nearest centroid recognises the characters', () => {
    // Prepare: per person, train on even-indexed photos, test on the others.
    const labels = first.samples.map((s) => s.label);
    const rank = new Map<number, number>();
    const train: number[] = [];
    const test: number[] = [];
    first.samples.forEach((s, i) => {
      const r = rank.get(s.label) ?? 0;
      rank.set(s.label, r + 1);
      (r % 2 === 0 ? train : test).push(i);
    });

    // Execute
    const accuracy = nearestCentroidAccuracy(first.features, 128, labels, train, test);

    // Assert: chance is 1/8; a label/feature mix-up would land near it.
    expect(accuracy).toBeGreaterThanOrEqual(0.75);
  });

  it(
    'answers a second run entirely from the cache with identical features',
    async () => {
      const second = await extractDataset({
        dir,
        concurrency: 2,
        cache: { dir: cacheDir },
        spec: first.spec,
      });

      expect(second.stats.fromCache).toBe(40);
      expect(second.stats.extracted).toBe(0);
      expect(second.stats.workers).toBe(0);
      expect(second.samples).toEqual(first.samples);
      expect(second.features).toEqual(first.features);
    },
    LONG,
  );
});
