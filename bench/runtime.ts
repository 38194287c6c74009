/**
 * Runtime suite: the matmul rate of the active tfjs backend, the yardstick every other throughput
 * figure is compared against (e.g. training FLOP rate as a fraction of it).
 */
import { initRuntime, tf } from '../src/runtime/node.js';
import { type BenchSuite, median, timeRuns } from './types.js';

/** Median GFLOP/s of an n×n by n×n matmul on the active backend. */
export async function matmulGflops(n: number, runs: number): Promise<number> {
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
  const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  const ms = await timeRuns(
    async () => {
      const c = tf.matMul(a, b);
      await c.data();
      c.dispose();
    },
    runs,
    2,
  );
  a.dispose();
  b.dispose();
  return (2 * n ** 3) / (median(ms) * 1e6);
}

export const runtimeSuite: BenchSuite = {
  name: 'runtime',
  summary: 'matmul GFLOP/s of the active backend',
  async run({ quick }) {
    const info = await initRuntime();
    const rows = [];
    for (const n of quick ? [512, 1024] : [256, 512, 1024]) {
      rows.push({
        suite: 'runtime',
        name: `matmul ${n}x${n} (${info.backend})`,
        value: await matmulGflops(n, quick ? 5 : 9),
        unit: 'GFLOP/s',
        note: `median, tfjs ${info.version}`,
      });
    }
    return rows;
  },
};
