/**
 * `ntpkit daemon [--config FILE]`: runs the NTP daemon in the foreground.
 * SIGTERM/SIGINT: stop gracefully (state file written). SIGHUP: reload the configuration file.
 */
import { ConfigError, defaultDaemonConfig } from '../config/index.js';
import type { DaemonConfig } from '../config/types.js';
import { startDaemon } from '../daemon/daemon.js';
import { loadConfigFile } from '../daemon/load.js';
import { createLogger } from '../daemon/log.js';

const HELP = `usage: ntpkit daemon [--config FILE] [--port N] [--no-drop-privileges]

Runs ntpkit as an NTP client, server and peer (foreground; logs are JSON lines on stderr).
Without --config the built-in default is used: pool.ntp.org, serving on port 123 as root and on
10123 otherwise, dashboard on http://127.0.0.1:9976/.

  --config FILE          TOML configuration (see docs/CONFIG.md; check it with 'ntpkit config check')
  --port N               serve on port N (overrides [serve] port)
  --no-drop-privileges   stay root after binding (default: switch to [daemon] user)

Signals: SIGTERM/SIGINT stop (state saved), SIGHUP reloads the configuration file.
`;

export async function run(args: string[]): Promise<number> {
  let file: string | null = null;
  let port: number | null = null;
  let drop = true;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--help' || a === '-h') {
      process.stdout.write(HELP);
      return 0;
    } else if (a === '--config' || a === '-c') {
      file = args[++i] ?? null;
      if (file === null) {
        process.stderr.write('ntpkit daemon: --config needs a file\n');
        return 2;
      }
    } else if (a?.startsWith('--config=')) {
      file = a.slice('--config='.length);
    } else if (a === '--port') {
      port = Number(args[++i]);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        process.stderr.write('ntpkit daemon: --port needs a port number\n');
        return 2;
      }
    } else if (a === '--no-drop-privileges') {
      drop = false;
    } else {
      process.stderr.write(`ntpkit daemon: unknown option '${a}'\n\n${HELP}`);
      return 2;
    }
  }

  const load = async (): Promise<DaemonConfig> => {
    const c = file === null ? defaultDaemonConfig() : await loadConfigFile(file);
    if (port !== null) c.server.port = port;
    return c;
  };
  let config: DaemonConfig;
  try {
    config = await load();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      return 1;
    }
    throw e;
  }
  const log = createLogger(config.log);
  const daemon = await startDaemon(config, { logger: log, dropPrivileges: drop, loadConfig: load });

  const onStop = (sig: string) => {
    log.info('signal', { signal: sig });
    void daemon.stop();
  };
  process.on('SIGTERM', () => onStop('SIGTERM'));
  process.on('SIGINT', () => onStop('SIGINT'));
  process.on('SIGHUP', () => {
    log.info('signal', { signal: 'SIGHUP' });
    load().then(
      (c) => daemon.reload(c),
      (e: unknown) =>
        log.error('reload failed; keeping the running configuration', {
          error: e instanceof Error ? e.message : String(e),
        }),
    );
  });
  await daemon.stopped;
  return 0;
}
