import * as tf from '@tensorflow/tfjs';
import { initRuntime } from '../src/runtime/node.js';
import { loadSimData } from '../src/sim/data.js';
import { loadBackbone } from '../src/model/backbones/registry.js';
import { getHead } from '../src/model/heads/registry.js';
import { fitCentroids } from '../src/model/heads/centroid.js';
import { readWeights } from '../src/strategy/model-weights.js';
import { runClientTask } from '../src/strategy/client.js';

await initRuntime();
const data = await loadSimData({ split: 'stage128', scan: { minPhotos: 10, maxPerPerson: 20, seed: 0, maxPeople: 30 } });
const bb = await loadBackbone('faceapi-resnet');
const head = getHead('upper');
const model = head.build(data.spec.shape, data.numClasses, { backbone: bb, split: 'stage128' } as never, 1);
const tr = data.train;
const x = new Float32Array(tr.length * data.dim);
tr.forEach((s, j) => x.set(data.features.subarray(s * data.dim, (s + 1) * data.dim), j * data.dim));
fitCentroids(model, { x, y: tr.map((s) => data.labels[s]), shape: data.spec.shape }, { missingClasses: 'keep' });
const w0 = readWeights(model, model.weights.map((w) => w.name));
console.log('weights', w0.length, w0.map((t) => t.name).slice(0, 5), w0.slice(-2).map((t) => [t.name, Math.max(...Array.from(t.values).map(Math.abs))]));
// one device: first 27 train photos
const rows = [0, 5, 9, 14].flatMap((p) => data.trainByPerson[p].slice(0, 7));
const cx = new Float32Array(rows.length * data.dim);
rows.forEach((s, j) => cx.set(data.features.subarray(s * data.dim, (s + 1) * data.dim), j * data.dim));
for (const lr of [0.01, 0.001, 0.0001]) {
  const r = await runClientTask(
    { kind: 'train', round: 1, weights: w0, localEpochs: 1, batchSize: 16, learningRate: lr, mu: 0, seed: 1 } as never,
    { features: cx, labels: rows.map((s) => data.labels[s]), shape: data.spec.shape, n: rows.length },
    model,
    { clientId: 'a', bottomMode: 'cached', bottomFlopsPerPhoto: 0, featuresCached: true } as never,
  );
  if (r.kind !== 'weights') throw new Error();
  let nonFinite = 0; let maxDelta = 0;
  r.weights.forEach((t, i) => t.values.forEach((v, j) => { if (!Number.isFinite(v)) nonFinite++; else maxDelta = Math.max(maxDelta, Math.abs(v - w0[i].values[j])); }));
  console.log('lr', lr, 'metrics', r.metrics, 'nonFinite', nonFinite, 'maxDelta', maxDelta);
}
console.log(tf.memory().numTensors);
