/**
 * The rule every DeviceStore applies to its keys, so a key valid in one store is valid in all:
 * 1–200 characters of `[A-Za-z0-9._-]`, no `..` (a key is a file name in Node) and no `.tmp-`
 * (reserved for a file store's temporary files). Platform-neutral.
 */
import { FedexError } from '../../core/errors.js';

const KEY = /^[A-Za-z0-9._-]{1,200}$/;

/** True when `key` is a valid store key. */
export function isStoreKey(key: string): boolean {
  return (
    typeof key === 'string' && KEY.test(key) && key !== '.' && !key.includes('..') && !key.includes('.tmp-')
  );
}

/** Throws `BAD_ARGUMENT` unless `key` is a valid store key. */
export function checkStoreKey(key: string): void {
  if (!isStoreKey(key)) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `bad device store key ${JSON.stringify(key)}: use 1-200 of [A-Za-z0-9._-], without ".." or ".tmp-"`,
    );
  }
}

/** Throws `BAD_ARGUMENT` unless `prefix` could start a valid key (the empty prefix lists all). */
export function checkStorePrefix(prefix: string): void {
  if (prefix !== '' && !/^[A-Za-z0-9._-]{1,200}$/.test(prefix)) {
    throw new FedexError('BAD_ARGUMENT', `bad device store key prefix ${JSON.stringify(prefix)}`);
  }
}
