import { describe, expect, it } from 'vitest';
import type { ClientFn } from '../strategy/transport/memory.js';
import type { ClientResult, ClientTask } from '../strategy/types.js';
import { VirtualClock } from './clock.js';
import { sessionCost } from './energy.js';
import { deviceProfile, type DeviceProfile } from './profiles.js';
import { autoDeadlineS, CostLedger, dropsOut, SimTransport, unitHash } from './transport.js';

const noDrop = (p: DeviceProfile): DeviceProfile => ({ ...p, dropout: 0 });

/** A device that reports `flops` FLOPs and 10 kB each way. */
function device(id: string, flops: number): ClientFn {
  return (task: ClientTask): Promise<ClientResult> =>
    Promise.resolve({
      kind: 'weights',
      clientId: id,
      round: task.round,
      weights: [],
      numExamples: 1,
      metrics: { loss: 0, accuracy: 0 },
      costs: { deviceFlops: flops, bytesUp: 10_000, bytesDown: 10_000 },
    });
}

function tasks(ids: string[], round = 1): Map<string, ClientTask> {
  return new Map(ids.map((id) => [id, { kind: 'upload-features', round } as ClientTask]));
}

describe('SimTransport', () => {
  it('closes the round at the slowest device and books each device its session', async () => {
    // Prepare: a fast and a slow phone, same link; 80 GFLOP and 2 GFLOP of work.
    const profiles = [noDrop(deviceProfile('high-end', 'wifi')), noDrop(deviceProfile('low-end', 'wifi'))];
    const clients = new Map([
      ['a', device('a', 80e9)],
      ['b', device('b', 2e9)],
    ]);
    // b (low-end, 1 s of compute) arrives before a (high-end, 3.2 s); results still come by id.
    const clock = new VirtualClock();
    const ledger = new CostLedger(2);
    const t = new SimTransport({
      client: (id) => clients.get(id),
      indexOf: (id) => (id === 'a' ? 0 : 1),
      profiles,
      clock,
      ledger,
      seed: 1,
    });

    // Execute
    const results = await t.runRound(1, tasks(['a', 'b']), 60_000);

    // Assert: a takes 80e9/25e9 = 3.2 s of compute, b 2e9/2e9 = 1 s; the round closes when a arrives.
    const work = (f: number) => ({ bytesDown: 10_000, flops: f, bytesUp: 10_000 });
    const sa = sessionCost(profiles[0], work(80e9));
    const sb = sessionCost(profiles[1], work(2e9));
    expect(results.map((r) => r.clientId)).toEqual(['a', 'b']); // by id, whatever the arrival order
    expect(clock.now).toBeCloseTo(Math.max(sa.seconds, sb.seconds), 9);
    expect(ledger.energyJ[0]).toBeCloseTo(sa.energyJ, 9);
    expect(ledger.energyJ[1]).toBeCloseTo(sb.energyJ, 9);
    expect(sa.seconds).toBeGreaterThan(sb.seconds);
    expect(Array.from(ledger.flops)).toEqual([80e9, 2e9]);
    expect(t.timings[0]).toMatchObject({ round: 1, selected: 2, droppedOut: 0, late: 0 });
  });

  it('drops a late answer but still books what the device spent, and waits for the deadline', async () => {
    const profiles = [noDrop(deviceProfile('low-end', 'lte'))];
    const clock = new VirtualClock();
    const ledger = new CostLedger(1);
    const t = new SimTransport({
      client: () => device('a', 200e9),
      indexOf: () => 0,
      profiles,
      clock,
      ledger,
      seed: 1,
    });

    // Execute: 200 GFLOP at 2 GFLOP/s is 100 s, past a 60 s deadline.
    const results = await t.runRound(1, tasks(['a']), 60_000);

    // Assert
    expect(results).toEqual([]);
    expect(clock.now).toBe(60);
    expect(ledger.flops[0]).toBe(200e9);
    expect(ledger.energyJ[0]).toBeGreaterThan(200e9 * 0.2e-9);
    expect(t.timings[0]).toMatchObject({ late: 1 });
  });

  it('with an automatic deadline, a dropout holds the round to 1.5x the 90th-percentile session, not 60 s', async () => {
    // Prepare: ten devices doing 1..10 GFLOP on a mid-range phone; device "d0" drops out.
    const ids = Array.from({ length: 10 }, (_, i) => `d${i}`);
    const profiles = ids.map((_, i) => ({ ...deviceProfile('mid-range', 'lte'), dropout: i === 0 ? 1 : 0 }));
    const clock = new VirtualClock();
    const t = new SimTransport({
      client: (id) => device(id, (Number(id.slice(1)) + 1) * 1e9),
      indexOf: (id) => Number(id.slice(1)),
      profiles,
      clock,
      ledger: new CostLedger(10),
      seed: 1,
      autoDeadline: { quantile: 0.9, factor: 1.5 },
    });

    // Execute
    const results = await t.runRound(1, tasks(ids), 60_000);

    // Assert: nine sessions ran (2..10 GFLOP); the 90th percentile of nine is the 9th, 10 GFLOP.
    const work = (f: number) => ({ bytesDown: 10_000, flops: f, bytesUp: 10_000 });
    const p90 = sessionCost(profiles[9], work(10e9)).seconds;
    expect(results).toHaveLength(9);
    expect(t.timings[0].deadlineS).toBeCloseTo(1.5 * p90, 9);
    expect(clock.now).toBeCloseTo(1.5 * p90, 9); // waited for d0 until the deadline
    expect(clock.now).toBeLessThan(60);
    expect(autoDeadlineS([], { quantile: 0.9, factor: 1.5 })).toBe(0);
    expect(autoDeadlineS([4, 1, 3, 2], { quantile: 0.5, factor: 2 })).toBe(4);
  });

  it("lets a seeded dropout spend nothing, and drops about the profile's share", async () => {
    const p = { ...deviceProfile('mid-range', 'lte'), dropout: 1 };
    const ledger = new CostLedger(1);
    const t = new SimTransport({
      client: () => device('a', 1e9),
      indexOf: () => 0,
      profiles: [p],
      clock: new VirtualClock(),
      ledger,
      seed: 1,
    });
    expect(await t.runRound(1, tasks(['a']), 60_000)).toEqual([]);
    expect(ledger.energyJ[0]).toBe(0);
    const drops = Array.from({ length: 5000 }, (_, r) => dropsOut(9, r, 'x', 0.08)).filter(Boolean).length;
    expect(drops / 5000).toBeCloseTo(0.08, 1);
  });
});

describe('unitHash', () => {
  it('spreads neighbouring device ids over [0, 1)', () => {
    const xs = Array.from({ length: 1000 }, (_, i) =>
      unitHash(1, `dropout:1:d${String(i).padStart(5, '0')}`),
    );
    // Consecutive ids must not land next to each other (FNV-1a alone gives steps of ~0.004).
    const steps = xs.slice(1).map((x, i) => Math.abs(x - xs[i]));
    expect(steps.filter((d) => d < 0.01).length).toBeLessThan(50);
    expect(xs.filter((x) => x < 0.08).length).toBeGreaterThan(50);
    expect(xs.filter((x) => x < 0.08).length).toBeLessThan(110);
  });
});
