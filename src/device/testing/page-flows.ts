/**
 * Functions that run INSIDE the Chromium page (handed to `page.evaluate`), shared by the browser
 * tests and `bench/browser.ts`. Each must be self-contained: it may use only its argument, DOM
 * globals and `window.fedex` (the SDK bundle the test page imported), never a module import or a
 * variable of this file. Types come from the SDK's source, so the page code is type-checked.
 */
import type * as Sdk from '../browser.js';
import type { FaceStats } from '../../face/pipeline.js';
import type { DeviceCosts } from '../types.js';

/** The SDK as the test page exposes it. */
type PageWindow = { fedex: typeof Sdk };

/** Photos to extract, by URL on the page's origin. */
export interface ExtractArgs {
  urls: string[];
}

export interface ExtractResult {
  backend: string;
  descriptors: (number[] | null)[];
  /** Per photo: decode + detect + align + embed (ms). */
  ms: number[];
  /** Per photo: decode alone (ms). */
  decodeMs: number[];
  /** The pipeline's cumulative stage times and detection paths. */
  stats: FaceStats;
}

/** The face bottom alone: each photo fetched, decoded with `rawImageFrom`, its descriptor extracted. */
export async function extractInPage(args: ExtractArgs): Promise<ExtractResult> {
  const m = (window as unknown as PageWindow).fedex;
  const { extractor, runtime } = await m.createBrowserFaceExtractor();
  const descriptors: (number[] | null)[] = [];
  const ms: number[] = [];
  const decodeMs: number[] = [];
  try {
    for (const url of args.urls) {
      const blob = await (await fetch(url)).blob();
      const t0 = performance.now();
      const image = await m.rawImageFrom(blob);
      decodeMs.push(performance.now() - t0);
      const d = await extractor.extract(image);
      ms.push(performance.now() - t0);
      descriptors.push(d ? Array.from(d) : null);
    }
    return { backend: runtime.backend, descriptors, ms, decodeMs, stats: extractor.stats() };
  } finally {
    extractor.dispose();
  }
}

/** One photo of the device flow: where it is, its sample id, and its name when labelled. */
export interface FlowPhoto {
  url: string;
  id: string;
  label: string | null;
}

export interface DeviceFlowArgs {
  enrollmentToken: string;
  /** IndexedDB database of this run. */
  storeName: string;
  /** Photos added (labelled or not) and uploaded. */
  add: FlowPhoto[];
  /** Photos predicted with the pulled model (never uploaded). */
  test: FlowPhoto[];
  jobTimeoutMs: number;
  /** Training settings sent with the train request (the server's defaults fill the rest). */
  train?: { epochs?: number; learningRate?: number; head?: string };
}

export interface DeviceFlowResult {
  backend: string;
  userId: string;
  found: number;
  /** Per added photo: decode + `addPhoto` (ms). */
  addMs: number[];
  uploadedBatches: number;
  uploadedSamples: number;
  jobStatus: string;
  modelVersion: number | null;
  /** `name` may be `unknown` (below the threshold); `top` is the most probable name regardless. */
  predictions: { id: string; name: string | null; top: string | null; confidence: number }[];
  /** Per test photo: decode + `predict` (ms). */
  predictMs: number[];
  costs: DeviceCosts;
}

/**
 * The whole device life in the page: create (IndexedDB store), enroll, add photos, sync, ask for
 * training, wait for the job, pull the model, predict the test photos.
 */
export async function deviceFlowInPage(args: DeviceFlowArgs): Promise<DeviceFlowResult> {
  const m = (window as unknown as PageWindow).fedex;
  const device = await m.createBrowserDevice({ storeName: args.storeName });
  try {
    const enrollment = await device.enroll({ enrollmentToken: args.enrollmentToken, name: 'chromium' });
    const decode = async (url: string) => m.rawImageFrom(await (await fetch(url)).blob());
    let found = 0;
    const addMs: number[] = [];
    for (const p of args.add) {
      const blob = await (await fetch(p.url)).blob();
      const t0 = performance.now();
      const r = await device.addPhoto(await m.rawImageFrom(blob), { id: p.id, label: p.label });
      addMs.push(performance.now() - t0);
      if (r.found) found++;
    }
    const sync = await device.sync();
    const job = await device.train(args.train ?? {});
    const done = await device.waitForJob(job.id, { timeoutMs: args.jobTimeoutMs });
    const pull = await device.pullModel();
    const predictions: DeviceFlowResult['predictions'] = [];
    const predictMs: number[] = [];
    for (const p of args.test) {
      const image = await decode(p.url);
      const t0 = performance.now();
      const r = await device.predict(image);
      predictMs.push(performance.now() - t0);
      predictions.push({
        id: p.id,
        name: r ? r.name : null,
        top: r ? (r.candidates[0]?.name ?? null) : null,
        confidence: r ? r.confidence : 0,
      });
    }
    return {
      backend: m.tf.getBackend(),
      userId: enrollment.userId,
      found,
      addMs,
      uploadedBatches: sync.uploaded,
      uploadedSamples: sync.samples,
      jobStatus: done.status,
      modelVersion: pull.version,
      predictions,
      predictMs,
      costs: device.costs('total'),
    };
  } finally {
    await device.close();
  }
}

export interface ReopenResult {
  userId: string | null;
  modelVersion: number | null;
  pendingSamples: number;
  prediction: string | null;
}

/**
 * After a reload: opens the device on the same IndexedDB database and predicts one photo with the
 * model it kept, without touching the network for the model.
 */
export async function reopenInPage(args: { storeName: string; url: string }): Promise<ReopenResult> {
  const m = (window as unknown as PageWindow).fedex;
  const device = await m.createBrowserDevice({ storeName: args.storeName });
  try {
    const status = await device.status();
    const image = await m.rawImageFrom(await (await fetch(args.url)).blob());
    const p = await device.predict(image);
    return {
      userId: device.enrolled?.userId ?? null,
      modelVersion: device.modelVersion,
      pendingSamples: status.pendingSamples,
      prediction: p ? p.name : null,
    };
  } finally {
    await device.close();
  }
}
