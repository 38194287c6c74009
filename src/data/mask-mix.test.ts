import { describe, expect, it } from 'vitest';
import { isFedexError } from '../core/errors.js';
import { isMasked, MASK_MODES, mixRows, parseMaskMode } from './mask-mix.js';

describe('mask modes', () => {
  it('parses the four modes and rejects anything else with the list', () => {
    for (const m of MASK_MODES) expect(parseMaskMode(m)).toBe(m);
    try {
      parseMaskMode('half');
      expect.unreachable();
    } catch (e) {
      expect(isFedexError(e) && e.code).toBe('BAD_ARGUMENT');
      expect((e as Error).message).toContain('none, all, probe, mixed');
    }
  });

  it('masks nothing, everything, only probes, or about half of every role by photo id', () => {
    const ids = Array.from({ length: 400 }, (_, i) => `p${i}.jpg`);
    for (const role of ['gallery', 'probe'] as const) {
      expect(ids.some((id) => isMasked('none', role, id))).toBe(false);
      expect(ids.every((id) => isMasked('all', role, id))).toBe(true);
      expect(ids.every((id) => isMasked('probe', role, id) === (role === 'probe'))).toBe(true);
      const half = ids.filter((id) => isMasked('mixed', role, id, 3)).length;
      expect(half).toBeGreaterThan(160);
      expect(half).toBeLessThan(240);
    }
    // Mixed: a photo is masked or not whatever its role; another seed draws other photos.
    expect(ids.map((id) => isMasked('mixed', 'gallery', id, 3))).toEqual(
      ids.map((id) => isMasked('mixed', 'probe', id, 3)),
    );
    expect(ids.map((id) => isMasked('mixed', 'gallery', id, 4))).not.toEqual(
      ids.map((id) => isMasked('mixed', 'gallery', id, 3)),
    );
  });

  it('takes each row from the plain or the masked matrix', () => {
    // 3 samples of 2 values: plain rows are 0s, 1s, 2s; masked rows are 10s, 11s, 12s.
    const plain = Float32Array.of(0, 0, 1, 1, 2, 2);
    const masked = Float32Array.of(10, 10, 11, 11, 12, 12);
    const ids = ['a', 'b', 'c'];
    expect(Array.from(mixRows(plain, masked, 2, [2, 0], ids, 'none', 'probe'))).toEqual([2, 2, 0, 0]);
    expect(Array.from(mixRows(plain, masked, 2, [2, 0], ids, 'all', 'gallery'))).toEqual([12, 12, 10, 10]);
    expect(Array.from(mixRows(plain, masked, 2, [1], ids, 'probe', 'gallery'))).toEqual([1, 1]);
    expect(Array.from(mixRows(plain, masked, 2, [1], ids, 'probe', 'probe'))).toEqual([11, 11]);
    expect(() => mixRows(plain, undefined, 2, [1], ids, 'all', 'probe')).toThrow(/masked features/);
  });
});
