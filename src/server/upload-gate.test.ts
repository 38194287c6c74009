import { describe, expect, it } from 'vitest';
import { UploadGate } from './upload-gate.js';

describe('UploadGate', () => {
  it('admits a few uploads per device and refuses the next until one ends', () => {
    // Prepare
    const gate = new UploadGate({ perDevice: 2, totalBytes: 1000 });

    // Execute
    const a = gate.admit('d1', 100);
    const b = gate.admit('d1', 100);
    const c = gate.admit('d1', 100);
    const other = gate.admit('d2', 100);

    // Assert
    expect(typeof a).toBe('function');
    expect(typeof b).toBe('function');
    expect(c).toBe('device');
    expect(typeof other).toBe('function');
    expect(gate.inFlight()).toEqual({ uploads: 3, bytes: 300 });
    (a as () => void)();
    (a as () => void)(); // a second release changes nothing
    expect(gate.inFlight()).toEqual({ uploads: 2, bytes: 200 });
    expect(typeof gate.admit('d1', 100)).toBe('function');
  });

  it('refuses uploads past the total byte budget, but never the only one in flight', () => {
    // Prepare
    const gate = new UploadGate({ perDevice: 10, totalBytes: 1000 });

    // Execute
    const huge = gate.admit('d1', 5000); // alone: admitted (the body limit bounds it)
    const next = gate.admit('d2', 1);
    (huge as () => void)();
    const first = gate.admit('d2', 600);
    const second = gate.admit('d3', 400);
    const third = gate.admit('d4', 1);

    // Assert
    expect(typeof huge).toBe('function');
    expect(next).toBe('total');
    expect(typeof first).toBe('function');
    expect(typeof second).toBe('function');
    expect(third).toBe('total');
    expect(gate.inFlight()).toEqual({ uploads: 2, bytes: 1000 });
  });
});
