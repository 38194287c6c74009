import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeDeviceStore } from './conformance.js';
import { NodeFileDeviceStore } from './node-files.js';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'fedex-device-store-'));
}

describeDeviceStore('node-files', async () => {
  const dir = await tempDir();
  return {
    store: await NodeFileDeviceStore.open(dir),
    reopen: () => NodeFileDeviceStore.open(dir),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('NodeFileDeviceStore', () => {
  it('keeps the old value when a crash left a temporary file before its rename, and cleans it at open', async () => {
    // Prepare: a committed value, then the debris of an interrupted write of a new one.
    const dir = await tempDir();
    const store = await NodeFileDeviceStore.open(dir);
    await store.putJson('state', { v: 'old' });
    await writeFile(path.join(dir, 'state.tmp-0123456789ab'), '{"v":"ne'); // torn, never renamed
    // Execute: the same process still sees the old value; a restart opens the folder.
    expect(await store.getJson('state')).toEqual({ v: 'old' });
    expect(await store.keys('')).toEqual(['state']);
    const reopened = await NodeFileDeviceStore.open(dir);
    // Assert
    expect(await reopened.getJson('state')).toEqual({ v: 'old' });
    expect(await readdir(dir)).toEqual(['state']);
    await rm(dir, { recursive: true, force: true });
  });

  it('leaves no temporary file behind after writes', async () => {
    const dir = await tempDir();
    const store = new NodeFileDeviceStore(dir); // lazily creates the folder
    await store.putBytes('a', new Uint8Array([1]));
    await store.putBytes('a', new Uint8Array([2]));
    await store.putJson('b', 'x');
    expect((await readdir(dir)).sort()).toEqual(['a', 'b']);
    await rm(dir, { recursive: true, force: true });
  });

  it('reports a folder it cannot use as BAD_ARGUMENT', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'not-a-folder');
    await writeFile(file, 'x');
    await expect(NodeFileDeviceStore.open(file)).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    await rm(dir, { recursive: true, force: true });
  });
});
