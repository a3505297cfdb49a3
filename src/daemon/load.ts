/**
 * Configuration loading (the I/O half; parsing is pure in src/config): reads the TOML file and the
 * key file it names, and reports every problem with file and line.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type KeySupport, parseKeyFile, unsupportedInlineKeys } from '../config/keys.js';
import { ConfigError, parseConfig } from '../config/parse.js';
import type { DaemonConfig } from '../config/types.js';
import { nodeCrypto } from '../io/crypto.js';
import { describeIoError } from '../io/errno.js';
import { macSupported } from '../wire/mac.js';

/** What this build's crypto provider (node:crypto) can compute, for key checks. */
export const nodeKeySupport: KeySupport = {
  supports: (t) => macSupported(nodeCrypto, t),
  name: nodeCrypto.name,
};

/**
 * Reads and validates a config file, including its key file; a key of a type the build cannot
 * compute is an error. Throws ConfigError.
 */
export async function loadConfigFile(
  path: string,
  support: KeySupport = nodeKeySupport,
): Promise<DaemonConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const message = `cannot read the configuration file: ${describeIoError(e)}`;
    throw new ConfigError([{ code: 'CONFIG_IO', file: path, line: null, key: '', message }]);
  }
  const config = parseConfig(text, path);
  const unsupported = unsupportedInlineKeys(text, path, config.system.keys, support);
  if (unsupported.length > 0) throw new ConfigError(unsupported);
  if (config.keysFile !== null) {
    config.keysFile = resolve(dirname(path), config.keysFile);
    await loadKeysInto(config, support);
  }
  return config;
}

/** Adds the keys of `config.keysFile` to `config.system.keys` and checks every key reference. */
export async function loadKeysInto(
  config: DaemonConfig,
  support: KeySupport = nodeKeySupport,
): Promise<void> {
  if (config.keysFile === null) return;
  const file = config.keysFile;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const message = `cannot read the key file: ${describeIoError(e)}`;
    throw new ConfigError([{ code: 'CONFIG_IO', file, line: null, key: 'keys.file', message }]);
  }
  const { keys, issues } = parseKeyFile(text, support);
  if (issues.length > 0)
    throw new ConfigError(
      issues.map((i) => ({ code: 'CONFIG_BAD_VALUE', file, line: i.line, key: '', message: i.message })),
    );
  for (const k of keys) if (!config.system.keys.some((x) => x.id === k.id)) config.system.keys.push(k);
  const missing: number[] = [];
  const all = [...config.servers, ...config.peers, ...config.pools, ...config.broadcastClients];
  for (const s of all)
    if (s.key !== null && !config.system.keys.some((k) => k.id === s.key)) missing.push(s.key);
  for (const b of config.system.broadcast)
    if (b.key !== undefined && !config.system.keys.some((k) => k.id === b.key)) missing.push(b.key);
  if (missing.length > 0)
    throw new ConfigError([
      {
        code: 'CONFIG_BAD_VALUE',
        file: config.file ?? file,
        line: null,
        key: 'key',
        message: `key ID(s) ${[...new Set(missing)].join(', ')} not defined inline nor in ${file}`,
      },
    ]);
}
