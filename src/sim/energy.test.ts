import { describe, expect, it } from 'vitest';
import { sessionCost, transferSeconds } from './energy.js';
import { deviceProfile } from './profiles.js';

const mid = deviceProfile('mid-range', 'lte');

describe('sessionCost', () => {
  it('prices compute then an upload on a mid-range phone on LTE by hand', () => {
    // Prepare: 1 GFLOP, then 1 MB up.
    // Execute
    const c = sessionCost(mid, { bytesDown: 0, flops: 1e9, bytesUp: 1e6 });

    // Assert: 1e9 / 8e9 s compute; 70 ms RTT + 8e6 bit / 5.6e6 bit/s upload.
    expect(c.seconds).toBeCloseTo(0.125 + 0.07 + 8e6 / 5.6e6, 9);
    expect(c.computeJ).toBeCloseTo(1e9 * 0.1e-9, 12); // 0.1 J
    expect(c.radioJ).toBeCloseTo(8e6 * 0.438e-6, 9); // 3.504 J
    expect(c.tailJ).toBeCloseTo(11.576 * 1.06, 9); // one full LTE tail: 12.27 J
    expect(c.energyJ).toBeCloseTo(0.1 + 3.504 + 12.27056, 6);
  });

  it('charges only the part of the download tail that runs before the upload starts', () => {
    // Execute: 1 MB down, 1 GFLOP (0.125 s), 1 MB up.
    const c = sessionCost(mid, { bytesDown: 1e6, flops: 1e9, bytesUp: 1e6 });

    // Assert
    expect(c.seconds).toBeCloseTo(0.07 + 8e6 / 12.7e6 + 0.125 + 0.07 + 8e6 / 5.6e6, 9);
    expect(c.radioJ).toBeCloseTo(8e6 * 0.052e-6 + 8e6 * 0.438e-6, 9); // 0.416 + 3.504 J
    expect(c.tailJ).toBeCloseTo((0.125 + 11.576) * 1.06, 9);
  });

  it('gives a download-only session (a model pull) one full tail and no compute', () => {
    const wifi = deviceProfile('high-end', 'wifi');
    const c = sessionCost(wifi, { bytesDown: 80_000, flops: 0, bytesUp: 0 });
    expect(c.seconds).toBeCloseTo(0.02 + (80_000 * 8) / 40e6, 9);
    expect(c.energyJ).toBeCloseTo(80_000 * 8 * 0.137e-6 + 0.238 * 0.13, 9);
  });

  it('costs nothing for no work, and refuses negative or non-finite work', () => {
    expect(sessionCost(mid, { bytesDown: 0, flops: 0, bytesUp: 0 }).energyJ).toBe(0);
    expect(() => sessionCost(mid, { bytesDown: -1, flops: 0, bytesUp: 0 })).toThrow(/bytesDown/);
    expect(() => sessionCost(mid, { bytesDown: 0, flops: Number.NaN, bytesUp: 0 })).toThrow(/flops/);
  });

  it('transfers zero bytes in zero seconds (no round trip)', () => {
    expect(transferSeconds(0, 1e6, 0.07)).toBe(0);
    expect(transferSeconds(125_000, 1e6, 0.07)).toBeCloseTo(1.07, 12);
  });
});
