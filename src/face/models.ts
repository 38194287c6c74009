/**
 * Loading face-api model weights through tfjs `io.IOHandler`s, from wherever a platform keeps
 * them: a folder in Node (../platform/node/model-files.ts), a base URL in the browser (here,
 * `urlModelLoader`, which only needs `fetch`). Platform-neutral.
 *
 * face-api ships each model as `<name>-weights_manifest.json` (a bare tfjs weights manifest: an
 * array of `{ paths, weights }` groups) plus the `.bin` shards it names. A handler turns them into
 * `{ weightSpecs, weightData }`; `tf.io.decodeWeights` (which also dequantises the uint8 weights)
 * makes the weight map; the face-api net takes it with `loadFromWeightMap`. Every failure is a
 * FedexError FACE_MODEL_LOAD naming the file or URL.
 */
import * as tf from '@tensorflow/tfjs';
import { FedexError, isFedexError } from '../core/errors.js';
import type { FaceApiNet } from './faceapi.js';

/** The face-api models the pipeline uses (file stems inside face-api's `model/` folder). */
export type FaceModelName =
  | 'ssd_mobilenetv1_model'
  | 'tiny_face_detector_model'
  | 'face_landmark_68_model'
  | 'face_recognition_model'
  | 'age_gender_model';

/** Where model files come from. */
export interface FaceModelLoader {
  /** Human-readable origin (a folder or a URL), used in error messages. */
  readonly location: string;
  /** A tfjs IOHandler whose `load()` returns the model's `weightSpecs` and `weightData`. */
  handler(name: FaceModelName): tf.io.IOHandler;
}

/** Reads one file, named relative to the model folder, as bytes. */
export type ReadModelFile = (file: string) => Promise<Uint8Array>;

interface ManifestGroup {
  paths: string[];
  weights: tf.io.WeightsManifestEntry[];
}

function parseManifest(bytes: Uint8Array, where: string): ManifestGroup[] {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new FedexError('FACE_MODEL_LOAD', `weights manifest ${where} is not valid JSON`, { cause });
  }
  const ok =
    Array.isArray(json) &&
    json.length > 0 &&
    json.every(
      (g) =>
        typeof g === 'object' &&
        g !== null &&
        Array.isArray((g as ManifestGroup).paths) &&
        (g as ManifestGroup).paths.every((p) => typeof p === 'string' && p.length > 0) &&
        Array.isArray((g as ManifestGroup).weights),
    );
  if (!ok)
    throw new FedexError('FACE_MODEL_LOAD', `weights manifest ${where} is not a tfjs weights manifest`);
  return json as ManifestGroup[];
}

/** An exact ArrayBuffer holding `bytes` (a Node Buffer may be a view into a shared pool). */
function ownBuffer(bytes: Uint8Array): ArrayBuffer {
  if (
    bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength &&
    bytes.buffer instanceof ArrayBuffer
  ) {
    return bytes.buffer;
  }
  return bytes.slice().buffer as ArrayBuffer;
}

/**
 * An IOHandler for face-api's manifest-plus-shards layout, over any way of reading a file.
 * `describe(file)` says where a file is, for errors (e.g. its absolute path or URL).
 *
 * @example
 * const h = manifestHandler('face_recognition_model', (f) => fs.readFile(path.join(dir, f)), (f) => path.join(dir, f));
 */
export function manifestHandler(
  name: FaceModelName,
  read: ReadModelFile,
  describe: (file: string) => string,
): tf.io.IOHandler {
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      const manifestFile = `${name}-weights_manifest.json`;
      const readOrThrow = async (file: string): Promise<Uint8Array> => {
        try {
          return await read(file);
        } catch (cause) {
          if (isFedexError(cause, 'FACE_MODEL_LOAD')) throw cause;
          const why = cause instanceof Error ? `: ${cause.message}` : '';
          throw new FedexError('FACE_MODEL_LOAD', `cannot read model file ${describe(file)}${why}`, {
            cause,
          });
        }
      };
      const groups = parseManifest(await readOrThrow(manifestFile), describe(manifestFile));
      const weightSpecs = groups.flatMap((g) => g.weights);
      const shards = await Promise.all(groups.flatMap((g) => g.paths).map((p) => readOrThrow(p)));
      return { weightSpecs, weightData: shards.map(ownBuffer) };
    },
  };
}

/**
 * Loads model `name` from a loader into a face-api net.
 *
 * @throws FedexError FACE_MODEL_LOAD (missing file, bad manifest, shards that do not match it).
 */
export async function loadFaceNet(
  net: FaceApiNet,
  loader: FaceModelLoader,
  name: FaceModelName,
): Promise<void> {
  const where = `${name} from ${loader.location}`;
  let artifacts: tf.io.ModelArtifacts;
  try {
    const handler = loader.handler(name);
    if (!handler.load) throw new Error('IOHandler has no load()');
    artifacts = await handler.load();
  } catch (cause) {
    if (isFedexError(cause)) throw cause;
    throw new FedexError('FACE_MODEL_LOAD', `cannot load ${where}`, { cause });
  }
  if (!artifacts.weightSpecs || !artifacts.weightData) {
    throw new FedexError('FACE_MODEL_LOAD', `${where}: no weights in the model artifacts`);
  }
  let weightMap: tf.NamedTensorMap | undefined;
  try {
    const total = tf.io.CompositeArrayBuffer.join(artifacts.weightData).byteLength;
    const expected = artifacts.weightSpecs.reduce((n, s) => n + specBytes(s), 0);
    if (total !== expected)
      throw new Error(`weight data has ${total} bytes, the manifest describes ${expected}`);
    weightMap = tf.io.decodeWeights(artifacts.weightData, artifacts.weightSpecs);
    net.loadFromWeightMap(weightMap);
  } catch (cause) {
    if (weightMap && !net.isLoaded) tf.dispose(Object.values(weightMap));
    const why = cause instanceof Error ? `: ${cause.message}` : '';
    throw new FedexError('FACE_MODEL_LOAD', `cannot decode ${where}${why}`, { cause });
  }
}

/** Bytes a manifest entry takes in the shards (quantised entries are stored as 1 or 2 bytes). */
function specBytes(spec: tf.io.WeightsManifestEntry): number {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const q = spec.quantization?.dtype;
  if (q === 'uint8') return n;
  if (q === 'uint16' || q === 'float16') return 2 * n;
  if (spec.dtype === 'bool') return n;
  return 4 * n;
}

/**
 * Loads models from a base URL over `fetch`, e.g. the FedEx server serving face-api's `model/`
 * folder statically. Works in browsers and in Node 18+.
 *
 * @example
 * const loader = urlModelLoader('https://example.org/models/face-api/');
 */
export function urlModelLoader(baseUrl: string, options: { fetch?: typeof fetch } = {}): FaceModelLoader {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const doFetch = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const urlOf = (file: string): string => new URL(file, new URL(base, globalThis.location?.href)).href;
  const read: ReadModelFile = async (file) => {
    const url = urlOf(file);
    const res = await doFetch(url);
    if (!res.ok)
      throw new FedexError('FACE_MODEL_LOAD', `cannot fetch model file ${url}: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  };
  return {
    location: base,
    handler: (name) =>
      manifestHandler(name, read, (file) => {
        try {
          return urlOf(file);
        } catch {
          return base + file;
        }
      }),
  };
}
