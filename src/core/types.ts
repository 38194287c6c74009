/**
 * Core data types shared by every FedEx part (device, server, simulator). Platform-neutral: no
 * Node built-ins and no tfjs here, so the wire codec and pure math can run anywhere.
 */

/** A decoded image: 8-bit RGB, row-major, interleaved (`data.length === width * height * 3`). */
export interface RawImage {
  width: number;
  height: number;
  channels: 3;
  data: Uint8Array;
}

/** Precision of features or weights on the wire. */
export type WireDtype = 'float32' | 'float16' | 'int8';

/**
 * Which network produced a feature, and where it was cut. Features from one spec are never fed to
 * another spec's top (`FEATURE_MISMATCH`).
 */
export interface FeatureSpec {
  /** Backbone id, e.g. `faceapi-resnet` (the face-api / dlib recognition network). */
  backboneId: string;
  /** Backbone version, e.g. the npm package version its weights come from. */
  backboneVersion: string;
  /** Split point name, e.g. `embedding` (128-d output) or an intermediate layer. */
  split: string;
  /** Shape of one sample's feature, e.g. `[128]` or `[37, 37, 128]`. */
  shape: number[];
}

/** Label id meaning "not labelled (yet)". */
export const UNLABELLED = -1;

/** A batch of features as held in memory (decoded), e.g. one device upload or an extract file. */
export interface FeatureBatch {
  spec: FeatureSpec;
  /** One id per sample, unique within the batch (e.g. a hash or a relative path). */
  sampleIds: string[];
  /** One label id per sample; `UNLABELLED` (-1) when the sample has no label. */
  labels: Int32Array;
  /** Optional names for label ids (`labelNames[labelId]`). */
  labelNames?: string[];
  /** `sampleIds.length * product(spec.shape)` values, sample-major. */
  features: Float32Array;
}

/** Something that turns one photo into one feature vector of a given spec (its main face). */
export interface FeatureExtractor {
  readonly spec: FeatureSpec;
  /** Features of the photo's main face, or `null` when no face is found. */
  extract(image: RawImage): Promise<Float32Array | null>;
  /** Releases models and tensors. */
  dispose(): void;
}

/** Product of a shape's dimensions (1 for a scalar shape `[]`). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Stable string key of a spec (used by caches, registries and the server's store):
 * `<backbone id>@<version>/<split>`, each part percent-encoded (`encodeURIComponent`), so `@`, `/`
 * and `%` inside a part cannot make two specs share a key (`x@y`+`z` and `x`+`y@z` used to). Keys
 * of the usual specs (`faceapi-resnet@1.7.15/embedding`) read the same as before.
 */
export function specKey(spec: Pick<FeatureSpec, 'backboneId' | 'backboneVersion' | 'split'>): string {
  const e = encodeURIComponent;
  return `${e(spec.backboneId)}@${e(spec.backboneVersion)}/${e(spec.split)}`;
}
