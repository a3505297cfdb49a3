/**
 * The schema of the sources and keys (`[[server]]`, `[[pool]]`, `[[peer]]`, `[[broadcast-client]]`,
 * `[[broadcast]]`, `[[key]]`, `[keys]`) and the address checks the other tables share; part of the
 * configuration schema (src/config/schema.ts). Source defaults come from src/system/defaults.ts.
 */
import { KE_DEFAULT_PORT } from '../nts/ke.js';
import { defaultBroadcastConfig, defaultSourceConfig } from '../system/defaults.js';
import { POLL_LIMIT_HIGH, POLL_LIMIT_LOW } from '../time/short.js';
import { KEY_TYPE_NAMES } from './keys.js';
import { bool, int, num, optNumber, optStr, str } from './schema-kit.js';

const SRC = defaultSourceConfig('');
const BCAST = defaultBroadcastConfig('');
export const POLL = { min: POLL_LIMIT_LOW, max: POLL_LIMIT_HIGH, unit: 'log2 s' };
const PORT = { min: 1, max: 65535 };
const KEY_ID = { int: true, min: 1, max: 0xffffffff };

export function isIpLiteral(s: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(s) || s.includes(':');
}

export function validCidr(s: string): boolean {
  const [addr, len, ...rest] = s.split('/');
  if (addr === undefined || rest.length > 0) return false;
  const v4 = /^\d{1,3}(\.\d{1,3}){3}$/.test(addr) && addr.split('.').every((o) => Number(o) <= 255);
  const v6 = !v4 && /^[0-9a-fA-F:.]+$/.test(addr) && addr.includes(':');
  if (!v4 && !v6) return false;
  if (len === undefined) return true;
  const n = Number(len);
  return Number.isInteger(n) && n >= 0 && n <= (v4 ? 32 : 128) && /^\d+$/.test(len);
}

export function validHostPort(s: string): boolean {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(s);
  return m !== null && Number(m[3]) <= 65535;
}

export const IP = { check: isIpLiteral, problem: 'is not an IP address', type: 'IP addresses' };
export const HOST_PORT = { check: validHostPort, problem: 'is not HOST:PORT', type: '`HOST:PORT`' };

/** `address` and `port` of every source. */
export const HOST = {
  host: str('address', '', 'host name or IP address (resolved at start; retried until it resolves)', {
    required: true,
  }),
  port: int('port', SRC.port, '', PORT),
};

/** The options of every association (`[[server]]`, `[[pool]]`, `[[peer]]`, `[[broadcast-client]]`). */
export const SOURCE_OPTIONS = {
  iburst: bool('iburst', SRC.iburst, 'a burst of packets at start (fast first synchronisation)'),
  burst: bool('burst', SRC.burst, 'a burst of packets at every poll'),
  minpoll: int('minpoll', SRC.minpoll, 'minimum poll exponent (−2 = 0.25 s)', POLL),
  maxpoll: optNumber('maxpoll', 'maximum poll exponent; must be ≥ minpoll', {
    ...POLL,
    int: true,
    defaultText: `max(${SRC.maxpoll}, minpoll)`,
    toml: String(SRC.maxpoll),
  }),
  prefer: bool('prefer', SRC.prefer, 'preferred source in selection'),
  noselect: bool('noselect', SRC.noselect, 'measure, never select'),
  xleave: bool(
    'xleave',
    SRC.xleave,
    'request interleaved mode (falls back to basic if the server does not do it)',
  ),
  key: optNumber('key', 'symmetric key ID (defined by `[[key]]` or the key file)', {
    ...KEY_ID,
    defaultText: 'none',
  }),
  version: int('version', SRC.version, 'NTP version sent', { min: 1, max: 4 }),
  maxDelay: optNumber('max-delay', 'samples with a larger round-trip delay are discarded', {
    min: 0,
    unit: 's',
    defaultText: 'none',
  }),
};

/** `[[server]]` only: NTS (RFC 8915). */
export const SERVER_NTS = {
  nts: bool(
    'nts',
    false,
    'authenticate with NTS (RFC 8915): `address` is the NTS-KE server; only `[[server]]`, not with `key` or `xleave` (see `[nts]`, docs/nts.md)',
  ),
  ntsPort: int(
    'nts-port',
    KE_DEFAULT_PORT,
    'TCP port of the NTS-KE server (the NTP server and port come from the KE response)',
    PORT,
  ),
};

/** `[[pool]]` in addition to the source options. */
export const POOL = {
  maxSources: int('max-sources', 4, 'addresses of the pool used at once', { min: 1, max: 16 }),
  reresolveInterval: num(
    're-resolve',
    3600,
    'the name is resolved again this often (and when no unused address is left)',
    { min: 1, max: 7 * 86400, unit: 's' },
  ),
  unreachablePolls: int(
    'unreachable-polls',
    8,
    'a member that answered none of its last this-many polls, or sent KoD DENY/RSTR, is removed and replaced by another address of the pool',
    { min: 1, max: 64 },
  ),
};

/** `[[broadcast]]`: being a broadcast server. */
export const BROADCAST = {
  address: str('address', '', 'destination IP address, e.g. the subnet broadcast address `10.0.0.255`', {
    required: true,
    type: 'IP address',
  }),
  port: int('port', BCAST.port, '', PORT),
  poll: int('poll', BCAST.poll, 'log2 s between broadcasts', POLL),
  xleave: bool('xleave', BCAST.xleave, 'interleaved broadcast'),
  key: optNumber('key', 'key ID', { ...KEY_ID, defaultText: 'none' }),
};

// ---- keys ----

/** `[[key]]`: a symmetric key inline. */
export const KEY = {
  id: optNumber('id', 'key ID', { ...KEY_ID, defaultText: 'required' }),
  type: str('type', 'SHA1', `${KEY_TYPE_NAMES.replace(/(\w+)/g, '`$1`')}`),
  value: str('value', '', '`HEX:…`, `ASCII:…`, or ntpd’s rule: ≤ 20 characters is ASCII, longer is hex', {
    defaultText: 'required',
    toml: null,
  }),
};

/** `[keys]`. */
export const KEYS = {
  file: optStr(
    'file',
    null,
    'key file (relative to the config file): lines `ID TYPE VALUE` (ntpd, NTPsec and chrony formats, `#` comments)',
    { type: 'path' },
  ),
};
