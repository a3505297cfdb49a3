/**
 * The mode 6 answers behind ntpq's `sysstats`, `monstats`, `iostats`, `authinfo` (variables read by
 * name only) and `mrulist` (REQ_NONCE then READ_MRU over the server's client table), from the one
 * DaemonSnapshot. Counters ntpkit does not keep (ntpd's receive buffers, per-version counts, …) are
 * left out of the answer rather than invented; ntpq then skips their lines.
 */
import type { ClientSnapshot, DaemonSnapshot } from '../system/snapshot.js';

/** ntpd statistics variables that ntpkit has no counter for: omitted from answers, not an error. */
export const UNTRACKED_STATS: ReadonlySet<string> = new Set([
  ...['ss_thisver', 'ss_oldver', 'ss_ver1', 'ss_ver1client', 'ss_ver1zero', 'ss_ver1symm'].flatMap((n) => [
    n,
    `${n}_r`,
  ]),
  'mru_hashslots',
  'mru_deepest',
  'mru_mindepth',
  'mru_maxage',
  'mru_minage',
  'mru_mem',
  'mru_maxmem',
  'mru_exists',
  'mru_new',
  'mru_recycleold',
  'mru_recyclefull',
  'mru_none',
  'total_rbuf',
  'free_rbuf',
  'used_rbuf',
  'rbuf_lowater',
  'io_sendfailed',
  'io_wakeups',
  'io_goodwakeups',
  'authkeys',
  'authfreek',
  'authklookups',
  'authkuncached',
  'authkexpired',
  'authencrypts',
  'authdigestencrypts',
  'authcmacencrypts',
  'authdecrypts',
  'authdigestdecrypts',
  'authcmacdecrypts',
  'authcmacfails',
  'timerstats_reset',
  'timer_overruns',
  'timer_xmts',
]);

function sum(values: Iterable<number>): number {
  let n = 0;
  for (const v of values) n += v;
  return n;
}

/** sysstats / monstats / iostats / authinfo variables that ntpkit keeps (integers, as ntpd sends them). */
export function statsVariables(snap: DaemonSnapshot): [string, string][] {
  const srv = snap.server;
  const invalid = Object.entries(srv.invalid);
  const authFails = sum(invalid.filter(([k]) => k.startsWith('auth-')).map(([, v]) => v));
  const badFormat = sum(invalid.filter(([k]) => !k.startsWith('auth-')).map(([, v]) => v));
  const up = String(Math.floor(snap.uptime));
  const ts = snap.timestamping;
  const received = ts === undefined ? srv.requests + badFormat : ts.rxKernel + ts.rxUser;
  const sent = srv.responses + srv.kodSent + sum(snap.system.sources.map((s) => s.packetsSent));
  const oldest = snap.clients.reduce((m, c) => Math.max(m, c.lastSeen), 0);
  const vars: [string, number | string][] = [
    ['ss_uptime', up],
    ['ss_reset', up],
    ['ss_received', received],
    ['ss_badformat', badFormat],
    ['ss_badauth', authFails],
    ['ss_declined', srv.dropped],
    ['ss_restricted', srv.denied],
    ['ss_limited', srv.rateLimited],
    ['ss_kodsent', srv.kodSent],
    ['ss_processed', srv.responses],
    ['mru_enabled', 1],
    ['mru_depth', snap.clients.length],
    ['mru_maxdepth', srv.clientsTracked],
    ['mru_oldest_age', Math.floor(oldest)],
    ['iostats_reset', up],
    ['io_received', received],
    ['io_sent', sent],
    ['io_dropped', srv.dropped + srv.rateLimited + srv.denied],
    ['io_ignored', badFormat],
    ['authreset', up],
    ['authknotfound', srv.invalid['auth-unknown-key'] ?? 0],
    ['authdigestfails', authFails],
  ];
  if (srv.controlRequests !== undefined) vars.push(['ss_numctlreq', srv.controlRequests]);
  // ntpq's second sysstats table asks NAME_r too: the counts since the last reset, which ntpkit never does.
  for (const [k, v] of vars.slice()) if (k.startsWith('ss_') && k !== 'ss_uptime') vars.push([`${k}_r`, v]);
  return vars.map(([k, v]) => [k, String(Math.round(Number(v)))]);
}

// ---------------------------------------------------------------------------------------------
// MRU list

/** Seconds a nonce stays valid (ntpd: 16). */
const NONCE_LIFETIME = 16;

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * A nonce bound to the client's address and the time (NTP seconds, hex): a READ_MRU must quote a
 * recent one from the same address, so that an answer goes where the request came from. (Remote
 * answers are also capped at the request's size by handleMode6.)
 */
export function mruNonce(address: string, unixTime: number): string {
  const t = Math.floor(unixTime).toString(16).padStart(8, '0');
  return `${t}${fnv1a(`${address}/${t}`).toString(16).padStart(8, '0')}`;
}

export function nonceValid(nonce: string, address: string, unixTime: number): boolean {
  if (!/^[0-9a-f]{16}$/.test(nonce)) return false;
  const t = Number.parseInt(nonce.slice(0, 8), 16);
  const age = Math.floor(unixTime) - t;
  return age >= 0 && age <= NONCE_LIFETIME && mruNonce(address, t) === nonce;
}

/** "addr" as ntpd writes it: a.b.c.d:port or [v6]:port. The client table's address may carry its prefix key. */
function mruAddress(c: ClientSnapshot): string {
  const a = c.address.split(' ')[0] ?? c.address;
  return a.includes(':') ? `[${a}]:${c.port ?? 0}` : `${a}:${c.port ?? 0}`;
}

export interface MruRequest {
  nonce: string | null;
  /** Fragments (of 468 bytes) the answer may use, or rows (`limit`). */
  frags: number | null;
  limit: number | null;
  mincount: number;
  /** The newest entries the client already has (addr.N, last.N): continue after them. */
  prior: { addr: string; last: string }[];
}

/** Parses a READ_MRU request's data ("nonce=…, frags=32, addr.0=…, last.0=…"). */
export function parseMruRequest(text: string): MruRequest {
  const r: MruRequest = { nonce: null, frags: null, limit: null, mincount: 0, prior: [] };
  const addrs = new Map<string, string>();
  const lasts = new Map<string, string>();
  for (const item of text.split(',')) {
    const [k = '', v = ''] = item.split('=').map((x) => x.trim());
    if (k === 'nonce') r.nonce = v;
    else if (k === 'frags') r.frags = Number(v);
    else if (k === 'limit') r.limit = Number(v);
    else if (k === 'mincount') r.mincount = Number(v) || 0;
    else if (k.startsWith('addr.')) addrs.set(k.slice(5), v);
    else if (k.startsWith('last.')) lasts.set(k.slice(5), v);
  }
  for (const [i, addr] of addrs) r.prior.push({ addr, last: lasts.get(i) ?? '' });
  return r;
}

/**
 * The READ_MRU answer: entries oldest first after the prior ones, as many as fit in `budget` bytes,
 * then `now=` and `last.newest=` once the list is complete. Null: none of the prior entries is known
 * (ntpq then starts again from the beginning).
 */
export function mruAnswer(
  snap: DaemonSnapshot,
  req: MruRequest,
  nonce: string,
  budget: number,
  lfpHex: (unixSeconds: number) => string,
): [string, string][] | null {
  const now = snap.system.time;
  const list = snap.clients
    .filter((c) => c.requests >= req.mincount)
    .sort((a, b) => b.lastSeen - a.lastSeen || a.address.localeCompare(b.address));
  let start = 0;
  if (req.prior.length > 0) {
    const known = req.prior.map((p) => list.findIndex((c) => mruAddress(c) === p.addr)).filter((i) => i >= 0);
    if (known.length === 0) return null;
    start = Math.max(...known) + 1;
  }
  const out: [string, string][] = [['nonce', nonce]];
  let used = nonce.length + 8;
  const maxRows = req.limit ?? Number.POSITIVE_INFINITY;
  let i = start;
  let row = 0;
  for (; i < list.length && row < maxRows; i++, row++) {
    const c = list[i];
    if (c === undefined) break;
    const first =
      c.firstSeen ?? (c.interval === null ? c.lastSeen : c.lastSeen + c.interval * (c.requests - 1));
    const entry: [string, string][] = [
      [`addr.${row}`, mruAddress(c)],
      [`last.${row}`, lfpHex(now - c.lastSeen)],
      [`first.${row}`, lfpHex(now - first)],
      [`ct.${row}`, String(c.requests)],
      [`mv.${row}`, String((4 << 3) | 3)],
      // ntpd's restriction bits: ntpkit's [access] rules are not expressed in them.
      [`rs.${row}`, '0x0'],
    ];
    const size = entry.reduce((n, [k, v]) => n + k.length + v.length + 3, 0);
    if (used + size > budget && row > 0) break;
    used += size;
    out.push(...entry);
  }
  if (i >= list.length) {
    const newest = list.at(-1);
    out.push(['now', lfpHex(now)]);
    if (newest !== undefined) out.push(['last.newest', lfpHex(now - newest.lastSeen)]);
  }
  return out;
}
