import { describe, expect, it } from 'vitest';

import { isFedexError } from '../core/errors.js';
import { loadExtractorSource, sourceVariant } from './extractor-source.js';
import { FAKE_SPEC } from './testing/fake-extractor.js';

const FAKE_MODULE = new URL('./testing/fake-extractor.ts', import.meta.url).href;

describe('sourceVariant', () => {
  it('is the same for implicit and spelled-out defaults and ignores where face models come from', () => {
    const implicit = sourceVariant({ kind: 'face' });

    expect(implicit).toContain('"detector":"ssd"');
    expect(sourceVariant({ kind: 'face', options: {} })).toBe(implicit);
    expect(sourceVariant({ kind: 'face', options: { detector: 'ssd', batchSize: 4 } })).toBe(implicit);
    expect(sourceVariant({ kind: 'face', options: { modelDir: '/models', modelUrl: 'http://x' } })).toBe(
      implicit,
    );
  });

  it('names settings that change features, independent of key order', () => {
    const a = sourceVariant({ kind: 'module', url: 'x', options: { b: 1, a: { d: 2, c: [1, 2] } } });
    const b = sourceVariant({ kind: 'module', url: 'x', options: { a: { c: [1, 2], d: 2 }, b: 1 } });

    expect(a).toBe('{"a":{"c":[1,2],"d":2},"b":1}');
    expect(b).toBe(a);
    const tiny = sourceVariant({ kind: 'face', options: { detector: 'tiny' } });
    expect(tiny).toContain('"detector":"tiny"');
    expect(tiny).not.toBe(sourceVariant({ kind: 'face' }));
  });

  it('keeps the cache file of plain descriptors and gives averaged views their own', () => {
    const plain = sourceVariant({ kind: 'face' });

    expect(plain).not.toContain('descriptorViews');
    expect(sourceVariant({ kind: 'face', options: { descriptorViews: 1 } })).toBe(plain);
    const six = sourceVariant({ kind: 'face', options: { descriptorViews: 6 } });
    expect(six).toContain('"descriptorViews":6');
    expect(sourceVariant({ kind: 'face', options: { descriptorViews: 2 } })).not.toBe(six);
  });

  it('keeps the cache file of unmasked faces; each mask seed gets its own', () => {
    const plain = sourceVariant({ kind: 'face' });

    expect(plain).not.toContain('mask');
    expect(sourceVariant({ kind: 'face', options: { mask: 'none', maskSeed: 5 } })).toBe(plain);
    const masked = sourceVariant({ kind: 'face', options: { mask: 'synthetic' } });
    expect(masked).toContain('"mask":"synthetic","maskSeed":0');
    expect(sourceVariant({ kind: 'face', options: { mask: 'synthetic', maskSeed: 1 } })).not.toBe(masked);
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
