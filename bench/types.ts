/**
 * Shared shape of benchmark results: every suite returns rows of one measured quantity each, so the
 * runner can print one table and write one JSON file.
 */
export interface BenchRow {
  suite: string;
  /** What was measured, e.g. `matmul 1024x1024`. */
  name: string;
  value: number;
  unit: string;
  /** Extra context: sample size, baseline, ratio. */
  note?: string;
}

export interface BenchSuite {
  name: string;
  summary: string;
  run(options: { quick: boolean; log: (line: string) => void }): Promise<BenchRow[]>;
}

/** Median of a non-empty list. */
export function median(values: number[]): number {
  const s = values.slice().sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Times `fn` `runs` times after `warmup` runs; returns each run's milliseconds. */
export async function timeRuns(fn: () => Promise<void> | void, runs: number, warmup = 1): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}
