/**
 * How a DeviceStore that keeps raw bytes (files, memory) holds a JSON value: its UTF-8 text. One
 * helper so every store fails the same way on a value that is not JSON. Platform-neutral.
 */
import { FedexError } from '../../core/errors.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function jsonToBytes(key: string, value: unknown): Uint8Array {
  const text = JSON.stringify(value);
  if (text === undefined)
    throw new FedexError('BAD_ARGUMENT', `device store key ${key}: the value is not JSON`);
  return encoder.encode(text);
}

export function bytesToJson<T>(key: string, bytes: Uint8Array): T {
  try {
    return JSON.parse(decoder.decode(bytes)) as T;
  } catch (cause) {
    throw new FedexError('BAD_ARGUMENT', `device store key ${key} holds no JSON (${bytes.length} bytes)`, {
      cause,
    });
  }
}
