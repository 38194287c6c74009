/**
 * `fedex users`: the server's users (gallery owners) — list them with their counts, add one, make
 * an enrollment token a phone can enroll with, or enroll a device directly and print its token.
 * Talks to a running server (`fedex serve`) with the admin key.
 */
import { FedexError } from '../core/errors.js';
import { connect, formatTime, printJson, renderTable, runSubcommand, type Subcommand } from './admin.js';
import { intFlag, stringFlag } from './args.js';
import type { Command } from './command.js';
import { numberFlag } from './train.js';

const ID = /^[A-Za-z0-9_-]{1,64}$/;

function userIdArg(value: string | undefined, usage: string): string {
  if (value === undefined) throw new FedexError('BAD_ARGUMENT', `missing USER_ID (usage: ${usage})`);
  if (!ID.test(value))
    throw new FedexError('BAD_ARGUMENT', `USER_ID must be 1-64 of A-Z a-z 0-9 _ -, got "${value}"`);
  return value;
}

const list: Subcommand = {
  usage: 'fedex users [list]',
  summary: 'List users with their devices, samples, labelled samples and model version.',
  flags: {},
  positionals: 0,
  async run({ flags }, io) {
    const answer = await connect(flags).listUsers();
    if (flags.json) {
      printJson(io.stdout, answer);
      return 0;
    }
    if (answer.users.length === 0) {
      io.stdout.write("no users yet (add one with 'fedex users add NAME')\n");
      return 0;
    }
    const rows = answer.users.map((u) => [
      u.id,
      u.name,
      String(u.devices),
      String(u.samples),
      String(u.labelled),
      String(u.newLabelled),
      u.modelVersion === null ? '-' : `v${u.modelVersion}`,
      formatTime(u.lastTrainedAt),
      formatTime(u.createdAt),
    ]);
    io.stdout.write(
      renderTable(
        ['ID', 'NAME', 'DEVICES', 'SAMPLES', 'LABELLED', 'NEW', 'MODEL', 'TRAINED', 'CREATED'],
        rows,
        [2, 3, 4, 5],
      ),
    );
    return 0;
  },
};

const add: Subcommand = {
  usage: 'fedex users add NAME [--id ID]',
  summary: 'Create a user named NAME (the server picks an id unless --id gives one).',
  flags: { id: { type: 'string', arg: 'ID', help: 'User id (1-64 of A-Z a-z 0-9 _ -). Default: random.' } },
  positionals: 1,
  async run({ flags, positionals }, io) {
    const name = positionals[0];
    if (name === undefined || name.trim() === '')
      throw new FedexError('BAD_ARGUMENT', `missing NAME (usage: ${add.usage})`);
    const id = stringFlag(flags, 'id');
    if (id !== undefined) userIdArg(id, add.usage);
    const answer = await connect(flags).createUser(name, id);
    if (flags.json) printJson(io.stdout, answer);
    else io.stdout.write(`created user ${answer.user.id} (${answer.user.name})\n`);
    return 0;
  },
};

const token: Subcommand = {
  usage: 'fedex users token USER_ID [--uses N] [--ttl-hours H]',
  summary: 'Make an enrollment token: a phone enrolls itself for USER_ID with it.',
  flags: {
    uses: { type: 'string', arg: 'N', help: 'Devices that may enroll with it (1-1000). Default 1.' },
    'ttl-hours': {
      type: 'string',
      arg: 'H',
      help: 'Hours until it expires (1/60 to 720). Default: the server default (24).',
    },
  },
  positionals: 1,
  async run({ flags, positionals }, io) {
    const userId = userIdArg(positionals[0], token.usage);
    const uses = intFlag(flags, 'uses', undefined, { min: 1, max: 1000 });
    const hours =
      flags['ttl-hours'] === undefined
        ? undefined
        : numberFlag(flags, 'ttl-hours', 24, { min: 1 / 60, max: 720 });
    const answer = await connect(flags).createEnrollmentToken(userId, {
      ...(uses === undefined ? {} : { uses }),
      ...(hours === undefined ? {} : { ttlSeconds: Math.round(hours * 3600) }),
    });
    if (flags.json) printJson(io.stdout, { userId, ...answer });
    else
      io.stdout.write(
        `enrollment token for ${userId}: ${answer.enrollmentToken}\n` +
          `expires ${formatTime(answer.expiresAt)} UTC${uses === undefined ? '' : `, ${uses} use(s)`}\n`,
      );
    return 0;
  },
};

const enroll: Subcommand = {
  usage: 'fedex users enroll USER_ID --name DEVICE',
  summary: 'Enroll a device for USER_ID and print its bearer token (shown once; keep it on the device).',
  flags: { name: { type: 'string', arg: 'DEVICE', help: 'Device name, e.g. "ann-phone" (required).' } },
  positionals: 1,
  async run({ flags, positionals }, io) {
    const userId = userIdArg(positionals[0], enroll.usage);
    const name = stringFlag(flags, 'name');
    if (name === undefined)
      throw new FedexError('BAD_ARGUMENT', `--name is required (usage: ${enroll.usage})`);
    const answer = await connect(flags).enrollDevice(userId, name);
    if (flags.json) printJson(io.stdout, answer);
    else
      io.stdout.write(
        `enrolled device ${answer.device.id} (${answer.device.name}) for ${userId}\n` +
          `device token (shown once): ${answer.token}\n`,
      );
    return 0;
  },
};

export const usersCommand: Command = {
  name: 'users',
  summary: 'List, add users; make enrollment tokens; enroll devices (on a running server).',
  run: (argv, io) =>
    runSubcommand('users', usersCommand.summary, { list, add, token, enroll }, 'list', argv, io),
};
