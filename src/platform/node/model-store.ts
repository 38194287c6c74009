/**
 * Heads on disk (Node): a folder holding `model.json` and `weights.bin` in the tfjs model format
 * (what `tf.loadLayersModel` reads from a URL on a device) plus a FedEx `meta.json` (spec, head,
 * labels, metrics, training config). tfjs's own `file://` handler exists only in tfjs-node, which
 * does not install here; this adapter reads and writes the same layout with `fs`. Node-only.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { FedexError } from '../../core/errors.js';
import {
  artifactsFromFiles,
  artifactsToFiles,
  modelFromArtifacts,
  modelToArtifacts,
} from '../../model/io.js';

export const MODEL_JSON = 'model.json';
export const META_JSON = 'meta.json';

/** Writes a file through a temporary name, so a crash never leaves a half-written file. */
async function writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

/**
 * Saves `model` (and `meta`, when given) into `dir`, creating it. Returns the files written.
 *
 * @example
 * await writeModelDir('out/models/user-003', model, { head: 'linear', labels });
 */
export async function writeModelDir(
  dir: string,
  model: tf.LayersModel,
  meta?: Record<string, unknown>,
): Promise<string[]> {
  const files = artifactsToFiles(await modelToArtifacts(model));
  await mkdir(dir, { recursive: true });
  const written = [path.join(dir, files.weightsFile), path.join(dir, MODEL_JSON)];
  await writeAtomic(written[0], files.weights);
  await writeAtomic(written[1], JSON.stringify(files.modelJson));
  if (meta) {
    written.push(path.join(dir, META_JSON));
    await writeAtomic(written[2], JSON.stringify(meta, null, 2) + '\n');
  }
  return written;
}

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new FedexError('MODEL_LOAD', `cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new FedexError('MODEL_LOAD', `${file} is not valid JSON`, { cause });
  }
}

/** Reads `dir/meta.json` (MODEL_LOAD when missing or not a JSON object). */
export async function readModelMeta(dir: string): Promise<Record<string, unknown>> {
  const meta = await readJson(path.join(dir, META_JSON));
  if (!meta || typeof meta !== 'object' || Array.isArray(meta)) {
    throw new FedexError('MODEL_LOAD', `${path.join(dir, META_JSON)} is not a JSON object`);
  }
  return meta as Record<string, unknown>;
}

/** Loads the model saved in `dir`. Weight files named in model.json must lie inside `dir`. */
export async function readModelDir(dir: string): Promise<tf.LayersModel> {
  const root = path.resolve(dir);
  const modelJson = await readJson(path.join(root, MODEL_JSON));
  const artifacts = await artifactsFromFiles(modelJson, async (name) => {
    const file = path.resolve(root, name);
    if (!file.startsWith(root + path.sep)) {
      throw new FedexError('MODEL_LOAD', `model.json names a weights file outside ${root}: ${name}`);
    }
    try {
      return new Uint8Array(await readFile(file));
    } catch (cause) {
      throw new FedexError('MODEL_LOAD', `cannot read weights file ${file}: ${(cause as Error).message}`, {
        cause,
      });
    }
  });
  return modelFromArtifacts(artifacts);
}
