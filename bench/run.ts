/**
 * `npm run bench`: runs the benchmark suites, prints one table and writes every figure as JSON to
 * `out/bench/latest.json` (and a timestamped copy). Speed goals of the issues are checked here,
 * never in tests. Machines are shared and noisy: suites report medians and ratios measured in the
 * same run.
 *
 *   npm run bench                      # every suite
 *   npm run bench -- --only runtime,codec --quick
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { parseArgs } from 'node:util';
import type { BenchRow, BenchSuite } from './types.js';
import { runtimeSuite } from './runtime.js';
import { codecSuite } from './codec.js';
import { clusterSuite } from './cluster.js';
import { kernelsSuite } from './kernels-suite.js';
import { faceSuite } from './face.js';
import { quantizationSuite } from './quantization.js';
import { modelSuite } from './model.js';
import { splitSuite } from './split.js';
import { globalSplitSuite } from './global-split.js';
import { backbonesSuite } from './backbones.js';
import { serverSuite } from './server.js';
import { browserSuite } from './browser.js';
import { strategySuite } from './strategy.js';
import { loadSuite } from './load.js';
import { hardeningSuite } from './hardening.js';
import { simSuite } from './sim.js';
import { adaptSuite } from './adapt.js';
import { headlineSuite } from './headline.js';
import { scaleSuite } from './scale.js';
import { privacySuite } from './privacy.js';

const SUITES: BenchSuite[] = [
  runtimeSuite,
  kernelsSuite,
  codecSuite,
  faceSuite,
  quantizationSuite,
  clusterSuite,
  backbonesSuite,
  modelSuite,
  splitSuite,
  globalSplitSuite,
  serverSuite,
  browserSuite,
  strategySuite,
  loadSuite,
  hardeningSuite,
  simSuite,
  adaptSuite,
  headlineSuite,
  scaleSuite,
  privacySuite,
];

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(3);
}

export function renderTable(rows: BenchRow[]): string {
  const cells = rows.map((r) => [r.suite, r.name, formatValue(r.value), r.unit, r.note ?? '']);
  const head = ['suite', 'measure', 'value', 'unit', 'note'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) =>
    c.map((x, i) => (i === 2 ? x.padStart(widths[i]) : x.padEnd(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      quick: { type: 'boolean', default: false },
      out: { type: 'string', default: 'out/bench' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(
      `Usage: npm run bench -- [--only ${SUITES.map((s) => s.name).join(',')}] [--quick] [--out DIR]\n\n` +
        SUITES.map((s) => `  ${s.name.padEnd(10)}${s.summary}`).join('\n') +
        '\n',
    );
    return;
  }
  const only = values.only ? values.only.split(',').map((s) => s.trim()) : undefined;
  const unknown = only?.filter((n) => !SUITES.some((s) => s.name === n)) ?? [];
  if (unknown.length) throw new Error(`unknown suite(s): ${unknown.join(', ')}`);
  const chosen = SUITES.filter((s) => !only || only.includes(s.name));
  const rows: BenchRow[] = [];
  const started = new Date();
  for (const suite of chosen) {
    process.stderr.write(`== ${suite.name}: ${suite.summary}\n`);
    const t0 = performance.now();
    const got = await suite.run({
      quick: Boolean(values.quick),
      log: (l) => process.stderr.write(`   ${l}\n`),
    });
    rows.push(...got);
    process.stderr.write(`   ${got.length} figures in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  const result = {
    startedAt: started.toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      node: process.version,
      platform: process.platform,
    },
    quick: Boolean(values.quick),
    rows,
  };
  const outDir = values.out ?? 'out/bench';
  mkdirSync(outDir, { recursive: true });
  const json = JSON.stringify(result, null, 2);
  writeFileSync(path.join(outDir, 'latest.json'), json);
  writeFileSync(path.join(outDir, `results-${started.toISOString().replace(/[:.]/g, '-')}.json`), json);
  process.stdout.write(renderTable(rows) + '\n');
  process.stderr.write(`results written to ${path.join(outDir, 'latest.json')}\n`);
}

await main();
