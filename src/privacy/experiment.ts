/**
 * The privacy experiment: what a curious server learns from features uploaded at each split point,
 * with and without the device-side defences, and what each defence costs in accuracy.
 *
 * Setting (all seeded): people are split into the attacker's public faces and the victims, who
 * share no one (asserted). Each victim has `photosPerVictim` photos; the first `uploads` are
 * uploaded (at the split, under the noise), the others stay on the phone. Victims are grouped into
 * users of `peoplePerUser` people, the app's setting.
 *
 * The server holds the public network and the victims' uploads. Per split × noise it measures:
 * - **template re-identification**: it runs the network's upper layers on an upload (it has them:
 *   it trains the top) and matches the descriptor against a gallery of the victims' real photos
 *   (the centroid of each victim's photos that were never uploaded);
 * - **inversion**: a decoder the attacker fits on its own public faces (features → 50×50 chip,
 *   kernel ridge, see ./kernel-ridge.ts), trained on features passed through the same noise (the
 *   mechanism is public); SSIM / PSNR against the real chip, and re-identification of the decoded
 *   image (upsampled to 150×150, run through the descriptor network; detection is skipped because
 *   the reconstruction is already aligned, which favours the attacker);
 * - **attributes**: gender and age regressed from features on the attacker's faces, labels from
 *   face-api's age-gender net on the real chips (the caller supplies them);
 * - **membership**: for each user, whether a candidate photo (of the user's own people) was among
 *   the uploads: the attacker computes the candidate's clean features and takes its distance to
 *   the nearest upload; ROC AUC, mean over users;
 * - **accuracy** (the price): the user's people's centroids from their uploads (upper layers run on
 *   the noisy features), the device predicting its other photos from their clean descriptors.
 *
 * Platform-neutral; the network comes in as a `PrivacyNetwork` (a backbone in production, a small
 * one in tests).
 */
import * as tf from '@tensorflow/tfjs';
import { decodeFeatureBatch, encodeFeatureBatch } from '../core/codec/feature-batch.js';
import { FedexError } from '../core/errors.js';
import {
  applyFeatureNoise,
  featureNoiseEpsilon,
  gaussianSource,
  parseFeatureNoise,
} from '../core/feature-noise.js';
import { createRng, deriveSeed, shuffled } from '../core/random.js';
import type { FeatureSpec, RawImage } from '../core/types.js';
import { downsampleRgb, psnr, ssim, toGray } from './image-metrics.js';
import { fitKernelRidge, type RidgeModel, type RidgeOptions } from './kernel-ridge.js';
import { splitPeople } from './people-split.js';
import type { PrivacyRow } from './types.js';

/** One photo: its person, its aligned chip and (optionally) its attribute labels. */
export interface PrivacyPhoto {
  person: string;
  /** Aligned 150×150 RGB chip. */
  chip: RawImage;
  /** 1 male, 0 female (face-api's age-gender net on the real chip). */
  male?: number;
  age?: number;
}

/** The public network the server holds. */
export interface PrivacyNetwork {
  readonly splits: readonly string[];
  spec(split: string): FeatureSpec;
  /** The device's bottom: chips → features at `split`. */
  features(split: string, chips: readonly RawImage[]): Float32Array[];
  /** The upper layers: features at `split` → descriptors (identity at the last split). */
  toDescriptor(split: string, features: readonly Float32Array[]): Float32Array[];
  /** The full network on chips: descriptors. */
  descriptor(chips: readonly RawImage[]): Float32Array[];
}

export interface PrivacyOptions {
  splits: readonly string[];
  /**
   * `none`, `float16`, `int8` (wire precisions) or a feature-noise spec (`gauss:R[,clip=C]`);
   * `clip=auto` clips at the median norm of the attacker's public features at each split (the row
   * names the number).
   */
  noises: readonly string[];
  victims: number;
  attacker: number;
  photosPerVictim?: number;
  /** Of a victim's photos, how many are uploaded. Default 3. */
  uploads?: number;
  /** Attacker photos per person, at most. Default 4. */
  attackerPhotos?: number;
  peoplePerUser?: number;
  /** Decoder output: the chip shrunk by this factor (150 / 3 = 50). */
  imageFactor?: number;
  seed?: number;
  /**
   * Fits the attacker's models (decoder, attributes). Default {@link fitKernelRidge}; a test
   * passes a spy to check what the attacker trains on.
   */
  fit?: (x: readonly Float32Array[], y: readonly Float32Array[], options: RidgeOptions) => RidgeModel;
  /** Victims (by index among victims) whose reconstructions are kept for pictures. */
  keep?: number;
  log?: (line: string) => void;
}

export interface PrivacyResult {
  rows: PrivacyRow[];
  victims: string[];
  attacker: string[];
  /** Reconstruction size (side in pixels) and, per `split/noise`, the kept victims' images (RGB 0..1). */
  imageSide: number;
  originals: Float32Array[];
  reconstructions: Map<string, Float32Array[]>;
  /** SSIM of the attacker's average face against the uploads' chips (the no-information floor). */
  ssimMeanFace: number;
  /** Decoder settings chosen per `split/noise`. */
  decoders: Map<string, { kernel: string; lambda: number; size: number; seconds: number }>;
}

const WIRE = new Set(['float16', 'int8', 'float32']);

/** Applies one noise setting to features (seeded: the same seed, the same noise). */
export function noised(
  features: readonly Float32Array[],
  noise: string,
  spec: FeatureSpec,
  seed: number,
): Float32Array[] {
  if (features.length === 0 || noise === 'none') return features.map((f) => Float32Array.from(f));
  if (WIRE.has(noise)) {
    const dim = features[0].length;
    const flat = new Float32Array(features.length * dim);
    features.forEach((f, i) => flat.set(f, i * dim));
    const decoded = decodeFeatureBatch(
      encodeFeatureBatch(
        {
          spec,
          sampleIds: features.map((_, i) => `s${i}`),
          labels: new Int32Array(features.length).fill(-1),
          features: flat,
        },
        { dtype: noise as 'float16' | 'int8' },
      ),
    ).features;
    return features.map((_, i) => decoded.slice(i * dim, (i + 1) * dim));
  }
  const parsed = parseFeatureNoise(noise);
  const normal = gaussianSource(createRng(seed));
  return features.map((f) => applyFeatureNoise(f, parsed, normal));
}

function dist2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s;
}

function centroid(rows: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(rows[0].length);
  for (const r of rows) for (let i = 0; i < out.length; i++) out[i] += r[i] / rows.length;
  return out;
}

/** Index of the nearest of `centroids`. */
function nearest(x: Float32Array, centroids: readonly Float32Array[]): number {
  let best = 0;
  let bestD = Number.POSITIVE_INFINITY;
  centroids.forEach((c, i) => {
    const d = dist2(x, c);
    if (d < bestD) {
      bestD = d;
      best = i;
    }
  });
  return best;
}

/** A figure as hits and trials per victim; its value is Σhits / Σtrials. */
export interface PerVictim {
  hits: Float64Array;
  n: Float64Array;
}

function rateOf(p: PerVictim): number {
  let h = 0;
  let n = 0;
  for (let v = 0; v < p.n.length; v++) {
    h += p.hits[v];
    n += p.n[v];
  }
  return n > 0 ? h / n : Number.NaN;
}

/**
 * 95% percentile bootstrap interval of a per-victim figure, resampling victims (the unit the
 * photos cluster in) with replacement; seeded, so the same seed gives the same interval. Victims
 * with no trials are left out.
 */
export function bootstrapCi(p: PerVictim, seed: number, resamples = 1000): [number, number] {
  const units = Array.from(p.n.keys()).filter((v) => p.n[v] > 0);
  if (units.length === 0) return [Number.NaN, Number.NaN];
  const rng = createRng(seed);
  const rates: number[] = [];
  for (let b = 0; b < resamples; b++) {
    let h = 0;
    let n = 0;
    for (let k = 0; k < units.length; k++) {
      const v = units[Math.floor(rng() * units.length)];
      h += p.hits[v];
      n += p.n[v];
    }
    rates.push(h / n);
  }
  rates.sort((a, b) => a - b);
  const at = (q: number) => rates[Math.min(rates.length - 1, Math.floor(q * rates.length))];
  return [round(at(0.025)), round(at(0.975))];
}

/** ROC AUC of scores (higher = positive), ties counted half (Mann-Whitney). */
export function aucOf(positives: readonly number[], negatives: readonly number[]): number {
  if (positives.length === 0 || negatives.length === 0) return Number.NaN;
  let wins = 0;
  for (const p of positives) for (const n of negatives) wins += p > n ? 1 : p === n ? 0.5 : 0;
  return wins / (positives.length * negatives.length);
}

/** 50×50 RGB 0..1 images → 150×150 chips (bilinear), as the descriptor network takes them. */
function upsample(images: readonly Float32Array[], side: number): RawImage[] {
  if (images.length === 0) return [];
  const data = tf.tidy(() => {
    const flat = new Float32Array(images.length * side * side * 3);
    images.forEach((im, i) => flat.set(im, i * side * side * 3));
    const x = tf.tensor4d(flat, [images.length, side, side, 3]);
    return tf.image
      .resizeBilinear(x, [150, 150])
      .clipByValue(0, 1)
      .mul(255)
      .round()
      .dataSync() as Float32Array;
  });
  const px = 150 * 150 * 3;
  return images.map((_, i) => ({
    width: 150,
    height: 150,
    channels: 3,
    data: Uint8Array.from(data.subarray(i * px, (i + 1) * px)),
  }));
}

const round = (x: number, digits = 4) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Runs the experiment; rows in split order, then noise order. */
export async function runPrivacyExperiment(
  photos: readonly PrivacyPhoto[],
  network: PrivacyNetwork,
  options: PrivacyOptions,
): Promise<PrivacyResult> {
  const seed = options.seed ?? 0;
  const perVictim = options.photosPerVictim ?? 5;
  const uploads = options.uploads ?? 3;
  const perAttacker = options.attackerPhotos ?? 4;
  const peoplePerUser = options.peoplePerUser ?? 5;
  const factor = options.imageFactor ?? 3;
  const log = options.log ?? (() => {});
  const fit = options.fit ?? fitKernelRidge;
  if (uploads < 1 || uploads >= perVictim) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `privacy: ${uploads} uploads of ${perVictim} photos leaves none on the phone`,
    );
  }

  // People: victims need `perVictim` photos, the attacker at least 2 (a held-out group needs one).
  const byPerson = new Map<string, PrivacyPhoto[]>();
  for (const p of photos) byPerson.set(p.person, [...(byPerson.get(p.person) ?? []), p]);
  const eligible = [...byPerson.keys()].sort().filter((n) => byPerson.get(n)!.length >= perVictim);
  const split = splitPeople(
    eligible,
    (n) => n,
    { victims: options.victims, attacker: options.attacker },
    seed,
  );
  const pick = (name: string, n: number) =>
    shuffled(createRng(deriveSeed(seed, name)), byPerson.get(name)!).slice(0, n);
  const victimPhotos = split.victims.map((n) => pick(n, perVictim));
  const attackerPhotos = split.attacker.flatMap((n) => pick(n, perAttacker));
  const attackerGroups = attackerPhotos.map((p) => split.attacker.indexOf(p.person));
  const up = victimPhotos.flatMap((ps) => ps.slice(0, uploads));
  const kept = victimPhotos.flatMap((ps) => ps.slice(uploads));
  const upOwner = victimPhotos.flatMap((_, v) => Array.from({ length: uploads }, () => v));
  const keptOwner = victimPhotos.flatMap((_, v) => Array.from({ length: perVictim - uploads }, () => v));
  // Users: victims in groups of `peoplePerUser` (seeded), the last partial group dropped.
  const order = shuffled(
    createRng(deriveSeed(seed, 'users')),
    victimPhotos.map((_, v) => v),
  );
  const users = Array.from({ length: Math.floor(order.length / peoplePerUser) }, (_, u) =>
    order.slice(u * peoplePerUser, (u + 1) * peoplePerUser),
  );
  if (users.length === 0)
    throw new FedexError('BAD_ARGUMENT', `privacy: fewer than ${peoplePerUser} victims`);
  log(
    `privacy: ${split.victims.length} victims (${up.length} uploads, ${kept.length} kept on the phone, ${users.length} users), attacker ${split.attacker.length} people / ${attackerPhotos.length} photos`,
  );

  const side = 150 / factor;
  const image = (p: PrivacyPhoto) => downsampleRgb(p.chip.data, 150, factor).map((v) => v / 255);
  const attackerImages = attackerPhotos.map(image);
  const upImages = up.map(image);
  const meanFace = toGray(centroid(attackerImages));
  const ssimMeanFace =
    upImages.reduce((sum, im) => sum + ssim(meanFace, toGray(im), side, side), 0) / upImages.length;
  const keep = Math.min(options.keep ?? 4, victimPhotos.length);
  const keptIdx = Array.from({ length: keep }, (_, v) => v * uploads); // each kept victim's first upload
  // The gallery: per victim, the centroid of the descriptors of the photos that never left the phone.
  const keptDesc = network.descriptor(kept.map((p) => p.chip));
  const gallery = victimPhotos.map((_, v) => centroid(keptDesc.filter((_, i) => keptOwner[i] === v)));
  // The uploads' clean descriptors: what the attacker computes from a candidate photo it holds.
  const upCleanDesc = network.descriptor(up.map((p) => p.chip));
  /** Share of victims named right from the centroid of their uploads' descriptors. */
  const reidPerPerson = (desc: readonly Float32Array[]): PerVictim => {
    const hits = new Float64Array(victimPhotos.length);
    victimPhotos.forEach((_, v) => {
      const mine = desc.filter((_, i) => upOwner[i] === v);
      if (nearest(centroid(mine), gallery) === v) hits[v] = 1;
    });
    return { hits, n: new Float64Array(victimPhotos.length).fill(1) };
  };
  const reid = (desc: readonly Float32Array[]): PerVictim => {
    const hits = new Float64Array(victimPhotos.length);
    const n = new Float64Array(victimPhotos.length);
    desc.forEach((d, i) => {
      n[upOwner[i]]++;
      if (nearest(d, gallery) === upOwner[i]) hits[upOwner[i]]++;
    });
    return { hits, n };
  };

  // Attributes (when labelled): gender as ±1 and age, one regression.
  const labelled =
    attackerPhotos.every((p) => p.male !== undefined && p.age !== undefined) &&
    up.every((p) => p.male !== undefined && p.age !== undefined);
  const attackerMale = attackerPhotos.map((p) => p.male ?? 0);
  const majorityMale = attackerMale.reduce((s, m) => s + m, 0) >= attackerMale.length / 2 ? 1 : 0;
  const meanAge = attackerPhotos.reduce((s, p) => s + (p.age ?? 0), 0) / attackerPhotos.length;
  const genderBaseline = up.filter((p) => p.male === majorityMale).length / up.length;
  const ageBaselineMae = up.reduce((s, p) => s + Math.abs((p.age ?? 0) - meanAge), 0) / up.length;

  const rows: PrivacyRow[] = [];
  const reconstructions = new Map<string, Float32Array[]>();
  const decoders = new Map<string, { kernel: string; lambda: number; size: number; seconds: number }>();
  for (const s of options.splits) {
    const spec = network.spec(s);
    const cleanA = network.features(
      s,
      attackerPhotos.map((p) => p.chip),
    );
    const cleanUp = network.features(
      s,
      up.map((p) => p.chip),
    );
    const cleanKept = network.features(
      s,
      kept.map((p) => p.chip),
    );
    // `clip=auto`: the median norm of the attacker's (public) clean features at this split.
    const norms = cleanA.map((f) => Math.sqrt(f.reduce((sum, v) => sum + v * v, 0))).sort((x, y) => x - y);
    const autoClip = Number((norms[Math.floor(norms.length / 2)] || 1).toPrecision(3));
    for (const asked of options.noises) {
      const noise = asked.replace('clip=auto', `clip=${autoClip}`);
      const t0 = performance.now();
      const key = `${s}/${noise}`;
      const nA = noised(cleanA, noise, spec, deriveSeed(seed, `${key}/attacker`));
      const nUp = noised(cleanUp, noise, spec, deriveSeed(seed, `${key}/victims`));

      // Inversion.
      const tFit = performance.now();
      const decoder = fit(nA, attackerImages, { groups: attackerGroups, seed });
      let recon: Float32Array[];
      try {
        const decoderSeconds = (performance.now() - tFit) / 1000;
        recon = decoder.predict(nUp).map((im) => im.map((v) => Math.min(1, Math.max(0, v))));
        decoders.set(key, {
          kernel: decoder.kernel,
          lambda: decoder.lambda,
          size: decoder.size,
          seconds: round(decoderSeconds, 2),
        });
      } finally {
        decoder.dispose();
      }
      let ssimSum = 0;
      let psnrSum = 0;
      recon.forEach((r, i) => {
        const a = toGray(r);
        const b = toGray(upImages[i]);
        ssimSum += ssim(a, b, side, side);
        psnrSum += psnr(a, b);
      });
      reconstructions.set(
        key,
        keptIdx.map((i) => recon[i]),
      );
      const reconDesc = network.descriptor(upsample(recon, side));
      const reidInversion = reid(reconDesc);

      // The template: the upper layers on the uploads.
      const upDesc = network.toDescriptor(s, nUp);
      const reidTemplate = reid(upDesc);
      // The server knows which uploads carry one name: it averages them, as the user's model does.
      const reidTemplatePerPerson = reidPerPerson(upDesc);
      const reidInversionPerPerson = reidPerPerson(reconDesc);

      // Attributes.
      let genderAccuracy = Number.NaN;
      let ageMae = Number.NaN;
      if (labelled) {
        // One model per attribute: each gets the kernel and λ that suit it.
        const fitPredict = (target: (p: PrivacyPhoto) => number) => {
          const model = fit(
            nA,
            attackerPhotos.map((p) => Float32Array.of(target(p))),
            { groups: attackerGroups, seed },
          );
          try {
            return model.predict(nUp).map((q) => q[0]);
          } finally {
            model.dispose();
          }
        };
        const gender = fitPredict((p) => 2 * (p.male ?? 0) - 1);
        const age = fitPredict((p) => p.age ?? 0);
        genderAccuracy = gender.filter((q, i) => (q > 0 ? 1 : 0) === up[i].male).length / up.length;
        ageMae = age.reduce((sum, q, i) => sum + Math.abs(q - (up[i].age ?? 0)), 0) / up.length;
      }

      // Membership and accuracy, per user. The lookup: the candidate's features (clipped as the
      // public mechanism clips) against the nearest upload. The model: the candidate's descriptor
      // against its person's centroid in the user's model (a photo the model was built from sits
      // closer to it).
      const parsed = noise === 'none' || WIRE.has(noise) ? undefined : parseFeatureNoise(noise);
      const clip = parsed?.kind === 'gaussian' ? parsed.clip : undefined;
      const clipped = (f: Float32Array) => {
        if (clip === undefined) return f;
        const norm = Math.sqrt(f.reduce((sum, v) => sum + v * v, 0));
        return norm > clip ? f.map((v) => (v * clip) / norm) : f;
      };
      let aucSum = 0;
      let modelAucSum = 0;
      const accHits = new Float64Array(victimPhotos.length);
      const accN = new Float64Array(victimPhotos.length);
      for (const people of users) {
        const mine = (owners: number[]) => owners.flatMap((o, i) => (people.includes(o) ? [i] : []));
        const upI = mine(upOwner);
        const keptI = mine(keptOwner);
        const score = (f: Float32Array) => -Math.min(...upI.map((i) => dist2(clipped(f), nUp[i])));
        aucSum += aucOf(
          upI.map((i) => score(cleanUp[i])),
          keptI.map((i) => score(cleanKept[i])),
        );
        const centroids = people.map((v) =>
          centroid(upI.filter((i) => upOwner[i] === v).map((i) => upDesc[i])),
        );
        for (const i of keptI) {
          accN[keptOwner[i]]++;
          if (people[nearest(keptDesc[i], centroids)] === keptOwner[i]) accHits[keptOwner[i]]++;
        }
        const toOwn = (d: Float32Array, owner: number) => -dist2(d, centroids[people.indexOf(owner)]);
        modelAucSum += aucOf(
          upI.map((i) => toOwn(upCleanDesc[i], upOwner[i])),
          keptI.map((i) => toOwn(keptDesc[i], keptOwner[i])),
        );
      }

      const eps = parsed ? featureNoiseEpsilon(parsed, cleanUp[0].length) : Number.POSITIVE_INFINITY;
      const accuracy: PerVictim = { hits: accHits, n: accN };
      const ciSeed = deriveSeed(seed, `${key}/bootstrap`);
      const ci = {
        accuracy: bootstrapCi(accuracy, ciSeed),
        reidTemplate: bootstrapCi(reidTemplate, ciSeed),
        reidTemplatePerPerson: bootstrapCi(reidTemplatePerPerson, ciSeed),
        reidInversion: bootstrapCi(reidInversion, ciSeed),
        reidInversionPerPerson: bootstrapCi(reidInversionPerPerson, ciSeed),
      };
      const row: PrivacyRow = {
        split: s,
        noise,
        accuracy: round(rateOf(accuracy)),
        reidTemplate: round(rateOf(reidTemplate)),
        reidInversion: round(rateOf(reidInversion)),
        reidTemplatePerPerson: round(rateOf(reidTemplatePerPerson)),
        reidInversionPerPerson: round(rateOf(reidInversionPerPerson)),
        chance: round(1 / split.victims.length),
        ssim: round(ssimSum / recon.length),
        psnr: round(psnrSum / recon.length, 2),
        genderAccuracy: round(genderAccuracy),
        genderBaseline: round(genderBaseline),
        ageMae: round(ageMae, 2),
        ageBaselineMae: round(ageBaselineMae, 2),
        membershipAuc: round(aucSum / users.length),
        membershipModelAuc: round(modelAucSum / users.length),
        epsilon: Number.isFinite(eps) ? round(eps, 1) : null,
        ci,
      };
      rows.push(row);
      log(
        `privacy: ${key}: accuracy ${row.accuracy}, re-id template ${row.reidTemplate} (per person ${row.reidTemplatePerPerson}) / inversion ${row.reidInversion} (per person ${row.reidInversionPerPerson}) (chance ${row.chance}), SSIM ${row.ssim}, gender ${row.genderAccuracy} (blind ${row.genderBaseline}), membership AUC lookup ${row.membershipAuc} / model ${row.membershipModelAuc} [${((performance.now() - t0) / 1000).toFixed(1)} s]`,
      );
    }
  }
  return {
    rows,
    victims: split.victims,
    attacker: split.attacker,
    imageSide: side,
    ssimMeanFace: round(ssimMeanFace),
    originals: keptIdx.map((i) => upImages[i]),
    reconstructions,
    decoders,
  };
}
