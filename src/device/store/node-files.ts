/**
 * A DeviceStore on the Node file system: one file per key in one folder. A write goes to
 * `<key>.tmp-<random>`, is fsynced, renamed over `<key>`, and the folder is fsynced, so after a
 * crash a key holds its old or its new value, never a torn one. Temporary files a crash left
 * behind are ignored by `keys` and deleted when the store opens.
 *
 * The only device module that imports Node built-ins; a browser uses `./indexeddb.ts`.
 *
 * @example
 * const store = await NodeFileDeviceStore.open('.fedex-device');
 * await store.putJson('state', { token });
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { FedexError } from '../../core/errors.js';
import type { DeviceStore } from '../types.js';
import { bytesToJson, jsonToBytes } from './json-bytes.js';
import { checkStoreKey, checkStorePrefix, isStoreKey } from './keys.js';

const TMP = '.tmp-';

export class NodeFileDeviceStore implements DeviceStore {
  readonly dir: string;
  private ready: Promise<void> | undefined;

  /** The store in `dir` (created when missing). Prefer `open`, which also reports a bad folder. */
  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  /** Creates `dir` if needed and deletes temporary files an interrupted write left there. */
  static async open(dir: string): Promise<NodeFileDeviceStore> {
    const store = new NodeFileDeviceStore(dir);
    await store.init();
    return store;
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      try {
        await mkdir(this.dir, { recursive: true });
        for (const name of await readdir(this.dir)) {
          if (name.includes(TMP)) await unlink(path.join(this.dir, name)).catch(() => undefined);
        }
      } catch (cause) {
        this.ready = undefined; // a later call may try again (e.g. after the folder was fixed)
        throw new FedexError('BAD_ARGUMENT', `cannot use ${this.dir} as the device store`, { cause });
      }
    })();
    return this.ready;
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    const bytes = await this.getBytes(key);
    return bytes === undefined ? undefined : bytesToJson<T>(key, bytes);
  }

  async putJson(key: string, value: unknown): Promise<void> {
    checkStoreKey(key);
    return this.write(key, jsonToBytes(key, value));
  }

  async getBytes(key: string): Promise<Uint8Array | undefined> {
    checkStoreKey(key);
    await this.init();
    try {
      const buf = await readFile(path.join(this.dir, key));
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new FedexError('INTERNAL', `cannot read ${key} from ${this.dir}`, { cause: e });
    }
  }

  async putBytes(key: string, bytes: Uint8Array): Promise<void> {
    checkStoreKey(key);
    return this.write(key, bytes);
  }

  async delete(key: string): Promise<void> {
    checkStoreKey(key);
    await this.init();
    try {
      await unlink(path.join(this.dir, key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new FedexError('INTERNAL', `cannot delete ${key} from ${this.dir}`, { cause: e });
    }
    await this.syncDir();
  }

  async keys(prefix: string): Promise<string[]> {
    checkStorePrefix(prefix);
    await this.init();
    const names = await readdir(this.dir);
    // Temporary files (and anything else that is not a key) are not entries.
    return names.filter((n) => n.startsWith(prefix) && isStoreKey(n)).sort();
  }

  async close(): Promise<void> {}

  private async write(key: string, bytes: Uint8Array): Promise<void> {
    await this.init();
    const final = path.join(this.dir, key);
    const tmp = `${final}${TMP}${randomBytes(6).toString('hex')}`;
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, final);
    } catch (cause) {
      await unlink(tmp).catch(() => undefined);
      throw new FedexError('INTERNAL', `cannot write ${key} to ${this.dir}`, { cause });
    }
    await this.syncDir();
  }

  /** Makes a rename or unlink durable. Some platforms (Windows) cannot open a folder; skip there. */
  private async syncDir(): Promise<void> {
    let fh;
    try {
      fh = await open(this.dir, 'r');
    } catch {
      return;
    }
    try {
      await fh.sync();
    } catch {
      // EISDIR/EPERM/EINVAL on platforms without directory fsync: nothing more can be done.
    } finally {
      await fh.close();
    }
  }
}
