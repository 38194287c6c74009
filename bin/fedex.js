#!/usr/bin/env node
// The `fedex` command. Registers the tsx loader so the TypeScript sources run as they are (no build
// step between `npm ci` and the first command), then hands over to the CLI.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli/main.ts');
process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
