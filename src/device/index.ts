/**
 * The device SDK's public entry point, platform-neutral (browser or Node): the device
 * (`FedexDevice`), its HTTP client, outbox, stores without Node built-ins, and the contracts. Node
 * code adds `NodeFileDeviceStore` from `./store/node-files.js`; a browser page uses `./browser.ts`
 * (the bundle), which re-exports this with the browser's face bottom and IndexedDB.
 *
 * @example
 * import { FedexDevice, MemoryDeviceStore } from './device/index.js';
 * const device = await FedexDevice.open({ server, store: new MemoryDeviceStore(), extractor });
 */
export {
  DEFAULT_DEVICE_OPTIONS,
  FedexDevice,
  resolveFeatureNoise,
  sha256Hex,
  type AddPhotoResult,
  type DeviceStatus,
  type Enrollment,
  type PullResult,
  type SyncResult,
} from './sdk.js';
export {
  DeviceClient,
  DeviceHttpError,
  isRetryable,
  type DeviceClientOptions,
  type JobInfo,
  type ModelFetch,
  type ModelScope,
  type TrainBody,
} from './client.js';
export { DEFAULT_OUTBOX_LIMITS, Outbox, type FlushResult, type OutboxUsage } from './outbox.js';
export { DEFAULT_RETRY_POLICY, backoffDelay, withRetry } from './backoff.js';
export { CostMeter, addCosts, emptyCosts } from './costs.js';
export { LabelMap, type LabelEntry } from './labels.js';
export { MemoryDeviceStore } from './store/memory.js';
export { IndexedDbDeviceStore } from './store/indexeddb.js';
export { UNKNOWN } from './types.js';
export { formatFeatureNoise, parseFeatureNoise, type FeatureNoise } from '../core/feature-noise.js';
export type {
  Candidate,
  DeviceCosts,
  DeviceOptions,
  DeviceStore,
  OutboxEntry,
  OutboxLimits,
  Prediction,
  RetryPolicy,
} from './types.js';
