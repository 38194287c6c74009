import { describe, expect, it } from 'vitest';
import { sessionCost, transferSeconds } from './energy.js';
import { deviceProfile } from './profiles.js';

const mid = deviceProfile('mid-range', 'lte');

describe('sessionCost (Huang et al. 2012 radio model)', () => {
  it('prices one 1 MB LTE upload by hand: per-bit, base power, one promotion, one tail', () => {
    // Execute: 1 MB up, nothing else.
    const c = sessionCost(mid, { bytesDown: 0, flops: 0, bytesUp: 1e6 });

    // Assert: transfer 0.07 s RTT + 8e6 bit / 5.6e6 bit/s = 1.498571 s.
    const transfer = 0.07 + 8e6 / 5.6e6;
    expect(c.seconds).toBeCloseTo(0.2601 + transfer, 9); // the promotion delays it too
    expect(c.radioJ).toBeCloseTo(3.504, 9); // 8e6 bit x 0.438 uJ/bit
    expect(c.baseJ).toBeCloseTo(1.93016, 5); // 1.288 W x 1.498571 s
    expect(c.promotionJ).toBeCloseTo(0.314903, 5); // 0.2601 s x 1.2107 W
    expect(c.tailJ).toBeCloseTo(12.27056, 9); // 11.576 s x 1.06 W
    expect(c.computeJ).toBe(0);
    expect(c.energyJ).toBeCloseTo(3.504 + 1.93016 + 0.314903 + 12.27056, 5); // 18.0196 J
  });

  it('prices compute then an upload on a mid-range phone on LTE by hand', () => {
    // Execute: 1 GFLOP, then 1 MB up.
    const c = sessionCost(mid, { bytesDown: 0, flops: 1e9, bytesUp: 1e6 });

    // Assert: 1e9 / 8e9 s compute.
    expect(c.seconds).toBeCloseTo(0.125 + 0.2601 + 0.07 + 8e6 / 5.6e6, 9);
    expect(c.computeJ).toBeCloseTo(0.1, 12);
    expect(c.energyJ).toBeCloseTo(0.1 + 3.504 + 1.93016 + 0.314903 + 12.27056, 5);
  });

  it('charges only the part of the download tail that runs before the upload starts (no second promotion)', () => {
    // Execute: 1 MB down, 1 GFLOP (0.125 s, shorter than the 11.576 s tail), 1 MB up.
    const c = sessionCost(mid, { bytesDown: 1e6, flops: 1e9, bytesUp: 1e6 });

    // Assert
    const down = 0.07 + 8e6 / 12.7e6;
    const up = 0.07 + 8e6 / 5.6e6;
    expect(c.seconds).toBeCloseTo(0.2601 + down + 0.125 + up, 9);
    expect(c.radioJ).toBeCloseTo(8e6 * 0.052e-6 + 8e6 * 0.438e-6, 9); // 0.416 + 3.504 J
    expect(c.baseJ).toBeCloseTo((down + up) * 1.288, 9);
    expect(c.promotionJ).toBeCloseTo(0.2601 * 1.2107, 9);
    expect(c.tailJ).toBeCloseTo((0.125 + 11.576) * 1.06, 9);
  });

  it('wakes the radio again when the compute outlasts the download tail', () => {
    // 100 GFLOP on a mid-range phone: 12.5 s, longer than the 11.576 s LTE tail.
    const c = sessionCost(mid, { bytesDown: 1e6, flops: 100e9, bytesUp: 1e6 });
    expect(c.promotionJ).toBeCloseTo(2 * 0.2601 * 1.2107, 9);
    expect(c.tailJ).toBeCloseTo(2 * 11.576 * 1.06, 9);
    expect(c.seconds).toBeCloseTo(2 * 0.2601 + 0.07 + 8e6 / 12.7e6 + 12.5 + 0.07 + 8e6 / 5.6e6, 9);
  });

  it('gives a download-only session (a model pull) one promotion, one full tail and no compute', () => {
    const wifi = deviceProfile('high-end', 'wifi');
    const c = sessionCost(wifi, { bytesDown: 80_000, flops: 0, bytesUp: 0 });
    const transfer = 0.02 + (80_000 * 8) / 40e6;
    expect(c.seconds).toBeCloseTo(0.0791 + transfer, 9);
    expect(c.energyJ).toBeCloseTo(
      80_000 * 8 * 0.137e-6 + transfer * 0.133 + 0.0791 * 0.1244 + 0.238 * 0.13,
      9,
    );
  });

  it('under-counted large transfers without base power and promotion: 17.9 MB each way on LTE', () => {
    // The heavy top's FedAvg round (issue 18): the per-bit-and-tail model gave ~80 J for this.
    const c = sessionCost(mid, { bytesDown: 17.9e6, flops: 0, bytesUp: 17.9e6 });
    const old = c.radioJ + c.tailJ;
    expect(c.energyJ / old).toBeGreaterThan(1.5);
  });

  it('costs nothing for no work, and refuses negative or non-finite work', () => {
    expect(sessionCost(mid, { bytesDown: 0, flops: 0, bytesUp: 0 }).energyJ).toBe(0);
    expect(sessionCost(mid, { bytesDown: 0, flops: 0, bytesUp: 0 }).seconds).toBe(0);
    expect(() => sessionCost(mid, { bytesDown: -1, flops: 0, bytesUp: 0 })).toThrow(/bytesDown/);
    expect(() => sessionCost(mid, { bytesDown: 0, flops: Number.NaN, bytesUp: 0 })).toThrow(/flops/);
  });

  it('transfers zero bytes in zero seconds (no round trip)', () => {
    expect(transferSeconds(0, 1e6, 0.07)).toBe(0);
    expect(transferSeconds(125_000, 1e6, 0.07)).toBeCloseTo(1.07, 12);
  });
});
