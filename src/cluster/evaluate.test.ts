import { describe, expect, it } from 'vitest';
import { calibrateMethod, prepareGalleries, scoreGalleries } from './evaluate.js';
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
    const { best, curve } = calibrateMethod(galleries, 'chinese-whispers', { thresholds: [0.1, 0.2, 0.6, 1.5] });
    expect(curve).toHaveLength(4);
    expect(best.params.threshold).toBe(0.6);
    const dbscan = calibrateMethod(galleries, 'dbscan', { thresholds: [0.6], minPoints: [2, 3] });
    expect(dbscan.curve).toHaveLength(2);
    expect(dbscan.best.params.minPoints).toBe(2);
  });
});
