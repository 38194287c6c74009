/**
 * Saving and loading heads, platform-neutral (no Node built-ins): a model goes out either in the
 * tfjs model format (`ModelArtifacts`, or a `model.json` object plus one weights file — what
 * `tf.loadLayersModel` reads in a browser or on a device) or as a FedEx weights message (the FXWT
 * wire codec, float32/float16/int8) that carries the architecture in its metadata. Both load back
 * to a `tf.LayersModel` that predicts like the one saved (exactly, for float32).
 *
 * File and URL storage live in adapters (`../platform/node/model-store.ts` for Node); this module
 * only turns models into bytes and JSON and back.
 */
import * as tf from '@tensorflow/tfjs';
import { decodeWeights, encodeWeights, type EncodeOptions, type WeightTensor } from '../core/codec.js';
import { FedexError } from '../core/errors.js';

/** Name of the single weights file written next to `model.json`. */
export const WEIGHTS_FILE = 'weights.bin';

/**
 * The model's topology and weights as tfjs `ModelArtifacts` (weights in one ArrayBuffer).
 *
 * @example
 * const artifacts = await modelToArtifacts(model);
 * const copy = await modelFromArtifacts(artifacts);
 */
export async function modelToArtifacts(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  if (!saved) throw new FedexError('INTERNAL', 'model.save did not hand over its artifacts');
  // One buffer, whatever the tfjs version chose (it may shard weights into several).
  const data = saved.weightData;
  if (Array.isArray(data)) saved = { ...saved, weightData: tf.io.concatenateArrayBuffers(data) };
  return saved;
}

/** Loads a model from `ModelArtifacts` (as produced by `modelToArtifacts` or `artifactsFromFiles`). */
export async function modelFromArtifacts(artifacts: tf.io.ModelArtifacts): Promise<tf.LayersModel> {
  try {
    return await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  } catch (cause) {
    throw new FedexError('MODEL_LOAD', `cannot load the model: ${(cause as Error).message}`, { cause });
  }
}

/** `model.json` content and the bytes of its one weights file. */
export interface ModelFiles {
  modelJson: tf.io.ModelJSON;
  /** Contents of `weightsFile` (named in `modelJson.weightsManifest`). */
  weights: Uint8Array;
  weightsFile: string;
}

/**
 * Splits artifacts into `model.json` and one weights file, the layout `tf.loadLayersModel(url)`
 * reads (`http://.../model.json` next to `weights.bin`).
 */
export function artifactsToFiles(artifacts: tf.io.ModelArtifacts, weightsFile = WEIGHTS_FILE): ModelFiles {
  if (!artifacts.modelTopology || !artifacts.weightSpecs) {
    throw new FedexError('MODEL_LOAD', 'artifacts lack a topology or weight specs');
  }
  const data = artifacts.weightData;
  const buffer =
    data === undefined
      ? new ArrayBuffer(0)
      : Array.isArray(data)
        ? tf.io.concatenateArrayBuffers(data)
        : data;
  const modelJson: tf.io.ModelJSON = {
    format: artifacts.format ?? 'layers-model',
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy ?? null,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: [`./${weightsFile}`], weights: artifacts.weightSpecs }],
  };
  return { modelJson, weights: new Uint8Array(buffer), weightsFile };
}

/**
 * Rebuilds artifacts from a parsed `model.json` and a reader of the files it names (paths as
 * written in its manifest, e.g. `./weights.bin`).
 */
export async function artifactsFromFiles(
  modelJson: unknown,
  readFile: (path: string) => Promise<Uint8Array>,
): Promise<tf.io.ModelArtifacts> {
  const json = modelJson as Partial<tf.io.ModelJSON> | null;
  if (!json || typeof json !== 'object' || !json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new FedexError('MODEL_LOAD', 'model.json lacks modelTopology or weightsManifest');
  }
  return tf.io.getModelArtifactsForJSON(json as tf.io.ModelJSON, async (manifest) => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const parts: ArrayBuffer[] = [];
    for (const group of manifest) {
      specs.push(...group.weights);
      for (const p of group.paths) {
        const bytes = await readFile(p);
        parts.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
      }
    }
    return [specs, tf.io.concatenateArrayBuffers(parts)];
  });
}

/** Metadata key holding the tfjs topology inside a weights message. */
const TOPOLOGY_KEY = 'modelTopology';

/**
 * Encodes the model as a FedEx weights message: `metadata` plus the model's topology (so the
 * receiver can rebuild it) and every weight, in `model.weights` order, named by its tfjs name.
 *
 * @example
 * const bytes = modelToWeightsMessage(model, { head: 'linear', labels }, { dtype: 'float16' });
 */
export function modelToWeightsMessage(
  model: tf.LayersModel,
  metadata: Record<string, unknown> = {},
  options: Partial<EncodeOptions> = {},
): Uint8Array {
  const topology = model.toJSON(null, false) as unknown as Record<string, unknown>;
  const tensors: WeightTensor[] = model.weights.map((w, i) => {
    const values = tf.tidy(() => w.read().dataSync() as Float32Array);
    // tfjs names are unique per process; the index keeps them unique within the message anyway.
    return { name: `${i}:${w.originalName}`, shape: [...w.shape] as number[], values };
  });
  return encodeWeights({ metadata: { ...metadata, [TOPOLOGY_KEY]: topology }, tensors }, options);
}

/**
 * Decodes a weights message made by `modelToWeightsMessage` into a model (its topology rebuilt,
 * weights set in order) and the metadata that came with it (without the topology).
 */
export async function modelFromWeightsMessage(
  bytes: Uint8Array,
): Promise<{ model: tf.LayersModel; metadata: Record<string, unknown> }> {
  const message = decodeWeights(bytes);
  const { [TOPOLOGY_KEY]: topology, ...metadata } = message.metadata;
  if (!topology || typeof topology !== 'object') {
    throw new FedexError('MODEL_LOAD', 'weights message carries no model topology');
  }
  let model: tf.LayersModel;
  try {
    model = await tf.models.modelFromJSON({ modelTopology: topology } as tf.io.ModelJSON);
  } catch (cause) {
    throw new FedexError('MODEL_LOAD', `cannot rebuild the model: ${(cause as Error).message}`, { cause });
  }
  const weights = model.weights;
  const sameShape = (a: readonly number[], b: readonly number[]) =>
    a.length === b.length && a.every((d, i) => d === b[i]);
  if (
    weights.length !== message.tensors.length ||
    weights.some((w, i) => !sameShape(w.shape as number[], message.tensors[i].shape))
  ) {
    model.dispose();
    throw new FedexError(
      'MODEL_LOAD',
      `weights message holds ${message.tensors.length} tensors that do not match the model's ${weights.length} weights`,
    );
  }
  const tensors = message.tensors.map((t) => tf.tensor(t.values, t.shape, 'float32'));
  model.setWeights(tensors);
  tf.dispose(tensors);
  return { model, metadata };
}
