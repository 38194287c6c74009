import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { scanDatasetDir } from '../data/dataset-dir.js';
import { describeWithData } from '../testing/describe-with-data.js';
import { listImages } from './cluster.js';
import type { CommandIO } from './command.js';
import { runCli } from './main.js';

/** Runs the CLI with captured stdout and stderr. */
async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const stream = (append: (s: string) => void) =>
    ({ write: (s: string) => (append(s), true), isTTY: false }) as unknown as NodeJS.WriteStream;
  const io: CommandIO = { stdout: stream((s) => (stdout += s)), stderr: stream((s) => (stderr += s)) };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'fedex-cluster-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
/** Every run that finds faces keeps them here, never in the working directory's cache. */
const cacheDir = path.join(tmp, 'cache');

describe('fedex cluster: bad input', () => {
  it('says an empty folder has no photos (exit 1)', async () => {
    const dir = path.join(tmp, 'empty');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'notes.txt'), 'not a photo');
    const r = await run(['cluster', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no photos in .*empty.*\[DATASET_EMPTY\]/);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace
  });

  it('says a missing folder is not a folder (exit 1), and asks for one when none is given (exit 2)', async () => {
    const missing = await run(['cluster', path.join(tmp, 'nope')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/is not a folder \[DATASET_NOT_FOUND\]/);
    const none = await run(['cluster']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/which folder\?/);
  });

  it('rejects an unknown method and a bad threshold before any work (exit 2)', async () => {
    expect((await run(['cluster', tmp, '--method', 'kmeans'])).stderr).toMatch(/--method must be one of/);
    const r = await run(['cluster', tmp, '--threshold', 'abc']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--threshold must be a number > 0/);
  });

  it('says no face was found when the photos have none, listing unreadable files (exit 1)', async () => {
    // Prepare: a plain grey picture and a file that only pretends to be a JPEG.
    const dir = path.join(tmp, 'no-faces');
    mkdirSync(dir);
    await sharp({ create: { width: 160, height: 120, channels: 3, background: '#808080' } })
      .png()
      .toFile(path.join(dir, 'wall.png'));
    writeFileSync(path.join(dir, 'broken.jpg'), 'definitely not a jpeg');
    // Execute
    const r = await run(['cluster', dir, '--quiet', '--cache', cacheDir, '--concurrency', '1']);
    // Assert
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /no face found in any of the 2 photo\(s\) in .*; 1 could not be read \(broken.jpg: .*\[FACE_NOT_FOUND\]/,
    );
  });

  it('prints help with every method', async () => {
    const r = await run(['cluster', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/chinese-whispers/);
    expect(r.stdout).toMatch(/dbscan/);
    expect(r.stdout).toMatch(/agglomerative-learned/);
    expect(r.stdout).toMatch(/Default agglomerative-learned/);
  });

  it('rejects an --accept that is not a probability (exit 2)', async () => {
    const r = await run(['cluster', tmp, '--accept', '1.5']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--accept must be a probability between 0 and 1/);
  });

  it('rejects --cache with --no-cache, and a --concurrency below 1 (exit 2)', async () => {
    const both = await run(['cluster', tmp, '--cache', cacheDir, '--no-cache']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--cache and --no-cache exclude each other/);
    const none = await run(['cluster', tmp, '--concurrency', '0']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--concurrency must be between 1 and 64/);
  });

  it('rejects a --views count that has no calibration (exit 2)', async () => {
    const r = await run(['cluster', tmp, '--views', '2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--views/);
  });

  it('rejects bad --seeds before loading any descriptor (exit 2)', async () => {
    // An empty --data folder: a check that came after loading would fail differently.
    const backwards = await run(['cluster', '--eval', '--data', tmp, '--seeds', '5-2']);
    expect(backwards.code).toBe(2);
    expect(backwards.stderr).toMatch(/--seeds must look like 0-9/);
    const both = await run(['cluster', '--eval', '--data', tmp, '--seeds', '0-1', '--seed', '1']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--seeds and --seed cannot go together/);
    const tooMany = await run(['cluster', '--eval', '--data', tmp, '--seeds', '0-100']);
    expect(tooMany.code).toBe(2);
    expect(tooMany.stderr).toMatch(/at most 100 seeds/);
    // 100 seeds pass the flag check: the run then stops at the empty data folder instead.
    const hundred = await run(['cluster', '--eval', '--data', tmp, '--seeds', '0-99']);
    expect(hundred.stderr).not.toMatch(/--seeds/);
    expect(hundred.code).not.toBe(0);
  });

  it('refuses --second-look without --subject-check (exit 2)', async () => {
    const r = await run(['cluster', '--eval', '--data', tmp, '--second-look']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--second-look goes with --subject-check/);
  });

  it('refuses --cohort without --eval (exit 2): no cohort ships', async () => {
    const dir = path.join(tmp, 'cohort-photos');
    mkdirSync(dir, { recursive: true });
    const r = await run(['cluster', dir, '--cohort']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--cohort goes with --eval/);
  });
});

describe('listImages', () => {
  it('lists image files recursively, sorted, skipping hidden entries and other files', () => {
    const dir = path.join(tmp, 'tree');
    mkdirSync(path.join(dir, 'b', '.hidden'), { recursive: true });
    for (const f of ['b/2.JPG', 'a.png', 'b/.hidden/x.jpg', 'b/.y.jpg', 'c.txt', 'b/1.webp'])
      writeFileSync(path.join(dir, f), '');
    expect(listImages(dir)).toEqual(['a.png', 'b/1.webp', 'b/2.JPG']);
  });

  it('follows links to photos like fedex extract does, and lists the same photos as its scan', async () => {
    // Prepare: photos kept elsewhere, linked into a person folder; a dangling link; a linked folder
    const store = path.join(tmp, 'store');
    const dir = path.join(tmp, 'linked');
    mkdirSync(store, { recursive: true });
    mkdirSync(path.join(dir, 'ann'), { recursive: true });
    for (const f of ['1.jpg', '2.HEIC', '3.avif']) writeFileSync(path.join(store, f), '');
    for (const f of ['1.jpg', '2.HEIC', '3.avif']) symlinkSync(path.join(store, f), path.join(dir, 'ann', f));
    symlinkSync(path.join(store, 'missing.jpg'), path.join(dir, 'ann', 'gone.jpg'));
    symlinkSync(store, path.join(dir, 'ann', 'folder.jpg'));

    // Execute
    const clustered = listImages(dir);
    const extracted = (await scanDatasetDir(dir)).people.flatMap((p) => p.files);

    // Assert
    expect(clustered).toEqual(['ann/1.jpg', 'ann/2.HEIC', 'ann/3.avif']);
    expect(extracted).toEqual(clustered);
  });
});

describeWithData('bbt_faceapi_demo', (bbt) => {
  it('answers one person for a single face, with groups JSON and a contact sheet', async () => {
    // Prepare
    const dir = path.join(tmp, 'single');
    const out = path.join(tmp, 'single-out');
    mkdirSync(dir);
    copyFileSync(path.join(bbt, 'penny', 'penny1.png'), path.join(dir, 'penny1.png'));
    // Execute
    const r = await run(['cluster', dir, '--out', out, '--json', '--cache', cacheDir]);
    // Assert
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as {
      people: number;
      faces: number;
      groups: Array<{ faces: Array<{ photo: string }> }>;
    };
    expect(report.people).toBe(1);
    expect(report.faces).toBe(1);
    expect((report as unknown as { views: number }).views).toBe(6);
    expect(report.groups[0].faces[0].photo).toBe('penny1.png');
    expect(JSON.parse(readFileSync(path.join(out, 'people.json'), 'utf8')).people).toBe(1);
    const html = readFileSync(path.join(out, 'contact-sheet.html'), 'utf8');
    expect(html.match(/<img src="data:image\/jpeg;base64,/g)).toHaveLength(1);
  });
});

interface Report {
  people: number;
  faces: number;
  groups: Array<{ faces: Array<{ photo: string; face: number }> }>;
  tooManyFaces: Array<{ photo: string; found: number; kept: number }>;
  extraction: { fromCache: number; extracted: number; workers: number; cache: string | null };
}

/** The groups as sorted lists of "photo#face", sorted: comparable across runs. */
const groupsOf = (r: Report): string[][] =>
  r.groups.map((g) => g.faces.map((f) => `${f.photo}#${f.face}`).sort()).sort();

describeWithData('bbt_faceapi_demo', (bbt) => {
  // Four photos of two people, in one flat folder.
  const dir = path.join(tmp, 'four');
  const photos = [
    ['penny', 'penny1.png'],
    ['penny', 'penny2.png'],
    ['raj', 'raj1.png'],
    ['raj', 'raj2.png'],
  ];
  const cache = path.join(tmp, 'cache-four');
  let first: Report;

  it('keeps the faces it found in the feature cache: a second run extracts nothing and groups the same', async () => {
    // Prepare
    mkdirSync(dir, { recursive: true });
    for (const [who, file] of photos) copyFileSync(path.join(bbt, who, file), path.join(dir, file));
    const args = ['cluster', dir, '--out', path.join(tmp, 'four-out'), '--json', '--cache', cache];
    // Execute
    const cold = await run([...args, '--concurrency', '1']);
    const warm = await run([...args, '--concurrency', '1']);
    // Assert
    expect(cold.code).toBe(0);
    expect(warm.code).toBe(0);
    first = JSON.parse(cold.stdout) as Report;
    const second = JSON.parse(warm.stdout) as Report;
    expect(first.extraction).toMatchObject({ fromCache: 0, extracted: 4, workers: 0 });
    expect(second.extraction).toMatchObject({ fromCache: 4, extracted: 0, workers: 0 });
    expect(first.extraction.cache).toBe(second.extraction.cache);
    expect(path.dirname(first.extraction.cache!)).toBe(cache);
    expect(first.faces).toBe(4);
    expect(second.people).toBe(first.people);
    expect(groupsOf(second)).toEqual(groupsOf(first));
    // The thumbnails are cut again from the photos on the cached run.
    const html = readFileSync(path.join(tmp, 'four-out', 'contact-sheet.html'), 'utf8');
    expect(html.match(/<img src="data:image\/jpeg;base64,/g)).toHaveLength(4);
  });

  it('finds the same people on two worker threads, and with --no-cache writes no cache', async () => {
    // Prepare: the default cache folder points at an empty folder, which must stay empty.
    const defaultCache = path.join(tmp, 'default-cache');
    const saved = process.env.FEDEX_CACHE_DIR;
    process.env.FEDEX_CACHE_DIR = defaultCache;
    let r;
    try {
      // Execute
      r = await run([
        'cluster',
        dir,
        '--out',
        path.join(tmp, 'four-out-2'),
        '--json',
        '--no-cache',
        '--concurrency',
        '2',
      ]);
    } finally {
      if (saved === undefined) delete process.env.FEDEX_CACHE_DIR;
      else process.env.FEDEX_CACHE_DIR = saved;
    }
    // Assert
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.extraction).toMatchObject({ fromCache: 0, extracted: 4, workers: 2, cache: null });
    expect(existsSync(defaultCache) ? readdirSync(defaultCache) : []).toEqual([]);
    expect(report.people).toBe(first.people);
    expect(groupsOf(report)).toEqual(groupsOf(first));
  });

  it('keeps the FACE_LIST_MAX most confident faces of a crowded photo and says so', async () => {
    // Prepare: 20 bbt faces on one grey picture, each with a border the detector needs.
    const crowd = path.join(tmp, 'crowd');
    mkdirSync(crowd);
    const files = readdirSync(bbt, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .flatMap((d) => readdirSync(path.join(bbt, d.name)).map((f) => path.join(bbt, d.name, f)))
      .filter((f) => f.endsWith('.png'))
      .sort()
      .slice(0, 20);
    expect(files).toHaveLength(20);
    await sharp({
      create: { width: 100 + 5 * 250, height: 100 + 4 * 250, channels: 3, background: '#808080' },
    })
      .composite(
        files.map((input, i) => ({ input, left: 100 + (i % 5) * 250, top: 100 + Math.floor(i / 5) * 250 })),
      )
      .jpeg()
      .toFile(path.join(crowd, 'crowd.jpg'));
    const out = path.join(tmp, 'crowd-out');
    // Execute
    const r = await run([
      'cluster',
      crowd,
      '--out',
      out,
      '--json',
      '--views',
      '1',
      '--no-cache',
      '--concurrency',
      '1',
    ]);
    // Assert
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.faces).toBe(16);
    expect(report.tooManyFaces).toEqual([{ photo: 'crowd.jpg', found: 20, kept: 16 }]);
    expect(readFileSync(path.join(out, 'contact-sheet.html'), 'utf8')).toMatch(
      /crowd.jpg: 20 faces, 16 kept \(the main face and the most confident others\)/,
    );
  });
});
