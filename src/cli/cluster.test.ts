import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
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
    const r = await run(['cluster', dir, '--quiet']);
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
    const r = await run(['cluster', dir, '--out', out, '--json']);
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
