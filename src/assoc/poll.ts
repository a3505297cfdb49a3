/**
 * The poll process of an association (RFC 5905 section 13): poll exponents, reachability register,
 * bursts, the next poll time, and the limits a kiss-o'-death sets.
 */
import type { RawTime } from '../clock/types.js';
import { clampPoll } from '../time/short.js';
import type { SourceConfig } from './config.js';
import { secondsNs } from './types.js';

/** Interval between the requests of a burst: 2 s, at most a quarter of the poll (chrony's rule). */
const BURST_INTERVAL = 2;
/** Symmetric: a peer's advertised poll above this (and above our maxpoll) does not stretch our reachability period. */
const PEER_POLL_REACH_LIMIT = 10;

export class PollProcess {
  hpoll: number;
  ppoll: number;
  reach = 0;
  nextPoll: RawTime | null = null;
  /** Requests left in the current burst. */
  burstLeft = 0;
  unreachPolls = 0;
  /** When the reachability register was last shifted (symmetric peers: see reachPeriodOver). */
  lastReachShift: RawTime | null = null;
  /** The lowest poll a RATE kiss left us. */
  kodMinPoll: number;
  stopped = false;
  /** Taken offline by the operator (`ntpkit offline`): no requests, state kept. */
  offline = false;
  kod: string | null = null;
  private readonly cfg: SourceConfig;
  private readonly random: () => number;

  constructor(cfg: SourceConfig, random: () => number) {
    this.cfg = cfg;
    this.random = random;
    this.hpoll = cfg.minpoll;
    this.ppoll = cfg.maxpoll;
    this.kodMinPoll = cfg.minpoll;
  }

  private get symmetric(): boolean {
    return this.cfg.mode === 'peer' || this.cfg.mode === 'passive';
  }

  /** Poll exponent the peer is sent (symmetric: the smaller of ours and the peer's). */
  effectivePoll(): number {
    if (this.symmetric) return Math.min(this.hpoll, Math.max(this.ppoll, this.cfg.minpoll));
    return this.hpoll;
  }

  schedule(raw: RawTime, seconds: number): void {
    // A little randomness (±5 %) keeps many clients from synchronising their polls.
    const spread = 0.95 + 0.1 * this.random();
    this.nextPoll = raw + secondsNs(seconds * spread);
  }

  /** The next request of a burst. */
  scheduleBurst(raw: RawTime): void {
    this.nextPoll = raw + secondsNs(Math.min(BURST_INTERVAL, 2 ** this.hpoll / 4));
  }

  /** Start polling (immediately with iburst, else after a short random delay). */
  start(raw: RawTime): void {
    // Passive associations answer soon after mobilisation, then poll like active ones.
    this.nextPoll = raw + secondsNs(this.cfg.iburst ? 0 : 1 + 2 * this.random());
  }

  stop(reason: string): void {
    this.stopped = true;
    this.nextPoll = null;
    this.kod = this.kod ?? reason;
  }

  /** Operator burst (`ntpkit burst`, chrony's burst): `count` requests from now. */
  burst(raw: RawTime, count: number): void {
    this.burstLeft = Math.max(1, Math.floor(count));
    this.nextPoll = raw;
  }

  /** Operator offline/online: offline sends nothing and keeps the state; online polls at once. */
  setOffline(raw: RawTime, offline: boolean): void {
    this.offline = offline;
    if (offline) this.burstLeft = 0;
    this.nextPoll = offline || this.stopped ? null : raw;
  }

  /** RFC 5905 clear(): back to minpoll (or what a RATE kiss asked for). */
  reset(): void {
    this.hpoll = Math.max(this.cfg.minpoll, this.kodMinPoll);
  }

  /** A RATE kiss with the server's poll: poll slower from now on, and end the burst. */
  rate(serverPoll: number): void {
    this.kodMinPoll = clampPoll(Math.max(this.hpoll + 1, serverPoll), this.cfg.minpoll, this.cfg.maxpoll);
    this.hpoll = Math.max(this.hpoll, this.kodMinPoll);
    this.burstLeft = 0;
  }

  /**
   * Poll interval (RFC 5905 poll_update): the system poll within [minpoll, maxpoll], backing off
   * while the peer is unreachable, and never below what a RATE kiss asked for.
   */
  adjust(systemPoll: number, calibrating: boolean): void {
    const minpoll = Math.max(this.cfg.minpoll, this.kodMinPoll);
    if (this.reach === 0) {
      this.unreachPolls++;
      if (this.unreachPolls > 8) this.hpoll = clampPoll(this.hpoll + 1, minpoll, this.cfg.maxpoll);
    } else {
      this.unreachPolls = 0;
      this.hpoll = clampPoll(systemPoll, minpoll, this.cfg.maxpoll);
    }
    this.hpoll = Math.max(this.hpoll, minpoll);
    if (calibrating) this.hpoll = minpoll;
  }

  /**
   * Whether this poll ends a reachability period. A client or broadcast client is answered once per
   * poll of its own, so every poll is one. Symmetric peers each send on their own timer (RFC 5905
   * section 8): when we poll faster than the peer, several of our polls pass between two of its
   * packets without anything being lost, so a period lasts the longer of the two poll intervals
   * (the peer's as it advertises it, bounded). Otherwise the register would show the peer as
   * missing and poll() would shift dummy samples into the clock filter only because we poll faster.
   */
  reachPeriodOver(raw: RawTime): boolean {
    if (!this.symmetric) return true;
    if (this.reach === 0 || this.lastReachShift === null) return true;
    const ours = 2 ** this.effectivePoll();
    const theirs = this.peerInterval();
    if (theirs <= ours) return true;
    // Our timer is randomised (±5 %): end the period at the poll nearest to its nominal end.
    return raw - this.lastReachShift >= secondsNs(theirs - ours / 2);
  }

  /**
   * Symmetric, polling faster than the peer: no packet arrived in this period, but the peer's last
   * valid packet (at `lastValid`) is less than 1.5 of its intervals old. Both timers are randomised,
   * so a period boundary drifts across the peer's send times and a period sometimes sees none of its
   * packets and the next one two; that packet was not missed, only a little late.
   */
  peerNotYetLate(raw: RawTime, lastValid: RawTime | null): boolean {
    if (!this.symmetric) return false;
    if ((this.reach & 1) !== 0 || lastValid === null) return false;
    const ours = 2 ** this.effectivePoll();
    const theirs = this.peerInterval();
    return theirs > ours && raw - lastValid < secondsNs(1.5 * theirs);
  }

  /** The peer's advertised send interval (s), bounded (see reachPeriodOver). */
  private peerInterval(): number {
    return 2 ** Math.min(this.ppoll, Math.max(this.cfg.maxpoll, PEER_POLL_REACH_LIMIT));
  }
}
