/**
 * The NTP system process (RFC 5905 sections 9-12): associations → clock filter → selection →
 * cluster → combine → discipline, plus the server responder and broadcast servers. Sans-IO: packets,
 * timer events and raw counter values in, actions out. The daemon and the simulator drive this same
 * class.
 */
import { HuffPuff } from '../algo/huffpuff.js';
import { type AssocContext, Association, type AssocOutput, type LocalStamp } from '../assoc/association.js';
import { BroadcastServer } from '../assoc/broadcast.js';
import { ServerResponder, type ServerState } from '../assoc/server.js';
import { addressRefid, checkAuth, KeyRing } from '../assoc/util.js';
import type { ClockChange, RawTime } from '../clock/types.js';
import type { CookieJar, NtsKeys } from '../nts/cookie.js';
import { RefclockSource, type SampleResult } from '../refclock/source.js';
import type { RefclockConfig, RefclockSample } from '../refclock/types.js';
import { type Answer, type AnswerContext, answerRequest } from '../serve/answer.js';
import { secondsToDuration } from '../time/ntp-time.js';
import { clampPoll, MAXPOLL, POLL_LIMIT_LOW } from '../time/short.js';
import { decodePacket, MODE, type NtpPacket } from '../wire/packet.js';
import { refidFromString } from '../wire/refid.js';
import { BurstWatch, candidateRules, findAssoc, type Peer, startupQuorum } from './candidates.js';
import { bytesFromRandom, defaultSourceConfig, uniqueId } from './defaults.js';
import { type Candidate, clockSample, type Entry, fitness, mitigate, type Verdict } from './mitigation.js';
import { NtsServer } from './nts-server.js';
import { Refclocks } from './refclocks.js';
import type { SystemSnapshot } from './snapshot.js';
import { associationSnapshot, refclockSnapshot, systemSnapshot } from './snapshot-build.js';
import { SystemVariables } from './sysvars.js';
import { TxIds } from './tx-ids.js';
import type {
  Action,
  Endpoint,
  NtpEngine,
  SourceConfig,
  SystemConfig,
  SystemDeps,
  SystemEvent,
} from './types.js';

export { defaultSourceConfig, defaultSystemConfig } from './defaults.js';

export class NtpSystem implements NtpEngine {
  readonly config: SystemConfig;
  private readonly deps: SystemDeps;
  private readonly assocs = new Map<string, Association>();
  private readonly refclocks = new Refclocks();
  private readonly broadcasters: BroadcastServer[];
  readonly server: ServerResponder;
  private readonly huffPuff: HuffPuff | null;
  private readonly tx = new TxIds();
  private lastTimer: RawTime | null = null;
  private readonly verdicts = new Map<string, Verdict>();
  private readonly ctx: AssocContext;
  private events: SystemEvent[] = [];
  private readonly bursts = new BurstWatch();
  private readonly randomBytes: (n: number) => Uint8Array;
  /** The configured symmetric keys with the host's crypto provider. */
  private readonly keyRing: KeyRing;
  private readonly nts: NtsServer;
  /** What the server decision (src/serve) needs to answer requests with this engine's clock and state. */
  readonly answerContext: AnswerContext;

  /** System variables (RFC 5905 section 11.3). */
  private readonly vars: SystemVariables;
  private sysPeer: string | null = null;
  /** The last system peer before the current one (null: none yet). */
  private lastSysPeer: string | null = null;
  private lastUpdateEpoch = Number.NEGATIVE_INFINITY;
  private readonly unsubscribe: () => void;

  constructor(config: SystemConfig, deps: SystemDeps) {
    this.config = config;
    this.deps = deps;
    this.server = new ServerResponder(config.interleavedTableSize);
    this.broadcasters = config.broadcast.map((b) => new BroadcastServer(b));
    this.vars = new SystemVariables(config, deps.discipline.clock);
    this.huffPuff = config.huffPuff > 0 ? new HuffPuff(config.huffPuff) : null;
    this.keyRing = new KeyRing(config.keys, deps.crypto);
    const unusable = this.keyRing.unsupported();
    if (unusable.length > 0)
      throw new RangeError(
        `${unusable.map((k) => `key ${k.id} (${k.type})`).join(', ')}: not available in ${deps.crypto.name}`,
      );
    this.randomBytes = deps.randomBytes ?? bytesFromRandom(deps.random);
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
      allocTxId: (onSent) => this.tx.alloc(onSent),
      randomBytes: (n) => this.randomBytes(n),
    };
    this.nts = new NtsServer();
    this.answerContext = {
      clock: deps.discipline.clock,
      serverState: (raw) => this.serverState(raw),
      keys: this.keyRing,
      responder: this.server,
      ntsJar: () => this.nts.jar,
      ntsStats: this.nts.stats,
      randomBytes: (n) => this.randomBytes(n),
      allocTxId: (onSent) => this.tx.alloc(onSent),
    };
    this.unsubscribe = deps.discipline.clock.onChange((c) => this.onClockChange(c));
  }

  /** NTS server statistics. */
  get ntsServer(): NtsServer['stats'] {
    return this.nts.stats;
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
    if (this.vars.referenceTime !== null) this.vars.referenceTime += by;
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
      case MODE.CLIENT:
        this.answer(raw, txRaw, pkt, bytes, from, to, actions);
        break;
      case MODE.SERVER: {
        const a = findAssoc(this.assocs.values(), from, ['server', 'broadcast-client'], true);
        if (a === undefined)
          this.emit({ kind: 'reject', sourceId: null, reason: 'no association for mode 4' });
        else this.runAssoc(raw, a, a.receive(raw, pkt, bytes), actions, to);
        break;
      }
      case MODE.SYMMETRIC_ACTIVE:
      case MODE.SYMMETRIC_PASSIVE: {
        let a = findAssoc(this.assocs.values(), from, ['peer', 'passive'], true);
        if (a === undefined && pkt.mode === MODE.SYMMETRIC_ACTIVE) {
          if (this.packetTarget(pkt, from) === 'mobilise')
            a = this.mobilise(raw, pkt, from, 'passive', actions);
          else {
            // No association: answer statelessly in mode 2 (RFC 5905 dispatch table).
            this.answer(raw, txRaw, pkt, bytes, from, to, actions);
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
        let a = findAssoc(this.assocs.values(), from, ['broadcast-client'], false);
        if (a === undefined && this.packetTarget(pkt, from) === 'mobilise')
          a = this.mobilise(raw, pkt, from, 'broadcast-client', actions);
        if (a === undefined) this.emit({ kind: 'reject', sourceId: null, reason: 'unexpected broadcast' });
        else this.runAssoc(raw, a, a.receive(raw, pkt), actions, to);
        break;
      }
      default:
        this.emit({ kind: 'reject', sourceId: null, reason: `mode ${pkt.mode} not handled` });
    }
    return this.finish(raw, actions);
  }

  /**
   * Who takes a symmetric-active (mode 1) or broadcast (mode 5) packet from `from`: an existing
   * association, a new one this packet would mobilise (`[system] allow-passive` /
   * `broadcast-client`, authenticated when `require-auth-for-mobilise`), or nobody (a mode 1
   * packet then gets the server's stateless mode 2 answer; a mode 5 packet is dropped).
   */
  packetTarget(pkt: NtpPacket, from: Endpoint): 'association' | 'mobilise' | 'none' {
    const symmetric = pkt.mode === MODE.SYMMETRIC_ACTIVE;
    const known = symmetric
      ? findAssoc(this.assocs.values(), from, ['peer', 'passive'], true)
      : findAssoc(this.assocs.values(), from, ['broadcast-client'], false);
    if (known !== undefined) return 'association';
    if (!(symmetric ? this.config.allowPassive : this.config.broadcastClient)) return 'none';
    const authOk = !this.config.requireAuthForMobilise || checkAuth(pkt, this.keyRing, undefined) === 'ok';
    return authOk ? 'mobilise' : 'none';
  }

  /** Answers a request (src/serve/answer.ts); a refusal is an event. */
  private answer(
    raw: RawTime,
    txRaw: RawTime,
    pkt: NtpPacket,
    bytes: Uint8Array,
    from: Endpoint,
    to: Endpoint | undefined,
    actions: Action[],
  ): void {
    const a = this.answerRequest(raw, txRaw, pkt, bytes, from, to);
    if (a.kind === 'reply') actions.push(a.send);
    const reason = a.kind === 'none' ? a.reason : a.nak;
    if (reason !== undefined) this.emit({ kind: 'reject', sourceId: null, reason });
  }

  /** The answer to a request the server decision admitted (src/serve/answer.ts). */
  answerRequest(
    raw: RawTime,
    now: RawTime,
    pkt: NtpPacket,
    bytes: Uint8Array,
    from: Endpoint,
    to: Endpoint | undefined,
  ): Answer {
    return answerRequest(this.answerContext, raw, now > raw ? now : raw, pkt, bytes, from, to);
  }

  /** Mobilises an ephemeral association for an unconfigured symmetric-active or broadcast server. */
  private mobilise(
    raw: RawTime,
    pkt: NtpPacket,
    from: Endpoint,
    mode: 'passive' | 'broadcast-client',
    actions: Action[],
  ): Association | undefined {
    const cfg = defaultSourceConfig(from.address, from.port, mode);
    if (mode === 'passive') {
      // Follow the active peer's poll interval (RFC 5905: a passive peer polls at min(hpoll, ppoll)).
      cfg.minpoll = clampPoll(pkt.poll, POLL_LIMIT_LOW, MAXPOLL);
      cfg.maxpoll = Math.max(cfg.minpoll, cfg.maxpoll);
    }
    if (pkt.mac !== null) cfg.key = pkt.mac.keyId;
    const { id, actions: added } = this.addSource(raw, cfg, true);
    actions.push(...added);
    return this.assocs.get(id);
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
          this.tx.alloc(f),
        );
        if (sent !== null)
          actions.push({ kind: 'send', to: { address: b.cfg.address, port: b.cfg.port }, ...sent });
      }
    }
    this.lastTimer = null;
    return this.finish(raw, actions);
  }

  handleTransmitted(txId: number, raw: RawTime): Action[] {
    this.tx.transmitted(txId, raw);
    return [];
  }

  addSource(raw: RawTime, cfg: SourceConfig, ephemeral = false): { id: string; actions: Action[] } {
    let base = cfg.port === 123 ? cfg.address : `${cfg.address}:${cfg.port}`;
    if (cfg.mode === 'passive') base = `passive:${base}`;
    if (cfg.mode === 'broadcast-client') base = `bcast:${base}`;
    const id = uniqueId(base, (x) => this.assocs.has(x));
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
    this.nts.jar = jar;
  }

  // ---------------------------------------------------------------------------------------------
  // Reference clocks (src/refclock)

  /**
   * Adds a reference clock. Its id is its refid (made unique with #n). The host reads the device
   * every 2^dpoll s and passes what it reads to `handleRefclockSample`; the engine filters the samples
   * every 2^poll s (the timer it asks for includes the refclock polls). Throws on an invalid config.
   */
  addRefclock(raw: RawTime, cfg: RefclockConfig): { id: string; actions: Action[] } {
    const r = this.refclocks.add(raw, cfg, (x) => this.assocs.has(x));
    this.verdicts.set(r.id, { verdict: 'pending', reason: 'no filtered sample yet' });
    this.emit({ kind: 'source-added', sourceId: r.id });
    return { id: r.id, actions: this.finish(raw, []) };
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
    return this.refclocks.sample(id, sample, this.deps.discipline.clock);
  }

  /** The reference clock object for an id (tests, the daemon's driver loop). */
  refclock(id: string): RefclockSource | undefined {
    return this.refclocks.get(id);
  }

  /** Ids of the reference clocks (the host runs one driver per entry; `refclock(id).cfg` has its config). */
  refclockIds(): string[] {
    return this.refclocks.ids();
  }

  private pollRefclocks(raw: RawTime): void {
    if (this.refclocks.poll(raw, (e) => this.emit(e))) this.mitigate(raw);
  }

  private peerFitness(p: Peer, raw: RawTime): Verdict | null {
    return fitness(p, candidateRules(p, this.deps.crypto), raw, {
      config: this.config,
      pollExponent: this.deps.discipline.pollExponent(),
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Internals

  /** Every source of the selection. */
  private peers(): Peer[] {
    return [...this.assocs.values(), ...this.refclocks.values()];
  }

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
    const burstLost = this.bursts.observe(a, this.lastUpdateEpoch);
    // While unsynchronised the system process also runs during a burst (ntpd does), at every new
    // sample once more than half of the sources have one: the initial offset is removed from the first
    // samples on, not at the end of the burst, and a lone early answer does not decide the time.
    const run = updated && (!a.inBurst || (!this.vars.synchronised && startupQuorum(this.peers())));
    if (run) this.bursts.ran(a.id);
    if (run || burstLost || outs.some((o) => o.kind === 'event' && o.event.kind === 'unreachable'))
      this.mitigate(raw);
  }

  /** Our system variables as advertised to clients and peers. */
  serverState(raw: RawTime): ServerState {
    return this.vars.serverState(raw, this.sysPeer !== null);
  }

  private finish(raw: RawTime, actions: Action[]): Action[] {
    for (const e of this.events) actions.push({ kind: 'event', event: e });
    this.events = [];
    let at = this.refclocks.nextPoll();
    for (const t of [
      ...[...this.assocs.values()].map((a) => a.nextPoll),
      ...this.broadcasters.map((b) => b.nextAt),
    ])
      if (t !== null && (at === null || t < at)) at = t;
    if (at !== null && at !== this.lastTimer) {
      this.lastTimer = at;
      actions.push({ kind: 'timer', at: at < raw ? raw : at });
    }
    return actions;
  }

  /** The mitigation chain: selection, cluster, combine, clock update (RFC 5905 sections 11.2-11.3). */
  private mitigate(raw: RawTime): void {
    const entries: Entry<Peer>[] = this.peers().map((p) => ({
      source: p,
      rules: candidateRules(p, this.deps.crypto),
    }));
    const m = mitigate(entries, raw, {
      config: this.config,
      pollExponent: this.deps.discipline.pollExponent(),
      sysPeer: this.sysPeer,
      offsetNow: (c, at) => this.offsetNow(c, at),
    });
    for (const [id, v] of m.verdicts) this.verdicts.set(id, v);
    this.setSysPeer(m.sysPeer?.id ?? null);
    const peer = m.sysPeer;
    if (peer === null || m.update === null || peer.selectEpoch <= this.lastUpdateEpoch) return;
    this.lastUpdateEpoch = peer.selectEpoch;
    this.clockUpdate(raw, peer, m.update.offset, m.update.jitter);
  }

  /**
   * A source's filter output offset referred to `raw` (now) through the corrections the discipline
   * made to the clock since that sample was measured (`Discipline.offsetAt`). Filter outputs are of
   * different ages (the clock filter keeps the lowest-delay of the last eight samples): while the clock
   * is being slewed, an older sample measured against the clock before the correction would otherwise
   * disagree with a fresh one by the correction made in between (the start-up transient: tens of ms).
   */
  private offsetNow(a: Candidate, raw: RawTime): number {
    const o = a.output();
    if (o === null) return 0;
    const d = this.deps.discipline;
    if (d.offsetAt === undefined || o.raw === undefined || o.raw > raw) return o.offset;
    return d.offsetAt(o.raw, o.offset, raw);
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
    // While its filter fills after a clear, the peer is judged (and announced) by the dispersion of
    // its real samples, not the empty stages' MAXDISP.
    const filling = peer instanceof RefclockSource ? null : peer.filter.startupDispersion();
    const sample = clockSample(peer, raw, offset, selJitter, filling);
    if (sample === null) return;
    const result = this.deps.discipline.update(sample);
    switch (result.kind) {
      case 'step':
        // (The clock-step event came from the clock's change listener.) RFC 5905: after a step
        // every association restarts its filter; the system is unsynchronised
        // until the next update.
        for (const a of this.assocs.values()) a.clearAfterStep(raw);
        for (const r of this.refclocks.values()) r.clearAfterStep(raw);
        this.lastUpdateEpoch = Number.NEGATIVE_INFINITY;
        this.vars.stepped();
        this.setSynchronised(false);
        return;
      case 'panic':
        this.emit({ kind: 'clock-panic', offset: result.offset });
        return;
      case 'spike':
        return;
      case 'ignored':
        if (this.deps.discipline.followsExchanges !== true) return;
        break;
      case 'slew':
        break;
    }
    const stratum = Math.min(16, peer.stratum + 1);
    this.vars.update(raw, {
      leap: peer.leap,
      stratum,
      // RFC 5905 clock_update(): the refid is the system peer's address (IPv6: MD5 hash).
      // A reference clock's refid is its four-character code (stratum 1: "GPS", "PPS", "SHM0").
      refid:
        peer instanceof RefclockSource
          ? refidFromString(peer.cfg.refid)
          : addressRefid(peer.cfg.address, this.deps.crypto),
      rootDelay: sample.rootDelay,
      rootDispersion: sample.rootDispersion,
      offset,
      jitter: sample.jitter,
    });
    this.setSynchronised(stratum < 16);
  }

  private setSynchronised(on: boolean): void {
    if (this.vars.synchronised !== on) {
      this.vars.synchronised = on;
      this.emit({ kind: 'sync', synchronised: on });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Snapshots

  /** The verdict shown for a source: unfit now, else the last selection's. */
  private shownVerdict(p: Peer, raw: RawTime): Verdict {
    return (
      this.peerFitness(p, raw) ??
      this.verdicts.get(p.id) ?? { verdict: 'pending', reason: 'not evaluated yet' }
    );
  }

  snapshot(raw: RawTime): SystemSnapshot {
    const sources = [...this.assocs.values()].map((a) =>
      associationSnapshot(a, raw, this.shownVerdict(a, raw)),
    );
    for (const r of this.refclocks.values())
      sources.push(refclockSnapshot(r, raw, this.shownVerdict(r, raw)));
    return systemSnapshot(raw, {
      discipline: this.deps.discipline,
      precision: this.config.precision,
      state: this.serverState(raw),
      synchronised: this.vars.holdingOver(raw, this.sysPeer !== null) || this.config.localStratum !== null,
      vars: this.vars,
      sysPeer: this.sysPeer,
      sources,
      extra: {
        combinedOffset: this.vars.offset,
        serverRequests: this.server.requests,
        serverResponses: this.server.responses,
        interleavedResponses: this.server.interleavedResponses,
        interleavedTableEntries: this.server.table.count(),
        ...this.nts.extra(),
      },
    });
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
