/**
 * Prometheus metrics of one server (its own registry, so several servers in one process — tests —
 * do not share counters): requests by route and status, request latency, ingested samples and
 * batches, jobs by status and model versions, read from the store at scrape time.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from './store/store.js';

export interface ServerMetrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'status'>;
  latency: Histogram<'method' | 'route'>;
  ingestedSamples: Counter;
  ingestedBatches: Counter<'result'>;
  rateLimited: Counter;
  jobsFinished: Counter<'outcome'>;
  trainingSeconds: Histogram;
}

export function createMetrics(store: Store, options: { processMetrics?: boolean } = {}): ServerMetrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'fedex_process_' });
  const requests = new Counter({
    name: 'fedex_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'fedex_http_request_duration_seconds',
    help: 'Time from request to response, by method and route pattern.',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const ingestedSamples = new Counter({
    name: 'fedex_ingested_samples_total',
    help: 'Feature samples stored from uploads (retried batches not counted).',
    registers: [registry],
  });
  const ingestedBatches = new Counter({
    name: 'fedex_ingested_batches_total',
    help: 'Uploaded batches, by result: stored, or duplicate (a retry of a stored batch).',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: 'fedex_rate_limited_total',
    help: 'Requests refused with 429 by the per-device rate limit.',
    registers: [registry],
  });
  const jobsFinished = new Counter({
    name: 'fedex_jobs_finished_total',
    help: 'Training job attempts ended, by outcome: done, failed (for good) or retry (back on the queue).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const trainingSeconds = new Histogram({
    name: 'fedex_training_seconds',
    help: 'Wall time of training job attempts on the workers.',
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
    registers: [registry],
  });
  new Gauge({
    name: 'fedex_jobs',
    help: 'Training jobs by status.',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      // A closed or unreachable database leaves the last values (the scrape itself still answers).
      const counts = await store.countJobs().catch(() => undefined);
      for (const [status, n] of Object.entries(counts ?? {})) this.set({ status }, n);
    },
  });
  new Gauge({
    name: 'fedex_samples',
    help: 'Samples stored.',
    registers: [registry],
    async collect() {
      const n = await store.countSamples().catch(() => undefined);
      if (n !== undefined) this.set(n);
    },
  });
  return {
    registry,
    requests,
    latency,
    ingestedSamples,
    ingestedBatches,
    rateLimited,
    jobsFinished,
    trainingSeconds,
  };
}
