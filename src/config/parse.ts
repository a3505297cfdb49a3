/**
 * TOML text → validated `DaemonConfig`. Pure. Every problem is reported with the file, the line and
 * the key; unknown keys and tables are errors (a typo must not silently fall back to a default).
 * docs/CONFIG.md documents every key.
 */
import { parse, TomlError } from 'smol-toml';
import { LEAP_MODES } from '../clock/leap.js';
import { refclockFromTable } from '../refclock/config.js';
import type { RefclockConfig } from '../refclock/types.js';
import {
  DEFAULT_LOCAL_STRATUM,
  defaultBroadcastConfig,
  defaultSourceConfig,
  defaultSystemConfig,
} from '../system/defaults.js';
import type { BroadcastConfig, SymmetricKey, SystemConfig } from '../system/types.js';
import { POLL_LIMIT_HIGH, POLL_LIMIT_LOW } from '../time/short.js';
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
import type {
  DaemonConfig,
  HostSourceConfig,
  LogLevel,
  NtsConfig,
  PoolSourceConfig,
  ServiceConfig,
  SourceOptions,
} from './types.js';

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

const TOP_KEYS = [
  'server',
  'pool',
  'peer',
  'broadcast',
  'broadcast-client',
  'refclock',
  'system',
  'local',
  'key',
  'keys',
  'clock',
  'serve',
  'access',
  'rate-limit',
  'legacy',
  'observe',
  'log',
  'daemon',
  'nts',
] as const;

/** Defaults of the keys a file leaves out (src/system/defaults.ts). */
const SYS = defaultSystemConfig();
const SRC = defaultSourceConfig('');
const BCAST = defaultBroadcastConfig('');

const SOURCE_KEYS = [
  'address',
  'port',
  'iburst',
  'burst',
  'minpoll',
  'maxpoll',
  'prefer',
  'noselect',
  'xleave',
  'key',
  'version',
  'max-delay',
] as const;

function readSourceOptions(r: TomlReader, t: Table, path: string, defaultMinpoll: number): SourceOptions {
  const minpoll = r.num(t, 'minpoll', path, defaultMinpoll, {
    int: true,
    min: POLL_LIMIT_LOW,
    max: POLL_LIMIT_HIGH,
  });
  const maxpoll = r.num(t, 'maxpoll', path, Math.max(SRC.maxpoll, minpoll), {
    int: true,
    min: POLL_LIMIT_LOW,
    max: POLL_LIMIT_HIGH,
  });
  if (maxpoll < minpoll)
    r.issue('CONFIG_BAD_VALUE', join(path, 'maxpoll'), `maxpoll ${maxpoll} < minpoll ${minpoll}`);
  return {
    iburst: r.bool(t, 'iburst', path, SRC.iburst),
    burst: r.bool(t, 'burst', path, SRC.burst),
    minpoll,
    maxpoll: Math.max(minpoll, maxpoll),
    prefer: r.bool(t, 'prefer', path, SRC.prefer),
    noselect: r.bool(t, 'noselect', path, SRC.noselect),
    xleave: r.bool(t, 'xleave', path, SRC.xleave),
    key: r.optNum(t, 'key', path, { int: true, min: 1, max: 0xffffffff }),
    version: r.num(t, 'version', path, SRC.version, { int: true, min: 1, max: 4 }),
    maxDelay: r.optNum(t, 'max-delay', path, { min: 0 }),
  };
}

function readHost(r: TomlReader, t: Table, path: string): { host: string; port: number } {
  const host = r.str(t, 'address', path, '');
  if (host === '')
    r.issue(
      'CONFIG_BAD_VALUE',
      t.address === undefined ? path : join(path, 'address'),
      'address is required',
    );
  return { host, port: r.num(t, 'port', path, SRC.port, { int: true, min: 1, max: 65535 }) };
}

function readHostSources(r: TomlReader, top: Table, key: string, minpoll: number): HostSourceConfig[] {
  return r.tables(top, key, '').map((t, i) => {
    const path = `${key}[${i}]`;
    // NTS (RFC 8915) only for client associations.
    r.keys(t, path, key === 'server' ? [...SOURCE_KEYS, 'nts', 'nts-port'] : SOURCE_KEYS);
    const c: HostSourceConfig = { ...readHost(r, t, path), ...readSourceOptions(r, t, path, minpoll) };
    if (key === 'server') {
      c.nts = r.bool(t, 'nts', path, false);
      c.ntsPort = r.num(t, 'nts-port', path, 4460, { int: true, min: 1, max: 65535 });
      if (c.nts && c.key !== null)
        r.issue('CONFIG_BAD_VALUE', join(path, 'key'), 'a source uses either nts or a symmetric key');
      if (c.nts && c.xleave)
        r.issue('CONFIG_BAD_VALUE', join(path, 'xleave'), 'interleaved mode is not available with nts');
    }
    return c;
  });
}

function readService(r: TomlReader, t: Table, path: string, portKey: string): ServiceConfig | null {
  const v = t[portKey];
  if (v === undefined || v === false) return null;
  const port = r.num(t, portKey, path, 0, { int: true, min: 0, max: 65535 });
  const address = r.str(t, 'address', path, '');
  const svc: ServiceConfig = { port, tcp: r.bool(t, 'tcp', path, true), udp: r.bool(t, 'udp', path, true) };
  if (address !== '') svc.address = address;
  return svc;
}

function isIpLiteral(s: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(s) || s.includes(':');
}

function validCidr(s: string): boolean {
  const [addr, len, ...rest] = s.split('/');
  if (addr === undefined || rest.length > 0) return false;
  const v4 = /^\d{1,3}(\.\d{1,3}){3}$/.test(addr) && addr.split('.').every((o) => Number(o) <= 255);
  const v6 = !v4 && /^[0-9a-fA-F:.]+$/.test(addr) && addr.includes(':');
  if (!v4 && !v6) return false;
  if (len === undefined) return true;
  const n = Number(len);
  return Number.isInteger(n) && n >= 0 && n <= (v4 ? 32 : 128) && /^\d+$/.test(len);
}

function validHostPort(s: string): boolean {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(s);
  return m !== null && Number(m[3]) <= 65535;
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
  r.keys(doc, '', TOP_KEYS);

  // [system] and [local]
  const sysT = r.table(doc, 'system', '') ?? {};
  r.keys(sysT, 'system', [
    'min-sources',
    'min-clock',
    'max-clock',
    'max-distance',
    'max-jitter',
    'max-stratum',
    'precision',
    'huff-puff',
    'allow-passive',
    'accept-broadcast',
    'require-auth-for-mobilise',
    'interleaved-table-size',
  ]);
  const localT = r.table(doc, 'local', '');
  if (localT !== undefined) r.keys(localT, 'local', ['stratum', 'orphan']);
  // [local] with only `orphan` is orphan mode without a local clock source.
  const localClock = localT !== undefined && (localT.stratum !== undefined || localT.orphan === undefined);
  const keys: SymmetricKey[] = [];
  const broadcast: BroadcastConfig[] = [];
  const system: SystemConfig = {
    minSane: r.num(sysT, 'min-sources', 'system', SYS.minSane, { int: true, min: 1, max: 64 }),
    minClock: r.num(sysT, 'min-clock', 'system', SYS.minClock, { int: true, min: 1, max: 64 }),
    maxClock: r.num(sysT, 'max-clock', 'system', SYS.maxClock, { int: true, min: 1, max: 64 }),
    maxDistance: r.num(sysT, 'max-distance', 'system', SYS.maxDistance, { min: 0.001, max: 16 }),
    maxJitter: r.num(sysT, 'max-jitter', 'system', SYS.maxJitter, { min: 1e-9, max: 16 }),
    maxStratum: r.num(sysT, 'max-stratum', 'system', SYS.maxStratum, { int: true, min: 1, max: 16 }),
    localStratum:
      localT === undefined || !localClock
        ? null
        : r.num(localT, 'stratum', 'local', DEFAULT_LOCAL_STRATUM, { int: true, min: 1, max: 15 }),
    orphanStratum:
      localT?.orphan === undefined
        ? null
        : r.num(localT, 'orphan', 'local', 10, { int: true, min: 1, max: 15 }),
    precision: r.num(sysT, 'precision', 'system', SYS.precision, { int: true, min: -32, max: 0 }),
    huffPuff: r.num(sysT, 'huff-puff', 'system', SYS.huffPuff, { min: 0, max: 86400 }),
    allowPassive: r.bool(sysT, 'allow-passive', 'system', SYS.allowPassive),
    broadcastClient: r.bool(sysT, 'accept-broadcast', 'system', SYS.broadcastClient),
    requireAuthForMobilise: r.bool(sysT, 'require-auth-for-mobilise', 'system', SYS.requireAuthForMobilise),
    interleavedTableSize: r.num(sysT, 'interleaved-table-size', 'system', SYS.interleavedTableSize, {
      int: true,
      min: 0,
      max: 1 << 20,
    }),
    keys,
    broadcast,
  };

  // [keys] file and [[key]] inline
  const keysT = r.table(doc, 'keys', '') ?? {};
  r.keys(keysT, 'keys', ['file']);
  const keysFile = r.optStr(keysT, 'file', 'keys', null);
  r.tables(doc, 'key', '').forEach((t, i) => {
    const path = `key[${i}]`;
    r.keys(t, path, ['id', 'type', 'value']);
    const id = r.num(t, 'id', path, 0, { int: true, min: 1, max: 0xffffffff });
    if (t.id === undefined) r.issue('CONFIG_BAD_VALUE', path, 'id is required');
    const typeText = r.str(t, 'type', path, 'SHA1');
    const type = parseDigestType(typeText);
    if (type === null) {
      r.issue('CONFIG_BAD_VALUE', join(path, 'type'), `unknown key type '${typeText}' (${KEY_TYPE_NAMES})`);
      return;
    }
    const value = r.str(t, 'value', path, '');
    const key = parseKeyValue(type, value);
    if (typeof key === 'string') {
      r.issue('CONFIG_BAD_VALUE', join(path, 'value'), key);
      return;
    }
    if (keys.some((k) => k.id === id))
      r.issue('CONFIG_BAD_VALUE', join(path, 'id'), `duplicate key ID ${id}`);
    else if (id > 0) keys.push({ id, type, key });
  });

  // sources
  const servers = readHostSources(r, doc, 'server', SRC.minpoll);
  const peers = readHostSources(r, doc, 'peer', SRC.minpoll);
  const broadcastClients = readHostSources(r, doc, 'broadcast-client', SRC.minpoll);
  const pools: PoolSourceConfig[] = r.tables(doc, 'pool', '').map((t, i) => {
    const path = `pool[${i}]`;
    r.keys(t, path, [...SOURCE_KEYS, 'max-sources', 're-resolve', 'unreachable-polls']);
    return {
      ...readHost(r, t, path),
      ...readSourceOptions(r, t, path, SRC.minpoll),
      maxSources: r.num(t, 'max-sources', path, 4, { int: true, min: 1, max: 16 }),
      reresolveInterval: r.num(t, 're-resolve', path, 3600, { min: 1, max: 7 * 86400 }),
      unreachablePolls: r.num(t, 'unreachable-polls', path, 8, { int: true, min: 1, max: 64 }),
    };
  });
  r.tables(doc, 'broadcast', '').forEach((t, i) => {
    const path = `broadcast[${i}]`;
    r.keys(t, path, ['address', 'port', 'poll', 'xleave', 'key']);
    const { host, port } = readHost(r, t, path);
    if (host !== '' && !isIpLiteral(host))
      r.issue('CONFIG_BAD_VALUE', join(path, 'address'), 'a broadcast address must be an IP address');
    const b: BroadcastConfig = {
      address: host,
      port,
      poll: r.num(t, 'poll', path, BCAST.poll, { int: true, min: POLL_LIMIT_LOW, max: POLL_LIMIT_HIGH }),
      xleave: r.bool(t, 'xleave', path, BCAST.xleave),
    };
    const key = r.optNum(t, 'key', path, { int: true, min: 1, max: 0xffffffff });
    if (key !== null) b.key = key;
    broadcast.push(b);
  });

  // [[refclock]] (keys and values checked by src/refclock/config.ts)
  const refclocks: RefclockConfig[] = [];
  r.tables(doc, 'refclock', '').forEach((t, i) => {
    const res = refclockFromTable(t);
    if (res.ok) refclocks.push(res.config);
    else
      for (const m of res.errors) {
        const unknown = /^unknown refclock key "([^"]+)"/.exec(m);
        const k = unknown?.[1] ?? /^(\S+) must be/.exec(m)?.[1];
        r.issue(
          unknown !== null ? 'CONFIG_UNKNOWN_KEY' : 'CONFIG_BAD_VALUE',
          k === undefined ? `refclock[${i}]` : `refclock[${i}].${k}`,
          m,
        );
      }
  });

  // every referenced key must exist (inline keys only can be checked here when there is no key file)
  if (keysFile === null) {
    const check = (list: { key: number | null }[], name: string) =>
      list.forEach((s, i) => {
        if (s.key !== null && !keys.some((k) => k.id === s.key))
          r.issue(
            'CONFIG_BAD_VALUE',
            `${name}[${i}].key`,
            `key ${s.key} is not defined ([[key]] or [keys] file)`,
          );
      });
    check(servers, 'server');
    check(peers, 'peer');
    check(pools, 'pool');
    check(broadcastClients, 'broadcast-client');
    check(
      broadcast.map((b) => ({ key: b.key ?? null })),
      'broadcast',
    );
  }

  // [clock]
  const clockT = r.table(doc, 'clock', '') ?? {};
  r.keys(clockT, 'clock', [
    'discipline',
    'state-file',
    'state-interval',
    'system-clock',
    'step-threshold',
    'panic-threshold',
    'stepout',
    'step-at-startup',
    'max-frequency',
    'leap-mode',
    'leap-file',
    'leap-smear-window',
  ]);
  system.leapMode = r.oneOf(clockT, 'leap-mode', 'clock', 'step', LEAP_MODES);
  system.leapSmearWindow = r.num(clockT, 'leap-smear-window', 'clock', 86400, { min: 60, max: 7 * 86400 });
  const clock: DaemonConfig['clock'] = {
    discipline: r.oneOf(clockT, 'discipline', 'clock', 'feedforward', ['rfc5905', 'feedforward'] as const),
    stateFile: r.optStr(clockT, 'state-file', 'clock', null),
    stateInterval: r.num(clockT, 'state-interval', 'clock', 3600, { min: 1, max: 86400 * 7 }),
    systemClock: r.bool(clockT, 'system-clock', 'clock', false),
    stepThreshold: r.num(clockT, 'step-threshold', 'clock', 0.128, { min: 0, max: 86400 }),
    panicThreshold: r.num(clockT, 'panic-threshold', 'clock', 1000, { min: 0, max: 1e9 }),
    stepout: r.num(clockT, 'stepout', 'clock', 900, { min: 0, max: 86400 }),
    stepAtStartup: r.bool(clockT, 'step-at-startup', 'clock', true),
    maxFrequency: r.num(clockT, 'max-frequency', 'clock', 500, { min: 1, max: 100000 }),
    leapFile: r.optStr(clockT, 'leap-file', 'clock', null),
  };

  // [serve]
  const serveT = r.table(doc, 'serve', '') ?? {};
  r.keys(serveT, 'serve', ['enabled', 'listen', 'port', 'client-table-size', 'timestamping', 'workers']);
  const listen = r.strList(serveT, 'listen', 'serve', ['0.0.0.0', '::']);
  listen.forEach((a, i) => {
    if (!isIpLiteral(a))
      r.issue('CONFIG_BAD_VALUE', 'serve.listen', `listen[${i}] '${a}' is not an IP address`);
  });
  const server: DaemonConfig['server'] = {
    enabled: r.bool(serveT, 'enabled', 'serve', true),
    listen,
    port: r.optNum(serveT, 'port', 'serve', { int: true, min: 0, max: 65535 }),
    clientTableSize: r.num(serveT, 'client-table-size', 'serve', 4096, { int: true, min: 16, max: 1 << 22 }),
    timestamping: r.oneOf(serveT, 'timestamping', 'serve', 'kernel', ['kernel', 'user'] as const),
    workers: r.num(serveT, 'workers', 'serve', 0, { int: true, min: 0, max: 256 }),
  };

  // [access]
  const accessT = r.table(doc, 'access', '') ?? {};
  r.keys(accessT, 'access', ['allow', 'deny']);
  const access = {
    allow: r.strList(accessT, 'allow', 'access', ['0.0.0.0/0', '::/0']),
    deny: r.strList(accessT, 'deny', 'access', []),
  };
  for (const k of ['allow', 'deny'] as const)
    access[k].forEach((c) => {
      if (!validCidr(c))
        r.issue('CONFIG_BAD_VALUE', `access.${k}`, `'${c}' is not an address or CIDR prefix`);
    });

  // [rate-limit]
  const rlT = r.table(doc, 'rate-limit', '');
  if (rlT !== undefined) r.keys(rlT, 'rate-limit', ['enabled', 'interval', 'burst', 'kod', 'leak']);
  const rl = rlT ?? {};
  const rateLimit: DaemonConfig['rateLimit'] = {
    enabled: r.bool(rl, 'enabled', 'rate-limit', rlT !== undefined),
    interval: r.num(rl, 'interval', 'rate-limit', 3, { int: true, min: -4, max: 12 }),
    burst: r.num(rl, 'burst', 'rate-limit', 8, { int: true, min: 1, max: 256 }),
    kod: r.bool(rl, 'kod', 'rate-limit', true),
    leak: r.num(rl, 'leak', 'rate-limit', 2, { int: true, min: 0, max: 1024 }),
  };

  // [legacy]
  const legT = r.table(doc, 'legacy', '') ?? {};
  r.keys(legT, 'legacy', [
    'time-port',
    'daytime-port',
    'tcp',
    'udp',
    'address',
    'max-connections',
    'max-connections-per-source',
    'idle-timeout',
  ]);
  const legacy = {
    time: readService(r, legT, 'legacy', 'time-port'),
    daytime: readService(r, legT, 'legacy', 'daytime-port'),
    maxConnections: r.num(legT, 'max-connections', 'legacy', 256, { int: true, min: 1, max: 100000 }),
    maxConnectionsPerSource: r.num(legT, 'max-connections-per-source', 'legacy', 8, {
      int: true,
      min: 1,
      max: 100000,
    }),
    idleTimeout: r.num(legT, 'idle-timeout', 'legacy', 2, { min: 0.1, max: 600 }),
  };

  // [observe]
  const obsT = r.table(doc, 'observe', '') ?? {};
  r.keys(obsT, 'observe', [
    'control-socket',
    'control-group',
    'metrics',
    'dashboard',
    'ntpq-remote',
    'stats-dir',
    'stats-rotate',
  ]);
  const observe: DaemonConfig['observe'] = {
    controlSocket: r.optStr(obsT, 'control-socket', 'observe', 'default'),
    controlGroup: r.optStr(obsT, 'control-group', 'observe', null),
    metrics: r.optStr(obsT, 'metrics', 'observe', null),
    dashboard: r.optStr(obsT, 'dashboard', 'observe', null),
    ntpqRemote: r.bool(obsT, 'ntpq-remote', 'observe', false),
    statsDir: r.optStr(obsT, 'stats-dir', 'observe', null),
    statsRotate: r.oneOf(obsT, 'stats-rotate', 'observe', 'daily', ['daily', 'none'] as const),
  };
  for (const k of ['metrics', 'dashboard'] as const) {
    const v = observe[k];
    if (v !== null && !validHostPort(v))
      r.issue('CONFIG_BAD_VALUE', `observe.${k}`, `'${v}' is not HOST:PORT`);
  }

  // [nts]
  const ntsT = r.table(doc, 'nts', '') ?? {};
  r.keys(ntsT, 'nts', [
    'trusted-certs',
    'insecure-skip-verify',
    'server-cert',
    'server-key',
    'ke-port',
    'ke-listen',
    'key-file',
    'rotate-interval',
    'keep-keys',
    'max-connections',
    'max-connections-per-source',
    'handshake-timeout',
    'idle-timeout',
  ]);
  const nts: NtsConfig = {
    trustedCerts: r.optStr(ntsT, 'trusted-certs', 'nts', null),
    insecureSkipVerify: r.bool(ntsT, 'insecure-skip-verify', 'nts', false),
    serverCert: r.optStr(ntsT, 'server-cert', 'nts', null),
    serverKey: r.optStr(ntsT, 'server-key', 'nts', null),
    kePort: r.num(ntsT, 'ke-port', 'nts', 4460, { int: true, min: 0, max: 65535 }),
    keListen: ntsT['ke-listen'] === undefined ? null : r.strList(ntsT, 'ke-listen', 'nts', []),
    keyFile: r.optStr(ntsT, 'key-file', 'nts', null),
    rotateInterval: r.num(ntsT, 'rotate-interval', 'nts', 86400, { min: 60, max: 86400 * 365 }),
    keepKeys: r.num(ntsT, 'keep-keys', 'nts', 3, { int: true, min: 2, max: 100 }),
    maxConnections: r.num(ntsT, 'max-connections', 'nts', 100, { int: true, min: 1, max: 100000 }),
    handshakeTimeout: r.num(ntsT, 'handshake-timeout', 'nts', 5, { min: 0.1, max: 600 }),
    maxConnectionsPerSource: r.num(ntsT, 'max-connections-per-source', 'nts', 8, {
      int: true,
      min: 1,
      max: 100000,
    }),
    idleTimeout: r.num(ntsT, 'idle-timeout', 'nts', 2, { min: 0.1, max: 600 }),
  };
  if ((nts.serverCert === null) !== (nts.serverKey === null))
    r.issue(
      'CONFIG_BAD_VALUE',
      nts.serverCert === null ? 'nts.server-key' : 'nts.server-cert',
      'server-cert and server-key go together',
    );
  (nts.keListen ?? []).forEach((a, i) => {
    if (!isIpLiteral(a)) r.issue('CONFIG_BAD_VALUE', `nts.ke-listen[${i}]`, `'${a}' is not an IP address`);
  });

  // [log]
  const logT = r.table(doc, 'log', '') ?? {};
  r.keys(logT, 'log', ['level', 'format']);
  const log = {
    level: r.oneOf<LogLevel>(logT, 'level', 'log', 'info', ['debug', 'info', 'warn', 'error']),
    format: r.oneOf(logT, 'format', 'log', 'json', ['json', 'text'] as const),
  };

  // [daemon]
  const dT = r.table(doc, 'daemon', '') ?? {};
  r.keys(dT, 'daemon', ['user', 'group', 'pid-file']);
  const daemon = {
    user: r.optStr(dT, 'user', 'daemon', 'nobody'),
    group: r.optStr(dT, 'group', 'daemon', null),
    pidFile: r.optStr(dT, 'pid-file', 'daemon', null),
  };

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
