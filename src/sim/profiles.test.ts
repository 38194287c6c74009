import { describe, expect, it } from 'vitest';
import { deviceProfile, drawProfiles, mergeCatalog, profileNames, PROFILES } from './profiles.js';

describe('profiles.json', () => {
  it('documents a source for every number of every preset', () => {
    for (const group of [PROFILES.phones, PROFILES.networks]) {
      for (const [name, fields] of Object.entries(group)) {
        for (const [field, v] of Object.entries(
          fields as Record<string, { value: number; source: string }>,
        )) {
          expect(Number.isFinite(v.value), `${name}.${field}`).toBe(true);
          expect(v.source.length, `${name}.${field} source`).toBeGreaterThan(10);
        }
      }
    }
    expect(Object.keys(PROFILES.phones)).toEqual(['low-end', 'mid-range', 'high-end']);
    expect(Object.keys(PROFILES.networks).sort()).toEqual(['lte', 'wifi']);
  });
});

describe('deviceProfile', () => {
  it('converts the JSON units to SI', () => {
    const p = deviceProfile('mid-range', 'lte');
    expect(p.name).toBe('mid-range/lte');
    expect(p.flopsPerS).toBe(8e9);
    expect(p.joulesPerFlop).toBeCloseTo(1e-10, 20);
    expect(p.uplinkBitsPerS).toBeCloseTo(5.6e6, 3);
    expect(p.rttS).toBeCloseTo(0.07, 12);
    expect(p.uplinkJoulesPerBit).toBeCloseTo(0.438e-6, 15);
    expect(p.tailS).toBe(11.576);
  });

  it('names the known phones and networks when one is unknown', () => {
    expect(() => deviceProfile('toaster', 'lte')).toThrow(/unknown phone "toaster".*mid-range/);
    expect(() => deviceProfile('mid-range', '5g')).toThrow(/unknown network "5g".*lte/);
  });
});

describe('drawProfiles', () => {
  it('gives every device the same profile for a phone/network name', () => {
    const ps = drawProfiles('low-end/wifi', 5, 1);
    expect(new Set(ps.map((p) => p.name))).toEqual(new Set(['low-end/wifi']));
    expect(ps).toHaveLength(5);
  });

  it('draws a mixed fleet near its shares, the same for the same seed', () => {
    // Execute
    const a = drawProfiles('mixed', 4000, 7);
    const b = drawProfiles('mixed', 4000, 7);
    const c = drawProfiles('mixed', 4000, 8);

    // Assert: shares 30/50/20 and 60/40 within sampling error; rates spread around the tier's.
    const share = (f: (n: string) => boolean) => a.filter((p) => f(p.name)).length / a.length;
    expect(share((n) => n.startsWith('low-end/'))).toBeCloseTo(0.3, 1);
    expect(share((n) => n.startsWith('mid-range/'))).toBeCloseTo(0.5, 1);
    expect(share((n) => n.endsWith('/lte'))).toBeCloseTo(0.4, 1);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const mids = a.filter((p) => p.name.startsWith('mid-range/')).map((p) => Math.log(p.flopsPerS / 8e9));
    const mean = mids.reduce((x, y) => x + y, 0) / mids.length;
    const sd = Math.sqrt(mids.reduce((x, y) => x + (y - mean) ** 2, 0) / mids.length);
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(sd).toBeCloseTo(0.3, 1);
  });

  it('refuses unknown names with the list of known ones', () => {
    expect(() => drawProfiles('nope', 3, 1)).toThrow(/unknown profile "nope".*mid-range\/lte.*mixed/);
    expect(profileNames()).toContain('high-end/wifi');
  });
});

describe('mergeCatalog', () => {
  it('overrides one field and keeps the rest', () => {
    const cat = mergeCatalog({ networks: { lte: { uplinkMbps: 2 } } });
    const p = deviceProfile('mid-range', 'lte', cat);
    expect(p.uplinkBitsPerS).toBe(2e6);
    expect(p.downlinkBitsPerS).toBeCloseTo(12.7e6, 3);
    expect(PROFILES.networks.lte.uplinkMbps.value).toBe(5.6); // the bundled catalog is untouched
  });

  it('refuses an override that makes a rate non-positive', () => {
    const cat = mergeCatalog({ phones: { 'mid-range': { computeGflops: 0 } } });
    expect(() => deviceProfile('mid-range', 'lte', cat)).toThrow(/computeGflops must be a positive/);
  });
});
