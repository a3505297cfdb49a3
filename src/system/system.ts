/**
 * The NTP system process (RFC 5905 sections 9-12): associations → clock filter → selection →
 * cluster → combine → discipline, plus the server responder and broadcast servers. Sans-IO: packets,
 * timer events and raw counter values in, actions out; the daemon and the simulator drive this class.
 */

import { HuffPuff } from '../algo/huffpuff.js';
import { type AssocContext, Association, type AssocOutput, type LocalStamp } from '../assoc/association.js';
import { BroadcastServer } from '../assoc/broadcast.js';
import { ServerResponder, type ServerState } from '../assoc/server.js';
import { KeyRing } from '../assoc/util.js';
import type { ClockChange, RawTime } from '../clock/types.js';
import type { CookieJar, NtsKeys } from '../nts/cookie.js';
import { RefclockSource, type SampleResult } from '../refclock/source.js';
import type { RefclockConfig, RefclockSample } from '../refclock/types.js';
import { type Answer, type AnswerContext, answerRequest } from '../serve/answer.js';
import type { ServeEngine } from '../serve/server.js';
import type { LeapList } from '../time/leap-list.js';
import { secondsToDuration } from '../time/ntp-time.js';
import { decodePacket, MODE, type NtpPacket } from '../wire/packet.js';
import { carryOut, fireBroadcasts, type OutputHost, peerRefid, referToStep } from './assoc-outputs.js';
import {
  BurstWatch,
  candidateRules,
  findAssoc,
  type PacketTarget,
  type Peer,
  packetTarget,
  startupQuorum,
} from './candidates.js';
import { bytesFromRandom, mobilisedConfig, uniqueId } from './defaults.js';
import { asRoundTrip } from './exchange.js';
import { LeapControl } from './leap-control.js';
import {
  isOrphanParent,
  type LeapOrphanHost,
  leapOrphanSnapshot,
  leapUpdate,
  orphanSelect,
  servedState,
} from './leap-orphan.js';
import {
  type Candidate,
  clockSample,
  type Entry,
  fitness,
  mitigate,
  offsetNow,
  type Verdict,
} from './mitigation.js';
import { NtsServer } from './nts-server.js';
import { OrphanState } from './orphan.js';
import { Refclocks } from './refclocks.js';
import type { SystemSnapshot } from './snapshot.js';
import { associationSnapshot, engineExtra, refclockSnapshot, systemSnapshot } from './snapshot-build.js';
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
  SystemEventKind,
} from './types.js';

export { defaultSourceConfig, defaultSystemConfig } from './defaults.js';

export class NtpSystem implements NtpEngine {
  readonly config: SystemConfig;
  private readonly deps: SystemDeps;
  private readonly assocs = new Map<string, Association>();
  /** The reference clocks (`get(id)`, `ids()`: the host runs one driver per entry). */
  readonly refclocks = new Refclocks();
  private readonly broadcasters: BroadcastServer[];
  readonly server: ServerResponder;
  private readonly huffPuff: HuffPuff | null;
  private readonly tx = new TxIds();
  private lastTimer: RawTime | null = null;
  private readonly verdicts = new Map<string, Verdict>();
  private readonly ctx: AssocContext;
  private events: SystemEvent[] = [];
  /** Events emitted since the start, by kind. */
  private readonly eventCounts: Partial<Record<SystemEventKind, number>> = {};
  private readonly bursts = new BurstWatch();
  private readonly randomBytes: (n: number) => Uint8Array;
  /** The configured symmetric keys with the host's crypto provider. */
  private readonly keyRing: KeyRing;
  /** The NTS server's cookie jar and statistics (`ntsServer.stats`). */
  readonly ntsServer = new NtsServer();
  /** What the server decision (src/serve) needs to answer requests with this engine's clock and state. */
  readonly answerContext: AnswerContext;
  /** System variables (RFC 5905 section 11.3). */
  private readonly vars: SystemVariables;
  /** Leap seconds: the vote, the UTC and served views of the discipline's clock (src/clock/leap.ts). */
  readonly leapControl: LeapControl;
  /** What the leap and orphan steps need (leap-orphan.ts); `lo.orphan`: orphan mode, null when off. */
  private readonly lo: LeapOrphanHost;
  private sysPeer: string | null = null;
  /** The last system peer before the current one (null: none yet). */
  private lastSysPeer: string | null = null;
  private lastUpdateEpoch = Number.NEGATIVE_INFINITY;
  private readonly unsubscribe: () => void;
  private readonly outputHost: OutputHost = {
    emit: (e) => this.emit(e),
    // As their round trip (exchange.ts); without a system peer, the last one's still count as its.
    exchange: (x, id) => {
      const r = asRoundTrip(this.leapControl.continuous(x), this.deps.discipline.clock.frequencyPpm());
      if (r !== null)
        this.deps.discipline.exchange(
          r,
          this.sysPeer === id || (this.sysPeer === null && this.lastSysPeer === id),
        );
    },
    demobilise: (id, reason) => this.demobilise(id, reason),
  };

  constructor(config: SystemConfig, deps: SystemDeps) {
    this.config = config;
    this.deps = deps;
    this.server = new ServerResponder(config.interleavedTableSize);
    this.broadcasters = config.broadcast.map((b) => new BroadcastServer(b));
    const leapMode = config.leapMode ?? 'step';
    this.leapControl = new LeapControl(deps.discipline.clock, leapMode, config.leapSmearWindow);
    this.vars = new SystemVariables(config, this.leapControl.clock.utc);
    this.huffPuff = config.huffPuff > 0 ? new HuffPuff(config.huffPuff) : null;
    this.keyRing = new KeyRing(config.keys, deps.crypto);
    const unusable = this.keyRing.unsupported();
    if (unusable.length > 0)
      throw new RangeError(
        `${unusable.map((k) => `key ${k.id} (${k.type})`).join(', ')}: not available in ${deps.crypto.name}`,
      );
    this.randomBytes = deps.randomBytes ?? bytesFromRandom(deps.random);
    this.ctx = {
      clock: this.leapControl.clock.utc,
      random: deps.random,
      keys: this.keyRing,
      crypto: deps.crypto,
      precision: config.precision,
      serverState: (raw) => this.serverState(raw),
      systemPoll: () => deps.discipline.pollExponent(),
      iburstHeld: (s, d) => deps.discipline.iburstHeld?.(s, d) ?? 0,
      isSystemPeer: (id) => this.sysPeer === id,
      correctOffset: (epoch, offset, delay) => {
        if (this.huffPuff === null) return offset;
        this.huffPuff.add(epoch, delay);
        return this.huffPuff.correct(offset, delay);
      },
      allocTxId: (onSent) => this.tx.alloc(onSent),
      randomBytes: (n) => this.randomBytes(n),
    };
    this.answerContext = {
      clock: this.leapControl.clock.served,
      serverState: (raw) => this.serverState(raw),
      keys: this.keyRing,
      responder: this.server,
      ntsJar: () => this.ntsServer.jar,
      ntsStats: this.ntsServer.stats,
      randomBytes: (n) => this.randomBytes(n),
      allocTxId: (onSent) => this.tx.alloc(onSent),
    };
    this.lo = {
      config,
      vars: this.vars,
      leapControl: this.leapControl,
      orphan: config.orphanStratum == null ? null : new OrphanState(config.orphanStratum),
      crypto: deps.crypto,
      assocs: () => this.assocs.values(),
      hasSysPeer: () => this.sysPeer !== null,
      emit: (e) => this.emit(e),
    };
    this.unsubscribe = deps.discipline.clock.onChange((c) => this.onClockChange(c));
  }

  /** Stops listening to the clock (for hosts that create many engines over one clock). */
  dispose(): void {
    this.unsubscribe();
  }

  private onClockChange(c: ClockChange): void {
    this.vars.clockTouched = true;
    if (c.kind !== 'step') return;
    // Every step of the clock is an event (the feed-forward clock steps by itself, outside update()).
    const cause = this.vars.updateRaw === null ? 'startup' : 'offset';
    this.emit({ kind: 'clock-step', offset: c.offset, reason: c.reason ?? 'clock stepped', cause });
    this.vars.synchronised = false; // the variables describe the clock before the step
    referToStep(this.assocs.values(), c.offset);
    if (this.vars.referenceTime !== null) this.vars.referenceTime += secondsToDuration(c.offset);
  }

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
        this.answerInto(actions, this.answerRequest(raw, txRaw, pkt, bytes, from, to));
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
            this.answerInto(actions, this.answerRequest(raw, txRaw, pkt, bytes, from, to));
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

  /** Who takes a mode 1 or mode 5 packet from `from` (candidates.ts packetTarget). */
  packetTarget(pkt: NtpPacket, from: Endpoint): PacketTarget {
    return packetTarget(this.assocs.values(), this.config, this.keyRing, pkt, from);
  }

  /** The answer to a request the server decision admitted (src/serve/answer.ts). */
  answerRequest(...[raw, now, ...rest]: Parameters<ServeEngine['answerRequest']>): Answer {
    return answerRequest(this.answerContext, raw, now > raw ? now : raw, ...rest);
  }

  /** Queues an answer; a refusal is an event. */
  private answerInto(actions: Action[], a: Answer): void {
    if (a.kind === 'reply') actions.push(a.send);
    const reason = a.kind === 'none' ? a.reason : a.nak;
    if (reason !== undefined) this.emit({ kind: 'reject', sourceId: null, reason });
  }

  /** Mobilises an ephemeral association for an unconfigured symmetric-active or broadcast server. */
  private mobilise(
    raw: RawTime,
    pkt: NtpPacket,
    from: Endpoint,
    mode: 'passive' | 'broadcast-client',
    actions: Action[],
  ): Association | undefined {
    const cfg = mobilisedConfig(from, mode, pkt.poll, pkt.mac?.keyId);
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
    fireBroadcasts(this.broadcasters, raw, actions, {
      clock: this.leapControl.clock.served,
      state: () => this.serverState(raw),
      keys: this.keyRing,
      alloc: (f) => this.tx.alloc(f),
    });
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

  /**
   * Gives an NTS source (SourceConfig.nts) its NTS-KE session: AEAD keys, cookies and the NTP server
   * named (the association's new address and port); after an 'nts-ke' event or on adding the source.
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
    this.ntsServer.jar = jar;
  }

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
    return this.refclocks.sample(id, sample, this.leapControl.clock.utc);
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

  /** Every source of the selection. */
  private peers(): Peer[] {
    return [...this.assocs.values(), ...this.refclocks.values()];
  }

  private emit(e: SystemEvent): void {
    this.eventCounts[e.kind] = (this.eventCounts[e.kind] ?? 0) + 1;
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
    const updated = carryOut(a, outs, actions, this.outputHost);
    const burstLost = this.bursts.observe(a, this.lastUpdateEpoch);
    // Unsynchronised, the system process also runs in a burst (ntpd does), at each sample once over half
    // the sources have one: the initial offset goes at once, and no lone early answer decides the time.
    const run = updated && (!a.inBurst || (!this.vars.synchronised && startupQuorum(this.peers())));
    if (run) this.bursts.ran(a.id);
    if (run || burstLost || outs.some((o) => o.kind === 'event' && o.event.kind === 'unreachable'))
      this.mitigate(raw);
  }

  /** Our system variables as advertised to clients and peers (leap-orphan.ts). */
  serverState(raw: RawTime): ServerState {
    return servedState(this.lo, raw);
  }

  /** Loads (or with null drops) the leap-second list the vote consults (src/time/leap-list.ts). */
  setLeapList(raw: RawTime, list: LeapList | null): Action[] {
    this.leapControl.setList(list);
    return this.finish(raw, []);
  }

  private leapUpdate(raw: RawTime, survivors: number[] | null): void {
    leapUpdate(this.lo, raw, survivors, this.peers().filter((p) => !p.cfg.noselect).length);
  }

  private finish(raw: RawTime, actions: Action[]): Action[] {
    this.leapUpdate(raw, null);
    const sync = this.vars.syncChange(raw, this.sysPeer !== null);
    if (sync !== null) this.emit(sync);
    for (const e of this.events) actions.push({ kind: 'event', event: e });
    this.events = [];
    let at = this.refclocks.nextPoll();
    for (const t of [
      ...[...this.assocs.values()].map((a) => a.nextPoll),
      ...this.broadcasters.map((b) => b.nextAt),
      this.leapControl.dueRaw(raw),
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
    let entries: Entry<Peer>[] = this.peers().map((p) => ({
      source: p,
      rules: candidateRules(p, this.deps.crypto),
    }));
    const env = {
      config: this.config,
      pollExponent: this.deps.discipline.pollExponent(),
      sysPeer: this.sysPeer,
      offsetNow: (c: Candidate, at: RawTime) => offsetNow(this.deps.discipline, c, at),
    };
    if (this.lo.orphan !== null) {
      const o = orphanSelect(this.lo, raw, entries, env, this.verdicts);
      if (o === null) {
        this.setSysPeer(null);
        return;
      }
      entries = o;
    }
    const m = mitigate(entries, raw, env);
    for (const [id, v] of m.verdicts) this.verdicts.set(id, v);
    if (m.survivors !== null)
      this.leapUpdate(
        raw,
        m.survivors.map((p) => p.leap),
      );
    const peer = m.sysPeer;
    if (this.setSysPeer(peer?.id ?? null) && peer instanceof Association)
      peer.polling.pullIn(this.deps.discipline.pollExponent());
    if (peer === null || m.update === null || peer.selectEpoch <= this.lastUpdateEpoch) return;
    const served = this.vars.checkServed(
      raw,
      true,
      offsetNow(this.deps.discipline, peer, raw),
      peer.output()?.delay ?? 0,
    );
    if (served !== null) this.emit(served);
    this.lastUpdateEpoch = peer.selectEpoch;
    this.clockUpdate(raw, peer, m.update.offset, m.update.jitter);
  }

  private setSysPeer(id: string | null): boolean {
    if (this.sysPeer === id) return false;
    if (this.sysPeer !== null) this.lastSysPeer = this.sysPeer;
    this.sysPeer = id;
    this.emit({ kind: 'sys-peer', sourceId: id });
    return true;
  }

  /** RFC 5905 section 11.3 clock_update(). */
  private clockUpdate(raw: RawTime, peer: Peer, offset: number, selJitter: number): void {
    // While its filter fills after a clear: the dispersion of its real samples, not the empty stages'.
    const filling = peer instanceof RefclockSource ? null : peer.filter.startupDispersion();
    const sample = clockSample(peer, raw, offset, selJitter, filling);
    if (sample === null) return;
    const result = this.deps.discipline.update(sample);
    switch (result.kind) {
      case 'step':
        // (The clock-step event came from the clock's change listener.) RFC 5905: after a step every
        // association restarts its filter; the system is unsynchronised until the next update.
        for (const a of this.assocs.values()) a.clearAfterStep(raw);
        for (const r of this.refclocks.values()) r.clearAfterStep(raw);
        this.lastUpdateEpoch = Number.NEGATIVE_INFINITY;
        this.vars.stepped();
        this.vars.synchronised = false; // 'sync' events follow the announcement, in finish()
        return;
      case 'panic':
        this.emit({ kind: 'clock-panic', offset: result.offset });
        return;
      case 'spike':
        // The served time is known to be off by more than the step threshold until the step.
        this.vars.hold = `a step of ${offset.toFixed(6)} s is pending (stepout)`;
        return;
      case 'ignored':
        if (this.deps.discipline.followsExchanges !== true) return;
        break;
      case 'slew':
        if (this.vars.largeSlewStarted(result.offset))
          this.emit({ kind: 'clock-slew', offset: result.offset, sourceId: peer.id });
        break;
    }
    const stratum = Math.min(16, peer.stratum + 1);
    this.vars.update(raw, {
      leap: peer.leap,
      stratum,
      refid: peerRefid(peer, this.deps.crypto),
      rootDelay: sample.rootDelay,
      rootDispersion: sample.rootDispersion,
      offset,
      jitter: sample.jitter,
    });
    this.vars.synchronised = stratum < 16; // 'sync' events follow the announcement, in finish()
  }

  /** The verdict shown for a source: unfit now, else the last selection's. */
  private shownVerdict(p: Peer, raw: RawTime): Verdict {
    return (
      this.peerFitness(p, raw) ??
      this.verdicts.get(p.id) ?? { verdict: 'pending', reason: 'not evaluated yet' }
    );
  }

  snapshot(raw: RawTime): SystemSnapshot {
    const ann = this.vars.announcement(raw, this.sysPeer !== null);
    const sources = [...this.assocs.values()].map((a) =>
      associationSnapshot(a, raw, this.shownVerdict(a, raw)),
    );
    for (const r of this.refclocks.values())
      sources.push(refclockSnapshot(r, raw, this.shownVerdict(r, raw)));
    const snap = systemSnapshot(raw, {
      discipline: this.deps.discipline,
      clock: this.leapControl.clock.served,
      precision: this.config.precision,
      state: this.serverState(raw),
      synchronised: ann.synchronised || isOrphanParent(this.lo),
      vars: this.vars,
      sysPeer: this.sysPeer,
      sources,
      events: { ...this.eventCounts },
      extra: engineExtra(this.vars, this.server, this.ntsServer),
    });
    return { ...snap, ...leapOrphanSnapshot(this.lo, raw) };
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
