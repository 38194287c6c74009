/**
 * The simulator's transport: the same `Transport` seam the server's HTTP transport fills, but each
 * selected device is a function called in process, one at a time (so all devices can share one
 * tfjs model), and time is virtual. A device's answer arrives `sessionCost(profile, costs).seconds`
 * after the round opened, from the FLOPs and bytes the device counted for that task; the round
 * closes at its last arrival or at the deadline (`roundCloseTime`), whichever the events reach
 * first. The deadline is the runner's, or (`autoDeadline`) a multiple of a quantile of this round's
 * session times. Answers after the deadline are lost, but the device spent them: the ledger counts
 * every finished task. A dropout (seeded, `profile.dropout`) never starts and spends nothing.
 */
import { deriveSeed } from '../core/random.js';
import type { ClientCosts, ClientResult, ClientTask, Transport } from '../strategy/types.js';
import type { ClientFn } from '../strategy/transport/memory.js';
import { EventQueue, roundCloseTime, type VirtualClock } from './clock.js';
import { sessionCost, type DeviceWork } from './energy.js';
import type { DeviceProfile } from './profiles.js';

/** What each device spent, summed over the run; indexed by device index. */
export class CostLedger {
  readonly flops: Float64Array;
  readonly bytesUp: Float64Array;
  readonly bytesDown: Float64Array;
  readonly energyJ: Float64Array;
  /** Seconds the device was busy (transfers + compute). */
  readonly busyS: Float64Array;
  /** Tasks the device finished (in time or late). */
  readonly tasks: Uint32Array;

  constructor(readonly size: number) {
    this.flops = new Float64Array(size);
    this.bytesUp = new Float64Array(size);
    this.bytesDown = new Float64Array(size);
    this.energyJ = new Float64Array(size);
    this.busyS = new Float64Array(size);
    this.tasks = new Uint32Array(size);
  }

  /** Books one session of device `i` on `profile`; returns its time and energy. */
  book(i: number, profile: DeviceProfile, work: DeviceWork): { seconds: number; energyJ: number } {
    const c = sessionCost(profile, work);
    this.flops[i] += work.flops;
    this.bytesUp[i] += work.bytesUp;
    this.bytesDown[i] += work.bytesDown;
    this.energyJ[i] += c.energyJ;
    this.busyS[i] += c.seconds;
    this.tasks[i] += 1;
    return c;
  }
}

export interface SimTransportOptions {
  /** The device of each id (its task runner). */
  client: (id: string) => ClientFn | undefined;
  /** Index of a device id in the ledger and the profile table. */
  indexOf: (id: string) => number;
  profiles: readonly DeviceProfile[];
  clock: VirtualClock;
  ledger: CostLedger;
  seed: number;
  /** Called per finished task (progress). */
  onTask?: () => void;
  /**
   * A deadline from the round itself instead of the runner's fixed one: `factor` × the `quantile`
   * of the session times of the selected devices that started (what a server sets from its
   * devices' expected times). E.g. `{ quantile: 0.9, factor: 1.5 }`.
   */
  autoDeadline?: AutoDeadline;
}

export interface AutoDeadline {
  quantile: number;
  factor: number;
}

/** `factor` × the `quantile` of `seconds` (nearest rank); 0 for none. */
export function autoDeadlineS(seconds: readonly number[], rule: AutoDeadline): number {
  if (seconds.length === 0) return 0;
  const sorted = [...seconds].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(rule.quantile * sorted.length) - 1));
  return rule.factor * sorted[rank];
}

/** One round as the clock saw it. */
export interface RoundTiming {
  round: number;
  startS: number;
  closeS: number;
  selected: number;
  droppedOut: number;
  late: number;
  /** The deadline this round had, seconds after it opened. */
  deadlineS: number;
}

/**
 * A uniform number in [0, 1) from (seed, key). `deriveSeed` alone is FNV-1a, whose output moves
 * little when only the last character changes (d00001, d00002, ...), which made neighbouring
 * devices drop out together; murmur3's finaliser spreads it.
 */
export function unitHash(seed: number, key: string): number {
  let h = deriveSeed(seed, key);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/** Whether device `id` drops out of `round` (seeded, independent across devices and rounds). */
export function dropsOut(seed: number, round: number, id: string, p: number): boolean {
  return p > 0 && unitHash(seed, `dropout:${round}:${id}`) < p;
}

function work(c: ClientCosts): DeviceWork {
  return { bytesDown: c.bytesDown, flops: c.deviceFlops, bytesUp: c.bytesUp };
}

/**
 * @example
 * const transport = new SimTransport({ client, indexOf, profiles, clock, ledger, seed: 1 });
 * await runRounds({ strategy, transport, ... }); // transport.timings: one entry per round
 */
export class SimTransport implements Transport {
  readonly timings: RoundTiming[] = [];

  constructor(private readonly options: SimTransportOptions) {}

  async runRound(
    round: number,
    tasks: ReadonlyMap<string, ClientTask>,
    deadlineMs: number,
  ): Promise<ClientResult[]> {
    const { clock, ledger, profiles } = this.options;
    const start = clock.now;
    const sessions: number[] = [];
    const queue = new EventQueue<ClientResult>();
    let droppedOut = 0;
    for (const [id, task] of [...tasks].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const i = this.options.indexOf(id);
      const client = this.options.client(id);
      const profile = profiles[i];
      if (!client || profile === undefined || dropsOut(this.options.seed, round, id, profile.dropout)) {
        droppedOut++;
        continue;
      }
      let result: ClientResult;
      try {
        result = await client(task);
      } catch {
        droppedOut++; // a crashed device is a dropout
        continue;
      }
      const { seconds } = ledger.book(i, profile, work(result.costs));
      sessions.push(seconds);
      queue.push(seconds, result);
      this.options.onTask?.();
    }
    const auto = this.options.autoDeadline;
    const deadlineS = auto ? autoDeadlineS(sessions, auto) : deadlineMs / 1000;
    const arrived: ClientResult[] = [];
    const arrivals: number[] = [];
    let late = 0;
    while (queue.size > 0) {
      const { time, event } = queue.pop()!;
      if (time <= deadlineS) {
        arrived.push(event);
        arrivals.push(time);
      } else late++;
    }
    const close = roundCloseTime(start, arrivals, deadlineS, tasks.size);
    clock.advanceTo(close);
    this.timings.push({
      round,
      startS: start,
      closeS: close,
      selected: tasks.size,
      droppedOut,
      late,
      deadlineS,
    });
    // Hand results over by device id, not arrival time: the weighted mean's float sum then has the
    // same order whatever the devices' speeds, so two arms that differ only in device costs (bottom
    // cached vs recomputed, another profile) train exactly the same weights.
    return arrived.sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
  }
}
