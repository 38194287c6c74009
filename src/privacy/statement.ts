/**
 * The device's plain-words privacy statement: a few short sentences, for someone who is not an
 * expert, on what left the device and what a server holding the network could infer from it, read
 * from the privacy bench's measured row for the device's split point and feature noise
 * (`measured.generated.ts`). Numbers are rounded to whole percent. A setting the bench did not
 * measure is said to be unmeasured, with the command that measures it: never a guess.
 *
 * Pure and platform-neutral (the face app shows it in the browser): no I/O, no Node built-ins.
 */
import { formatFeatureNoise, parseFeatureNoise } from '../core/feature-noise.js';
import { PRIVACY_MEASURED } from './measured.generated.js';
import type { PrivacyMeasurements, PrivacyRow } from './types.js';

/** What each split of the face network sends, in words (values per face, where in the network). */
const SPLIT_WORDS: Record<string, { values: number; where: string }> = {
  stage32: { values: 35 * 35 * 32, where: 'an early layer of the face network' },
  stage64: { values: 17 * 17 * 64, where: 'an early-middle layer of the face network' },
  stage128: { values: 8 * 8 * 128, where: 'a middle layer of the face network' },
  stage256: { values: 4 * 4 * 256, where: 'a late layer of the face network' },
  embedding: { values: 128, where: "the face network's final face description" },
};

/** A noise or wire-precision key in one spelling (`gauss:0.50` → `gauss:0.5`), for matching rows. */
export function canonicalNoise(noise: string): string {
  const s = noise.trim();
  try {
    return formatFeatureNoise(parseFeatureNoise(s));
  } catch {
    return s; // a wire precision (`float16`, `int8`) or another label: compared as written
  }
}

/** The measured row for (split, noise), or undefined. */
export function findPrivacyRow(
  split: string,
  noise: string,
  measured: PrivacyMeasurements = PRIVACY_MEASURED,
): PrivacyRow | undefined {
  const key = canonicalNoise(noise);
  return measured.rows.find((r) => r.split === split && canonicalNoise(r.noise) === key);
}

const pct = (x: number): string => `${Math.round(x * 100)}%`;

/** A figure the bench measured (null or NaN when it could not). */
const measuredNumber = (x: number | null | undefined): x is number =>
  typeof x === 'number' && Number.isFinite(x);

/** ε in few digits: 0.84, 7.3, 412, 3.1e+5. */
function formatEpsilon(e: number): string {
  if (!Number.isFinite(e)) return '∞';
  if (e >= 1e5) return e.toExponential(1);
  if (e >= 100) return String(Math.round(e));
  return String(Number(e.toPrecision(2)));
}

/** What left the device, in words. */
function whatLeft(split: string, noise: string): string {
  const s = SPLIT_WORDS[split];
  const numbers = s
    ? `${s.values.toLocaleString('en-US')} numbers per face from ${s.where} (split ${split})`
    : `the numbers the face network computes at its ${split} layer`;
  let treated = '';
  const key = canonicalNoise(noise);
  if (key === 'float16') treated = ', rounded to 16-bit precision';
  else if (key === 'int8') treated = ', rounded to 8-bit precision';
  else if (key !== 'none') {
    let about = '';
    try {
      const n = parseFeatureNoise(key);
      if (n.kind === 'gaussian')
        about =
          n.clip === undefined
            ? ` of about ${pct(n.ratio)} of their own size`
            : ` (their size first capped at ${n.clip}) of about ${pct(n.ratio)} of that cap`;
    } catch {
      // a label this module does not know: named as it is
    }
    treated = `, with random noise${about} added on this device first (${key})`;
  }
  return `What left this device: ${numbers}${treated}. No photo, no face crop.`;
}

/**
 * A few short sentences on what a server holding the network could infer from the features sent
 * at `split` under `noise` (a feature-noise spec or a wire precision), from the measured row.
 *
 * @example
 * privacyStatement('embedding', 'none');
 * // [ 'What left this device: 128 numbers per face from …',
 * //   'Who is in the photo: a server holding the network named the right person 98% of the time …',
 * //   … ]
 */
export function privacyStatement(
  split: string,
  noise: string,
  measured: PrivacyMeasurements = PRIVACY_MEASURED,
): string[] {
  const out = [whatLeft(split, noise)];
  const row = findPrivacyRow(split, noise, measured);
  if (!row) {
    const here = measured.rows.filter((r) => r.split === split).map((r) => canonicalNoise(r.noise));
    out.push(
      `What a server could infer from them has not been measured for this setting (split ${split}, ` +
        `noise ${canonicalNoise(noise)}); \`${measured.command}\` measures it.`,
    );
    if (here.length > 0) out.push(`Measured at this split: noise ${[...new Set(here)].join(', ')}.`);
    return out;
  }
  const among = measured.victims > 0 ? ` among ${measured.victims} people` : '';
  out.push(
    `Who is in the photo: a server holding the network named the right person${among} ` +
      `${pct(row.reidTemplate)} of the time from one photo's numbers, and ` +
      `${pct(row.reidTemplatePerPerson)} once it put together the photos you gave one name ` +
      `(blind guessing: ${pct(row.chance)}).`,
  );
  out.push(
    `By first rebuilding face images from the numbers it named them right ${pct(row.reidInversion)} ` +
      `of the time from one photo, ${pct(row.reidInversionPerPerson)} per name.`,
  );
  out.push(
    `Rebuilding the photo: on average, the image it rebuilt ${resemblance(row.ssim, measured.ssimMeanFace)} ` +
      `(similarity ${row.ssim.toFixed(2)} on a 0-to-1 scale, where 1 is the photo itself` +
      (measured.ssimMeanFace !== undefined
        ? ` and an average face scores ${measured.ssimMeanFace.toFixed(2)}`
        : '') +
      `).`,
  );
  // A run without attribute labels writes null (JSON has no NaN): say nothing rather than "0%".
  if (measuredNumber(row.genderAccuracy) && measuredNumber(row.ageMae)) {
    out.push(
      `Gender: it guessed right ${pct(row.genderAccuracy)} of the time, against ${pct(row.genderBaseline)} ` +
        `by always guessing the more common one; age to within ${Math.round(row.ageMae)} years on average ` +
        `(${Math.round(row.ageBaselineMae)} by guessing the average age).`,
    );
  }
  out.push(
    `Whether you uploaded a given photo it also holds: shown one of your uploads and one photo you did ` +
      `not upload, it picked yours ${pct(row.membershipAuc)} of the time by matching their numbers, and ` +
      `${pct(row.membershipModelAuc)} from your model alone (50% is a coin toss).`,
  );
  const clean = findPrivacyRow(split, 'none', measured);
  const price = clean && clean !== row ? ` (${pct(clean.accuracy)} with no noise)` : '';
  out.push(
    `The price: your model names people right ${pct(row.accuracy)} of the time with these numbers${price}.`,
  );
  if (row.epsilon !== null) {
    const weak = row.epsilon > 10;
    out.push(
      `Formal guarantee: differential privacy with ε = ${formatEpsilon(row.epsilon)} per photo (δ = 1e-5)` +
        (weak ? '; an ε this large promises little by itself: the measurements above say more.' : '.'),
    );
  }
  return out;
}

/**
 * SSIM in words, as a verb phrase (structural similarity of grayscale chips; the thresholds are
 * rough reading aids). Near the average face's own score the picture shows no one in particular to
 * the eye, which does not stop a face network from recognising it (the re-identification figure).
 */
function resemblance(ssim: number, meanFace?: number): string {
  if (meanFace !== undefined && ssim < meanFace + 0.05)
    return 'looks no more like the face than an average face does, to the eye';
  if (ssim >= 0.6) return 'is a recognisable likeness of the face';
  if (ssim >= 0.35) return 'is a blurred likeness of the face';
  return 'is no recognisable picture of the face';
}
