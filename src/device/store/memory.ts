/**
 * A DeviceStore in memory, for tests and for a device that keeps nothing between runs. It behaves
 * like the durable stores (values copied in and out, JSON kept as its text, keys checked), so code
 * tested against it meets no surprise on files or IndexedDB. Platform-neutral.
 */
import type { DeviceStore } from '../types.js';
import { bytesToJson, jsonToBytes } from './json-bytes.js';
import { checkStoreKey, checkStorePrefix } from './keys.js';

export class MemoryDeviceStore implements DeviceStore {
  private readonly values = new Map<string, Uint8Array>();

  async getJson<T>(key: string): Promise<T | undefined> {
    const bytes = await this.getBytes(key);
    return bytes === undefined ? undefined : bytesToJson<T>(key, bytes);
  }

  async putJson(key: string, value: unknown): Promise<void> {
    checkStoreKey(key);
    this.values.set(key, jsonToBytes(key, value));
  }

  async getBytes(key: string): Promise<Uint8Array | undefined> {
    checkStoreKey(key);
    return this.values.get(key)?.slice();
  }

  async putBytes(key: string, bytes: Uint8Array): Promise<void> {
    checkStoreKey(key);
    this.values.set(key, bytes.slice());
  }

  async delete(key: string): Promise<void> {
    checkStoreKey(key);
    this.values.delete(key);
  }

  async keys(prefix: string): Promise<string[]> {
    checkStorePrefix(prefix);
    return [...this.values.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async close(): Promise<void> {}
}
