/**
 * Test support: a small federated population on Gaussian blobs, split non-IID by class, with
 * in-memory clients running the real device code. Used by the strategy tests (not by production).
 */
import * as tf from '@tensorflow/tfjs';
import { getHead } from '../../model/heads/registry.js';
import { gaussianBlobs } from '../../model/testing/blobs.js';
import { createClient, type ClientData } from '../client.js';
import { readWeights, writeWeights } from '../model-weights.js';
import type { ClientFn } from '../transport/memory.js';
import type { Weights } from '../types.js';

export interface SimPopulation {
  ids: string[];
  data: Map<string, ClientData>;
  test: ClientData;
  initial: Weights;
  numClasses: number;
  dim: number;
  /** Fresh in-memory clients (each with its own model). */
  clients(bottomMode?: 'cached' | 'recompute'): Map<string, ClientFn>;
  /** Accuracy of weights on the test set. */
  evaluate(weights: Weights): Promise<number>;
  dispose(): void;
}

/**
 * `numClients` clients, each holding samples of 1-2 of the `numClasses` classes. The second
 * argument is accepted and ignored (callers used to pass their tfjs).
 */
export function blobPopulation(
  args: {
    numClients: number;
    numClasses: number;
    dim?: number;
    perClass?: number;
    spread?: number;
    seed?: number;
  },
  _tfjs?: unknown,
): SimPopulation {
  const dim = args.dim ?? 8;
  const k = args.numClasses;
  const perClass = args.perClass ?? 40;
  const all = gaussianBlobs({
    dim,
    perClass: new Array<number>(k).fill(perClass),
    spread: args.spread ?? 0.3,
    seed: args.seed ?? 1,
  });
  const n = all.y.length;
  // Every 5th sample is test; the rest go to the clients holding their class.
  const byClient = new Map<number, number[]>();
  const testIdx: number[] = [];
  const seen = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++) {
    const c = all.y[i];
    if (seen[c]++ % 5 === 0) {
      testIdx.push(i);
      continue;
    }
    // Class c is held by clients c mod N and (c + 1) mod N, alternately.
    const owner = (c + (seen[c] % 2)) % args.numClients;
    const list = byClient.get(owner) ?? [];
    list.push(i);
    byClient.set(owner, list);
  }
  const pick = (idx: number[]): ClientData => {
    const features = new Float32Array(idx.length * dim);
    idx.forEach((s, j) => features.set(all.x.subarray(s * dim, (s + 1) * dim), j * dim));
    return { features, labels: Int32Array.from(idx.map((s) => all.y[s])), shape: [dim], n: idx.length };
  };
  const ids: string[] = [];
  const data = new Map<string, ClientData>();
  for (let c = 0; c < args.numClients; c++) {
    const idx = byClient.get(c);
    if (!idx?.length) continue;
    const id = `c${String(c).padStart(2, '0')}`;
    ids.push(id);
    data.set(id, pick(idx));
  }
  const head = getHead('linear');
  const models: tf.LayersModel[] = [];
  const build = () => {
    const m = head.build([dim], k, {}, 0);
    models.push(m);
    return m;
  };
  const evalModel = build();
  const initial = readWeights(evalModel);
  const test = pick(testIdx);
  return {
    ids,
    data,
    test,
    initial,
    numClasses: k,
    dim,
    clients(bottomMode = 'cached') {
      return new Map(
        ids.map((id) => [
          id,
          createClient(data.get(id)!, build(), { clientId: id, bottomMode, bottomFlopsPerPhoto: 1000 }),
        ]),
      );
    },
    evaluate(weights) {
      writeWeights(evalModel, weights);
      const pred = tf.tidy(() =>
        (evalModel.predict(tf.tensor(test.features, [test.n, dim])) as tf.Tensor).argMax(-1).dataSync(),
      );
      let right = 0;
      for (let i = 0; i < test.n; i++) if (pred[i] === test.labels[i]) right++;
      return Promise.resolve(right / test.n);
    },
    dispose() {
      models.forEach((m) => m.dispose());
    },
  };
}
