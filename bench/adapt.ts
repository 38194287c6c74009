/**
 * Adapt suite, open set: does "unknown" mean something? On LFW users (5 people, 3 labelled photos
 * each, the app's setting), the models the server trains (`trainScope`, the server's own code,
 * open-set rule included) are asked about three kinds of faces: a known person's other photos,
 * strangers (LFW people not in the user's gallery) and non-faces (crops of photo backgrounds and
 * synthetic skin-coloured blobs run through the descriptor net, as a false detection would be).
 * The device's decision is `decideOpenSet`, the function the SDK runs.
 *
 * Honest split: LFW's people are split in two halves. The radius (the distance to the nearest
 * known person beyond which a face is unknown; for the face descriptor the shipped rule is this
 * absolute distance, `OPEN_SET_RADII`) is chosen on users made of the first half so that 1% of
 * their known faces are rejected, and the per-user relative margin the rule had before is fitted
 * the same way for comparison; every reported figure comes from users of the second half, whose
 * people (and strangers) the choice never saw. Calibration (temperature) is reported as the
 * expected calibration error of the known faces' confidence.
 *
 * FEDEX_ADAPT_ONLY=open-set, masks or masks-upper (comma-separated) runs those parts.
 * Needs the LFW dataset (shared feature cache, LFW_SCAN) and the face models (for non-faces).
 */
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { createRng, shuffled } from '../src/core/random.js';
import { shapeSize, type RawImage } from '../src/core/types.js';
import { extractDataset, type ExtractedFeatureSet } from '../src/data/extract.js';
import { splitExtractorSource } from '../src/data/extractor-source.js';
import { buildUsers, type SimUser } from '../src/data/users.js';
import { createFacePipeline } from '../src/face/pipeline.js';
import { modelFromWeightsMessage } from '../src/model/io.js';
import {
  decideOpenSet,
  expectedCalibrationError,
  fitOpenSet,
  nearestCentroid,
  parseOpenSetRule,
  typicalityOf,
  DEFAULT_GENERIC_MARGIN,
  OPEN_SET_RADII,
  rocAuc,
  rocCurve,
  strangersCaughtAt,
} from '../src/model/open-set.js';
import { nodeFacePlatform } from '../src/platform/node/face.js';
import { readImageFile } from '../src/platform/node/image.js';
import { initRuntime } from '../src/runtime/node.js';
import { resolveTrainJobConfig, trainScope } from '../src/server/jobs/train-task.js';
import { datasetDir } from '../src/testing/datasets.js';
import { drawnFace } from '../src/testing/drawn-face.js';
import { maskedUpperRows, MASK_UPPER_SCAN } from './adapt-masks-upper.js';
import { maskRows, peopleHalves } from './adapt-masks.js';
import { LFW_SCAN } from './quantization.js';
import { gather, localLabels } from './split.js';
import { median, type BenchRow, type BenchSuite } from './types.js';

/** Known faces the margin may reject on the calibration half. */
const TARGET_KNOWN_REJECTED = 0.01;
/** Known faces the shipped absolute radius is fitted to reject on the calibration half (OPEN_SET_RADII). */
const TARGET_KNOWN_REJECTED_RADIUS = 0.005;
/** The device's default probability threshold. */
const THRESHOLD = 0.5;
const STRANGERS_PER_USER = 40;

/** Users of the people in `half` only (others' labels hidden from `buildUsers`). */
function usersOf(set: ExtractedFeatureSet, half: Set<number>, users: number, seed: number): SimUser[] {
  const labels = Int32Array.from(set.samples, (s) => (half.has(s.label) ? s.label : -1));
  return buildUsers(
    { people: set.people, labels },
    { users, peoplePerUser: 5, labelledPerPerson: 3, unlabelledPerPerson: 0, minTestPerPerson: 1, seed },
  );
}

/** Up to `n` photos of people of `half` who are not among the user's people (seeded). */
function strangersOf(
  set: ExtractedFeatureSet,
  half: Set<number>,
  u: SimUser,
  n: number,
  seed: number,
): number[] {
  const mine = new Set(u.people);
  const pool = set.samples.flatMap((s, i) => (half.has(s.label) && !mine.has(s.label) ? [i] : []));
  return shuffled(createRng(seed), pool).slice(0, n);
}

/** 150×150 RGB chip from a region of an image, resized bilinearly. */
function chipOf(image: RawImage, x: number, y: number, w: number, h: number): RawImage {
  const pixels = tf.tidy(() => {
    const t = tf
      .tensor3d(image.data, [image.height, image.width, image.channels], 'int32')
      .slice([y, x, 0], [h, w, 3]);
    return tf.image
      .resizeBilinear(t.toFloat() as tf.Tensor3D, [150, 150])
      .round()
      .clipByValue(0, 255)
      .dataSync();
  });
  return { width: 150, height: 150, channels: 3, data: Uint8Array.from(pixels) };
}

/** A skin-coloured ellipse ("a beige blob") with noise on a random background. */
function blobChip(rng: () => number): RawImage {
  const data = new Uint8Array(150 * 150 * 3);
  const bg = [rng() * 255, rng() * 255, rng() * 255];
  const skin = [180 + rng() * 60, 140 + rng() * 50, 110 + rng() * 50];
  const cx = 60 + rng() * 30;
  const cy = 60 + rng() * 30;
  const rx = 35 + rng() * 30;
  const ry = 45 + rng() * 30;
  for (let y = 0; y < 150; y++)
    for (let x = 0; x < 150; x++) {
      const inside = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1;
      const c = inside ? skin : bg;
      for (let k = 0; k < 3; k++)
        data[(y * 150 + x) * 3 + k] = Math.max(0, Math.min(255, c[k] + (rng() - 0.5) * 30));
    }
  return { width: 150, height: 150, channels: 3, data };
}

/**
 * Descriptors of `n` non-faces: 40% corner crops of LFW photos (background, shoulders, hair; the
 * face sits in the middle of LFW's deep-funneled 250×250 photos), 20% skin-coloured blobs, and 40%
 * drawn cartoon faces that the SSD detector does take for faces (each through the whole pipeline,
 * its detected box aligned and described, as a false detection in the app would be).
 */
async function nonFaceDescriptors(
  files: string[],
  n: number,
  seed: number,
): Promise<{ descriptors: Float32Array[]; drawn: boolean[] }> {
  const rng = createRng(seed);
  const chips: RawImage[] = [];
  for (const f of shuffled(rng, files).slice(0, Math.round(n * 0.4))) {
    const img = await readImageFile(f);
    const s = Math.round(img.width * 0.3);
    const corner = Math.floor(rng() * 4);
    chips.push(chipOf(img, corner % 2 ? img.width - s : 0, corner >= 2 ? img.height - s : 0, s, s));
  }
  while (chips.length < Math.round(n * 0.6)) chips.push(blobChip(rng));
  const pipeline = await createFacePipeline(nodeFacePlatform(), { detector: 'ssd' });
  try {
    const out = await pipeline.describe(chips);
    const drawn = out.map(() => false);
    for (let s = 0; out.length < n && s < n * 4; s++) {
      const a = await pipeline.analyze(drawnFace(s, 320 + (s % 3) * 80));
      const d = a.main >= 0 ? a.faces[a.main].descriptor : undefined;
      if (d) {
        out.push(d);
        drawn.push(true);
      }
    }
    return { descriptors: out, drawn };
  } finally {
    pipeline.dispose();
  }
}

/** What one trained user model says about its probes. */
interface UserOutcome {
  /** Distance to the nearest centroid ÷ the median leave-one-out distance (margin 1). */
  knownRatio: number[];
  /** Plain distance to the nearest centroid (for comparison: one absolute radius for all). */
  knownDistance: number[];
  strangerDistance: number[];
  strangerRatio: number[];
  nonFaceRatio: number[];
  /** Distance to the user's mean face ÷ the labelled samples' median (the generic rule's score). */
  knownTypicality: number[];
  strangerTypicality: number[];
  nonFaceTypicality: number[];
  known: { right: boolean; unknown: boolean; confidence: number; rawConfidence: number }[];
  strangersUnknown: boolean[];
  nonFacesUnknown: boolean[];
  temperature: number;
}

async function runUser(
  set: ExtractedFeatureSet,
  u: SimUser,
  strangers: number[],
  nonFaces: Float32Array[],
  head: string,
  radius: { openSetRadius: number } | { openSetMargin: number },
): Promise<UserOutcome> {
  const dim = shapeSize(set.spec.shape);
  const x = gather(set, u.labelled);
  const y = Int32Array.from(localLabels(set, u, u.labelled));
  const out = await trainScope({
    scope: `user:${u.id}`,
    set: {
      spec: set.spec,
      specKey: 'bench',
      sampleIds: u.labelled.map((_, i) => i + 1),
      labels: y,
      owners: [],
      features: x,
      throughSampleId: u.labelled.length,
    },
    config: resolveTrainJobConfig({ head, ...radius }),
  });
  const { model, metadata } = await modelFromWeightsMessage(out.weights);
  try {
    const rule = parseOpenSetRule(metadata.openSet, out.labels.length, dim);
    const unit = fitOpenSet(x, y, dim, u.people.length, { margin: 1 });
    const typical = (feat: Float32Array) => (unit.generic ? typicalityOf(feat, unit.generic) : Number.NaN);
    // The model's classes are the user's local labels in order ('0'..'4').
    const probsOf = (rows: Float32Array, n: number) =>
      tf.tidy(() => (model.predict(tf.tensor2d(rows, [n, dim])) as tf.Tensor).dataSync() as Float32Array);
    const decide = (feat: Float32Array, p: Float32Array) =>
      decideOpenSet(p, feat, rule, { threshold: THRESHOLD, useRadius: true });
    const ratio = (feat: Float32Array) => nearestCentroid(feat, unit).distance / unit.radius;
    const k = out.labels.length;
    const o: UserOutcome = {
      knownRatio: [],
      knownDistance: [],
      strangerDistance: [],
      strangerRatio: [],
      nonFaceRatio: [],
      knownTypicality: [],
      strangerTypicality: [],
      nonFaceTypicality: [],
      known: [],
      strangersUnknown: [],
      nonFacesUnknown: [],
      temperature: rule.temperature,
    };
    const testX = gather(set, u.test);
    const testY = localLabels(set, u, u.test);
    const tp = probsOf(testX, u.test.length);
    u.test.forEach((_, i) => {
      const feat = testX.subarray(i * dim, (i + 1) * dim);
      const p = tp.subarray(i * k, (i + 1) * k);
      const d = decide(feat, p);
      o.knownRatio.push(ratio(feat));
      o.knownTypicality.push(typical(feat));
      o.knownDistance.push(nearestCentroid(feat, unit).distance);
      o.known.push({
        right: d.best === testY[i],
        unknown: d.unknownBecause !== undefined,
        confidence: d.confidence,
        rawConfidence: Math.max(...p),
      });
    });
    const sx = gather(set, strangers);
    const sp = probsOf(sx, strangers.length);
    strangers.forEach((_, i) => {
      const feat = sx.subarray(i * dim, (i + 1) * dim);
      o.strangerRatio.push(ratio(feat));
      o.strangerTypicality.push(typical(feat));
      o.strangerDistance.push(nearestCentroid(feat, unit).distance);
      o.strangersUnknown.push(decide(feat, sp.subarray(i * k, (i + 1) * k)).unknownBecause !== undefined);
    });
    const nx = new Float32Array(nonFaces.length * dim);
    nonFaces.forEach((f, i) => nx.set(f, i * dim));
    const np = probsOf(nx, nonFaces.length);
    nonFaces.forEach((feat, i) => {
      o.nonFaceRatio.push(ratio(feat));
      o.nonFaceTypicality.push(typical(feat));
      o.nonFacesUnknown.push(decide(feat, np.subarray(i * k, (i + 1) * k)).unknownBecause !== undefined);
    });
    return o;
  } finally {
    model.dispose();
  }
}

const share = (xs: boolean[]): number => xs.filter(Boolean).length / Math.max(1, xs.length);

/** The ratio below which `1 - rate` of `values` lie (the margin that rejects `rate` of them). */
function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
}

export const adaptSuite: BenchSuite = {
  name: 'adapt',
  summary:
    'LFW users: open set (strangers and non-faces unknown at 1% known rejected, ECE); masked faces (frozen vs cloud-trained)',
  async run({ quick, log }) {
    await initRuntime();
    const dir = datasetDir('lfw_deepfunneled_min5');
    if (!dir) {
      log('SKIPPED: lfw_deepfunneled_min5 not found (set FEDEX_DATA_DIR)');
      return [];
    }
    const set = await extractDataset({ dir, scan: LFW_SCAN });
    const nUsers = quick ? 30 : 100;
    // Two halves of the people, seeded.
    const { calibration, evaluation } = peopleHalves(set.people.length);
    const files = set.samples.map((s) => path.join(dir, s.id));
    // FEDEX_ADAPT_ONLY=masks (or open-set) runs one part.
    const only = process.env.FEDEX_ADAPT_ONLY?.split(',').map((s) => s.trim());
    const openSetPart = !only || only.includes('open-set');
    const { descriptors: nonFaces, drawn } = openSetPart
      ? await nonFaceDescriptors(files, quick ? 40 : 100, 11)
      : { descriptors: [], drawn: [] };
    if (openSetPart)
      log(
        `non-faces: ${nonFaces.length} descriptors (${drawn.filter(Boolean).length} drawn faces the detector took for faces, the rest LFW corner crops and blobs)`,
      );

    const rows: BenchRow[] = [];
    for (const head of openSetPart ? ['centroid', 'linear'] : []) {
      // 1. The radius, on the calibration half (the rule off: a radius of 1e6 keeps every face in):
      // the absolute distance (what ships for the face descriptor, OPEN_SET_RADII) and, for
      // comparison, the per-user relative margin (× the median leave-one-out distance).
      const calUsers = usersOf(set, calibration, nUsers, 21);
      const cal: UserOutcome[] = [];
      for (const u of calUsers)
        cal.push(
          await runUser(set, u, strangersOf(set, calibration, u, STRANGERS_PER_USER, 31), nonFaces, head, {
            openSetRadius: 1e6,
          }),
        );
      const margin = quantile(
        cal.flatMap((o) => o.knownRatio),
        1 - TARGET_KNOWN_REJECTED,
      );
      const radius = quantile(
        cal.flatMap((o) => o.knownDistance),
        1 - TARGET_KNOWN_REJECTED_RADIUS,
      );
      const shipped = OPEN_SET_RADII['faceapi-resnet/embedding'];
      // 2. Every figure on the evaluation half, with the radius that ships in the models.
      const evalUsers = usersOf(set, evaluation, nUsers, 22);
      const ev: UserOutcome[] = [];
      const t0 = performance.now();
      for (const u of evalUsers)
        ev.push(
          await runUser(set, u, strangersOf(set, evaluation, u, STRANGERS_PER_USER, 32), nonFaces, head, {
            openSetRadius: shipped,
          }),
        );
      const seconds = (performance.now() - t0) / 1000;
      const known = ev.flatMap((o) => o.known);
      const knownRatio = ev.flatMap((o) => o.knownRatio);
      const strangerRatio = ev.flatMap((o) => o.strangerRatio);
      const roc = rocCurve(knownRatio, strangerRatio);
      const auc = rocAuc(roc);
      const atOne = strangersCaughtAt(roc, 0.01);
      const ctx = `${evalUsers.length} users x 5 people (3 labelled), ${known.length} known faces, ${strangerRatio.length} strangers, ${nonFaces.length} non-faces; people disjoint from the ${calUsers.length} calibration users`;
      const r = (name: string, value: number, unit: string, note: string) =>
        rows.push({ suite: 'adapt', name: `${name}, ${head}`, value, unit, note });
      r(
        'open-set radius (fitted on the calibration half)',
        radius,
        'distance',
        `rejects 0.5% of calibration users' known faces; ships rounded as OPEN_SET_RADII = ${shipped} (the evaluation figures use it)`,
      );
      r(
        "calibration users' known faces beyond the shipped radius",
        cal.flatMap((o) => o.knownDistance).filter((d) => d > shipped).length /
          Math.max(1, cal.flatMap((o) => o.knownDistance).length),
        'share',
        `radius ${shipped}`,
      );
      r(
        'open-set relative margin (fitted on the calibration half, for comparison)',
        margin,
        'x median LOO',
        `the per-user scale the rule had before; rejects 1% of calibration users' known faces`,
      );
      r('strangers called unknown', share(ev.flatMap((o) => o.strangersUnknown)), 'share', ctx);
      r('non-faces called unknown', share(ev.flatMap((o) => o.nonFacesUnknown)), 'share', ctx);
      r(
        'drawn faces called unknown',
        share(ev.flatMap((o) => o.nonFacesUnknown.filter((_, i) => drawn[i]))),
        'share',
        `cartoons the SSD detector takes for faces; far, generic or unsure`,
      );
      // The "no one in particular" rule: typicality (distance to the user's mean face ÷ the
      // labelled samples' median) of known faces, strangers and drawn faces.
      const knownTyp = ev.flatMap((o) => o.knownTypicality).filter(Number.isFinite);
      const drawnTyp = ev
        .flatMap((o) => o.nonFaceTypicality.filter((_, i) => drawn[i]))
        .filter(Number.isFinite);
      const calTyp = cal.flatMap((o) => o.knownTypicality).filter(Number.isFinite);
      const below = (xs: number[], t: number) => xs.filter((v) => v < t).length / Math.max(1, xs.length);
      r(
        'known faces called generic (default margin)',
        below(knownTyp, DEFAULT_GENERIC_MARGIN),
        'share',
        `typicality < ${DEFAULT_GENERIC_MARGIN}; lowest known ${Math.min(...knownTyp).toFixed(3)}`,
      );
      r(
        'strangers called generic (default margin)',
        below(ev.flatMap((o) => o.strangerTypicality).filter(Number.isFinite), DEFAULT_GENERIC_MARGIN),
        'share',
        'real faces of people not in the gallery (they are caught as far, or not at all)',
      );
      r(
        'drawn faces called generic (default margin)',
        below(drawnTyp, DEFAULT_GENERIC_MARGIN),
        'share',
        `median typicality of drawn faces ${median(drawnTyp).toFixed(3)}, of known faces ${median(knownTyp).toFixed(3)}`,
      );
      r(
        'generic margin rejecting 0.5% of known faces (calibration half)',
        quantile(calTyp, 0.005),
        'typicality',
        `the default ships ${DEFAULT_GENERIC_MARGIN}`,
      );
      r(
        'ROC AUC, known vs drawn faces (typicality)',
        rocAuc(
          rocCurve(
            knownTyp.map((v) => -v),
            drawnTyp.map((v) => -v),
          ),
        ),
        'auc',
        'lower typicality = more generic',
      );
      r(
        'known faces called unknown',
        share(known.map((k) => k.unknown)),
        'share',
        `distance rule + calibrated p < ${THRESHOLD}`,
      );
      r(
        'known faces named right',
        share(known.map((k) => k.right && !k.unknown)),
        'share',
        'accepted and right',
      );
      r(
        'closed-set top-1 on known faces',
        share(known.map((k) => k.right)),
        'acc',
        'the head alone, no unknown',
      );
      const absRoc = rocCurve(
        ev.flatMap((o) => o.knownDistance),
        ev.flatMap((o) => o.strangerDistance),
      );
      r(
        'strangers caught at 1% known rejected (eval ROC)',
        strangersCaughtAt(absRoc, 0.01).strangersCaught,
        'share',
        `distance to the nearest centroid (the shipped rule's score) on the evaluation half itself; AUC ${rocAuc(absRoc).toFixed(4)}`,
      );
      r('ROC AUC, known vs strangers (distance)', rocAuc(absRoc), 'auc', ctx);
      r(
        'strangers caught at 1% known rejected, per-user ratio (eval ROC)',
        atOne.strangersCaught,
        'share',
        `distance / the user's median leave-one-out distance (the rule before); AUC ${auc.toFixed(4)}`,
      );
      r(
        'ROC AUC, known vs non-faces (distance ratio)',
        rocAuc(
          rocCurve(
            knownRatio,
            ev.flatMap((o) => o.nonFaceRatio),
          ),
        ),
        'auc',
        ctx,
      );
      r(
        'ECE of known faces, calibrated',
        expectedCalibrationError(
          known.map((k) => k.confidence),
          known.map((k) => k.right),
        ),
        'ece',
        `temperature fitted on the holdout (median T ${median(ev.map((o) => o.temperature)).toFixed(2)})`,
      );
      r(
        'ECE of known faces, uncalibrated',
        expectedCalibrationError(
          known.map((k) => k.rawConfidence),
          known.map((k) => k.right),
        ),
        'ece',
        'the head as trained (T = 1)',
      );
      r(
        'users trained and scored per minute',
        (evalUsers.length / seconds) * 60,
        'users/min',
        'trainScope + decode + score, one process',
      );
      for (const q of [0.005, 0.01, 0.02, 0.05, 0.1]) {
        const p = strangersCaughtAt(absRoc, q);
        log(
          `${head}: ROC at ${(q * 100).toFixed(1)}% known rejected: ${(p.strangersCaught * 100).toFixed(1)}% strangers caught (distance > ${p.threshold.toFixed(3)})`,
        );
      }
    }
    if (only && !only.some((p) => p.startsWith('masks'))) return rows;
    // Masked faces: the same photos with synthetic masks (their own feature-cache variant).
    log('masked faces: features with synthetic masks (cached; the first run extracts every photo again)');
    const masked = await extractDataset({
      dir,
      scan: LFW_SCAN,
      source: { kind: 'face', options: { mask: 'synthetic' } },
    });
    if (!only || only.includes('masks')) rows.push(...(await maskRows(set, masked, { users: nUsers, log })));
    if (!only || only.includes('masks-upper')) {
      // The heavy top on masked faces: stage128 maps, plain and masked (their own cache variants).
      log('masks, heavy top: stage128 features, plain and masked (cached; the first run extracts both)');
      const stage = (mask: boolean) =>
        extractDataset({
          dir,
          scan: MASK_UPPER_SCAN,
          source: splitExtractorSource('faceapi-resnet', 'stage128', {
            detector: 'ssd',
            ...(mask ? { mask: 'synthetic' } : {}),
          }),
        });
      const plain128 = await stage(false);
      const masked128 = await stage(true);
      rows.push(
        ...(await maskedUpperRows(plain128, masked128, { users: nUsers, epochs: quick ? 2 : 8, log })),
      );
    }
    return rows;
  },
};
