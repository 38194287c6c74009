/**
 * Reading a mask translation file (`fedex fit-mask-translation` writes it; `fedex serve` and
 * `fedex worker` take it as `--mask-translation FILE`): the file's I/O around the pure parser in
 * src/model/mask-translate.ts. Errors are BAD_ARGUMENT and name the file.
 */
import { readFileSync } from 'node:fs';

import { FedexError, isFedexError } from '../../core/errors.js';
import { parseMaskTranslationFile, type MaskTranslation } from '../../model/mask-translate.js';

export function readMaskTranslationFile(file: string): { specKey: string; translation: MaskTranslation } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new FedexError('BAD_ARGUMENT', `cannot read the mask translation ${file}: ${(e as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new FedexError('BAD_ARGUMENT', `${file} is not JSON (a mask translation file is)`);
  }
  try {
    return parseMaskTranslationFile(value);
  } catch (e) {
    if (isFedexError(e)) throw new FedexError(e.code, `${file}: ${e.message}`);
    throw e;
  }
}
