import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { browserRequired, findChromium, launchChromium } from '../device/testing/chromium.js';
import { cdfPoints, fmt, linePlot, renderReportHtml } from './report-html.js';
import { compare, distribution, type ArmReport, type SimReport } from './runner.js';
import { DEFAULT_SIM_OPTIONS } from './runner.js';

/** A small report by hand: FedEx (2 points) and FedAvg (4 points) over 5 devices. */
function smallReport(): SimReport {
  const arm = (name: string, strategy: 'fedex' | 'fedavg', acc: number[], energy: number[]): ArmReport => {
    const flops = energy.map((e) => e * 1e9);
    const bytes = energy.map((e) => e * 1e4);
    return {
      name,
      strategy,
      bottomMode: strategy === 'fedex' ? null : 'cached',
      series: acc.map((a, i) => ({
        round: i,
        timeS: i * (strategy === 'fedex' ? 30 : 70),
        accuracy: a,
        personalized: a,
        personalizedP10: a / 2,
        selected: 2,
        participants: 2,
        droppedOut: 0,
        late: 0,
        cloudS: 1,
        cloudWallS: 2,
        cloudFlops: 5e9,
        deadlineS: 40,
      })),
      roundsToTarget: acc.findIndex((a) => a >= 0.8) >= 0 ? acc.findIndex((a) => a >= 0.8) : null,
      timeToTargetS:
        acc.findIndex((a) => a >= 0.8) >= 0
          ? acc.findIndex((a) => a >= 0.8) * (strategy === 'fedex' ? 30 : 70)
          : null,
      timeToTargetWallCloudS:
        acc.findIndex((a) => a >= 0.8) >= 0
          ? acc.findIndex((a) => a >= 0.8) * ((strategy === 'fedex' ? 30 : 70) + 1)
          : null,
      participants: energy.filter((e) => e > 0).length,
      finalAccuracy: acc[acc.length - 1],
      rounds: acc.length - 1,
      virtualS: (acc.length - 1) * 70,
      perDevice: { flops, bytesUp: bytes, bytesDown: bytes, energyJ: energy },
      summary: {
        flops: distribution(flops),
        bytes: distribution(bytes.map((b) => 2 * b)),
        energyJ: distribution(energy),
      },
      summaryParticipating: {
        flops: distribution(flops.filter((f) => f > 0)),
        bytes: distribution(bytes.filter((b) => b > 0).map((b) => 2 * b)),
        energyJ: distribution(energy.filter((e) => e > 0)),
      },
      // Detection + landmarks: 8 GFLOP per device in both arms (part of `flops` above).
      settlement: { frontEndFlops: 40e9, bottomFlops: 0, modelPullBytes: 0, devices: 5 },
      wallS: 1,
    };
  };
  const arms = [
    arm('fedex', 'fedex', [0.01, 0.9], [12, 13, 12.5, 0, 14]),
    arm('fedavg-cached', 'fedavg', [0.01, 0.3, 0.6, 0.85], [50, 0, 120, 80, 60]),
  ];
  const { catalog: _c, ...config } = { ...DEFAULT_SIM_OPTIONS, devices: 5 };
  return {
    format: 'fedex-sim',
    version: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    config: { ...config, split: 'embedding', numClasses: 158, bottomFlopsPerPhoto: 5.4e8, maskedShare: 0 },
    population: {
      devices: 5,
      distinctTrainPhotos: 40,
      photosPerDevice: { mean: 9, min: 4, max: 14 },
      peoplePerDevice: { mean: 3, min: 2, max: 4 },
      profiles: { 'mid-range/lte': 5 },
      testPhotos: 507,
    },
    cloudTrainableParams: 20382,
    arms,
    comparisons: compare(arms),
    wallS: 2,
    peakRssMb: 300,
  };
}

describe('report HTML, as a string', () => {
  it('compares FedAvg against FedEx as ratios (arm / fedex)', () => {
    const r = smallReport();
    expect(r.comparisons).toHaveLength(1);
    expect(r.comparisons[0].timeToTarget).toBeCloseTo(210 / 30, 12);
    expect(r.comparisons[0].deviceEnergy).toBeCloseTo(62 / 10.3, 12);
    // FLOPs per fleet device: 62 and 10.3 GFLOP, 8 of each the front end both pay.
    expect(r.comparisons[0].deviceFlops).toBeCloseTo(62 / 10.3, 12);
    expect(r.comparisons[0].deviceFlopsBeyondFrontEnd).toBeCloseTo((62 - 8) / (10.3 - 8), 10);
    // Per participating device: FedAvg's 4 active devices (77.5 J) over FedEx's 4 (12.875 J).
    expect(r.comparisons[0].participating.deviceEnergy).toBeCloseTo(77.5 / 12.875, 12);
    expect(r.comparisons[0].timeToTargetWallCloud).toBeCloseTo(213 / 31, 12);
  });

  it('is self-contained: no script, no external link or image', () => {
    const html = renderReportHtml(smallReport());
    expect(html).not.toMatch(/<script|<link|src=|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(html).toContain('data-plot="accuracy"');
    expect(html).toContain('<td>7×</td>'); // FedAvg's time to target over FedEx's
  });

  it('escapes text and formats numbers compactly', () => {
    expect(
      linePlot([{ name: '<b>', points: [[1, 1]] }], {
        id: 'x',
        title: 't&',
        xLabel: 'x',
        yLabel: 'y',
        logX: false,
      }),
    ).toContain('&lt;b&gt;');
    expect(fmt(1.234e9)).toBe('1.23G');
    expect(fmt(null)).toBe('—');
    expect(fmt(100, 2)).toBe('100');
    expect(fmt(0.123456)).toBe('0.123');
  });

  it('draws a CDF through the smallest and largest positive values', () => {
    const pts = cdfPoints([0, 5, 1, 3, 2, 4]);
    expect(pts[0]).toEqual([1, 0.2]);
    expect(pts[pts.length - 1]).toEqual([5, 1]);
    expect(
      cdfPoints(
        Array.from({ length: 10_000 }, (_, i) => i + 1),
        100,
      ),
    ).toHaveLength(100);
  });
});

const chromiumPath = findChromium();

describe.skipIf(!chromiumPath && !browserRequired())('report HTML in headless Chromium', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fedex-sim-report-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('shows every plot with its data points and the tables with their rows', async () => {
    if (!chromiumPath) throw new Error('Chromium not found (FEDEX_REQUIRE_BROWSER=1): set FEDEX_CHROMIUM');
    // Prepare
    const file = path.join(dir, 'report.html');
    writeFileSync(file, renderReportHtml(smallReport()));
    const browser = await launchChromium(chromiumPath);
    try {
      const page = await browser.newPage();
      const failed: string[] = [];
      page.on('requestfailed', (r) => failed.push(r.url()));

      // Execute
      await page.goto(pathToFileURL(file).href);
      const seen = await page.evaluate(() => {
        const plots: Record<string, { points: number; series: number; width: number }> = {};
        document.querySelectorAll('svg.plot').forEach((svg) => {
          const box = svg.getBoundingClientRect();
          plots[svg.getAttribute('data-plot')!] = {
            points: svg.querySelectorAll('circle.pt').length,
            series: svg.querySelectorAll('g.series').length,
            width: box.width,
          };
        });
        const rows = (id: string) => document.querySelectorAll(`table[data-table="${id}"] tbody tr`).length;
        const firstAcc = document.querySelector('svg[data-plot="accuracy"] circle.pt');
        return {
          plots,
          arms: rows('arms'),
          ratios: rows('ratios'),
          title: document.title,
          firstY: firstAcc?.getAttribute('data-y'),
        };
      });

      // Assert: 2 + 4 accuracy points; CDFs over the devices with positive values (4 and 4).
      expect(seen.title).toBe('FedEx simulation');
      expect(seen.plots.accuracy).toEqual({ points: 6, series: 2, width: 640 });
      expect(seen.plots.energy.points).toBe(8);
      expect(seen.plots.bytes.points).toBe(8);
      expect(seen.plots.flops.points).toBe(8);
      expect(Number(seen.firstY)).toBeCloseTo(0.01, 12);
      expect(seen.arms).toBe(2);
      expect(seen.ratios).toBe(1);
      expect(failed).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
