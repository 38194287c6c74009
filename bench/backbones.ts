/**
 * Backbones per split point: device cost of the bottom (counted FLOPs and measured milliseconds per
 * photo, batch 1), upload size per photo (float32 / float16 / int8), and the cloud side (trainable
 * parameters of the pretrained upper stage, and its training speed: one SGD step on a batch).
 */
import { loadBackbone, backboneIds } from '../src/model/backbones/registry.js';
import { sumCosts } from '../src/model/layer-cost.js';
import { initRuntime, tf } from '../src/runtime/node.js';
import { createRng } from '../src/core/random.js';
import { median, timeRuns, type BenchRow, type BenchSuite } from './types.js';

const SUITE = 'backbones';

export const backbonesSuite: BenchSuite = {
  name: SUITE,
  summary: 'per split: bottom FLOPs and ms/photo, bytes/photo, upper-stage params and training samples/s',
  async run({ quick, log }) {
    await initRuntime();
    const rows: BenchRow[] = [];
    const runs = quick ? 3 : 7;
    const batch = quick ? 8 : 16;
    for (const id of backboneIds()) {
      const bb = await loadBackbone(id);
      const rng = createRng(1);
      const size = bb.inputShape.reduce((a, b) => a * b, 1);
      const one = tf.tensor4d(
        Float32Array.from({ length: size }, () => rng() * 255),
        [1, ...bb.inputShape] as [number, number, number, number],
      );
      for (const split of bb.splits) {
        const values = split.shape.reduce((a, b) => a * b, 1);
        const flops = sumCosts(bb.bottomCosts(split.name)).forwardFlops;
        const ms = median(
          await timeRuns(() => void tf.tidy(() => bb.bottom(one, split.name).dataSync()), runs),
        );
        const label = `${id}/${split.name} [${split.shape.join(',')}]`;
        rows.push(
          { suite: SUITE, name: `${label} bottom`, value: flops / 1e9, unit: 'GFLOP/photo' },
          {
            suite: SUITE,
            name: `${label} bottom`,
            value: ms,
            unit: 'ms/photo',
            note: 'wasm, batch 1, median',
          },
          {
            suite: SUITE,
            name: `${label} upload`,
            value: (values * 2) / 1024,
            unit: 'KiB/photo fp16',
            note: `fp32 ${((values * 4) / 1024).toFixed(1)} KiB, int8 ${(values / 1024).toFixed(1)} KiB (+ scale)`,
          },
        );
        const top = bb.upperStage(split.name);
        if (!top) {
          log(`${label}: ${(flops / 1e9).toFixed(3)} GFLOP, ${ms.toFixed(1)} ms/photo, no upper stage`);
          continue;
        }
        const params = top.countParams();
        rows.push({ suite: SUITE, name: `${label} upper stage`, value: params, unit: 'trainable params' });
        if (params > 0) {
          const x = tf.tensor4d(
            Float32Array.from({ length: batch * size }, () => rng() * 255),
            [batch, ...bb.inputShape] as [number, number, number, number],
          );
          const f = bb.bottom(x, split.name);
          const y = tf.randomNormal([batch, ...(top.outputs[0].shape.slice(1) as number[])]);
          top.compile({ optimizer: tf.train.sgd(0.01), loss: 'meanSquaredError' });
          const stepMs = median(
            await timeRuns(async () => void (await top.trainOnBatch(f, y)), quick ? 2 : 3),
          );
          rows.push({
            suite: SUITE,
            name: `${label} upper stage training`,
            value: (batch * 1000) / stepMs,
            unit: 'samples/s',
            note: `SGD, batch ${batch}, wasm`,
          });
          log(
            `${label}: ${(flops / 1e9).toFixed(3)} GFLOP, ${ms.toFixed(1)} ms/photo; top ${params} params, ${((batch * 1000) / stepMs).toFixed(1)} samples/s`,
          );
          tf.dispose([x, f, y]);
          top.optimizer.dispose();
        }
        top.dispose();
      }
      one.dispose();
      bb.dispose();
    }
    return rows;
  },
};
