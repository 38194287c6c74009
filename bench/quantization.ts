/**
 * Quantization suite: what float16 and int8 features cost in accuracy against float32, measured
 * the way a FedEx upload would see it — features encoded and decoded by the wire codec, then
 * nearest-centroid per simulated LFW user (3 labelled photos per person, the rest as test).
 *
 * Needs the LFW dataset; uses the shared feature cache (the first run extracts, which takes a while).
 */
import { decodeFeatureBatch, encodeFeatureBatch } from '../src/core/codec.js';
import type { WireDtype } from '../src/core/types.js';
import { extractDataset, toFeatureBatch } from '../src/data/extract.js';
import { personalizedAccuracy } from '../src/data/eval.js';
import { buildUsers } from '../src/data/users.js';
import { datasetDir } from '../src/testing/datasets.js';
import type { BenchRow, BenchSuite } from './types.js';

/** The LFW selection every LFW bench shares, so they all hit the same cached features. */
export const LFW_SCAN = { minPhotos: 5, maxPerPerson: 20, seed: 0 } as const;

export const quantizationSuite: BenchSuite = {
  name: 'quant',
  summary: 'accuracy cost of float16/int8 features vs float32 (nearest-centroid, LFW users)',
  async run({ quick, log }) {
    const dir = datasetDir('lfw_deepfunneled_min5');
    if (!dir) {
      log('SKIPPED: lfw_deepfunneled_min5 not found (set FEDEX_DATA_DIR)');
      return [];
    }
    let last = 0;
    const set = await extractDataset({
      dir,
      scan: quick ? { ...LFW_SCAN, limit: 1500 } : LFW_SCAN,
      onProgress(done, total) {
        if (done - last >= 250 || done === total) {
          last = done;
          log(`features ${done}/${total}`);
        }
      },
    });
    const users = buildUsers(set, {
      users: 100,
      peoplePerUser: 5,
      labelledPerPerson: 3,
      unlabelledPerPerson: 0,
      minTestPerPerson: 1,
      seed: 1,
    });
    const batch = toFeatureBatch(set);
    const rows: BenchRow[] = [];
    let fp32 = Number.NaN;
    for (const dtype of ['float32', 'float16', 'int8'] as WireDtype[]) {
      const bytes = encodeFeatureBatch(batch, { dtype });
      const decoded = decodeFeatureBatch(bytes);
      const acc = personalizedAccuracy({ ...set, features: decoded.features }, users);
      if (dtype === 'float32') fp32 = acc.mean;
      rows.push({
        suite: 'quant',
        name: `personalized top-1 ${dtype}`,
        value: acc.mean,
        unit: 'acc',
        note: `worst decile ${acc.worstDecile.toFixed(3)}; delta vs fp32 ${(acc.mean - fp32).toFixed(4)}; ${(bytes.length / set.samples.length).toFixed(0)} B/sample; ${users.length} users x 5 people, 3 labelled`,
      });
    }
    return rows;
  },
};
