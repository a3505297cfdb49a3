/**
 * `ntpkit config check FILE...`: validates configuration files; `config default` prints the built-in
 * configuration; `config keys [TABLE]` and `config defaults` print the schema: every key with its
 * type, default and meaning, and a file of every key at its default.
 */
import { dirname, resolve } from 'node:path';
import { DEFAULT_CONFIG_TOML } from '../config/default.js';
import { unsupportedInlineKeys } from '../config/keys.js';
import { ConfigError, checkConfig, formatIssue } from '../config/parse.js';
import { defaultsToml, keysText } from '../config/reference.js';
import { loadKeysInto, nodeKeySupport, readConfigText } from '../daemon/load.js';

const HELP = `usage: ntpkit config check FILE...   validate configuration files (exit 1 on any error)
       ntpkit config default          print the built-in default configuration
       ntpkit config keys [TABLE]     every key (of one table): type, default, meaning
       ntpkit config defaults         a configuration file of every key at its default, documented
`;

export async function run(args: string[]): Promise<number> {
  const [sub, ...files] = args;
  if (sub === 'default') {
    process.stdout.write(DEFAULT_CONFIG_TOML);
    return 0;
  }
  if (sub === 'defaults') {
    process.stdout.write(defaultsToml());
    return 0;
  }
  if (sub === 'keys' && files.length <= 1) {
    const text = keysText(files[0]?.replace(/^\[+|\]+$/g, ''));
    if (text === null) {
      process.stderr.write(`ntpkit config keys: no table '${files[0]}' (ntpkit config keys lists them)\n`);
      return 2;
    }
    process.stdout.write(text);
    return 0;
  }
  if (sub !== 'check' || files.length === 0) {
    process.stdout.write(HELP);
    return sub === '--help' || sub === '-h' ? 0 : 2;
  }
  let bad = 0;
  for (const file of files) {
    let text: string;
    try {
      text = await readConfigText(file);
    } catch (e) {
      process.stderr.write(
        `${e instanceof ConfigError ? e.issues.map(formatIssue).join('\n') : String(e)}\n`,
      );
      bad++;
      continue;
    }
    const { config, issues } = checkConfig(text, file);
    if (config !== null)
      issues.push(...unsupportedInlineKeys(text, file, config.system.keys, nodeKeySupport));
    if (config !== null && config.keysFile !== null) {
      config.keysFile = resolve(dirname(file), config.keysFile);
      try {
        await loadKeysInto(config, nodeKeySupport, text);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        issues.push(...e.issues);
      }
    }
    if (issues.length > 0) {
      for (const i of issues) process.stderr.write(`${formatIssue(i)}\n`);
      bad++;
    } else {
      const c = config;
      const n =
        c === null ? 0 : c.servers.length + c.pools.length + c.peers.length + c.broadcastClients.length;
      process.stdout.write(`${file}: OK (${n} source entr${n === 1 ? 'y' : 'ies'})\n`);
    }
  }
  return bad === 0 ? 0 : 1;
}
