/** The subcommands of `ntpkit`: the one table that --help, ntpkit(8) and the shell completions are made from. */

export const COMMANDS: Record<string, { module: string; summary: string }> = {
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
  config: {
    module: './config.js',
    summary:
      'config check FILE: validate a configuration file; config keys, config defaults: the keys and their defaults',
  },
  sim: { module: './sim.js', summary: 'run a simulation scenario' },
  replay: { module: './replay.js', summary: 'feed a trace of exchanges through a clock' },
  refclock: { module: './refclock.js', summary: 'inspect a reference clock input (shm, nmea, pps)' },
  time: { module: './time-client.js', summary: 'RFC 868 Time client' },
  daytime: { module: './daytime-client.js', summary: 'RFC 867 Daytime client' },
};

/** `ntpkit --help`. */
export function usage(): string {
  const lines = ['usage: ntpkit COMMAND [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(13)} ${c.summary}`);
  lines.push('', "Run 'ntpkit COMMAND --help' for a command's options.");
  return lines.join('\n');
}
