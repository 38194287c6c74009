import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LFW_TEST_SCAN } from '../testing/datasets.js';
import { describeWithData } from '../testing/describe-with-data.js';
import { parseFlags } from './args.js';
import { SIM_FLAGS, simOptionsFromFlags } from './sim.js';
import { DEFAULT_SIM_OPTIONS, fedexStrategyOptions } from '../sim/runner.js';
import { run } from './testing/features.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'fedex-sim-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('fedex sim flags', () => {
  it('prints its help with every flag', async () => {
    const r = await run(['sim', '--help']);
    expect(r.code).toBe(0);
    for (const f of [
      '--devices',
      '--strategies',
      '--split',
      '--profile',
      '--out',
      '--sweep-split',
      '--bottom',
      '--normalize',
    ])
      expect(r.stdout).toContain(f);
  });

  it('gives --scenario heavy-top the headline defaults, and lets a flag override them', async () => {
    const heavy = await simOptionsFromFlags(
      parseFlags(['--scenario', 'heavy-top', '--devices', '20'], SIM_FLAGS).flags,
    );
    expect(heavy.scenario).toBe('heavy-top');
    expect(heavy.split).toBe('stage128');
    expect(heavy.options).toMatchObject({
      head: 'upper',
      arms: [
        { strategy: 'fedex', bottomMode: 'cached' },
        { strategy: 'fedavg', bottomMode: 'cached' },
      ],
      target: 0.9,
      maxRounds: 30,
      localEpochs: 1,
      batchSize: 16,
      learningRate: 0.01,
      clientsPerRound: 5,
      photosPerPerson: [6, 10],
      cloudTrain: { epochs: 8, probeEpochs: 1, pretrainedLearningRateScale: 0.1, validateStart: true },
    });
    const over = await simOptionsFromFlags(
      parseFlags(['--scenario', 'heavy-top', '--lr', '0.1', '--epochs', '5'], SIM_FLAGS).flags,
    );
    expect(over.options).toMatchObject({ learningRate: 0.1, localEpochs: 5 });
    const plain = await simOptionsFromFlags(parseFlags([], SIM_FLAGS).flags);
    expect(plain.split).toBe('embedding');
    expect(plain.options.head).toBe('linear');
    expect(plain.options.cloudTrain?.optimizer).toBe('adam');
    const sgd = await simOptionsFromFlags(
      parseFlags(['--cloud-opt', 'sgd', '--cloud-lr', '3', '--cloud-val-split', '0'], SIM_FLAGS).flags,
    );
    expect(sgd.options.cloudTrain).toMatchObject({ optimizer: 'sgd', learningRate: 3, validationSplit: 0 });
    const cloudAvg = await simOptionsFromFlags(
      parseFlags(['--scenario', 'daily', '--fedex-cloud', 'fedavg', '--rounds-per-day', '7'], SIM_FLAGS)
        .flags,
    );
    expect(cloudAvg.options).toMatchObject({ fedexCloud: 'fedavg', cloudRounds: 7 });
    expect(
      fedexStrategyOptions({ ...DEFAULT_SIM_OPTIONS, ...cloudAvg.options }, [128], 5, 32).cloudFedAvg,
    ).toMatchObject({ rounds: 7, clientsPerRound: 20, localEpochs: 5, batchSize: 10 });
    // What FedEx's cloud trainer is then given.
    expect(
      fedexStrategyOptions({ ...DEFAULT_SIM_OPTIONS, ...sgd.options }, [128], 5, 32).train,
    ).toMatchObject({
      optimizer: 'sgd',
      learningRate: 3,
      validationSplit: 0,
    });
  });

  it.each([
    [['--devices', '0'], /--devices must be between 1 and 100000, got 0/],
    [['--devices', 'many'], /--devices must be an integer/],
    [['--strategies', 'fedex,fedsgd'], /--strategies: unknown "fedsgd"; choose from fedex, fedavg, fedprox/],
    [['--bottom', 'sideways'], /--bottom: unknown "sideways"/],
    [['--split', 'stage999'], /--split must be one of .*stage128.*; got "stage999"/],
    [['--profile', 'toaster/lte'], /--profile must be one of .*mid-range\/lte/],
    [['--target', '1.5'], /--target must be a number in \(0, 1\]/],
    [['--deadline=-3'], /--deadline must be a positive number of seconds or auto, got "-3"/],
    [['--deadline', 'soon'], /--deadline must be a positive number of seconds or auto/],
    [['--cloud-gflops', '0'], /--cloud-gflops must be a positive number or wall/],
    [['--server-opt', 'sgd'], /--server-opt must be one of none, momentum, adam; got "sgd"/],
    [['--fedavg-start', 'zeros'], /--fedavg-start must be one of initial, centroids; got "zeros"/],
    [['--scenario', 'weekly'], /--scenario must be one of campaign, daily, heavy-top; got "weekly"/],
    [
      ['--scenario', 'heavy-top', '--head', 'linear'],
      /--scenario heavy-top trains the upper head in both arms/,
    ],
    [['--scenario', 'heavy-top', '--split', 'embedding'], /--head upper needs an intermediate split/],
    [['--scenario', 'daily', '--days', '0'], /--days must be between 1 and 3650, got 0/],
    [['--scenario', 'daily', '--photos-per-day=-1'], /--photos-per-day must be a positive number/],
    [['--scenario', 'daily', '--initial-share', '1.5'], /--initial-share must be a number in \(0, 1\]/],
    [['--server-opt', 'adam', '--server-lr', '0'], /--server-lr must be a positive number/],
    [['--photos-per-person=-2'], /--photos-per-person must be A-B with integers 1 <= A <= B/],
    [['--photos-per-person', '6-2'], /--photos-per-person must be A-B/],
    [['--people-per-device', '0-3'], /--people-per-device must be A-B/],
    [['--cloud-epochs', '0'], /--cloud-epochs must be between 1 and 100000/],
    [['--cloud-patience=-1'], /--cloud-patience must be between 0 and 100000/],
    [['--cloud-l2=-1'], /--cloud-l2 must be a non-negative number/],
    [['--cloud-opt', 'rmsprop'], /--cloud-opt must be one of adam, sgd; got "rmsprop"/],
    [['--fedex-cloud', 'adam'], /--fedex-cloud must be one of fit, fedavg; got "adam"/],
    [['--cloud-rounds', '0'], /--cloud-rounds must be between 1 and 100000, got 0/],
    [['--cloud-val-split', '1'], /--cloud-val-split must be a number in \[0, 1\)/],
    [['--fedex-retrain', 'cold'], /--fedex-retrain must be one of warm, fresh; got "cold"/],
    [['--masked-share', '1.5'], /--masked-share must be a number in \[0, 1\]/],
    [['--fedex-start', 'zeros'], /--fedex-start must be one of initial, centroids; got "zeros"/],
    [['--cloud-lr=-1'], /--cloud-lr must be a positive number/],
    [['--front-end-gflop=-1'], /--front-end-gflop must be a non-negative number of GFLOP/],
    [['--splits', 'embedding,nope'], /--splits: unknown split "nope"/],
    [['--profiles', '/nonexistent/profiles.json'], /--profiles \/nonexistent\/profiles.json/],
    [['--frobnicate'], /Unknown option '--frobnicate'/],
    [['--head', 'upper'], /--head upper needs an intermediate split/],
    [['--head', 'resnet'], /--head must be one of linear, mlp, upper/],
    [['--normalize', 'whiten'], /--normalize must be one of standardize, none; got "whiten"/],
    [['--min-photos', '1'], /--min-photos must be between 2 and 10000, got 1/],
    [['--max-people', '0'], /--max-people must be between 1 and 100000, got 0/],
  ])('refuses %j with a clear error and exit code 2', async (argv, message) => {
    const r = await run(['sim', ...argv]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain('[BAD_ARGUMENT]');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('refuses a profile override that breaks a rate', async () => {
    const file = path.join(tmp, 'bad-profiles.json');
    writeFileSync(file, JSON.stringify({ networks: { lte: { uplinkMbps: -1 } } }));
    const r = await run([
      'sim',
      '--profiles',
      file,
      '--out',
      path.join(tmp, 'never'),
      '--devices',
      '2',
      '--quiet',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/uplinkMbps must be a positive number/);
  });
});

describeWithData('lfw_deepfunneled_min5', () => {
  it('writes report.json with every arm and a report.html with the plots', async () => {
    // Prepare
    const out = path.join(tmp, 'run');

    // Execute
    const r = await run([
      'sim',
      '--devices',
      '12',
      // The LFW selection every real-data test shares (LFW_TEST_SCAN), so a cold cache extracts it once.
      '--max-people',
      String(LFW_TEST_SCAN.maxPeople),
      '--max-per-person',
      String(LFW_TEST_SCAN.maxPerPerson),
      '--min-photos',
      String(LFW_TEST_SCAN.minPhotos),
      '--data-seed',
      String(LFW_TEST_SCAN.seed),
      '--rounds',
      '2',
      '--fedex-rounds',
      '1',
      '--clients-per-round',
      '3',
      '--profile',
      'mixed',
      '--out',
      out,
      '--json',
      '--quiet',
    ]);

    // Assert
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.format).toBe('fedex-sim');
    expect(report.arms.map((a: { name: string }) => a.name)).toEqual([
      'fedex',
      'fedavg-cached',
      'fedavg-recompute',
    ]);
    expect(report.arms[1].perDevice.energyJ).toHaveLength(12);
    expect(Object.values(report.population.profiles).reduce((a: number, b) => a + (b as number), 0)).toBe(12);
    const summary = JSON.parse(r.stdout);
    expect(summary.arms[0].name).toBe('fedex');
    expect(summary.arms[0].perDevice).toBeUndefined(); // stdout carries the summary only
    expect(existsSync(path.join(out, 'report.html'))).toBe(true);
    expect(readFileSync(path.join(out, 'report.html'), 'utf8')).toContain('data-plot="energy"');
  }, 300_000);

  it('runs the daily scenario and writes daily.json and daily.html with the cumulative-cost curves', async () => {
    const out = path.join(tmp, 'daily');
    const r = await run([
      'sim',
      '--scenario',
      'daily',
      '--devices',
      '10',
      '--days',
      '3',
      '--rounds-per-day',
      '2',
      '--clients-per-round',
      '3',
      '--max-people',
      String(LFW_TEST_SCAN.maxPeople),
      '--max-per-person',
      String(LFW_TEST_SCAN.maxPerPerson),
      '--min-photos',
      String(LFW_TEST_SCAN.minPhotos),
      '--data-seed',
      String(LFW_TEST_SCAN.seed),
      '--out',
      out,
      '--quiet',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/fedavg-cached \/ fedex after 3 days: FLOPs/);
    const report = JSON.parse(readFileSync(path.join(out, 'daily.json'), 'utf8'));
    expect(report.format).toBe('fedex-daily');
    expect(report.arms.map((a: { days: unknown[] }) => a.days.length)).toEqual([3, 3]);
    const html = readFileSync(path.join(out, 'daily.html'), 'utf8');
    for (const plot of ['daily-flops', 'daily-energy', 'daily-bytes', 'daily-accuracy'])
      expect(html).toContain(`data-plot="${plot}"`);
  }, 300_000);
});
