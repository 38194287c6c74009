/**
 * FedEx: every client uploads the features of its photos once (task `upload-features`); the cloud
 * trains the top on the union of all uploads so far with the same head and trainer the server uses
 * for its jobs (`getHead(...).build` + `fitHead`, Adam with early stopping, then a refit on every
 * upload for the best epoch count), starting from the global weights, or (`cloudFedAvg`) with
 * FedAvg's own recipe run on the server over the uploads. A client that has uploaded is not asked
 * again; once everyone has, rounds are idle.
 *
 * The strategy keeps the uploaded features (the cloud stores them, which is the point of FedEx).
 */

import * as tf from '@tensorflow/tfjs';
import { FedexError } from '../core/errors.js';
import { createRng, deriveSeed, shuffled } from '../core/random.js';
import type { FeatureBatch } from '../core/types.js';
import { countModelCosts } from '../model/flops.js';
import { getHead, type HeadOptions } from '../model/heads/registry.js';
import { fitHead, type TrainOptions } from '../model/trainer.js';
import { weightedMean } from './aggregate.js';
import { runClientTask, type ClientData } from './client.js';
import { readWeights, writeWeights } from './model-weights.js';
import type { ClientResult, ClientTask, RoundSettings, Strategy, Weights } from './types.js';

export interface FedExOptions {
  /** Registry head the cloud trains (the one the devices' weights belong to). */
  head: string;
  headOptions?: HeadOptions;
  /** Shape of one feature. */
  inputShape: readonly number[];
  numClasses: number;
  /** The cloud trainer's options (defaults: `DEFAULT_TRAIN_OPTIONS`; seed: `settings.seed`). */
  train?: Partial<Omit<TrainOptions, 'onEpoch' | 'signal'>>;
  /**
   * After early stopping on a validation split, train again on every upload for the best epoch
   * count and ship that, as the server's jobs do (default true). A best epoch of 0 (the start won,
   * with `validateStart`) ships the start.
   */
  refit?: boolean;
  /**
   * `global` (default): every aggregation trains on from the current global weights (a warm
   * start). `fresh`: from the head as built (seeded), ignoring them: each aggregation is a new
   * training on every upload so far, so a validation split is never scored by weights that were
   * already trained on it (a warm start from a model refitted on every upload would be).
   */
  start?: 'global' | 'fresh';
  /**
   * Train with FedAvg's own recipe in the cloud instead of `fitHead`: the uploads, grouped by
   * device (`groupBy`, default the client id), are the "clients" of `rounds` rounds of federated
   * averaging that run on the server (the same `runClientTask` SGD a FedAvg phone runs, then the
   * example-weighted mean). No phone trains; the cloud pays the FLOPs.
   */
  cloudFedAvg?: CloudFedAvgOptions;
}

export interface CloudFedAvgOptions {
  rounds: number;
  clientsPerRound: number;
  localEpochs: number;
  batchSize: number;
  learningRate: number;
  /** The device an upload came from (several uploads of one device train as one client). */
  groupBy?: (clientId: string) => string;
}

class FedEx implements Strategy {
  readonly name = 'fedex' as const;
  private readonly uploads = new Map<string, ClientResult & { kind: 'features' }>();
  private cloudFlops = 0;
  private aggregations = 0;

  constructor(private readonly options: FedExOptions) {}

  configureRound(round: number, available: readonly string[]): Map<string, ClientTask> {
    const tasks = new Map<string, ClientTask>();
    for (const id of [...new Set(available)].sort()) {
      if (!this.uploads.has(id)) tasks.set(id, { kind: 'upload-features', round });
    }
    return tasks;
  }

  async aggregate(
    _round: number,
    global: Weights,
    results: readonly ClientResult[],
    settings: RoundSettings,
  ): Promise<Weights> {
    for (const r of results) if (r.kind === 'features') this.uploads.set(r.clientId, r);
    const batches = [...this.uploads.values()].map((r) => r.batch);
    this.cloudFlops = 0;
    if (batches.length === 0) return global;
    const head = getHead(this.options.head);
    const model = head.build(
      this.options.inputShape,
      this.options.numClasses,
      this.options.headOptions,
      settings.seed,
    );
    this.aggregations += 1;
    if (this.options.cloudFedAvg) {
      try {
        return await this.averageInCloud(model, global, settings, this.options.cloudFedAvg);
      } finally {
        model.dispose();
      }
    }
    const { features: x, labels: y, n } = concatBatches(batches);
    let refitted: ReturnType<typeof head.build> | undefined;
    const fresh = this.options.start === 'fresh';
    try {
      if (!fresh) writeWeights(model, global);
      const result = await fitHead(
        head,
        model,
        { x, y, shape: this.options.inputShape },
        { seed: settings.seed, ...this.options.train },
      );
      // Every epoch: forward + backward over the training samples, forward over the validation ones.
      const { forwardFlops, backwardFlops } = countModelCosts(model).totals;
      this.cloudFlops =
        head.training === 'gradient'
          ? result.epochs *
            (result.trainIndices.length * (forwardFlops + backwardFlops) +
              result.valIndices.length * forwardFlops)
          : n * forwardFlops;
      if (
        (this.options.refit ?? true) &&
        head.training === 'gradient' &&
        result.valIndices.length > 0 &&
        result.bestEpoch > 0
      ) {
        refitted = head.build(
          this.options.inputShape,
          this.options.numClasses,
          this.options.headOptions,
          settings.seed,
        );
        if (!fresh) writeWeights(refitted, global);
        await fitHead(
          head,
          refitted,
          { x, y, shape: this.options.inputShape },
          {
            seed: settings.seed,
            ...this.options.train,
            epochs: result.bestEpoch,
            validationSplit: 0,
            validateStart: false,
          },
        );
        this.cloudFlops += result.bestEpoch * n * (forwardFlops + backwardFlops);
      }
      return readWeights(
        refitted ?? model,
        global.map((t) => t.name),
      );
    } finally {
      model.dispose();
      refitted?.dispose();
    }
  }

  /** `cloudFedAvg`: rounds of FedAvg over the uploads, on the server; returns the last average. */
  private async averageInCloud(
    model: tf.LayersModel,
    global: Weights,
    settings: RoundSettings,
    c: CloudFedAvgOptions,
  ): Promise<Weights> {
    const names = global.map((t) => t.name);
    const groupBy = c.groupBy ?? ((id: string) => id);
    // One client per device: its uploads in the order they came (the map keeps that order).
    const batchesOf = new Map<string, FeatureBatch[]>();
    for (const [id, r] of this.uploads) {
      const key = groupBy(id);
      batchesOf.set(key, [...(batchesOf.get(key) ?? []), r.batch]);
    }
    const devices = new Map<string, ClientData>();
    for (const [key, list] of batchesOf)
      devices.set(key, { ...concatBatches(list), shape: this.options.inputShape });
    const keys = [...devices.keys()];
    let weights = this.options.start === 'fresh' ? readWeights(model, names) : global;
    for (let r = 1; r <= c.rounds; r++) {
      const rng = createRng(deriveSeed(settings.seed, `cloud-fedavg:${this.aggregations}:${r}`));
      const picked = shuffled(rng, keys).slice(0, Math.min(c.clientsPerRound, keys.length));
      const updates = [];
      for (const key of picked) {
        const result = await runClientTask(
          {
            kind: 'train',
            round: r,
            weights,
            localEpochs: c.localEpochs,
            batchSize: c.batchSize,
            learningRate: c.learningRate,
            mu: 0,
            seed: deriveSeed(settings.seed, `cloud-fedavg:${this.aggregations}:${r}:${key}`),
          },
          devices.get(key)!,
          model,
          { clientId: key, bottomMode: 'cached', bottomFlopsPerPhoto: 0, featuresCached: true },
        );
        if (result.kind !== 'weights')
          throw new FedexError('INTERNAL', 'a cloud training task returned no weights');
        this.cloudFlops += result.costs.deviceFlops;
        updates.push({ weights: result.weights, numExamples: result.numExamples });
      }
      weights = weightedMean(updates);
    }
    return weights;
  }

  lastAggregateFlops(): number {
    return this.cloudFlops;
  }
}

/**
 * @example
 * const strategy = createFedEx({ head: 'linear', inputShape: [128], numClasses: 158 });
 */
export function createFedEx(options: FedExOptions): Strategy {
  return new FedEx(options);
}

/** The features and labels of `batches`, one after the other. */
function concatBatches(batches: readonly FeatureBatch[]): {
  features: Float32Array;
  labels: Int32Array;
  n: number;
} {
  const n = batches.reduce((a, b) => a + b.labels.length, 0);
  const features = new Float32Array(batches.reduce((a, b) => a + b.features.length, 0));
  const labels = new Int32Array(n);
  let xo = 0;
  let yo = 0;
  for (const b of batches) {
    features.set(b.features, xo);
    labels.set(b.labels, yo);
    xo += b.features.length;
    yo += b.labels.length;
  }
  return { features, labels, n };
}
