import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { isFedexError } from '../core/errors.js';
import type { FeatureSpec } from '../core/types.js';
import { cacheFileFor, defaultCacheDir, hashBytes, openFeatureCache } from './feature-cache.js';

const SPEC: FeatureSpec = { backboneId: 'test-net', backboneVersion: '1.0', split: 'embedding', shape: [4] };
const RECORD_BYTES = 36 + 4 * 4 + 4;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'fedex-cache-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const h = (s: string): string => hashBytes(Buffer.from(s));

describe('openFeatureCache', () => {
  it('returns features and "no face" results after a close and reopen', () => {
    // Prepare
    const cache = openFeatureCache(SPEC, { dir });
    cache.put(h('a'), Float32Array.of(1, 2, 3, 4.5));
    cache.put(h('b'), null);
    cache.close();

    // Execute
    const again = openFeatureCache(SPEC, { dir });

    // Assert
    expect(again.size).toBe(2);
    expect(again.get(h('a'))).toEqual({ status: 'face', features: Float32Array.of(1, 2, 3, 4.5) });
    expect(again.get(h('b'))).toEqual({ status: 'noFace' });
    expect(again.get(h('c'))).toBeUndefined();
    expect(again.recovered).toEqual({ truncatedBytes: 0, skippedRecords: 0 });
    again.close();
  });

  it('answers from pending records before they are flushed', () => {
    const cache = openFeatureCache(SPEC, { dir, flushEvery: 1000, flushIntervalMs: 1e9 });

    cache.put(h('a'), Float32Array.of(1, 1, 1, 1));

    expect(cache.get(h('a'))).toEqual({ status: 'face', features: Float32Array.of(1, 1, 1, 1) });
    cache.close();
  });

  it('writes in batches: records reach the file every flushEvery puts', () => {
    // Prepare
    const cache = openFeatureCache(SPEC, { dir, flushEvery: 3, flushIntervalMs: 1e9 });
    const header = statSync(cache.file).size;

    // Execute
    cache.put(h('1'), Float32Array.of(1, 0, 0, 0));
    cache.put(h('2'), Float32Array.of(2, 0, 0, 0));
    const beforeBatch = statSync(cache.file).size;
    cache.put(h('3'), Float32Array.of(3, 0, 0, 0));
    const afterBatch = statSync(cache.file).size;

    // Assert
    expect(beforeBatch).toBe(header);
    expect(afterBatch).toBe(header + 3 * RECORD_BYTES);
    cache.close();
  });

  it('keeps one file per spec key, so another split does not see these features', () => {
    const a = openFeatureCache(SPEC, { dir });
    a.put(h('x'), Float32Array.of(1, 2, 3, 4));
    a.close();

    const b = openFeatureCache({ ...SPEC, split: 'conv3' }, { dir });

    expect(b.file).not.toBe(a.file);
    expect(b.get(h('x'))).toBeUndefined();
    b.close();
  });

  it('ignores and truncates a torn tail record left by a crash', () => {
    // Prepare: two good records, then half of a third.
    const cache = openFeatureCache(SPEC, { dir });
    cache.put(h('a'), Float32Array.of(1, 2, 3, 4));
    cache.put(h('b'), Float32Array.of(5, 6, 7, 8));
    cache.put(h('c'), Float32Array.of(9, 9, 9, 9));
    cache.close();
    const full = statSync(cache.file).size;
    truncateSync(cache.file, full - RECORD_BYTES / 2);

    // Execute
    const again = openFeatureCache(SPEC, { dir });

    // Assert
    expect(again.size).toBe(2);
    expect(again.has(h('c'))).toBe(false);
    expect(again.recovered.truncatedBytes).toBe(RECORD_BYTES / 2);
    expect(statSync(again.file).size).toBe(full - RECORD_BYTES);
    // New records append cleanly after the cut.
    again.put(h('c'), Float32Array.of(1, 1, 1, 1));
    again.close();
    const third = openFeatureCache(SPEC, { dir });
    expect(third.get(h('c'))).toEqual({ status: 'face', features: Float32Array.of(1, 1, 1, 1) });
    expect(third.get(h('b'))).toEqual({ status: 'face', features: Float32Array.of(5, 6, 7, 8) });
    third.close();
  });

  it('truncates a zero-filled tail (a crash after the file grew but before data landed)', () => {
    const cache = openFeatureCache(SPEC, { dir });
    cache.put(h('a'), Float32Array.of(1, 2, 3, 4));
    cache.close();
    appendFileSync(cache.file, Buffer.alloc(2 * RECORD_BYTES));

    const again = openFeatureCache(SPEC, { dir });

    expect(again.size).toBe(1);
    expect(again.recovered.truncatedBytes).toBe(2 * RECORD_BYTES);
    again.close();
  });

  it('skips a corrupted record in the middle and keeps the ones after it', () => {
    // Prepare: flip one feature byte of the first record.
    const cache = openFeatureCache(SPEC, { dir });
    cache.put(h('a'), Float32Array.of(1, 2, 3, 4));
    cache.put(h('b'), Float32Array.of(5, 6, 7, 8));
    cache.close();
    const bytes = readFileSync(cache.file);
    const firstRecord = bytes.length - 2 * RECORD_BYTES;
    bytes[firstRecord + 40] ^= 0xff;
    writeFileSync(cache.file, bytes);

    // Execute
    const again = openFeatureCache(SPEC, { dir });

    // Assert
    expect(again.has(h('a'))).toBe(false);
    expect(again.get(h('b'))).toEqual({ status: 'face', features: Float32Array.of(5, 6, 7, 8) });
    expect(again.recovered).toEqual({ truncatedBytes: 0, skippedRecords: 1 });
    again.close();
  });

  it('fails with DATASET_BAD_CACHE when the file holds another shape under the same key', () => {
    const cache = openFeatureCache(SPEC, { dir });
    cache.close();

    let error: unknown;
    try {
      openFeatureCache({ ...SPEC, shape: [8] }, { dir });
    } catch (e) {
      error = e;
    }

    expect(isFedexError(error, 'DATASET_BAD_CACHE')).toBe(true);
    expect((error as Error).message).toContain(cache.file);
    expect((error as Error).message).toContain('dim 4');
    expect((error as Error).message).toContain('delete the file');
  });

  it('fails with DATASET_BAD_CACHE for a file that is not a cache', () => {
    const file = cacheFileFor(dir, SPEC);
    writeFileSync(file, 'hello, I am not a cache at all');

    expect(() => openFeatureCache(SPEC, { dir })).toThrow(/bad magic/);
  });

  it('rejects a feature of the wrong length with FEATURE_MISMATCH', () => {
    const cache = openFeatureCache(SPEC, { dir });

    let error: unknown;
    try {
      cache.put(h('a'), Float32Array.of(1, 2));
    } catch (e) {
      error = e;
    }

    expect(isFedexError(error, 'FEATURE_MISMATCH')).toBe(true);
    cache.close();
  });

  it('defaults to FEDEX_CACHE_DIR, else .cache/features under the working directory', () => {
    const saved = process.env.FEDEX_CACHE_DIR;
    try {
      process.env.FEDEX_CACHE_DIR = dir;
      expect(defaultCacheDir()).toBe(path.resolve(dir));
      delete process.env.FEDEX_CACHE_DIR;
      expect(defaultCacheDir()).toBe(path.join(process.cwd(), '.cache', 'features'));
    } finally {
      if (saved === undefined) delete process.env.FEDEX_CACHE_DIR;
      else process.env.FEDEX_CACHE_DIR = saved;
    }
  });

  it('opens read-only while another live process holds the writer lock, and writes nothing', () => {
    // Prepare: a cache with one record, and a lock held by a live process (our parent).
    const first = openFeatureCache(SPEC, { dir });
    first.put(h('a'), Float32Array.of(1, 2, 3, 4));
    first.close();
    writeFileSync(`${first.file}.lock`, String(process.ppid));
    const sizeBefore = statSync(first.file).size;

    // Execute
    const cache = openFeatureCache(SPEC, { dir, flushEvery: 1 });
    cache.put(h('b'), Float32Array.of(5, 6, 7, 8));
    const served = cache.get(h('a'));
    cache.close();

    // Assert
    expect(cache.readOnly).toBe(true);
    expect(cache.lockedBy).toBe(process.ppid);
    expect(served).toEqual({ status: 'face', features: Float32Array.of(1, 2, 3, 4) });
    expect(statSync(first.file).size).toBe(sizeBefore);
    expect(readFileSync(`${first.file}.lock`, 'utf8')).toBe(String(process.ppid));
  });

  it('serves pending results in memory when read-only', () => {
    const owner = openFeatureCache(SPEC, { dir });

    const second = openFeatureCache(SPEC, { dir });
    second.put(h('x'), Float32Array.of(1, 1, 2, 2));

    expect(owner.readOnly).toBe(false);
    expect(second.readOnly).toBe(true);
    expect(second.get(h('x'))).toEqual({ status: 'face', features: Float32Array.of(1, 1, 2, 2) });
    second.close();
    owner.close();
  });

  it('takes over a lock left by a process that no longer exists', () => {
    const file = cacheFileFor(dir, SPEC);
    writeFileSync(`${file}.lock`, '999999999');

    const cache = openFeatureCache(SPEC, { dir });

    expect(cache.readOnly).toBe(false);
    expect(readFileSync(`${file}.lock`, 'utf8')).toBe(String(process.pid));
    cache.close();
    expect(existsSync(`${file}.lock`)).toBe(false);
  });

  it('does not truncate a torn tail when read-only (it may be the owner writing)', () => {
    const owner = openFeatureCache(SPEC, { dir });
    owner.put(h('a'), Float32Array.of(1, 2, 3, 4));
    owner.flush();
    appendFileSync(owner.file, Buffer.alloc(RECORD_BYTES / 2, 7));
    const size = statSync(owner.file).size;

    const reader = openFeatureCache(SPEC, { dir });

    expect(reader.readOnly).toBe(true);
    expect(reader.get(h('a'))).toEqual({ status: 'face', features: Float32Array.of(1, 2, 3, 4) });
    expect(statSync(owner.file).size).toBe(size);
    reader.close();
    owner.close();
  });

  it('keeps each variant in its own file', () => {
    const ssd = openFeatureCache(SPEC, { dir, variant: '{"detector":"ssd"}' });
    ssd.put(h('a'), Float32Array.of(1, 2, 3, 4));
    ssd.close();

    const tiny = openFeatureCache(SPEC, { dir, variant: '{"detector":"tiny"}' });
    const plain = openFeatureCache(SPEC, { dir });

    expect(tiny.file).not.toBe(ssd.file);
    expect(plain.file).toBe(cacheFileFor(dir, SPEC));
    expect(tiny.has(h('a'))).toBe(false);
    expect(plain.has(h('a'))).toBe(false);
    tiny.close();
    plain.close();
  });
});
