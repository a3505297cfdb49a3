/**
 * One association (RFC 5905 sections 8-9 and 13): the peer variables, the clock filter and the
 * packets sent, with a small state per part: the poll process (poll.ts), client (client.ts),
 * symmetric (symmetric.ts), broadcast client (broadcast-client.ts) and NTS client (nts-client.ts);
 * the sanity checks are listed in checks.ts.
 *
 * Local timestamps are kept as { raw, time }: `raw` is the counter value (never steps), `time` our
 * clock reading (era-extended NTP time), which the system shifts when the clock is stepped.
 */
import { rootDistance } from '../algo/combine.js';
import { MAXDISP, PHI } from '../algo/constants.js';
import { ClockFilter, type FilterOutput, type FilterSample } from '../algo/filter.js';
import { type RawTime, rawSeconds } from '../clock/types.js';
import type { NtsKeys } from '../nts/cookie.js';
import type { NtsRequest } from '../nts/ntp.js';
import { durationToSeconds, type NtpDuration, type NtpTime, toTimestamp } from '../time/ntp-time.js';
import { shortToSeconds } from '../time/short.js';
import { kissCode } from '../wire/kiss.js';
import { emptyPacket, encodePacket, LEAP, MODE, type NtpPacket } from '../wire/packet.js';
import { BroadcastClientState, finishCalibration, receiveBroadcast } from './broadcast-client.js';
import { type AssocReject, headerCheck, impossibleDelay } from './checks.js';
import { ClientState, clientRequest, receiveServer } from './client.js';
import type { SourceConfig } from './config.js';
import { NtsClient } from './nts-client.js';
import { PollProcess } from './poll.js';
import { MAX_GROUP, receiveSymmetric, SymmetricState, symmetricPacket } from './symmetric.js';
import type { AssocContext, AssocOutput, LocalStamp, SentPacket } from './types.js';
import { type AuthResult, checkAuth, sign } from './util.js';

export type { AssocContext, AssocOutput, LocalStamp } from './types.js';

const HISTORY = 8;
const IBURST_COUNT = 6;
/** With an iburst split, the samples the iburst gets before it hands its other requests on. */
const IBURST_FIRST = 3;
const BURST_COUNT = 8;

export class Association {
  readonly id: string;
  readonly cfg: SourceConfig;
  readonly ctx: AssocContext;
  /** Local address packets from this peer arrived on (for the loop test). */
  localAddress: string | null = null;
  /** Mobilised by an incoming packet (passive peer or broadcast client), not configured. */
  readonly ephemeral: boolean;
  readonly polling: PollProcess;
  readonly client = new ClientState();
  readonly sym = new SymmetricState();
  readonly bc = new BroadcastClientState();
  readonly nts: NtsClient;

  // Peer variables from the last valid packet (RFC 5905 section 9.1).
  leap: number = LEAP.UNSYNC;
  stratum = 16;
  precision = 0;
  rootDelay = 0;
  rootDispersion = 0;
  refid = 0;
  referenceTime = 0n;
  version: number;
  lastValid: RawTime | null = null;
  auth: AuthResult = 'none';

  // Statistics.
  readonly filter: ClockFilter;
  /** Epoch (raw seconds) of the newest sample the clock filter passed on (RFC 5905 peer t). */
  selectEpoch = Number.NEGATIVE_INFINITY;
  /** Rejected packets by check (AssocReject). */
  readonly rejected: Record<string, number> = {};
  packetsSent = 0;
  packetsReceived = 0;
  interleaved = false;

  // On-wire state shared by the modes: the packets sent (newest first) and the last transmit
  // timestamp received; interleaving given up (the peer does not support it).
  sent: SentPacket[] = [];
  lastRecvXmt = 0n;
  xleaveGaveUp = false;

  constructor(id: string, cfg: SourceConfig, ctx: AssocContext, ephemeral = false) {
    this.id = id;
    this.cfg = cfg;
    this.ctx = ctx;
    this.ephemeral = ephemeral;
    this.polling = new PollProcess(cfg, () => ctx.random());
    this.nts = new NtsClient(ctx.crypto);
    this.version = cfg.version;
    this.filter = new ClockFilter(2 ** ctx.precision);
  }

  get hpoll(): number {
    return this.polling.hpoll;
  }

  get ppoll(): number {
    return this.polling.ppoll;
  }

  get reach(): number {
    return this.polling.reach;
  }

  get nextPoll(): RawTime | null {
    return this.polling.nextPoll;
  }

  get stopped(): boolean {
    return this.polling.stopped;
  }

  /** Taken offline by the operator (`ntpkit offline`). */
  get offline(): boolean {
    return this.polling.offline;
  }

  /**
   * Operator burst (`ntpkit burst`): `count` requests from now, at most a quarter of the poll
   * apart. False (nothing changes) for passive, broadcast-client, offline or kiss-stopped ones.
   */
  burst(raw: RawTime, count = BURST_COUNT): boolean {
    const pp = this.polling;
    if (pp.stopped || pp.offline || this.cfg.mode === 'passive' || this.cfg.mode === 'broadcast-client')
      return false;
    pp.burst(raw, count);
    return true;
  }

  setOffline(raw: RawTime, offline: boolean): void {
    this.polling.setOffline(raw, offline);
  }

  /** Last kiss code received, if any. */
  get kod(): string | null {
    return this.polling.kod;
  }

  /** A burst is under way (RFC 5905 clock_filter(): no clock_select() until the burst is over). */
  get inBurst(): boolean {
    return this.polling.burstLeft > 0;
  }

  get calibrating(): boolean {
    return this.cfg.mode === 'broadcast-client' && this.bc.phase === 'calibrate';
  }

  get calibratedDelay(): number | null {
    return this.bc.calibratedDelay;
  }

  /** Counts a rejected packet by check name. */
  reject(reason: AssocReject): AssocOutput[] {
    this.rejected[reason] = (this.rejected[reason] ?? 0) + 1;
    return [{ kind: 'event', event: { kind: 'reject', sourceId: this.id, reason } }];
  }

  /** All local stamps we hold (those read before counter `before`, when given), for shifting on a clock step or leap. */
  shiftLocalTimes(by: NtpDuration, before?: RawTime): void {
    const seen = new Set<LocalStamp>();
    const stamps = [...this.sent.map((p) => p.tx), this.sym.dst, ...this.client.stamps(), this.bc.last?.dst];
    for (const s of stamps) {
      if (s === null || s === undefined || seen.has(s) || (before !== undefined && s.raw >= before)) continue;
      seen.add(s);
      s.time += by;
    }
  }

  /** RFC 5905 clear(): after a clock step the filter restarts and polling goes back to minpoll. */
  clearAfterStep(raw: RawTime): void {
    this.filter.clear(rawSeconds(raw));
    this.selectEpoch = Number.NEGATIVE_INFINITY;
    this.polling.reset();
    if (this.cfg.mode === 'broadcast-client') this.bc.startCalibration();
  }

  /** The clock filter's current output (peer offset, delay, dispersion, jitter). */
  output(): FilterOutput | null {
    return this.filter.output();
  }

  /**
   * Root distance of this peer at `raw` (RFC 5905 root_dist()); while the clock filter is filling
   * after a clear, with the dispersion of its real samples (`ClockFilter.startupDispersion`).
   */
  rootDistance(raw: RawTime): number {
    const o = this.output();
    if (o === null) return MAXDISP;
    return rootDistance({
      rootDelay: this.rootDelay,
      delay: o.delay,
      rootDispersion: this.rootDispersion,
      dispersion: this.filter.startupDispersion() ?? o.dispersion,
      jitter: o.jitter,
      age: rawSeconds(raw) - o.epoch,
    });
  }

  /** Poll exponent the peer is sent (symmetric: the smaller of ours and the peer's). */
  effectivePoll(): number {
    return this.polling.effectivePoll();
  }

  /** Start polling (immediately with iburst, else after a short random delay). */
  start(raw: RawTime): void {
    this.polling.start(raw);
  }

  stop(reason: string): void {
    this.polling.stop(reason);
  }

  /**
   * NTS: a new session from NTS-KE (keys, cookies) and the NTP server it names. Polling resumes at
   * once (the poll that found no cookie was not sent).
   */
  setNtsSession(
    raw: RawTime,
    keys: NtsKeys,
    cookies: readonly Uint8Array[],
    address: string,
    port: number,
  ): void {
    this.nts.set(keys, cookies);
    this.cfg.address = address;
    this.cfg.port = port;
    if (this.polling.kod === 'NTSN') this.polling.kod = null;
    if (!this.polling.stopped && !this.polling.offline) this.polling.nextPoll = raw;
  }

  /** NTS: cookies left in the pool (null without a session). */
  ntsCookies(): number | null {
    return this.nts.cookies();
  }

  get hasNtsSession(): boolean {
    return this.nts.hasSession;
  }

  get ntsKeRequests(): number {
    return this.nts.keRequests;
  }

  get ntsNaks(): number {
    return this.nts.naks;
  }

  get ntsAuthFailures(): number {
    return this.nts.authFailures;
  }

  /** Poll timer expired (RFC 5905 section 13 poll()). */
  poll(raw: RawTime): AssocOutput[] {
    const out: AssocOutput[] = [];
    const pp = this.polling;
    if (pp.stopped || pp.offline) {
      pp.nextPoll = null;
      return out;
    }
    if (this.cfg.mode === 'broadcast-client' && this.bc.phase === 'listen') {
      // No transmissions: the timer only ages the reachability register at the broadcast interval.
      this.shiftReach(out, raw);
      if (pp.reach === 0) {
        this.bc.startCalibration();
        if (this.ephemeral) {
          out.push({ kind: 'demobilise', reason: 'broadcast server unreachable' });
          return out;
        }
      }
      if (this.bc.phase === 'listen') {
        pp.schedule(raw, 2 ** Math.max(pp.ppoll, this.cfg.minpoll));
        return out;
      }
    }
    if (this.calibrating && this.bc.calibrationDue()) {
      finishCalibration(this, raw);
      return out;
    }
    if (pp.burstLeft > 0 && pp.splitOpen && pp.burstDelays.length >= IBURST_FIRST) {
      // The iburst has its first samples: the discipline may hand the rest to the first regular poll.
      pp.splitOpen = false;
      const held = Math.floor(this.ctx.iburstHeld?.(pp.interval(), pp.burstDelays) ?? 0);
      pp.heldBurst = Math.max(0, Math.min(held, pp.burstLeft));
      pp.burstLeft -= pp.heldBurst;
      if (pp.burstLeft === 0) {
        pp.schedule(raw, pp.interval());
        return out;
      }
    }
    if (pp.burstLeft > 0) {
      pp.burstLeft--;
      out.push(...this.transmit(raw));
      if (pp.burstLeft > 0) pp.scheduleBurst(raw);
      else pp.schedule(raw, this.calibrating ? Math.min(2 ** pp.effectivePoll(), 16) : pp.interval());
      return out;
    }
    const wasReachable = pp.reach !== 0;
    if (pp.reachPeriodOver(raw)) {
      pp.lastReachShift = raw;
      if (pp.peerNotYetLate(raw, this.lastValid)) pp.reach |= 1;
      this.shiftReach(out, raw);
    }
    if (this.cfg.mode === 'passive' && wasReachable && pp.reach === 0) {
      out.push({ kind: 'demobilise', reason: 'passive peer unreachable' });
      pp.nextPoll = null;
      return out;
    }
    pp.adjust(this.ctx.systemPoll(), this.calibrating, this.ctx.isSystemPeer(this.id));
    let interval = pp.interval();
    if (pp.reach === 0 && this.cfg.iburst && pp.unreachPolls <= 2) {
      pp.burstLeft = IBURST_COUNT - 1;
      pp.burstDelays = [];
      pp.splitOpen = this.ctx.iburstHeld !== undefined;
    } else if (pp.reach !== 0 && pp.heldBurst > 0) {
      pp.burstLeft = pp.heldBurst;
      pp.heldBurst = 0;
    } else if (pp.reach !== 0 && this.cfg.burst) {
      pp.burstLeft = BURST_COUNT - 1;
    } else if (this.calibrating) {
      pp.burstLeft = this.bc.samplesWanted - 1;
    }
    out.push(...this.transmit(raw));
    if (pp.burstLeft > 0) {
      pp.scheduleBurst(raw);
      return out;
    }
    if (this.calibrating) interval = Math.min(interval, 16);
    pp.schedule(raw, interval);
    return out;
  }

  private shiftReach(out: AssocOutput[], raw?: RawTime): void {
    const pp = this.polling;
    const before = pp.reach;
    pp.reach = (pp.reach << 1) & 0xff;
    // RFC 5905 poll(): three unanswered polls shift a dummy sample into the clock filter.
    if (raw !== undefined && before !== 0 && (pp.reach & 0x7) === 0 && this.filter.count() > 0)
      this.filter.addDummy(rawSeconds(raw), 2 ** pp.hpoll);
    if (before !== 0 && pp.reach === 0)
      out.push({ kind: 'event', event: { kind: 'unreachable', sourceId: this.id } });
  }

  /** A transmit timestamp: our clock with the bits below our precision randomised (RFC 5905 section 6). */
  private fuzzedNow(raw: RawTime): { stamp: LocalStamp; wire: bigint } {
    const time = this.ctx.clock.read(raw);
    const bits = Math.max(0, Math.min(32, 32 + this.ctx.precision));
    const mask = (1n << BigInt(bits)) - 1n;
    const rnd = BigInt(Math.floor(this.ctx.random() * 2 ** bits)) & mask;
    let wire = (toTimestamp(time) & ~mask) | rnd;
    if (wire === 0n) wire = 1n;
    return { stamp: { raw, time, precise: false }, wire };
  }

  /** A random non-zero 64-bit value different from `avoid`. */
  cookie(avoid: bigint): bigint {
    for (;;) {
      const hi = BigInt(Math.floor(this.ctx.random() * 2 ** 32));
      const lo = BigInt(Math.floor(this.ctx.random() * 2 ** 32));
      const c = (hi << 32n) | lo;
      if (c !== 0n && c !== avoid) return c;
    }
  }

  private remember(p: SentPacket): void {
    this.sent.unshift(p);
    // Symmetric peers keep every packet sent since the peer's previous packet (an interleaved reply
    // may answer any of them), however many our faster polls made.
    const symmetric = this.cfg.mode === 'peer' || this.cfg.mode === 'passive';
    const cap = symmetric
      ? HISTORY + Math.min(MAX_GROUP, this.sym.sentSinceRx + this.sym.sentPrevGroup)
      : HISTORY;
    if (this.sent.length > cap) this.sent.length = cap;
  }

  /** Builds and sends one packet to the peer (client request, or symmetric packet). */
  transmit(raw: RawTime): AssocOutput[] {
    const { stamp, wire } = this.fuzzedNow(raw);
    const p = emptyPacket();
    p.version = this.cfg.version;
    // Our own poll (RFC 5905 peer_xmit, chrony): a symmetric peer sends at the smaller of the two,
    // so advertising that smaller one instead would hold both at it for good.
    p.poll = this.hpoll;
    p.precision = this.ctx.precision;
    const interleaved =
      this.cfg.mode === 'server' || this.cfg.mode === 'broadcast-client'
        ? clientRequest(this, p, wire)
        : symmetricPacket(this, p, raw, wire);
    let ntsReq: NtsRequest | undefined;
    if (this.cfg.nts === true) {
      // NTS: never a request without a cookie; ask the host for NTS-KE instead.
      const out: AssocOutput[] = [];
      const req = this.nts.request(this.id, p, (n) => this.ctx.randomBytes(n), out);
      if (req === null) return out;
      ntsReq = req;
    }
    const signed = ntsReq === undefined ? sign(p, this.ctx.keys, this.cfg.key) : ntsReq.packet;
    if (signed === null) {
      // The key is missing or this build cannot compute its type: never send unsigned.
      const reason = `key ${this.cfg.key ?? ''} unusable: nothing sent` as const;
      return [{ kind: 'event', event: { kind: 'reject', sourceId: this.id, reason } }];
    }
    const sent: SentPacket = {
      xmtField: p.transmitTimestamp,
      recField: p.receiveTimestamp,
      recBase: this.sym.dstWire,
      orgField: p.originTimestamp,
      interleaved,
      tx: stamp,
    };
    if (ntsReq !== undefined) sent.nts = ntsReq;
    this.sym.sentSinceRx++;
    this.remember(sent);
    this.packetsSent++;
    if (this.calibrating) this.bc.calibAttempts++;
    const txId = this.ctx.allocTxId((sentRaw) => {
      sent.tx.raw = sentRaw;
      sent.tx.time = this.ctx.clock.read(sentRaw);
      sent.tx.precise = true;
      if (this.sent[0] === sent) this.sym.prevPreciseTxWire = toTimestamp(sent.tx.time) || 1n;
    });
    return [{ kind: 'send', bytes: ntsReq === undefined ? encodePacket(signed) : ntsReq.bytes, txId }];
  }

  /** Common header processing for a packet that passed the on-wire tests. */
  acceptHeader(raw: RawTime, pkt: NtpPacket, out: AssocOutput[]): void {
    const pp = this.polling;
    if (pp.reach === 0) out.push({ kind: 'event', event: { kind: 'reachable', sourceId: this.id } });
    pp.reach |= 1;
    this.lastValid = raw;
    this.leap = pkt.leap;
    this.stratum = pkt.stratum === 0 ? 16 : pkt.stratum;
    this.precision = pkt.precision;
    this.rootDelay = shortToSeconds(pkt.rootDelay);
    this.rootDispersion = shortToSeconds(pkt.rootDispersion);
    this.refid = pkt.referenceId;
    this.referenceTime = pkt.referenceTimestamp;
    this.version = pkt.version;
    pp.ppoll = pkt.poll;
  }

  /** Header tests (checks.ts): true when the packet may give a sample. */
  headerOk(pkt: NtpPacket, out: AssocOutput[]): boolean {
    const failed = headerCheck(pkt, this.localAddress, this.ctx.crypto);
    this.polling.followsUs = failed === 'test12-loop';
    if (failed !== null) out.push(...this.reject(failed));
    return failed === null;
  }

  /** Handles a kiss-o'-death that passed the origin check (RFC 5905 section 7.4). */
  handleKiss(pkt: NtpPacket, out: AssocOutput[]): void {
    const code = kissCode(pkt) ?? '';
    this.polling.kod = code;
    this.rejected.kod = (this.rejected.kod ?? 0) + 1;
    out.push({ kind: 'event', event: { kind: 'kod', sourceId: this.id, code } });
    if (code === 'RATE') this.polling.rate(pkt.poll);
    else if (code === 'DENY' || code === 'RSTR') this.stop(code);
  }

  authOk(pkt: NtpPacket, out: AssocOutput[]): boolean {
    const a = checkAuth(pkt, this.ctx.keys, this.cfg.key);
    if (a === 'failed') {
      this.auth = 'failed';
      out.push(...this.reject('auth'));
      return false;
    }
    this.auth = a;
    return true;
  }

  /** A packet from this peer (already decoded and matched to the association). */
  receive(raw: RawTime, pkt: NtpPacket, bytes?: Uint8Array): AssocOutput[] {
    this.packetsReceived++;
    switch (pkt.mode) {
      case MODE.SERVER:
        if (this.cfg.mode === 'server' || this.cfg.mode === 'broadcast-client')
          return receiveServer(this, raw, pkt, bytes);
        break;
      case MODE.SYMMETRIC_ACTIVE:
      case MODE.SYMMETRIC_PASSIVE:
        if (this.cfg.mode === 'peer' || this.cfg.mode === 'passive') return receiveSymmetric(this, raw, pkt);
        break;
      case MODE.BROADCAST:
        if (this.cfg.mode === 'broadcast-client') return receiveBroadcast(this, raw, pkt);
        break;
    }
    return this.reject('mode');
  }

  /** The sample of one exchange T1..T4 (null when a sanity check rejects it); its delay. */
  sampleFrom(
    t1: LocalStamp,
    t2: NtpTime,
    t3: NtpTime,
    t4: LocalStamp,
    pkt: NtpPacket,
    out: AssocOutput[],
  ): number | null {
    // RFC 5905 section 8: θ = ((T2 − T1) + (T3 − T4)) / 2, δ = (T4 − T1) − (T3 − T2).
    const offset = durationToSeconds(t2 - t1.time + (t3 - t4.time)) / 2;
    const rawDelay = durationToSeconds(t4.time - t1.time - (t3 - t2));
    const ourPrecision = 2 ** this.ctx.precision;
    const delay = Math.max(rawDelay, ourPrecision);
    // Symmetric peers may send faster than we do.
    const symmetric = this.cfg.mode === 'peer' || this.cfg.mode === 'passive';
    const interval = symmetric ? 2 ** Math.min(this.hpoll, this.ppoll) : 2 ** this.hpoll;
    if (impossibleDelay(rawDelay, interval)) {
      out.push(...this.reject('negative-delay'));
      return null;
    }
    if (this.cfg.maxDelay !== undefined && delay > this.cfg.maxDelay) {
      out.push(...this.reject('maxdelay'));
      return null;
    }
    const span = Math.max(0, durationToSeconds(t4.time - t1.time));
    const dispersion = 2 ** pkt.precision + ourPrecision + PHI * span;
    this.pushSample(
      t4.raw,
      this.ctx.correctOffset(rawSeconds(t4.raw), offset, delay),
      delay,
      dispersion,
      out,
    );
    out.push({
      kind: 'exchange',
      exchange: {
        sourceId: this.id,
        ta: t1.raw,
        tb: t2,
        te: t3,
        tf: t4.raw,
        rootDelay: this.rootDelay,
        rootDispersion: this.rootDispersion,
        stratum: this.stratum,
      },
    });
    return delay;
  }

  /** A sample for the clock filter; the system re-runs the selection in any case. */
  pushSample(raw: RawTime, offset: number, delay: number, dispersion: number, out: AssocOutput[]): void {
    const s: FilterSample = { offset, delay, dispersion, epoch: rawSeconds(raw), raw };
    const prev = this.filter.output();
    const disp = prev === null ? dispersion : Math.max(dispersion, prev.dispersion);
    this.polling.sample(offset, delay, disp, prev?.offset ?? null, prev === null ? 0 : s.epoch - prev.epoch);
    if (this.polling.splitOpen) this.polling.burstDelays.push(delay);
    const v = this.filter.add(s, 2 ** this.hpoll);
    if (v.kind === 'update') this.selectEpoch = v.output.epoch;
    else if (v.kind === 'spike') out.push(...this.reject('popcorn-spike'));
    // The peer variables changed in any case: let the system re-run the selection.
    out.push({ kind: 'update' });
  }

  setInterleaved(on: boolean, out: AssocOutput[]): void {
    if (this.interleaved !== on) {
      this.interleaved = on;
      out.push({ kind: 'event', event: { kind: 'interleaved', sourceId: this.id, on } });
    }
  }
}
