/**
 * Sim suite: the headline FedEx vs FedAvg comparison from the simulator (src/sim), mid-range
 * phone on LTE, target global top-1 0.7 on the 158-person LFW task. Runs: 100 and 1,000 devices at
 * the `embedding` split and at `stage128` (the heavier split: the device runs less of the network
 * and uploads an 8×8×128 map; the cloud trains the same linear head on the pooled map), and a
 * 10,000-device run at `embedding`, each with FedEx and FedAvg with the bottom cached and
 * recomputed. Writes each report (JSON + HTML) to `<out>/sim/<run>/` and returns the figures.
 *
 * Every arm sees the features standardised per channel (fitted on the training photos, no labels)
 * and FedAvg uses the tuned lr (3 at both splits; see src/sim/runner.ts and docs/sim.md).
 *
 * FedAvg at stage128 runs at most 100 rounds (each round trains 20 devices on 8,192-d maps, ~3 s on
 * this machine); FEDEX_SIM_ONLY=embedding-100,stage128-1000 picks runs (the 10k run is best given
 * its own process so its peak RSS is its own).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { initRuntime } from '../src/runtime/node.js';
import { loadSimData, type SimData } from '../src/sim/data.js';
import { renderReportHtml } from '../src/sim/report-html.js';
import { runSimulation, type SimOptions } from '../src/sim/runner.js';
import { datasetDir } from '../src/testing/datasets.js';
import type { BenchRow, BenchSuite } from './types.js';

interface Run {
  name: string;
  split: string;
  devices: number;
  maxRounds: number;
}

const RUNS: Run[] = [
  { name: 'embedding-100', split: 'embedding', devices: 100, maxRounds: 150 },
  { name: 'embedding-1000', split: 'embedding', devices: 1000, maxRounds: 150 },
  { name: 'stage128-100', split: 'stage128', devices: 100, maxRounds: 100 },
  { name: 'stage128-1000', split: 'stage128', devices: 1000, maxRounds: 100 },
  { name: 'embedding-10000', split: 'embedding', devices: 10_000, maxRounds: 150 },
];

export const simSuite: BenchSuite = {
  name: 'sim',
  summary:
    'simulated fleets (100, 1,000, 10,000 phones): FedEx vs FedAvg time to target, device FLOPs, energy',
  async run({ quick, log }) {
    await initRuntime();
    if (!datasetDir('lfw_deepfunneled_min5')) {
      log('SKIPPED: lfw_deepfunneled_min5 not found (set FEDEX_DATA_DIR)');
      return [];
    }
    const only = process.env.FEDEX_SIM_ONLY?.split(',').map((s) => s.trim());
    const runs = quick
      ? [{ name: 'embedding-100-quick', split: 'embedding', devices: 100, maxRounds: 20 }]
      : RUNS.filter((r) => !only || only.includes(r.name));
    const outDir = process.env.FEDEX_SIM_OUT ?? path.join('out', 'bench', 'sim');
    const cache = new Map<string, SimData>();
    const rows: BenchRow[] = [];
    for (const run of runs) {
      if (!cache.has(run.split)) cache.set(run.split, await loadSimData({ split: run.split }));
      const data = cache.get(run.split)!;
      const options: Partial<SimOptions> & { devices: number } = {
        devices: run.devices,
        maxRounds: run.maxRounds,
        profile: 'mid-range/lte',
        target: 0.7,
        arms: [
          { strategy: 'fedex', bottomMode: 'cached' },
          { strategy: 'fedavg', bottomMode: 'cached' },
          { strategy: 'fedavg', bottomMode: 'recompute' },
        ],
      };
      log(`${run.name}: ${run.devices} devices, split ${run.split}`);
      let lastLog = 0;
      const report = await runSimulation(data, options, {
        log: (l) => log(`  ${l}`),
        onProgress: (p) => {
          if (performance.now() - lastLog > 30_000) {
            lastLog = performance.now();
            log(
              `  ${p.arm} round ${p.round}/${p.maxRounds} acc ${p.accuracy?.toFixed(3)} t=${p.timeS.toFixed(0)} s`,
            );
          }
        },
      });
      const dir = path.join(outDir, run.name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'report.json'), JSON.stringify(report));
      writeFileSync(path.join(dir, 'report.html'), renderReportHtml(report, `FedEx simulation: ${run.name}`));
      const note = `${run.name}, mid-range/lte, target 0.7; report in ${dir}`;
      const push = (name: string, value: number | null, unit: string, extra = '') =>
        rows.push({
          suite: 'sim',
          name: `${run.name}: ${name}`,
          value: value ?? Number.NaN,
          unit,
          note: note + extra,
        });
      for (const a of report.arms) {
        push(
          `${a.name} virtual s to 0.7`,
          a.timeToTargetS,
          's',
          a.timeToTargetS === null ? `; not reached in ${a.rounds} rounds` : `; round ${a.roundsToTarget}`,
        );
        push(`${a.name} final top-1`, a.finalAccuracy, 'acc');
        push(`${a.name} device GFLOP (mean)`, a.summary.flops.mean / 1e9, 'GFLOP');
        push(`${a.name} device J (mean)`, a.summary.energyJ.mean, 'J');
        push(`${a.name} device kB up+down (mean)`, a.summary.bytes.mean / 1e3, 'kB');
      }
      for (const c of report.comparisons) {
        push(
          `${c.arm}/fedex time to target`,
          c.timeToTarget,
          'x',
          c.timeToTargetIsLowerBound ? '; lower bound (FedAvg never reached it)' : '',
        );
        push(`${c.arm}/fedex time to target, measured cloud`, c.timeToTargetWallCloud, 'x');
        push(`${c.arm}/fedex device FLOPs`, c.deviceFlops, 'x', '; per fleet device');
        push(`${c.arm}/fedex device energy`, c.deviceEnergy, 'x', '; per fleet device');
        push(`${c.arm}/fedex device bytes`, c.deviceBytes, 'x', '; per fleet device');
        push(`${c.arm}/fedex participating device FLOPs`, c.participating.deviceFlops, 'x');
        push(`${c.arm}/fedex participating device energy`, c.participating.deviceEnergy, 'x');
        push(`${c.arm}/fedex participating device bytes`, c.participating.deviceBytes, 'x');
      }
      push('wall time', report.wallS, 's', '; shared 2-core machine');
      push('peak RSS (process so far)', report.peakRssMb, 'MB');
      log(`  ${run.name}: ${report.wallS.toFixed(0)} s wall, peak RSS ${report.peakRssMb.toFixed(0)} MB`);
    }
    return rows;
  },
};
