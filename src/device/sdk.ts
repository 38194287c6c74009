/**
 * `FedexDevice`: the phone's half of FedEx. It runs the frozen bottom (a `FeatureExtractor`) once
 * per photo, keeps the features in a durable outbox and uploads them as FXFB batches; it names
 * people (label map), asks the server to train the user's head, pulls the trained top (FXWT, ETag)
 * and predicts on the device. Only features, label ids, label names and sample ids ever leave the
 * device: never a photo. With `featureNoise` the features are noised here, once per photo, before
 * they are kept for upload (see `keepFeatures`).
 *
 * Platform-neutral (browser or Node): storage is a `DeviceStore`, HTTP is `fetch`, hashing is
 * WebCrypto, the top runs on whatever tfjs backend the host initialised. Every state change is
 * written to the store before the call that made it resolves, so `FedexDevice.open` on the same
 * store after a crash or a restart picks up where the last call left off.
 */
import * as tf from '@tensorflow/tfjs';
import { decodeFeatureBatch, encodeFeatureBatch } from '../core/codec.js';
import { FedexError, isFedexError } from '../core/errors.js';
import {
  applyFeatureNoise,
  applyKeyedFeatureNoise,
  keyedNoiseAvailable,
  formatFeatureNoise,
  NO_NOISE,
  parseFeatureNoise,
  type FeatureNoise,
} from '../core/feature-noise.js';
import { shapeSize, specKey, type FeatureExtractor, type RawImage, type WireDtype } from '../core/types.js';
import { countModelCosts } from '../model/flops.js';
import { modelFromWeightsMessage } from '../model/io.js';
import { DEFAULT_RETRY_POLICY, withRetry, type RetryOptions } from './backoff.js';
import { DeviceClient, isRetryable, type JobInfo, type TrainBody } from './client.js';
import { CostMeter, parseCosts } from './costs.js';
import { LabelMap, type LabelEntry } from './labels.js';
import { Outbox } from './outbox.js';
import { decideOpenSet, parseOpenSetRule, type OpenSetRule } from '../model/open-set.js';
import { UNKNOWN, type DeviceCosts, type DeviceOptions, type Prediction, type RetryPolicy } from './types.js';

/**
 * Defaults of `DeviceOptions`: float16 features, no feature noise, 64 samples per batch, `unknown`
 * below 0.5.
 */
export const DEFAULT_DEVICE_OPTIONS = Object.freeze({
  dtype: 'float16' as WireDtype,
  featureNoise: NO_NOISE,
  batchSize: 64,
  unknownThreshold: 0.5,
  openSet: true,
  flopsPerPhoto: 0,
});

/** Store keys. The outbox keeps its own (`outbox…`). */
const KEY = {
  enrollment: 'enrollment',
  labels: 'labels',
  samples: 'samples',
  relabels: 'relabels',
  deletions: 'deletions',
  seq: 'seq',
  costs: 'costs',
  model: 'model',
  pending: 'pending.',
  /** 32 random bytes that key this device's feature noise; they never leave the device. */
  noiseSecret: 'noise-secret',
} as const;

/** Who this device is on which server (the bearer token stays on the device). */
export interface Enrollment {
  server: string;
  deviceId: string;
  userId: string;
  name: string;
  token: string;
}

/** The pulled top, as stored: the bytes live under `bytesKey`, named by their checksum. */
interface ModelRecord {
  bytesKey: string;
  etag: string;
  checksum: string;
  version: number;
  labels: string[];
  pulledAt: number;
}

/** A photo's features waiting to fill a batch. `label` is a name (ids are settled at sync). */
interface PendingSample {
  seq: number;
  id: string;
  label: string | null;
  features: number[];
}

/** A later labelling to send once the samples are on the server. `name` null clears. */
interface QueuedRelabel {
  clientIds: string[];
  name: string | null;
}

export interface AddPhotoResult {
  id: string;
  /** False when no face was found: nothing was kept or queued. */
  found: boolean;
}

export interface SyncResult {
  /** Batches the server acknowledged in this sync. */
  uploaded: number;
  /** Samples in those batches. */
  samples: number;
  /** Samples relabelled on the server. */
  relabelled: number;
  /** Samples deleted on the server (photos forgotten with `forget`). */
  deleted: number;
  /** Samples still waiting on the device (not yet acknowledged). */
  pending: number;
  /** Batches the server refused for good (malformed, conflicting id): set aside, not retried. */
  rejected: number;
}

export interface PullResult {
  /** True when a new model replaced the one held. */
  updated: boolean;
  /** Version now held (null: none). */
  version: number | null;
  /**
   * Why nothing changed: the download was corrupt (`MODEL_CORRUPT`), cut short or failed after its
   * retries (`UNAVAILABLE`, ...), was for other features (`FEATURE_MISMATCH`), or the server has no
   * model yet (`NO_MODEL`).
   */
  error?: FedexError;
}

/** What `status()` reports. */
export interface DeviceStatus {
  enrolled: boolean;
  server: string;
  deviceId: string | null;
  userId: string | null;
  name: string | null;
  /** Photos with a face kept on this device (by sample id), and how many have a name. */
  samples: number;
  labelled: number;
  /** Samples not yet acknowledged by the server (batching + outbox), and queued relabels. */
  pendingSamples: number;
  outboxBatches: number;
  outboxBytes: number;
  queuedRelabels: number;
  /** Forgotten photos whose deletion the server has not confirmed yet. */
  queuedDeletions: number;
  /** The feature noise this device applies before upload (its spec: `none`, `gauss:0.5`, ...). */
  featureNoise: string;
  labels: { id: number; name: string }[];
  model: { version: number; etag: string; labels: number; pulledAt: number } | null;
  costs: DeviceCosts;
}

const SAMPLE_ID_MAX = 1024;

/**
 * The `featureNoise` option, checked: a spec string is parsed, a parsed value is checked by a
 * round trip through its spec (a ratio < 0 or a clip ≤ 0 is refused the same way).
 *
 * @throws FedexError BAD_ARGUMENT naming the bad spec.
 */
export function resolveFeatureNoise(value: FeatureNoise | string | undefined): FeatureNoise {
  if (value === undefined) return DEFAULT_DEVICE_OPTIONS.featureNoise;
  if (typeof value === 'string') return parseFeatureNoise(value);
  if (value === null || typeof value !== 'object')
    throw new FedexError('BAD_ARGUMENT', `featureNoise must be a spec string or a parsed value`);
  return parseFeatureNoise(formatFeatureNoise(value));
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

/** Lower-case hex SHA-256 via WebCrypto (global in browsers and Node ≥ 19). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>),
  );
  let hex = '';
  for (const b of digest) hex += b.toString(16).padStart(2, '0');
  return hex;
}

/** A pulled top, decoded and checked. */
interface LoadedModel {
  record: ModelRecord;
  model: tf.LayersModel;
  topFlops: number;
  /** The model's open-set rule (older models have none). */
  openSet: OpenSetRule | null;
}

/**
 * Decodes FXWT bytes into a top for features of `dim` values; anything unusable is
 * `MODEL_CORRUPT` (`FEATURE_MISMATCH` when it was trained on another feature spec).
 */
async function decodeTop(
  bytes: Uint8Array,
  dim: number,
  spec: string,
): Promise<{ model: tf.LayersModel; labels: string[]; topFlops: number; openSet: OpenSetRule | null }> {
  let decoded;
  try {
    decoded = await modelFromWeightsMessage(bytes);
  } catch (cause) {
    throw new FedexError('MODEL_CORRUPT', `the model does not decode: ${(cause as Error).message}`, {
      cause,
    });
  }
  const { model, metadata } = decoded;
  const labels = metadata.labels;
  const fail = (code: 'MODEL_CORRUPT' | 'FEATURE_MISMATCH', message: string): never => {
    model.dispose();
    throw new FedexError(code, message);
  };
  if (typeof metadata.specKey === 'string' && metadata.specKey !== spec)
    fail(
      'FEATURE_MISMATCH',
      `the model was trained on ${metadata.specKey} features, this device makes ${spec}`,
    );
  if (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string'))
    fail('MODEL_CORRUPT', 'the model carries no label list');
  const input = model.inputs[0]?.shape;
  const output = model.outputs[0]?.shape;
  if (!input || input.length !== 2 || input[1] !== dim)
    fail('MODEL_CORRUPT', `the model takes ${JSON.stringify(input)}, the features are [${dim}]`);
  if (!output || output[output.length - 1] !== (labels as string[]).length)
    fail(
      'MODEL_CORRUPT',
      `the model has ${JSON.stringify(output)} outputs for ${(labels as string[]).length} labels`,
    );
  let openSet: OpenSetRule | null = null;
  if (metadata.openSet !== undefined) {
    try {
      openSet = parseOpenSetRule(metadata.openSet, (labels as string[]).length, dim);
      // A rule without centroids (long features) keeps only its temperature.
      if (openSet.centroids.length === 0) openSet = { ...openSet, radius: Number.POSITIVE_INFINITY };
    } catch (e) {
      fail('MODEL_CORRUPT', (e as Error).message);
    }
  }
  let topFlops = 0;
  try {
    topFlops = countModelCosts(model).totals.forwardFlops;
  } catch {
    topFlops = 0; // an unpriced layer: the account says 0 rather than refuse a working model
  }
  return { model, labels: labels as string[], topFlops, openSet };
}

/**
 * One device: open it on a store, enroll once, then add photos, sync, train, pull and predict.
 *
 * @example
 * const device = await FedexDevice.open({ server, store: new MemoryDeviceStore(), extractor });
 * await device.enroll({ enrollmentToken, name: 'ann-phone' });
 * await device.addPhoto(image, { id: 'IMG_0001.jpg', label: 'Ann' });
 * await device.sync();
 * await device.train();
 * await device.pullModel();
 * const p = await device.predict(image); // { name: 'Ann', confidence: 0.93, ... }
 */
export class FedexDevice {
  private readonly options: DeviceOptions;
  private readonly store: DeviceOptions['store'];
  private readonly extractor: FeatureExtractor;
  private readonly dim: number;
  private readonly dtype: WireDtype;
  private readonly featureNoise: FeatureNoise;
  private readonly batchSize: number;
  private readonly threshold: number;
  private readonly useOpenSet: boolean;
  private readonly flopsPerPhoto: number;
  private readonly retryPolicy: RetryPolicy;
  private readonly meter: CostMeter;
  private readonly client: DeviceClient;
  private readonly outbox: Outbox;
  private enrollment: Enrollment | null;
  private labels: LabelMap;
  private samples: Record<string, string | null>;
  private relabels: QueuedRelabel[];
  /** Client ids to delete on the server, sent once no queued batch can still carry them. */
  private deletions: string[];
  private pending: PendingSample[];
  private seq: number;
  private loaded: LoadedModel | null = null;
  private closed = false;
  private noiseSecret: Uint8Array | undefined;

  private constructor(
    options: DeviceOptions,
    state: {
      enrollment: Enrollment | null;
      labels: LabelEntry[];
      samples: Record<string, string | null>;
      relabels: QueuedRelabel[];
      deletions: string[];
      pending: PendingSample[];
      seq: number;
      costs: DeviceCosts;
      outbox: Outbox;
    },
  ) {
    this.options = options;
    this.store = options.store;
    this.extractor = options.extractor;
    this.dim = shapeSize(options.extractor.spec.shape);
    this.dtype = options.dtype ?? DEFAULT_DEVICE_OPTIONS.dtype;
    this.featureNoise = resolveFeatureNoise(options.featureNoise);
    this.batchSize = options.batchSize ?? DEFAULT_DEVICE_OPTIONS.batchSize;
    this.threshold = options.unknownThreshold ?? DEFAULT_DEVICE_OPTIONS.unknownThreshold;
    this.useOpenSet = options.openSet ?? DEFAULT_DEVICE_OPTIONS.openSet;
    this.flopsPerPhoto = options.flopsPerPhoto ?? DEFAULT_DEVICE_OPTIONS.flopsPerPhoto;
    this.retryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1)
      throw new FedexError('BAD_ARGUMENT', `batchSize must be an integer >= 1, got ${this.batchSize}`);
    this.meter = new CostMeter(state.costs);
    this.enrollment = state.enrollment;
    this.labels = new LabelMap(state.labels);
    this.samples = state.samples;
    this.relabels = state.relabels;
    this.deletions = state.deletions;
    this.pending = state.pending;
    this.seq = state.seq;
    this.client = new DeviceClient({
      server: state.enrollment?.server ?? options.server,
      token: state.enrollment?.token,
      fetch: options.fetch,
      onBytes: (up, down) => this.meter.bytes(up, down),
    });
    this.outbox = state.outbox;
  }

  /**
   * Opens a device on its store: enrollment, label map, samples, queued work, the pulled model
   * (checked against its checksum; a damaged copy is dropped) and the cost totals come back.
   */
  static async open(options: DeviceOptions): Promise<FedexDevice> {
    // A bad noise spec is refused before the store is touched.
    resolveFeatureNoise(options.featureNoise);
    const { store } = options;
    const pendingKeys = await store.keys(KEY.pending);
    const pending: PendingSample[] = [];
    for (const k of pendingKeys) {
      const p = await store.getJson<PendingSample>(k);
      if (p) pending.push(p);
    }
    pending.sort((a, b) => a.seq - b.seq);
    const device = new FedexDevice(options, {
      enrollment: (await store.getJson<Enrollment>(KEY.enrollment)) ?? null,
      labels: (await store.getJson<LabelEntry[]>(KEY.labels)) ?? [],
      samples: (await store.getJson<Record<string, string | null>>(KEY.samples)) ?? {},
      relabels: (await store.getJson<QueuedRelabel[]>(KEY.relabels)) ?? [],
      deletions: (await store.getJson<string[]>(KEY.deletions)) ?? [],
      pending,
      seq: (await store.getJson<number>(KEY.seq)) ?? 0,
      costs: parseCosts(await store.getJson(KEY.costs)),
      outbox: await Outbox.open(store, options.outbox ?? {}, { now: options.now }),
    });
    await device.restoreModel();
    return device;
  }

  private async restoreModel(): Promise<void> {
    const record = await this.store.getJson<ModelRecord>(KEY.model);
    if (!record) return;
    const bytes = await this.store.getBytes(record.bytesKey);
    if (!bytes || `sha256:${await sha256Hex(bytes)}` !== record.checksum) return;
    try {
      const top = await decodeTop(bytes, this.dim, specKey(this.extractor.spec));
      this.loaded = {
        record: { ...record, labels: top.labels },
        model: top.model,
        topFlops: top.topFlops,
        openSet: top.openSet,
      };
    } catch {
      // An unusable stored copy counts as none: the next pull replaces it.
    }
  }

  /** The enrollment, or null before `enroll`. */
  get enrolled(): Enrollment | null {
    return this.enrollment ? { ...this.enrollment, token: '(hidden)' } : null;
  }

  private requireEnrolled(): Enrollment {
    if (this.closed) throw new FedexError('BAD_ARGUMENT', 'the device is closed');
    if (!this.enrollment)
      throw new FedexError(
        'DEVICE_NOT_ENROLLED',
        'enroll the device first (enrollment token from the admin)',
      );
    return this.enrollment;
  }

  private retryOptions(): RetryOptions {
    return {
      policy: this.retryPolicy,
      random: this.options.random ?? Math.random,
      sleep: this.options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
      retryable: isRetryable,
    };
  }

  private retry<T>(fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, this.retryOptions());
  }

  /** Uploads the outbox; throws why it stopped when something is left that is not the batch's fault. */
  private async flushOutbox(userId: string): Promise<{ batches: number; samples: number; rejected: number }> {
    let samples = 0;
    const t0 = now();
    try {
      const r = await this.outbox.flush(async (entry) => {
        await this.client.uploadBatch(userId, entry.batchId, entry.bytes);
        samples += entry.samples;
      }, this.retryOptions());
      if (r.lastError !== undefined) throw r.lastError;
      return { batches: r.sent, samples, rejected: r.dead.length };
    } finally {
      this.meter.time('upload', now() - t0);
      await this.saveCosts();
    }
  }

  private saveCosts(): Promise<void> {
    return this.store.putJson(KEY.costs, this.meter.snapshot('total'));
  }

  /**
   * Enrolls with an enrollment token the admin made for the user (`fedex users token`). A device
   * enrolls once; enrolling again is `BAD_ARGUMENT`.
   */
  async enroll(request: { enrollmentToken: string; name: string }): Promise<Enrollment> {
    this.assertNotEnrolled();
    return this.keepEnrollment(await this.client.enroll(request));
  }

  /**
   * Enrolls by self sign-up, where the server allows it (`fedex serve --signup open`): the server
   * makes a new user named `name` and this device its first device. A browser app on its own
   * server needs no admin this way; elsewhere the answer is ENROLLMENT_CLOSED (ask for a token).
   *
   * @throws FedexError ENROLLMENT_CLOSED when the server does not allow sign-up.
   */
  async signup(request: { name: string; deviceName?: string }): Promise<Enrollment> {
    this.assertNotEnrolled();
    return this.keepEnrollment(await this.client.signup(request));
  }

  private assertNotEnrolled(): void {
    if (this.enrollment)
      throw new FedexError(
        'BAD_ARGUMENT',
        `this device is enrolled already (device ${this.enrollment.deviceId} of user ${this.enrollment.userId})`,
      );
  }

  /** Stores the server's answer to an enrollment or sign-up: the device's identity and token. */
  private async keepEnrollment(answer: Awaited<ReturnType<DeviceClient['enroll']>>): Promise<Enrollment> {
    const { device, token } = answer;
    this.enrollment = {
      server: this.client.server,
      deviceId: device.id,
      userId: device.userId,
      name: device.name,
      token,
    };
    await this.store.putJson(KEY.enrollment, this.enrollment);
    return { ...this.enrollment };
  }

  /**
   * Runs the bottom on a photo and keeps its features for upload (with `label`, a person's name,
   * when known). No face: `found: false`, nothing kept. Adding an id again replaces its features.
   *
   * @throws FedexError OUTBOX_FULL when a full batch cannot be queued (sync first; nothing was added).
   */
  async addPhoto(image: RawImage, sample: { id: string; label?: string | null }): Promise<AddPhotoResult> {
    this.requireEnrolled();
    const { id } = sample;
    if (typeof id !== 'string' || id.length === 0 || id.length > SAMPLE_ID_MAX)
      throw new FedexError('BAD_ARGUMENT', `a sample id is 1-${SAMPLE_ID_MAX} characters, got "${id}"`);
    const label = sample.label ?? null;
    if (label !== null && (label.length === 0 || label.length > 200))
      throw new FedexError('BAD_ARGUMENT', `a label name is 1-200 characters, got "${label}"`);
    // A full batch that the outbox refused earlier must find room before anything else is kept.
    if (this.pending.length >= this.batchSize) await this.queuePending();

    const t0 = now();
    const features = await this.extractor.extract(image);
    this.meter.photo(this.flopsPerPhoto, now() - t0);
    if (!features) {
      await this.saveCosts();
      return { id, found: false };
    }
    await this.keepFeatures(features, id, label);
    return { id, found: true };
  }

  /**
   * Keeps features the caller extracted with this device's bottom (e.g. one per face of a group
   * photo, from `FaceExtractor.pipeline.analyze`): the same as `addPhoto` after its bottom run.
   * `extract`, when given, is what that run cost (FLOPs, ms); it goes into `costs()` as a photo.
   *
   * @throws FedexError FEATURE_MISMATCH (wrong length), BAD_ARGUMENT, OUTBOX_FULL as `addPhoto`.
   * @example
   * const { faces } = await extractor.pipeline.analyze(image, { faces: 'all' });
   * for (const [i, f] of faces.entries()) await device.addFeatures(f.descriptor!, { id: `IMG_1.jpg#${i}` });
   */
  async addFeatures(
    features: Float32Array,
    sample: { id: string; label?: string | null },
    extract?: { flops: number; ms: number },
  ): Promise<AddPhotoResult> {
    this.requireEnrolled();
    const { id } = sample;
    if (typeof id !== 'string' || id.length === 0 || id.length > SAMPLE_ID_MAX)
      throw new FedexError('BAD_ARGUMENT', `a sample id is 1-${SAMPLE_ID_MAX} characters, got "${id}"`);
    const label = sample.label ?? null;
    if (label !== null && (label.length === 0 || label.length > 200))
      throw new FedexError('BAD_ARGUMENT', `a label name is 1-200 characters, got "${label}"`);
    if (this.pending.length >= this.batchSize) await this.queuePending();
    if (extract) this.meter.photo(extract.flops, extract.ms);
    await this.keepFeatures(features, id, label);
    return { id, found: true };
  }

  /**
   * Stores one sample's features in the waiting batch (and the outbox when it is full). The
   * feature noise is applied here, once: what is stored as pending is already noisy, so a batch
   * encoded again after a crash or re-sent after a failed upload carries the same values. Noising
   * each attempt afresh would let a server average the attempts and undo the noise.
   */
  /**
   * The features with this device's noise. Keyed (WebCrypto): the noise is a function of the clean
   * features under a secret kept in the store, so the same photo added again (under any id) gets
   * the same noise and a server cannot average copies. Without WebCrypto (a browser page on plain
   * http other than localhost) it is drawn from the CSPRNG instead, once per add.
   */
  private async noised(features: Float32Array): Promise<Float32Array> {
    if (!keyedNoiseAvailable()) return applyFeatureNoise(features, this.featureNoise);
    if (!this.noiseSecret) {
      const stored = await this.store.getBytes(KEY.noiseSecret);
      if (stored && stored.byteLength >= 16) this.noiseSecret = stored;
      else {
        const fresh = new Uint8Array(32);
        globalThis.crypto.getRandomValues(fresh);
        await this.store.putBytes(KEY.noiseSecret, fresh);
        this.noiseSecret = fresh;
      }
    }
    return applyKeyedFeatureNoise(features, this.featureNoise, this.noiseSecret);
  }

  private async keepFeatures(features: Float32Array, id: string, label: string | null): Promise<void> {
    if (features.length !== this.dim)
      throw new FedexError(
        'FEATURE_MISMATCH',
        `the extractor gave ${features.length} values, its spec says ${this.dim}`,
      );
    const kept = this.featureNoise.kind === 'none' ? features : await this.noised(features);

    if (label !== null && this.labels.idOf(label) === undefined) {
      this.labels.ensure(label);
      await this.store.putJson(KEY.labels, this.labels.entries());
    }
    const entry: PendingSample = { seq: this.seq, id, label, features: Array.from(kept) };
    await this.store.putJson(`${KEY.pending}${String(entry.seq).padStart(12, '0')}`, entry);
    this.seq += 1;
    await this.store.putJson(KEY.seq, this.seq);
    // Re-adding an id still waiting in the batch replaces it there.
    const dup = this.pending.findIndex((p) => p.id === id);
    if (dup >= 0) {
      await this.store.delete(this.pendingKey(this.pending[dup]));
      this.pending.splice(dup, 1);
    }
    this.pending.push(entry);
    this.samples[id] = label;
    await this.store.putJson(KEY.samples, this.samples);
    await this.saveCosts();
    if (this.pending.length >= this.batchSize) {
      try {
        await this.queuePending();
      } catch (e) {
        // Kept in the batch (it is stored); the next addPhoto or sync retries the outbox.
        if (!isFedexError(e, 'OUTBOX_FULL')) throw e;
      }
    }
  }

  private pendingKey(p: PendingSample): string {
    return `${KEY.pending}${String(p.seq).padStart(12, '0')}`;
  }

  /**
   * Encodes the waiting samples as one FXFB batch and hands it to the outbox. The batch id comes
   * from the first sample's sequence number, so redoing this after a crash between the outbox
   * write and the deletes makes the same id (stored once by the server).
   *
   * A name given while this runs (the app names faces while a background sync goes on) reaches a
   * sample already encoded with its old name: it is queued as a relabel, never lost. The samples
   * leave `pending` before the next await, so a name given after that takes the relabel path
   * itself and cannot write a pending entry back under the key this deletes.
   */
  private async queuePending(): Promise<void> {
    if (this.pending.length === 0) return;
    const { deviceId } = this.requireEnrolled();
    const t0 = now();
    const batch = this.pending.slice(0, this.batchSize);
    const encodedNames = batch.map((p) => p.label);
    const features = new Float32Array(batch.length * this.dim);
    batch.forEach((p, i) => features.set(p.features, i * this.dim));
    const bytes = encodeFeatureBatch(
      {
        spec: this.extractor.spec,
        sampleIds: batch.map((p) => p.id),
        labels: Int32Array.from(batch, (p) => (p.label === null ? -1 : this.labels.ensure(p.label))),
        features,
      },
      { dtype: this.dtype },
    );
    this.meter.time('encode', now() - t0);
    await this.outbox.add({
      batchId: `${deviceId}-${batch[0].seq}`,
      bytes,
      samples: batch.length,
      createdAt: (this.options.now ?? Date.now)(),
    });
    this.pending.splice(0, batch.length);
    const renamed = batch.filter((p, i) => p.label !== encodedNames[i]);
    for (const p of renamed) this.queueRelabel([p.id], p.label);
    if (renamed.length > 0) await this.store.putJson(KEY.relabels, this.relabels);
    for (const p of batch) await this.store.delete(this.pendingKey(p));
    if (this.pending.length >= this.batchSize) await this.queuePending();
  }

  /**
   * Names (or, with null, un-names) a photo added earlier, by its id. Sent at the next sync.
   *
   * @throws FedexError NOT_FOUND for an id this device never added.
   */
  async label(id: string, name: string | null): Promise<void> {
    this.requireEnrolled();
    if (!Object.hasOwn(this.samples, id))
      throw new FedexError('NOT_FOUND', `no photo "${id}" on this device`);
    if (name !== null && (name.length === 0 || name.length > 200))
      throw new FedexError('BAD_ARGUMENT', `a label name is 1-200 characters, got "${name}"`);
    if (name !== null && this.labels.idOf(name) === undefined) {
      this.labels.ensure(name);
      await this.store.putJson(KEY.labels, this.labels.entries());
    }
    this.samples[id] = name;
    await this.store.putJson(KEY.samples, this.samples);
    const waiting = this.pending.find((p) => p.id === id);
    if (waiting) {
      waiting.label = name;
      await this.store.putJson(this.pendingKey(waiting), waiting);
      return;
    }
    this.queueRelabel([id], name);
    await this.store.putJson(KEY.relabels, this.relabels);
  }

  /**
   * Forgets photos added earlier, here and on the server: features still waiting on this device
   * are dropped unsent, queued names for them are dropped, and the server is asked to delete what
   * it holds (at the next sync, once no queued batch can still carry them; resent until it answers).
   * Deleting a named photo makes the server retrain this user's model at once, and the next
   * `pullModel` brings a model that never saw it. Ids this device never added are ignored.
   *
   * @returns how many of the ids this device knew.
   * @example
   * await device.forget(['IMG_0001.jpg#0', 'IMG_0001.jpg#1']); // a photo with two faces
   * await device.sync();
   */
  async forget(ids: readonly string[]): Promise<number> {
    this.requireEnrolled();
    if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string'))
      throw new FedexError('BAD_ARGUMENT', 'forget takes a list of photo ids');
    const known = [...new Set(ids)].filter((id) => Object.hasOwn(this.samples, id));
    if (known.length === 0) return 0;
    const gone = new Set(known);
    for (const id of known) delete this.samples[id];
    // Waiting features are dropped unsent. An earlier version of the same id may be on the server
    // already (adding an id again replaces it), so every id is queued for deletion all the same.
    const waiting = this.pending.filter((p) => gone.has(p.id));
    for (const p of waiting) await this.store.delete(this.pendingKey(p));
    this.pending = this.pending.filter((p) => !gone.has(p.id));
    for (const r of this.relabels) r.clientIds = r.clientIds.filter((c) => !gone.has(c));
    this.relabels = this.relabels.filter((r) => r.clientIds.length > 0);
    const queued = new Set(this.deletions);
    for (const id of known) if (!queued.has(id)) this.deletions.push(id);
    await this.store.putJson(KEY.deletions, this.deletions);
    await this.store.putJson(KEY.relabels, this.relabels);
    await this.store.putJson(KEY.samples, this.samples);
    return known.length;
  }

  /**
   * Sends the queued deletions, 1,000 ids per request, once the outbox is empty: a batch still
   * waiting there may carry one of the ids, and uploading it after the deletion would store the
   * photo again. Returns the samples the server deleted.
   */
  private async sendDeletions(userId: string): Promise<number> {
    if (this.deletions.length === 0 || this.outbox.usage().batches > 0) return 0;
    let deleted = 0;
    while (this.deletions.length > 0) {
      const part = this.deletions.slice(0, 1000);
      const res = await this.retry(() => this.client.deleteSamples(userId, { clientIds: part }));
      deleted += res.deleted;
      this.deletions = this.deletions.slice(part.length);
      await this.store.putJson(KEY.deletions, this.deletions);
    }
    return deleted;
  }

  private queueRelabel(clientIds: string[], name: string | null): void {
    // A later relabel of the same id wins: drop it from earlier entries.
    const ids = new Set(clientIds);
    for (const r of this.relabels) r.clientIds = r.clientIds.filter((c) => !ids.has(c));
    this.relabels = this.relabels.filter((r) => r.clientIds.length > 0);
    const same = this.relabels.find((r) => r.name === name);
    if (same) same.clientIds.push(...clientIds);
    else this.relabels.push({ clientIds: [...clientIds], name });
  }

  /**
   * Sends everything waiting: settles label names with the server (new names get the next free
   * ids), uploads the outbox (retrying with backoff; what fails stays for the next sync) and then
   * the queued relabels.
   *
   * @throws FedexError UNAVAILABLE (or the server's error) when the server cannot take it now; what
   * was acknowledged before stays acknowledged, the rest waits on the device.
   */
  async sync(): Promise<SyncResult> {
    const { userId } = this.requireEnrolled();
    await this.syncLabels();
    try {
      await this.queuePending();
    } catch (e) {
      if (!isFedexError(e, 'OUTBOX_FULL')) throw e;
    }
    const flushed = await this.flushOutbox(userId);
    // Samples that waited behind a full outbox go now.
    while (this.pending.length > 0) {
      await this.queuePending();
      const more = await this.flushOutbox(userId);
      flushed.batches += more.batches;
      flushed.samples += more.samples;
      flushed.rejected += more.rejected;
    }
    const relabelled = await this.sendRelabels(userId);
    const deleted = await this.sendDeletions(userId);
    await this.saveCosts();
    return {
      uploaded: flushed.batches,
      samples: flushed.samples,
      relabelled,
      deleted,
      pending: this.pending.length + this.outbox.usage().samples,
      rejected: flushed.rejected,
    };
  }

  /** Reconciles the label map with the server's names and PUTs the new ones. */
  private async syncLabels(): Promise<void> {
    const { userId } = this.requireEnrolled();
    const server = await this.retry(() => this.client.getLabels(userId));
    const { toPut, remap } = this.labels.reconcile(server);
    if (toPut.length > 0) {
      await this.retry(() => this.client.putLabels(userId, toPut));
      this.labels.markSynced(toPut);
    }
    if (remap.size > 0) {
      // Batches already encoded carry the old ids: relabel their samples once they are uploaded.
      for (const entry of await this.outbox.list()) {
        const batch = decodeFeatureBatch(entry.bytes);
        batch.labels.forEach((l, i) => {
          const moved = remap.get(l);
          if (moved !== undefined) this.queueRelabel([batch.sampleIds[i]], this.labels.nameOf(moved) ?? null);
        });
      }
      await this.store.putJson(KEY.relabels, this.relabels);
    }
    await this.store.putJson(KEY.labels, this.labels.entries());
  }

  private async sendRelabels(userId: string): Promise<number> {
    let changed = 0;
    while (this.relabels.length > 0) {
      const r = this.relabels[0];
      const label = r.name === null ? -1 : this.labels.idOf(r.name);
      if (label === undefined) {
        // A name the map lost (renamed on the server meanwhile): settle names, then retry.
        this.labels.ensure(r.name!);
        await this.syncLabels();
        continue;
      }
      try {
        const res = await this.retry(() => this.client.relabel(userId, { clientIds: r.clientIds, label }));
        changed += res.changed;
      } catch (e) {
        if (!isFedexError(e, 'NOT_FOUND')) throw e;
        // The server relabels all or nothing, and it lacks one of these samples (its batch was
        // refused): relabel the others one by one and drop the ones it never stored, so one lost
        // sample does not block the queue for ever.
        for (const id of r.clientIds) {
          try {
            const one = await this.retry(() => this.client.relabel(userId, { clientIds: [id], label }));
            changed += one.changed;
          } catch (inner) {
            if (!isFedexError(inner, 'NOT_FOUND')) throw inner;
          }
        }
      }
      this.relabels.shift();
      await this.store.putJson(KEY.relabels, this.relabels);
    }
    return changed;
  }

  /** Asks the server to train this user's head (a queued job; one per user at a time). */
  async train(body: TrainBody = {}): Promise<JobInfo> {
    const { userId } = this.requireEnrolled();
    const { job } = await this.retry(() => this.client.train(userId, body));
    return job;
  }

  /**
   * Polls a job until it is done.
   *
   * @throws FedexError JOB_FAILED when it failed; UNAVAILABLE when `timeoutMs` passes first.
   */
  async waitForJob(jobId: number, options: { timeoutMs?: number; pollMs?: number } = {}): Promise<JobInfo> {
    this.requireEnrolled();
    const deadline = Date.now() + (options.timeoutMs ?? 600_000);
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    for (;;) {
      const job = await this.retry(() => this.client.job(jobId));
      if (job.status === 'done') return job;
      if (job.status === 'failed')
        throw new FedexError('JOB_FAILED', `training job ${jobId} failed: ${job.error ?? 'no reason given'}`);
      if (Date.now() > deadline) throw new FedexError('UNAVAILABLE', `job ${jobId} is still ${job.status}`);
      await sleep(options.pollMs ?? 250);
    }
  }

  /**
   * Fetches the newest promoted model of the user if it changed (ETag). The bytes must match the
   * server's sha256 and decode into a top for this device's features before they replace the
   * model held; otherwise the previous model stays and the answer carries the error.
   */
  async pullModel(): Promise<PullResult> {
    const { userId } = this.requireEnrolled();
    const current = this.loaded?.record ?? null;
    const t0 = now();
    let fetched;
    try {
      fetched = await this.retry(() => this.client.fetchModel(`user:${userId}`, current?.etag));
    } catch (e) {
      // A corrupt, cut or failed download, or no model yet: the model held stays.
      if (isFedexError(e) && (isRetryable(e) || e.code === 'NO_MODEL'))
        return { updated: false, version: current?.version ?? null, error: e };
      throw e;
    } finally {
      this.meter.time('download', now() - t0);
      await this.saveCosts();
    }
    if (fetched.status === 'not-modified') return { updated: false, version: current?.version ?? null };

    let top;
    try {
      top = await decodeTop(fetched.bytes, this.dim, specKey(this.extractor.spec));
    } catch (e) {
      if (isFedexError(e)) return { updated: false, version: current?.version ?? null, error: e };
      throw e;
    }
    const record: ModelRecord = {
      bytesKey: `model.${fetched.checksum.slice('sha256:'.length, 'sha256:'.length + 16)}.bin`,
      etag: fetched.etag,
      checksum: fetched.checksum,
      version: fetched.version,
      labels: top.labels,
      pulledAt: (this.options.now ?? Date.now)(),
    };
    try {
      // Bytes first, then the pointer: a crash in between leaves the old model in place.
      await this.store.putBytes(record.bytesKey, fetched.bytes);
      await this.store.putJson(KEY.model, record);
      if (current && current.bytesKey !== record.bytesKey) await this.store.delete(current.bytesKey);
    } catch (e) {
      top.model.dispose();
      throw e;
    }
    this.loaded?.model.dispose();
    this.loaded = { record, model: top.model, topFlops: top.topFlops, openSet: top.openSet };
    await this.learnLabelNames(userId, top.labels);
    return { updated: true, version: record.version };
  }

  /** Names of label ids the model knows and this device does not (another device named them). */
  private async learnLabelNames(userId: string, modelLabels: string[]): Promise<void> {
    if (modelLabels.every((l) => this.labels.nameOf(Number(l)) !== undefined)) return;
    try {
      const server = await this.retry(() => this.client.getLabels(userId));
      let changed = false;
      for (const l of server) {
        if (this.labels.nameOf(l.id) === undefined && this.labels.idOf(l.name) === undefined) {
          this.labels = new LabelMap([...this.labels.entries(), { ...l, synced: true }]);
          changed = true;
        }
      }
      if (changed) await this.store.putJson(KEY.labels, this.labels.entries());
    } catch {
      // Names are cosmetic here: predictions fall back to "label <id>".
    }
  }

  /** Version of the model held, or null. */
  get modelVersion(): number | null {
    return this.loaded?.record.version ?? null;
  }

  /**
   * Names the main face of a photo with the pulled model, on the device. Null when no face.
   *
   * @throws FedexError NO_MODEL before a model was pulled.
   */
  async predict(image: RawImage): Promise<Prediction | null> {
    if (this.closed) throw new FedexError('BAD_ARGUMENT', 'the device is closed');
    const loaded = this.loaded;
    if (!loaded) throw new FedexError('NO_MODEL', 'no model yet: sync, train and pull one first');
    const t0 = now();
    const features = await this.extractor.extract(image);
    this.meter.photo(this.flopsPerPhoto, now() - t0);
    if (!features) {
      await this.saveCosts();
      return null;
    }
    const prediction = this.predictFeatures(features, loaded);
    await this.saveCosts();
    return prediction;
  }

  /** The top on one feature vector (what `predict` does after the bottom). */
  predictFeatures(features: Float32Array, loaded: LoadedModel | null = this.loaded): Prediction {
    if (!loaded) throw new FedexError('NO_MODEL', 'no model yet: sync, train and pull one first');
    if (features.length !== this.dim)
      throw new FedexError('FEATURE_MISMATCH', `got ${features.length} values, the model takes ${this.dim}`);
    const t0 = now();
    const probs = tf.tidy(() => {
      const out = loaded.model.predict(tf.tensor2d(features, [1, this.dim])) as tf.Tensor;
      return out.dataSync() as Float32Array;
    });
    const decision = decideOpenSet(probs, features, loaded.openSet, {
      threshold: this.threshold,
      useRadius: this.useOpenSet,
    });
    const candidates = loaded.record.labels
      .map((l, i) => ({
        name: this.labels.nameOf(Number(l)) ?? `label ${l}`,
        probability: decision.probabilities[i],
      }))
      .sort((a, b) => b.probability - a.probability);
    this.meter.flops(loaded.topFlops);
    this.meter.time('predict', now() - t0);
    const { unknownBecause, strangeness, typicality } = decision;
    return {
      name: unknownBecause || candidates.length === 0 ? UNKNOWN : candidates[0].name,
      confidence: decision.confidence,
      ...(unknownBecause ? { unknownBecause } : {}),
      ...(strangeness !== undefined ? { strangeness } : {}),
      ...(typicality !== undefined ? { typicality } : {}),
      candidates,
      modelVersion: loaded.record.version,
    };
  }

  /** Costs since enrollment (`total`, default) or since `open` (`session`). */
  costs(which: 'total' | 'session' = 'total'): DeviceCosts {
    return this.meter.snapshot(which);
  }

  /** Everything `fedex device status` shows. */
  async status(): Promise<DeviceStatus> {
    const outbox = this.outbox.usage();
    const ids = Object.keys(this.samples);
    const m = this.loaded?.record;
    return {
      enrolled: this.enrollment !== null,
      server: this.enrollment?.server ?? this.client.server,
      deviceId: this.enrollment?.deviceId ?? null,
      userId: this.enrollment?.userId ?? null,
      name: this.enrollment?.name ?? null,
      samples: ids.length,
      labelled: ids.filter((id) => this.samples[id] !== null).length,
      pendingSamples: this.pending.length + outbox.samples,
      outboxBatches: outbox.batches,
      outboxBytes: outbox.bytes,
      queuedRelabels: this.relabels.reduce((n, r) => n + r.clientIds.length, 0),
      queuedDeletions: this.deletions.length,
      featureNoise: formatFeatureNoise(this.featureNoise),
      labels: this.labels.entries().map(({ id, name }) => ({ id, name })),
      model: m ? { version: m.version, etag: m.etag, labels: m.labels.length, pulledAt: m.pulledAt } : null,
      costs: this.costs('total'),
    };
  }

  /** Saves the cost totals and disposes the model (the extractor belongs to the caller). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.saveCosts();
    this.loaded?.model.dispose();
    this.loaded = null;
  }
}
