#!/usr/bin/env node
/**
 * The `ntpkit` command. Each subcommand lives in its own module exporting
 * `run(args: string[]): Promise<number>` (the exit code), loaded on demand so that
 * `ntpkit query` does not pay for the daemon's imports.
 */

import { COMMANDS, usage } from './commands.js';

interface CommandModule {
  run(args: string[], name: string): Promise<number>;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write('ntpkit 0.1.0\n');
    return 0;
  }
  const cmd = COMMANDS[name];
  if (cmd === undefined) {
    process.stderr.write(`ntpkit: unknown command '${name}'\n\n${usage()}\n`);
    return 2;
  }
  const mod = (await import(cmd.module)) as CommandModule;
  return mod.run(rest, name);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`ntpkit: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
