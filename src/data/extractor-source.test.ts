import { describe, expect, it } from 'vitest';

import { isFedexError } from '../core/errors.js';
import { loadExtractorSource, sourceVariant } from './extractor-source.js';
import { FAKE_SPEC } from './testing/fake-extractor.js';

const FAKE_MODULE = new URL('./testing/fake-extractor.ts', import.meta.url).href;

describe('sourceVariant', () => {
  it('is empty for default settings and ignores where face models come from', () => {
    expect(sourceVariant({ kind: 'face' })).toBe('');
    expect(sourceVariant({ kind: 'face', options: {} })).toBe('');
    expect(sourceVariant({ kind: 'face', options: { modelDir: '/models', modelUrl: 'http://x' } })).toBe('');
  });

  it('names settings that change features, independent of key order', () => {
    const a = sourceVariant({ kind: 'module', url: 'x', options: { b: 1, a: { d: 2, c: [1, 2] } } });
    const b = sourceVariant({ kind: 'module', url: 'x', options: { a: { c: [1, 2], d: 2 }, b: 1 } });

    expect(a).toBe('{"a":{"c":[1,2],"d":2},"b":1}');
    expect(b).toBe(a);
    expect(sourceVariant({ kind: 'face', options: { detector: 'tiny' } })).toBe('{"detector":"tiny"}');
  });
});

describe('loadExtractorSource', () => {
  it('builds an extractor and a reader from a module', async () => {
    const { extractor, readImage } = await loadExtractorSource({
      kind: 'module',
      url: FAKE_MODULE,
      readImageExport: 'readImage',
    });

    expect(extractor.spec).toEqual(FAKE_SPEC);
    expect(typeof readImage).toBe('function');
  });

  it('keeps the code of a FedexError thrown by the factory', async () => {
    let error: unknown;
    try {
      await loadExtractorSource({ kind: 'module', url: FAKE_MODULE, options: { failCreate: true } });
    } catch (e) {
      error = e;
    }

    expect(isFedexError(error, 'FACE_MODEL_LOAD')).toBe(true);
  });

  it('wraps a module that cannot be imported as FACE_MODEL_LOAD', async () => {
    let error: unknown;
    try {
      await loadExtractorSource({ kind: 'module', url: '/nonexistent/extractor.ts' });
    } catch (e) {
      error = e;
    }

    expect(isFedexError(error, 'FACE_MODEL_LOAD')).toBe(true);
    expect((error as Error).message).toContain('/nonexistent/extractor.ts');
  });
});
