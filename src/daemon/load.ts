/**
 * Configuration loading (the I/O half; parsing is pure in src/config): reads the TOML file and the
 * key file it names, and reports every problem with file and line.
 */
import { dirname, resolve } from 'node:path';
import { type KeySupport, parseKeyFile, unsupportedInlineKeys } from '../config/keys.js';
import { KeyLines } from '../config/lines.js';
import { ConfigError, parseConfig } from '../config/parse.js';
import type { DaemonConfig } from '../config/types.js';
import { BoundedReadError, READ_LIMITS, readTextBounded } from '../io/bounded-read.js';
import { nodeCrypto } from '../io/crypto.js';
import { describeIoError } from '../io/errno.js';
import { macSupported } from '../wire/mac.js';

/** What this build's crypto provider (node:crypto) can compute, for key checks. */
export const nodeKeySupport: KeySupport = {
  supports: (t) => macSupported(nodeCrypto, t),
  name: nodeCrypto.name,
};

/** The text of a config file, read bounded (READ_LIMITS.config); throws ConfigError naming the file. */
export async function readConfigText(path: string): Promise<string> {
  try {
    return await readTextBounded(path, READ_LIMITS.config);
  } catch (e) {
    const msg =
      e instanceof BoundedReadError && !e.code.startsWith('E')
        ? e.reason
        : `cannot read the configuration file: ${e instanceof BoundedReadError ? e.reason : describeIoError(e)}`;
    throw new ConfigError([{ code: 'CONFIG_IO', file: path, line: null, key: '', message: msg }]);
  }
}

/**
 * Reads and validates a config file, including its key file; a key of a type the build cannot
 * compute is an error. Throws ConfigError.
 */
export async function loadConfigFile(
  path: string,
  support: KeySupport = nodeKeySupport,
): Promise<DaemonConfig> {
  const text = await readConfigText(path);
  const config = parseConfig(text, path);
  const unsupported = unsupportedInlineKeys(text, path, config.system.keys, support);
  if (unsupported.length > 0) throw new ConfigError(unsupported);
  if (config.keysFile !== null) {
    config.keysFile = resolve(dirname(path), config.keysFile);
    await loadKeysInto(config, support, text);
  }
  return config;
}

/**
 * Adds the keys of `config.keysFile` to `config.system.keys` and checks every key reference. A key
 * file that cannot be read (or is larger than READ_LIMITS.keys) is reported at the `[keys] file` line
 * of the config file (`configText`, when given).
 */
export async function loadKeysInto(
  config: DaemonConfig,
  support: KeySupport = nodeKeySupport,
  configText?: string,
): Promise<void> {
  if (config.keysFile === null) return;
  const file = config.keysFile;
  let text: string;
  try {
    text = await readTextBounded(file, READ_LIMITS.keys);
  } catch (e) {
    const msg = e instanceof BoundedReadError ? e.message : `cannot read the key file: ${describeIoError(e)}`;
    const at = config.file ?? file;
    const line =
      config.file !== null && configText !== undefined ? new KeyLines(configText).lineOf('keys.file') : null;
    throw new ConfigError([{ code: 'CONFIG_IO', file: at, line, key: 'keys.file', message: msg }]);
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
