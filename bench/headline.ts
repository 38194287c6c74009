/**
 * Headline suite: FedEx vs FedAvg with the accounting of docs/sim.md ("The accounting, changed"):
 * both arms pay detection, landmarks and the bottom once per photo and one pull per model version,
 * costs per fleet device and per participating device, automatic deadline, the cloud on a FLOP
 * clock (5,000 GFLOP/s) with its measured wall time beside it. Three experiments, real training on
 * real LFW features with the server's strategy code:
 * 1. `campaign`: one campaign to global top-1 0.7, 100 phones, the linear top at `embedding`
 *    (FedEx, FedAvg with cached and recomputed features), FedAvg in the strongest configuration
 *    of a sweep (lr × E, then devices per round, then FedAvgM / FedAdam);
 * 2. `daily`: 30 days, photos arriving on the phones, a fresh model every day (FedEx vs FedAvg
 *    with cached features, 10 warm-started rounds a day);
 * 3. `heavy-top`: `stage128` with the `upper` head (the pretrained upper stage, 4.46M parameters)
 *    in both arms; FedAvg phones train it by backprop and send it each way every round. On this
 *    2-core machine the fleet is small (FEDEX_HEADLINE_HEAVY_DEVICES, default 20 phones of ~30
 *    photos over FEDEX_HEADLINE_HEAVY_PEOPLE people, default 30) and FedAvg runs at most 30 rounds;
 *    the target is FEDEX_HEADLINE_HEAVY_TARGET (default 0.9); FedAvg's SGD rate and local epochs are
 *    FEDEX_HEADLINE_HEAVY_LR (0.01) and FEDEX_HEADLINE_HEAVY_EPOCHS (1), and it starts from the head
 *    as built or, with FEDEX_HEADLINE_HEAVY_START=centroids, from federated class centroids;
 *    FEDEX_HEADLINE_HEAVY_MASKED (default 0) is the share of photos that wear a synthetic mask (the
 *    task where the top must move; top-1 on masked and unmasked test photos are rows of their own).
 * Reports: `<out>/headline/<run>/` (FEDEX_HEADLINE_OUT). FEDEX_HEADLINE_ONLY=campaign,daily picks runs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadBackbone } from '../src/model/backbones/registry.js';
import { initRuntime } from '../src/runtime/node.js';
import { runDaily } from '../src/sim/daily.js';
import { loadSimData, SIM_SCAN } from '../src/sim/data.js';
import { renderDailyHtml, renderReportHtml } from '../src/sim/report-html.js';
import { runSimulation, type SimOptions, type SimReport } from '../src/sim/runner.js';
import { DEFAULT_SERVER_OPTIMIZER } from '../src/strategy/server-opt.js';
import { datasetDir } from '../src/testing/datasets.js';
import type { BenchRow, BenchSuite } from './types.js';

const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

export const headlineSuite: BenchSuite = {
  name: 'headline',
  summary: 'FedEx vs FedAvg, equal accounting: one campaign, 30 days of daily retraining, a heavy top',
  async run({ quick, log }) {
    await initRuntime();
    if (!datasetDir('lfw_deepfunneled_min5')) {
      log('SKIPPED: lfw_deepfunneled_min5 not found (set FEDEX_DATA_DIR)');
      return [];
    }
    const only = process.env.FEDEX_HEADLINE_ONLY?.split(',').map((s) => s.trim());
    const want = (name: string) => !only || only.includes(name);
    const outDir = process.env.FEDEX_HEADLINE_OUT ?? path.join('out', 'bench', 'headline');
    const rows: BenchRow[] = [];
    const push = (run: string, name: string, value: number | null, unit: string, note = '') =>
      rows.push({ suite: 'headline', name: `${run}: ${name}`, value: value ?? Number.NaN, unit, note });
    const campaignRows = (run: string, report: SimReport) => {
      for (const a of report.arms) {
        push(
          run,
          `${a.name} time to target`,
          a.timeToTargetS,
          's',
          `measured cloud: ${a.timeToTargetWallCloudS === null ? 'not reached' : `${a.timeToTargetWallCloudS.toFixed(1)} s`}; final top-1 ${a.finalAccuracy.toFixed(3)}`,
        );
        push(
          run,
          `${a.name} GFLOP per fleet / participating device`,
          a.summary.flops.mean / 1e9,
          'GFLOP',
          `participating (${a.participants}): ${(a.summaryParticipating.flops.mean / 1e9).toFixed(2)}`,
        );
        push(
          run,
          `${a.name} J per fleet / participating device`,
          a.summary.energyJ.mean,
          'J',
          `participating: ${a.summaryParticipating.energyJ.mean.toFixed(2)}`,
        );
        push(
          run,
          `${a.name} MB per fleet / participating device`,
          a.summary.bytes.mean / 1e6,
          'MB',
          `participating: ${(a.summaryParticipating.bytes.mean / 1e6).toFixed(3)}`,
        );
      }
      for (const a of report.arms) {
        const last = a.series[a.series.length - 1];
        if (last.maskedAccuracy !== undefined)
          push(
            run,
            `${a.name} final top-1 on masked / unmasked test photos`,
            last.maskedAccuracy,
            'acc',
            `unmasked ${last.plainAccuracy?.toFixed(3)}; ${(report.config.maskedShare * 100).toFixed(0)}% of photos masked`,
          );
      }
      for (const a of report.arms)
        if (a.personal)
          push(
            run,
            `${a.name} personalized top-1 (own people)`,
            a.personal.mean,
            'acc',
            `p10 ${a.personal.p10.toFixed(3)}; ${a.personal.personalized} phones with a personal model; FedEx: per-phone heads in the cloud, FedAvg: local fine-tuning`,
          );
      for (const c of report.comparisons) {
        const p = c.participating;
        push(
          run,
          `${c.arm}/fedex time to target`,
          c.timeToTarget,
          'x',
          `${c.timeToTargetIsLowerBound ? 'lower bound; ' : ''}measured cloud ${c.timeToTargetWallCloud === null ? '—' : `${c.timeToTargetWallCloud.toFixed(2)}x`}`,
        );
        push(
          run,
          `${c.arm}/fedex device FLOPs`,
          c.deviceFlops,
          'x',
          `per participating device ${p.deviceFlops?.toFixed(2)}x`,
        );
        push(
          run,
          `${c.arm}/fedex device FLOPs beyond detection`,
          c.deviceFlopsBeyondFrontEnd,
          'x',
          'detection + landmarks, which both arms pay once per photo, left out',
        );
        push(
          run,
          `${c.arm}/fedex device energy`,
          c.deviceEnergy,
          'x',
          `per participating device ${p.deviceEnergy?.toFixed(2)}x`,
        );
        push(
          run,
          `${c.arm}/fedex device bytes`,
          c.deviceBytes,
          'x',
          `per participating device ${p.deviceBytes?.toFixed(2)}x`,
        );
      }
    };
    const save = (run: string, file: string, json: unknown, html: string) => {
      const dir = path.join(outDir, run);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `${file}.json`), JSON.stringify(json));
      writeFileSync(path.join(dir, `${file}.html`), html);
    };
    const progress = (run: string) => (l: string) => log(`  ${run}: ${l}`);

    if (want('campaign')) {
      const data = await loadSimData({ split: 'embedding' });
      // The strongest FedAvg we can find on this task: learning rate × local epochs, then devices
      // per round, then a server step (FedAvgM, FedAdam); fewest virtual seconds to the target
      // wins (tuned on the test photos themselves, which can only flatter FedAvg).
      const grid: Array<Partial<SimOptions>> = quick
        ? [{}]
        : [1, 3, 10].flatMap((learningRate) => [1, 5].map((localEpochs) => ({ learningRate, localEpochs })));
      const tried: Array<{ o: Partial<SimOptions>; time: number; label: string }> = [];
      const label = (o: Partial<SimOptions>) =>
        `lr ${o.learningRate ?? 'default'}, E ${o.localEpochs ?? 5}, ${o.clientsPerRound ?? 20}/round, server ${o.serverOptimizer?.kind ?? 'none'}`;
      const tryOne = async (o: Partial<SimOptions>) => {
        const r = await runSimulation(data, {
          devices: 100,
          arms: [{ strategy: 'fedavg', bottomMode: 'cached' }],
          ...o,
        });
        const time = r.arms[0].timeToTargetS ?? Number.POSITIVE_INFINITY;
        tried.push({ o, time, label: label(o) });
        log(
          `  campaign sweep: ${label(o)}: ${Number.isFinite(time) ? `${time.toFixed(1)} s` : 'target not reached'}`,
        );
      };
      const best = () => tried.reduce((a, b) => (b.time < a.time ? b : a));
      for (const o of grid) await tryOne(o);
      if (!quick) {
        const b = best().o;
        for (const clientsPerRound of [10, 50]) await tryOne({ ...b, clientsPerRound });
        const c = best().o;
        await tryOne({
          ...c,
          serverOptimizer: { ...DEFAULT_SERVER_OPTIMIZER, kind: 'momentum', learningRate: 1 },
        });
        await tryOne({
          ...c,
          serverOptimizer: { ...DEFAULT_SERVER_OPTIMIZER, kind: 'adam', learningRate: 0.03 },
        });
      }
      const strongest = best();
      for (const t of tried)
        push(
          'campaign',
          `FedAvg sweep: ${t.label}`,
          Number.isFinite(t.time) ? t.time : null,
          's',
          'virtual seconds to 0.7, FedAvg with cached features alone',
        );
      push(
        'campaign',
        'FedAvg configuration in the comparison',
        strongest.time,
        's',
        `the sweep's fastest: ${strongest.label}`,
      );
      const report = await runSimulation(
        data,
        { devices: 100, ...strongest.o, personalize: {}, ...(quick ? { maxRounds: 20 } : {}) },
        { log: progress('campaign') },
      );
      save(
        'campaign',
        'report',
        report,
        renderReportHtml(report, 'Headline: one campaign, 100 phones, embedding'),
      );
      campaignRows('campaign', report);
    }
    if (want('daily')) {
      const data = await loadSimData({ split: 'embedding' });
      const days = quick ? 5 : 30;
      const report = await runDaily(data, { devices: 100, days }, { log: progress('daily') });
      save(
        'daily',
        'daily',
        report,
        renderDailyHtml(report, `Headline: ${days} days of daily retraining, 100 phones`),
      );
      for (const a of report.arms) {
        const d = a.days[a.days.length - 1];
        push(
          'daily',
          `${a.name} GFLOP per fleet device after ${days} days`,
          d.flops / 1e9,
          'GFLOP',
          `participating: ${(d.participatingFlops / 1e9).toFixed(1)}`,
        );
        push(
          'daily',
          `${a.name} J per fleet device after ${days} days`,
          d.energyJ,
          'J',
          `participating: ${d.participatingEnergyJ.toFixed(1)}`,
        );
        push(
          'daily',
          `${a.name} MB per fleet device after ${days} days`,
          d.bytes / 1e6,
          'MB',
          `participating: ${(d.participatingBytes / 1e6).toFixed(2)}`,
        );
        push('daily', `${a.name} top-1 on the last day`, d.accuracy, 'acc');
        push(
          'daily',
          `${a.name} median photo -> model on phone`,
          a.latencyH.p50,
          'h',
          `${a.latencyH.learned}/${a.latencyH.photos} photos learned within the horizon`,
        );
      }
      const r = report.ratios;
      push(
        'daily',
        'fedavg/fedex device FLOPs',
        r.flops,
        'x',
        `per participating device ${r.participatingFlops?.toFixed(2)}x`,
      );
      push(
        'daily',
        'fedavg/fedex device FLOPs beyond detection',
        r.flopsBeyondFrontEnd,
        'x',
        'detection + landmarks, which both arms pay once per photo, left out',
      );
      push(
        'daily',
        'fedavg/fedex device energy',
        r.energy,
        'x',
        `per participating device ${r.participatingEnergy?.toFixed(2)}x`,
      );
      push(
        'daily',
        'fedavg/fedex device bytes',
        r.bytes,
        'x',
        `per participating device ${r.participatingBytes?.toFixed(2)}x`,
      );
      push('daily', 'fedavg/fedex median latency', r.medianLatency, 'x');
    }
    if (want('heavy-top')) {
      const devices = num('FEDEX_HEADLINE_HEAVY_DEVICES', quick ? 6 : 20);
      const people = num('FEDEX_HEADLINE_HEAVY_PEOPLE', 30);
      const target = num('FEDEX_HEADLINE_HEAVY_TARGET', 0.9);
      const data = await loadSimData({
        split: 'stage128',
        scan: { ...SIM_SCAN, maxPeople: people },
        maskedShare: num('FEDEX_HEADLINE_HEAVY_MASKED', 0),
      });
      const backbone = await loadBackbone('faceapi-resnet');
      try {
        const report = await runSimulation(
          data,
          {
            devices,
            head: 'upper',
            headOptions: { backbone, split: 'stage128' },
            arms: [
              { strategy: 'fedex', bottomMode: 'cached' },
              { strategy: 'fedavg', bottomMode: 'cached' },
            ],
            target,
            peoplePerDevice: [3, 4],
            photosPerPerson: [6, 10],
            clientsPerRound: Math.max(2, Math.round(devices / 4)),
            localEpochs: num('FEDEX_HEADLINE_HEAVY_EPOCHS', 1),
            batchSize: 16,
            learningRate: num('FEDEX_HEADLINE_HEAVY_LR', 0.01),
            fedavgStart: process.env.FEDEX_HEADLINE_HEAVY_START === 'centroids' ? 'centroids' : 'initial',
            maxRounds: quick ? 3 : 30,
            fedexRounds: 2,
            // The global-split bench's LP-FT recipe (docs/adapt.md).
            cloudTrain: {
              epochs: quick ? 2 : 8,
              learningRate: 1e-3,
              patience: 3,
              maxBatchesPerEpoch: 150,
              probeEpochs: 1,
              pretrainedLearningRateScale: 0.1,
              validateStart: true,
            },
          },
          { log: progress('heavy-top') },
        );
        save(
          'heavy-top',
          'report',
          report,
          renderReportHtml(report, `Headline: heavy top (stage128 upper), ${devices} phones`),
        );
        campaignRows('heavy-top', report);
      } finally {
        backbone.dispose();
      }
    }
    return rows;
  },
};
