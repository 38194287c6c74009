import { describe, expect, it } from 'vitest';
import { better, calibrateMethod, prepareGalleries, scoreGalleries, summarize } from './evaluate.js';
import { buildGalleries } from './gallery.js';
import { syntheticFaces } from './synthetic.js';

describe('evaluation on synthetic galleries', () => {
  // 30 synthetic people with 2..20 photos, well separated.
  const photos = Array.from({ length: 30 }, (_, p) => 2 + (p % 19));
  const { descriptors, labels } = syntheticFaces({ photos, between: 1.2, within: 0.3, seed: 7 });
  const pool = Array.from({ length: 30 }, (_, p) => p);
  const galleries = prepareGalleries(descriptors, buildGalleries(labels, pool, { galleries: 19, seed: 1 }));

  it('scores a method on every gallery and averages', () => {
    const { summary, perGallery } = scoreGalleries(galleries, 'agglomerative-average', { threshold: 0.6 });
    expect(perGallery).toHaveLength(19);
    expect(summary.galleries).toBe(19);
    expect(summary.bcubedF).toBe(1);
    expect(summary.exactCountRate).toBe(1);
    expect(summary.meanAbsCountError).toBe(0);
  });

  it('calibration picks a threshold inside the gap between people', () => {
    const { best, curve } = calibrateMethod(galleries, 'chinese-whispers', {
      thresholds: [0.1, 0.2, 0.6, 1.5],
    });
    expect(curve).toHaveLength(4);
    expect(best.params.threshold).toBe(0.6);
    const dbscan = calibrateMethod(galleries, 'dbscan', { thresholds: [0.6], minPoints: [2, 3] });
    expect(dbscan.curve).toHaveLength(2);
    expect(dbscan.best.params.minPoints).toBe(2);
  });
});

describe('better', () => {
  it('ranks by BCubed F first, or by the exact-count rate first with the count objective', () => {
    const score = (f: number, countError: number) => ({
      bcubed: { precision: f, recall: f, f },
      pairwise: { precision: 1, recall: 1, f: 1 },
      nmi: 1,
      predictedCount: 3 + countError,
      trueCount: 3,
      countError,
    });
    // a: higher F, one gallery of two with the right count; b: lower F, both right.
    const a = summarize('chinese-whispers', { threshold: 0.5 }, [score(1, 0), score(0.98, 1)]);
    const b = summarize('chinese-whispers', { threshold: 0.6 }, [score(0.97, 0), score(0.97, 0)]);
    expect(better(a, b)).toBeLessThan(0);
    expect(better(a, b, 'count')).toBeGreaterThan(0);
  });
});
