#!/usr/bin/env node
/**
 * The `ntpkit` command. Each subcommand lives in its own module exporting
 * `run(args: string[]): Promise<number>` (the exit code), loaded on demand so that
 * `ntpkit query` does not pay for the daemon's imports.
 */

interface CommandModule {
  run(args: string[], name: string): Promise<number>;
}

const COMMANDS: Record<string, { module: string; summary: string }> = {
  daemon: { module: './daemon.js', summary: 'run the NTP daemon (client, server, peer)' },
  query: { module: './query.js', summary: 'one-shot NTP query of a server' },
  status: { module: './status.js', summary: 'system variables of the running daemon' },
  sources: { module: './sources.js', summary: 'sources of the running daemon' },
  source: { module: './source.js', summary: 'one source in detail, with its filter registers' },
  clients: { module: './clients.js', summary: 'clients served by the running daemon' },
  burst: { module: './runtime.js', summary: 'send a burst of requests to a source (or all) now' },
  makestep: { module: './runtime.js', summary: 'step the clock by the correction still being slewed' },
  add: { module: './runtime.js', summary: 'add server|peer|pool ADDR[:PORT] [options] at run time' },
  delete: { module: './runtime.js', summary: 'remove a source at run time' },
  online: { module: './runtime.js', summary: 'resume polling a source (or all)' },
  offline: { module: './runtime.js', summary: 'stop polling a source (or all)' },
  reload: { module: './runtime.js', summary: 're-read the configuration file' },
  'rotate-keys': { module: './runtime.js', summary: 'rotate the NTS cookie master key' },
  'reset-clients': { module: './runtime.js', summary: 'forget the table of clients served' },
  'log-level': { module: './runtime.js', summary: 'set the log level of the running daemon' },
  config: { module: './config.js', summary: 'config check FILE: validate a configuration file' },
  sim: { module: './sim.js', summary: 'run a simulation scenario' },
  replay: { module: './replay.js', summary: 'feed a trace of exchanges through a clock' },
  refclock: { module: './refclock.js', summary: 'inspect a reference clock input (shm, nmea, pps)' },
  time: { module: './time-client.js', summary: 'RFC 868 Time client' },
  daytime: { module: './daytime-client.js', summary: 'RFC 867 Daytime client' },
};

function usage(): string {
  const lines = ['usage: ntpkit COMMAND [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(13)} ${c.summary}`);
  lines.push('', "Run 'ntpkit COMMAND --help' for a command's options.");
  return lines.join('\n');
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
