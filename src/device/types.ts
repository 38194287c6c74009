/**
 * The device SDK's contracts, platform-neutral (no Node built-ins, no DOM): where a device keeps
 * its state (`DeviceStore`: files in Node, IndexedDB in a browser), what its outbox holds, what it
 * counts (`DeviceCosts`) and what `predict` answers. Implementations: `./store/*.ts`,
 * `./outbox.ts`, `./client.ts`, `./sdk.ts`.
 */
import type { FeatureNoise } from '../core/feature-noise.js';
import type { FeatureExtractor, WireDtype } from '../core/types.js';

/**
 * Durable key-value storage of one device. Keys are `/`-free strings of `[A-Za-z0-9._-]` made by
 * the SDK. A write has reached storage when its promise resolves (Node: written to a temporary
 * file, fsynced, renamed; IndexedDB: transaction complete), so after a crash a key holds its old or
 * its new value, never a torn one.
 */
export interface DeviceStore {
  getJson<T>(key: string): Promise<T | undefined>;
  putJson(key: string, value: unknown): Promise<void>;
  getBytes(key: string): Promise<Uint8Array | undefined>;
  putBytes(key: string, bytes: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  /** Keys starting with `prefix`, sorted ascending. */
  keys(prefix: string): Promise<string[]>;
  close?(): Promise<void>;
}

/** One pending upload: an encoded feature batch (FXFB) and its idempotency key. */
export interface OutboxEntry {
  /** The Idempotency-Key: the server stores a batch with this id once however often it is sent. */
  batchId: string;
  bytes: Uint8Array;
  samples: number;
  createdAt: number;
}

/** Outbox size limits; `OUTBOX_FULL` is raised when adding would pass one. */
export interface OutboxLimits {
  maxBatches: number;
  maxBytes: number;
}

/** Retry policy of uploads and downloads: exponential backoff with full jitter. */
export interface RetryPolicy {
  /** First delay (ms) before jitter. */
  baseMs: number;
  /** Largest delay (ms). */
  maxMs: number;
  /** Attempts per call before giving up (the entry stays in the outbox for the next sync). */
  maxAttempts: number;
}

/** What the device spent, since the SDK was opened (and persisted totals since enrollment). */
export interface DeviceCosts {
  /** Photos run through the bottom (`addPhoto` and `predict`). */
  photos: number;
  /** Floating-point operations of the bottom and of predictions (multiply-add = 2). */
  flops: number;
  /** Bytes sent and received over HTTP (bodies), by purpose. */
  bytesUp: number;
  bytesDown: number;
  /** Wall milliseconds per stage. */
  ms: { extract: number; encode: number; upload: number; download: number; predict: number };
}

/** One name and its probability. */
export interface Candidate {
  name: string;
  probability: number;
}

/** The answer of `predict` for a photo's main face. */
export interface Prediction {
  /**
   * The most probable name, or `unknown`: the face is farther from every known person than the
   * model's open-set radius, or it looks like no one in particular (a drawing, a blur: nearer the
   * average face than real faces are), or its calibrated probability is below the threshold.
   */
  name: string;
  /** Calibrated probability of the most probable name (the model's temperature applied). */
  confidence: number;
  /** Why the answer is `unknown` (absent when a name is given). */
  unknownBecause?: 'far' | 'generic' | 'unsure';
  /**
   * Distance to the nearest known person ÷ the model's open-set radius (> 1: a stranger); absent
   * when the model carries no open-set radius.
   */
  strangeness?: number;
  /**
   * Distance to the average face ÷ the median of the user's named faces (under the model's generic
   * margin, 0.85 by default: no one in particular); absent when the model has no such rule.
   */
  typicality?: number;
  /** Every known name, most probable first. */
  candidates: Candidate[];
  /** Version of the model that answered. */
  modelVersion: number;
}

/** Name used when the top candidate is below the threshold. */
export const UNKNOWN = 'unknown';

/** How to open a device. */
export interface DeviceOptions {
  /** Base URL of the FedEx server, e.g. `http://127.0.0.1:8787`. */
  server: string;
  store: DeviceStore;
  /** The frozen bottom: face detection + alignment + embedding, or a split of a backbone. */
  extractor: FeatureExtractor;
  /** FLOPs of one `extractor.extract` call, for the cost account (0 when unknown). */
  flopsPerPhoto?: number;
  /** Precision of uploaded features. Default `float16` (no accuracy cost measured on LFW). */
  dtype?: WireDtype;
  /**
   * Noise added to each photo's features on this device before they are kept for upload (a parsed
   * value or a spec string: `none`, `gauss:R`, `gauss:R,clip=C`; see `src/core/feature-noise.ts`).
   * Applied once per photo, so a batch re-sent after a failure carries the same noisy values;
   * predictions on the device use the clean features. Default `none`. A bad spec is BAD_ARGUMENT
   * from `FedexDevice.open`.
   */
  featureNoise?: FeatureNoise | string;
  /** Samples per uploaded batch. Default 64. */
  batchSize?: number;
  outbox?: Partial<OutboxLimits>;
  retry?: Partial<RetryPolicy>;
  /** Below this (calibrated) probability `predict` answers `unknown`. Default 0.5. */
  unknownThreshold?: number;
  /**
   * Apply the model's open-set radius (a face far from every known person is `unknown`, whatever
   * its probability). Default true; a model without a rule predicts as before.
   */
  openSet?: boolean;
  /** Injected for tests and other runtimes. */
  fetch?: typeof fetch;
  now?: () => number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}
