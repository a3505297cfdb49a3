/**
 * The server guard: every request the daemon's server receives passes through `ServerGuard.check`
 * before any response is built. It decides, per datagram, from the source address, the request
 * length and the raw counter:
 *
 *   1. length   — datagrams shorter than an NTP header (48 bytes) are dropped ('short');
 *   2. access   — an ordered allow/deny list of CIDR prefixes, first match wins ('denied');
 *   3. clients  — a bounded client table (fixed maximum number of records, least recently seen
 *                 evicted first; chrony's clientlog keeps the same kind of table);
 *   4. rate     — a per-client token bucket in the manner of chrony's `ratelimit interval I burst B
 *                 leak L`: a client may send on average one request per 2^I s with bursts of B;
 *                 above that its requests are limited: a random 1 in 2^L is still served ("leak",
 *                 so a spoofer cannot cut a victim off completely), the rest get a KoD RATE (when
 *                 `kod` is on, at most one per client per 2^kodInterval s so the KoDs themselves
 *                 cannot be used for reflection) or nothing.
 *
 * No amplification: an unauthenticated response is never longer than its request;
 * `allowedResponseLength` / `checkResponse` implement that rule for the daemon.
 *
 * Refusals are counted by `RejectReason` in `stats().invalid`. The server decision
 * (src/serve/server.ts) is the one caller for NTP; the legacy UDP services use it for their limit.
 *
 * Sans-IO: time is the raw counter (ns) passed in; randomness is injected (`random`), and a
 * limiter that leaks needs it: there is no built-in (predictable) generator.
 */
import type { RawTime } from '../clock/types.js';
import type { ClientSnapshot, ServerStats } from '../system/snapshot.js';
import type { Endpoint } from '../system/types.js';
import {
  type AccessDecision,
  AccessList,
  type AccessRule,
  clientKey,
  type IpAddress,
  parseAddress,
} from './cidr.js';
import { countReason, type RejectReason } from './reasons.js';

/** The NTP header length: the smallest valid request. */
export const NTP_HEADER_LENGTH = 48;

export interface RateLimitConfig {
  /** log2 of the average interval (s) a client may send at (chrony `interval`, -19..12). Default 3 (8 s). */
  interval: number;
  /** Requests a client may send in a burst above the average (chrony `burst`). Default 8. */
  burst: number;
  /**
   * log2 of the inverse probability that a limited request is served anyway (chrony `leak`):
   * 2 serves a random 1 in 4. 0 disables leaking (every limited request is refused). Default 2.
   */
  leak: number;
  /** Answer limited requests with a KoD RATE instead of silence. Default true. */
  kod: boolean;
  /** log2 s: at most one KoD per client per 2^kodInterval seconds; the others are dropped. Default 0 (1 s). */
  kodInterval: number;
}

export const DEFAULT_RATE_LIMIT: Readonly<RateLimitConfig> = {
  interval: 3,
  burst: 8,
  leak: 2,
  kod: true,
  kodInterval: 0,
};

export interface GuardConfig {
  /**
   * Access control. Either an ordered `rules` list, or the `allow` / `deny` convenience lists,
   * which become the rules "every deny entry, then every allow entry". The first rule whose
   * prefix contains the source address decides. Entries are `ADDR`, `ADDR/PREFIX` (IPv4 or IPv6)
   * or `all`. An address no rule matches gets `defaultAction`; its default is `deny` when an allow
   * list (or an allow rule) is given, else `allow` — so an empty config allows everybody.
   */
  allow?: readonly string[];
  deny?: readonly string[];
  rules?: readonly AccessRule[];
  defaultAction?: 'allow' | 'deny';
  /** Maximum number of client records (fixed memory). Default 4096. Minimum 1. */
  clientTableSize?: number;
  /** IPv6 clients are tracked per prefix of this length. Default 64. 128 tracks each address. */
  ipv6ClientPrefix?: number;
  /** Rate limiting; off when absent or null (as in chrony). `{}` enables it with the defaults. */
  rateLimit?: Partial<RateLimitConfig> | null;
  /**
   * Backstop for table churn: at most this many answers (responses and KoDs) per second over all
   * clients together, with a burst of one second's worth; beyond it requests are dropped
   * ('global-rate'). Per-client limits alone fail when a spoofer cycles through more addresses
   * than the table holds (every request then finds a fresh, full bucket). 0 or absent: off.
   */
  maxResponseRate?: number;
  /** Requests shorter than this are dropped. Default 48 (the NTP header). */
  minRequestLength?: number;
  /** Uniform random in [0, 1) for the leak decision; required when rate limiting leaks. */
  random?: () => number;
}

export type GuardAction = 'serve' | 'kod' | 'drop';

export interface GuardDecision {
  action: GuardAction;
  /** Why: `ok`, `leak` (served), `rate-kod` (KoD), or the reason of a drop. */
  reason: 'ok' | 'leak' | RejectReason;
  /** For `denied`: the rule that decided, e.g. `deny 10.0.0.0/8`, `default deny`. */
  rule?: string;
}

interface ClientRecord {
  key: string;
  /** Last source address seen under this key (display), and its port. */
  address: string;
  port: number;
  requests: number;
  firstSeen: number;
  lastSeen: number;
  tokens: number;
  lastKod: number;
  kodSent: number;
  dropped: number;
  limited: number;
  interleaved: boolean;
}

const SERVE_OK: GuardDecision = Object.freeze({ action: 'serve', reason: 'ok' });
const SERVE_LEAK: GuardDecision = Object.freeze({ action: 'serve', reason: 'leak' });
const KOD_RATE: GuardDecision = Object.freeze({ action: 'kod', reason: 'rate-kod' });
const DROP_RATE: GuardDecision = Object.freeze({ action: 'drop', reason: 'rate' });
const DROP_RATE_KOD_LIMIT: GuardDecision = Object.freeze({ action: 'drop', reason: 'rate-kod-limit' });
const DROP_SHORT: GuardDecision = Object.freeze({ action: 'drop', reason: 'short' });
const DROP_BAD_ADDRESS: GuardDecision = Object.freeze({ action: 'drop', reason: 'bad-address' });
const DROP_GLOBAL: GuardDecision = Object.freeze({ action: 'drop', reason: 'global-rate' });

/**
 * The no-amplification rule: the longest response the server may send to a request of
 * `requestLength` bytes. Unauthenticated: never more than the request. Authenticated (MAC or NTS
 * verified): no limit from this rule.
 */
export function allowedResponseLength(requestLength: number, authenticated: boolean): number {
  return authenticated ? Number.POSITIVE_INFINITY : Math.max(0, requestLength);
}

function buildRules(cfg: GuardConfig): { rules: AccessRule[]; defaultAllow: boolean } {
  const hasLists = (cfg.allow?.length ?? 0) > 0 || (cfg.deny?.length ?? 0) > 0;
  if (cfg.rules !== undefined && cfg.rules.length > 0 && hasLists) {
    throw new Error('access control: give either rules or allow/deny lists, not both');
  }
  const rules: AccessRule[] =
    cfg.rules !== undefined && cfg.rules.length > 0
      ? [...cfg.rules]
      : [
          ...(cfg.deny ?? []).map((cidr): AccessRule => ({ action: 'deny', cidr })),
          ...(cfg.allow ?? []).map((cidr): AccessRule => ({ action: 'allow', cidr })),
        ];
  const anyAllow = rules.some((r) => r.action === 'allow');
  const defaultAllow = cfg.defaultAction !== undefined ? cfg.defaultAction === 'allow' : !anyAllow;
  return { rules, defaultAllow };
}

function resolveRateLimit(r: Partial<RateLimitConfig> | null | undefined): RateLimitConfig | null {
  if (r === undefined || r === null) return null;
  const out: RateLimitConfig = { ...DEFAULT_RATE_LIMIT, ...stripUndefined(r) };
  if (!Number.isInteger(out.interval) || out.interval < -19 || out.interval > 12) {
    throw new RangeError(`rate limit interval must be an integer in -19..12 (log2 s), got ${out.interval}`);
  }
  if (!Number.isInteger(out.burst) || out.burst < 1 || out.burst > 65535) {
    throw new RangeError(`rate limit burst must be an integer in 1..65535, got ${out.burst}`);
  }
  if (!Number.isInteger(out.leak) || out.leak < 0 || out.leak > 1024) {
    throw new RangeError(`rate limit leak must be an integer in 0..1024 (log2), got ${out.leak}`);
  }
  if (!Number.isInteger(out.kodInterval) || out.kodInterval < -19 || out.kodInterval > 12) {
    throw new RangeError(`rate limit kodInterval must be an integer in -19..12, got ${out.kodInterval}`);
  }
  return out;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

function emptyStats(): ServerStats {
  return {
    requests: 0,
    responses: 0,
    interleavedResponses: 0,
    kodSent: 0,
    rateLimited: 0,
    denied: 0,
    dropped: 0,
    invalid: {},
    clientsTracked: 0,
  };
}

export class ServerGuard {
  private access!: AccessList;
  private deniedDecisions = new Map<string, GuardDecision>();
  private rate: RateLimitConfig | null = null;
  private capacity = 4096;
  private v6Prefix = 64;
  private minLength = NTP_HEADER_LENGTH;
  private random: (() => number) | null = null;
  /** Insertion order = recency order: the first entry is the least recently seen. */
  private readonly table = new Map<string, ClientRecord>();
  private readonly counters: ServerStats = emptyStats();
  private base: RawTime | null = null;
  /** Parsed source addresses and their table keys (bounded; cleared when full or reconfigured). */
  private readonly addrCache = new Map<string, { a: IpAddress; key: string }>();
  private leakThreshold = 0;
  private globalRate = 0;
  private globalTokens = 0;
  private globalLast = 0;

  constructor(cfg: GuardConfig = {}) {
    this.reconfigure(cfg);
  }

  /**
   * Applies a new configuration (SIGHUP) keeping the client table and counters. A smaller table
   * size evicts the least recently seen clients now. Throws on an invalid prefix or limit.
   */
  reconfigure(cfg: GuardConfig): void {
    const { rules, defaultAllow } = buildRules(cfg);
    const access = new AccessList(rules, defaultAllow);
    const rate = resolveRateLimit(cfg.rateLimit);
    const capacity = cfg.clientTableSize ?? 4096;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`clientTableSize must be a positive integer, got ${capacity}`);
    }
    const v6Prefix = cfg.ipv6ClientPrefix ?? 64;
    if (!Number.isInteger(v6Prefix) || v6Prefix < 0 || v6Prefix > 128) {
      throw new RangeError(`ipv6ClientPrefix must be an integer in 0..128, got ${v6Prefix}`);
    }
    this.access = access;
    this.deniedDecisions = new Map();
    this.rate = rate;
    this.leakThreshold = rate !== null && rate.leak > 0 ? 2 ** -rate.leak : 0;
    if (v6Prefix !== this.v6Prefix) this.table.clear();
    this.addrCache.clear();
    this.v6Prefix = v6Prefix;
    this.capacity = capacity;
    this.minLength = cfg.minRequestLength ?? NTP_HEADER_LENGTH;
    const gr = cfg.maxResponseRate ?? 0;
    if (!(gr >= 0) || !Number.isFinite(gr)) throw new RangeError(`maxResponseRate must be ≥ 0, got ${gr}`);
    if (gr !== this.globalRate) this.globalTokens = gr;
    this.globalRate = gr;
    if (cfg.random !== undefined) this.random = cfg.random;
    if (this.leakThreshold > 0 && this.random === null)
      throw new RangeError('rate limit leak needs a random source (GuardConfig.random)');
    while (this.table.size > this.capacity) this.evictOldest();
  }

  /** Forgets every client (`ntpkit reset-clients`); the counters stay. Returns how many were tracked. */
  resetClients(): number {
    const n = this.table.size;
    this.table.clear();
    this.addrCache.clear();
    return n;
  }

  /** Whether rate limiting is on, and with which parameters. */
  rateLimit(): Readonly<RateLimitConfig> | null {
    return this.rate;
  }

  /** Access check only (no counting, no rate limit): for packets that are not requests to our server. */
  checkAccess(address: string): AccessDecision {
    const a = parseAddress(address);
    if (a === null) return { allowed: false, rule: 'bad-address' };
    return this.access.check(a);
  }

  /** The access list for `address` without counting: null when allowed, else why not. */
  admit(address: string): 'bad-address' | 'denied' | null {
    const p = this.parse(address);
    if (p === null) return 'bad-address';
    return this.access.check(p.a).allowed ? null : 'denied';
  }

  /** Counts a datagram refused outside `check` (another mode, another service). */
  refuse(reason: RejectReason): void {
    const c = this.counters;
    c.dropped++;
    if (reason === 'denied') c.denied++;
    countReason(c.invalid, reason);
  }

  /**
   * A request `check` admitted (to serve or to KoD) that got nothing after all (undecodable, an
   * NTS request refused, the amplification rule): moved from the responses (or KoDs) to the drops.
   */
  recordUnanswered(from: Endpoint, reason: RejectReason, wasKod: boolean): void {
    const c = this.counters;
    const rec = this.lookup(from.address);
    if (wasKod) {
      c.kodSent--;
      if (rec !== undefined) rec.kodSent--;
    } else c.responses--;
    if (rec !== undefined) rec.dropped++;
    c.dropped++;
    countReason(c.invalid, reason);
  }

  /**
   * Decides what to do with one request. Call it for every datagram that asks our server for time
   * (mode 3, and mode 1 from a source that is not a configured peer), before decoding it fully.
   * Counts it in the statistics and the client table.
   */
  check(raw: RawTime, from: Endpoint, requestLength: number): GuardDecision {
    return this.checkAt(this.seconds(raw), from, requestLength);
  }

  /** Seconds on the guard's own time line at raw counter `raw` (for `checkAt`, once per batch). */
  secondsAt(raw: RawTime): number {
    return this.seconds(raw);
  }

  /** `check` with the time given as `secondsAt(raw)` (a batch of requests shares one reading). */
  checkAt(now: number, from: Endpoint, requestLength: number): GuardDecision {
    const d = this.decide(now, from, requestLength);
    if (this.globalRate === 0 || d.action === 'drop') return d;
    const dt = now - this.globalLast;
    this.globalLast = now;
    if (dt > 0) this.globalTokens = Math.min(this.globalRate, this.globalTokens + dt * this.globalRate);
    if (this.globalTokens >= 1) {
      this.globalTokens -= 1;
      return d;
    }
    const c = this.counters;
    const rec = this.lookup(from.address);
    if (d.action === 'kod') {
      c.kodSent--;
      if (rec !== undefined) rec.kodSent--;
    } else c.responses--;
    if (rec !== undefined) rec.dropped++;
    c.dropped++;
    countReason(c.invalid, 'global-rate');
    return DROP_GLOBAL;
  }

  private decide(now: number, from: Endpoint, requestLength: number): GuardDecision {
    const c = this.counters;
    c.requests++;
    if (requestLength < this.minLength) {
      c.dropped++;
      countReason(c.invalid, 'short');
      return DROP_SHORT;
    }
    const parsed = this.parse(from.address);
    if (parsed === null) {
      c.dropped++;
      countReason(c.invalid, 'bad-address');
      return DROP_BAD_ADDRESS;
    }
    const acc = this.access.check(parsed.a);
    if (!acc.allowed) {
      c.denied++;
      c.dropped++;
      countReason(c.invalid, 'denied');
      return this.deniedDecision(acc.rule);
    }
    const rec = this.touch(parsed.key, from.address, now);
    rec.port = from.port;
    rec.requests++;
    const elapsed = now - rec.lastSeen;
    rec.lastSeen = now;
    const rate = this.rate;
    if (rate === null) {
      c.responses++;
      return SERVE_OK;
    }
    // Token bucket: one token per 2^interval s, at most `burst` tokens; a request costs one.
    const period = 2 ** rate.interval;
    if (elapsed > 0) rec.tokens = Math.min(rate.burst, rec.tokens + elapsed / period);
    if (rec.tokens >= 1) {
      rec.tokens -= 1;
      c.responses++;
      return SERVE_OK;
    }
    c.rateLimited++;
    rec.limited++;
    if (this.leakThreshold > 0 && this.random !== null && this.random() < this.leakThreshold) {
      c.responses++;
      return SERVE_LEAK;
    }
    if (rate.kod && now - rec.lastKod >= 2 ** rate.kodInterval) {
      rec.lastKod = now;
      rec.kodSent++;
      c.kodSent++;
      return KOD_RATE;
    }
    rec.dropped++;
    c.dropped++;
    const d = rate.kod ? DROP_RATE_KOD_LIMIT : DROP_RATE;
    countReason(c.invalid, d.reason as RejectReason);
    return d;
  }

  /**
   * The no-amplification rule for a response about to be sent: true when it may go. When it may
   * not, the request is counted as dropped (reason `amplification`) and the daemon must not send.
   */
  checkResponse(
    from: Endpoint,
    requestLength: number,
    responseLength: number,
    authenticated: boolean,
  ): boolean {
    if (responseLength <= allowedResponseLength(requestLength, authenticated)) return true;
    const c = this.counters;
    c.responses--;
    c.dropped++;
    countReason(c.invalid, 'amplification');
    const rec = this.lookup(from.address);
    if (rec !== undefined) rec.dropped++;
    return false;
  }

  /** The longest response allowed for a request (see `allowedResponseLength`). */
  allowedResponseLength(requestLength: number, authenticated: boolean): number {
    return allowedResponseLength(requestLength, authenticated);
  }

  /** Records that a served request was answered in interleaved mode. */
  recordResponse(from: Endpoint, info: { interleaved: boolean }): void {
    if (!info.interleaved) return;
    this.counters.interleavedResponses++;
    const rec = this.lookup(from.address);
    if (rec !== undefined) rec.interleaved = true;
  }

  /**
   * Records that a request `check` had let through turned out invalid (bad version, mode, MAC...)
   * and got no response. Pass `servedByCheck = false` for packets that never went through `check`.
   */
  recordInvalid(reason: RejectReason, servedByCheck = true): void {
    const c = this.counters;
    countReason(c.invalid, reason);
    if (servedByCheck) {
      c.responses--;
      c.dropped++;
    }
  }

  /** The live counters (not a copy; `invalid` as of now, `clientsTracked` not kept current). */
  liveCounters(): Readonly<ServerStats> {
    return this.counters;
  }

  /** Server statistics (a copy). */
  stats(): ServerStats {
    const c = this.counters;
    return { ...c, invalid: { ...c.invalid }, clientsTracked: this.table.size };
  }

  /** The client table, most active first. */
  clients(raw: RawTime): ClientSnapshot[] {
    const now = this.seconds(raw);
    const out: ClientSnapshot[] = [];
    for (const r of this.table.values()) {
      out.push({
        address: r.key === r.address ? r.address : `${r.address} (${r.key})`,
        port: r.port,
        firstSeen: Math.max(0, now - r.firstSeen),
        requests: r.requests,
        lastSeen: Math.max(0, now - r.lastSeen),
        interval: r.requests > 1 ? (r.lastSeen - r.firstSeen) / (r.requests - 1) : null,
        kodSent: r.kodSent,
        dropped: r.dropped,
        interleaved: r.interleaved,
      });
    }
    out.sort((a, b) => b.requests - a.requests || a.lastSeen - b.lastSeen);
    return out;
  }

  /** Number of client records (≤ clientTableSize). */
  get clientCount(): number {
    return this.table.size;
  }

  private deniedDecision(rule: string): GuardDecision {
    let d = this.deniedDecisions.get(rule);
    if (d === undefined) {
      d = Object.freeze({ action: 'drop', reason: 'denied', rule });
      this.deniedDecisions.set(rule, d);
    }
    return d;
  }

  private seconds(raw: RawTime): number {
    if (this.base === null) this.base = raw;
    return Number(raw - this.base) / 1e9;
  }

  private parse(text: string): { a: IpAddress; key: string } | null {
    let p = this.addrCache.get(text);
    if (p !== undefined) return p;
    const a = parseAddress(text);
    if (a === null) return null;
    // A plain dotted quad is its own key.
    const key = a.family === 4 && !text.includes(':') ? text : clientKey(a, this.v6Prefix);
    p = { a, key };
    if (this.addrCache.size >= Math.max(1024, this.capacity)) this.addrCache.clear();
    this.addrCache.set(text, p);
    return p;
  }

  private lookup(address: string): ClientRecord | undefined {
    const p = this.parse(address);
    return p === null ? undefined : this.table.get(p.key);
  }

  private touch(key: string, text: string, now: number): ClientRecord {
    const t = this.table;
    let rec = t.get(key);
    if (rec !== undefined) {
      // Move to the most recent end (Map keeps insertion order).
      t.delete(key);
      t.set(key, rec);
      rec.address = text;
      return rec;
    }
    if (t.size >= this.capacity) this.evictOldest();
    rec = {
      key,
      address: text,
      port: 0,
      requests: 0,
      firstSeen: now,
      lastSeen: now,
      tokens: this.rate?.burst ?? 0,
      lastKod: Number.NEGATIVE_INFINITY,
      kodSent: 0,
      dropped: 0,
      limited: 0,
      interleaved: false,
    };
    t.set(key, rec);
    return rec;
  }

  private evictOldest(): void {
    const first = this.table.keys().next();
    if (!first.done) this.table.delete(first.value);
  }
}
