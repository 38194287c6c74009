/**
 * Entry point of the `fedex` command line: dispatches to one file per subcommand, prints help,
 * and turns FedexErrors into one clear line on stderr and a non-zero exit code (2 for bad usage),
 * never a stack trace. Set FEDEX_DEBUG=1 to see the stack.
 */
import { isFedexError } from '../core/errors.js';
import type { Command, CommandIO } from './command.js';
import { extractCommand } from './extract.js';
import { clusterCommand } from './cluster.js';
import { trainCommand } from './train.js';
import { evalCommand } from './eval.js';
import { serveCommand } from './serve.js';
import { workerCommand } from './worker.js';
import { usersCommand } from './users.js';
import { modelsCommand } from './models.js';
import { jobsCommand } from './jobs.js';
import { deviceCommand } from './device.js';
import { simCommand } from './sim.js';
import { fitMaskCommand } from './fit-mask.js';

export const COMMANDS: Command[] = [
  extractCommand,
  clusterCommand,
  trainCommand,
  evalCommand,
  serveCommand,
  workerCommand,
  usersCommand,
  modelsCommand,
  jobsCommand,
  deviceCommand,
  simCommand,
  fitMaskCommand,
];

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 4;
  return [
    'Usage: fedex <command> [options]',
    '',
    'FedEx: the phone runs a frozen pretrained bottom once per photo and uploads features;',
    'the cloud trains the top and ships fresh models back.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    "Run 'fedex <command> --help' for a command's options.",
    '',
  ].join('\n');
}

/** Runs the CLI with the given arguments; returns the exit code. */
export async function runCli(argv: string[], io: CommandIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(mainHelp());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr.write(`fedex: unknown command "${name}"\n\n${mainHelp()}`);
    return 2;
  }
  try {
    return await command.run(rest, io);
  } catch (e) {
    if (isFedexError(e)) {
      io.stderr.write(`fedex ${name}: ${e.message} [${e.code}]\n`);
      if (process.env.FEDEX_DEBUG === '1') io.stderr.write(`${e.stack}\n`);
      return e.code === 'BAD_ARGUMENT' ? 2 : 1;
    }
    io.stderr.write(`fedex ${name}: unexpected error: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  }
}

// `tsx src/cli/main.ts ...` (the npm scripts) runs the CLI directly; bin/fedex.js calls runCli itself.
if (process.argv[1] !== undefined && /src[\\/]cli[\\/]main\.ts$/.test(process.argv[1])) {
  const code = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
  process.exitCode = code;
}
