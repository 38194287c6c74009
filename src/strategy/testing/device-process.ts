/**
 * Test support: one FedAvg device as its own process (`node --import tsx device-process.ts
 * '<json>'`). It enrolls through the admin API (a user, then a device for it), prints
 * `ready <deviceId>`, holds client `index` of the seeded blob population (`./sim.ts`, the same data
 * the in-memory run gives that client) and takes part in rounds over HTTP with `HttpRoundClient`
 * until the server's run is finished. With `stallRound` it announces `stalled <round>` when that
 * round's task arrives and never answers it, so a test can SIGKILL it mid-round.
 */
import * as tf from '@tensorflow/tfjs';
import { getHead } from '../../model/heads/registry.js';
import { createClient } from '../client.js';
import { HttpRoundClient } from '../transport/http-client.js';
import { blobPopulation } from './sim.js';

export interface DeviceProcessArgs {
  server: string;
  adminKey: string;
  userId: string;
  /** Which client of the population this device is (its data). */
  index: number;
  population: Parameters<typeof blobPopulation>[0];
  stallRound?: number;
}

async function admin<T>(args: DeviceProcessArgs, path: string, body: unknown): Promise<T> {
  const res = await fetch(args.server + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${args.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '') as DeviceProcessArgs;
  await tf.setBackend('cpu');
  const pop = blobPopulation(args.population, tf);
  const data = pop.data.get(pop.ids[args.index]);
  if (!data) throw new Error(`the population has no client ${args.index}`);
  await admin(args, '/v1/users', { name: `user ${args.userId}`, id: args.userId });
  const enrolled = await admin<{ device: { id: string }; token: string }>(args, '/v1/devices', {
    name: 'phone',
    userId: args.userId,
  });
  const deviceId = enrolled.device.id;
  const model = getHead('linear').build([pop.dim], pop.numClasses, {}, 0);
  const run = createClient(data, model, {
    clientId: deviceId,
    bottomMode: 'cached',
    bottomFlopsPerPhoto: 1000,
  });
  const client = new HttpRoundClient({
    server: args.server,
    token: enrolled.token,
    pollMs: 20,
    execute: async (task) => {
      if (task.round === args.stallRound) {
        process.stdout.write(`stalled ${task.round}\n`);
        await new Promise(() => {}); // never answers: the test kills this process
      }
      return run(task);
    },
    onEvent: (e) => process.stdout.write(`${JSON.stringify(e)}\n`),
  });
  process.stdout.write(`ready ${deviceId}\n`);
  const posted = await client.run();
  process.stdout.write(`done ${posted}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`device process failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
