/**
 * Node-only helpers the backbones need to find their pretrained weights on disk: package versions
 * (recorded in feature specs) and a tfjs graph-model IOHandler over a folder (tfjs's own `file://`
 * handler exists only in tfjs-node, which does not install here).
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { FedexError, type ErrorCode } from '../../core/errors.js';

const require = createRequire(import.meta.url);

/**
 * Absolute folder of an installed package. Looked up along Node's module search paths rather than
 * with `require.resolve('<name>/package.json')`, which packages with an `exports` map (human) refuse.
 */
export function packageDir(name: string, code: ErrorCode = 'FACE_MODEL_LOAD'): string {
  for (const dir of require.resolve.paths(name) ?? []) {
    const candidate = path.join(dir, name);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
  }
  throw new FedexError(code, `package ${name} is not installed (npm install ${name})`);
}

/** Version of an installed package, or throws `code` when it is not installed. */
export function packageVersion(name: string, code: ErrorCode = 'FACE_MODEL_LOAD'): string {
  const file = path.join(packageDir(name, code), 'package.json');
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch (cause) {
    throw new FedexError(code, `cannot read ${file}`, { cause });
  }
}

/** Version of the installed `@vladmandic/face-api` (the faceapi-resnet weights' version). */
export function faceApiVersion(): string {
  return packageVersion('@vladmandic/face-api');
}

/**
 * A model file inside the installed `@vladmandic/human` package's `models/` folder.
 *
 * @throws FedexError FACE_MODEL_LOAD when the package is not installed.
 */
export function humanModelFile(file: string): string {
  return path.join(packageDir('@vladmandic/human'), 'models', file);
}

/**
 * An IOHandler that loads a tfjs model (`model.json` with `modelTopology` and
 * `weightsManifest`, plus its `.bin` shards) from disk, reading shards relative to the JSON file.
 *
 * @throws FedexError FACE_MODEL_LOAD (from `load()`) naming the file that is missing or broken.
 * @example
 * const model = await tf.loadGraphModel(fileModelJsonHandler('/path/models/faceres.json'));
 */
export function fileModelJsonHandler(jsonFile: string): tf.io.IOHandler {
  const file = path.resolve(jsonFile);
  const dir = path.dirname(file);
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(await readFile(file, 'utf8')) as tf.io.ModelJSON;
      } catch (cause) {
        throw new FedexError(
          'FACE_MODEL_LOAD',
          `cannot read model file ${file}: ${(cause as Error).message}`,
          { cause },
        );
      }
      if (!json || typeof json !== 'object' || !json.modelTopology || !Array.isArray(json.weightsManifest)) {
        throw new FedexError(
          'FACE_MODEL_LOAD',
          `${file} is not a tfjs model.json (modelTopology, weightsManifest)`,
        );
      }
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const weightSpecs = manifest.flatMap((g) => g.weights);
        const buffers = await Promise.all(
          manifest
            .flatMap((g) => g.paths)
            .map(async (p) => {
              const shard = path.resolve(dir, p);
              if (!shard.startsWith(dir + path.sep)) {
                throw new FedexError('FACE_MODEL_LOAD', `weights file ${p} points outside ${dir}`);
              }
              try {
                const b = await readFile(shard);
                return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
              } catch (cause) {
                throw new FedexError('FACE_MODEL_LOAD', `cannot read weights file ${shard}`, { cause });
              }
            }),
        );
        return [weightSpecs, buffers];
      });
    },
  };
}
