/**
 * face-api model files on disk (Node): the folder inside the installed `@vladmandic/face-api`
 * package, and a `FaceModelLoader` that reads a folder with `fs` (tfjs's own `file://` handler
 * exists only in tfjs-node, which does not install here). Node-only.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { FedexError } from '../../core/errors.js';
import { manifestHandler, type FaceModelLoader } from '../../face/models.js';

const require = createRequire(import.meta.url);

/** Absolute path of `node_modules/@vladmandic/face-api/model/` (resolved, never guessed). */
export function faceApiModelDir(): string {
  let pkg: string;
  try {
    pkg = require.resolve('@vladmandic/face-api/package.json');
  } catch (cause) {
    throw new FedexError('FACE_MODEL_LOAD', 'package @vladmandic/face-api is not installed', { cause });
  }
  return path.join(path.dirname(pkg), 'model');
}

/**
 * Loads face-api models from a folder holding `<name>-weights_manifest.json` and its shards.
 *
 * @example
 * const loader = fileModelLoader();            // face-api's own model folder
 * const mine = fileModelLoader('/srv/models');  // or any copy of it
 */
export function fileModelLoader(dir: string = faceApiModelDir()): FaceModelLoader {
  const root = path.resolve(dir);
  const full = (file: string): string => {
    const p = path.resolve(root, file);
    // A manifest naming "../../etc/passwd" must not read outside the model folder.
    if (p !== root && !p.startsWith(root + path.sep)) {
      throw new FedexError('FACE_MODEL_LOAD', `model file ${file} points outside ${root}`);
    }
    return p;
  };
  return {
    location: root,
    handler: (name) =>
      manifestHandler(
        name,
        (file) => readFile(full(file)),
        (file) => path.join(root, file),
      ),
  };
}
