// Entry point of an extraction worker thread. Node 20 does not apply the parent's tsx loader to a
// worker's own `.ts` entry (neither `execArgv: ['--import', 'tsx']` nor vitest's fork do), so this
// plain-JS bootstrap registers tsx inside the worker, then imports the real worker module. Works
// under `npx tsx`, vitest, and `bin/fedex.js` (which registers tsx in the main thread only).
import { workerData } from 'node:worker_threads';

if (workerData.entry.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(workerData.entry);
