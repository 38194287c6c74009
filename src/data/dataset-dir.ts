/**
 * Dataset directories: one folder per person, image files inside (`lfw/George_W_Bush/x.jpg`).
 * Scans a directory into people (sorted by name) and their photos (sorted), and picks seeded
 * subsets (per-person caps, a person cap, a total photo limit spread across people) so a run on
 * "a 500-photo LFW subset" is reproducible.
 *
 * Node-only (reads the file system). Everything it returns is plain data; it never decodes images.
 * Non-directories at the top level (README.md, MANIFEST.sha256) and non-image files inside person
 * folders are ignored, as are hidden entries (names starting with a dot).
 */
import { readdirSync, statSync, type Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

import { DatasetError, FedexError } from '../core/errors.js';
import { createRng, deriveSeed, shuffled } from '../core/random.js';

/**
 * File extensions (lower case) counted as photos, by every command that lists photos (`fedex
 * extract`, `fedex cluster`, `fedex device`) and by the tests: the formats the image decoder takes,
 * and the netpbm ones (listed, then reported as unsupported by the decoder, not silently skipped).
 */
export const IMAGE_EXTENSIONS: readonly string[] = [
  '.jpg',
  '.jpeg',
  '.png',
  '.gif',
  '.webp',
  '.tif',
  '.tiff',
  '.heic',
  '.heif',
  '.avif',
  '.pgm',
  '.ppm',
];

/** True for a visible file name with one of {@link IMAGE_EXTENSIONS} (any case). */
export function isImageName(name: string): boolean {
  return !name.startsWith('.') && IMAGE_EXTENSIONS.includes(path.extname(name).toLowerCase());
}

/**
 * True when a directory entry is a photo: an image name that is a file, or a symbolic link to a
 * file (a photo folder often links to photos kept elsewhere; a link to a folder is not followed).
 */
export function isImageEntry(entry: Dirent, dir: string): boolean {
  if (!isImageName(entry.name)) return false;
  if (entry.isFile()) return true;
  if (!entry.isSymbolicLink()) return false;
  try {
    return statSync(path.join(dir, entry.name)).isFile();
  } catch {
    return false; // a dangling link
  }
}

/**
 * Image files under `dir`, recursively, as sorted `/`-separated relative paths: hidden entries
 * skipped, links to files followed ({@link isImageEntry}), links to folders not (no cycles).
 *
 * @example
 * listImageFiles('photos'); // ['a.png', 'trip/1.jpg', 'trip/2.JPG']
 */
export function listImageFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const full = path.join(dir, rel);
    for (const e of readdirSync(full, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const child = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(child);
      else if (isImageEntry(e, full)) out.push(child);
    }
  };
  walk('');
  return out.sort(byCodePoint);
}

/** How to choose people and photos from a dataset directory. */
export interface ScanOptions {
  /** A person needs at least this many photos to be kept. Default 1. */
  minPhotos?: number;
  /**
   * At least this many people must meet `minPhotos` (and survive `limit`), else
   * `DATASET_TOO_FEW_PHOTOS` naming the shortfall. Default 1.
   */
  minPeople?: number;
  /** Keep at most this many people (a seeded choice among those eligible). Default: all. */
  maxPeople?: number;
  /** Keep at most this many photos per person (a seeded choice). Default: all. */
  maxPerPerson?: number;
  /**
   * Keep at most this many photos in total, spread as evenly as possible across people (each
   * person gets up to the same quota; a seeded few get one more). Every kept person still has at
   * least `minPhotos`: when `limit < people × minPhotos`, a seeded `floor(limit / minPhotos)`
   * people are kept. Default: no limit.
   */
  limit?: number;
  /** Seed for every choice above. Default 0. */
  seed?: number;
}

/** Defaults of {@link ScanOptions}, merged once in {@link scanDatasetDir}. */
export const DEFAULT_SCAN_OPTIONS = {
  minPhotos: 1,
  minPeople: 1,
  maxPeople: Number.POSITIVE_INFINITY,
  maxPerPerson: Number.POSITIVE_INFINITY,
  limit: Number.POSITIVE_INFINITY,
  seed: 0,
} as const satisfies Required<ScanOptions>;

/** One person: the folder name and the kept photos. */
export interface DatasetPerson {
  name: string;
  /** Photo ids: paths relative to the dataset root, `/`-separated (`Ann/Ann_0001.jpg`), sorted. */
  files: string[];
}

/** A scanned dataset directory. */
export interface ScannedDataset {
  /** Absolute path of the dataset directory. */
  root: string;
  /** Kept people, sorted by name (code-point order, locale-independent). Label id = index. */
  people: DatasetPerson[];
  /** Total kept photos. */
  photos: number;
  /** Person folders found with at least one photo, before any selection. */
  peopleFound: number;
  /** Photos found in those folders, before any selection. */
  photosFound: number;
}

/** One photo of a scanned dataset, flattened (see {@link listPhotos}). */
export interface DatasetPhoto {
  /** Path relative to the dataset root, `/`-separated: the sample id. */
  id: string;
  /** Absolute path. */
  path: string;
  /** Index of the person in `dataset.people`. */
  label: number;
}

/** Code-point order: the same on every machine, unlike `localeCompare`. */
function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function checkCount(name: string, value: number, min: number): void {
  if (!(value >= min) || (Number.isFinite(value) && !Number.isInteger(value))) {
    throw new FedexError('BAD_ARGUMENT', `scan option ${name} must be an integer >= ${min} (got ${value})`);
  }
}

/** A seeded choice of `n` items, returned in their original (sorted) order. */
function chooseSorted(items: readonly string[], n: number, seed: number): string[] {
  if (n >= items.length) return items.slice();
  const keep = new Set(shuffled(createRng(seed), items).slice(0, n));
  return items.filter((x) => keep.has(x));
}

/**
 * Splits a photo budget across people as evenly as possible (water-filling): every person gets
 * `min(count, q)` for the largest level `q` that fits, and the remainder goes, one each, to a seeded
 * choice of the people who still have photos left. Pure; exported for tests.
 */
export function spreadQuota(counts: readonly number[], budget: number, seed: number): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  if (budget >= total) return counts.slice();
  let lo = 0;
  let hi = Math.max(0, ...counts);
  // Largest q with sum(min(c, q)) <= budget.
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const used = counts.reduce((a, c) => a + Math.min(c, mid), 0);
    if (used <= budget) lo = mid;
    else hi = mid - 1;
  }
  const quota = counts.map((c) => Math.min(c, lo));
  let rest = budget - quota.reduce((a, b) => a + b, 0);
  const open = counts.map((c, i) => (c > lo ? i : -1)).filter((i) => i >= 0);
  for (const i of shuffled(createRng(seed), open)) {
    if (rest === 0) break;
    quota[i] += 1;
    rest -= 1;
  }
  return quota;
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Scans a dataset directory (one folder per person) and applies the selection options.
 *
 * Errors: `DATASET_NOT_FOUND` (missing or not a directory), `DATASET_EMPTY` (no person folders, or
 * no photos in them), `DATASET_TOO_FEW_PHOTOS` (fewer than `minPeople` people with `minPhotos`).
 *
 * @example
 * const lfw500 = await scanDatasetDir('../shared/datasets/lfw_deepfunneled_min5', { minPhotos: 5, limit: 500, seed: 1 });
 * // 100 people × 5 photos, the same ones on every run with seed 1
 */
export async function scanDatasetDir(dir: string, options: ScanOptions = {}): Promise<ScannedDataset> {
  const o = { ...DEFAULT_SCAN_OPTIONS, ...options };
  checkCount('minPhotos', o.minPhotos, 1);
  checkCount('minPeople', o.minPeople, 0);
  checkCount('maxPeople', o.maxPeople, 1);
  checkCount('maxPerPerson', o.maxPerPerson, 1);
  checkCount('limit', o.limit, 1);
  const root = path.resolve(dir);

  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOTDIR'
        ? 'is not a directory'
        : code === 'ENOENT'
          ? 'does not exist'
          : `cannot be read (${code})`;
    throw new DatasetError('DATASET_NOT_FOUND', `dataset directory ${root} ${why}`, { cause: e });
  }

  const folders: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    if (e.isDirectory() || (e.isSymbolicLink() && (await isDirectory(path.join(root, e.name)))))
      folders.push(e.name);
  }
  folders.sort(byCodePoint);
  if (folders.length === 0) {
    throw new DatasetError(
      'DATASET_EMPTY',
      `no person folders in ${root} (expected one folder per person, each holding ${IMAGE_EXTENSIONS.join('/')} files)`,
    );
  }

  const found: DatasetPerson[] = [];
  for (const name of folders) {
    const files = (await readdir(path.join(root, name), { withFileTypes: true }))
      .filter((f) => isImageEntry(f, path.join(root, name)))
      .map((f) => f.name)
      .sort(byCodePoint)
      .map((f) => `${name}/${f}`);
    if (files.length > 0) found.push({ name, files });
  }
  const photosFound = found.reduce((a, p) => a + p.files.length, 0);
  if (photosFound === 0) {
    throw new DatasetError(
      'DATASET_EMPTY',
      `no photos in the ${folders.length} person folders of ${root} (looked for ${IMAGE_EXTENSIONS.join(', ')})`,
    );
  }

  let people = found.filter((p) => p.files.length >= o.minPhotos);
  const tooFew = (have: number, why: string): DatasetError =>
    new DatasetError(
      'DATASET_TOO_FEW_PHOTOS',
      `${why}: ${have} people available, ${o.minPeople} needed (short by ${o.minPeople - have}) in ${root}`,
    );
  if (people.length < o.minPeople || people.length === 0) {
    throw tooFew(
      people.length,
      `only ${people.length} of ${found.length} people have at least ${o.minPhotos} photos`,
    );
  }

  if (people.length > o.maxPeople) {
    const keep = new Set(
      chooseSorted(
        people.map((p) => p.name),
        o.maxPeople,
        deriveSeed(o.seed, 'maxPeople'),
      ),
    );
    people = people.filter((p) => keep.has(p.name));
  }
  if (Number.isFinite(o.maxPerPerson)) {
    people = people.map((p) => ({
      name: p.name,
      files: chooseSorted(p.files, o.maxPerPerson, deriveSeed(o.seed, `maxPerPerson:${p.name}`)),
    }));
  }

  const total = people.reduce((a, p) => a + p.files.length, 0);
  if (total > o.limit) {
    const floor = Math.min(o.minPhotos, o.maxPerPerson);
    const maxKept = Math.floor(o.limit / floor);
    if (maxKept < people.length) {
      if (maxKept < o.minPeople || maxKept === 0) {
        throw tooFew(maxKept, `limit ${o.limit} keeps at most ${maxKept} people with ${floor} photos each`);
      }
      const keep = new Set(
        chooseSorted(
          people.map((p) => p.name),
          maxKept,
          deriveSeed(o.seed, 'limit:people'),
        ),
      );
      people = people.filter((p) => keep.has(p.name));
    }
    const quota = spreadQuota(
      people.map((p) => p.files.length),
      o.limit,
      deriveSeed(o.seed, 'limit:extra'),
    );
    people = people.map((p, i) => ({
      name: p.name,
      files: chooseSorted(p.files, quota[i], deriveSeed(o.seed, `limit:${p.name}`)),
    }));
  }

  return {
    root,
    people,
    photos: people.reduce((a, p) => a + p.files.length, 0),
    peopleFound: found.length,
    photosFound,
  };
}

/** Flattens a scanned dataset into photos in person order, then file order. */
export function listPhotos(dataset: ScannedDataset): DatasetPhoto[] {
  const out: DatasetPhoto[] = [];
  dataset.people.forEach((p, label) => {
    for (const id of p.files) out.push({ id, path: path.join(dataset.root, ...id.split('/')), label });
  });
  return out;
}
