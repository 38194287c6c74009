/**
 * The simulator's HTML report: one self-contained page (inline CSS and SVG, no script, no external
 * asset) with accuracy against virtual time per arm, the per-device distributions (CDFs) of
 * energy, bytes and FLOPs, a table of time to target, and the FedAvg/FedEx ratios. Every plotted
 * point is an SVG element carrying its values (`data-x`, `data-y`), so a browser test can check
 * the plots. Pure string building; no I/O.
 */
import type { DailyReport, DayPoint } from './daily.js';
import type { ArmReport, SimReport } from './runner.js';

const COLORS = ['#1b7837', '#2166ac', '#b2182b', '#762a83', '#e08214', '#4d4d4d'];
const W = 640;
const H = 320;
const M = { left: 64, right: 16, top: 16, bottom: 44 };

function esc(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

/** Compact number: 3 significant digits, SI suffix for large values. */
export function fmt(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  if (a >= 1e12) return `${(x / 1e12).toPrecision(digits)}T`;
  if (a >= 1e9) return `${(x / 1e9).toPrecision(digits)}G`;
  if (a >= 1e6) return `${(x / 1e6).toPrecision(digits)}M`;
  if (a >= 1e4) return `${(x / 1e3).toPrecision(digits)}k`;
  if (a === 0) return '0';
  // Number() turns toPrecision's exponent form (100 → "1.0e+2") back into plain digits.
  return String(Number(x.toPrecision(digits)));
}

interface Series {
  name: string;
  points: Array<[number, number]>;
}

interface PlotOptions {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  logX: boolean;
  /** A horizontal reference line (the target). */
  hLine?: number;
  yRange?: [number, number];
  step?: boolean;
}

/** An SVG line plot; each point is a `circle.pt` with its data values. */
export function linePlot(series: readonly Series[], o: PlotOptions): string {
  const tx = (v: number) => (o.logX ? Math.log10(Math.max(v, 1e-9)) : v);
  const all = series
    .flatMap((s) => s.points)
    .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.logX || x > 0));
  const xs = all.map(([x]) => tx(x));
  const ys = all.map(([, y]) => y);
  let [x0, x1] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  if (o.logX) {
    x0 = Math.floor(x0);
    x1 = Math.ceil(x1);
  }
  if (x1 === x0) x1 = x0 + 1;
  const [y0, yMax] = o.yRange ?? (ys.length ? [Math.min(0, ...ys), Math.max(...ys)] : [0, 1]);
  const y1 = yMax === y0 ? y0 + 1 : yMax;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const px = (x: number) => M.left + ((tx(x) - x0) / (x1 - x0)) * pw;
  const py = (y: number) => M.top + ph - ((y - y0) / (y1 - y0)) * ph;
  const parts: string[] = [];
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="#fff" stroke="#999"/>`);
  // Ticks.
  const xticks: number[] = [];
  if (o.logX) for (let e = x0; e <= x1; e++) xticks.push(10 ** e);
  else for (let i = 0; i <= 5; i++) xticks.push(x0 + ((x1 - x0) * i) / 5);
  for (const t of xticks) {
    const x = px(t);
    parts.push(`<line x1="${x}" y1="${M.top + ph}" x2="${x}" y2="${M.top + ph + 4}" stroke="#333"/>`);
    parts.push(
      `<text x="${x}" y="${M.top + ph + 16}" text-anchor="middle" font-size="11">${esc(fmt(t, 2))}</text>`,
    );
  }
  for (let i = 0; i <= 4; i++) {
    const v = y0 + ((y1 - y0) * i) / 4;
    const y = py(v);
    parts.push(`<line x1="${M.left - 4}" y1="${y}" x2="${M.left + pw}" y2="${y}" stroke="#eee"/>`);
    parts.push(
      `<text x="${M.left - 6}" y="${y + 4}" text-anchor="end" font-size="11">${esc(fmt(v, 2))}</text>`,
    );
  }
  parts.push(
    `<text x="${M.left + pw / 2}" y="${H - 6}" text-anchor="middle" font-size="12">${esc(o.xLabel)}</text>`,
  );
  parts.push(
    `<text x="14" y="${M.top + ph / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${M.top + ph / 2})">${esc(o.yLabel)}</text>`,
  );
  if (o.hLine !== undefined) {
    const y = py(o.hLine);
    parts.push(
      `<line class="target" x1="${M.left}" y1="${y}" x2="${M.left + pw}" y2="${y}" stroke="#555" stroke-dasharray="5 4"/>`,
    );
  }
  series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length];
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.logX || x > 0));
    const path: string[] = [];
    pts.forEach(([x, y], i) => {
      if (o.step && i > 0) path.push(`${px(x).toFixed(1)},${py(pts[i - 1][1]).toFixed(1)}`);
      path.push(`${px(x).toFixed(1)},${py(y).toFixed(1)}`);
    });
    parts.push(`<g class="series" data-series="${esc(s.name)}">`);
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${path.join(' ')}"/>`);
    for (const [x, y] of pts)
      parts.push(
        `<circle class="pt" cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.2" fill="${color}" data-x="${x}" data-y="${y}"><title>${esc(s.name)}: ${esc(fmt(x))}, ${esc(fmt(y))}</title></circle>`,
      );
    parts.push('</g>');
    parts.push(
      `<rect x="${M.left + 8}" y="${M.top + 8 + k * 16}" width="10" height="10" fill="${color}"/><text x="${M.left + 22}" y="${M.top + 17 + k * 16}" font-size="11">${esc(s.name)}</text>`,
    );
  });
  return `<figure><figcaption>${esc(o.title)}</figcaption><svg class="plot" data-plot="${esc(o.id)}" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${parts.join('')}</svg></figure>`;
}

/** The empirical CDF of `values` (zeros dropped for a log axis), at most `maxPoints` points. */
export function cdfPoints(values: readonly number[], maxPoints = 200): Array<[number, number]> {
  const s = values.filter((v) => v > 0).sort((a, b) => a - b);
  if (s.length === 0) return [];
  const n = s.length;
  const k = Math.min(maxPoints, n);
  const out: Array<[number, number]> = [];
  for (let j = 0; j < k; j++) {
    const i = k === 1 ? n - 1 : Math.round((j * (n - 1)) / (k - 1));
    out.push([s[i], (i + 1) / n]);
  }
  return out;
}

function table(header: string[], rows: string[][], id: string): string {
  return `<table data-table="${esc(id)}"><thead><tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function armRow(a: ArmReport, target: number): string[] {
  return [
    a.name,
    a.roundsToTarget === null ? `not in ${a.rounds}` : String(a.roundsToTarget),
    a.timeToTargetS === null ? `not reached (≥ ${fmt(a.virtualS)} s)` : fmt(a.timeToTargetS),
    a.timeToTargetWallCloudS === null ? '—' : fmt(a.timeToTargetWallCloudS),
    a.finalAccuracy.toFixed(3),
    (a.series[a.series.length - 1]?.personalized ?? Number.NaN).toFixed(3),
    fmt(a.summary.flops.mean / 1e9),
    fmt(a.summary.energyJ.mean),
    fmt(a.summary.energyJ.p90),
    fmt(a.summary.energyJ.meanActive),
    fmt(a.summary.bytes.mean / 1e3),
    String(a.participants),
    fmt(a.summaryParticipating.flops.mean / 1e9),
    fmt(a.summaryParticipating.energyJ.mean),
    fmt(a.summaryParticipating.bytes.mean / 1e3),
    `${target}`,
  ];
}

/** The opening of every report page: its title and the one stylesheet. */
function pageHead(title: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}
table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px;text-align:left}
th{background:#f3f3f3}figure{margin:16px 0}figcaption{font-size:13px;margin-bottom:4px}
.note{font-size:12px;color:#555}
</style></head><body>
<h1>${esc(title)}</h1>
`;
}

/** Renders `report` as one self-contained HTML page. */
export function renderReportHtml(report: SimReport, title = 'FedEx simulation'): string {
  const c = report.config;
  const arms = report.arms;
  const acc = linePlot(
    arms.map((a) => ({
      name: a.name,
      points: a.series.map((p) => [Math.max(p.timeS, 0.1), p.accuracy] as [number, number]),
    })),
    {
      id: 'accuracy',
      title: `Global top-1 on ${report.population.testPhotos} held-out LFW photos against virtual time (log scale; dashed: target ${c.target})`,
      xLabel: 'virtual time (s, log)',
      yLabel: 'test accuracy',
      logX: true,
      hLine: c.target,
      yRange: [0, 1],
      step: true,
    },
  );
  const cdf = (id: string, what: string, unit: string, get: (a: ArmReport) => number[]) =>
    linePlot(
      arms.map((a) => ({ name: a.name, points: cdfPoints(get(a)) })),
      {
        id,
        title: `${what} per device over the run (CDF over the devices that did any work; log scale)`,
        xLabel: `${what} per device (${unit}, log)`,
        yLabel: 'fraction of devices',
        logX: true,
        yRange: [0, 1],
      },
    );
  const energy = cdf('energy', 'Device energy', 'J', (a) => a.perDevice.energyJ);
  const bytes = cdf('bytes', 'Bytes up + down', 'B', (a) =>
    a.perDevice.bytesUp.map((u, i) => u + a.perDevice.bytesDown[i]),
  );
  const flops = cdf('flops', 'Device FLOPs', 'FLOP', (a) => a.perDevice.flops);
  const armsTable = table(
    [
      'arm',
      'rounds to target',
      'virtual s to target',
      'same, measured cloud',
      'final top-1',
      'final personalized',
      'GFLOP per fleet device',
      'J per fleet device',
      'J (p90)',
      'J per device with any cost',
      'kB up+down per fleet device',
      'participating devices',
      'GFLOP per participating device',
      'J per participating device',
      'kB per participating device',
      'target',
    ],
    arms.map((a) => armRow(a, c.target)),
    'arms',
  );
  const ratio = (x: number | null) => (x === null ? '—' : `${fmt(x)}×`);
  const ratios = table(
    [
      'FedAvg-like arm vs FedEx',
      'time to target',
      'time, measured cloud',
      'FLOPs per fleet device',
      'FLOPs beyond detection',
      'energy per fleet device',
      'bytes per fleet device',
      'FLOPs per participating device',
      'energy per participating device',
      'bytes per participating device',
    ],
    report.comparisons.map((r) => [
      r.arm,
      (r.timeToTargetIsLowerBound ? '≥ ' : '') + ratio(r.timeToTarget),
      ratio(r.timeToTargetWallCloud),
      ratio(r.deviceFlops),
      ratio(r.deviceFlopsBeyondFrontEnd),
      ratio(r.deviceEnergy),
      ratio(r.deviceBytes),
      ratio(r.participating.deviceFlops),
      ratio(r.participating.deviceEnergy),
      ratio(r.participating.deviceBytes),
    ]),
    'ratios',
  );
  const pop = report.population;
  const profiles = Object.entries(pop.profiles)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  const setup = table(
    ['setting', 'value'],
    [
      ['devices', String(pop.devices)],
      ['split / head', `${c.split} / ${c.head} (${fmt(report.cloudTrainableParams)} trainable params)`],
      ['device bottom FLOPs per photo', fmt(c.bottomFlopsPerPhoto)],
      ['people (classes)', String(c.numClasses)],
      [
        'photos per device',
        `${pop.photosPerDevice.mean.toFixed(1)} (${pop.photosPerDevice.min}–${pop.photosPerDevice.max}); ${pop.distinctTrainPhotos} distinct training photos`,
      ],
      ['profiles', profiles],
      [
        'FedAvg',
        `${c.clientsPerRound} devices/round, E=${c.localEpochs}, B=${c.batchSize}, lr ${c.learningRate}, deadline ${c.deadlineS === 'auto' ? '1.5 × p90 of the round’s sessions' : `${c.deadlineS} s`}, ≤ ${c.maxRounds} rounds`,
      ],
      [
        'FedEx',
        `≤ ${c.fedexRounds} collection rounds; cloud Adam ${c.cloudTrain.learningRate}, ≤ ${c.cloudTrain.epochs} epochs`,
      ],
      [
        'cloud clock',
        c.cloudGflops === null
          ? `measured wall time × ${c.cloudTimeScale}`
          : `FLOPs at ${fmt(c.cloudGflops)} GFLOP/s (measured wall time × ${c.cloudTimeScale} beside it)`,
      ],
      [
        'every device, every arm',
        `detection + landmarks ${fmt(c.frontEndFlopsPerPhoto / 1e9)} GFLOP per photo; the bottom once per photo; one pull of the final model`,
      ],
      ['seed', String(c.seed)],
      ['wall time / peak RSS', `${report.wallS.toFixed(1)} s / ${report.peakRssMb.toFixed(0)} MB`],
    ],
    'setup',
  );
  return `${pageHead(title)}<p class="note">Accuracies come from really training on LFW features with the same strategy code as the server; time and energy are virtual, from counted FLOPs and bytes on the device profiles (see docs/sim.md). Costs are per device over the run, which stops at the target when reached. Created ${esc(report.createdAt)}.</p>
<h2>Setup</h2>${setup}
<h2>Time to target</h2>${armsTable}
<h2>FedAvg / FedEx ratios (how many times more)</h2>${ratios}
<h2>Accuracy against virtual time</h2>${acc}
<h2>Per-device costs</h2>${energy}${bytes}${flops}
</body></html>
`;
}

/** Renders a daily-retraining report: cumulative device costs and accuracy over the days. */
export function renderDailyHtml(report: DailyReport, title = 'FedEx vs FedAvg, daily retraining'): string {
  const c = report.config;
  const curve = (id: string, what: string, unit: string, get: (d: DayPoint) => number) =>
    linePlot(
      report.arms.map((a) => ({
        name: a.name,
        points: a.days.map((d) => [d.day, get(d)] as [number, number]),
      })),
      { id, title: `${what} (${unit}) against the day`, xLabel: 'day', yLabel: unit, logX: false },
    );
  const ratio = (x: number | null) => (x === null ? '—' : `${fmt(x)}×`);
  const rows = report.arms.map((a) => {
    const last = a.days[a.days.length - 1];
    return [
      a.name,
      last.accuracy.toFixed(3),
      last.personalized.toFixed(3),
      fmt(last.flops / 1e9),
      fmt(last.energyJ),
      fmt(last.bytes / 1e6),
      String(last.participants),
      fmt(last.participatingFlops / 1e9),
      fmt(last.participatingEnergyJ),
      `${fmt(a.latencyH.p50)} h (${a.latencyH.learned} / ${a.latencyH.photos} photos learned)`,
    ];
  });
  const summary = table(
    [
      'arm',
      'top-1, last day',
      'personalized',
      'GFLOP per fleet device',
      'J per fleet device',
      'MB per fleet device',
      'participating devices',
      'GFLOP per participating device',
      'J per participating device',
      'median photo → model on phone',
    ],
    rows,
    'daily-arms',
  );
  const r = report.ratios;
  const ratios = table(
    ['FedAvg / FedEx after the last day', 'value'],
    [
      [
        'device FLOPs, per fleet / participating device',
        `${ratio(r.flops)} / ${ratio(r.participatingFlops)}`,
      ],
      [
        'device energy, per fleet / participating device',
        `${ratio(r.energy)} / ${ratio(r.participatingEnergy)}`,
      ],
      [
        'device bytes, per fleet / participating device',
        `${ratio(r.bytes)} / ${ratio(r.participatingBytes)}`,
      ],
      ['median latency photo → model on phone', ratio(r.medianLatency)],
    ],
    'daily-ratios',
  );
  return `${pageHead(title)}<p class="note">${report.devices} devices (${esc(c.profile)}), ${c.days} days, split ${esc(c.split)}, head ${esc(c.head)}; ${fmt(c.initialShare * 100)}% of each phone's photos on day 0, then about ${fmt(c.photosPerDay)} a day; FedEx uploads new photos' features and retrains in the cloud daily, FedAvg (features cached) runs ${c.roundsPerDay} warm-started rounds a day; every phone pulls each day's model, and pays detection, landmarks and the bottom once per photo. Created ${esc(report.createdAt)}.</p>
<h2>After the last day</h2>${summary}${ratios}
<h2>Cumulative device costs</h2>
${curve('daily-flops', 'Cumulative device GFLOP per fleet device', 'GFLOP', (d) => d.flops / 1e9)}
${curve('daily-energy', 'Cumulative device energy per fleet device', 'J', (d) => d.energyJ)}
${curve('daily-bytes', 'Cumulative bytes per fleet device', 'MB', (d) => d.bytes / 1e6)}
<h2>The model each day</h2>
${curve('daily-accuracy', 'Global top-1 of the day’s model', 'accuracy', (d) => d.accuracy)}
</body></html>
`;
}
