/**
 * One association (RFC 5905 sections 8-9 and 13): the peer process and the poll process for a
 * client (mode 3 → 4), symmetric active/passive (modes 1/2) or broadcast client (mode 5) association,
 * with the interleaved variants of RFC 9769.
 *
 * On-wire checks (RFC 5905 section 8, named after ntpd's/chrony's tests):
 *   test1-duplicate   the transmit timestamp equals the last one received (replay / duplicate)
 *   test2-bogus       the origin timestamp matches nothing we sent (basic: our last transmit
 *                     timestamp; interleaved: our last receive timestamp)
 *   test3-invalid     a zero timestamp where a real one is needed (peer not yet synchronised to our
 *                     packets)
 *   crossed           symmetric mode: the peer answers an older packet of ours (packets crossed in
 *                     flight; interleaved: also a packet it already answered, when it polls faster)
 *   auth              MAC missing or wrong (or a crypto-NAK) where a key is configured
 *   kod               a kiss-o'-death was received
 * Header checks (RFC 5905 section 9.2 / ntpd TEST6, TEST7, TEST12):
 *   test6-unsynchronised   leap 3 or stratum 16 (or a non-kiss stratum 0)
 *   test7-distance         advertised root distance ≥ MAXDISP
 *   test12-loop            the peer is synchronised to us (its refid is our address)
 * Other: maxdelay (delay above the configured bound), negative-delay (timestamps that do not form
 * one round trip), broadcast-old (older broadcast), popcorn-spike (clock filter), mode (unexpected
 * mode), interleaved-bogus / interleaved-unsupported (interleaved checks and fallback).
 *
 * Local timestamps are kept as { raw, time }: `raw` is the counter value (never steps), `time` our
 * clock reading (era-extended NTP time), which the system shifts when the clock is stepped.
 */

import { rootDistance } from '../algo/combine.js';
import { MAXDISP, PHI } from '../algo/constants.js';
import { ClockFilter, type FilterOutput, type FilterSample } from '../algo/filter.js';
import type { LocalClock, RawExchange, RawTime } from '../clock/types.js';
import type { NtsKeys } from '../nts/cookie.js';
import { NtsClientSession, type NtsRequest } from '../nts/ntp.js';
import type { SourceConfig, SystemEvent } from '../system/types.js';
import {
  diffTimestamps,
  durationToSeconds,
  type NtpDuration,
  type NtpTime,
  ONE_SECOND,
  resolveTimestamp,
  toTimestamp,
} from '../time/ntp-time.js';
import { clampPoll, shortToSeconds } from '../time/short.js';
import type { CryptoProvider } from '../wire/crypto.js';
import { isKissOfDeath, kissCode } from '../wire/kiss.js';
import { emptyPacket, encodePacket, LEAP, MODE, type NtpPacket } from '../wire/packet.js';
import type { ServerState } from './server.js';
import { type AuthResult, addressRefid, checkAuth, type KeyRing, sign } from './util.js';

/** A local timestamp: counter value and clock reading (mutable: shifted on steps, refined by handleTransmitted). */
export interface LocalStamp {
  raw: RawTime;
  time: NtpTime;
  precise: boolean;
}

/** What the association needs from the system. */
export interface AssocContext {
  clock: LocalClock;
  random(): number;
  keys: KeyRing;
  /** Digests and AEADs (NTS, reference IDs). */
  crypto: CryptoProvider;
  /** Our precision, log2 s. */
  precision: number;
  /** Our system variables as we advertise them (symmetric and broadcast packets carry them). */
  serverState(raw: RawTime): ServerState;
  /** The discipline's poll exponent. */
  systemPoll(): number;
  /** Huff-n'-puff correction of an offset (identity when off). */
  correctOffset(epoch: number, offset: number, delay: number): number;
  /** A fresh txId for a precise-transmit callback. */
  allocTxId(onSent: (raw: RawTime) => void): number;
  /** Cryptographically strong random bytes (NTS). */
  randomBytes(n: number): Uint8Array;
}

export type AssocOutput =
  | { kind: 'send'; bytes: Uint8Array; txId?: number }
  | { kind: 'event'; event: SystemEvent }
  /** The clock filter produced a new peer offset: run the mitigation chain. */
  | { kind: 'update' }
  | { kind: 'exchange'; exchange: RawExchange }
  /** Remove this association (passive unreachable, or auto-mobilised broadcast client gone). */
  | { kind: 'demobilise'; reason: string };

/** One transmitted packet, kept in a short history for origin checks and interleaved T1 lookup. */
interface SentPacket {
  /** Transmit timestamp field we sent (what a basic-mode peer echoes as origin). */
  xmtField: bigint;
  /** Receive timestamp field we sent (what an interleaved peer echoes as origin, symmetric mode). */
  recField: bigint;
  /**
   * Symmetric: our receive time (wire) of the peer's packet last received before this one was sent;
   * `recField` is this plus the packet's index among those sent since (see transmit()).
   */
  recBase: bigint;
  /** Origin field we sent. */
  orgField: bigint;
  interleaved: boolean;
  tx: LocalStamp;
  /** NTS: the request's unique identifier etc., to verify the response. */
  nts?: NtsRequest;
}

/** A received response, kept for the interleaved client computation. */
interface ReceivedResponse {
  /** The server's receive timestamp field (wire) and as time. */
  recField: bigint;
  t2: NtpTime;
  /** Our receive time. */
  dst: LocalStamp;
  /** Wire value of our receive time as we send it back. */
  dstWire: bigint;
  /** Our request this response answered. */
  request: SentPacket;
}

const HISTORY = 8;
const IBURST_COUNT = 6;
const BURST_COUNT = 8;
/** Interval between the requests of a burst: 2 s, at most a quarter of the poll (chrony's rule). */
const BURST_INTERVAL = 2;
/** Consecutive basic replies to interleaved requests after which we stop asking. */
const XLEAVE_GIVE_UP = 4;
/** Requests without a valid response after which the next request is basic (RFC 9769 client). */
const XLEAVE_MAX_MISSED = 4;
/** Broadcast client: calibration exchanges wanted and the broadcasts between recalibrations. */
const CALIBRATION_SAMPLES = 4;
const CALIBRATION_ATTEMPTS = 12;
const RECALIBRATE_AFTER = 64;
/** Symmetric: packets sent between two of the peer's that stay distinguishable (see transmit()). */
const MAX_GROUP = 1024;
/** Symmetric: a peer's advertised poll above this (and above our maxpoll) does not stretch our reachability period. */
const PEER_POLL_REACH_LIMIT = 10;

function secondsNs(s: number): bigint {
  return BigInt(Math.round(s * 1e9));
}

function rawSeconds(raw: RawTime): number {
  return Number(raw) / 1e9;
}

export class Association {
  readonly id: string;
  readonly cfg: SourceConfig;
  /** Local address packets from this peer arrived on (for the loop test). */
  localAddress: string | null = null;
  /** Mobilised by an incoming packet (passive peer or broadcast client), not configured. */
  readonly ephemeral: boolean;

  // Poll process.
  hpoll: number;
  ppoll: number;
  reach = 0;
  nextPoll: RawTime | null = null;
  private burstLeft = 0;
  private unreachPolls = 0;
  /** When the reachability register was last shifted (symmetric peers: see reachPeriodOver). */
  private lastReachShift: RawTime | null = null;
  private kodMinPoll: number;
  stopped = false;
  kod: string | null = null;

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
  readonly rejected: Record<string, number> = {};
  packetsSent = 0;
  packetsReceived = 0;
  interleaved = false;

  // On-wire state.
  private sent: SentPacket[] = [];
  private lastRecvXmt = 0n;
  /** Symmetric: the peer's last transmit / receive fields and our receive time of that packet. */
  private peerXmtField = 0n;
  private peerRecField = 0n;
  private dst: LocalStamp | null = null;
  private dstWire = 0n;
  private peerInterleaved = false;
  /** Client: the last valid response (for interleaved requests). */
  private lastResponse: ReceivedResponse | null = null;
  private basicReplies = 0;
  private missedResponses = 0;
  private xleaveGaveUp = false;
  /** Symmetric: our packets sent since the peer's last packet arrived, and between the two before. */
  private sentSinceRx = 0;
  private sentPrevGroup = 0;
  /** Symmetric/broadcast: precise transmit timestamp (wire) of our previous packet. */
  private prevPreciseTxWire = 0n;

  // NTS (RFC 8915): the session from NTS-KE (keys + cookie pool), null until the host gives one.
  private ntsSession: NtsClientSession | null = null;
  /** An 'nts-ke' event is out and not yet answered by setNtsSession (no repeats). */
  private ntsKeAsked = false;
  ntsKeRequests = 0;
  ntsNaks = 0;
  ntsAuthFailures = 0;

  // Broadcast client.
  private bcPhase: 'calibrate' | 'listen' = 'calibrate';
  private calibDelays: number[] = [];
  private calibAttempts = 0;
  calibratedDelay: number | null = null;
  private broadcastsSinceCalibration = 0;
  private lastBroadcast: { xmt: bigint; dst: LocalStamp } | null = null;
  /** The broadcast server sends interleaved broadcasts: calibrate with interleaved exchanges too. */
  private broadcastInterleaved = false;
  /** Apparent one-way delays (T4 − T3, s) of the last broadcasts. */
  private broadcastDelays: number[] = [];

  constructor(
    id: string,
    cfg: SourceConfig,
    private readonly ctx: AssocContext,
    ephemeral = false,
  ) {
    this.id = id;
    this.cfg = cfg;
    this.ephemeral = ephemeral;
    this.hpoll = cfg.minpoll;
    this.ppoll = cfg.maxpoll;
    this.kodMinPoll = cfg.minpoll;
    this.version = cfg.version;
    this.filter = new ClockFilter(2 ** ctx.precision);
  }

  private reject(reason: string): AssocOutput[] {
    this.rejected[reason] = (this.rejected[reason] ?? 0) + 1;
    return [{ kind: 'event', event: { kind: 'reject', sourceId: this.id, reason } }];
  }

  /** All local stamps we hold (those read before counter `before`, when given), for shifting on a clock step or leap. */
  shiftLocalTimes(by: NtpDuration, before?: RawTime): void {
    const seen = new Set<LocalStamp>();
    const shift = (s: LocalStamp | null | undefined) => {
      if (s === null || s === undefined || seen.has(s) || (before !== undefined && s.raw >= before)) return;
      seen.add(s);
      s.time += by;
    };
    for (const p of this.sent) shift(p.tx);
    shift(this.dst);
    if (this.lastResponse !== null) {
      shift(this.lastResponse.dst);
      shift(this.lastResponse.request.tx);
    }
    if (this.lastBroadcast !== null) shift(this.lastBroadcast.dst);
  }

  /** RFC 5905 clear(): after a clock step the filter restarts and polling goes back to minpoll. */
  clearAfterStep(raw: RawTime): void {
    this.filter.clear(rawSeconds(raw));
    this.selectEpoch = Number.NEGATIVE_INFINITY;
    this.hpoll = Math.max(this.cfg.minpoll, this.kodMinPoll);
    if (this.cfg.mode === 'broadcast-client') this.startCalibration();
  }

  private startCalibration(): void {
    this.broadcastDelays = [];
    this.bcPhase = 'calibrate';
    this.calibDelays = [];
    this.calibAttempts = 0;
    this.broadcastsSinceCalibration = 0;
  }

  /** A burst is under way (RFC 5905 clock_filter(): no clock_select() until the burst is over). */
  get inBurst(): boolean {
    return this.burstLeft > 0;
  }

  get calibrating(): boolean {
    return this.cfg.mode === 'broadcast-client' && this.bcPhase === 'calibrate';
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
    if (this.cfg.mode === 'peer' || this.cfg.mode === 'passive')
      return Math.min(this.hpoll, Math.max(this.ppoll, this.cfg.minpoll));
    return this.hpoll;
  }

  private schedule(raw: RawTime, seconds: number): void {
    // A little randomness (±5 %) keeps many clients from synchronising their polls.
    const spread = 0.95 + 0.1 * this.ctx.random();
    this.nextPoll = raw + secondsNs(seconds * spread);
  }

  /** Start polling (immediately with iburst, else after a short random delay). */
  start(raw: RawTime): void {
    // Passive associations answer soon after mobilisation, then poll like active ones.
    this.nextPoll = raw + secondsNs(this.cfg.iburst ? 0 : 1 + 2 * this.ctx.random());
  }

  stop(reason: string): void {
    this.stopped = true;
    this.nextPoll = null;
    this.kod = this.kod ?? reason;
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
    this.ntsSession = new NtsClientSession(this.ctx.crypto, keys, cookies);
    this.ntsKeAsked = false;
    this.cfg.address = address;
    this.cfg.port = port;
    if (this.kod === 'NTSN') this.kod = null;
    if (!this.stopped) this.nextPoll = raw;
  }

  /** NTS: cookies left in the pool (null without a session). */
  ntsCookies(): number | null {
    return this.ntsSession === null ? null : this.ntsSession.cookies.length;
  }

  get hasNtsSession(): boolean {
    return this.ntsSession !== null;
  }

  private askNtsKe(reason: string, out: AssocOutput[]): void {
    if (this.ntsKeAsked) return;
    this.ntsKeAsked = true;
    this.ntsKeRequests++;
    out.push({ kind: 'event', event: { kind: 'nts-ke', sourceId: this.id, reason } });
  }

  /** Poll timer expired (RFC 5905 section 13 poll()). */
  poll(raw: RawTime): AssocOutput[] {
    const out: AssocOutput[] = [];
    if (this.stopped) {
      this.nextPoll = null;
      return out;
    }
    if (this.cfg.mode === 'broadcast-client' && this.bcPhase === 'listen') {
      // No transmissions: the timer only ages the reachability register at the broadcast interval.
      this.shiftReach(out, raw);
      if (this.reach === 0) {
        this.startCalibration();
        if (this.ephemeral) {
          out.push({ kind: 'demobilise', reason: 'broadcast server unreachable' });
          return out;
        }
      }
      if (this.bcPhase === 'listen') {
        this.schedule(raw, 2 ** Math.max(this.ppoll, this.cfg.minpoll));
        return out;
      }
    }
    if (this.calibrating && this.calibAttempts >= CALIBRATION_ATTEMPTS && this.calibDelays.length > 0) {
      this.finishCalibration(raw);
      return out;
    }
    if (this.burstLeft > 0) {
      this.burstLeft--;
      out.push(...this.transmit(raw));
      if (this.burstLeft > 0) this.nextPoll = raw + secondsNs(Math.min(BURST_INTERVAL, 2 ** this.hpoll / 4));
      else
        this.schedule(
          raw,
          this.calibrating ? Math.min(2 ** this.effectivePoll(), 16) : 2 ** this.effectivePoll(),
        );
      return out;
    }
    const wasReachable = this.reach !== 0;
    if (this.reachPeriodOver(raw)) {
      this.lastReachShift = raw;
      if (this.peerNotYetLate(raw)) this.reach |= 1;
      this.shiftReach(out, raw);
    }
    if (this.cfg.mode === 'passive' && wasReachable && this.reach === 0) {
      out.push({ kind: 'demobilise', reason: 'passive peer unreachable' });
      this.nextPoll = null;
      return out;
    }
    // Poll interval (RFC 5905 poll_update): the system poll within [minpoll, maxpoll], backing off
    // while the peer is unreachable, and never below what a RATE kiss asked for.
    const minpoll = Math.max(this.cfg.minpoll, this.kodMinPoll);
    if (this.reach === 0) {
      this.unreachPolls++;
      if (this.unreachPolls > 8) this.hpoll = clampPoll(this.hpoll + 1, minpoll, this.cfg.maxpoll);
    } else {
      this.unreachPolls = 0;
      this.hpoll = clampPoll(this.ctx.systemPoll(), minpoll, this.cfg.maxpoll);
    }
    this.hpoll = Math.max(this.hpoll, minpoll);
    if (this.calibrating) this.hpoll = minpoll;
    let interval = 2 ** this.effectivePoll();
    if (this.reach === 0 && this.cfg.iburst && this.unreachPolls <= 2) {
      this.burstLeft = IBURST_COUNT - 1;
    } else if (this.reach !== 0 && this.cfg.burst) {
      this.burstLeft = BURST_COUNT - 1;
    } else if (this.calibrating) {
      this.burstLeft = CALIBRATION_SAMPLES - 1;
    }
    out.push(...this.transmit(raw));
    if (this.burstLeft > 0) {
      this.nextPoll = raw + secondsNs(Math.min(BURST_INTERVAL, 2 ** this.hpoll / 4));
      return out;
    }
    if (this.calibrating) interval = Math.min(interval, 16);
    this.schedule(raw, interval);
    return out;
  }

  /**
   * Whether this poll ends a reachability period. A client or broadcast client is answered once per
   * poll of its own, so every poll is one. Symmetric peers each send on their own timer (RFC 5905
   * section 8): when we poll faster than the peer, several of our polls pass between two of its
   * packets without anything being lost, so a period lasts the longer of the two poll intervals
   * (the peer's as it advertises it, bounded). Otherwise the register would show the peer as
   * missing and poll() would shift dummy samples into the clock filter only because we poll faster.
   */
  private reachPeriodOver(raw: RawTime): boolean {
    if (this.cfg.mode !== 'peer' && this.cfg.mode !== 'passive') return true;
    if (this.reach === 0 || this.lastReachShift === null) return true;
    const ours = 2 ** this.effectivePoll();
    const theirs = this.peerInterval();
    if (theirs <= ours) return true;
    // Our timer is randomised (±5 %): end the period at the poll nearest to its nominal end.
    return raw - this.lastReachShift >= secondsNs(theirs - ours / 2);
  }

  /**
   * Symmetric, polling faster than the peer: no packet arrived in this period, but the peer's last
   * valid packet is less than 1.5 of its intervals old. Both timers are randomised, so a period
   * boundary drifts across the peer's send times and a period sometimes sees none of its packets
   * and the next one two; that packet was not missed, only a little late.
   */
  private peerNotYetLate(raw: RawTime): boolean {
    if (this.cfg.mode !== 'peer' && this.cfg.mode !== 'passive') return false;
    if ((this.reach & 1) !== 0 || this.lastValid === null) return false;
    const ours = 2 ** this.effectivePoll();
    const theirs = this.peerInterval();
    return theirs > ours && raw - this.lastValid < secondsNs(1.5 * theirs);
  }

  /** The peer's advertised send interval (s), bounded (see reachPeriodOver). */
  private peerInterval(): number {
    return 2 ** Math.min(this.ppoll, Math.max(this.cfg.maxpoll, PEER_POLL_REACH_LIMIT));
  }

  private shiftReach(out: AssocOutput[], raw?: RawTime): void {
    const before = this.reach;
    this.reach = (this.reach << 1) & 0xff;
    // RFC 5905 poll(): three unanswered polls shift a dummy sample into the clock filter.
    if (raw !== undefined && before !== 0 && (this.reach & 0x7) === 0 && this.filter.count() > 0)
      this.filter.addDummy(rawSeconds(raw), 2 ** this.hpoll);
    if (before !== 0 && this.reach === 0)
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
  private cookie(avoid: bigint): bigint {
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
    const cap = symmetric ? HISTORY + Math.min(MAX_GROUP, this.sentSinceRx + this.sentPrevGroup) : HISTORY;
    if (this.sent.length > cap) this.sent.length = cap;
  }

  /** Builds and sends one packet to the peer (client request, or symmetric packet). */
  transmit(raw: RawTime): AssocOutput[] {
    const { stamp, wire } = this.fuzzedNow(raw);
    const p = emptyPacket();
    p.version = this.cfg.version;
    p.poll = this.effectivePoll();
    p.precision = this.ctx.precision;
    let interleaved = false;
    if (this.cfg.mode === 'server' || this.cfg.mode === 'broadcast-client') {
      // Client request (chrony style: no system variables, zero origin/receive in basic mode).
      p.mode = MODE.CLIENT;
      p.leap = LEAP.NONE;
      const prev = this.lastResponse;
      // Interleaved request (RFC 9769 section 3): origin = the server's receive timestamp of the last
      // exchange that got a valid response, receive = a random cookie that the server echoes as the
      // origin of an interleaved response (so the response identifies this very request). After
      // too many missed responses the server has likely forgotten the exchange: ask in basic mode.
      const xleave = (this.cfg.xleave || this.broadcastInterleaved) && this.cfg.nts !== true;
      if (xleave && !this.xleaveGaveUp && prev !== null && this.missedResponses < XLEAVE_MAX_MISSED) {
        p.originTimestamp = prev.recField;
        p.receiveTimestamp = this.cookie(wire);
        interleaved = true;
      }
      this.missedResponses++;
      p.transmitTimestamp = wire;
    } else {
      const st = this.ctx.serverState(raw);
      p.mode = this.cfg.mode === 'peer' ? MODE.SYMMETRIC_ACTIVE : MODE.SYMMETRIC_PASSIVE;
      p.leap = st.stratum >= 16 ? LEAP.UNSYNC : st.leap;
      p.stratum = st.stratum >= 16 ? 0 : st.stratum;
      p.rootDelay = st.rootDelay;
      p.rootDispersion = st.rootDispersion;
      p.referenceId = st.referenceId;
      p.referenceTimestamp = st.referenceTimestamp;
      // A configured peer interleaves when configured with xleave; a passive association follows
      // what the active peer sends (as ntpd's ephemeral associations do).
      const wantXleave =
        this.cfg.mode === 'passive' ? this.peerInterleaved : this.cfg.xleave && !this.xleaveGaveUp;
      // When we poll faster than the peer, several of our packets carry the same receive time; an
      // interleaved peer echoes the receive field of the one it got last as the origin of its reply,
      // and we need to know which one it was (its T1). The receive field of the k-th packet since
      // the peer's last one is therefore offset by k units of 2^-32 s (k × 0.23 ns, far below any
      // clock's precision), which makes each echo name exactly one of our packets.
      const k = BigInt(Math.min(this.sentSinceRx, MAX_GROUP - 1));
      const rec = this.dst === null ? 0n : (this.dstWire + k) & 0xffff_ffff_ffff_ffffn || 1n;
      if (wantXleave && this.peerRecField !== 0n && this.dst !== null && this.prevPreciseTxWire !== 0n) {
        // Interleaved symmetric (RFC 9769 section 4): origin = the peer's receive timestamp of our
        // previous packet, receive = our receive time of its last packet, transmit = the precise
        // transmit time of our previous packet.
        p.originTimestamp = this.peerRecField;
        p.receiveTimestamp = rec;
        p.transmitTimestamp = this.prevPreciseTxWire;
        interleaved = true;
      } else {
        p.originTimestamp = this.peerXmtField;
        p.receiveTimestamp = rec;
        p.transmitTimestamp = wire;
      }
    }
    let ntsReq: NtsRequest | undefined;
    if (this.cfg.nts === true) {
      // NTS: never a request without a cookie; ask the host for NTS-KE instead.
      const session = this.ntsSession;
      const req = session === null ? null : session.request(p, (n) => this.ctx.randomBytes(n));
      if (req === null) {
        const out: AssocOutput[] = [];
        this.askNtsKe(session === null ? 'no-session' : 'no-cookies', out);
        return out;
      }
      ntsReq = req;
    }
    const signed = ntsReq === undefined ? sign(p, this.ctx.keys, this.cfg.key) : ntsReq.packet;
    if (signed === null) {
      // The key is missing or this build cannot compute its type: never send unsigned.
      const reason = `key ${this.cfg.key ?? ''} unusable: nothing sent`;
      return [{ kind: 'event', event: { kind: 'reject', sourceId: this.id, reason } }];
    }
    const sent: SentPacket = {
      xmtField: p.transmitTimestamp,
      recField: p.receiveTimestamp,
      recBase: this.dstWire,
      orgField: p.originTimestamp,
      interleaved,
      tx: stamp,
    };
    if (ntsReq !== undefined) sent.nts = ntsReq;
    this.sentSinceRx++;
    this.remember(sent);
    this.packetsSent++;
    if (this.calibrating) this.calibAttempts++;
    const txId = this.ctx.allocTxId((sentRaw) => {
      sent.tx.raw = sentRaw;
      sent.tx.time = this.ctx.clock.read(sentRaw);
      sent.tx.precise = true;
      if (this.sent[0] === sent) this.prevPreciseTxWire = toTimestamp(sent.tx.time) || 1n;
    });
    return [{ kind: 'send', bytes: ntsReq === undefined ? encodePacket(signed) : ntsReq.bytes, txId }];
  }

  /** Common header processing for a packet that passed the on-wire tests. */
  private acceptHeader(raw: RawTime, pkt: NtpPacket, out: AssocOutput[]): void {
    if (this.reach === 0) out.push({ kind: 'event', event: { kind: 'reachable', sourceId: this.id } });
    this.reach |= 1;
    this.lastValid = raw;
    this.leap = pkt.leap;
    this.stratum = pkt.stratum === 0 ? 16 : pkt.stratum;
    this.precision = pkt.precision;
    this.rootDelay = shortToSeconds(pkt.rootDelay);
    this.rootDispersion = shortToSeconds(pkt.rootDispersion);
    this.refid = pkt.referenceId;
    this.referenceTime = pkt.referenceTimestamp;
    this.version = pkt.version;
    this.ppoll = pkt.poll;
  }

  /** Header tests (RFC 5905 section 9.2 / 13): true when the packet may give a sample. */
  private headerOk(pkt: NtpPacket, out: AssocOutput[]): boolean {
    if (pkt.leap === LEAP.UNSYNC || pkt.stratum === 0 || pkt.stratum >= 16) {
      out.push(...this.reject('test6-unsynchronised'));
      return false;
    }
    if (shortToSeconds(pkt.rootDelay) / 2 + shortToSeconds(pkt.rootDispersion) >= MAXDISP) {
      out.push(...this.reject('test7-distance'));
      return false;
    }
    if (
      pkt.stratum > 1 &&
      this.localAddress !== null &&
      pkt.referenceId === addressRefid(this.localAddress, this.ctx.crypto)
    ) {
      out.push(...this.reject('test12-loop'));
      return false;
    }
    return true;
  }

  /** Handles a kiss-o'-death that passed the origin check (RFC 5905 section 7.4). */
  private handleKiss(pkt: NtpPacket, out: AssocOutput[]): void {
    const code = kissCode(pkt) ?? '';
    this.kod = code;
    this.rejected.kod = (this.rejected.kod ?? 0) + 1;
    out.push({ kind: 'event', event: { kind: 'kod', sourceId: this.id, code } });
    if (code === 'RATE') {
      this.kodMinPoll = clampPoll(Math.max(this.hpoll + 1, pkt.poll), this.cfg.minpoll, this.cfg.maxpoll);
      this.hpoll = Math.max(this.hpoll, this.kodMinPoll);
      this.burstLeft = 0;
    } else if (code === 'DENY' || code === 'RSTR') {
      this.stop(code);
    }
  }

  private authOk(pkt: NtpPacket, out: AssocOutput[]): boolean {
    const a = checkAuth(pkt, this.ctx.keys, this.cfg.key);
    if (a === 'failed') {
      this.auth = 'failed';
      out.push(...this.reject('auth'));
      return false;
    }
    this.auth = a;
    return true;
  }

  /**
   * NTS (RFC 8915 section 5.6): the response must echo the request's Unique Identifier and carry an
   * authenticator that verifies with the S2C key; its new cookies go to the pool. An NTS NAK (with
   * the right Unique Identifier) drops the session and asks for NTS-KE. Anything else is rejected
   * without touching the exchange state, so the genuine response may still arrive.
   */
  private ntsOk(latest: SentPacket, bytes: Uint8Array | undefined, out: AssocOutput[]): boolean {
    const session = this.ntsSession;
    const req = latest.nts;
    if (session === null || req === undefined || bytes === undefined) {
      this.ntsAuthFailures++;
      out.push(...this.reject('nts-no-request'));
      return false;
    }
    const v = session.response(bytes, req);
    if (v.ok) {
      this.auth = 'ok';
      return true;
    }
    if (v.code === 'NTS_NAK') {
      this.ntsNaks++;
      this.kod = 'NTSN';
      latest.xmtField = 0n;
      latest.recField = 0n;
      out.push(...this.reject('nts-nak'));
      out.push({ kind: 'event', event: { kind: 'kod', sourceId: this.id, code: 'NTSN' } });
      this.ntsSession = null;
      this.askNtsKe('nak', out);
      return false;
    }
    this.ntsAuthFailures++;
    this.auth = 'failed';
    out.push(...this.reject(`nts-${v.code.toLowerCase().replace(/_/g, '-')}`));
    return false;
  }

  /** A packet from this peer (already decoded and matched to the association). */
  receive(raw: RawTime, pkt: NtpPacket, bytes?: Uint8Array): AssocOutput[] {
    this.packetsReceived++;
    switch (pkt.mode) {
      case MODE.SERVER:
        if (this.cfg.mode === 'server' || this.cfg.mode === 'broadcast-client')
          return this.receiveServer(raw, pkt, bytes);
        break;
      case MODE.SYMMETRIC_ACTIVE:
      case MODE.SYMMETRIC_PASSIVE:
        if (this.cfg.mode === 'peer' || this.cfg.mode === 'passive') return this.receiveSymmetric(raw, pkt);
        break;
      case MODE.BROADCAST:
        if (this.cfg.mode === 'broadcast-client') return this.receiveBroadcast(raw, pkt);
        break;
    }
    return this.reject('mode');
  }

  private sampleFrom(
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
    // A clearly negative delay means the four timestamps do not belong to one round trip (e.g. an
    // interleaved packet whose predecessor was lost): never use it. Such a pairing is off by at least
    // one send interval of the side whose packet is missing; symmetric peers may send faster than we do.
    const symmetric = this.cfg.mode === 'peer' || this.cfg.mode === 'passive';
    const interval = symmetric ? 2 ** Math.min(this.hpoll, this.ppoll) : 2 ** this.hpoll;
    if (rawDelay < -Math.min(1, interval / 4)) {
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

  private pushSample(
    raw: RawTime,
    offset: number,
    delay: number,
    dispersion: number,
    out: AssocOutput[],
  ): void {
    const s: FilterSample = { offset, delay, dispersion, epoch: rawSeconds(raw), raw };
    const v = this.filter.add(s, 2 ** this.hpoll);
    if (v.kind === 'update') this.selectEpoch = v.output.epoch;
    else if (v.kind === 'spike') out.push(...this.reject('popcorn-spike'));
    // The peer variables changed in any case: let the system re-run the selection.
    out.push({ kind: 'update' });
  }

  private setInterleaved(on: boolean, out: AssocOutput[]): void {
    if (this.interleaved !== on) {
      this.interleaved = on;
      out.push({ kind: 'event', event: { kind: 'interleaved', sourceId: this.id, on } });
    }
  }

  /** Client mode: a mode 4 response (basic or interleaved, RFC 9769 section 3). */
  private receiveServer(raw: RawTime, pkt: NtpPacket, bytes?: Uint8Array): AssocOutput[] {
    const out: AssocOutput[] = [];
    const now = this.ctx.clock.read(raw);
    if (pkt.transmitTimestamp === 0n) return this.reject('test3-invalid');
    if (pkt.transmitTimestamp === this.lastRecvXmt) return this.reject('test1-duplicate');
    const latest = this.sent[0];
    if (latest === undefined) return this.reject('test2-bogus');
    let kind: 'basic' | 'interleaved';
    if (pkt.originTimestamp === latest.xmtField && latest.xmtField !== 0n) kind = 'basic';
    else if (latest.interleaved && pkt.originTimestamp === latest.recField && latest.recField !== 0n)
      kind = 'interleaved';
    else return this.reject('test2-bogus');
    if (this.cfg.nts === true) {
      if (!this.ntsOk(latest, bytes, out)) return out;
    } else if (!this.authOk(pkt, out)) return out;
    // Accepted: any later copy of this response is a duplicate or bogus.
    this.lastRecvXmt = pkt.transmitTimestamp;
    this.missedResponses = 0;
    latest.xmtField = 0n;
    latest.recField = 0n;
    if (isKissOfDeath(pkt) && ['RATE', 'DENY', 'RSTR'].includes(kissCode(pkt) ?? '')) {
      this.handleKiss(pkt, out);
      return out;
    }
    this.acceptHeader(raw, pkt, out);
    if (kind === 'basic' && pkt.receiveTimestamp === 0n) {
      out.push(...this.reject('test3-invalid'));
      return out;
    }
    const dst: LocalStamp = { raw, time: now, precise: true };
    const t2 = resolveTimestamp(pkt.receiveTimestamp, now);
    const t3 = resolveTimestamp(pkt.transmitTimestamp, now);
    const prev = this.lastResponse;
    this.lastResponse = {
      recField: pkt.receiveTimestamp,
      t2,
      dst,
      dstWire: toTimestamp(now),
      request: latest,
    };
    if (kind === 'basic' && latest.interleaved) {
      this.basicReplies++;
      if (this.basicReplies >= XLEAVE_GIVE_UP && !this.xleaveGaveUp) {
        this.xleaveGaveUp = true;
        out.push(...this.reject('interleaved-unsupported'));
      }
    } else if (kind === 'interleaved') {
      this.basicReplies = 0;
    }
    // A basic answer to a basic request (sent after a lost response) says nothing about support.
    if (kind === 'interleaved') this.setInterleaved(true, out);
    else if (latest.interleaved) this.setInterleaved(false, out);
    if (!this.headerOk(pkt, out)) return out;
    let delay: number | null = null;
    if (kind === 'basic') {
      delay = this.sampleFrom(latest.tx, t2, t3, dst, pkt, out);
    } else {
      // The response carries the precise transmit time of the previous response: the sample is the
      // previous exchange (its request's T1, its T2 and our T4), completed with this T3.
      if (prev === null || prev.recField !== latest.orgField) {
        out.push(...this.reject('interleaved-bogus'));
        return out;
      }
      delay = this.sampleFrom(prev.request.tx, prev.t2, t3, prev.dst, pkt, out);
    }
    if (this.calibrating && delay !== null) {
      this.calibDelays.push(delay);
      if (this.calibDelays.length >= CALIBRATION_SAMPLES) this.finishCalibration(raw);
    }
    return out;
  }

  private finishCalibration(raw: RawTime): void {
    this.calibratedDelay = Math.min(...this.calibDelays);
    this.bcPhase = 'listen';
    this.burstLeft = 0;
    this.broadcastsSinceCalibration = 0;
    this.schedule(raw, 2 ** Math.max(this.ppoll, this.cfg.minpoll) * 2);
  }

  /** Symmetric modes (RFC 5905 section 8, RFC 9769 section 4). */
  private receiveSymmetric(raw: RawTime, pkt: NtpPacket): AssocOutput[] {
    const out: AssocOutput[] = [];
    const now = this.ctx.clock.read(raw);
    if (pkt.transmitTimestamp === 0n) return this.reject('test3-invalid');
    if (pkt.transmitTimestamp === this.lastRecvXmt) return this.reject('test1-duplicate');
    if (!this.authOk(pkt, out)) return out;
    const oldDst = this.dst;
    const oldDstWire = this.dstWire;
    // Update the state even for packets that fail the origin test (RFC 5905 section 8: this is how
    // symmetric peers recover from loss, crossing and restarts).
    this.lastRecvXmt = pkt.transmitTimestamp;
    this.peerXmtField = pkt.transmitTimestamp;
    this.peerRecField = pkt.receiveTimestamp;
    const dst: LocalStamp = { raw, time: now, precise: true };
    this.dst = dst;
    this.dstWire = toTimestamp(now);
    this.sentPrevGroup = this.sentSinceRx;
    this.sentSinceRx = 0;
    if (pkt.originTimestamp === 0n) {
      out.push(...this.reject('test3-invalid'));
      return out;
    }
    let kind: 'basic' | 'interleaved' | null = null;
    let t1: LocalStamp | null = null;
    const latest = this.sent[0];
    const answered =
      oldDst !== null && oldDstWire !== 0n ? this.answeredInterleaved(pkt, oldDstWire) : undefined;
    if (latest !== undefined && pkt.originTimestamp === latest.xmtField) {
      kind = 'basic';
      t1 = latest.tx;
    } else if (answered !== undefined) {
      // The peer answers one of the packets we sent after its previous packet arrived (ntpd: origin =
      // our previous receive time). T1: exactly the packet whose receive field it echoes.
      kind = 'interleaved';
      t1 = answered.tx;
    } else if (
      this.sent.some(
        (s, i) => (i > 0 && s.xmtField === pkt.originTimestamp) || s.recField === pkt.originTimestamp,
      )
    ) {
      // Basic: the peer answers an older packet of ours (ours crossed its in flight). Interleaved: it
      // answers a packet of ours sent before its previous packet arrived, e.g. one it has already
      // answered (a faster peer sends several packets between two of ours).
      out.push(...this.reject('crossed'));
      return out;
    }
    if (kind === null || t1 === null) {
      out.push(...this.reject(kind === 'interleaved' ? 'interleaved-bogus' : 'test2-bogus'));
      return out;
    }
    if (isKissOfDeath(pkt) && ['RATE', 'DENY', 'RSTR'].includes(kissCode(pkt) ?? '')) {
      this.handleKiss(pkt, out);
      return out;
    }
    this.acceptHeader(raw, pkt, out);
    this.peerInterleaved = kind === 'interleaved';
    if (kind === 'basic' && latest?.interleaved === true && !this.xleaveGaveUp) {
      // The peer echoed our interleaved packet's transmit field as a basic origin: it does not
      // support interleaving. Fall back to basic mode.
      this.xleaveGaveUp = true;
      out.push(...this.reject('interleaved-unsupported'));
    }
    this.setInterleaved(kind === 'interleaved', out);
    if (pkt.receiveTimestamp === 0n) {
      out.push(...this.reject('test3-invalid'));
      return out;
    }
    if (!this.headerOk(pkt, out)) return out;
    const t2 = resolveTimestamp(pkt.receiveTimestamp, now);
    const t3 = resolveTimestamp(pkt.transmitTimestamp, now);
    if (kind === 'basic') this.sampleFrom(t1, t2, t3, dst, pkt, out);
    else if (oldDst !== null) this.sampleFrom(t1, t2, t3, oldDst, pkt, out);
    return out;
  }

  /** Symmetric: our packet sent after the peer's packet received at `base` whose receive field `pkt` echoes. */
  private answeredInterleaved(pkt: NtpPacket, base: bigint): SentPacket | undefined {
    return this.sent.find((s) => s.recBase === base && s.recField === pkt.originTimestamp);
  }

  /** Broadcast client (RFC 5905 section 9; interleaved broadcast as in ntpd and RFC 9769 section 5). */
  private receiveBroadcast(raw: RawTime, pkt: NtpPacket): AssocOutput[] {
    const out: AssocOutput[] = [];
    const now = this.ctx.clock.read(raw);
    if (pkt.transmitTimestamp === 0n) return this.reject('test3-invalid');
    if (pkt.transmitTimestamp === this.lastRecvXmt) return this.reject('test1-duplicate');
    if (this.lastRecvXmt !== 0n && diffTimestamps(pkt.transmitTimestamp, this.lastRecvXmt) < 0n)
      return this.reject('broadcast-old');
    if (!this.authOk(pkt, out)) return out;
    this.lastRecvXmt = pkt.transmitTimestamp;
    const dst: LocalStamp = { raw, time: now, precise: true };
    const prev = this.lastBroadcast;
    this.lastBroadcast = { xmt: pkt.transmitTimestamp, dst };
    if (isKissOfDeath(pkt)) {
      this.handleKiss(pkt, out);
      return out;
    }
    this.acceptHeader(raw, pkt, out);
    if (!this.headerOk(pkt, out)) return out;
    if (pkt.originTimestamp !== 0n) this.broadcastInterleaved = true;
    if (this.bcPhase === 'calibrate' || this.calibratedDelay === null) {
      // Until the delay is calibrated with client exchanges, broadcasts only keep the server reachable.
      if (this.nextPoll === null) this.nextPoll = raw;
      return out;
    }
    this.broadcastsSinceCalibration++;
    let t3 = resolveTimestamp(pkt.transmitTimestamp, now);
    let t4 = dst;
    let xleave = false;
    if (prev !== null && pkt.originTimestamp !== 0n) {
      // Interleaved broadcast: the origin field carries the precise transmit time of the previous
      // broadcast, which must be at or shortly after that broadcast's software timestamp.
      const lag = diffTimestamps(pkt.originTimestamp, prev.xmt);
      if (lag >= 0n && lag < ONE_SECOND) {
        t3 = resolveTimestamp(pkt.originTimestamp, now);
        t4 = prev.dst;
        xleave = true;
        this.broadcastInterleaved = true;
      }
    }
    this.setInterleaved(xleave, out);
    const calibrated = this.calibratedDelay;
    // θ = T3 + δ/2 − T4: the broadcast left at T3 and travelled half the calibrated round trip.
    const apparent = durationToSeconds(t4.time - t3);
    const offset = calibrated / 2 - apparent;
    // A broadcast that queued longer than usual arrives late and gives a smaller offset; nothing in
    // the packet shows it. Its excess over the smallest apparent one-way delay of the recent
    // broadcasts is charged to its delay (twice, as a round trip), so the clock filter, which prefers
    // low delays, sets it aside like any congested sample.
    this.broadcastDelays.push(apparent);
    if (this.broadcastDelays.length > 8) this.broadcastDelays.shift();
    const excess = Math.max(0, apparent - Math.min(...this.broadcastDelays));
    const delay = calibrated + 2 * excess;
    const dispersion = 2 ** pkt.precision + 2 ** this.ctx.precision + PHI * delay;
    this.pushSample(
      t4.raw,
      this.ctx.correctOffset(rawSeconds(t4.raw), offset, delay),
      delay,
      dispersion,
      out,
    );
    if (this.broadcastsSinceCalibration >= RECALIBRATE_AFTER) {
      this.startCalibration();
      this.nextPoll = raw;
    }
    return out;
  }
}
