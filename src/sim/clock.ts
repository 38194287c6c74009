/**
 * The simulator's discrete-event clock: virtual seconds that only move when an event is taken
 * from the queue or when the caller advances them (cloud work). Events with equal times come out
 * in the order they were scheduled, so a run is deterministic. No wall time anywhere.
 */
import { FedexError } from '../core/errors.js';

interface Entry<T> {
  time: number;
  seq: number;
  event: T;
}

/** A min-heap of timed events. */
export class EventQueue<T> {
  private readonly heap: Entry<T>[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Adds `event` at virtual time `time` (seconds). */
  push(time: number, event: T): void {
    if (!Number.isFinite(time))
      throw new FedexError('BAD_ARGUMENT', `event time must be finite, got ${time}`);
    const h = this.heap;
    h.push({ time, seq: this.seq++, event });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  /** Time of the next event, or undefined when empty. */
  peekTime(): number | undefined {
    return this.heap[0]?.time;
  }

  /** Removes and returns the earliest event. */
  pop(): { time: number; event: T } | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l], h[m])) m = l;
        if (r < h.length && this.less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return { time: top.time, event: top.event };
  }

  private less(a: Entry<T>, b: Entry<T>): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }
}

/** Virtual time in seconds; never goes backwards. */
export class VirtualClock {
  private t = 0;

  get now(): number {
    return this.t;
  }

  /** Moves to `time` (an error if that is in the past). */
  advanceTo(time: number): void {
    if (!(time >= this.t))
      throw new FedexError('BAD_ARGUMENT', `virtual clock cannot go back from ${this.t} s to ${time} s`);
    this.t = time;
  }

  /** Moves forward by `seconds`. */
  advanceBy(seconds: number): void {
    this.advanceTo(this.t + seconds);
  }
}

/**
 * When a round closes: at the last arrival if every selected device arrives by the deadline,
 * else at the deadline (a round with nobody selected closes at once).
 *
 * @example
 * roundCloseTime(100, [3, 7], 60, 2); // 107: both arrived
 * roundCloseTime(100, [3], 60, 2);    // 160: one missing, the round waits for the deadline
 */
export function roundCloseTime(
  start: number,
  arrivals: readonly number[],
  deadlineS: number,
  selected: number,
): number {
  const inTime = arrivals.filter((a) => a <= deadlineS);
  if (selected === 0) return start;
  if (inTime.length === selected) return start + Math.max(0, ...inTime);
  return start + deadlineS;
}
