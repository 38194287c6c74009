/**
 * Face pipeline benchmarks (Node, tfjs WASM):
 *
 * - `benchFace`: median milliseconds per photo / per face of each stage — detection (SSD and
 *   tiny), 68 landmarks, alignment, descriptor (one face per call and batched) — on face-api's
 *   demo group photos (1920 px JPEGs) and a seeded sample of LFW photos (250x250).
 * - `compareAlignment`: identity separation of each alignment method (face-api's box crop
 *   versus similarity transforms) on LFW people: nearest-centroid accuracy with a few labelled
 *   photos per person (averaged over seeded splits) and the pair AUC (how often a same-person
 *   pair is closer than a different-person pair). Optionally with each photo rolled by a random
 *   angle, the case the similarity transforms are for (LFW deep-funneled photos are upright).
 *
 *   npx tsx bench/face.ts                 # speed table
 *   npx tsx bench/face.ts --align         # alignment comparison (a few minutes)
 *   npx tsx bench/face.ts --align --roll 25
 *
 * Machines are shared and noisy: everything is a median of the same run; nothing here is a test.
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createRng, shuffled } from '../src/core/random.js';
import type { RawImage } from '../src/core/types.js';
import { ALIGNMENT_METHODS, type AlignedFace, type AlignmentMethod } from '../src/face/align.js';
import type { Affine, Point } from '../src/face/geometry.js';
import { chooseMainFace } from '../src/face/main-face.js';
import { createFacePipeline, type DetectorName, type FacePipeline } from '../src/face/pipeline.js';
import { scoreDescriptors, type SeparationScore } from '../src/face/separation.js';
import { warpAffine } from '../src/face/warp.js';
import { nodeFacePlatform } from '../src/platform/node/face.js';
import { readImageFile } from '../src/platform/node/image.js';
import { initRuntime } from '../src/runtime/node.js';
import { datasetDir, listPeople } from '../src/testing/datasets.js';
import { type BenchRow, type BenchSuite, median } from './types.js';

const require = createRequire(import.meta.url);

/** face-api's demo group photos (six 1920 px JPEGs shipped in the package). */
export function demoPhotos(): string[] {
  const dir = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo');
  return readdirSync(dir)
    .filter((f) => /^sample\d+\.jpg$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

/** A seeded sample of LFW photos (empty when the dataset is missing). */
function lfwSample(n: number, seed: number): string[] {
  const dir = datasetDir('lfw_deepfunneled_min5');
  if (!dir || n <= 0) return [];
  const all = listPeople(dir).flatMap((p) => p.files);
  return shuffled(createRng(seed), all).slice(0, n);
}

const DESCRIPTOR_BATCH_SIZES = [1, 4, 8, 16];

export interface BenchFaceOptions {
  /** LFW photos to add to the six demo photos. Default 20 (0 with `quick`: 6). */
  lfwPhotos?: number;
  seed?: number;
  quick?: boolean;
  log?: (line: string) => void;
}

/** Medians of one benchmark run; `*PerFace` figures divide a photo's stage time by its faces. */
export interface BenchFaceResult {
  photos: { demo: number; lfw: number };
  faces: number;
  /** Median ms per photo for one detector pass (with the pipeline's retries when nothing is found). */
  detectMsPerPhoto: Record<DetectorName, { demo: number; lfw: number }>;
  /** Median ms per face: all faces of a photo in one landmark call. */
  landmarksMsPerFace: number;
  /** Median ms per face of each alignment method. */
  alignMsPerFace: Record<AlignmentMethod, number>;
  /** Median ms per face: one face per landmark call. */
  landmarksMsPerFaceSingle: number;
  /** Median ms per face by faces per recognition call (1 = one face per call). */
  descriptorMsPerFace: Record<number, number>;
  /** Descriptor of one LFW face with 1, 2 and 6 views averaged (`descriptorViews`), alignment included. */
  viewsMsPerFace: Record<number, number>;
}

/** `o` without its undefined fields (so `{ ...DEFAULTS, ...defined(o) }` keeps the defaults). */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

async function timed<T>(fn: () => Promise<T> | T): Promise<[T, number]> {
  const t0 = performance.now();
  const out = await fn();
  return [out, performance.now() - t0];
}

/**
 * Times each stage of the face pipeline on real photos.
 *
 * @example
 * const r = await benchFace({ lfwPhotos: 10 }); // r.detectMsPerPhoto.ssd.demo, ...
 */
export async function benchFace(opts: BenchFaceOptions = {}): Promise<BenchFaceResult> {
  const log = opts.log ?? (() => {});
  await initRuntime();
  const demo = demoPhotos();
  const lfw = lfwSample(opts.lfwPhotos ?? (opts.quick ? 6 : 20), opts.seed ?? 7);
  const images = new Map<string, RawImage>();
  for (const f of [...demo, ...lfw]) images.set(f, await readImageFile(f));
  const pipeline = await createFacePipeline(nodeFacePlatform(), { detector: 'ssd' });
  try {
    // Warm up every network (the first WASM calls compile kernels and are several times slower).
    const warm = images.get(demo[0]) as RawImage;
    for (const detector of ['ssd', 'tiny'] as const) await pipeline.detect(warm, { detector });
    const wf = await pipeline.detect(warm);
    const wl = await pipeline.landmarks(warm, wf);
    await pipeline.describe(pipeline.align(warm, wl).map((a) => a.chip));

    const detectMs: Record<DetectorName, { demo: number[]; lfw: number[] }> = {
      ssd: { demo: [], lfw: [] },
      tiny: { demo: [], lfw: [] },
    };
    const landmarkMs: number[] = [];
    const alignMs: Record<AlignmentMethod, number[]> = { dlib5: [], eyes: [], 'faceapi-box': [] };
    const chips: RawImage[] = [];
    const viewInputs: Array<{ image: RawImage; landmarks: Point[][]; aligned: AlignedFace[] }> = [];
    for (const [file, image] of images) {
      const kind = demo.includes(file) ? 'demo' : 'lfw';
      const [, tinyMs] = await timed(() => pipeline.detect(image, { detector: 'tiny' }));
      detectMs.tiny[kind].push(tinyMs);
      const [faces, ssdMs] = await timed(() => pipeline.detect(image, { detector: 'ssd' }));
      detectMs.ssd[kind].push(ssdMs);
      if (faces.length === 0) continue;
      const [landmarks, lms] = await timed(() => pipeline.landmarks(image, faces));
      landmarkMs.push(lms / faces.length);
      for (const method of ALIGNMENT_METHODS) {
        const [aligned, ams] = await timed(() => pipeline.align(image, landmarks, method));
        alignMs[method].push(ams / faces.length);
        if (method === pipeline.options.alignment) {
          chips.push(...aligned.map((a) => a.chip));
          if (kind === 'lfw') viewInputs.push({ image, landmarks, aligned });
        }
      }
      log(
        `${path.basename(file)}: ${faces.length} face(s), ssd ${ssdMs.toFixed(0)} ms, tiny ${tinyMs.toFixed(0)} ms`,
      );
    }

    // Descriptors: the same 16 chips (or fewer) at each batch size, three rounds, median per face.
    const sixteen = chips.slice(0, 16);
    const descriptorMsPerFace: Record<number, number> = {};
    for (const batchSize of DESCRIPTOR_BATCH_SIZES) {
      const perFace: number[] = [];
      for (let round = 0; round < 3; round++) {
        perFace.push((await timed(() => pipeline.describe(sixteen, { batchSize })))[1] / sixteen.length);
      }
      descriptorMsPerFace[batchSize] = median(perFace);
    }
    // Test-time augmentation (src/face/views.ts): all views of a photo's faces, per face.
    const viewsMsPerFace: Record<number, number> = {};
    for (const views of [1, 2, 6] as const) {
      const p = await createFacePipeline(nodeFacePlatform(), { detector: 'ssd', descriptorViews: views });
      try {
        const first = viewInputs[0];
        if (first) await p.describeViews(first.image, first.landmarks, first.aligned);
        const perFace: number[] = [];
        for (const v of viewInputs) {
          perFace.push(
            (await timed(() => p.describeViews(v.image, v.landmarks, v.aligned)))[1] / v.aligned.length,
          );
        }
        viewsMsPerFace[views] = perFace.length ? median(perFace) : NaN;
      } finally {
        p.dispose();
      }
    }
    // Landmarks one face per call, on the group photos.
    const landmarkSingle: number[] = [];
    for (const file of demo) {
      const image = images.get(file) as RawImage;
      const faces = await pipeline.detect(image);
      for (const f of faces) landmarkSingle.push((await timed(() => pipeline.landmarks(image, [f])))[1]);
    }
    const med = (xs: number[]): number => (xs.length ? median(xs) : NaN);
    return {
      photos: { demo: demo.length, lfw: lfw.length },
      faces: chips.length,
      detectMsPerPhoto: {
        ssd: { demo: med(detectMs.ssd.demo), lfw: med(detectMs.ssd.lfw) },
        tiny: { demo: med(detectMs.tiny.demo), lfw: med(detectMs.tiny.lfw) },
      },
      landmarksMsPerFace: med(landmarkMs),
      alignMsPerFace: {
        dlib5: med(alignMs.dlib5),
        eyes: med(alignMs.eyes),
        'faceapi-box': med(alignMs['faceapi-box']),
      },
      landmarksMsPerFaceSingle: med(landmarkSingle),
      descriptorMsPerFace,
      viewsMsPerFace,
    };
  } finally {
    pipeline.dispose();
  }
}

/** Flattens a result into bench runner rows (suite `face`). */
export function benchFaceRows(r: BenchFaceResult): BenchRow[] {
  const row = (name: string, value: number, note: string): BenchRow => ({
    suite: 'face',
    name,
    value,
    unit: 'ms',
    note,
  });
  const rows = [
    row('detect ssd, demo photo', r.detectMsPerPhoto.ssd.demo, `median of ${r.photos.demo} 1920 px photos`),
    row('detect tiny, demo photo', r.detectMsPerPhoto.tiny.demo, `median of ${r.photos.demo} 1920 px photos`),
    row('detect ssd, LFW photo', r.detectMsPerPhoto.ssd.lfw, `median of ${r.photos.lfw} 250 px photos`),
    row('detect tiny, LFW photo', r.detectMsPerPhoto.tiny.lfw, `median of ${r.photos.lfw} 250 px photos`),
    row('landmarks per face, batched', r.landmarksMsPerFace, 'all faces of a photo in one call'),
    row('landmarks per face, single', r.landmarksMsPerFaceSingle, 'one face per call'),
    ...ALIGNMENT_METHODS.map((m) => row(`align ${m} per face`, r.alignMsPerFace[m], 'pure TS, 150x150 chip')),
    ...DESCRIPTOR_BATCH_SIZES.map((b) =>
      row(
        `descriptor per face, batch ${b}`,
        r.descriptorMsPerFace[b],
        b === 1 ? 'one chip per call' : `${b} chips per call`,
      ),
    ),
    ...[1, 2, 6].map((v) =>
      row(
        `descriptor per face, ${v} view${v === 1 ? '' : 's'}`,
        r.viewsMsPerFace[v],
        `LFW faces, descriptorViews ${v} (extra chips aligned and described)`,
      ),
    ),
  ];
  return rows.filter((x) => Number.isFinite(x.value));
}

/** The face suite for bench/run.ts. */
export const faceSuite: BenchSuite = {
  name: 'face',
  summary: 'face pipeline: detect (ssd, tiny), landmarks, align, descriptor ms',
  async run({ quick, log }) {
    return benchFaceRows(await benchFace({ quick, log }));
  },
};

// ---------------------------------------------------------------------------------------------
// Alignment comparison

export interface CompareAlignmentOptions {
  /** People with at least `perPerson` photos, seeded choice. Default 15. */
  people?: number;
  /** Photos per person (seeded choice). Default 10. */
  perPerson?: number;
  /** Labelled photos per person for the centroids. Default 3. */
  train?: number;
  /** Seeded train/test splits averaged. Default 20. */
  splits?: number;
  seed?: number;
  /** Roll each photo by a random angle in [-roll, roll] degrees first. Default 0. */
  roll?: number;
  /** Dataset folder name. Default `lfw_deepfunneled_min5`. */
  dataset?: string;
  methods?: readonly AlignmentMethod[];
  detector?: DetectorName;
  log?: (line: string) => void;
}

export interface AlignmentComparison {
  dataset: string;
  people: number;
  photos: number;
  /** Photos where a face was found (the same for every method). */
  found: number;
  paths: Record<string, number>;
  train: number;
  splits: number;
  roll: number;
  methods: Partial<Record<AlignmentMethod, SeparationScore>>;
}

/** An image rotated by `degrees` about its centre, same size, black corners. */
export function rollImage(image: RawImage, degrees: number): RawImage {
  const t = (degrees * Math.PI) / 180;
  const c = Math.cos(t);
  const s = Math.sin(t);
  const cx = (image.width - 1) / 2;
  const cy = (image.height - 1) / 2;
  // output (u, v) -> source: rotate (u - cx, v - cy) by -t, add the centre back.
  const m: Affine = [c, s, cx - c * cx - s * cy, -s, c, cy + s * cx - c * cy];
  return warpAffine(image, m, image.width, image.height);
}

/**
 * Descriptors of each photo's main face under each alignment method (detection and landmarks
 * shared), scored by identity separation.
 *
 * @example
 * const c = await compareAlignment({ people: 15, perPerson: 10, train: 3 });
 * c.methods.dlib5?.accuracy;
 */
export async function compareAlignment(opts: CompareAlignmentOptions = {}): Promise<AlignmentComparison> {
  const o = {
    people: 15,
    perPerson: 10,
    train: 3,
    splits: 20,
    seed: 1,
    roll: 0,
    dataset: 'lfw_deepfunneled_min5',
    methods: ALIGNMENT_METHODS,
    detector: 'ssd' as DetectorName,
    log: (_: string) => {},
    ...defined(opts),
  };
  const dir = datasetDir(o.dataset);
  if (!dir) throw new Error(`dataset ${o.dataset} not found`);
  await initRuntime();
  const rng = createRng(o.seed);
  const people = shuffled(rng, listPeople(dir, { minPhotos: o.perPerson })).slice(0, o.people);
  const pipeline: FacePipeline = await createFacePipeline(nodeFacePlatform(), { detector: o.detector });
  const items: Record<string, { person: string; descriptor: Float32Array }[]> = {};
  for (const m of o.methods) items[m] = [];
  let photos = 0;
  let found = 0;
  try {
    for (const person of people) {
      for (const file of shuffled(rng, person.files).slice(0, o.perPerson)) {
        photos++;
        let image = await readImageFile(file);
        if (o.roll > 0) image = rollImage(image, (rng() * 2 - 1) * o.roll);
        const faces = await pipeline.detect(image);
        const main = chooseMainFace(faces, image.width, image.height);
        if (main < 0) continue;
        found++;
        const [landmarks] = await pipeline.landmarks(image, [faces[main]]);
        for (const m of o.methods) {
          const [aligned] = pipeline.align(image, [landmarks], m);
          const [descriptor] = await pipeline.describe([aligned.chip]);
          items[m].push({ person: person.name, descriptor });
        }
      }
      o.log(`${person.name}: ${found}/${photos} found so far`);
    }
  } finally {
    pipeline.dispose();
  }
  const methods: Partial<Record<AlignmentMethod, SeparationScore>> = {};
  for (const m of o.methods) methods[m] = scoreDescriptors(items[m], o.train, o.splits, o.seed + 1);
  const { paths } = pipeline.stats();
  return {
    dataset: o.dataset,
    people: people.length,
    photos,
    found,
    paths,
    train: o.train,
    splits: o.splits,
    roll: o.roll,
    methods,
  };
}

function printComparison(c: AlignmentComparison): void {
  process.stdout.write(
    `\n${c.dataset}: ${c.people} people, ${c.found}/${c.photos} faces found, ${c.train} labelled per person, ` +
      `${c.splits} splits, roll ±${c.roll}°\npaths ${JSON.stringify(c.paths)}\n`,
  );
  process.stdout.write('method        accuracy   (std)   pair AUC  same-dist  diff-dist\n');
  for (const [m, s] of Object.entries(c.methods)) {
    process.stdout.write(
      `${m.padEnd(12)}  ${(s.accuracy * 100).toFixed(1).padStart(7)}%  ${(s.accuracyStd * 100).toFixed(1).padStart(5)}   ` +
        `${s.pairAuc.toFixed(4)}    ${s.sameMean.toFixed(3)}      ${s.diffMean.toFixed(3)}\n`,
    );
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      align: { type: 'boolean', default: false },
      roll: { type: 'string', default: '0' },
      people: { type: 'string' },
      'per-person': { type: 'string' },
      train: { type: 'string' },
      dataset: { type: 'string' },
      detector: { type: 'string' },
      lfw: { type: 'string' },
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const log = (l: string): boolean => process.stderr.write(`  ${l}\n`);
  const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
  if (values.align) {
    const c = await compareAlignment({
      roll: Number(values.roll),
      people: num(values.people),
      perPerson: num(values['per-person']),
      train: num(values.train),
      dataset: values.dataset,
      detector: values.detector as DetectorName | undefined,
      log,
    });
    if (values.json) process.stdout.write(JSON.stringify(c, null, 2) + '\n');
    else printComparison(c);
    return;
  }
  const r = await benchFace({ quick: values.quick, lfwPhotos: num(values.lfw), log });
  if (values.json) {
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    return;
  }
  const rows = benchFaceRows(r);
  const w = Math.max(...rows.map((x) => x.name.length));
  process.stdout.write(`\nface pipeline, tfjs wasm, ${r.faces} faces\n`);
  for (const x of rows)
    process.stdout.write(`${x.name.padEnd(w)}  ${x.value.toFixed(1).padStart(7)} ms  ${x.note}\n`);
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('bench/face.ts')) {
  await main();
}
