/**
 * Adapt suite, masked faces: what masks cost the frozen descriptor and what the cloud's training
 * wins back. LFW users (5 people, 3 labelled photos each, the app's setting) under the dataset's
 * mask modes (src/data/mask-mix.ts): `none`, `probe` (named unmasked, met masked), `all`, `mixed`
 * (half of all photos masked, by photo id). Masks are the face pipeline's synthetic ones
 * (src/face/mask.ts), features from the shared cache (a variant of their own).
 *
 * Methods, each scored top-1 on the users' test photos:
 * - `centroid`: nearest class mean on the frozen descriptor (what a phone can do alone);
 * - `linear`: the per-user head the server trains (`trainScope`, server defaults);
 * - `cloud metric + centroid`: nearest class mean after a within-class whitening (src/model/
 *   whiten.ts) the cloud fits on *other* users' labelled features (people of the other half of LFW,
 *   half of their photos masked as in `mixed`): the part of adaptation only the cloud can do, since
 *   it needs many people's features at once.
 * - masked twins (src/model/mask-translate.ts): the cloud's map from a photo's plain descriptor to
 *   its masked one, fitted on the other half's photos (each plain and masked: what the cloud can
 *   make from public photos), gives every labelled photo a masked twin. `twins + centroid`: a
 *   second class mean per person, of the twins (nearest of the 2k means); `linear + twins`: the
 *   server's per-user head trained on the photos and their twins (`trainScope`'s `augment`, what
 *   `fedex serve --mask-translation` runs).
 *
 * People are split in two halves (seeded, the open-set part's split): the metric is fitted on the
 * first, every user is made of the second.
 */
import { createRng, deriveSeed, shuffled } from '../src/core/random.js';
import { shapeSize } from '../src/core/types.js';
import type { ExtractedFeatureSet } from '../src/data/extract.js';
import { isMasked, mixRows, type MaskMode } from '../src/data/mask-mix.js';
import { buildUsers, type SimUser } from '../src/data/users.js';
import { modelFromWeightsMessage } from '../src/model/io.js';
import {
  fitOpenSet,
  nearestCentroid,
  OPEN_SET_RADII,
  OPEN_SET_TWIN_RADII,
  strangenessOf,
} from '../src/model/open-set.js';
import {
  applyMaskTranslation,
  fitMaskTranslationCv,
  type MaskTranslation,
} from '../src/model/mask-translate.js';
import { applyWhitening, fitWhitening, type Whitening } from '../src/model/whiten.js';
import { tf } from '../src/runtime/node.js';
import { resolveTrainJobConfig, trainScope } from '../src/server/jobs/train-task.js';
import { localLabels } from './split.js';
import type { BenchRow } from './types.js';

const MODES: readonly MaskMode[] = ['none', 'probe', 'all', 'mixed'];
const MASK_SEED = 5;

/**
 * `count` users (5 people, 3 labelled photos each, the rest test photos) made of the people in
 * `half`: the setting of every masked-faces figure. Seeded.
 */
export function maskUsers(
  set: ExtractedFeatureSet,
  half: Set<number>,
  count: number,
  seed: number,
): SimUser[] {
  return buildUsers(
    { people: set.people, labels: Int32Array.from(set.samples, (s) => (half.has(s.label) ? s.label : -1)) },
    {
      users: count,
      peoplePerUser: 5,
      labelledPerPerson: 3,
      unlabelledPerPerson: 0,
      minTestPerPerson: 1,
      seed,
    },
  );
}

/** The two halves of the people (the open-set part uses the same split). */
export function peopleHalves(count: number): { calibration: Set<number>; evaluation: Set<number> } {
  const order = shuffled(
    createRng(deriveSeed(7, 'adapt-halves')),
    Array.from({ length: count }, (_, i) => i),
  );
  return { calibration: new Set(order.slice(0, count >> 1)), evaluation: new Set(order.slice(count >> 1)) };
}

function nearestCentroidAccuracy(
  gx: Float32Array,
  gy: number[],
  px: Float32Array,
  py: number[],
  dim: number,
  k: number,
): boolean[] {
  const rule = fitOpenSet(gx, gy, dim, k, { margin: 1 });
  return py.map((y, i) => nearestCentroid(px.subarray(i * dim, (i + 1) * dim), rule).index === y);
}

/** Nearest of two means per person: of the labelled photos and of their masked twins. */
function twinCentroidAccuracy(
  gx: Float32Array,
  gy: number[],
  px: Float32Array,
  py: number[],
  dim: number,
  k: number,
  t: MaskTranslation,
): boolean[] {
  const both = new Float32Array(gx.length * 2);
  both.set(gx);
  both.set(applyMaskTranslation(t, gx), gx.length);
  const rule = fitOpenSet(both, [...gy, ...gy.map((y) => y + k)], dim, 2 * k, { margin: 1 });
  return py.map((y, i) => nearestCentroid(px.subarray(i * dim, (i + 1) * dim), rule).index % k === y);
}

async function linearAccuracy(
  gx: Float32Array,
  gy: number[],
  px: Float32Array,
  py: number[],
  set: ExtractedFeatureSet,
  u: SimUser,
  translation?: MaskTranslation,
  head = 'linear',
): Promise<boolean[]> {
  const dim = shapeSize(set.spec.shape);
  const out = await trainScope({
    scope: `user:${u.id}`,
    set: {
      spec: set.spec,
      specKey: 'bench',
      sampleIds: gy.map((_, i) => i + 1),
      labels: Int32Array.from(gy),
      owners: [],
      features: gx,
      throughSampleId: gy.length,
    },
    config: resolveTrainJobConfig({ head }),
    ...(translation ? { augment: (rows: Float32Array) => applyMaskTranslation(translation, rows) } : {}),
  });
  const { model } = await modelFromWeightsMessage(out.weights);
  try {
    const pred = tf.tidy(() =>
      (model.predict(tf.tensor2d(px, [py.length, dim])) as tf.Tensor).argMax(-1).dataSync(),
    );
    return py.map((y, i) => pred[i] === y);
  } finally {
    model.dispose();
  }
}

const share = (xs: boolean[]): number => xs.filter(Boolean).length / Math.max(1, xs.length);

/**
 * 95% percentile bootstrap interval of the share of the masks' cost a method wins back, resampling
 * users (their photos' answers are not independent): (probe method − probe centroid) ÷ (none
 * centroid − probe centroid), each a rate over the resampled users' test photos. Seeded.
 */
export function wonBackInterval(
  perUser: Map<string, number[]>,
  method: string,
  seed: number,
): [number, number] {
  const get = (k: string) => perUser.get(k)!;
  const [none, probe, m, n] = [
    get('none/centroid'),
    get('probe/centroid'),
    get(`probe/${method}`),
    get('probe/n'),
  ];
  const rng = createRng(seed);
  const shares: number[] = [];
  for (let b = 0; b < 1000; b++) {
    let a = 0;
    let p = 0;
    let w = 0;
    let t = 0;
    for (let k = 0; k < n.length; k++) {
      const u = Math.floor(rng() * n.length);
      a += none[u];
      p += probe[u];
      w += m[u];
      t += n[u];
    }
    shares.push((w - p) / t / ((a - p) / t));
  }
  shares.sort((x, y) => x - y);
  return [shares[25], shares[974]];
}

/** Share of masked known faces the twin radius is fitted to reject (on calibration users). */
const TWIN_KNOWN_REJECTED = 0.02;
const STRANGERS_PER_USER = 25;

/**
 * Open set with masks, `probe` setting (named unmasked, met masked): for each user, the rule a
 * model ships (plain radius, and with masked twins their means and the twin radius), and what it
 * says of the user's masked test photos, of masked strangers and of plain strangers (people of the
 * same half not among the user's). Also each masked test photo's distance to the nearest twin mean,
 * which the twin radius is fitted on.
 */
function maskOpenSet(
  plain: ExtractedFeatureSet,
  masked: ExtractedFeatureSet,
  users: SimUser[],
  half: Set<number>,
  translation: MaskTranslation,
  twinRadius: number,
): {
  knownFar: { plainRule: boolean[]; twinRule: boolean[] };
  maskedStrangersCaught: { plainRule: boolean[]; twinRule: boolean[] };
  plainStrangersCaught: { plainRule: boolean[]; twinRule: boolean[] };
  knownTwinDistance: number[];
} {
  const dim = shapeSize(plain.spec.shape);
  const radius = OPEN_SET_RADII['faceapi-resnet/embedding'];
  const pool = plain.samples.flatMap((s, i) => (half.has(s.label) ? [i] : []));
  const out = {
    knownFar: { plainRule: [] as boolean[], twinRule: [] as boolean[] },
    maskedStrangersCaught: { plainRule: [] as boolean[], twinRule: [] as boolean[] },
    plainStrangersCaught: { plainRule: [] as boolean[], twinRule: [] as boolean[] },
    knownTwinDistance: [] as number[],
  };
  const row = (x: Float32Array, i: number) => x.subarray(i * dim, (i + 1) * dim);
  for (const u of users) {
    const gx = mixRows(plain.features, undefined, dim, u.labelled, [], 'none', 'gallery');
    const gy = localLabels(plain, u, u.labelled);
    const k = u.people.length;
    const plainRule = fitOpenSet(gx, gy, dim, k, { radius, genericMargin: 0 });
    const twins = applyMaskTranslation(translation, gx);
    const twinRule = fitOpenSet(gx, gy, dim, k, { radius, genericMargin: 0, twins, twinRadius });
    const twinMeans = { dim, centroids: twinRule.twins! };
    for (const i of u.test) {
      out.knownFar.plainRule.push(strangenessOf(row(masked.features, i), plainRule) > 1);
      out.knownFar.twinRule.push(strangenessOf(row(masked.features, i), twinRule) > 1);
      out.knownTwinDistance.push(nearestCentroid(row(masked.features, i), twinMeans).distance);
    }
    const mine = new Set(u.people);
    const strangers = shuffled(
      createRng(deriveSeed(41, u.id)),
      pool.filter((i) => !mine.has(plain.samples[i].label)),
    ).slice(0, STRANGERS_PER_USER);
    for (const i of strangers) {
      out.maskedStrangersCaught.plainRule.push(strangenessOf(row(masked.features, i), plainRule) > 1);
      out.maskedStrangersCaught.twinRule.push(strangenessOf(row(masked.features, i), twinRule) > 1);
      out.plainStrangersCaught.plainRule.push(strangenessOf(row(plain.features, i), plainRule) > 1);
      out.plainStrangersCaught.twinRule.push(strangenessOf(row(plain.features, i), twinRule) > 1);
    }
  }
  return out;
}

/**
 * Rows of the masked-faces part. `plain` and `masked` are the same photos' features without and
 * with synthetic masks (same samples, same order).
 */
export async function maskRows(
  plain: ExtractedFeatureSet,
  masked: ExtractedFeatureSet,
  options: { users: number; log: (line: string) => void },
): Promise<BenchRow[]> {
  const dim = shapeSize(plain.spec.shape);
  const ids = plain.samples.map((s) => s.id);
  const { calibration, evaluation } = peopleHalves(plain.people.length);

  // The cloud's metric, from the calibration half's photos, half of them masked.
  const t0 = performance.now();
  const calIdx = plain.samples.flatMap((s, i) => (calibration.has(s.label) ? [i] : []));
  const calPeople = [...calibration].sort((a, b) => a - b);
  const local = new Map(calPeople.map((p, i) => [p, i]));
  const calX = mixRows(plain.features, masked.features, dim, calIdx, ids, 'mixed', 'gallery', MASK_SEED);
  const calY = calIdx.map((i) => local.get(plain.samples[i].label)!);
  const metrics = new Map<number, Whitening>();
  for (const s of [0.05, 0.1, 0.2, 0.4])
    metrics.set(s, fitWhitening(calX, calY, dim, calPeople.length, { shrinkage: s }));
  const fitSeconds = (performance.now() - t0) / 1000 / metrics.size;
  const metric = metrics.get(0.1)!;

  // The cloud's mask translation, from the calibration half's photos, each plain and masked.
  const t1 = performance.now();
  const pairsOf = (x: Float32Array) => {
    const out = new Float32Array(calIdx.length * dim);
    calIdx.forEach((i, j) => out.set(x.subarray(i * dim, (i + 1) * dim), j * dim));
    return out;
  };
  const { translation, heldOut } = fitMaskTranslationCv(
    pairsOf(plain.features),
    pairsOf(masked.features),
    dim,
    calIdx.map((i) => plain.samples[i].label),
  );
  const translationSeconds = (performance.now() - t1) / 1000;
  options.log(
    `mask translation: ridge ${translation.ridge} chosen over whole people (held-out error ${[...heldOut].map(([r, e]) => `${r}: ${e.toFixed(4)}`).join(', ')}), ${translationSeconds.toFixed(1)} s`,
  );

  const users = maskUsers(plain, evaluation, options.users, 23);

  const ctx = `${users.length} LFW users x 5 people, 3 labelled each; masks by src/face/mask.ts (seed ${MASK_SEED})`;
  const rows: BenchRow[] = [];
  const acc: Record<string, number> = {};
  // Right answers per user (users in the same order in every mode), for the bootstrap below.
  const perUser = new Map<string, number[]>();
  const count = (key: string, xs: boolean[]) =>
    (perUser.get(key) ?? perUser.set(key, []).get(key)!).push(xs.filter(Boolean).length);
  for (const mode of MODES) {
    const right = {
      centroid: [] as boolean[],
      linear: [] as boolean[],
      metric: [] as boolean[],
      twinCentroid: [] as boolean[],
      twinLinear: [] as boolean[],
      twinServerCentroid: [] as boolean[],
      maskedProbes: {
        centroid: [] as boolean[],
        linear: [] as boolean[],
        metric: [] as boolean[],
        twinCentroid: [] as boolean[],
        twinLinear: [] as boolean[],
      },
    };
    const sensitivity = new Map<number, boolean[]>([...metrics.keys()].map((s) => [s, []]));
    for (const u of users) {
      const gx = mixRows(plain.features, masked.features, dim, u.labelled, ids, mode, 'gallery', MASK_SEED);
      const px = mixRows(plain.features, masked.features, dim, u.test, ids, mode, 'probe', MASK_SEED);
      const gy = localLabels(plain, u, u.labelled);
      const py = localLabels(plain, u, u.test);
      const k = u.people.length;
      const c = nearestCentroidAccuracy(gx, gy, px, py, dim, k);
      const l = await linearAccuracy(gx, gy, px, py, plain, u);
      const m = nearestCentroidAccuracy(
        applyWhitening(metric, gx),
        gy,
        applyWhitening(metric, px),
        py,
        dim,
        k,
      );
      const tc = twinCentroidAccuracy(gx, gy, px, py, dim, k, translation);
      const tl = await linearAccuracy(gx, gy, px, py, plain, u, translation);
      const ts = await linearAccuracy(gx, gy, px, py, plain, u, translation, 'centroid');
      right.twinServerCentroid.push(...ts);
      count(`${mode}/twinServerCentroid`, ts);
      right.twinCentroid.push(...tc);
      right.twinLinear.push(...tl);
      count(`${mode}/centroid`, c);
      count(`${mode}/metric`, m);
      count(`${mode}/twinCentroid`, tc);
      count(`${mode}/twinLinear`, tl);
      count(
        `${mode}/n`,
        py.map(() => true),
      );
      for (const [s, w] of metrics)
        sensitivity
          .get(s)!
          .push(...nearestCentroidAccuracy(applyWhitening(w, gx), gy, applyWhitening(w, px), py, dim, k));
      right.centroid.push(...c);
      right.linear.push(...l);
      right.metric.push(...m);
      u.test.forEach((i, j) => {
        if (!isMasked(mode, 'probe', ids[i], MASK_SEED)) return;
        right.maskedProbes.centroid.push(c[j]);
        right.maskedProbes.linear.push(l[j]);
        right.maskedProbes.metric.push(m[j]);
        right.maskedProbes.twinCentroid.push(tc[j]);
        right.maskedProbes.twinLinear.push(tl[j]);
      });
    }
    const galleryNote = {
      none: 'no masks',
      probe: 'named unmasked, met masked',
      all: 'named masked, met masked',
      mixed: 'half of all photos masked',
    }[mode];
    const add = (name: string, value: number, note: string) => {
      acc[`${mode}/${name}`] = value;
      rows.push({
        suite: 'adapt',
        name: `masks ${mode}: ${name}`,
        value,
        unit: 'acc',
        note: `${galleryNote}; ${note}`,
      });
    };
    add('centroid (frozen descriptor)', share(right.centroid), ctx);
    add('linear (per-user head, server)', share(right.linear), 'trainScope, server defaults');
    add(
      'cloud metric + centroid',
      share(right.metric),
      `within-class whitening fitted on ${calIdx.length} photos of ${calPeople.length} other people (half masked), shrinkage 0.1`,
    );
    const twinNote = `masked twins from the mask translation fitted on ${calIdx.length} photo pairs of ${calPeople.length} other people (ridge ${translation.ridge})`;
    add('twins + centroid', share(right.twinCentroid), `${twinNote}; nearest of 2 means a person`);
    add(
      'linear + twins (server, --mask-translation)',
      share(right.twinLinear),
      `${twinNote}; trainScope augment`,
    );
    add(
      'centroid head + twins (server, --mask-translation)',
      share(right.twinServerCentroid),
      `${twinNote}; trainScope augment, head centroid (two means a person)`,
    );
    if (mode === 'mixed') {
      add(
        'centroid on the masked probes',
        share(right.maskedProbes.centroid),
        `${right.maskedProbes.centroid.length} masked probes of the mixed setting`,
      );
      add('cloud metric + centroid on the masked probes', share(right.maskedProbes.metric), 'same probes');
      add('twins + centroid on the masked probes', share(right.maskedProbes.twinCentroid), 'same probes');
      add('linear + twins on the masked probes', share(right.maskedProbes.twinLinear), 'same probes');
    }
    options.log(
      `masks ${mode}: centroid ${(share(right.centroid) * 100).toFixed(1)}%, linear ${(share(right.linear) * 100).toFixed(1)}%, twins + centroid ${(share(right.twinCentroid) * 100).toFixed(1)}%, linear + twins ${(share(right.twinLinear) * 100).toFixed(1)}%, centroid head + twins ${(share(right.twinServerCentroid) * 100).toFixed(1)}%, cloud metric ${[...sensitivity].map(([s, r]) => `${(share(r) * 100).toFixed(1)}% (shrinkage ${s})`).join(', ')}`,
    );
  }
  const cost = acc['none/centroid (frozen descriptor)'] - acc['probe/centroid (frozen descriptor)'];
  for (const [method, key, label] of [
    ['cloud metric + centroid', 'metric', 'cloud metric'],
    ['twins + centroid', 'twinCentroid', 'twins + centroid'],
    ['linear + twins (server, --mask-translation)', 'twinLinear', 'linear + twins, the server'],
    [
      'centroid head + twins (server, --mask-translation)',
      'twinServerCentroid',
      'centroid head + twins, the server',
    ],
  ] as const) {
    const won = acc[`probe/${method}`] - acc['probe/centroid (frozen descriptor)'];
    const [lo, hi] = wonBackInterval(perUser, key, 57);
    rows.push({
      suite: 'adapt',
      name: `masks: share of the masks' cost won back (probe setting, ${label})`,
      value: cost > 0 ? won / cost : 0,
      unit: 'share',
      note: `masks cost the frozen descriptor ${(cost * 100).toFixed(1)} points (none → probe); ${label} wins back ${(won * 100).toFixed(1)}; 95% interval [${lo.toFixed(2)}, ${hi.toFixed(2)}] (bootstrap over users); goal >= 0.5`,
    });
    options.log(
      `masks: ${label} wins back ${((won / cost) * 100).toFixed(1)}% [${(lo * 100).toFixed(1)}, ${(hi * 100).toFixed(1)}]`,
    );
  }
  // Open set with masks: the twin radius fitted on calibration users, every figure on evaluation users.
  const shippedTwin = OPEN_SET_TWIN_RADII['faceapi-resnet/embedding'];
  const calOpen = maskOpenSet(
    plain,
    masked,
    maskUsers(plain, calibration, options.users, 29),
    calibration,
    translation,
    shippedTwin,
  );
  const sortedTwin = [...calOpen.knownTwinDistance].sort((a, b) => a - b);
  const fittedTwin =
    sortedTwin[Math.min(sortedTwin.length - 1, Math.floor((1 - TWIN_KNOWN_REJECTED) * sortedTwin.length))];
  const ev = maskOpenSet(plain, masked, users, evaluation, translation, shippedTwin);
  const openCtx = `${users.length} evaluation users (named unmasked, met masked), ${ev.knownFar.plainRule.length} masked known faces, ${ev.maskedStrangersCaught.plainRule.length} strangers of the same half (each masked and plain); radius ${OPEN_SET_RADII['faceapi-resnet/embedding']}, twin radius ${shippedTwin}; generic rule off`;
  const openRow = (name: string, value: number, note: string) =>
    rows.push({
      suite: 'adapt',
      name: `masks open set: ${name}`,
      value,
      unit: 'share',
      note: `${note}; ${openCtx}`,
    });
  for (const [what, result] of [
    ['masked known faces', ev.knownFar],
    ['masked strangers', ev.maskedStrangersCaught],
    ['plain strangers', ev.plainStrangersCaught],
  ] as const) {
    openRow(`${what} called unknown, without twins`, share(result.plainRule), 'the plain radius only');
    openRow(`${what} called unknown, with twins`, share(result.twinRule), 'twin means at the twin radius');
  }
  rows.push({
    suite: 'adapt',
    name: 'masks open set: twin radius fitted on calibration users',
    value: fittedTwin,
    unit: 'distance',
    note: `${(TWIN_KNOWN_REJECTED * 100).toFixed(0)}% of ${sortedTwin.length} masked known faces of ${options.users} calibration users beyond it; ships ${shippedTwin} (OPEN_SET_TWIN_RADII)`,
  });
  options.log(
    `masks open set: twin radius fitted ${fittedTwin.toFixed(3)} (ships ${shippedTwin}); masked known called unknown ${(share(ev.knownFar.plainRule) * 100).toFixed(1)}% -> ${(share(ev.knownFar.twinRule) * 100).toFixed(1)}% with twins; masked strangers caught ${(share(ev.maskedStrangersCaught.plainRule) * 100).toFixed(1)}% -> ${(share(ev.maskedStrangersCaught.twinRule) * 100).toFixed(1)}%; plain strangers ${(share(ev.plainStrangersCaught.plainRule) * 100).toFixed(1)}% -> ${(share(ev.plainStrangersCaught.twinRule) * 100).toFixed(1)}%`,
  );
  rows.push({
    suite: 'adapt',
    name: 'masks: mask translation fit time',
    value: translationSeconds,
    unit: 's',
    note: `${calIdx.length} photo pairs x ${dim}, ridge chosen by 5-fold CV over people`,
  });
  rows.push({
    suite: 'adapt',
    name: 'masks: cloud metric fit time',
    value: fitSeconds,
    unit: 's',
    note: `${calIdx.length} x ${dim} features, one Jacobi eigendecomposition`,
  });
  return rows;
}
