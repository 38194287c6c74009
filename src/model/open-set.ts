/**
 * Open set: when a prediction should say "unknown". A user's model knows a handful of people; a
 * stranger's face (or a detection that is not a face at all) still gets a softmax over those
 * people, and a softmax always sums to 1, so "the top class has 0.99" says nothing about whether
 * the face belongs to any of them. Two rules, both fitted on the user's own labelled samples:
 *
 * - **Distance to the known people.** Each class keeps its centroid in feature space; a face whose
 *   nearest centroid is farther than `radius` is unknown. The radius is scale-free: `margin` ×
 *   the median leave-one-out distance of the user's labelled samples to their own class centroid
 *   (each sample against the centroid of the others, exactly what a new photo of a known person
 *   meets). `margin` is one global number, chosen on calibration users whose people are disjoint
 *   from the users it is measured on (bench `adapt`, docs/adapt.md).
 * - **Someone in particular.** A drawing, a doll or a blur that the detector takes for a face gets a
 *   descriptor with no identity in it: it lies *closer* to the average face than real faces do
 *   (measured: drawn cartoons at 0.70–0.88 of the median real face's distance to the mean, real
 *   faces at ≥ 0.85; bench `adapt`). The rule keeps the mean of the user's class centroids (the
 *   average of several people is close to the average face) and the median distance of the user's
 *   labelled samples to it; a face nearer the mean than `genericMargin` × that median is unknown
 *   ('generic'). Only fitted with `GENERIC_MIN_CLASSES` people or more: the mean of two people is
 *   just their midpoint.
 * - **Calibrated confidence.** The head's probabilities raised to 1/T and renormalised (softmax of
 *   logits / T), T fitted by likelihood on held-out samples, so that "0.8" means right about 80% of
 *   the time; below the device's threshold the answer is unknown.
 *
 * Pure: typed arrays and numbers in and out; no tfjs, no I/O. The rule travels in the model's
 * metadata (`OpenSetRule`, JSON) and the device applies it (src/device/sdk.ts).
 */
import { FedexError } from '../core/errors.js';

/** What a model carries so a device can say "unknown". JSON-safe. */
export interface OpenSetRule {
  /** Feature length the centroids are in (the model's input, flattened). */
  dim: number;
  /** Class centroids, `labels.length × dim` numbers, class by class. */
  centroids: number[];
  /**
   * Centroids of the classes' masked twins (`fedex serve --mask-translation`, src/model/
   * mask-translate.ts), `labels.length × dim`: a face near a class's twin centroid is as near that
   * class as one near its centroid (a masked face of a person named unmasked). Absent: none.
   */
  twins?: number[];
  /** A face farther than this (Euclidean) from every centroid is unknown. Infinity: rule off. */
  radius: number;
  /**
   * The radius around the twin centroids (masked faces carry less identity, so their cloud is
   * tighter: `OPEN_SET_TWIN_RADII`). Absent: `radius`.
   */
  twinRadius?: number;
  /** Probabilities are calibrated as softmax(log p / temperature). 1: as the head gives them. */
  temperature: number;
  /** The margin the radius was fitted with (for reports). */
  margin: number;
  /** The "someone in particular" rule; absent (off) with fewer than GENERIC_MIN_CLASSES people. */
  generic?: GenericRule;
}

/** A face closer than `radius` to `mean` looks like no one in particular (see the header). */
export interface GenericRule {
  /** Mean of the class centroids, `dim` numbers. */
  mean: number[];
  radius: number;
  /** The margin the radius was fitted with (for reports). */
  margin: number;
}

/** Default margin over the median leave-one-out distance (see docs/adapt.md for the fit). */
export const DEFAULT_OPEN_SET_MARGIN = 1.5;

/**
 * Absolute open-set radii (distance to the nearest class centroid) of feature spaces whose scale
 * means the same for every gallery, by `backboneId/split`. The face descriptor was trained with a
 * metric loss (dlib's 0.6 same-person threshold), so one radius fits every user better than a
 * per-user scale estimated from 3 photos a person (on LFW users of the evaluation half, 97.5% of
 * strangers caught at 1% of known faces rejected against 89.0%; bench `adapt`, docs/adapt.md).
 * 0.55 rejects about 0.5% of the known faces of 100 LFW users of the calibration half; the 1% fit
 * (0.513) cost the face app's own gallery (TV-show crops, 2 named per person) 3 of its 24 faces.
 */
export const OPEN_SET_RADII: Readonly<Record<string, number>> = Object.freeze({
  'faceapi-resnet/embedding': 0.55,
});

/** The absolute open-set radius of a feature space, if it has one (`OPEN_SET_RADII`). */
export function knownOpenSetRadius(spec: { backboneId: string; split: string }): number | undefined {
  const key = `${spec.backboneId}/${spec.split}`;
  return Object.hasOwn(OPEN_SET_RADII, key) ? OPEN_SET_RADII[key] : undefined;
}

/**
 * Radii around the masked twins' centroids (`OpenSetRule.twinRadius`), by `backboneId/split`. A
 * masked face keeps less of who it is, so masked faces of different people lie closer together:
 * at the plain radius (0.55) a twin centroid took in 77% of masked strangers. 0.47 rejects about 2%
 * of the masked faces of known people among LFW users of the calibration half (bench `adapt`,
 * docs/adapt.md, which reports what it costs on the other half).
 */
export const OPEN_SET_TWIN_RADII: Readonly<Record<string, number>> = Object.freeze({
  'faceapi-resnet/embedding': 0.47,
});

export function knownTwinRadius(spec: { backboneId: string; split: string }): number | undefined {
  const key = `${spec.backboneId}/${spec.split}`;
  return Object.hasOwn(OPEN_SET_TWIN_RADII, key) ? OPEN_SET_TWIN_RADII[key] : undefined;
}

/**
 * Default generic margin: the share of the labelled samples' median distance to the mean face
 * under which a face is "no one in particular" (see docs/adapt.md for the fit).
 */
export const DEFAULT_GENERIC_MARGIN = 0.85;

/** Fewest people with samples before the generic rule is fitted. */
export const GENERIC_MIN_CLASSES = 4;

/** Largest feature length whose centroids ship in the model (a spatial split's maps would not). */
export const OPEN_SET_MAX_DIM = 2048;

function check(ok: boolean, message: string): void {
  if (!ok) throw new FedexError('BAD_ARGUMENT', message);
}

/** Class means of `x` (rows of `dim`) by label `y` in 0..k-1, and the count of each class. */
export function classMeans(
  x: Float32Array,
  y: ArrayLike<number>,
  dim: number,
  k: number,
): { means: Float64Array; counts: Float64Array } {
  check(x.length === y.length * dim, `${x.length} values are not ${y.length} rows of ${dim}`);
  const means = new Float64Array(k * dim);
  const counts = new Float64Array(k);
  for (let i = 0; i < y.length; i++) {
    const c = y[i];
    check(Number.isInteger(c) && c >= 0 && c < k, `label ${c} is not in 0..${k - 1}`);
    counts[c]++;
    for (let d = 0; d < dim; d++) means[c * dim + d] += x[i * dim + d];
  }
  for (let c = 0; c < k; c++)
    if (counts[c] > 0) for (let d = 0; d < dim; d++) means[c * dim + d] /= counts[c];
  return { means, counts };
}

/**
 * Distance of each sample to its own class centroid computed without it (classes with one sample
 * have none and are skipped). These are the distances a new photo of a known person meets.
 */
export function leaveOneOutDistances(
  x: Float32Array,
  y: ArrayLike<number>,
  dim: number,
  k: number,
): number[] {
  const { means, counts } = classMeans(x, y, dim, k);
  const out: number[] = [];
  for (let i = 0; i < y.length; i++) {
    const c = y[i];
    const n = counts[c];
    if (n < 2) continue;
    let acc = 0;
    for (let d = 0; d < dim; d++) {
      const v = x[i * dim + d];
      const mu = (n * means[c * dim + d] - v) / (n - 1);
      acc += (v - mu) * (v - mu);
    }
    out.push(Math.sqrt(acc));
  }
  return out;
}

function medianOf(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Fits the distance rule on a user's labelled samples. The radius is `margin` × the median
 * leave-one-out distance, or the absolute `radius` when given (a feature space with a known scale,
 * `knownOpenSetRadius`). With no class of two samples there is no leave-one-out distance to scale
 * by, and a relative radius is Infinity (the rule is off; the calibrated confidence still applies).
 *
 * @example
 * // two classes on a line, three samples each, spread 1 around 0 and around 10
 * const r = fitOpenSet(Float32Array.of(-1, 0, 1, 9, 10, 11), [0, 0, 0, 1, 1, 1], 1, 2, { margin: 2 });
 * // leave-one-out distances: |-1 - 0.5| = 1.5, |0 - 0| = 0, 1.5, 1.5, 0, 1.5 → median 1.5; radius 3
 */
export function fitOpenSet(
  x: Float32Array,
  y: ArrayLike<number>,
  dim: number,
  k: number,
  options: {
    margin?: number;
    radius?: number;
    temperature?: number;
    genericMargin?: number;
    /** Masked twins of the rows of `x` (same length, row i of class y[i]): their class means ship as `twins`. */
    twins?: Float32Array;
    /** Radius around the twins' means (default: the radius). */
    twinRadius?: number;
  } = {},
): OpenSetRule {
  let margin = options.margin ?? DEFAULT_OPEN_SET_MARGIN;
  check(Number.isFinite(margin) && margin > 0, `margin must be a positive number (got ${margin})`);
  if (options.radius !== undefined)
    check(
      Number.isFinite(options.radius) && options.radius > 0,
      `radius must be a positive number (got ${options.radius})`,
    );
  const temperature = options.temperature ?? 1;
  check(Number.isFinite(temperature) && temperature > 0, `temperature must be positive (got ${temperature})`);
  const genericMargin = options.genericMargin ?? DEFAULT_GENERIC_MARGIN;
  check(
    Number.isFinite(genericMargin) && genericMargin >= 0 && genericMargin < 1,
    `genericMargin must be in [0, 1) (got ${genericMargin})`,
  );
  const { means, counts } = classMeans(x, y, dim, k);
  const loo = leaveOneOutDistances(x, y, dim, k);
  let radius = loo.length ? margin * medianOf(loo) : Number.POSITIVE_INFINITY;
  if (options.radius !== undefined) {
    // An absolute radius; the margin it amounts to for this gallery is kept for reports.
    radius = options.radius;
    margin = loo.length && medianOf(loo) > 0 ? radius / medianOf(loo) : margin;
  }
  const generic = genericMargin > 0 ? fitGeneric(x, means, counts, dim, genericMargin) : undefined;
  if (options.twins !== undefined && options.twins.length !== x.length)
    throw new FedexError(
      'BAD_ARGUMENT',
      `twins must be one row per sample (${options.twins.length} values for ${x.length})`,
    );
  const twins = options.twins ? classMeans(options.twins, y, dim, k).means : undefined;
  if (options.twinRadius !== undefined)
    check(
      Number.isFinite(options.twinRadius) && options.twinRadius > 0,
      `twinRadius must be a positive number (got ${options.twinRadius})`,
    );
  return {
    dim,
    centroids: Array.from(means, (v) => Math.fround(v)),
    ...(twins ? { twins: Array.from(twins, (v) => Math.fround(v)) } : {}),
    radius,
    ...(twins && options.twinRadius !== undefined ? { twinRadius: options.twinRadius } : {}),
    temperature,
    margin,
    ...(generic ? { generic } : {}),
  };
}

/**
 * The generic rule: the mean of the centroids of the classes that have samples, and `margin` × the
 * median distance of the samples to it. Undefined with fewer than GENERIC_MIN_CLASSES classes.
 *
 * @example
 * // four people at the corners of a square of side 2 around 0, one sample each: mean 0, every
 * // sample at √2, so with margin 0.5 a face within 0.707 of the origin is "no one in particular"
 */
export function fitGeneric(
  x: Float32Array,
  means: Float64Array,
  counts: Float64Array,
  dim: number,
  margin: number,
): GenericRule | undefined {
  const present = [...counts.keys()].filter((c) => counts[c] > 0);
  if (present.length < GENERIC_MIN_CLASSES) return undefined;
  const mean = new Float64Array(dim);
  for (const c of present) for (let d = 0; d < dim; d++) mean[d] += means[c * dim + d] / present.length;
  const distances: number[] = [];
  for (let i = 0; i * dim < x.length; i++)
    distances.push(distanceTo(x.subarray(i * dim, (i + 1) * dim), mean));
  return { mean: Array.from(mean, (v) => Math.fround(v)), radius: margin * medianOf(distances), margin };
}

function distanceTo(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let acc = 0;
  for (let d = 0; d < b.length; d++) acc += (a[d] - b[d]) ** 2;
  return Math.sqrt(acc);
}

/** Distance to the generic rule's mean ÷ its median sample distance (< margin: generic). */
export function typicalityOf(features: ArrayLike<number>, generic: GenericRule): number {
  return (distanceTo(features, generic.mean) / generic.radius) * generic.margin;
}

/**
 * Index of the nearest class and its Euclidean distance: to the class's centroid, or to its twin
 * centroid when the rule has `twins` (whichever is nearer).
 */
export function nearestCentroid(
  features: ArrayLike<number>,
  rule: Pick<OpenSetRule, 'dim' | 'centroids' | 'twins'>,
): { index: number; distance: number } {
  const k = rule.centroids.length / rule.dim;
  let best = -1;
  let bestD2 = Number.POSITIVE_INFINITY;
  for (const centroids of rule.twins ? [rule.centroids, rule.twins] : [rule.centroids])
    for (let c = 0; c < k; c++) {
      let acc = 0;
      for (let d = 0; d < rule.dim; d++) {
        const diff = features[d] - centroids[c * rule.dim + d];
        acc += diff * diff;
      }
      if (acc < bestD2) {
        bestD2 = acc;
        best = c;
      }
    }
  return { index: best, distance: Math.sqrt(bestD2) };
}

/**
 * How far a face is from the known people, in radii: the distance to the nearest centroid ÷ the
 * radius, or to the nearest twin centroid ÷ the twin radius, whichever is smaller (> 1: unknown).
 */
export function strangenessOf(features: ArrayLike<number>, rule: OpenSetRule): number {
  const plain =
    nearestCentroid(features, { dim: rule.dim, centroids: rule.centroids }).distance / rule.radius;
  if (!rule.twins) return plain;
  const twin = nearestCentroid(features, { dim: rule.dim, centroids: rule.twins }).distance;
  return Math.min(plain, twin / (rule.twinRadius ?? rule.radius));
}

/** Probabilities at a temperature: softmax(log p / T), computed stably. */
export function calibrate(probs: ArrayLike<number>, temperature: number): Float64Array {
  const logs = Array.from(probs, (p) => Math.log(Math.max(p, 1e-30)) / temperature);
  const max = Math.max(...logs);
  const e = logs.map((l) => Math.exp(l - max));
  const z = e.reduce((a, v) => a + v, 0);
  return Float64Array.from(e, (v) => v / z);
}

/** Candidate temperatures: 2^(k/4) for k = -16..24 (1/16 to 64). */
const TEMPERATURES = Array.from({ length: 41 }, (_, k) => 2 ** ((k - 16) / 4));

/**
 * The temperature that maximises the likelihood of the true classes of held-out samples, on a log
 * grid (1/16 .. 64). `probs` is `y.length × k`. No sample: 1.
 */
export function fitTemperature(probs: ArrayLike<number>, y: ArrayLike<number>, k: number): number {
  check(probs.length === y.length * k, `${probs.length} probabilities are not ${y.length} rows of ${k}`);
  if (y.length === 0) return 1;
  let best = 1;
  let bestLl = Number.NEGATIVE_INFINITY;
  for (const t of TEMPERATURES) {
    let ll = 0;
    for (let i = 0; i < y.length; i++) {
      const row = Array.from({ length: k }, (_, j) => probs[i * k + j]);
      ll += Math.log(Math.max(calibrate(row, t)[y[i]], 1e-30));
    }
    if (ll > bestLl + 1e-9) {
      bestLl = ll;
      best = t;
    }
  }
  return best;
}

/**
 * Expected calibration error: samples binned by confidence into `bins` equal-width bins; the
 * sample-weighted mean of |accuracy − mean confidence| per bin.
 *
 * @example
 * expectedCalibrationError([0.9, 0.9], [true, false]); // one bin: |0.5 − 0.9| = 0.4
 */
export function expectedCalibrationError(
  confidence: readonly number[],
  correct: readonly boolean[],
  bins = 10,
): number {
  check(confidence.length === correct.length, 'one correctness per confidence');
  if (confidence.length === 0) return Number.NaN;
  const n = new Array<number>(bins).fill(0);
  const conf = new Array<number>(bins).fill(0);
  const acc = new Array<number>(bins).fill(0);
  confidence.forEach((c, i) => {
    const b = Math.min(bins - 1, Math.max(0, Math.floor(c * bins)));
    n[b]++;
    conf[b] += c;
    acc[b] += correct[i] ? 1 : 0;
  });
  let ece = 0;
  for (let b = 0; b < bins; b++)
    if (n[b]) ece += (n[b] / confidence.length) * Math.abs(acc[b] / n[b] - conf[b] / n[b]);
  return ece;
}

/** One point of an ROC: the share of known faces rejected and of strangers caught at a threshold. */
export interface RocPoint {
  threshold: number;
  knownRejected: number;
  strangersCaught: number;
}

/**
 * ROC of a score where higher means "more likely a stranger" (e.g. distance ÷ radius): one point
 * per distinct threshold, "unknown" meaning score > threshold. Sorted by knownRejected ascending.
 */
export function rocCurve(known: readonly number[], strangers: readonly number[]): RocPoint[] {
  check(known.length > 0 && strangers.length > 0, 'an ROC needs known and stranger scores');
  const thresholds = [...new Set([...known, ...strangers])].sort((a, b) => b - a);
  const share = (xs: readonly number[], t: number) => xs.filter((v) => v > t).length / xs.length;
  const points = [
    { threshold: Number.POSITIVE_INFINITY, knownRejected: 0, strangersCaught: 0 },
    ...thresholds.map((t) => ({
      threshold: t,
      knownRejected: share(known, t),
      strangersCaught: share(strangers, t),
    })),
  ];
  const lowest = thresholds[thresholds.length - 1];
  points.push({ threshold: lowest - 1, knownRejected: 1, strangersCaught: 1 });
  return points;
}

/** Area under an ROC (trapezoids): the chance a random stranger scores above a random known face. */
export function rocAuc(points: readonly RocPoint[]): number {
  let area = 0;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1];
    const b = points[i];
    area += ((b.knownRejected - a.knownRejected) * (a.strangersCaught + b.strangersCaught)) / 2;
  }
  return area;
}

/**
 * The threshold at which at most `rate` of known faces are rejected, and the share of strangers
 * caught there: the lowest ROC threshold whose knownRejected ≤ rate.
 */
export function strangersCaughtAt(points: readonly RocPoint[], rate: number): RocPoint {
  let best = points[0];
  for (const p of points) if (p.knownRejected <= rate && p.strangersCaught >= best.strangersCaught) best = p;
  return best;
}

/** What the device answers for one face (before names are attached). */
export interface OpenSetDecision {
  /** Calibrated probabilities, one per class. */
  probabilities: Float64Array | Float32Array;
  /** Most probable class. */
  best: number;
  /** Its calibrated probability. */
  confidence: number;
  /** Distance to the nearest centroid ÷ radius (absent without a finite radius or when off). */
  strangeness?: number;
  /**
   * Distance to the mean face ÷ the median of the user's samples (under the generic margin: no one
   * in particular); absent when the rule has no generic part or the radius is off.
   */
  typicality?: number;
  /** Why the answer is "unknown"; absent when the best class is the answer. */
  unknownBecause?: UnknownBecause;
}

/** Why a face is unknown: far from every known person, no one in particular, or too unsure. */
export type UnknownBecause = 'far' | 'generic' | 'unsure';

/**
 * The device's decision for one face: probabilities calibrated with the rule's temperature;
 * "unknown, far" when the face lies beyond the radius of every known person, else "unknown,
 * generic" when it lies closer to the mean face than real faces do, else "unknown, unsure" when
 * the calibrated probability is below `threshold`. No rule: the probabilities as
 * they are, and only the threshold. The same function runs in the device SDK and in bench `adapt`.
 */
export function decideOpenSet(
  probs: Float32Array | Float64Array,
  features: ArrayLike<number>,
  rule: OpenSetRule | null,
  options: { threshold: number; useRadius: boolean },
): OpenSetDecision {
  const probabilities = rule && rule.temperature !== 1 ? calibrate(probs, rule.temperature) : probs;
  let best = 0;
  for (let i = 1; i < probabilities.length; i++) if (probabilities[i] > probabilities[best]) best = i;
  const confidence = probabilities.length ? probabilities[best] : 0;
  const strangeness =
    rule && options.useRadius && Number.isFinite(rule.radius) && rule.centroids.length
      ? strangenessOf(features, rule)
      : undefined;
  const generic = options.useRadius ? rule?.generic : undefined;
  const typicality = generic ? typicalityOf(features, generic) : undefined;
  const unknownBecause: UnknownBecause | undefined =
    strangeness !== undefined && strangeness > 1
      ? 'far'
      : generic && typicality !== undefined && typicality < generic.margin
        ? 'generic'
        : !probabilities.length || confidence < options.threshold
          ? 'unsure'
          : undefined;
  return {
    probabilities,
    best,
    confidence,
    ...(strangeness !== undefined ? { strangeness } : {}),
    ...(typicality !== undefined ? { typicality } : {}),
    ...(unknownBecause ? { unknownBecause } : {}),
  };
}

/** Checks a rule read from a model's metadata; throws a FedexError naming what is wrong. */
export function parseOpenSetRule(value: unknown, numClasses: number, dim: number): OpenSetRule {
  const bad = (what: string): never => {
    throw new FedexError('MODEL_CORRUPT', `the model's open-set rule is malformed: ${what}`);
  };
  if (typeof value !== 'object' || value === null) return bad('not an object');
  const r = value as Record<string, unknown>;
  if (r.dim !== dim) bad(`dim ${String(r.dim)}, the features have ${dim}`);
  const c = r.centroids;
  if (
    !Array.isArray(c) ||
    c.length !== numClasses * dim ||
    !c.every((v) => typeof v === 'number' && Number.isFinite(v))
  )
    bad(`centroids must be ${numClasses} × ${dim} finite numbers`);
  const twins = r.twins;
  if (
    twins !== undefined &&
    twins !== null &&
    (!Array.isArray(twins) ||
      twins.length !== numClasses * dim ||
      !twins.every((v) => typeof v === 'number' && Number.isFinite(v)))
  )
    bad(`twins must be ${numClasses} × ${dim} finite numbers`);
  // JSON has no Infinity: an absent radius (null) means the rule is off.
  const radius = r.radius === null ? Number.POSITIVE_INFINITY : r.radius;
  if (typeof radius !== 'number' || !(radius > 0)) bad(`radius ${String(r.radius)}`);
  const twinRadius = r.twinRadius;
  if (
    twinRadius !== undefined &&
    twinRadius !== null &&
    !(typeof twinRadius === 'number' && twinRadius > 0 && Number.isFinite(twinRadius))
  )
    bad(`twinRadius ${String(twinRadius)}`);
  const t = r.temperature;
  if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0) bad(`temperature ${String(t)}`);
  const margin = typeof r.margin === 'number' ? r.margin : Number.NaN;
  let generic: GenericRule | undefined;
  if (r.generic !== undefined && r.generic !== null) {
    const g = r.generic as Record<string, unknown>;
    if (typeof g !== 'object') bad('generic is not an object');
    const mean = g.mean;
    if (
      !Array.isArray(mean) ||
      mean.length !== dim ||
      !mean.every((v) => typeof v === 'number' && Number.isFinite(v))
    )
      bad(`generic.mean must be ${dim} finite numbers`);
    if (typeof g.radius !== 'number' || !Number.isFinite(g.radius) || g.radius <= 0)
      bad(`generic.radius ${String(g.radius)}`);
    if (typeof g.margin !== 'number' || !(g.margin > 0 && g.margin < 1))
      bad(`generic.margin ${String(g.margin)}`);
    generic = { mean: mean as number[], radius: g.radius as number, margin: g.margin as number };
  }
  return {
    dim,
    centroids: c as number[],
    ...(Array.isArray(twins) ? { twins: twins as number[] } : {}),
    radius: radius as number,
    ...(typeof twinRadius === 'number' ? { twinRadius } : {}),
    temperature: t as number,
    margin,
    ...(generic ? { generic } : {}),
  };
}
