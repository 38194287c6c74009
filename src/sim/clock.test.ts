import { describe, expect, it } from 'vitest';
import { EventQueue, roundCloseTime, VirtualClock } from './clock.js';

describe('EventQueue', () => {
  it('pops events in time order, ties in the order they were pushed', () => {
    // Prepare
    const q = new EventQueue<string>();
    [
      [5, 'e'],
      [1, 'a'],
      [3, 'c1'],
      [3, 'c2'],
      [2, 'b'],
      [3, 'c3'],
    ].forEach(([t, e]) => q.push(t as number, e as string));

    // Execute
    const out: string[] = [];
    while (q.size > 0) out.push(q.pop()!.event);

    // Assert
    expect(out).toEqual(['a', 'b', 'c1', 'c2', 'c3', 'e']);
    expect(q.pop()).toBeUndefined();
  });

  it('keeps the heap order over many random pushes', () => {
    const q = new EventQueue<number>();
    const times = Array.from({ length: 500 }, (_, i) => (i * 7919) % 503);
    times.forEach((t) => q.push(t, t));
    const popped: number[] = [];
    while (q.size) popped.push(q.pop()!.time);
    expect(popped).toEqual([...times].sort((a, b) => a - b));
  });

  it('refuses a non-finite time', () => {
    expect(() => new EventQueue<number>().push(Number.POSITIVE_INFINITY, 1)).toThrow(/finite/);
  });
});

describe('VirtualClock', () => {
  it('moves forward and never back', () => {
    const c = new VirtualClock();
    c.advanceBy(2.5);
    c.advanceTo(4);
    expect(c.now).toBe(4);
    expect(() => c.advanceTo(3)).toThrow(/cannot go back/);
  });
});

describe('roundCloseTime', () => {
  it('closes at the last arrival when every selected device made the deadline', () => {
    expect(roundCloseTime(100, [3, 7, 1], 60, 3)).toBe(107);
  });
  it('waits for the deadline when a selected device is missing or late', () => {
    expect(roundCloseTime(100, [3], 60, 2)).toBe(160);
    expect(roundCloseTime(100, [3, 61], 60, 2)).toBe(160);
  });
  it('closes at once when nobody was selected', () => {
    expect(roundCloseTime(100, [], 60, 0)).toBe(100);
  });
});
