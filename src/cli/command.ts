/**
 * The shape of one `fedex` subcommand: a name, a one-line summary for `fedex --help`, and `run`,
 * which receives the arguments after the command name and returns the process exit code.
 */
export interface Command {
  name: string;
  summary: string;
  run(argv: string[], io: CommandIO): Promise<number>;
}

/** Where a command writes: stdout for results (machine-readable when asked), stderr for the rest. */
export interface CommandIO {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}
