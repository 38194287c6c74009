import { describe, expect, it } from 'vitest';
import { FedexError } from '../core/errors.js';
import {
  calibrate,
  decideOpenSet,
  expectedCalibrationError,
  fitGeneric,
  fitOpenSet,
  fitTemperature,
  GENERIC_MIN_CLASSES,
  knownOpenSetRadius,
  leaveOneOutDistances,
  nearestCentroid,
  classMeans,
  typicalityOf,
  parseOpenSetRule,
  rocAuc,
  rocCurve,
  strangenessOf,
  strangersCaughtAt,
} from './open-set.js';

describe('open-set distance rule', () => {
  // Two people on a line: class 0 at -1, 0, 1 (centroid 0) and class 1 at 9, 10, 11 (centroid 10).
  const x = Float32Array.of(-1, 0, 1, 9, 10, 11);
  const y = [0, 0, 0, 1, 1, 1];

  it('measures each sample against the centroid of the others of its class', () => {
    // -1 vs mean(0, 1) = 0.5 → 1.5; 0 vs mean(-1, 1) = 0 → 0; 1 vs mean(-1, 0) = -0.5 → 1.5.
    expect(leaveOneOutDistances(x, y, 1, 2)).toEqual([1.5, 0, 1.5, 1.5, 0, 1.5]);
  });

  it('sets the radius to margin × the median leave-one-out distance, with the class centroids', () => {
    const rule = fitOpenSet(x, y, 1, 2, { margin: 2 });
    expect(rule.centroids).toEqual([0, 10]);
    expect(rule.radius).toBe(3); // median of [0, 0, 1.5, 1.5, 1.5, 1.5] = 1.5, × 2
    expect(nearestCentroid([2.9], rule)).toEqual({ index: 0, distance: 2.9 });
    expect(nearestCentroid([5.1], rule).index).toBe(1);
    // A stranger at 5 is 5 from both: beyond the radius, unknown.
    expect(nearestCentroid([5], rule).distance).toBeGreaterThan(rule.radius);
  });

  it('works in more dimensions (Euclidean) and turns itself off without a class of two', () => {
    // 2-d: class 0 at (0,0) and (0,2), class 1 at (10,0) and (10,2); LOO distance 2 each.
    const rule = fitOpenSet(Float32Array.of(0, 0, 0, 2, 10, 0, 10, 2), [0, 0, 1, 1], 2, 2, { margin: 1.5 });
    expect(rule.radius).toBe(3);
    expect(nearestCentroid([3, 5], rule)).toEqual({ index: 0, distance: 5 }); // from (0, 1): √(9 + 16)
    const single = fitOpenSet(Float32Array.of(0, 10), [0, 1], 1, 2);
    expect(single.radius).toBe(Number.POSITIVE_INFINITY);
  });

  it('takes an absolute radius when given (a feature space with a known scale), whatever the spread', () => {
    // The same gallery: median leave-one-out distance 1.5; an absolute radius 4.5 is 3 × that.
    const rule = fitOpenSet(x, y, 1, 2, { radius: 4.5 });
    expect(rule.radius).toBe(4.5);
    expect(rule.margin).toBe(3);
    expect(nearestCentroid([4], rule).distance).toBeLessThan(rule.radius); // 4 from 0: known
    expect(nearestCentroid([5], rule).distance).toBeGreaterThan(rule.radius); // 5 from both: unknown
    // With no class of two, an absolute radius still applies (a relative one would be off).
    expect(fitOpenSet(Float32Array.of(0, 10), [0, 1], 1, 2, { radius: 1 }).radius).toBe(1);
    expect(() => fitOpenSet(x, y, 1, 2, { radius: -1 })).toThrow(/radius must be a positive number/);
    expect(knownOpenSetRadius({ backboneId: 'faceapi-resnet', split: 'embedding' })).toBe(0.55);
    expect(knownOpenSetRadius({ backboneId: 'faceapi-resnet', split: 'stage128' })).toBeUndefined();
  });

  it('refuses a bad margin and labels out of range', () => {
    expect(() => fitOpenSet(x, y, 1, 2, { margin: 0 })).toThrow(FedexError);
    expect(() => fitOpenSet(x, [0, 0, 0, 1, 1, 2], 1, 2)).toThrow(/label 2/);
  });

  it('survives JSON (Infinity travels as null) and rejects a malformed rule', () => {
    const rule = fitOpenSet(Float32Array.of(0, 10), [0, 1], 1, 2);
    const back = parseOpenSetRule(JSON.parse(JSON.stringify(rule)), 2, 1);
    expect(back.radius).toBe(Number.POSITIVE_INFINITY);
    expect(back.centroids).toEqual([0, 10]);
    expect(() => parseOpenSetRule({ ...rule, centroids: [0] }, 2, 1)).toThrow(/centroids/);
    expect(() => parseOpenSetRule({ ...rule, dim: 3 }, 2, 1)).toThrow(/dim/);
    expect(() => parseOpenSetRule({ ...rule, temperature: -1 }, 2, 1)).toThrow(/temperature/);
    expect(() => parseOpenSetRule('x', 2, 1)).toThrow(/not an object/);
  });
});

describe('calibrated confidence', () => {
  it('softens or sharpens probabilities with the temperature and keeps their order', () => {
    // p = (0.8, 0.2): at T = 2, softmax(log p / 2) = (√0.8, √0.2) / (√0.8 + √0.2) = (2/3, 1/3).
    const [a, b] = calibrate([0.8, 0.2], 2);
    expect(a).toBeCloseTo(2 / 3, 12);
    expect(b).toBeCloseTo(1 / 3, 12);
    expect(Array.from(calibrate([0.8, 0.2], 1))).toEqual([0.8, 0.2].map((v) => expect.closeTo(v, 12)));
  });

  it('fits a temperature above 1 for an over-confident head and below 1 for a shy one', () => {
    // Over-confident: says 0.99 and is right 3 times out of 4.
    const over = [0.99, 0.01, 0.99, 0.01, 0.99, 0.01, 0.99, 0.01];
    expect(fitTemperature(over, [0, 0, 0, 1], 2)).toBeGreaterThan(2);
    // Shy: says 0.6 and is always right.
    const shy = [0.6, 0.4, 0.6, 0.4, 0.4, 0.6, 0.4, 0.6];
    expect(fitTemperature(shy, [0, 0, 1, 1], 2)).toBeLessThan(0.5);
    expect(fitTemperature([], [], 2)).toBe(1);
  });

  it('computes the expected calibration error over confidence bins', () => {
    expect(expectedCalibrationError([0.9, 0.9], [true, false])).toBeCloseTo(0.4, 12);
    // Two bins used: {0.95, 0.95} all right → |1 − 0.95| = 0.05; {0.55, 0.55} one right → 0.05.
    expect(expectedCalibrationError([0.95, 0.95, 0.55, 0.55], [true, true, true, false])).toBeCloseTo(
      0.05,
      12,
    );
  });
});

describe('ROC', () => {
  it('counts known faces rejected and strangers caught at each threshold', () => {
    const known = [0.5, 0.8, 1.0, 1.2];
    const strangers = [1.1, 1.5, 2.0, 3.0];
    const roc = rocCurve(known, strangers);
    // At threshold 1.2 (unknown when > 1.2): no known rejected, 3 of 4 strangers caught.
    expect(roc.find((p) => p.threshold === 1.2)).toEqual({
      threshold: 1.2,
      knownRejected: 0,
      strangersCaught: 0.75,
    });
    expect(strangersCaughtAt(roc, 0.01)).toMatchObject({ threshold: 1.2, strangersCaught: 0.75 });
    // 15 of the 16 (known, stranger) pairs are ordered right: the stranger scores higher.
    expect(rocAuc(roc)).toBeCloseTo(15 / 16, 12);
    expect(rocAuc(rocCurve([0, 0.1], [1, 2]))).toBe(1);
  });
});

describe('decideOpenSet (what the device answers)', () => {
  // Centroids 0 and 10 on a line, radius 3, temperature 2.
  const rule = { dim: 1, centroids: [0, 10], radius: 3, temperature: 2, margin: 2 };
  const opts = { threshold: 0.5, useRadius: true };

  it('names a near face, calls a far one unknown however sure the head is, and an unsure one unknown', () => {
    // Near class 0 (distance 1 → strangeness 1/3); p = (0.8, 0.2) calibrated at T = 2 → 2/3.
    const near = decideOpenSet(Float32Array.of(0.8, 0.2), [1], rule, opts);
    expect(near.best).toBe(0);
    expect(near.unknownBecause).toBeUndefined();
    expect(near.confidence).toBeCloseTo(2 / 3, 6);
    expect(near.strangeness).toBeCloseTo(1 / 3, 12);
    // 6 from the nearest centroid: strangeness 2, "far" even at p = 0.999.
    const far = decideOpenSet(Float32Array.of(0.001, 0.999), [16], rule, opts);
    expect(far).toMatchObject({ best: 1, unknownBecause: 'far', strangeness: 2 });
    // Near, but p = (0.55, 0.45) → at T = 2 about 0.525; with threshold 0.6 it is "unsure".
    const unsure = decideOpenSet(Float32Array.of(0.55, 0.45), [1], rule, { ...opts, threshold: 0.6 });
    expect(unsure.unknownBecause).toBe('unsure');
  });

  it('without a rule, or with the radius off, only the probability counts', () => {
    expect(decideOpenSet(Float32Array.of(0.001, 0.999), [16], null, opts)).toMatchObject({
      best: 1,
      confidence: expect.closeTo(0.999, 6),
    });
    const off = decideOpenSet(Float32Array.of(0.001, 0.999), [16], rule, { ...opts, useRadius: false });
    expect(off.unknownBecause).toBeUndefined();
    expect(off.strangeness).toBeUndefined();
  });
});

describe('the "no one in particular" rule', () => {
  // Four people at the corners of a square of side 2 around (5, 5), two samples each, 0.2 apart
  // along x: centroids at the corners, their mean (5, 5).
  const corners = [
    [4, 4],
    [6, 4],
    [4, 6],
    [6, 6],
  ];
  const x = Float32Array.from(corners.flatMap(([a, b]) => [a - 0.1, b, a + 0.1, b]));
  const y = [0, 0, 1, 1, 2, 2, 3, 3];

  it('keeps the mean of the centroids and margin × the median sample distance to it', () => {
    const { means, counts } = classMeans(x, y, 2, 4);
    const g = fitGeneric(x, means, counts, 2, 0.5)!;
    expect(g.mean).toEqual([5, 5]);
    // Samples at (±0.9, ±1) and (±1.1, ±1) from the mean: distances √1.81 and √2.21, four of each,
    // median (√1.81 + √2.21) / 2 ≈ 1.40599; radius half of it.
    const med = (Math.sqrt(1.81) + Math.sqrt(2.21)) / 2;
    expect(g.radius).toBeCloseTo(0.5 * med, 6);
    expect(typicalityOf([5, 5], g)).toBe(0);
    expect(typicalityOf([5 + med, 5], g)).toBeCloseTo(1, 6);
  });

  it('calls a face at the mean face "generic" although it is inside the radius of a person', () => {
    const rule = fitOpenSet(x, y, 2, 4, { margin: 100, genericMargin: 0.5 });
    const opts = { threshold: 0.5, useRadius: true };
    const p = Float32Array.of(0.7, 0.1, 0.1, 0.1);
    const middle = decideOpenSet(p, [5, 5], rule, opts);
    expect(middle.unknownBecause).toBe('generic');
    expect(middle.typicality).toBeCloseTo(0, 6);
    // A face on a person's corner is named; typicality ≈ √2 / median ≈ 1.006.
    const corner = decideOpenSet(p, [4, 4], rule, opts);
    expect(corner.unknownBecause).toBeUndefined();
    expect(corner.typicality).toBeCloseTo(Math.SQRT2 / ((Math.sqrt(1.81) + Math.sqrt(2.21)) / 2), 4);
    // Far beats generic: a face far from everyone is "far" wherever the mean is.
    const far = decideOpenSet(p, [5, 5], { ...rule, radius: 0.1 }, opts);
    expect(far.unknownBecause).toBe('far');
    // The rule off on the device: named.
    expect(decideOpenSet(p, [5, 5], rule, { ...opts, useRadius: false }).unknownBecause).toBeUndefined();
  });

  it(`is not fitted with fewer than ${GENERIC_MIN_CLASSES} people, nor with margin 0`, () => {
    expect(fitOpenSet(x.subarray(0, 6 * 2), y.slice(0, 6), 2, 3).generic).toBeUndefined();
    // A fourth class declared but without samples does not count.
    expect(fitOpenSet(x.subarray(0, 6 * 2), y.slice(0, 6), 2, 4).generic).toBeUndefined();
    expect(fitOpenSet(x, y, 2, 4, { genericMargin: 0 }).generic).toBeUndefined();
    expect(() => fitOpenSet(x, y, 2, 4, { genericMargin: 1 })).toThrow(/genericMargin/);
  });

  it('travels through JSON and rejects a malformed generic part', () => {
    const rule = fitOpenSet(x, y, 2, 4);
    const back = parseOpenSetRule(JSON.parse(JSON.stringify(rule)), 4, 2);
    expect(back.generic).toEqual(rule.generic);
    const broken = (generic: unknown) => () => parseOpenSetRule({ ...rule, generic }, 4, 2);
    expect(broken({ ...rule.generic, mean: [1] })).toThrow(/generic.mean/);
    expect(broken({ ...rule.generic, radius: -1 })).toThrow(/generic.radius/);
    expect(broken({ ...rule.generic, margin: 1.5 })).toThrow(/generic.margin/);
    expect(parseOpenSetRule({ ...rule, generic: undefined }, 4, 2).generic).toBeUndefined();
  });
});

describe('twin centroids (masked twins, --mask-translation)', () => {
  // Two people on a line at 0 and 10, two photos each; their masked twins sit 4 higher.
  const x = Float32Array.of(-1, 1, 9, 11);
  const y = [0, 0, 1, 1];
  const twins = x.map((v) => v + 4);

  it('ships the class means of the twins, and a face near a twin mean is near that person', () => {
    const rule = fitOpenSet(x, y, 1, 2, { radius: 1.5, twins, genericMargin: 0 });
    expect(rule.centroids).toEqual([0, 10]);
    expect(rule.twins).toEqual([4, 14]);
    // 4.5: 4.5 from person 0's centroid, 0.5 from person 0's twin mean, 5.5 from person 1's centroid.
    expect(nearestCentroid([4.5], rule)).toEqual({ index: 0, distance: 0.5 });
    expect(nearestCentroid([4.5], { ...rule, twins: undefined })).toEqual({ index: 0, distance: 4.5 });
    // 13: nearest is person 1's twin mean (1), then its centroid (3).
    expect(nearestCentroid([13], rule)).toEqual({ index: 1, distance: 1 });
    const decide = (r: typeof rule) =>
      decideOpenSet(Float64Array.of(0.9, 0.1), [4.5], r, { threshold: 0.5, useRadius: true });
    expect(decide(rule).unknownBecause).toBeUndefined();
    expect(decide({ ...rule, twins: undefined }).unknownBecause).toBe('far');
  });

  it('measures strangeness around the twins in their own radius', () => {
    const rule = fitOpenSet(x, y, 1, 2, { radius: 2, twins, twinRadius: 0.5, genericMargin: 0 });
    expect(rule.twinRadius).toBe(0.5);
    // 4.4: 4.4 / 2 = 2.2 radii from person 0's centroid, 0.4 / 0.5 = 0.8 twin radii from its twin mean.
    expect(strangenessOf([4.4], rule)).toBeCloseTo(0.8, 12);
    // 4.8: 0.8 / 0.5 = 1.6 twin radii, 4.8 / 2 = 2.4 radii: unknown.
    expect(strangenessOf([4.8], rule)).toBeCloseTo(1.6, 12);
    expect(
      decideOpenSet(Float64Array.of(0.9, 0.1), [4.8], rule, { threshold: 0.5, useRadius: true })
        .unknownBecause,
    ).toBe('far');
    // 1.5 is 1.5 / 2 = 0.75 radii from person 0: near, whatever the twins say.
    expect(strangenessOf([1.5], rule)).toBeCloseTo(0.75, 12);
    // No twin radius: the plain radius for both.
    expect(strangenessOf([4.8], { ...rule, twinRadius: undefined })).toBeCloseTo(0.4, 12);
    expect(() => parseOpenSetRule({ ...JSON.parse(JSON.stringify(rule)), twinRadius: -1 }, 2, 1)).toThrow(
      /twinRadius/,
    );
    expect(parseOpenSetRule(JSON.parse(JSON.stringify(rule)), 2, 1).twinRadius).toBe(0.5);
  });

  it('reads twins from a model and refuses malformed ones', () => {
    const rule = fitOpenSet(x, y, 1, 2, { twins, genericMargin: 0 });
    const json = JSON.parse(JSON.stringify(rule));
    expect(parseOpenSetRule(json, 2, 1).twins).toEqual([4, 14]);
    expect(() => parseOpenSetRule({ ...json, twins: [4] }, 2, 1)).toThrow(/twins must be 2 × 1/);
    expect(() => parseOpenSetRule({ ...json, twins: [4, 'x'] }, 2, 1)).toThrow(FedexError);
    expect(parseOpenSetRule({ ...json, twins: undefined }, 2, 1).twins).toBeUndefined();
    expect(() => fitOpenSet(x, y, 1, 2, { twins: twins.subarray(1) })).toThrow(/one row per sample/);
  });
});
