/**
 * TOML text → validated `DaemonConfig`. Pure. Every key is read through the schema
 * (src/config/schema.ts: type, default, range, allowed values); what is left here is the shape of
 * the result and the rules between keys. Every problem is reported with the file, the line and the
 * key; unknown keys and tables are errors (a typo must not silently fall back to a default).
 */
import { parse, TomlError } from 'smol-toml';
import type { RefclockConfig } from '../refclock/types.js';
import { DEFAULT_LOCAL_STRATUM, defaultSourceConfig } from '../system/defaults.js';
import type { BroadcastConfig, SymmetricKey, SystemConfig } from '../system/types.js';
import { KEY_TYPE_NAMES, parseDigestType, parseKeyValue } from './keys.js';
import { KeyLines } from './lines.js';
import {
  type ConfigErrorCode,
  type ConfigIssue,
  formatIssue,
  join,
  type Table,
  TomlReader,
} from './reader.js';
import {
  ACCESS,
  CLOCK,
  DAEMON,
  LEGACY,
  LOCAL,
  LOG,
  NTS,
  OBSERVE,
  PEER,
  POOL_KEYS,
  RATE_LIMIT,
  SECTIONS,
  SERVE,
  SERVER,
  SYSTEM,
} from './schema.js';
import { readKeys } from './schema-kit.js';
import { readRefclock } from './schema-refclock.js';
import { BROADCAST, isIpLiteral, KEY, KEYS } from './schema-sources.js';
import type { DaemonConfig, HostSourceConfig, NtsConfig, PoolSourceConfig, SourceOptions } from './types.js';

export { type ConfigErrorCode, type ConfigIssue, formatIssue };

export class ConfigError extends Error {
  readonly code: ConfigErrorCode;
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
    this.code = issues[0]?.code ?? 'CONFIG_BAD_VALUE';
  }
}

const DEFAULT_MAXPOLL = defaultSourceConfig('').maxpoll;

type ReadOptions = Omit<SourceOptions, 'maxpoll'> & { maxpoll: number | null };

/** The source options of a read table, with the rule between minpoll and maxpoll. */
function sourceOptions(r: TomlReader, path: string, v: ReadOptions): SourceOptions {
  const maxpoll = v.maxpoll ?? Math.max(DEFAULT_MAXPOLL, v.minpoll);
  if (maxpoll < v.minpoll)
    r.issue('CONFIG_BAD_VALUE', join(path, 'maxpoll'), `maxpoll ${maxpoll} < minpoll ${v.minpoll}`);
  return {
    iburst: v.iburst,
    burst: v.burst,
    minpoll: v.minpoll,
    maxpoll: Math.max(v.minpoll, maxpoll),
    prefer: v.prefer,
    noselect: v.noselect,
    xleave: v.xleave,
    key: v.key,
    version: v.version,
    maxDelay: v.maxDelay,
  };
}

/** `[[server]]`, `[[peer]]`, `[[broadcast-client]]`. */
function readHostSources(r: TomlReader, doc: Table, name: string): HostSourceConfig[] {
  return r.tables(doc, name, '').map((t, i) => {
    const path = `${name}[${i}]`;
    if (name !== 'server') {
      const v = readKeys(r, t, path, PEER);
      return { host: v.host, port: v.port, ...sourceOptions(r, path, v) };
    }
    // NTS (RFC 8915) only for client associations.
    const v = readKeys(r, t, path, SERVER);
    const c: HostSourceConfig = {
      host: v.host,
      port: v.port,
      ...sourceOptions(r, path, v),
      nts: v.nts,
      ntsPort: v.ntsPort,
    };
    if (c.nts && c.key !== null)
      r.issue('CONFIG_BAD_VALUE', join(path, 'key'), 'a source uses either nts or a symmetric key');
    if (c.nts && c.xleave)
      r.issue('CONFIG_BAD_VALUE', join(path, 'xleave'), 'interleaved mode is not available with nts');
    return c;
  });
}

function readPools(r: TomlReader, doc: Table): PoolSourceConfig[] {
  return r.tables(doc, 'pool', '').map((t, i) => {
    const path = `pool[${i}]`;
    const v = readKeys(r, t, path, POOL_KEYS);
    return {
      host: v.host,
      port: v.port,
      ...sourceOptions(r, path, v),
      maxSources: v.maxSources,
      reresolveInterval: v.reresolveInterval,
      unreachablePolls: v.unreachablePolls,
    };
  });
}

function readBroadcasts(r: TomlReader, doc: Table): BroadcastConfig[] {
  return r.tables(doc, 'broadcast', '').map((t, i) => {
    const path = `broadcast[${i}]`;
    const v = readKeys(r, t, path, BROADCAST);
    if (v.address !== '' && !isIpLiteral(v.address))
      r.issue('CONFIG_BAD_VALUE', join(path, 'address'), 'a broadcast address must be an IP address');
    const b: BroadcastConfig = { address: v.address, port: v.port, poll: v.poll, xleave: v.xleave };
    if (v.key !== null) b.key = v.key;
    return b;
  });
}

/** `[[key]]`: the valid keys, in file order. */
function readInlineKeys(r: TomlReader, doc: Table): SymmetricKey[] {
  const keys: SymmetricKey[] = [];
  r.tables(doc, 'key', '').forEach((t, i) => {
    const path = `key[${i}]`;
    const v = readKeys(r, t, path, KEY);
    if (t.id === undefined) r.issue('CONFIG_BAD_VALUE', path, 'id is required');
    const type = parseDigestType(v.type);
    if (type === null) {
      r.issue('CONFIG_BAD_VALUE', join(path, 'type'), `unknown key type '${v.type}' (${KEY_TYPE_NAMES})`);
      return;
    }
    const key = parseKeyValue(type, v.value);
    if (typeof key === 'string') {
      r.issue('CONFIG_BAD_VALUE', join(path, 'value'), key);
      return;
    }
    const id = v.id ?? 0;
    if (keys.some((k) => k.id === id))
      r.issue('CONFIG_BAD_VALUE', join(path, 'id'), `duplicate key ID ${id}`);
    else if (id > 0) keys.push({ id, type, key });
  });
  return keys;
}

/** `[[refclock]]`: the keys of its driver (src/config/schema-refclock.ts). */
function readRefclocks(r: TomlReader, doc: Table): RefclockConfig[] {
  const refclocks: RefclockConfig[] = [];
  r.tables(doc, 'refclock', '').forEach((t, i) => {
    const c = readRefclock(r, t, `refclock[${i}]`);
    if (c !== null) refclocks.push(c);
  });
  return refclocks;
}

/** Every `key = N` of a source must name an inline key (checkable only without a key file). */
function checkKeyRefs(r: TomlReader, keys: SymmetricKey[], lists: Record<string, { key?: number | null }[]>) {
  for (const [name, list] of Object.entries(lists))
    list.forEach((s, i) => {
      if (s.key !== undefined && s.key !== null && !keys.some((k) => k.id === s.key))
        r.issue(
          'CONFIG_BAD_VALUE',
          `${name}[${i}].key`,
          `key ${s.key} is not defined ([[key]] or [keys] file)`,
        );
    });
}

/** A table of the document (`{}` when absent). */
function section(r: TomlReader, doc: Table, name: string): Table {
  return r.table(doc, name, '') ?? {};
}

function readNts(r: TomlReader, doc: Table): NtsConfig {
  const nts = readKeys(r, section(r, doc, 'nts'), 'nts', NTS);
  if ((nts.serverCert === null) !== (nts.serverKey === null))
    r.issue(
      'CONFIG_BAD_VALUE',
      nts.serverCert === null ? 'nts.server-key' : 'nts.server-cert',
      'server-cert and server-key go together',
    );
  return nts;
}

/** `[system]`, `[local]` and the engine's part of `[clock]`. */
function readSystem(
  r: TomlReader,
  doc: Table,
  clock: { leapMode: SystemConfig['leapMode']; leapSmearWindow: number },
  keys: SymmetricKey[],
  broadcast: BroadcastConfig[],
): SystemConfig {
  const sys = readKeys(r, section(r, doc, 'system'), 'system', SYSTEM);
  const localT = r.table(doc, 'local', '');
  const local = readKeys(r, localT ?? {}, 'local', LOCAL);
  // [local] with only `orphan` is orphan mode without a local clock source.
  const localClock = localT !== undefined && (local.stratum !== null || localT.orphan === undefined);
  return {
    ...sys,
    localStratum: localClock ? (local.stratum ?? DEFAULT_LOCAL_STRATUM) : null,
    orphanStratum: local.orphan,
    keys,
    broadcast,
    leapMode: clock.leapMode,
    leapSmearWindow: clock.leapSmearWindow,
  };
}

/** Parses and validates configuration text. Returns the config and every issue found. */
export function checkConfig(
  text: string,
  file = '<config>',
): { config: DaemonConfig | null; issues: ConfigIssue[] } {
  let doc: Table;
  try {
    doc = parse(text) as Table;
  } catch (e) {
    if (e instanceof TomlError) {
      const msg = e.message.split('\n')[0] ?? e.message;
      return {
        config: null,
        issues: [{ code: 'CONFIG_SYNTAX', file, line: e.line, key: '', message: `TOML syntax: ${msg}` }],
      };
    }
    throw e;
  }
  const r = new TomlReader(file, new KeyLines(text));
  r.keys(
    doc,
    '',
    SECTIONS.map((s) => s.name),
  );

  const keysFile = readKeys(r, section(r, doc, 'keys'), 'keys', KEYS).file;
  const keys = readInlineKeys(r, doc);
  const servers = readHostSources(r, doc, 'server');
  const peers = readHostSources(r, doc, 'peer');
  const broadcastClients = readHostSources(r, doc, 'broadcast-client');
  const pools = readPools(r, doc);
  const broadcast = readBroadcasts(r, doc);
  const refclocks = readRefclocks(r, doc);
  if (keysFile === null)
    checkKeyRefs(r, keys, {
      server: servers,
      peer: peers,
      pool: pools,
      'broadcast-client': broadcastClients,
      broadcast,
    });

  const { leapMode, leapSmearWindow, ...clock } = readKeys(r, section(r, doc, 'clock'), 'clock', CLOCK);
  const system = readSystem(r, doc, { leapMode, leapSmearWindow }, keys, broadcast);
  const server = readKeys(r, section(r, doc, 'serve'), 'serve', SERVE);
  const access = readKeys(r, section(r, doc, 'access'), 'access', ACCESS);
  const rlT = r.table(doc, 'rate-limit', '');
  const rl = readKeys(r, rlT ?? {}, 'rate-limit', RATE_LIMIT);
  const rateLimit = { ...rl, enabled: rl.enabled ?? rlT !== undefined };
  const lg = readKeys(r, section(r, doc, 'legacy'), 'legacy', LEGACY);
  const service = (port: number | null) =>
    port === null
      ? null
      : { port, tcp: lg.tcp, udp: lg.udp, ...(lg.address === '' ? {} : { address: lg.address }) };
  const legacy = {
    time: service(lg.timePort),
    daytime: service(lg.daytimePort),
    maxConnections: lg.maxConnections,
    maxConnectionsPerSource: lg.maxConnectionsPerSource,
    idleTimeout: lg.idleTimeout,
  };
  const observe = readKeys(r, section(r, doc, 'observe'), 'observe', OBSERVE);
  const nts = readNts(r, doc);
  const log = readKeys(r, section(r, doc, 'log'), 'log', LOG);
  const daemon = readKeys(r, section(r, doc, 'daemon'), 'daemon', DAEMON);

  if (r.issues.length > 0) return { config: null, issues: r.issues };
  return {
    config: {
      file: file === '<config>' ? null : file,
      servers,
      pools,
      peers,
      broadcastClients,
      refclocks,
      system,
      keysFile,
      nts,
      clock,
      server,
      access,
      rateLimit,
      legacy,
      observe,
      log,
      daemon,
    },
    issues: [],
  };
}

/** Parses configuration text; throws `ConfigError` listing every problem. */
export function parseConfig(text: string, file = '<config>'): DaemonConfig {
  const { config, issues } = checkConfig(text, file);
  if (config === null) throw new ConfigError(issues);
  return config;
}
