/**
 * Split-point sweep: the same simulation at several split points of the backbone, summarised per
 * split (device FLOPs and bytes per photo, cloud-trainable parameters, final accuracy, time to
 * target and device energy per arm), plus its HTML table. Pure over the per-split reports.
 */
import type { SimReport } from './runner.js';
import { fmt } from './report-html.js';

export interface SweepRow {
  split: string;
  deviceFlopsPerPhoto: number;
  /** Feature payload on the wire per photo (float16 values, headers excluded). */
  featureBytesPerPhoto: number;
  cloudTrainableParams: number;
  arms: Array<{
    arm: string;
    finalAccuracy: number;
    timeToTargetS: number | null;
    meanDeviceEnergyJ: number;
    meanDeviceFlops: number;
    meanDeviceBytes: number;
  }>;
}

/** One row per split report. `featureDims[split]`: values per photo at that split. */
export function sweepRows(
  reports: readonly SimReport[],
  featureDims: Readonly<Record<string, number>>,
): SweepRow[] {
  return reports.map((r) => ({
    split: r.config.split,
    deviceFlopsPerPhoto: r.config.bottomFlopsPerPhoto,
    featureBytesPerPhoto: (featureDims[r.config.split] ?? 0) * 2,
    cloudTrainableParams: r.cloudTrainableParams,
    arms: r.arms.map((a) => ({
      arm: a.name,
      finalAccuracy: a.finalAccuracy,
      timeToTargetS: a.timeToTargetS,
      meanDeviceEnergyJ: a.summary.energyJ.mean,
      meanDeviceFlops: a.summary.flops.mean,
      meanDeviceBytes: a.summary.bytes.mean,
    })),
  }));
}

function esc(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

/** A self-contained page with the sweep table (one row per split and arm). */
export function renderSweepHtml(rows: readonly SweepRow[], note: string): string {
  const header = [
    'split',
    'device FLOPs/photo',
    'feature bytes/photo',
    'cloud-trainable params',
    'arm',
    'final top-1',
    'virtual s to target',
    'device J (mean)',
    'device GFLOP (mean)',
    'device kB (mean)',
  ];
  const body = rows.flatMap((r) =>
    r.arms.map((a) => [
      r.split,
      fmt(r.deviceFlopsPerPhoto),
      fmt(r.featureBytesPerPhoto),
      fmt(r.cloudTrainableParams),
      a.arm,
      a.finalAccuracy.toFixed(3),
      a.timeToTargetS === null ? 'not reached' : fmt(a.timeToTargetS),
      fmt(a.meanDeviceEnergyJ),
      fmt(a.meanDeviceFlops / 1e9),
      fmt(a.meanDeviceBytes / 1e3),
    ]),
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>FedEx split sweep</title>
<style>body{font-family:system-ui,sans-serif;margin:24px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}th{background:#f3f3f3}</style>
</head><body><h1>FedEx split-point sweep</h1><p>${esc(note)}</p>
<table data-table="sweep"><thead><tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${body
    .map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table></body></html>
`;
}
