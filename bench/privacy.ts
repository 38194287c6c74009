/**
 * Privacy suite (`npm run bench -- --only privacy`): what a curious server learns from the features
 * a FedEx device uploads, per split point of faceapi-resnet and per device-side defence, on real
 * LFW faces (src/privacy/experiment.ts says what each column means).
 *
 * Data: LFW people with at least 5 photos, 5 each (a seeded choice); every photo through the face
 * pipeline (SSD, landmarks, alignment) to its 150×150 chip, and through face-api's age-gender net
 * for the attribute labels. Chips and labels are cached in `.cache/privacy/` (a second run skips
 * the face pipeline). Victims and the attacker's public people are disjoint (asserted).
 *
 * Writes, besides the bench rows: `src/privacy/measured.generated.ts` (what the device's privacy
 * statement quotes; full runs only) and `docs/privacy/reconstructions.png` (a few victims, LFW
 * public figures: their real chip and the attacker's reconstruction at each split).
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { RawImage } from '../src/core/types.js';
import { listPhotos, scanDatasetDir } from '../src/data/dataset-dir.js';
import { loadFaceNet } from '../src/face/models.js';
import { createFacePipeline } from '../src/face/pipeline.js';
import { loadBackbone } from '../src/model/backbones/registry.js';
import { fileModelLoader } from '../src/platform/node/model-files.js';
import { nodeFaceApi, nodeFacePlatform } from '../src/platform/node/face.js';
import { readImageFile } from '../src/platform/node/image.js';
import { runPrivacyExperiment, type PrivacyPhoto, type PrivacyResult } from '../src/privacy/experiment.js';
import { backboneNetwork } from '../src/privacy/network.js';
import type { PrivacyMeasurements } from '../src/privacy/types.js';
import { initRuntime } from '../src/runtime/node.js';
import { datasetDir } from '../src/testing/datasets.js';
import type { BenchRow, BenchSuite } from './types.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SPLITS = ['stage32', 'stage64', 'stage128', 'stage256', 'embedding'];
const NOISES = [
  'none',
  'float16',
  'int8',
  'gauss:0.25',
  'gauss:0.5',
  'gauss:1',
  'gauss:2',
  'gauss:1,clip=auto',
];
const SEED = 21;

interface AgeGenderNet {
  isLoaded: boolean;
  loadFromWeightMap(m: tf.NamedTensorMap): void;
  predictAgeAndGender(input: tf.Tensor3D[]): Promise<{ age: number; gender: string }[]>;
  dispose(): void;
}

const CHIP_BYTES = 150 * 150 * 3;

/** Chips and labels of the chosen photos, from the cache or the face pipeline. */
async function loadPhotos(dir: string, people: number, log: (l: string) => void): Promise<PrivacyPhoto[]> {
  const scanned = await scanDatasetDir(dir, { minPhotos: 5, maxPerPerson: 5, maxPeople: people, seed: SEED });
  const photos = listPhotos(scanned);
  const key = createHash('sha256')
    .update(JSON.stringify(photos.map((p) => p.id)))
    .digest('hex')
    .slice(0, 12);
  const cacheDir = path.join(ROOT, '.cache', 'privacy');
  const index = path.join(cacheDir, `chips-${key}.json`);
  const bin = path.join(cacheDir, `chips-${key}.bin`);
  if (existsSync(index) && existsSync(bin)) {
    const meta = JSON.parse(readFileSync(index, 'utf8')) as { person: string; male: number; age: number }[];
    const bytes = readFileSync(bin);
    if (bytes.length === meta.length * CHIP_BYTES) {
      log(`privacy: ${meta.length} chips from ${path.relative(ROOT, bin)}`);
      return meta.map((m, i) => ({
        ...m,
        chip: {
          width: 150,
          height: 150,
          channels: 3,
          data: new Uint8Array(bytes.subarray(i * CHIP_BYTES, (i + 1) * CHIP_BYTES)),
        },
      }));
    }
  }
  const pipeline = await createFacePipeline(nodeFacePlatform());
  const ctor = (nodeFaceApi() as unknown as { AgeGenderNet: new () => AgeGenderNet }).AgeGenderNet;
  const ageGender = new ctor();
  await loadFaceNet(ageGender, fileModelLoader(), 'age_gender_model');
  const out: PrivacyPhoto[] = [];
  const t0 = performance.now();
  try {
    for (const [i, p] of photos.entries()) {
      const { faces, main } = await pipeline.analyze(await readImageFile(p.path), {
        faces: 'main',
        descriptors: false,
      });
      if (main >= 0) {
        const chip: RawImage = faces[main].aligned.chip;
        const t = tf.tensor3d(chip.data, [150, 150, 3], 'int32');
        const [pred] = await ageGender.predictAgeAndGender([t]);
        t.dispose();
        out.push({
          person: scanned.people[p.label].name,
          chip,
          male: pred.gender === 'male' ? 1 : 0,
          age: pred.age,
        });
      }
      if ((i + 1) % 100 === 0 || i + 1 === photos.length)
        log(
          `privacy: face pipeline ${i + 1}/${photos.length} (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
        );
    }
  } finally {
    pipeline.dispose();
    ageGender.dispose();
  }
  mkdirSync(cacheDir, { recursive: true });
  writeFileSync(bin, Buffer.concat(out.map((p) => Buffer.from(p.chip.data))));
  writeFileSync(index, JSON.stringify(out.map(({ person, male, age }) => ({ person, male, age }))));
  return out;
}

/**
 * A grid: one row per kept victim, the real chip, then the reconstruction at each split for each
 * noise, with a header naming the columns.
 */
async function writePicture(result: PrivacyResult, noises: string[], file: string): Promise<void> {
  const side = result.imageSide;
  const scale = 2;
  const tile = side * scale;
  const gap = 4;
  const header = 34;
  const cols = 1 + SPLITS.length * noises.length;
  const rows = result.originals.length;
  const w = cols * tile + (cols - 1) * gap;
  const h = header + rows * tile + (rows - 1) * gap;
  const canvas = new Uint8Array(w * h * 3).fill(255);
  const put = (img: Float32Array, r: number, c: number) => {
    for (let y = 0; y < tile; y++)
      for (let x = 0; x < tile; x++)
        for (let k = 0; k < 3; k++) {
          const v = img[(Math.floor(y / scale) * side + Math.floor(x / scale)) * 3 + k];
          canvas[((header + r * (tile + gap) + y) * w + c * (tile + gap) + x) * 3 + k] = Math.round(255 * v);
        }
  };
  const labels: string[] = [];
  const x0 = (c: number) => c * (tile + gap) + tile / 2;
  labels.push(`<text x="${x0(0)}" y="26">real</text>`);
  result.originals.forEach((img, r) => put(img, r, 0));
  let c = 1;
  for (const noise of noises)
    for (const s of SPLITS) {
      labels.push(`<text x="${x0(c)}" y="12">${s}</text><text x="${x0(c)}" y="27">${noise}</text>`);
      result.originals.forEach((_, r) => {
        const rec = result.reconstructions.get(`${s}/${noise}`)?.[r];
        if (rec) put(rec, r, c);
      });
      c++;
    }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${header}"><g font-family="sans-serif" font-size="11" text-anchor="middle" fill="#222">${labels.join('')}</g></svg>`;
  mkdirSync(path.dirname(file), { recursive: true });
  await sharp(Buffer.from(canvas), { raw: { width: w, height: h, channels: 3 } })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    .png()
    .toFile(file);
}

function writeGenerated(result: PrivacyResult): void {
  const measured: PrivacyMeasurements = {
    command: 'npm run bench -- --only privacy',
    measuredAt: new Date().toISOString().slice(0, 10),
    victims: result.victims.length,
    ssimMeanFace: result.ssimMeanFace,
    rows: result.rows,
  };
  const file = path.join(ROOT, 'src', 'privacy', 'measured.generated.ts');
  const body = JSON.stringify(
    measured,
    (_, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v),
    2,
  );
  writeFileSync(
    file,
    `/**
 * GENERATED by \`npm run bench -- --only privacy\` (bench/privacy.ts): what a curious server could
 * infer from uploaded features, measured per split point and feature noise on LFW victims. Read by
 * the device's plain-words privacy statement (src/privacy/statement.ts). Do not edit by hand.
 */
import type { PrivacyMeasurements } from './types.js';

export const PRIVACY_MEASURED: PrivacyMeasurements = ${body};
`,
  );
}

export const privacySuite: BenchSuite = {
  name: 'privacy',
  summary:
    'what uploaded features give away per split and noise (inversion, re-identification, attributes, membership) and the accuracy price',
  async run({ quick, log }) {
    const dir = datasetDir('lfw_deepfunneled_min5');
    if (!dir) {
      log('SKIPPED: lfw_deepfunneled_min5 not found (set FEDEX_DATA_DIR)');
      return [];
    }
    await initRuntime();
    const victims = quick ? 20 : 50;
    const attacker = quick ? 40 : 100;
    // The same people for --quick and full runs, so they share the chip cache.
    const photos = await loadPhotos(dir, 165, log);
    const backbone = await loadBackbone('faceapi-resnet');
    const network = backboneNetwork(backbone);
    const noises = quick ? ['none', 'int8', 'gauss:1'] : NOISES;
    const t0 = performance.now();
    let result: PrivacyResult;
    try {
      result = await runPrivacyExperiment(photos, network, {
        splits: SPLITS,
        noises,
        victims,
        attacker,
        photosPerVictim: 5,
        uploads: 3,
        attackerPhotos: 5,
        peoplePerUser: 5,
        seed: SEED,
        keep: 4,
        log,
      });
    } finally {
      network.dispose();
      backbone.dispose();
    }
    const seconds = (performance.now() - t0) / 1000;
    log(
      `privacy: experiment took ${seconds.toFixed(0)} s; the average face alone scores SSIM ${result.ssimMeanFace}`,
    );
    for (const [key, d] of result.decoders)
      log(
        `privacy: decoder ${key}: ${d.kernel} kernel, λ ${d.lambda}, ${(d.size / 1e6).toFixed(1)}M numbers, fitted in ${d.seconds} s`,
      );
    // A --quick run is a smoke test: its picture and rows stay out of the docs and the device.
    const picture = quick
      ? path.join(ROOT, 'out', 'bench', 'privacy-reconstructions-quick.png')
      : path.join(ROOT, 'docs', 'privacy', 'reconstructions.png');
    await writePicture(result, quick ? ['none'] : ['none', 'gauss:1'], picture);
    log(`privacy: wrote ${path.relative(ROOT, picture)} (victims ${result.victims.slice(0, 4).join(', ')})`);
    if (!quick) {
      writeGenerated(result);
      log('privacy: wrote src/privacy/measured.generated.ts');
    }
    const out: BenchRow[] = [];
    for (const r of result.rows) {
      const at = `${r.split} ${r.noise}`;
      const note = `${result.victims.length} victims, chance ${r.chance}`;
      const ci = (k: keyof NonNullable<typeof r.ci>) => {
        const c = r.ci?.[k];
        return c ? `95% CI [${c[0]}, ${c[1]}]` : '';
      };
      out.push(
        {
          suite: 'privacy',
          name: `${at}: accuracy (personalized)`,
          value: r.accuracy,
          unit: 'top-1',
          note: `${note}; ${ci('accuracy')}`,
        },
        {
          suite: 'privacy',
          name: `${at}: re-id from features (upper layers)`,
          value: r.reidTemplate,
          unit: 'top-1',
          note: `${note}; ${ci('reidTemplate')}; per named person ${r.reidTemplatePerPerson} ${ci('reidTemplatePerPerson')}`,
        },
        {
          suite: 'privacy',
          name: `${at}: re-id from inverted image`,
          value: r.reidInversion,
          unit: 'top-1',
          note: `${note}; ${ci('reidInversion')}; per named person ${r.reidInversionPerPerson} ${ci('reidInversionPerPerson')}`,
        },
        {
          suite: 'privacy',
          name: `${at}: inversion SSIM`,
          value: r.ssim,
          unit: 'SSIM',
          note: `PSNR ${r.psnr} dB`,
        },
        {
          suite: 'privacy',
          name: `${at}: gender from features`,
          value: r.genderAccuracy,
          unit: 'accuracy',
          note: `blind ${r.genderBaseline}; age MAE ${r.ageMae} y (blind ${r.ageBaselineMae})`,
        },
        {
          suite: 'privacy',
          name: `${at}: membership AUC, exact-match lookup`,
          value: r.membershipAuc,
          unit: 'AUC',
          note: r.epsilon === null ? 'no formal ε' : `ε ${r.epsilon} (δ 1e-5)`,
        },
        {
          suite: 'privacy',
          name: `${at}: membership AUC, from the user's model`,
          value: r.membershipModelAuc,
          unit: 'AUC',
        },
      );
    }
    return out;
  },
};
