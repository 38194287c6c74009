/**
 * Test helper of the device SDK: a real server in process (port 0, a temporary data folder, one
 * training worker, no automatic retraining) for a test file's devices to talk to, and its cleanup.
 * Tests only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initRuntime } from '../../runtime/node.js';
import { startServer, type RunningServer } from '../../server/server.js';

export interface DeviceTestServer {
  server: RunningServer;
  /** Closes the server and removes its data folder. */
  close(): Promise<void>;
}

export async function startDeviceTestServer(prefix: string): Promise<DeviceTestServer> {
  await initRuntime();
  const dataDir = mkdtempSync(path.join(tmpdir(), `fedex-${prefix}-`));
  try {
    const server = await startServer({
      port: 0,
      dataDir,
      workers: 1,
      retrainAfterLabelled: 0,
      durability: 'normal',
    });
    return {
      server,
      async close() {
        await server.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
}
