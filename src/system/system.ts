/**
 * The NTP system process (RFC 5905 sections 9-12): associations → clock filter → selection →
 * cluster → combine → discipline, plus the server responder and broadcast servers. Sans-IO: packets,
 * timer events and raw counter values in, actions out. The daemon and the simulator drive this same
 * class.
 */
import { cluster, merit } from '../algo/cluster.js';
import { combine } from '../algo/combine.js';
import { MINDISP, PHI } from '../algo/constants.js';
import { HuffPuff } from '../algo/huffpuff.js';
import { intersect } from '../algo/select.js';
import { type AssocContext, Association, type AssocOutput, type LocalStamp } from '../assoc/association.js';
import { BroadcastServer } from '../assoc/broadcast.js';
import { buildServerResponse, ServerResponder, type ServerState } from '../assoc/server.js';
import { addressRefid, checkAuth, KeyRing } from '../assoc/util.js';
import type { ClockChange, RawTime } from '../clock/types.js';
import type { CookieJar, NtsKeys } from '../nts/cookie.js';
import { buildNtsNak, buildNtsResponse, EF, type NtsServerContext, verifyNtsRequest } from '../nts/ntp.js';
import { type LockReference, RefclockSource, type SampleResult } from '../refclock/source.js';
import { type RefclockConfig, type RefclockSample, validateRefclockConfig } from '../refclock/types.js';
import { type NtpTime, ntpTimeToUnixNs, secondsToDuration, toTimestamp } from '../time/ntp-time.js';
import { clampPoll, MAXPOLL, POLL_LIMIT_LOW, secondsToShort } from '../time/short.js';
import { decodePacket, MODE, type NtpPacket } from '../wire/packet.js';
import { refidFromString, renderRefid } from '../wire/refid.js';
import type { FilterStage, SelectionVerdict, SourceSnapshot, SystemSnapshot } from './snapshot.js';
import type {
  Action,
  Endpoint,
  NtpEngine,
  SourceConfig,
  SourceMode,
  SystemConfig,
  SystemDeps,
  SystemEvent,
} from './types.js';

/** Defaults as RFC 5905 and chrony use them. */
export function defaultSystemConfig(): SystemConfig {
  return {
    minSane: 1,
    minClock: 3,
    maxClock: 10,
    maxDistance: 1.5,
    maxStratum: 16,
    localStratum: null,
    precision: -20,
    huffPuff: 0,
    allowPassive: false,
    broadcastClient: false,
    requireAuthForMobilise: true,
    interleavedTableSize: 1024,
    keys: [],
    broadcast: [],
  };
}

export function defaultSourceConfig(address: string, port = 123, mode: SourceMode = 'server'): SourceConfig {
  return {
    address,
    port,
    mode,
    minpoll: 6,
    maxpoll: 10,
    iburst: false,
    burst: false,
    prefer: false,
    noselect: false,
    xleave: false,
    version: 4,
  };
}

interface Verdict {
  verdict: SelectionVerdict;
  reason: string;
}

/** A source of the selection: a network association or a reference clock. */
type Peer = Association | RefclockSource;

function trusted(p: Peer): boolean {
  return p instanceof RefclockSource && p.cfg.trust;
}

const REFID_INIT = refidFromString('INIT');
const MAX_PENDING_TX = 4096;

function rawSeconds(raw: RawTime): number {
  return Number(raw) / 1e9;
}

export class NtpSystem implements NtpEngine {
  readonly config: SystemConfig;
  private readonly deps: SystemDeps;
  private readonly assocs = new Map<string, Association>();
  private readonly refclocks = new Map<string, RefclockSource>();
  private readonly broadcasters: BroadcastServer[];
  readonly server: ServerResponder;
  private readonly huffPuff: HuffPuff | null;
  private readonly pendingTx = new Map<number, (raw: RawTime) => void>();
  private nextTxId = 1;
  private lastTimer: RawTime | null = null;
  private readonly verdicts = new Map<string, Verdict>();
  private readonly ctx: AssocContext;
  private events: SystemEvent[] = [];
  /** Associations seen in a burst (to notice the end of one). */
  private readonly bursting = new Set<string>();
  /** Associations whose burst ended without a selection run since (its last response may be lost). */
  private readonly burstEnded = new Set<string>();
  private readonly randomBytes: (n: number) => Uint8Array;
  /** The configured symmetric keys with the host's crypto provider. */
  private readonly keyRing: KeyRing;
  /** NTS server: the cookie jar shared with the host's NTS-KE server (null = no NTS service). */
  private ntsJar: CookieJar | null = null;
  /** NTS server statistics. */
  readonly ntsServer = { requests: 0, responses: 0, naks: 0, rejected: 0 };

  // System variables (RFC 5905 section 11.3).
  private leap = 3;
  private stratum = 16;
  private refid = 0;
  private referenceTime: NtpTime | null = null;
  /** Counter value of the last clock update (s.t). */
  private updateRaw: RawTime | null = null;
  private rootDelay = 0;
  private rootDispersion = 0;
  private sysPeer: string | null = null;
  /** The last system peer before the current one (null: none yet). */
  private lastSysPeer: string | null = null;
  private sysOffset = 0;
  private sysJitter = 0;
  private lastUpdateEpoch = Number.NEGATIVE_INFINITY;
  private synchronised = false;
  private readonly unsubscribe: () => void;

  constructor(config: SystemConfig, deps: SystemDeps) {
    this.config = config;
    this.deps = deps;
    this.server = new ServerResponder(config.interleavedTableSize);
    this.broadcasters = config.broadcast.map((b) => new BroadcastServer(b));
    this.huffPuff = config.huffPuff > 0 ? new HuffPuff(config.huffPuff) : null;
    this.keyRing = new KeyRing(config.keys, deps.crypto);
    const unusable = this.keyRing.unsupported();
    if (unusable.length > 0)
      throw new RangeError(
        `${unusable.map((k) => `key ${k.id} (${k.type})`).join(', ')}: not available in ${deps.crypto.name}`,
      );
    this.randomBytes =
      deps.randomBytes ??
      ((n) => {
        const b = new Uint8Array(n);
        for (let i = 0; i < n; i++) b[i] = Math.floor(deps.random() * 256) & 0xff;
        return b;
      });
    this.ctx = {
      clock: deps.discipline.clock,
      random: deps.random,
      keys: this.keyRing,
      crypto: deps.crypto,
      precision: config.precision,
      serverState: (raw) => this.serverState(raw),
      systemPoll: () => deps.discipline.pollExponent(),
      correctOffset: (epoch, offset, delay) => {
        if (this.huffPuff === null) return offset;
        this.huffPuff.add(epoch, delay);
        return this.huffPuff.correct(offset, delay);
      },
      allocTxId: (onSent) => this.allocTxId(onSent),
      randomBytes: (n) => this.randomBytes(n),
    };
    this.unsubscribe = deps.discipline.clock.onChange((c) => this.onClockChange(c));
  }

  /** Stops listening to the clock (for hosts that create many engines over one clock). */
  dispose(): void {
    this.unsubscribe();
  }

  private onClockChange(c: ClockChange): void {
    if (c.kind !== 'step') return;
    // Every step of the clock is an event (the feed-forward clock steps by itself, outside update()).
    this.emit({ kind: 'clock-step', offset: c.offset, reason: c.reason ?? 'clock stepped' });
    // Stored local timestamps are readings of the old clock: move them onto the new timescale so
    // that exchanges in flight across the step still give correct offsets.
    const by = secondsToDuration(c.offset);
    for (const a of this.assocs.values()) {
      a.shiftLocalTimes(by);
      // Offsets measured against the old clock, referred to the new one.
      a.filter.shiftOffsets(-c.offset);
    }
    if (this.referenceTime !== null) this.referenceTime += by;
  }

  private allocTxId(onSent: (raw: RawTime) => void): number {
    const id = this.nextTxId++;
    if (this.nextTxId > 0x7fffffff) this.nextTxId = 1;
    this.pendingTx.set(id, onSent);
    if (this.pendingTx.size > MAX_PENDING_TX) {
      const first = this.pendingTx.keys().next();
      if (!first.done) this.pendingTx.delete(first.value);
    }
    return id;
  }

  // ---------------------------------------------------------------------------------------------
  // Host interface

  start(raw: RawTime): Action[] {
    for (const a of this.assocs.values()) if (a.nextPoll === null && !a.stopped) a.start(raw);
    for (const b of this.broadcasters) b.start(raw);
    this.lastTimer = null;
    return this.finish(raw, []);
  }

  handlePacket(raw: RawTime, bytes: Uint8Array, from: Endpoint, to?: Endpoint, now?: RawTime): Action[] {
    const actions: Action[] = [];
    const txRaw = now !== undefined && now > raw ? now : raw;
    const decoded = decodePacket(bytes);
    if (!decoded.ok) {
      this.emit({ kind: 'reject', sourceId: null, reason: `malformed: ${decoded.error.code}` });
      return this.finish(raw, actions);
    }
    const pkt = decoded.packet;
    switch (pkt.mode) {
      case MODE.CLIENT: {
        const nts = this.ntsCheck(raw, pkt, bytes, from, to, actions);
        if (nts === 'done') break;
        this.answer(raw, txRaw, pkt, bytes.length, from, to, actions);
        if (nts !== null) this.ntsSeal(actions, nts);
        break;
      }
      case MODE.SERVER: {
        const a = this.findAssoc(from, ['server', 'broadcast-client'], true);
        if (a === undefined)
          this.emit({ kind: 'reject', sourceId: null, reason: 'no association for mode 4' });
        else this.runAssoc(raw, a, a.receive(raw, pkt, bytes), actions, to);
        break;
      }
      case MODE.SYMMETRIC_ACTIVE:
      case MODE.SYMMETRIC_PASSIVE: {
        let a = this.findAssoc(from, ['peer', 'passive'], true);
        if (a === undefined && pkt.mode === MODE.SYMMETRIC_ACTIVE) {
          const authOk =
            !this.config.requireAuthForMobilise || checkAuth(pkt, this.keyRing, undefined) === 'ok';
          if (this.config.allowPassive && authOk) {
            const cfg = defaultSourceConfig(from.address, from.port, 'passive');
            // Follow the active peer's poll interval (RFC 5905: a passive peer polls at min(hpoll, ppoll)).
            cfg.minpoll = clampPoll(pkt.poll, POLL_LIMIT_LOW, MAXPOLL);
            cfg.maxpoll = Math.max(cfg.minpoll, cfg.maxpoll);
            if (pkt.mac !== null) cfg.key = pkt.mac.keyId;
            const { id, actions: added } = this.addSource(raw, cfg, true);
            actions.push(...added);
            a = this.assocs.get(id);
          } else {
            // No association: answer statelessly in mode 2 (RFC 5905 dispatch table).
            this.answer(raw, txRaw, pkt, bytes.length, from, to, actions);
            break;
          }
        }
        if (a === undefined) {
          this.emit({ kind: 'reject', sourceId: null, reason: 'no association for mode 2' });
          break;
        }
        this.runAssoc(raw, a, a.receive(raw, pkt), actions, to);
        break;
      }
      case MODE.BROADCAST: {
        let a = this.findAssoc(from, ['broadcast-client'], false);
        if (a === undefined && this.config.broadcastClient) {
          const authOk =
            !this.config.requireAuthForMobilise || checkAuth(pkt, this.keyRing, undefined) === 'ok';
          if (authOk) {
            const cfg = defaultSourceConfig(from.address, from.port, 'broadcast-client');
            if (pkt.mac !== null) cfg.key = pkt.mac.keyId;
            const { id, actions: added } = this.addSource(raw, cfg, true);
            actions.push(...added);
            a = this.assocs.get(id);
          }
        }
        if (a === undefined) this.emit({ kind: 'reject', sourceId: null, reason: 'unexpected broadcast' });
        else this.runAssoc(raw, a, a.receive(raw, pkt), actions, to);
        break;
      }
      default:
        this.emit({ kind: 'reject', sourceId: null, reason: `mode ${pkt.mode} not handled` });
    }
    return this.finish(raw, actions);
  }

  handleTimer(raw: RawTime): Action[] {
    const actions: Action[] = [];
    this.pollRefclocks(raw);
    for (const a of [...this.assocs.values()]) {
      if (a.nextPoll !== null && a.nextPoll <= raw) this.runAssoc(raw, a, a.poll(raw), actions);
    }
    for (const b of this.broadcasters) {
      if (b.nextAt !== null && b.nextAt <= raw) {
        const sent = b.fire(raw, this.deps.discipline.clock, this.serverState(raw), this.keyRing, (f) =>
          this.allocTxId(f),
        );
        if (sent !== null)
          actions.push({ kind: 'send', to: { address: b.cfg.address, port: b.cfg.port }, ...sent });
      }
    }
    this.lastTimer = null;
    return this.finish(raw, actions);
  }

  handleTransmitted(txId: number, raw: RawTime): Action[] {
    const f = this.pendingTx.get(txId);
    if (f !== undefined) {
      this.pendingTx.delete(txId);
      f(raw);
    }
    return [];
  }

  addSource(raw: RawTime, cfg: SourceConfig, ephemeral = false): { id: string; actions: Action[] } {
    let id = cfg.port === 123 ? cfg.address : `${cfg.address}:${cfg.port}`;
    if (cfg.mode === 'passive') id = `passive:${id}`;
    if (cfg.mode === 'broadcast-client') id = `bcast:${id}`;
    if (this.assocs.has(id)) {
      let n = 2;
      while (this.assocs.has(`${id}#${n}`)) n++;
      id = `${id}#${n}`;
    }
    const a = new Association(id, { ...cfg }, this.ctx, ephemeral);
    this.assocs.set(id, a);
    this.verdicts.set(id, { verdict: 'pending', reason: 'no valid sample yet' });
    a.start(raw);
    this.emit({ kind: 'source-added', sourceId: id });
    return { id, actions: this.finish(raw, []) };
  }

  removeSource(raw: RawTime, id: string): Action[] {
    const wasSysPeer = this.sysPeer === id;
    if (this.refclocks.has(id)) {
      this.refclocks.delete(id);
      this.verdicts.delete(id);
      this.emit({ kind: 'source-removed', sourceId: id, reason: 'removed by configuration' });
      if (wasSysPeer) this.setSysPeer(null);
    }
    this.demobilise(id, 'removed by configuration');
    if (wasSysPeer) this.mitigate(raw);
    return this.finish(raw, []);
  }

  // ---------------------------------------------------------------------------------------------
  // NTS (RFC 8915). The host runs NTS-KE (TLS); the engine only sees keys and cookies.

  /**
   * Gives an NTS source (SourceConfig.nts) its session from NTS-KE: AEAD keys, cookies and the NTP
   * server the KE server named (the association's address and port become these). The host calls
   * this after an 'nts-ke' event, or right after adding the source.
   */
  setNtsSession(
    raw: RawTime,
    id: string,
    s: { keys: NtsKeys; cookies: readonly Uint8Array[]; address: string; port: number },
  ): Action[] {
    const a = this.assocs.get(id);
    if (a === undefined || a.cfg.nts !== true) return [];
    a.setNtsSession(raw, s.keys, s.cookies, s.address, s.port);
    return this.finish(raw, []);
  }

  /** Serves NTS-protected requests with cookies of `jar` (null: no NTS service). */
  setNtsServer(jar: CookieJar | null): void {
    this.ntsJar = jar;
  }

  /**
   * NTS server (RFC 8915 section 5.7): a request with NTS fields is answered only authenticated
   * (the context returned, for ntsSeal), with an NTS NAK when its cookie is unusable, or not at all
   * ('done'); it never gets a plain answer. null: a plain NTP request.
   */
  private ntsCheck(
    raw: RawTime,
    pkt: NtpPacket,
    bytes: Uint8Array,
    from: Endpoint,
    to: Endpoint | undefined,
    actions: Action[],
  ): NtsServerContext | 'done' | null {
    if (!pkt.extensions.some((e) => e.type === EF.COOKIE || e.type === EF.AUTHENTICATOR)) return null;
    this.ntsServer.requests++;
    const jar = this.ntsJar;
    if (jar === null) {
      this.ntsServer.rejected++;
      this.emit({ kind: 'reject', sourceId: null, reason: 'nts: not an NTS server' });
      return 'done';
    }
    const v = verifyNtsRequest(bytes, jar);
    if (v.ok) return v.context;
    if (v.nakUniqueId !== undefined) {
      const now = toTimestamp(this.deps.discipline.clock.read(raw));
      const header = buildServerResponse(pkt, this.serverState(raw), now, BigInt.asUintN(64, now + 1n));
      const act: Action = { kind: 'send', to: from, bytes: buildNtsNak(header, v.nakUniqueId) };
      if (to !== undefined) act.from = to;
      actions.push(act);
      this.ntsServer.naks++;
    } else this.ntsServer.rejected++;
    this.emit({ kind: 'reject', sourceId: null, reason: `nts: ${v.code}` });
    return 'done';
  }

  /** Replaces the plain response `answer()` just queued by its NTS-protected form. */
  private ntsSeal(actions: Action[], ctx: NtsServerContext): void {
    const last = actions[actions.length - 1];
    const jar = this.ntsJar;
    if (last === undefined || last.kind !== 'send' || jar === null) return;
    const d = decodePacket(last.bytes);
    if (!d.ok) return;
    last.bytes = buildNtsResponse(d.packet, ctx, jar, this.randomBytes);
    // The authenticator covers the header: the host must not rewrite the transmit timestamp.
    if ('transmitAt' in last) delete last.transmitAt;
    this.ntsServer.responses++;
  }

  // ---------------------------------------------------------------------------------------------
  // Reference clocks (src/refclock)

  /**
   * Adds a reference clock. Its id is its refid (made unique with #n). The host reads the device
   * every 2^dpoll s and passes what it reads to `handleRefclockSample`; the engine filters the samples
   * every 2^poll s (the timer it asks for includes the refclock polls). Throws on an invalid config.
   */
  addRefclock(raw: RawTime, cfg: RefclockConfig): { id: string; actions: Action[] } {
    const errs = validateRefclockConfig(cfg);
    if (errs.length > 0)
      throw new RangeError(`refclock ${cfg.refid}: ${errs.map((e) => e.message).join('; ')}`);
    let id = cfg.refid;
    if (this.assocs.has(id) || this.refclocks.has(id)) {
      let n = 2;
      while (this.assocs.has(`${id}#${n}`) || this.refclocks.has(`${id}#${n}`)) n++;
      id = `${id}#${n}`;
    }
    const r = new RefclockSource(id, cfg);
    this.refclocks.set(id, r);
    this.verdicts.set(id, { verdict: 'pending', reason: 'no filtered sample yet' });
    r.start(raw);
    this.emit({ kind: 'source-added', sourceId: id });
    return { id, actions: this.finish(raw, []) };
  }

  /** One reading of a reference clock (see `RefclockSample`). Due refclock polls run here too. */
  handleRefclockSample(raw: RawTime, id: string, sample: RefclockSample): Action[] {
    this.refclockSample(id, sample);
    this.pollRefclocks(raw);
    return this.finish(raw, []);
  }

  /** Like `handleRefclockSample`, also telling whether the sample was accepted (and why not). */
  refclockSample(
    id: string,
    sample: RefclockSample,
  ): SampleResult | { ok: false; reason: 'unknown-refclock' } {
    const r = this.refclocks.get(id);
    if (r === undefined) return { ok: false, reason: 'unknown-refclock' };
    let lock: LockReference | null = null;
    if (r.cfg.lock !== undefined) {
      const l = this.refclocks.get(r.cfg.lock);
      if (l !== undefined) lock = { sample: l.lastSample(), interval: l.driverInterval() };
    }
    return r.addSample(sample, this.deps.discipline.clock, lock);
  }

  /** The reference clock object for an id (tests, the daemon's driver loop). */
  refclock(id: string): RefclockSource | undefined {
    return this.refclocks.get(id);
  }

  /** Ids of the reference clocks (the host runs one driver per entry; `refclock(id).cfg` has its config). */
  refclockIds(): string[] {
    return [...this.refclocks.keys()];
  }

  private pollRefclocks(raw: RawTime): void {
    let updated = false;
    for (const r of this.refclocks.values()) {
      if (r.nextPoll === null || r.nextPoll > raw) continue;
      const wasReachable = r.reach !== 0;
      if (r.poll(raw)) {
        updated = true;
        if (!wasReachable) this.emit({ kind: 'reachable', sourceId: r.id });
      } else if (wasReachable && r.reach === 0) {
        this.emit({ kind: 'unreachable', sourceId: r.id });
        updated = true;
      }
    }
    if (updated) this.mitigate(raw);
  }

  private refclockFitness(r: RefclockSource, raw: RawTime): Verdict | null {
    if (r.cfg.noselect) return { verdict: 'noselect', reason: 'configured noselect' };
    if (r.reach === 0) return { verdict: 'unreachable', reason: 'no good sample in the last 8 polls' };
    if (r.output() === null) return { verdict: 'pending', reason: 'waiting for a filtered sample' };
    if (r.leap === 3) return { verdict: 'unsynchronised', reason: 'reference is unsynchronised (leap 3)' };
    if (r.stratum >= this.config.maxStratum || r.stratum >= 16)
      return {
        verdict: 'bad-stratum',
        reason: `stratum ${r.stratum} not below ${Math.min(16, this.config.maxStratum)}`,
      };
    const dist = r.rootDistance(raw);
    const limit = this.config.maxDistance + PHI * 2 ** this.deps.discipline.pollExponent();
    if (dist > limit)
      return {
        verdict: 'bad-distance',
        reason: `root distance ${dist.toFixed(6)} s over ${limit.toFixed(3)} s`,
      };
    return null;
  }

  private peerFitness(p: Peer, raw: RawTime): Verdict | null {
    return p instanceof RefclockSource ? this.refclockFitness(p, raw) : this.fitness(p, raw);
  }

  // ---------------------------------------------------------------------------------------------
  // Internals

  private emit(e: SystemEvent): void {
    this.events.push(e);
  }

  private demobilise(id: string, reason: string): void {
    if (!this.assocs.delete(id)) return;
    this.verdicts.delete(id);
    this.emit({ kind: 'source-removed', sourceId: id, reason });
    if (this.sysPeer === id) {
      this.sysPeer = null;
      this.emit({ kind: 'sys-peer', sourceId: null });
    }
  }

  private findAssoc(from: Endpoint, modes: SourceMode[], matchPort: boolean): Association | undefined {
    let fallback: Association | undefined;
    for (const a of this.assocs.values()) {
      if (!modes.includes(a.cfg.mode) || a.cfg.address !== from.address) continue;
      if (a.cfg.port === from.port) return a;
      if (!matchPort) fallback = fallback ?? a;
    }
    return fallback;
  }

  private runAssoc(
    raw: RawTime,
    a: Association,
    outs: AssocOutput[],
    actions: Action[],
    to?: Endpoint,
  ): void {
    if (to !== undefined) a.localAddress = to.address;
    let updated = false;
    for (const o of outs) {
      switch (o.kind) {
        case 'send': {
          const act: Action = {
            kind: 'send',
            to: { address: a.cfg.address, port: a.cfg.port },
            bytes: o.bytes,
          };
          if (o.txId !== undefined) act.txId = o.txId;
          actions.push(act);
          break;
        }
        case 'event':
          this.emit(o.event);
          break;
        case 'update':
          updated = true;
          break;
        case 'exchange':
          // Without a system peer (the last one was unreachable for a while), its exchanges still
          // count as the system peer's until the selection decides again.
          this.deps.discipline.exchange(
            o.exchange,
            this.sysPeer === a.id || (this.sysPeer === null && this.lastSysPeer === a.id),
          );
          break;
        case 'demobilise':
          this.demobilise(a.id, o.reason);
          break;
      }
    }
    // RFC 5905 clock_filter(): the system process runs only when the association is not in a burst,
    // so that every source has its burst of samples before the first selection. When a burst ended
    // with its last response lost, the samples it brought are used all the same at the next poll
    // (ntpd runs the selection during bursts while unsynchronised; without this, a start-up burst
    // whose last packet is lost leaves the clock waiting for the next new filter output, many polls
    // later: 930 s instead of 70 s in the loss30 scenario, seed 4).
    let burstLost = false;
    if (a.inBurst) {
      this.bursting.add(a.id);
    } else if (this.bursting.delete(a.id)) {
      this.burstEnded.add(a.id);
    } else if (this.burstEnded.delete(a.id)) {
      burstLost = a.selectEpoch > this.lastUpdateEpoch;
    }
    // While unsynchronised the system process also runs during a burst (ntpd does), at every new
    // sample once more than half of the sources have one: the initial offset is removed from the first
    // samples on, not at the end of the burst, and a lone early answer does not decide the time.
    const run = updated && (!a.inBurst || (!this.synchronised && this.startupQuorum()));
    if (run) this.burstEnded.delete(a.id);
    if (run || burstLost || outs.some((o) => o.kind === 'event' && o.event.kind === 'unreachable'))
      this.mitigate(raw);
  }

  /** More than half of the selectable sources have a clock filter output. */
  private startupQuorum(): boolean {
    let all = 0;
    let answered = 0;
    for (const p of [...this.assocs.values(), ...this.refclocks.values()]) {
      if (p.cfg.noselect) continue;
      all++;
      if (p.output() !== null) answered++;
    }
    return 2 * answered > all;
  }

  /**
   * Synchronised, possibly in holdover: after the last system peer is lost we keep serving our
   * variables with a root dispersion growing at PHI, until the root distance exceeds maxDistance.
   */
  private holdingOver(raw: RawTime): boolean {
    if (!this.synchronised || this.stratum >= 16) return false;
    if (this.sysPeer !== null || this.updateRaw === null) return true;
    const age = Math.max(0, rawSeconds(raw) - rawSeconds(this.updateRaw));
    return this.rootDelay / 2 + this.rootDispersion + PHI * age <= this.config.maxDistance;
  }

  /** Our system variables as advertised to clients and peers. */
  serverState(raw: RawTime): ServerState {
    const clock = this.deps.discipline.clock;
    if (this.holdingOver(raw)) {
      const age = this.updateRaw === null ? 0 : Math.max(0, rawSeconds(raw) - rawSeconds(this.updateRaw));
      return {
        leap: this.leap,
        stratum: this.stratum,
        precision: this.config.precision,
        rootDelay: secondsToShort(this.rootDelay),
        // Root dispersion grows at PHI since the last update (the bound stays honest between updates).
        rootDispersion: secondsToShort(this.rootDispersion + PHI * age),
        referenceId: this.refid,
        referenceTimestamp: this.referenceTime === null ? 0n : toTimestamp(this.referenceTime),
      };
    }
    if (this.config.localStratum !== null) {
      return {
        leap: 0,
        stratum: this.config.localStratum,
        precision: this.config.precision,
        rootDelay: 0,
        rootDispersion: 0,
        referenceId: refidFromString('LOCL'),
        referenceTimestamp: toTimestamp(clock.read(raw)),
      };
    }
    // Not synchronised: LI=3, stratum 16 (sent as 0 on the wire, RFC 5905 section 7.3) and refid INIT,
    // as ntpd does, so clients see at once that we have no time to give.
    return {
      leap: 3,
      stratum: 16,
      precision: this.config.precision,
      rootDelay: 0,
      rootDispersion: 0,
      referenceId: REFID_INIT,
      referenceTimestamp: 0n,
    };
  }

  private answer(
    raw: RawTime,
    txRaw: RawTime,
    pkt: NtpPacket,
    length: number,
    from: Endpoint,
    to: Endpoint | undefined,
    actions: Action[],
  ): void {
    const clock = this.deps.discipline.clock;
    const now = toTimestamp(clock.read(raw));
    // The software transmit timestamp (basic mode): the host's reading as it started processing,
    // at least one unit after the receive timestamp, so that the two always differ (RFC 9769
    // clients rely on it). Interleaved clients get the precise one from handleTransmitted.
    const xmt = txRaw > raw ? toTimestamp(clock.read(txRaw)) : now;
    const res = this.server.respond(
      pkt,
      length,
      from.address,
      now,
      BigInt.asUintN(64, xmt > now ? xmt : now + 1n),
      this.serverState(raw),
      this.keyRing,
    );
    const act: Action = { kind: 'send', to: from, bytes: res.bytes };
    // A plain basic-mode response (no MAC, no extension fields): the host may refresh its transmit
    // timestamp as it sends it (chrony does the same).
    if (!res.interleaved && res.bytes.length === 48) act.transmitAt = 40;
    if (to !== undefined) act.from = to;
    if (res.wantsPrecise) {
      const slot = res.slot;
      const rx = res.rx;
      act.txId = this.allocTxId((sentRaw) => {
        this.server.transmitted(slot, rx, toTimestamp(this.deps.discipline.clock.read(sentRaw)) || 1n);
      });
    }
    actions.push(act);
  }

  private finish(raw: RawTime, actions: Action[]): Action[] {
    for (const e of this.events) actions.push({ kind: 'event', event: e });
    this.events = [];
    let at: RawTime | null = null;
    for (const a of this.assocs.values())
      if (a.nextPoll !== null && (at === null || a.nextPoll < at)) at = a.nextPoll;
    for (const b of this.broadcasters) if (b.nextAt !== null && (at === null || b.nextAt < at)) at = b.nextAt;
    for (const r of this.refclocks.values())
      if (r.nextPoll !== null && (at === null || r.nextPoll < at)) at = r.nextPoll;
    if (at !== null && at !== this.lastTimer) {
      this.lastTimer = at;
      actions.push({ kind: 'timer', at: at < raw ? raw : at });
    }
    return actions;
  }

  /** Fitness of a source for selection (RFC 5905 section 11.2 / A.5.5 peer_unfit()). */
  private fitness(a: Association, raw: RawTime): Verdict | null {
    if (a.cfg.noselect) return { verdict: 'noselect', reason: 'configured noselect' };
    if (a.stopped) return { verdict: 'unreachable', reason: `stopped by kiss code ${a.kod ?? ''}` };
    if (a.reach === 0) return { verdict: 'unreachable', reason: 'no valid packet in the last 8 polls' };
    if (a.calibrating && a.output() === null)
      return { verdict: 'pending', reason: 'calibrating broadcast delay' };
    if (a.output() === null) return { verdict: 'pending', reason: 'waiting for a valid sample' };
    if (a.leap === 3) return { verdict: 'unsynchronised', reason: 'source is unsynchronised (leap 3)' };
    if (a.stratum >= this.config.maxStratum || a.stratum >= 16)
      return {
        verdict: 'bad-stratum',
        reason: `stratum ${a.stratum} not below ${Math.min(16, this.config.maxStratum)}`,
      };
    const dist = a.rootDistance(raw);
    const limit = this.config.maxDistance + PHI * 2 ** this.deps.discipline.pollExponent();
    if (dist > limit)
      return {
        verdict: 'bad-distance',
        reason: `root distance ${dist.toFixed(6)} s over ${limit.toFixed(3)} s`,
      };
    if (
      a.localAddress !== null &&
      a.stratum > 1 &&
      a.refid === addressRefid(a.localAddress, this.deps.crypto)
    )
      return { verdict: 'loop', reason: 'source is synchronised to us' };
    return null;
  }

  /** The mitigation chain: selection, cluster, combine, clock update (RFC 5905 sections 11.2-11.3). */
  private mitigate(raw: RawTime): void {
    const candidates: Peer[] = [];
    for (const a of [...this.assocs.values(), ...this.refclocks.values()]) {
      const f = this.peerFitness(a, raw);
      if (f === null) candidates.push(a);
      else this.verdicts.set(a.id, f);
    }
    const byId = new Map<string, Peer>(candidates.map((a) => [a.id, a]));
    const sel = this.select(candidates, raw);
    if (!sel.ok) {
      for (const a of candidates)
        this.verdicts.set(a.id, {
          verdict: 'falseticker',
          reason:
            candidates.length < this.config.minSane
              ? `fewer than ${this.config.minSane} selectable sources`
              : `no majority of ${candidates.length} sources agrees`,
        });
      this.setSysPeer(null);
      return;
    }
    for (const id of sel.falsetickers)
      this.verdicts.set(id, {
        verdict: 'falseticker',
        reason: `outside the intersection [${sel.low.toFixed(6)}, ${sel.high.toFixed(6)}] s of ${sel.truechimers.length} truechimers`,
      });
    let truechimers = sel.truechimers.map((id) => byId.get(id)).filter((a): a is Peer => a !== undefined);
    const cands = truechimers.map((a) => {
      const o = a.output();
      return {
        id: a.id,
        offset: this.offsetNow(a, raw),
        jitter: o?.jitter ?? 0,
        stratum: a.stratum,
        rootDistance: a.rootDistance(raw),
        prefer: a.cfg.prefer,
      };
    });
    cands.sort((x, y) => merit(x, this.config.maxDistance) - merit(y, this.config.maxDistance));
    const kept = cands.slice(0, this.config.maxClock);
    for (const c of cands.slice(this.config.maxClock))
      this.verdicts.set(c.id, { verdict: 'excess', reason: `beyond maxclock ${this.config.maxClock}` });
    const cl = cluster(kept, this.config.minClock, this.config.maxDistance);
    for (const id of cl.outliers)
      this.verdicts.set(id, {
        verdict: 'outlier',
        reason: 'discarded by the cluster algorithm (largest selection jitter)',
      });
    truechimers = cl.survivors.map((id) => byId.get(id)).filter((a): a is Peer => a !== undefined);
    if (truechimers.length === 0) {
      this.setSysPeer(null);
      return;
    }
    // System peer: a preferred survivor, else the current system peer while it survives (avoids
    // clock hopping), else the survivor with the best merit.
    const prefer = truechimers.find((a) => a.cfg.prefer);
    const current = truechimers.find((a) => a.id === this.sysPeer);
    const first = truechimers[0];
    const peer = prefer ?? current ?? first;
    if (peer === undefined) return;
    for (const a of truechimers)
      this.verdicts.set(
        a.id,
        a === peer
          ? { verdict: 'sys-peer', reason: 'selected as system peer' }
          : { verdict: 'combined', reason: `survivor combined with ${truechimers.length - 1} others` },
      );
    this.setSysPeer(peer.id);
    const po = peer.output();
    if (po === null) return;
    // The survivors' offsets are combined at a common instant (now); the result is referred back to
    // the system peer's sample, which is what the discipline gets (an offset measured then).
    const peerNow = this.offsetNow(peer, raw);
    const comb = combine(
      truechimers.map((a) => ({ offset: this.offsetNow(a, raw), rootDistance: a.rootDistance(raw) })),
      peerNow,
    );
    if (peer.selectEpoch <= this.lastUpdateEpoch) return;
    this.lastUpdateEpoch = peer.selectEpoch;
    this.clockUpdate(raw, peer, comb.offset + (po.offset - peerNow), comb.jitter);
  }

  /**
   * A source's filter output offset referred to `raw` (now) through the corrections the discipline
   * made to the clock since that sample was measured (`Discipline.offsetAt`). Filter outputs are of
   * different ages (the clock filter keeps the lowest-delay of the last eight samples): while the clock
   * is being slewed, an older sample measured against the clock before the correction would otherwise
   * disagree with a fresh one by the correction made in between (the start-up transient: tens of ms).
   */
  private offsetNow(a: Peer, raw: RawTime): number {
    const o = a.output();
    if (o === null) return 0;
    const d = this.deps.discipline;
    if (d.offsetAt === undefined || o.raw === undefined || o.raw > raw) return o.offset;
    return d.offsetAt(o.raw, o.offset, raw);
  }

  /**
   * The intersection algorithm; with trusted refclocks (chrony `trust`) only they vote, and the other
   * candidates are truechimers when their correctness interval overlaps the trusted intersection.
   */
  private select(candidates: Peer[], raw: RawTime): ReturnType<typeof intersect> {
    const interval = (a: Peer) => ({
      id: a.id,
      offset: this.offsetNow(a, raw),
      rootDistance: a.rootDistance(raw),
    });
    const trust = candidates.filter(trusted);
    if (trust.length === 0) return intersect(candidates.map(interval), this.config.minSane);
    const ts = intersect(trust.map(interval), 1);
    if (!ts.ok) return intersect(candidates.map(interval), this.config.minSane);
    const truechimers: string[] = [];
    const falsetickers: string[] = [];
    for (const c of candidates.map(interval)) {
      if (c.offset + c.rootDistance < ts.low || c.offset - c.rootDistance > ts.high) falsetickers.push(c.id);
      else truechimers.push(c.id);
    }
    if (truechimers.length < this.config.minSane) return { ...ts, ok: false, truechimers: [], falsetickers };
    return { ...ts, truechimers, falsetickers };
  }

  private setSysPeer(id: string | null): void {
    if (this.sysPeer !== id) {
      if (this.sysPeer !== null) this.lastSysPeer = this.sysPeer;
      this.sysPeer = id;
      this.emit({ kind: 'sys-peer', sourceId: id });
    }
  }

  /** RFC 5905 section 11.3 clock_update(). */
  private clockUpdate(raw: RawTime, peer: Peer, offset: number, selJitter: number): void {
    const po = peer.output();
    if (po === null) return;
    const jitter = Math.sqrt(po.jitter ** 2 + selJitter ** 2);
    const rootDelay = peer.rootDelay + po.delay;
    const measuredRaw = po.raw ?? raw;
    const age = Math.max(0, rawSeconds(raw) - po.epoch);
    // The dispersion the selection judged the peer by (while its filter fills after a clear, that of
    // its real samples, not the empty stages' MAXDISP): the announced root dispersion follows it.
    const dispersion =
      peer instanceof RefclockSource ? po.dispersion : (peer.filter.startupDispersion() ?? po.dispersion);
    const rootDispersion = Math.max(
      MINDISP,
      peer.rootDispersion + dispersion + jitter + PHI * age + Math.abs(po.offset),
    );
    const result = this.deps.discipline.update({
      raw: measuredRaw,
      now: raw,
      offset,
      jitter,
      rootDelay,
      rootDispersion,
      poll: peer.hpoll,
      sourceId: peer.id,
    });
    switch (result.kind) {
      case 'step':
        // (The clock-step event came from the clock's change listener.) RFC 5905: after a step
        // every association restarts its filter; the system is unsynchronised
        // until the next update.
        for (const a of this.assocs.values()) a.clearAfterStep(raw);
        for (const r of this.refclocks.values()) r.clearAfterStep(raw);
        this.lastUpdateEpoch = Number.NEGATIVE_INFINITY;
        this.stratum = 16;
        this.leap = 3;
        this.setSynchronised(false);
        return;
      case 'panic':
        this.emit({ kind: 'clock-panic', offset: result.offset });
        return;
      case 'spike':
        return;
      case 'ignored':
        if (this.deps.discipline.kind !== 'feedforward') return;
        break;
      case 'slew':
        break;
    }
    this.leap = peer.leap;
    this.stratum = Math.min(16, peer.stratum + 1);
    // RFC 5905 clock_update(): the refid is the system peer's address (IPv6: MD5 hash).
    // A reference clock's refid is its four-character code (stratum 1: "GPS", "PPS", "SHM0").
    this.refid =
      peer instanceof RefclockSource
        ? refidFromString(peer.cfg.refid)
        : addressRefid(peer.cfg.address, this.deps.crypto);
    this.referenceTime = this.deps.discipline.clock.read(raw);
    this.updateRaw = raw;
    this.rootDelay = rootDelay;
    this.rootDispersion = rootDispersion;
    this.sysOffset = offset;
    this.sysJitter = jitter;
    this.setSynchronised(this.stratum < 16);
  }

  private setSynchronised(on: boolean): void {
    if (this.synchronised !== on) {
      this.synchronised = on;
      this.emit({ kind: 'sync', synchronised: on });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Snapshots

  private sourceSnapshot(a: Association, raw: RawTime): SourceSnapshot {
    const now = rawSeconds(raw);
    const o = a.output();
    const v = this.fitness(a, raw) ??
      this.verdicts.get(a.id) ?? { verdict: 'pending', reason: 'not evaluated yet' };
    const filter: FilterStage[] = a.filter.registers(now).map((s) => ({
      offset: s.offset,
      delay: s.delay,
      dispersion: s.dispersion,
      age: now - s.epoch,
    }));
    return {
      id: a.id,
      address: a.cfg.address,
      port: a.cfg.port,
      name: a.cfg.name ?? null,
      mode: a.cfg.mode,
      interleaved: a.interleaved,
      xleave: a.cfg.xleave,
      prefer: a.cfg.prefer,
      noselect: a.cfg.noselect,
      stratum: a.stratum,
      refid: renderRefid(a.refid, a.stratum),
      leap: a.leap,
      version: a.version,
      precision: a.precision,
      rootDelay: a.rootDelay,
      rootDispersion: a.rootDispersion,
      poll: a.effectivePoll(),
      peerPoll: a.ppoll,
      reach: a.reach,
      when: a.lastValid === null ? null : now - rawSeconds(a.lastValid),
      offset: o?.offset ?? 0,
      delay: o?.delay ?? 0,
      dispersion: o === null ? 16 : Math.min(16, o.dispersion + PHI * Math.max(0, now - o.epoch)),
      jitter: o?.jitter ?? 0,
      rootDistance: a.rootDistance(raw),
      filter,
      verdict: v.verdict,
      verdictReason: v.reason,
      auth: a.auth,
      authMethod: a.cfg.nts === true ? 'nts' : a.cfg.key !== undefined ? 'symmetric' : 'none',
      ...(a.cfg.nts === true
        ? {
            nts: {
              session: a.hasNtsSession,
              cookies: a.ntsCookies() ?? 0,
              keRequests: a.ntsKeRequests,
              naks: a.ntsNaks,
              authFailures: a.ntsAuthFailures,
            },
          }
        : {}),
      keyId: a.cfg.key ?? null,
      kod: a.kod,
      rejected: { ...a.rejected },
      packetsSent: a.packetsSent,
      packetsReceived: a.packetsReceived,
    };
  }

  private refclockSnapshot(r: RefclockSource, raw: RawTime): SourceSnapshot {
    const now = rawSeconds(raw);
    const o = r.output();
    const v = this.refclockFitness(r, raw) ??
      this.verdicts.get(r.id) ?? { verdict: 'pending', reason: 'not evaluated yet' };
    return {
      id: r.id,
      address: r.cfg.parameter,
      port: 0,
      name: `${r.cfg.driver} ${r.cfg.parameter}`.trim(),
      mode: 'refclock',
      interleaved: false,
      xleave: false,
      prefer: r.cfg.prefer,
      noselect: r.cfg.noselect,
      stratum: r.stratum,
      refid: r.cfg.refid,
      leap: r.leap,
      version: 4,
      precision: Math.ceil(Math.log2(r.cfg.precision)),
      rootDelay: 0,
      rootDispersion: 0,
      poll: r.cfg.poll,
      peerPoll: r.cfg.dpoll,
      reach: r.reach,
      when: r.lastValid === null ? null : now - rawSeconds(r.lastValid),
      offset: o?.offset ?? 0,
      delay: o?.delay ?? 0,
      dispersion: o === null ? 16 : Math.min(16, o.dispersion + PHI * Math.max(0, now - o.epoch)),
      jitter: o?.jitter ?? 0,
      rootDistance: r.rootDistance(raw),
      filter: r.history.map((h) => ({
        offset: h.offset,
        delay: r.cfg.delay,
        dispersion: h.dispersion,
        age: now - h.epoch,
      })),
      verdict: v.verdict,
      verdictReason: v.reason,
      auth: 'none',
      keyId: null,
      kod: null,
      rejected: { ...r.rejected },
      packetsSent: 0,
      packetsReceived: r.samplesAccepted,
      refclock: {
        driver: r.cfg.driver,
        parameter: r.cfg.parameter,
        lock: r.cfg.lock ?? null,
        trust: r.cfg.trust,
        pulse: r.cfg.pulse,
        samples: r.filter.size,
        lastSampleOffset: r.lastSample()?.offset ?? null,
      },
    };
  }

  snapshot(raw: RawTime): SystemSnapshot {
    const d = this.deps.discipline.snapshot(raw);
    const clock = this.deps.discipline.clock;
    const st = this.serverState(raw);
    const rootDelay = st.rootDelay / 65536;
    const rootDispersion = st.rootDispersion / 65536;
    const sources = [...this.assocs.values()].map((a) => this.sourceSnapshot(a, raw));
    for (const r of this.refclocks.values()) sources.push(this.refclockSnapshot(r, raw));
    const synced = this.holdingOver(raw) || this.config.localStratum !== null;
    return {
      time: Number(ntpTimeToUnixNs(clock.read(raw))) / 1e9,
      clock: this.deps.discipline.kind,
      clockState: d.state,
      synchronised: synced,
      leap: st.leap,
      stratum: st.stratum,
      refid: renderRefid(st.referenceId, st.stratum),
      referenceTime: this.referenceTime === null ? null : Number(ntpTimeToUnixNs(this.referenceTime)) / 1e9,
      rootDelay,
      rootDispersion,
      rootDistance: rootDelay / 2 + rootDispersion,
      offset: d.offset,
      frequencyPpm: d.frequencyPpm,
      jitter: this.synchronised ? this.sysJitter : d.jitter,
      wander: d.wander,
      poll: d.poll,
      precision: this.config.precision,
      errorBound: clock.errorBound(raw),
      sysPeer: this.sysPeer,
      sources,
      extra: {
        combinedOffset: this.sysOffset,
        serverRequests: this.server.requests,
        serverResponses: this.server.responses,
        interleavedResponses: this.server.interleavedResponses,
        interleavedTableEntries: this.server.table.count(),
        ...(this.ntsJar === null
          ? {}
          : {
              ntsServerRequests: this.ntsServer.requests,
              ntsServerResponses: this.ntsServer.responses,
              ntsServerNaks: this.ntsServer.naks,
              ntsServerRejected: this.ntsServer.rejected,
            }),
      },
    };
  }

  /** Ids of the current associations. */
  sourceIds(): string[] {
    return [...this.assocs.keys()];
  }

  /** Used by tests and the simulator: the association object for an id. */
  association(id: string): Association | undefined {
    return this.assocs.get(id);
  }
}

export type { LocalStamp };
