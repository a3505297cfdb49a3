/**
 * Read-only NTP mode 6 control messages (RFC 9327, the protocol of `ntpq`).
 *
 * Supported: READSTAT (opcode 1: association list, or one association's status), READVAR
 * (opcode 2: system variables for association 0, peer variables otherwise; the statistics of ntpq's
 * sysstats/monstats/iostats/authinfo by name), REQ_NONCE and READ_MRU (mrulist, from the client
 * table: src/observe/mode6-stats.ts), with fragmentation of long answers. Everything else
 * (WRITEVAR, CONFIGURE, SETTRAP, ...) is answered with an error: ntpkit is never configured over
 * the network.
 *
 * Access: requests from loopback addresses are always served. Requests from other addresses are
 * dropped silently unless `allowRemote` is set; even then the sum of the sizes of all response
 * datagrams never exceeds the size of the request datagram, so the control port cannot be used as
 * a traffic amplifier by a spoofed source. A remote client that wants a long answer must pad its
 * request (zero bytes after the data; they are ignored). When the answer does not fit, a remote
 * client gets a 12-byte error response (CERR_PERMISSION) instead, which is never larger than the
 * 12-byte minimum request.
 *
 * The function is pure apart from calling `getSnapshot`: the daemon owns the socket.
 */
import type { DaemonSnapshot, SelectionVerdict, SourceSnapshot, SystemSnapshot } from '../system/snapshot.js';
import type { Endpoint } from '../system/types.js';
import {
  mruAnswer,
  mruNonce,
  nonceValid,
  parseMruRequest,
  statsVariables,
  UNTRACKED_STATS,
} from './mode6-stats.js';

export const MODE6_HEADER = 12;
/** Data bytes per fragment (ntpd's CTL_MAX_DATA_LEN). */
export const MODE6_MAX_DATA = 468;

export const Opcode = {
  READSTAT: 1,
  READVAR: 2,
  WRITEVAR: 3,
  READCLOCK: 4,
  WRITECLOCK: 5,
  SETTRAP: 6,
  ASYNCMSG: 7,
  CONFIGURE: 8,
  SAVECONFIG: 9,
  READMRU: 10,
  READ_ORDLIST_A: 11,
  REQ_NONCE: 12,
  UNSETTRAP: 31,
} as const;

export const ControlError = {
  UNSPEC: 0,
  PERMISSION: 1,
  BADFMT: 2,
  BADOP: 3,
  BADASSOC: 4,
  UNKNOWNVAR: 5,
  BADVALUE: 6,
  RESTRICT: 7,
} as const;

/** Peer status flag bits (high byte of the peer status word). */
const PST_CONFIG = 0x80;
const PST_AUTHENABLE = 0x40;
const PST_AUTHENTIC = 0x20;
const PST_REACH = 0x10;
const PST_BCAST = 0x08;

/** Selection codes of the peer status word, as ntpq shows them: " x.-+#*o". */
export function selectionCode(v: SelectionVerdict): number {
  switch (v) {
    case 'sys-peer':
      return 6;
    case 'combined':
      return 4;
    case 'outlier':
    case 'jittery':
      return 3;
    case 'excess':
      return 2;
    case 'falseticker':
      return 1;
    case 'unreachable':
    case 'bad-distance':
    case 'unsynchronised':
    case 'bad-stratum':
    case 'loop':
    case 'noselect':
    case 'pending':
      return 0;
  }
}

export interface Mode6Header {
  version: number;
  response: boolean;
  error: boolean;
  more: boolean;
  opcode: number;
  sequence: number;
  status: number;
  associd: number;
  offset: number;
  count: number;
}

export interface Mode6Packet extends Mode6Header {
  data: Uint8Array;
}

/** Decode a mode 6 datagram; null if it is not one (too short, wrong mode, count beyond the end). */
export function decodeMode6(b: Uint8Array): Mode6Packet | null {
  if (b.length < MODE6_HEADER) return null;
  const b0 = b[0] ?? 0;
  const b1 = b[1] ?? 0;
  if ((b0 & 7) !== 6) return null;
  const u16 = (i: number): number => ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
  const count = u16(10);
  if (MODE6_HEADER + count > b.length) return null;
  return {
    version: (b0 >> 3) & 7,
    response: (b1 & 0x80) !== 0,
    error: (b1 & 0x40) !== 0,
    more: (b1 & 0x20) !== 0,
    opcode: b1 & 0x1f,
    sequence: u16(2),
    status: u16(4),
    associd: u16(6),
    offset: u16(8),
    count,
    data: b.subarray(MODE6_HEADER, MODE6_HEADER + count),
  };
}

/** Encode a mode 6 datagram; the data is padded with zeros to a multiple of 4 bytes. */
export function encodeMode6(h: Mode6Header, data: Uint8Array): Uint8Array {
  const padded = (data.length + 3) & ~3;
  const out = new Uint8Array(MODE6_HEADER + padded);
  out[0] = ((h.version & 7) << 3) | 6;
  out[1] = (h.response ? 0x80 : 0) | (h.error ? 0x40 : 0) | (h.more ? 0x20 : 0) | (h.opcode & 0x1f);
  const put16 = (i: number, v: number): void => {
    out[i] = (v >> 8) & 0xff;
    out[i + 1] = v & 0xff;
  };
  put16(2, h.sequence);
  put16(4, h.status);
  put16(6, h.associd);
  put16(8, h.offset);
  put16(10, data.length);
  out.set(data, MODE6_HEADER);
  return out;
}

/** Is this address a loopback address (127/8, ::1, IPv4-mapped 127/8)? */
export function isLoopback(address: string): boolean {
  const a = address.toLowerCase();
  if (a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

// ---------------------------------------------------------------------------------------------
// Association IDs

/**
 * Stable 16-bit association IDs for the snapshot's sources: a numeric source id in 1..65535 is used
 * as is; other ids are hashed (FNV-1a) into 1..65535, collisions resolved by probing in id order.
 */
export function associationIds(sources: readonly SourceSnapshot[]): Map<number, SourceSnapshot> {
  const out = new Map<number, SourceSnapshot>();
  const sorted = [...sources].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const rest: SourceSnapshot[] = [];
  for (const s of sorted) {
    const n = /^\d{1,5}$/.test(s.id) ? Number(s.id) : 0;
    if (n >= 1 && n <= 65535 && !out.has(n)) out.set(n, s);
    else rest.push(s);
  }
  for (const s of rest) {
    let h = 0x811c9dc5;
    for (let i = 0; i < s.id.length; i++) {
      h ^= s.id.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    let id = (h % 65535) + 1;
    while (out.has(id)) id = (id % 65535) + 1;
    out.set(id, s);
  }
  // Present in snapshot order (configuration order), which ntpq lists as is.
  const ordered = new Map<number, SourceSnapshot>();
  for (const s of sources) {
    for (const [id, t] of out) if (t === s) ordered.set(id, s);
  }
  return ordered;
}

export function peerStatusWord(s: SourceSnapshot): number {
  let flags = 0;
  if (s.mode !== 'passive') flags |= PST_CONFIG;
  if (s.keyId !== null) flags |= PST_AUTHENABLE;
  if (s.auth === 'ok') flags |= PST_AUTHENTIC;
  if (s.reach !== 0) flags |= PST_REACH;
  if (s.mode === 'broadcast-client') flags |= PST_BCAST;
  return ((flags | selectionCode(s.verdict)) << 8) | 0;
}

export function systemStatusWord(sys: SystemSnapshot): number {
  const li = sys.synchronised ? sys.leap & 3 : 3;
  const source = sys.synchronised && sys.sysPeer !== null ? 6 : 0;
  return (li << 14) | (source << 8);
}

// ---------------------------------------------------------------------------------------------
// Variables

const NTP_UNIX_OFFSET = 2208988800;

/** NTP l_fp hex as ntpd prints it: 0xSSSSSSSS.FFFFFFFF (era 0 wrap). */
export function lfpHex(unixSeconds: number): string {
  const ntp = unixSeconds + NTP_UNIX_OFFSET;
  let sec = Math.floor(ntp);
  let frac = Math.round((ntp - sec) * 2 ** 32);
  if (frac >= 2 ** 32) {
    frac -= 2 ** 32;
    sec += 1;
  }
  const s = (((sec % 2 ** 32) + 2 ** 32) % 2 ** 32).toString(16).padStart(8, '0');
  return `0x${s}.${frac.toString(16).padStart(8, '0')}`;
}

function ms(seconds: number, digits = 6): string {
  return Number.isFinite(seconds) ? (seconds * 1e3).toFixed(digits) : '0.000000';
}

function quoted(s: string): string {
  return `"${s.replace(/["\\,]/g, '_')}"`;
}

function refidText(refid: string): string {
  // Keep the varlist parsable: no separators, quotes or spaces.
  const r = refid.replace(/[",=\s]/g, '');
  return r === '' ? '""' : r;
}

const HMODE: Record<SourceSnapshot['mode'], number> = {
  server: 3,
  peer: 1,
  passive: 2,
  'broadcast-client': 6,
  refclock: 3,
};
const PMODE: Record<SourceSnapshot['mode'], number> = {
  server: 4,
  peer: 1,
  passive: 1,
  'broadcast-client': 5,
  refclock: 4,
};

export function systemVariables(snap: DaemonSnapshot, ids: Map<number, SourceSnapshot>): [string, string][] {
  const sys = snap.system;
  let peer = 0;
  for (const [id, s] of ids) if (s.id === sys.sysPeer) peer = id;
  return [
    ['version', quoted(`ntpkit ${snap.version}`)],
    ['leap', String(sys.synchronised ? sys.leap : 3)],
    ['stratum', String(sys.stratum)],
    ['precision', String(sys.precision)],
    ['rootdelay', ms(sys.rootDelay, 3)],
    ['rootdisp', ms(sys.rootDispersion, 3)],
    ['rootdist', ms(sys.rootDistance, 3)],
    ['refid', refidText(sys.refid)],
    ['reftime', sys.referenceTime === null ? '0x00000000.00000000' : lfpHex(sys.referenceTime)],
    ['clock', lfpHex(sys.time)],
    ['peer', String(peer)],
    ['tc', String(sys.poll)],
    ['mintc', '0'],
    ['offset', ms(sys.offset)],
    ['frequency', sys.frequencyPpm.toFixed(3)],
    ['sys_jitter', ms(sys.jitter)],
    ['clk_jitter', ms(sys.jitter)],
    ['clk_wander', sys.wander.toFixed(3)],
    ['errbound', Number.isFinite(sys.errorBound) ? ms(sys.errorBound) : '-1'],
    ['clk_kind', quoted(sys.clock)],
    // ntpd's TAI-UTC offset from its leap file (0 when unknown), and the scheduled leap's midnight.
    ['tai', String(sys.taiUtc ?? 0)],
    [
      'leapsec',
      sys.leapPending === null || sys.leapPending === undefined ? '0' : lfpHex(sys.leapPending.midnight),
    ],
    ['clk_state', quoted(sys.clockState)],
    ...(sys.hostClockOffset === undefined
      ? []
      : [['hostoffset', ms(sys.hostClockOffset)] as [string, string]]),
    ['uptime', String(Math.floor(snap.uptime))],
  ];
}

export function peerVariables(snap: DaemonSnapshot, associd: number, s: SourceSnapshot): [string, string][] {
  const list = (f: (x: SourceSnapshot['filter'][number]) => number): string =>
    s.filter.map((x) => (f(x) * 1e3).toFixed(3)).join(' ');
  const vars: [string, string][] = [
    ['associd', String(associd)],
    ['status', `0x${peerStatusWord(s).toString(16).padStart(4, '0')}`],
    ['srcadr', s.address],
    ['srcport', String(s.port)],
  ];
  if (s.name !== null && s.name !== s.address) vars.push(['srchost', quoted(s.name)]);
  vars.push(
    ['leap', String(s.leap)],
    ['stratum', String(s.stratum)],
    ['precision', String(s.precision)],
    ['rootdelay', ms(s.rootDelay, 3)],
    ['rootdisp', ms(s.rootDispersion, 3)],
    ['refid', refidText(s.refid)],
  );
  if (s.when !== null) vars.push(['rec', lfpHex(snap.system.time - s.when)]);
  vars.push(
    ['reach', `0x${(s.reach & 0xff).toString(16).padStart(2, '0')}`],
    ['unreach', '0'],
    ['hmode', String(HMODE[s.mode])],
    ['pmode', String(PMODE[s.mode])],
    // NTPsec's ntpq 1.2.x crashes on negative poll exponents (it references a missing
    // ntp.magic.NTP_MINPOLL), so sub-second polls are reported as 0 here; the true interval is in
    // poll_s.
    ['hpoll', String(Math.max(0, s.poll))],
    ['ppoll', String(Math.max(0, s.peerPoll))],
    ['poll_s', String(2 ** s.poll)],
    ['headway', '0'],
    ['flash', '0x0'],
    ['keyid', String(s.keyId ?? 0)],
    ['offset', ms(s.offset)],
    ['delay', ms(s.delay)],
    ['dispersion', ms(s.dispersion)],
    ['jitter', ms(s.jitter)],
    ['rootdist', ms(s.rootDistance)],
    ['xleave', s.interleaved ? '1' : '0'],
    ['filtdelay', list((x) => x.delay)],
    ['filtoffset', list((x) => x.offset)],
    ['filtdisp', list((x) => x.dispersion)],
    ['verdict', quoted(s.verdict)],
    ['auth', quoted(s.auth)],
    ['sent', String(s.packetsSent)],
    ['received', String(s.packetsReceived)],
  );
  return vars;
}

/** name=value pairs joined as ntpd does: ", " between items, CRLF before a line gets long. */
export function formatVarlist(vars: readonly [string, string][]): string {
  let out = '';
  let line = 0;
  for (let i = 0; i < vars.length; i++) {
    const pair = vars[i];
    if (pair === undefined) continue;
    const item = pair[1] === '' ? pair[0] : `${pair[0]}=${pair[1]}`;
    if (i > 0) {
      out += ',';
      line += 1;
      if (line + 1 + item.length > 72) {
        out += '\r\n';
        line = 0;
      } else {
        out += ' ';
        line += 1;
      }
    }
    out += item;
    line += item.length;
  }
  return out;
}

/** Requested variable names ("a,b=1,c") from a READVAR request's data. */
function requestedNames(data: Uint8Array): string[] {
  const text = new TextDecoder('latin1').decode(data).replace(/\0+$/, '');
  return text
    .split(',')
    .map((t) => (t.split('=')[0] ?? '').trim())
    .filter((t) => t !== '');
}

// ---------------------------------------------------------------------------------------------
// The handler

export interface Mode6Options {
  /** Serve non-loopback clients (default false: they are dropped silently). */
  allowRemote: boolean;
  /** Data bytes per fragment (default 468; smaller values exercise fragmentation). */
  fragmentSize?: number;
}

/**
 * Answer one mode 6 request. Returns the response datagrams (one or more fragments), or null when
 * the request is dropped (not mode 6, a response, malformed, or refused for its source address).
 */
export function handleMode6(
  request: Uint8Array,
  from: Endpoint,
  getSnapshot: () => DaemonSnapshot,
  opts: Mode6Options,
): Uint8Array[] | null {
  const req = decodeMode6(request);
  if (req === null || req.response || req.version < 1 || req.version > 4) return null;
  const local = isLoopback(from.address);
  if (!local && !opts.allowRemote) return null;

  const base: Mode6Header = {
    version: req.version,
    response: true,
    error: false,
    more: false,
    opcode: req.opcode,
    sequence: req.sequence,
    status: 0,
    associd: req.associd,
    offset: 0,
    count: 0,
  };
  const error = (code: number): Uint8Array[] => [
    encodeMode6({ ...base, error: true, status: (code & 0xff) << 8 }, new Uint8Array(0)),
  ];

  let status = 0;
  let payload: Uint8Array;
  switch (req.opcode) {
    case Opcode.READSTAT: {
      const snap = getSnapshot();
      const ids = associationIds(snap.system.sources);
      if (req.associd === 0) {
        status = systemStatusWord(snap.system);
        payload = new Uint8Array(ids.size * 4);
        let i = 0;
        for (const [id, s] of ids) {
          const w = peerStatusWord(s);
          payload.set([id >> 8, id & 0xff, w >> 8, w & 0xff], i);
          i += 4;
        }
      } else {
        const s = ids.get(req.associd);
        if (s === undefined) return error(ControlError.BADASSOC);
        status = peerStatusWord(s);
        payload = new TextEncoder().encode(formatVarlist(peerVariables(snap, req.associd, s)));
      }
      break;
    }
    case Opcode.READVAR: {
      const snap = getSnapshot();
      const ids = associationIds(snap.system.sources);
      let vars: [string, string][];
      if (req.associd === 0) {
        status = systemStatusWord(snap.system);
        vars = systemVariables(snap, ids);
      } else {
        const s = ids.get(req.associd);
        if (s === undefined) return error(ControlError.BADASSOC);
        status = peerStatusWord(s);
        vars = peerVariables(snap, req.associd, s);
      }
      const names = requestedNames(req.data);
      if (names.length > 0) {
        const byName = new Map(req.associd === 0 ? [...vars, ...statsVariables(snap)] : vars);
        const picked: [string, string][] = [];
        for (const n of names) {
          if (req.associd === 0 && UNTRACKED_STATS.has(n)) continue;
          const v = byName.get(n);
          if (v === undefined) return error(ControlError.UNKNOWNVAR);
          picked.push([n, v]);
        }
        vars = picked;
      }
      payload = new TextEncoder().encode(formatVarlist(vars));
      break;
    }
    case Opcode.REQ_NONCE:
      payload = new TextEncoder().encode(`nonce=${mruNonce(from.address, getSnapshot().system.time)}`);
      break;
    case Opcode.READMRU: {
      const snap = getSnapshot();
      const mru = parseMruRequest(new TextDecoder('latin1').decode(req.data).replace(/\0+$/, ''));
      if (mru.nonce === null || !nonceValid(mru.nonce, from.address, snap.system.time))
        return error(ControlError.BADVALUE);
      const frags = Math.max(1, Math.min(32, mru.frags ?? 32));
      const budget = frags * (opts.fragmentSize ?? MODE6_MAX_DATA);
      const fresh = mruNonce(from.address, snap.system.time);
      const vars = mruAnswer(snap, mru, fresh, budget, lfpHex);
      if (vars === null) return error(ControlError.UNKNOWNVAR);
      payload = new TextEncoder().encode(formatVarlist(vars));
      break;
    }
    case Opcode.WRITEVAR:
    case Opcode.WRITECLOCK:
    case Opcode.SETTRAP:
    case Opcode.UNSETTRAP:
    case Opcode.CONFIGURE:
    case Opcode.SAVECONFIG:
      return error(ControlError.PERMISSION);
    default:
      return error(ControlError.BADOP);
  }

  const size = Math.max(4, Math.min(MODE6_MAX_DATA, opts.fragmentSize ?? MODE6_MAX_DATA)) & ~3;
  const out: Uint8Array[] = [];
  let off = 0;
  do {
    const chunk = payload.subarray(off, off + size);
    const more = off + chunk.length < payload.length;
    out.push(encodeMode6({ ...base, status, more, offset: off }, chunk));
    off += chunk.length;
  } while (off < payload.length && off < 0x10000);

  if (!local) {
    const total = out.reduce((n, p) => n + p.length, 0);
    if (total > request.length) return error(ControlError.PERMISSION);
  }
  return out;
}
