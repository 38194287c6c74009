import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { isFedexError } from '../core/errors.js';
import { liveExtractionWorkers } from './extract-pool.js';
import { openFeatureCache } from './feature-cache.js';
import {
  extractDataset,
  toFeatureBatch,
  type ExtractDatasetOptions,
  type ExtractProgressInfo,
} from './extract.js';
import type { ExtractorSource } from './extractor-source.js';
import {
  createFakeExtractor,
  FAKE_SPEC,
  readImage,
  writeSolidImage,
  type FakeExtractorOptions,
} from './testing/fake-extractor.js';

let root: string;
let dataDir: string;
let cacheDir: string;

beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'fedex-extract-'));
  dataDir = path.join(root, 'ds');
  cacheDir = path.join(root, 'cache');
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Colour of photo `i` of a person: distinct per photo so features are distinct. */
const colour = (base: [number, number, number], i: number): [number, number, number] => [
  base[0],
  base[1] + 10 * i,
  base[2],
];

/** Writes people folders of solid-colour photos. */
async function makeDataset(
  people: Record<string, { base: [number, number, number]; photos: number }>,
): Promise<void> {
  for (const [name, { base, photos }] of Object.entries(people)) {
    mkdirSync(path.join(dataDir, name), { recursive: true });
    for (let i = 0; i < photos; i++)
      await writeSolidImage(path.join(dataDir, name, `${name}${i}.png`), colour(base, i));
  }
  writeFileSync(path.join(dataDir, 'README.md'), 'not a person');
}

const FAKE_MODULE = new URL('./testing/fake-extractor.ts', import.meta.url).href;
const fakeSource = (options: FakeExtractorOptions = {}): ExtractorSource => ({
  kind: 'module',
  url: FAKE_MODULE,
  readImageExport: 'readImage',
  options,
});

function inProcess(extra: Partial<ExtractDatasetOptions> = {}): ExtractDatasetOptions {
  return { dir: dataDir, readImage, cache: { dir: cacheDir }, ...extra };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('extractDataset in-process', () => {
  it('returns one feature row per photo with a face, labelled by person, in dataset order', async () => {
    // Prepare
    await makeDataset({ bob: { base: [10, 20, 200], photos: 2 }, ann: { base: [200, 20, 10], photos: 3 } });
    const extractor = createFakeExtractor();

    // Execute
    const set = await extractDataset(inProcess({ extractor }));

    // Assert
    expect(set.spec).toEqual(FAKE_SPEC);
    expect(set.people).toEqual(['ann', 'bob']);
    expect(set.samples.map((s) => [s.id, s.label])).toEqual([
      ['ann/ann0.png', 0],
      ['ann/ann1.png', 0],
      ['ann/ann2.png', 0],
      ['bob/bob0.png', 1],
      ['bob/bob1.png', 1],
    ]);
    expect(set.samples[0].hash).toMatch(/^[0-9a-f]{64}$/);
    expect(set.features).toHaveLength(5 * 3);
    // ann1 is rgb (200, 30, 10): its mean colour is its feature.
    expect(Array.from(set.features.subarray(3, 6))).toEqual(
      [200 / 255, 30 / 255, 10 / 255].map((v) => Math.fround(v)),
    );
    expect(set.stats).toMatchObject({
      photos: 5,
      fromCache: 0,
      extracted: 5,
      noFace: [],
      unreadable: [],
      workers: 0,
    });
    expect(extractor.calls).toBe(5);
  });

  it('answers a second run from the cache without calling the extractor', async () => {
    // Prepare
    await makeDataset({ ann: { base: [200, 20, 10], photos: 3 }, bob: { base: [10, 20, 200], photos: 2 } });
    const first = await extractDataset(inProcess({ extractor: createFakeExtractor() }));
    const extractor = createFakeExtractor();

    // Execute
    const second = await extractDataset(inProcess({ extractor }));

    // Assert
    expect(extractor.calls).toBe(0);
    expect(second.stats.fromCache).toBe(5);
    expect(second.stats.extracted).toBe(0);
    expect(second.features).toEqual(first.features);
    expect(second.samples).toEqual(first.samples);
  });

  it('counts and skips an unreadable photo without aborting the run', async () => {
    // Prepare: garbage bytes behind a .jpg name.
    await makeDataset({ ann: { base: [200, 20, 10], photos: 2 } });
    writeFileSync(path.join(dataDir, 'ann', 'broken.jpg'), 'this is not a jpeg');
    const extractor = createFakeExtractor();

    // Execute
    const set = await extractDataset(inProcess({ extractor }));

    // Assert
    expect(set.samples.map((s) => s.id)).toEqual(['ann/ann0.png', 'ann/ann1.png']);
    expect(set.stats.photos).toBe(3);
    expect(set.stats.unreadable).toHaveLength(1);
    expect(set.stats.unreadable[0].file).toBe('ann/broken.jpg');
    expect(set.stats.unreadable[0].error).toMatch(/decode/);
  });

  it('skips an unreadable photo with the production image reader too', async () => {
    await makeDataset({ ann: { base: [200, 20, 10], photos: 1 } });
    writeFileSync(path.join(dataDir, 'ann', 'broken.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0x00, 1, 2, 3]));

    const set = await extractDataset({ dir: dataDir, extractor: createFakeExtractor(), cache: false });

    expect(set.samples).toHaveLength(1);
    expect(set.stats.unreadable.map((u) => u.file)).toEqual(['ann/broken.jpg']);
  });

  it('remembers "no face" in the cache and lists those photos', async () => {
    // Prepare: a black photo has no face for the fake extractor.
    await makeDataset({ ann: { base: [200, 20, 10], photos: 2 } });
    await writeSolidImage(path.join(dataDir, 'ann', 'dark.png'), [0, 0, 0]);
    await extractDataset(inProcess({ extractor: createFakeExtractor() }));
    const extractor = createFakeExtractor();

    // Execute
    const second = await extractDataset(inProcess({ extractor }));

    // Assert
    expect(extractor.calls).toBe(0);
    expect(second.stats.noFace).toEqual(['ann/dark.png']);
    expect(second.stats.fromCache).toBe(3);
    expect(second.samples).toHaveLength(2);
  });

  it('still extracts, without saving, while another run holds the cache', async () => {
    // Prepare: an open cache of the same spec and directory plays the other run.
    await makeDataset({ ann: { base: [200, 20, 10], photos: 2 } });
    const other = openFeatureCache(FAKE_SPEC, { dir: cacheDir });

    // Execute
    const set = await extractDataset(inProcess({ extractor: createFakeExtractor() }));
    other.close();
    const after = await extractDataset(inProcess({ extractor: createFakeExtractor() }));

    // Assert
    expect(set.samples).toHaveLength(2);
    expect(set.stats.cache?.readOnly).toBe(true);
    expect(after.stats.cache?.readOnly).toBe(false);
    expect(after.stats.extracted).toBe(2);
  });

  it('extracts a photo present twice (same bytes) once and keeps both samples', async () => {
    await makeDataset({ ann: { base: [200, 20, 10], photos: 1 }, bob: { base: [10, 20, 200], photos: 1 } });
    copyFileSync(path.join(dataDir, 'ann', 'ann0.png'), path.join(dataDir, 'bob', 'copy.png'));
    const extractor = createFakeExtractor();

    const set = await extractDataset(inProcess({ extractor }));

    expect(extractor.calls).toBe(2);
    expect(set.samples.map((s) => s.id)).toEqual(['ann/ann0.png', 'bob/bob0.png', 'bob/copy.png']);
    expect(set.samples[0].hash).toBe(set.samples[2].hash);
  });

  it('reports progress once per photo up to the total', async () => {
    await makeDataset({ ann: { base: [200, 20, 10], photos: 3 } });
    writeFileSync(path.join(dataDir, 'ann', 'broken.jpg'), 'x');
    const calls: Array<[number, number, ExtractProgressInfo]> = [];

    await extractDataset(
      inProcess({ extractor: createFakeExtractor(), onProgress: (d, t, info) => calls.push([d, t, info]) }),
    );

    expect(calls.map(([d]) => d)).toEqual([1, 2, 3, 4]);
    expect(calls.every(([, t]) => t === 4)).toBe(true);
    expect(calls.map(([, , i]) => i.outcome).sort()).toEqual(['face', 'face', 'face', 'unreadable']);
  });

  it('keeps what an interrupted run computed, so the rerun extracts only the rest', async () => {
    // Prepare: the extractor breaks on the reddish person (bob sorts after ann: ann is done first).
    await makeDataset({ ann: { base: [10, 20, 200], photos: 3 }, bob: { base: [250, 20, 10], photos: 2 } });
    const broken = createFakeExtractor({ failAboveRed: 0.9 });
    const error = await rejection(extractDataset(inProcess({ extractor: broken })));
    const extractor = createFakeExtractor();

    // Execute
    const rerun = await extractDataset(inProcess({ extractor }));

    // Assert
    expect(isFedexError(error)).toBe(false); // the extractor's own error passes through in-process
    expect((error as Error).message).toBe('fake extractor broke');
    expect(rerun.stats.fromCache).toBe(3);
    expect(extractor.calls).toBe(2);
  });

  it('skips building any extractor when the spec is given and every photo is cached', async () => {
    await makeDataset({ ann: { base: [200, 20, 10], photos: 2 } });
    await extractDataset(inProcess({ extractor: createFakeExtractor() }));

    // A source whose extractor cannot be built; the variant is pinned to the first run's.
    const set = await extractDataset(
      inProcess({
        source: fakeSource({ failCreate: true }),
        concurrency: 1,
        spec: FAKE_SPEC,
        cache: { dir: cacheDir, variant: '' },
      }),
    );

    expect(set.stats.fromCache).toBe(2);
  });

  it('rejects features of the wrong length with FEATURE_MISMATCH', async () => {
    await makeDataset({ ann: { base: [200, 20, 10], photos: 1 } });
    const liar = { ...createFakeExtractor(), spec: { ...FAKE_SPEC, shape: [4] } };

    const error = await rejection(extractDataset(inProcess({ extractor: liar })));

    expect(isFedexError(error, 'FEATURE_MISMATCH')).toBe(true);
  });

  it('refuses a readImage function when workers would run', async () => {
    await makeDataset({ ann: { base: [200, 20, 10], photos: 1 } });

    const error = await rejection(extractDataset(inProcess({ source: fakeSource(), concurrency: 2 })));

    expect(isFedexError(error, 'BAD_ARGUMENT')).toBe(true);
  });

  it('converts the set to a FeatureBatch with the people as label names', async () => {
    await makeDataset({ ann: { base: [200, 20, 10], photos: 1 }, bob: { base: [10, 20, 200], photos: 1 } });
    const set = await extractDataset(inProcess({ extractor: createFakeExtractor() }));

    const batch = toFeatureBatch(set);

    expect(batch.sampleIds).toEqual(['ann/ann0.png', 'bob/bob0.png']);
    expect(Array.from(batch.labels)).toEqual([0, 1]);
    expect(batch.labelNames).toEqual(['ann', 'bob']);
    expect(batch.features).toBe(set.features);
    expect(batch.spec).toEqual(FAKE_SPEC);
  });
});

describe('extractDataset with worker threads', () => {
  it('shares the photos between two workers and matches the in-process result', async () => {
    // Prepare: a rendezvous makes each worker's first photo wait for the other worker's first.
    await makeDataset({
      ann: { base: [200, 20, 10], photos: 6 },
      bob: { base: [10, 20, 200], photos: 6 },
      cat: { base: [90, 20, 90], photos: 4 },
    });
    await writeSolidImage(path.join(dataDir, 'cat', 'dark.png'), [0, 0, 0]);
    writeFileSync(path.join(dataDir, 'cat', 'broken.jpg'), 'garbage');
    const reference = await extractDataset(inProcess({ extractor: createFakeExtractor(), cache: false }));

    // Execute
    const set = await extractDataset({
      dir: dataDir,
      source: fakeSource({ rendezvous: { buffer: new SharedArrayBuffer(4), parties: 2 } }),
      concurrency: 2,
      cache: { dir: cacheDir },
    });

    // Assert
    expect(set.stats.workers).toBe(2);
    expect(set.stats.perWorker).toHaveLength(2);
    expect(set.stats.perWorker.every((n) => n > 0)).toBe(true);
    expect(set.stats.perWorker[0] + set.stats.perWorker[1]).toBe(18);
    expect(set.samples).toEqual(reference.samples);
    expect(set.features).toEqual(reference.features);
    expect(set.stats.noFace).toEqual(['cat/dark.png']);
    expect(set.stats.unreadable.map((u) => u.file)).toEqual(['cat/broken.jpg']);
    expect(liveExtractionWorkers()).toBe(0);
  });

  it('answers a second pooled run from the cache', async () => {
    await makeDataset({ ann: { base: [200, 20, 10], photos: 3 }, bob: { base: [10, 20, 200], photos: 3 } });
    await extractDataset({ dir: dataDir, source: fakeSource(), concurrency: 2, cache: { dir: cacheDir } });

    const second = await extractDataset({
      dir: dataDir,
      source: fakeSource(),
      concurrency: 2,
      cache: { dir: cacheDir },
    });

    expect(second.stats.fromCache).toBe(6);
    expect(second.stats.extracted).toBe(0);
    expect(second.stats.workers).toBe(0);
  });

  it('does not serve features made with other extractor settings', async () => {
    await makeDataset({ ann: { base: [200, 20, 10], photos: 2 } });
    await extractDataset({ dir: dataDir, source: fakeSource(), concurrency: 2, cache: { dir: cacheDir } });

    const other = await extractDataset({
      dir: dataDir,
      source: fakeSource({ delayMs: 1 }),
      concurrency: 2,
      cache: { dir: cacheDir },
    });

    expect(other.stats.fromCache).toBe(0);
    expect(other.stats.extracted).toBe(2);
  });

  it('surfaces an extractor that cannot be built as a typed error and stops every worker', async () => {
    await makeDataset({ ann: { base: [200, 20, 10], photos: 2 } });

    const error = await rejection(
      extractDataset({
        dir: dataDir,
        source: fakeSource({ failCreate: true }),
        concurrency: 2,
        cache: { dir: cacheDir },
      }),
    );

    expect(isFedexError(error, 'FACE_MODEL_LOAD')).toBe(true);
    expect((error as Error).message).toContain('fake model refuses to load');
    expect(liveExtractionWorkers()).toBe(0);
  });

  it('surfaces an extractor error inside a worker as a typed error naming the photo', async () => {
    await makeDataset({ ann: { base: [250, 20, 10], photos: 2 } });

    const error = await rejection(
      extractDataset({
        dir: dataDir,
        source: fakeSource({ failAboveRed: 0.9 }),
        concurrency: 2,
        cache: { dir: cacheDir },
      }),
    );

    expect(isFedexError(error, 'INTERNAL')).toBe(true);
    expect((error as Error).message).toMatch(/ann\d\.png: fake extractor broke/);
    expect(liveExtractionWorkers()).toBe(0);
  });

  it('surfaces a worker that exits mid-run as a typed error', async () => {
    await makeDataset({ ann: { base: [200, 20, 10], photos: 2 } });

    const error = await rejection(
      extractDataset({
        dir: dataDir,
        source: fakeSource({ exitOnExtract: true }),
        concurrency: 2,
        cache: { dir: cacheDir },
      }),
    );

    expect(isFedexError(error, 'INTERNAL')).toBe(true);
    expect((error as Error).message).toContain('exited unexpectedly (exit code 3)');
    expect(liveExtractionWorkers()).toBe(0);
  });

  it('reports a module without the named factory as BAD_ARGUMENT', async () => {
    await makeDataset({ ann: { base: [200, 20, 10], photos: 1 } });

    const error = await rejection(
      extractDataset({
        dir: dataDir,
        source: { kind: 'module', url: FAKE_MODULE, exportName: 'nope', readImageExport: 'readImage' },
        concurrency: 2,
        cache: false,
      }),
    );

    expect(isFedexError(error, 'BAD_ARGUMENT')).toBe(true);
  });
});
