/**
 * Codec suite: bytes per sample on the wire for each dtype (128-d embedding and a [37,37,128]
 * intermediate map) and encode/decode throughput.
 */
import { decodeFeatureBatch, encodeFeatureBatch } from '../src/core/codec.js';
import { createRng } from '../src/core/random.js';
import { shapeSize, type FeatureBatch, type WireDtype } from '../src/core/types.js';
import { type BenchRow, type BenchSuite, median, timeRuns } from './types.js';

function randomBatch(n: number, shape: number[], seed: number): FeatureBatch {
  const rng = createRng(seed);
  const dim = shapeSize(shape);
  const features = new Float32Array(n * dim);
  for (let i = 0; i < features.length; i++) features[i] = (rng() - 0.5) * 0.4;
  return {
    spec: { backboneId: 'faceapi-resnet', backboneVersion: '1.7.15', split: 'bench', shape },
    // 16-character ids, like a short hash.
    sampleIds: Array.from({ length: n }, (_, i) => `s${String(i).padStart(15, '0')}`),
    labels: Int32Array.from({ length: n }, (_, i) => i % 7),
    features,
  };
}

const DTYPES: WireDtype[] = ['float32', 'float16', 'int8'];

export const codecSuite: BenchSuite = {
  name: 'codec',
  summary: 'wire bytes per sample per dtype; encode/decode throughput',
  async run({ quick }) {
    const rows: BenchRow[] = [];
    for (const shape of [[128], [37, 37, 128]]) {
      const n = shape.length === 1 ? 1000 : quick ? 8 : 32;
      const batch = randomBatch(n, shape, 7);
      for (const dtype of DTYPES) {
        const bytes = encodeFeatureBatch(batch, { dtype });
        rows.push({
          suite: 'codec',
          name: `bytes/sample [${shape.join(',')}] ${dtype}`,
          value: bytes.length / n,
          unit: 'B',
          note: `${n} samples, 16-char ids, incl. header share`,
        });
        if (shape.length === 1) {
          const enc = await timeRuns(() => void encodeFeatureBatch(batch, { dtype }), quick ? 5 : 15);
          const dec = await timeRuns(() => void decodeFeatureBatch(bytes), quick ? 5 : 15);
          const mb = (batch.features.length * 4) / 1e6;
          rows.push({
            suite: 'codec',
            name: `encode ${dtype}`,
            value: mb / (median(enc) / 1000),
            unit: 'MB/s',
            note: 'float32 MB in per s, median',
          });
          rows.push({
            suite: 'codec',
            name: `decode ${dtype}`,
            value: mb / (median(dec) / 1000),
            unit: 'MB/s',
            note: 'float32 MB out per s, median',
          });
        }
      }
    }
    return rows;
  },
};
