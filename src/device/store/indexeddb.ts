/**
 * A DeviceStore in a browser's IndexedDB: one database, one object store (`kv`), JSON values kept
 * as their text and bytes as `Uint8Array`. A write resolves when its transaction completes, so
 * after a crash a key holds its old or its new value.
 *
 * Browser only (uses the global `indexedDB`); Node has none, so this file is type-checked here but
 * its tests run in Chromium with the browser bundle, not under vitest. It must import no Node
 * built-ins.
 *
 * @example
 * const store = await IndexedDbDeviceStore.open('fedex-device');
 */
import { FedexError } from '../../core/errors.js';
import type { DeviceStore } from '../types.js';
import { checkStoreKey, checkStorePrefix } from './keys.js';

const OBJECT_STORE = 'kv';
const DB_VERSION = 1;

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('transaction aborted'));
  });
}

export class IndexedDbDeviceStore implements DeviceStore {
  private constructor(
    private readonly db: IDBDatabase,
    readonly dbName: string,
  ) {}

  /** Opens (creating on first use) the database `dbName`. */
  static async open(dbName: string): Promise<IndexedDbDeviceStore> {
    const factory = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    if (!factory)
      throw new FedexError('BAD_ARGUMENT', 'IndexedDB is not available here (use another DeviceStore)');
    const req = factory.open(dbName, DB_VERSION);
    req.onupgradeneeded = () => {
      if (!req.result.objectStoreNames.contains(OBJECT_STORE)) req.result.createObjectStore(OBJECT_STORE);
    };
    try {
      return new IndexedDbDeviceStore(await request(req), dbName);
    } catch (cause) {
      throw new FedexError('BAD_ARGUMENT', `cannot open IndexedDB database ${dbName}`, { cause });
    }
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    const v = await this.get(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string')
      throw new FedexError('BAD_ARGUMENT', `device store key ${key} holds bytes, not JSON`);
    try {
      return JSON.parse(v) as T;
    } catch (cause) {
      throw new FedexError('BAD_ARGUMENT', `device store key ${key} holds no JSON`, { cause });
    }
  }

  async putJson(key: string, value: unknown): Promise<void> {
    checkStoreKey(key);
    const text = JSON.stringify(value);
    if (text === undefined)
      throw new FedexError('BAD_ARGUMENT', `device store key ${key}: the value is not JSON`);
    return this.put(key, text);
  }

  async getBytes(key: string): Promise<Uint8Array | undefined> {
    const v = await this.get(key);
    if (v === undefined) return undefined;
    if (typeof v === 'string') return new TextEncoder().encode(v);
    if (v instanceof Uint8Array) return v;
    if (v instanceof ArrayBuffer) return new Uint8Array(v);
    throw new FedexError('BAD_ARGUMENT', `device store key ${key} holds neither bytes nor JSON`);
  }

  async putBytes(key: string, bytes: Uint8Array): Promise<void> {
    checkStoreKey(key);
    // A copy of exactly these bytes (not the whole underlying buffer of a view).
    return this.put(key, bytes.slice());
  }

  async delete(key: string): Promise<void> {
    checkStoreKey(key);
    const tx = this.db.transaction(OBJECT_STORE, 'readwrite');
    tx.objectStore(OBJECT_STORE).delete(key);
    await this.wrap(done(tx), `delete ${key}`);
  }

  async keys(prefix: string): Promise<string[]> {
    checkStorePrefix(prefix);
    const tx = this.db.transaction(OBJECT_STORE, 'readonly');
    // Keys are [A-Za-z0-9._-], so every key with the prefix sorts below prefix + '\uffff'.
    const range = prefix === '' ? undefined : IDBKeyRange.bound(prefix, `${prefix}\uffff`);
    const keys = await this.wrap(request(tx.objectStore(OBJECT_STORE).getAllKeys(range)), 'list keys');
    return keys.map(String).sort();
  }

  async close(): Promise<void> {
    this.db.close();
  }

  private async get(key: string): Promise<unknown> {
    checkStoreKey(key);
    const tx = this.db.transaction(OBJECT_STORE, 'readonly');
    return this.wrap(request<unknown>(tx.objectStore(OBJECT_STORE).get(key)), `read ${key}`);
  }

  private async put(key: string, value: string | Uint8Array): Promise<void> {
    const tx = this.db.transaction(OBJECT_STORE, 'readwrite');
    tx.objectStore(OBJECT_STORE).put(value, key);
    await this.wrap(done(tx), `write ${key}`);
  }

  private async wrap<T>(p: Promise<T>, what: string): Promise<T> {
    try {
      return await p;
    } catch (cause) {
      throw new FedexError('INTERNAL', `IndexedDB ${this.dbName}: cannot ${what}`, { cause });
    }
  }
}
