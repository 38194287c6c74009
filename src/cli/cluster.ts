/**
 * `fedex cluster DIR`: how many people are in a folder of photos, and which faces belong
 * together — no labels, no known count. Finds every face in every photo, clusters the descriptors
 * with a calibrated method (src/cluster), prints the number of people, and writes the groups as
 * JSON and a self-contained contact sheet (one row of face crops per person).
 *
 * Faces are found as `fedex extract` finds features: through `extractDataset`, so each photo's
 * faces (a face-list record, src/face/face-list.ts) are kept in the feature cache by the photo's
 * hash and the misses run on the worker-thread pool. A second run over the same photos only
 * decodes them again for the contact sheet's thumbnails and clusters.
 *
 * `fedex cluster --eval`: the evaluation behind docs/clustering.md — thresholds calibrated on some
 * LFW people, every method scored on seeded galleries of the other people — printed as Markdown.
 *
 * Heavy modules (tfjs, sharp, the face pipeline) are imported when a run needs them, so loading
 * the CLI for another command stays cheap.
 */
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { listImageFiles } from '../data/dataset-dir.js';
import { FedexError, isFedexError } from '../core/errors.js';
import { shapeSize, type RawImage } from '../core/types.js';
import type { ListedFace } from '../face/face-list.js';
import { renderContactSheet, type SheetPerson } from '../cluster/contact-sheet.js';
import { renderExperiment, runClusterExperiment, DEFAULT_EXPERIMENT_OPTIONS } from '../cluster/experiment.js';
import type { GalleryOptions } from '../cluster/gallery.js';
import {
  CLUSTER_METHODS,
  clusterDistances,
  DEFAULT_CLUSTER_METHOD,
  isClusterMethod,
  METHOD_SUMMARIES,
  resolveParams,
  type ClusterMethod,
  type ClusterViews,
  type MethodParams,
} from '../cluster/methods.js';
import { scoreClustering } from '../cluster/metrics.js';
import { groupsOf } from '../cluster/types.js';
import type { Command } from './command.js';
import {
  choiceFlag,
  intFlag,
  parseFlags,
  renderHelp,
  stringFlag,
  type FlagSpecs,
  type ParsedFlags,
} from './args.js';
import { defaultDataDir } from './defaults.js';
import { createProgressBar } from './progress.js';

const FLAGS: FlagSpecs = {
  method: {
    type: 'string',
    arg: 'NAME',
    help: `Clustering method. Default ${DEFAULT_CLUSTER_METHOD}. Known: ${CLUSTER_METHODS.join(', ')}`,
  },
  threshold: {
    type: 'string',
    arg: 'X',
    help: "Distance threshold (agglomerative-learned: the highest merge it may accept). Default: the method's value calibrated on LFW (docs/clustering.md).",
  },
  accept: {
    type: 'string',
    arg: 'P',
    help: 'agglomerative-learned: merge probability at which two clusters are joined (0-1). Default: calibrated.',
  },
  'min-points': {
    type: 'string',
    arg: 'N',
    help: 'DBSCAN: faces within the threshold that make a core face. Default: calibrated.',
  },
  seed: {
    type: 'string',
    arg: 'N',
    help: 'Seed (Chinese whispers visiting order; with --eval, people split and galleries). Default 0.',
  },
  seeds: {
    type: 'string',
    arg: 'A-B',
    help: 'With --eval: run the evaluation for every seed from A to B (at most 100) and print the exact count of each method per seed, its mean and range. Instead of --seed.',
  },
  views: {
    type: 'string',
    arg: 'N',
    help: 'Views of each face averaged into its descriptor: 6 (default: the face, its mirror image and two more framings, each mirrored; the most accurate count) or 1 (the plain descriptor, as devices upload it; faster). Thresholds and the merge model are calibrated for each.',
  },
  faces: {
    type: 'string',
    arg: 'WHICH',
    help: "all (default): every face in every photo; main: only each photo's main face.",
  },
  out: {
    type: 'string',
    arg: 'DIR',
    help: 'Where people.json and contact-sheet.html go. Default out/cluster/<folder name>.',
  },
  score: {
    type: 'boolean',
    help: 'DIR has one sub-folder per person: score the clustering against the folders.',
  },
  json: { type: 'boolean', help: 'Print the result (or the --eval report) as JSON on stdout.' },
  quiet: { type: 'boolean', short: 'q', help: 'No progress bar.' },
  eval: {
    type: 'boolean',
    help: 'Run the LFW evaluation (calibration + all methods) instead of clustering DIR.',
  },
  data: {
    type: 'string',
    arg: 'DIR',
    help: 'With --eval: the LFW folder. Default $FEDEX_DATA_DIR/lfw_deepfunneled_min5.',
  },
  galleries: {
    type: 'string',
    arg: 'N',
    help: `With --eval: evaluation galleries. Default ${DEFAULT_EXPERIMENT_OPTIONS.evaluationGalleries}.`,
  },
  concurrency: {
    type: 'string',
    arg: 'N',
    help: 'Worker threads finding faces (tfjs WASM is single-threaded). Default min(2, cores); 1 runs in-process.',
  },
  cache: {
    type: 'string',
    arg: 'DIR',
    help: 'Feature cache folder (faces found in a photo are kept by its content hash, so a second run only clusters). Default $FEDEX_CACHE_DIR or .cache/features.',
  },
  'no-cache': { type: 'boolean', help: 'Do not read or write the feature cache.' },
  'cache-only': {
    type: 'boolean',
    help: 'With --eval: use only descriptors already in the feature cache (never run the face extractor over the dataset; --subject-check still locates faces, and --second-look describes its few photos in process).',
  },
  'subject-check': {
    type: 'boolean',
    help: 'With --eval: leave out the photos whose main face is off-centre (a bystander, not the LFW subject). Locates faces once (10-25 min on 2 cores, cached).',
  },
  'second-look': {
    type: 'boolean',
    help: 'With --subject-check: look at those photos again with detections down to confidence 0.1 and use the centred face found there (the subject, usually); only photos without one are left out.',
  },
  cohort: {
    type: 'boolean',
    help: "With --eval: agglomerative-learned with cohort normalisation: each face's distances also read against its 20 nearest faces of the calibration people (refitted merge model with a 13th feature). No cohort ships, so fedex cluster DIR cannot use it.",
  },
  'gallery-people': {
    type: 'string',
    arg: 'MIN-MAX',
    help: 'With --eval: people per gallery. Default 2-20.',
  },
  'gallery-top-photos': {
    type: 'string',
    arg: 'N',
    help: 'With --eval: photos of the person seen most in a gallery. Default 20.',
  },
  'gallery-zipf': {
    type: 'string',
    arg: 'X',
    help: 'With --eval: the k-th person gets gallery-top-photos / k^X photos (0 = balanced). Default 1.',
  },
  'gallery-min-photos': {
    type: 'string',
    arg: 'N',
    help: 'With --eval: fewest photos of a person in a gallery. Default 1.',
  },
};

const USAGE =
  'fedex cluster DIR [--method NAME] [--threshold X] [--views 1|6] [--faces all|main] [--concurrency N] [--cache DIR | --no-cache] [--out DIR] [--json]\n       fedex cluster --eval [--data DIR] [--seed N | --seeds A-B] [--views 1|6] [--subject-check [--second-look]] [--cohort] [--cache-only] [--json]';

/** `--views`: 1 or 6 (default 6). */
function viewsFlag(flags: ParsedFlags): ClusterViews {
  const v = choiceFlag(flags, 'views', ['1', '6'] as const, '6');
  return v === '1' ? 1 : 6;
}

/** Image files under `dir` (one rule for every command: `listImageFiles` in data/dataset-dir.ts). */
export const listImages = listImageFiles;

function methodParams(
  flags: ParsedFlags,
  views: ClusterViews,
): { method: ClusterMethod; params: MethodParams } {
  const raw = stringFlag(flags, 'method', DEFAULT_CLUSTER_METHOD);
  if (!isClusterMethod(raw))
    throw new FedexError(
      'BAD_ARGUMENT',
      `--method must be one of ${CLUSTER_METHODS.join(', ')}; got "${raw}"`,
    );
  const params: MethodParams = {};
  const t = stringFlag(flags, 'threshold');
  if (t !== undefined) {
    const v = Number(t);
    if (!(Number.isFinite(v) && v > 0))
      throw new FedexError('BAD_ARGUMENT', `--threshold must be a number > 0, got "${t}"`);
    params.threshold = v;
  }
  const accept = stringFlag(flags, 'accept');
  if (accept !== undefined) {
    const v = Number(accept);
    if (!(Number.isFinite(v) && v > 0 && v < 1))
      throw new FedexError('BAD_ARGUMENT', `--accept must be a probability between 0 and 1, got "${accept}"`);
    params.accept = v;
  }
  const mp = intFlag(flags, 'min-points', undefined, { min: 1, max: 1000 });
  if (mp !== undefined) params.minPoints = mp;
  params.seed = intFlag(flags, 'seed', 0, { min: 0, max: 2 ** 32 - 1 });
  return { method: raw, params: resolveParams(raw, params, views) };
}

interface FoundFace {
  photo: string;
  /** Index of the face among the photo's analysed faces. */
  index: number;
  box: { x: number; y: number; width: number; height: number };
  descriptor: Float32Array;
  thumbnail: string;
}

/** Photos whose thumbnails are cut at once (decoding runs on sharp's threads). */
const THUMBNAIL_PARALLELISM = 4;

/**
 * 96x96 JPEG data URLs of faces of one photo: each face's aligned chip cut again from the photo
 * with its stored chip transform (the chip the descriptor was made from), then shrunk.
 */
async function thumbnails(image: RawImage, faces: readonly ListedFace[]): Promise<string[]> {
  const [{ default: sharp }, { faceChip }] = await Promise.all([
    import('sharp'),
    import('../face/face-list.js'),
  ]);
  const out: string[] = [];
  for (const f of faces) {
    const chip = faceChip(image, f);
    const jpeg = await sharp(Buffer.from(chip.data.buffer, chip.data.byteOffset, chip.data.byteLength), {
      raw: { width: chip.width, height: chip.height, channels: 3 },
    })
      .resize(96, 96)
      .jpeg({ quality: 80 })
      .toBuffer();
    out.push(`data:image/jpeg;base64,${jpeg.toString('base64')}`);
  }
  return out;
}

const round = (x: number): number => Math.round(x * 10) / 10;

/** What a photo with more faces than a face-list record holds says about it. */
const tooManyLine = (t: { photo: string; found: number; kept: number }): string =>
  `${t.photo}: ${t.found} faces, ${t.kept} kept (the main face and the most confident others)`;

/** `--cache DIR` / `--no-cache` as `extractDataset`'s `cache` option. */
function cacheFlag(flags: ParsedFlags): { dir?: string } | false {
  const dir = stringFlag(flags, 'cache');
  if (flags['no-cache'] && dir !== undefined)
    throw new FedexError('BAD_ARGUMENT', '--cache and --no-cache exclude each other');
  return flags['no-cache'] ? false : dir !== undefined ? { dir } : {};
}

async function clusterFolder(
  dirArg: string,
  flags: ParsedFlags,
  io: Parameters<Command['run']>[1],
): Promise<number> {
  if (flags.cohort)
    throw new FedexError(
      'BAD_ARGUMENT',
      '--cohort goes with --eval: cohort normalisation needs faces of many other people, and none ship (docs/clustering.md)',
    );
  const dir = path.resolve(dirArg);
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new FedexError('DATASET_NOT_FOUND', `${dirArg} is not a folder`);
  const views = viewsFlag(flags);
  const { method, params } = methodParams(flags, views);
  const which = choiceFlag(flags, 'faces', ['all', 'main'] as const, 'all');
  const outDir = path.resolve(
    stringFlag(flags, 'out', path.join('out', 'cluster', path.basename(dir) || 'photos')),
  );
  const concurrency = intFlag(flags, 'concurrency', undefined, { min: 1, max: 64 });
  const cache = cacheFlag(flags);
  const photos = listImages(dir);
  if (photos.length === 0)
    throw new FedexError(
      'DATASET_EMPTY',
      `no photos in ${dirArg} (looked for JPEG, PNG, GIF, WebP, TIFF, HEIF, PGM/PPM files)`,
    );

  // Photos go through extractDataset as one unnamed person: hashed, served from the feature cache
  // when seen before (with the same views and --faces), the rest extracted on the worker pool.
  const [{ extractDataset }, { faceListSource, faceListSpec }, { decodeFaceList }] = await Promise.all([
    import('../data/extract.js'),
    import('../cluster/face-list-extractor.js'),
    import('../face/face-list.js'),
  ]);
  const quiet = Boolean(flags.quiet || flags.json);
  const bar = createProgressBar('faces', io.stderr, { quiet });
  let withFace = 0;
  let cached = 0;
  let set;
  try {
    set = await extractDataset({
      dataset: {
        root: dir,
        people: [{ name: '', files: photos }],
        photos: photos.length,
        peopleFound: 1,
        photosFound: photos.length,
      },
      source: faceListSource({ faces: which, face: { descriptorViews: views } }),
      // Known up front, so a fully cached run loads no model at all.
      spec: faceListSpec(which),
      concurrency,
      cache,
      onProgress(done, total, info) {
        if (info.outcome === 'face') withFace += 1;
        if (info.cached) cached += 1;
        bar.update(done, total, `photos with a face ${withFace}, from cache ${cached}`);
      },
    });
  } finally {
    bar.done();
  }
  const { stats } = set;
  const dim = shapeSize(set.spec.shape);
  const lists = set.samples.map((s, row) => ({
    photo: s.id,
    list: decodeFaceList(set.features.subarray(row * dim, (row + 1) * dim)),
  }));
  const noFace = stats.noFace.slice();
  const unreadable = stats.unreadable.map((u) => ({ photo: u.file, error: u.error }));
  const tooMany = lists
    .filter(({ list }) => list.analysed > list.faces.length)
    .map(({ photo, list }) => ({ photo, found: list.analysed, kept: list.faces.length }));

  // Thumbnails: each photo with a face is decoded again here (EXIF orientation and PGM as the
  // workers read it) and its faces' chips cut from it.
  const { readImageFile } = await import('../platform/node/image.js');
  const thumbs: string[][] = new Array(lists.length);
  const thumbBar = createProgressBar('thumbnails', io.stderr, { quiet });
  let next = 0;
  let made = 0;
  const lane = async (): Promise<void> => {
    while (next < lists.length) {
      const k = next++;
      const { photo, list } = lists[k];
      try {
        thumbs[k] = await thumbnails(await readImageFile(path.join(dir, photo)), list.faces);
      } catch (e) {
        // Read by a worker moments ago: changed or removed since. Its faces are left out.
        if (!isFedexError(e)) throw e;
        unreadable.push({ photo, error: e.message });
      }
      thumbBar.update(++made, lists.length);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(THUMBNAIL_PARALLELISM, lists.length) }, lane));
  } finally {
    thumbBar.done();
  }
  const faces: FoundFace[] = [];
  lists.forEach(({ photo, list }, k) => {
    if (!thumbs[k]) return;
    list.faces.forEach((f, i) => {
      faces.push({
        photo,
        index: f.index,
        box: { x: round(f.box.x), y: round(f.box.y), width: round(f.box.width), height: round(f.box.height) },
        descriptor: f.descriptor,
        thumbnail: thumbs[k][i],
      });
    });
  });
  unreadable.sort((a, b) => (a.photo < b.photo ? -1 : a.photo > b.photo ? 1 : 0));
  const extraction = {
    fromCache: stats.fromCache,
    extracted: stats.extracted,
    workers: stats.workers,
    seconds: stats.ms / 1000,
    cache: stats.cache?.file ?? null,
  };
  if (faces.length === 0) {
    const parts = [`no face found in any of the ${photos.length} photo(s) in ${dirArg}`];
    if (unreadable.length)
      parts.push(`${unreadable.length} could not be read (${unreadable[0].photo}: ${unreadable[0].error})`);
    throw new FedexError('FACE_NOT_FOUND', parts.join('; '));
  }

  const { initRuntime } = await import('../runtime/node.js');
  await initRuntime();
  const { pairwiseDistancesTf } = await import('../cluster/distance-tf.js');
  const descriptors = faces.map((f) => f.descriptor);
  const result = clusterDistances(pairwiseDistancesTf(descriptors), method, params, {
    reuse: true,
    descriptors,
    views,
  });
  const groups = groupsOf(result.labels);
  // With --score the first folder of each photo's path is its person.
  const truthOf = (f: FoundFace): string => f.photo.split('/')[0];
  let score: ReturnType<typeof scoreClustering> | undefined;
  if (flags.score) {
    if (!faces.every((f) => f.photo.includes('/')))
      throw new FedexError('BAD_ARGUMENT', '--score needs every photo inside a per-person sub-folder of DIR');
    const names = [...new Set(faces.map(truthOf))];
    score = scoreClustering(
      result.labels,
      Int32Array.from(faces, (f) => names.indexOf(truthOf(f))),
    );
  }
  const majority = (g: number[]): string => {
    const c = new Map<string, number>();
    for (const i of g) c.set(truthOf(faces[i]), (c.get(truthOf(faces[i])) ?? 0) + 1);
    return [...c.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0][0];
  };

  const report = {
    dir,
    method,
    params,
    views,
    people: result.count,
    photos: photos.length,
    faces: faces.length,
    noFace,
    unreadable,
    tooManyFaces: tooMany,
    extraction,
    groups: groups.map((g, k) => ({
      person: k + 1,
      ...(flags.score ? { folder: majority(g) } : {}),
      faces: g.map((i) => ({ photo: faces[i].photo, face: faces[i].index, box: faces[i].box })),
    })),
    ...(score ? { score } : {}),
    contactSheet: path.join(outDir, 'contact-sheet.html'),
    json: path.join(outDir, 'people.json'),
  };
  const summary = `${result.count} ${result.count === 1 ? 'person' : 'people'} in ${faces.length} face(s) from ${photos.length} photo(s) (${method}, ${params.accept !== undefined ? `merges accepted at p >= ${params.accept}` : `threshold ${params.threshold}`}, ${views} view${views === 1 ? '' : 's'} per face)`;
  const people: SheetPerson[] = groups.map((g, k) => {
    const name = flags.score ? majority(g) : `Person ${k + 1}`;
    return {
      name,
      faces: g.map((i) => ({
        src: faces[i].thumbnail,
        title: faces[i].photo,
        odd: Boolean(flags.score) && truthOf(faces[i]) !== name,
      })),
    };
  });
  const notes = [
    ...noFace.map((p) => `no face found: ${p}`),
    ...unreadable.map((u) => `unreadable: ${u.photo}: ${u.error}`),
    ...tooMany.map(tooManyLine),
    ...(score
      ? [
          `against the folders: BCubed F ${score.bcubed.f.toFixed(3)}, pairwise F ${score.pairwise.f.toFixed(3)}, ${score.trueCount} people there`,
        ]
      : []),
  ];
  mkdirSync(outDir, { recursive: true });
  writeFileSync(report.json, JSON.stringify(report, null, 2) + '\n');
  writeFileSync(
    report.contactSheet,
    renderContactSheet({ title: path.basename(dir), summary, people, notes }),
  );

  if (flags.json) {
    io.stdout.write(JSON.stringify(report, null, 2) + '\n');
    return 0;
  }
  const lines = [summary];
  groups.forEach((g, k) => {
    const who = flags.score ? ` (${majority(g)})` : '';
    const list = g
      .slice(0, 6)
      .map((i) => faces[i].photo)
      .join(', ');
    lines.push(`  person ${k + 1}${who}: ${g.length} face(s): ${list}${g.length > 6 ? ', ...' : ''}`);
  });
  if (noFace.length)
    lines.push(
      `  no face found in ${noFace.length} photo(s): ${noFace.slice(0, 5).join(', ')}${noFace.length > 5 ? ', ...' : ''}`,
    );
  for (const u of unreadable.slice(0, 5)) lines.push(`  unreadable: ${u.photo}: ${u.error}`);
  for (const t of tooMany.slice(0, 5)) lines.push(`  ${tooManyLine(t)}`);
  if (score) {
    lines.push(
      `  against the folders: ${score.trueCount} people there, BCubed F ${score.bcubed.f.toFixed(3)} (P ${score.bcubed.precision.toFixed(3)}, R ${score.bcubed.recall.toFixed(3)}), pairwise F ${score.pairwise.f.toFixed(3)}, NMI ${score.nmi.toFixed(3)}`,
    );
  }
  lines.push(
    extraction.extracted === 0
      ? `  faces of all ${extraction.fromCache} readable photo(s) from the feature cache`
      : `  ${extraction.fromCache} photo(s) from the feature cache, ${extraction.extracted} extracted on ${extraction.workers || 1} ${extraction.workers ? 'worker(s)' : 'thread (in-process)'} in ${extraction.seconds.toFixed(1)} s${extraction.cache ? '' : ' (no cache)'}`,
    `  groups: ${report.json}`,
    `  contact sheet: ${report.contactSheet}`,
  );
  io.stdout.write(lines.join('\n') + '\n');
  return 0;
}

/** `--seeds A-B` as the list of seeds, or undefined without the flag. */
function seedsFlag(flags: ParsedFlags): number[] | undefined {
  const text = stringFlag(flags, 'seeds');
  if (text === undefined) return undefined;
  if (flags.seed !== undefined) throw new FedexError('BAD_ARGUMENT', '--seeds and --seed cannot go together');
  const m = /^(\d+)-(\d+)$/.exec(text);
  const [a, b] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!(Number.isSafeInteger(a) && Number.isSafeInteger(b) && b >= a && b - a < 100 && b <= 2 ** 32 - 1))
    throw new FedexError(
      'BAD_ARGUMENT',
      `--seeds must look like 0-9 (A <= B, at most 100 seeds), got "${text}"`,
    );
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

/** The --eval gallery-shape flags (absent flags keep the gallery defaults). */
function galleryFlags(flags: ParsedFlags): Omit<GalleryOptions, 'galleries' | 'seed'> {
  const out: Omit<GalleryOptions, 'galleries' | 'seed'> = {};
  const range = stringFlag(flags, 'gallery-people');
  if (range !== undefined) {
    const m = /^(\d+)-(\d+)$/.exec(range);
    if (!m || Number(m[1]) < 1 || Number(m[2]) < Number(m[1]))
      throw new FedexError('BAD_ARGUMENT', `--gallery-people must look like 2-20, got "${range}"`);
    out.minPeople = Number(m[1]);
    out.maxPeople = Number(m[2]);
  }
  const top = intFlag(flags, 'gallery-top-photos', undefined, { min: 1, max: 1000 });
  if (top !== undefined) out.topPhotos = top;
  const min = intFlag(flags, 'gallery-min-photos', undefined, { min: 1, max: 1000 });
  if (min !== undefined) out.minPhotosPerPerson = min;
  const zipf = stringFlag(flags, 'gallery-zipf');
  if (zipf !== undefined) {
    const v = Number(zipf);
    if (!(Number.isFinite(v) && v >= 0))
      throw new FedexError('BAD_ARGUMENT', `--gallery-zipf must be a number >= 0, got "${zipf}"`);
    out.zipfExponent = v;
  }
  return out;
}

async function evaluate(flags: ParsedFlags, io: Parameters<Command['run']>[1]): Promise<number> {
  const dir = path.resolve(stringFlag(flags, 'data', path.join(defaultDataDir(), 'lfw_deepfunneled_min5')));
  const seed = intFlag(flags, 'seed', 0, { min: 0, max: 2 ** 32 - 1 })!;
  // Checked before any descriptor is loaded: a bad flag costs nothing.
  const seeds = seedsFlag(flags);
  const gallery = galleryFlags(flags);
  if (flags['second-look'] && !flags['subject-check'])
    throw new FedexError('BAD_ARGUMENT', '--second-look goes with --subject-check');
  const cohort = Boolean(flags.cohort);
  if (flags['no-cache'])
    throw new FedexError(
      'BAD_ARGUMENT',
      '--eval reads its descriptors through the feature cache: drop --no-cache',
    );
  const cacheDir = stringFlag(flags, 'cache');
  const galleries = intFlag(flags, 'galleries', DEFAULT_EXPERIMENT_OPTIONS.evaluationGalleries, {
    min: 1,
    max: 100_000,
  })!;
  const { LFW_CLUSTER_SCAN, loadLabelledFaces } = await import('../cluster/lfw-data.js');
  const bar = createProgressBar('descriptors', io.stderr, { quiet: Boolean(flags.quiet || flags.json) });
  const views = viewsFlag(flags);
  const { faces, missing } = await loadLabelledFaces({
    dir,
    scan: LFW_CLUSTER_SCAN,
    views,
    cacheOnly: Boolean(flags['cache-only']),
    cacheDir,
    onProgress: (done, total) => bar.update(done, total),
  });
  bar.done();
  if (missing.length)
    io.stderr.write(
      `cluster --eval: ${missing.length} photo(s) not in the feature cache yet are left out (--cache-only)\n`,
    );
  let used = faces;
  let offCentre: string[] = [];
  let lookedAgain: string[] = [];
  let notFound: string[] = [];
  let secondLookConfidence = 0;
  let found = new Map<string, Float32Array>();
  if (flags['subject-check']) {
    const {
      checkLfwSubjects,
      lookAgainForSubjects,
      SUBJECT_LOOK_AGAIN_CONFIDENCE,
      withDescriptors,
      withoutIds,
    } = await import('../cluster/lfw-data.js');
    const quiet = Boolean(flags.quiet || flags.json);
    const boxBar = createProgressBar('main faces', io.stderr, { quiet });
    ({ offCentre } = await checkLfwSubjects({
      dir,
      cacheDir,
      onProgress: (done, total) => boxBar.update(done, total),
    }));
    boxBar.done();
    const inFaces = offCentre.filter((id) => faces.ids.includes(id));
    if (flags['second-look']) {
      const againBar = createProgressBar('second look', io.stderr, { quiet });
      const again = await lookAgainForSubjects({
        dir,
        ids: inFaces,
        views,
        onProgress: (done, total) => againBar.update(done, total),
      });
      againBar.done();
      secondLookConfidence = SUBJECT_LOOK_AGAIN_CONFIDENCE;
      found = again.found;
      lookedAgain = [...found.keys()].sort();
      notFound = again.notFound;
    } else notFound = inFaces;
    used = withoutIds(withDescriptors(faces, found), new Set(notFound));
  }
  // One report file per setting: e.g. eval-seed0.json, eval-seed0-minPhotosPerPerson2.json.
  const variant =
    Object.entries(gallery)
      .map(([k, v]) => `-${k}${v}`)
      .join('') +
    (views === 1 ? '' : `-views${views}`) +
    (flags['subject-check'] ? '-subject' : '') +
    (flags['second-look'] ? '-second-look' : '') +
    (flags.cohort ? '-cohort' : '');
  const about = {
    data: dir,
    scan: LFW_CLUSTER_SCAN,
    facesUsed: used.descriptors.length,
    missingFromCache: missing.length,
    offCentre,
    subjectFoundOnSecondLook: lookedAgain,
    leftOut: notFound,
  };
  const people = `${used.descriptors.length} faces of ${new Set(used.labels).size} people${missing.length ? ` (${missing.length} photos not yet cached left out)` : ''}`;
  const subjectLine = flags['subject-check']
    ? [
        flags['second-look']
          ? `Subject check: ${offCentre.length} photo(s) whose main face is off-centre (a bystander). Second look, detections down to confidence ${secondLookConfidence}: the centred subject found in ${lookedAgain.length} (its descriptor used instead), not in ${notFound.length} (left out${notFound.length ? `: ${notFound.join(', ')}` : ''}).`
          : `Subject check: ${offCentre.length} photo(s) whose main face is off-centre (a bystander); left out: ${notFound.length}${notFound.length ? ` (${notFound.join(', ')})` : ''}.`,
      ]
    : [];
  if (seeds) {
    const { renderSeeds, summarizeSeeds } = await import('../cluster/experiment.js');
    const reports = [];
    const quiet = Boolean(flags.quiet || flags.json);
    for (const [k, s] of seeds.entries()) {
      if (!quiet) io.stderr.write(`cluster --eval: seed ${s} (${k + 1} of ${seeds.length})\n`);
      reports.push(
        runClusterExperiment(used, { seed: s, evaluationGalleries: galleries, gallery, views, cohort }),
      );
    }
    const rows = summarizeSeeds(reports);
    const outFile = path.resolve(
      'out',
      'cluster',
      `eval-seeds${seeds[0]}-${seeds[seeds.length - 1]}${variant}.json`,
    );
    mkdirSync(path.dirname(outFile), { recursive: true });
    const { seed: _seed, ...options } = reports[0].options;
    const json = {
      options: {
        ...options,
        subjectCheck: Boolean(flags['subject-check']),
        secondLook: Boolean(flags['second-look']),
      },
      ...about,
      seeds,
      rows,
      perSeed: reports.map((r) => ({
        seed: r.options.seed,
        methods: r.methods.map((m) => ({
          method: m.method,
          calibrated: m.calibrated,
          evaluation: m.evaluation,
        })),
      })),
    };
    writeFileSync(outFile, JSON.stringify(json, null, 2) + '\n');
    if (flags.json) io.stdout.write(JSON.stringify(json, null, 2) + '\n');
    else
      io.stdout.write(
        [
          `LFW ${path.basename(dir)}, selection min-photos ${LFW_CLUSTER_SCAN.minPhotos}, max-per-person ${LFW_CLUSTER_SCAN.maxPerPerson}, ${views} view(s): ${people}.`,
          ...subjectLine,
          '',
        ].join('\n') +
          renderSeeds(rows) +
          `\nreport: ${outFile}\n`,
      );
    return 0;
  }
  const report = runClusterExperiment(used, { seed, evaluationGalleries: galleries, gallery, views, cohort });
  const outFile = path.resolve('out', 'cluster', `eval-seed${seed}${variant}.json`);
  mkdirSync(path.dirname(outFile), { recursive: true });
  const { methods, ...rest } = report;
  const json = {
    ...rest,
    ...about,
    methods: methods.map(({ perGallery: _perGallery, ...m }) => m),
  };
  writeFileSync(outFile, JSON.stringify(json, null, 2) + '\n');
  if (flags.json) io.stdout.write(JSON.stringify(json, null, 2) + '\n');
  else {
    const header = [
      `LFW ${path.basename(dir)}, selection min-photos ${LFW_CLUSTER_SCAN.minPhotos}, max-per-person ${LFW_CLUSTER_SCAN.maxPerPerson}, seed ${seed}: ${people}.`,
      ...subjectLine,
      '',
    ];
    io.stdout.write(header.join('\n') + renderExperiment(report) + `\nreport: ${outFile}\n`);
  }
  return 0;
}

export const clusterCommand: Command = {
  name: 'cluster',
  summary: 'How many people are in a folder of photos: cluster the faces, write groups and a contact sheet.',
  async run(argv, io) {
    const { flags, positionals } = parseFlags(argv, FLAGS, { positionals: 1 });
    if (flags.help) {
      const methods = CLUSTER_METHODS.map((m) => `  ${m.padEnd(24)}${METHOD_SUMMARIES[m]}`).join('\n');
      io.stdout.write(renderHelp(USAGE, clusterCommand.summary, FLAGS) + `\nMethods:\n${methods}\n`);
      return 0;
    }
    if (flags.eval) {
      if (positionals.length)
        throw new FedexError('BAD_ARGUMENT', '--eval takes no folder argument (use --data)');
      return evaluate(flags, io);
    }
    if (positionals.length === 0)
      throw new FedexError('BAD_ARGUMENT', 'which folder? usage: fedex cluster DIR');
    return clusterFolder(positionals[0], flags, io);
  },
};
