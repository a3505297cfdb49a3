/**
 * The poll process of an association (RFC 5905 section 13): poll exponents, reachability register,
 * bursts, the next poll time, and the limits a kiss-o'-death sets.
 */

import { PHI } from '../algo/constants.js';
import { PollAdapter } from '../clock/poll.js';
import type { RawTime } from '../clock/types.js';
import { clampPoll } from '../time/short.js';
import type { SourceConfig } from './config.js';
import { secondsNs } from './types.js';

/** Interval between the requests of a burst: 2 s, at most a quarter of the poll (chrony's rule). */
const BURST_INTERVAL = 2;
/** Symmetric: a peer's advertised poll above this (and above our maxpoll) does not stretch our reachability period. */
const PEER_POLL_REACH_LIMIT = 10;
/** The source's own poll: samples' worth its offsets should hold (chrony's default polltarget). */
const SOURCE_POLL_TARGET = 4;
/** At most this many consistent samples count (chrony keeps at most 64 per source). */
const SOURCE_MAX_SAMPLES = 64;
/** Symmetric: how much longer than the poll we wait for the peer's packet before sending ours (chrony's 1.1). */
const PEER_WAIT = 1.1;
/** Symmetric: a packet of ours sent within this many s after the peer's is our answer to it. */
const ANSWER_SLACK = 1;

export class PollProcess {
  hpoll: number;
  ppoll: number;
  reach = 0;
  nextPoll: RawTime | null = null;
  /** When the last poll was scheduled from (the last request sent, outside bursts). */
  private lastPoll: RawTime | null = null;
  /** Requests left in the current burst. */
  burstLeft = 0;
  /**
   * Iburst split (`AssocContext.iburstHeld`): while `splitOpen`, the delays of the iburst's samples
   * (a clock step clears the filter, not these); the requests handed to the first regular poll.
   */
  splitOpen = false;
  burstDelays: number[] = [];
  heldBurst = 0;
  unreachPolls = 0;
  /** When the reachability register was last shifted (symmetric peers: see reachPeriodOver). */
  lastReachShift: RawTime | null = null;
  /** The lowest poll a RATE kiss left us. */
  kodMinPoll: number;
  stopped = false;
  /** Taken offline by the operator (`ntpkit offline`): no requests, state kept. */
  offline = false;
  kod: string | null = null;
  /**
   * The source's own adaptive poll (chrony's per-source rule, `PollAdapter`): how well its offsets
   * follow each other. A source the clock does not follow (not the system peer) polls at this, never
   * faster than the system poll.
   */
  readonly own: PollAdapter;
  /**
   * The peer's last packet said it is synchronised to us (the loop test): it gives no samples, and it
   * chooses its own poll; we poll at maxpoll, so that a symmetric peer sends at its own poll.
   */
  followsUs = false;
  /** Consecutive samples consistent with the previous filter output (the source's "samples"). */
  private consistent = 0;
  /**
   * Symmetric: the stratum of the peer's last valid packet against ours then: above ours (the peer
   * may synchronise to us), the same, or below.
   */
  private peerRank: 'above' | 'same' | 'below' = 'below';
  /** Symmetric: when the peer's last valid packet arrived. */
  private peerRx: RawTime | null = null;
  private readonly cfg: SourceConfig;
  private readonly random: () => number;

  constructor(cfg: SourceConfig, random: () => number) {
    this.cfg = cfg;
    this.random = random;
    this.hpoll = cfg.minpoll;
    this.ppoll = cfg.maxpoll;
    this.kodMinPoll = cfg.minpoll;
    this.own = new PollAdapter(cfg.minpoll, Math.max(cfg.minpoll, cfg.maxpoll), SOURCE_POLL_TARGET);
  }

  private get symmetric(): boolean {
    return this.cfg.mode === 'peer' || this.cfg.mode === 'passive';
  }

  /** Poll exponent the peer is sent (symmetric: the smaller of ours and the peer's). */
  effectivePoll(): number {
    if (this.symmetric) return Math.min(this.hpoll, Math.max(this.ppoll, this.cfg.minpoll));
    return this.hpoll;
  }

  /**
   * Seconds to the next poll: 2^effectivePoll, and PEER_WAIT times that with a symmetric peer of a
   * higher stratum, so that its next packet comes first and ours answers it (`peerPacket`).
   */
  interval(): number {
    const s = 2 ** this.effectivePoll();
    return this.symmetric && this.peerRank === 'above' ? s * PEER_WAIT : s;
  }

  schedule(raw: RawTime, seconds: number): void {
    // A little randomness (±5 %) keeps many clients from synchronising their polls.
    const spread = 0.95 + 0.1 * this.random();
    this.lastPoll = raw;
    this.nextPoll = raw + secondsNs(seconds * spread);
  }

  /**
   * Polls by 2^exponent s after the last poll at the latest. The system calls it when a source
   * becomes the system peer: it polls at the system poll from now, not after the longer interval it
   * had as a watched source. (Pulling the system peer in after every selection, so that a poll that
   * fell took effect at once, raised the feed-forward clock's level-shift RMS at the defaults from
   * 40–76 to 39–96 µs over seeds 1–5: test/sim/feedforward.test.ts.)
   */
  pullIn(exponent: number): void {
    if (this.nextPoll === null || this.lastPoll === null || this.burstLeft > 0) return;
    // (At the longest of the ±5 % spread of `schedule`: an interval already right stays as drawn.)
    const at = this.lastPoll + secondsNs(1.05 * 2 ** Math.max(exponent, this.kodMinPoll));
    if (at < this.nextPoll) this.nextPoll = at;
  }

  /**
   * Symmetric: a valid packet of the peer arrived at `raw` (its stratum `peer`, ours `own`) and
   * re-times our next one (after chrony's rule). A peer of a higher stratum (it may synchronise to
   * us) is answered at once unless we have sent a packet of our own since answering its previous
   * one; then ours waits PEER_WAIT times the poll from this one, so that its next packet comes
   * first and is answered. Its exchanges then hold our packet a moment, not up to a poll interval
   * (the hold time enters the measured delay with both clocks' frequency errors). A peer of the
   * same stratum whose packet comes late in our interval pushes ours back to PEER_WAIT times the
   * poll, which spreads the two evenly.
   */
  peerPacket(raw: RawTime, peer: number, own: number): void {
    if (!this.symmetric) return;
    this.peerRank = peer > own ? 'above' : peer === own ? 'same' : 'below';
    const prev = this.peerRx;
    this.peerRx = raw;
    if (this.nextPoll === null || this.lastPoll === null || this.burstLeft > 0) return;
    const poll = 2 ** this.effectivePoll();
    const since = Number(raw - this.lastPoll) / 1e9;
    if (this.peerRank === 'above') {
      const quiet = prev === null || this.lastPoll <= prev + secondsNs(ANSWER_SLACK);
      // (Never more than one answer per half minpoll, whatever the peer sends.)
      if (quiet && since >= 2 ** this.cfg.minpoll / 2) {
        if (raw < this.nextPoll) this.nextPoll = raw;
      } else {
        const later = raw + secondsNs(PEER_WAIT * poll);
        if (later > this.nextPoll) this.nextPoll = later;
      }
    } else if (this.peerRank === 'same' && since > (PEER_WAIT - 0.5) * poll) {
      const later = this.lastPoll + secondsNs(PEER_WAIT * poll);
      if (later > this.nextPoll) this.nextPoll = later;
    }
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
    this.own.reset();
    this.consistent = 0;
  }

  /**
   * A new sample (offset, delay, dispersion s) taken `age` s after the filter output it is compared
   * with (offset `predicted`; null: none yet). As chrony's per-source rule: an offset further from the
   * prediction than the path explains (half the delay, the dispersion, and the frequency tolerance
   * over the interval) lowers the source's poll by log2(error / distance); otherwise the run of
   * consistent samples grows and the poll rises once it holds more than the target.
   */
  sample(offset: number, delay: number, dispersion: number, predicted: number | null, age: number): void {
    if (predicted === null) {
      this.consistent = 1;
      return;
    }
    const distance = Math.max(0, delay) / 2 + Math.max(0, dispersion) + PHI * Math.max(0, age);
    const error = Math.abs(offset - predicted);
    if (error > distance) this.consistent = 1;
    else this.consistent = Math.min(SOURCE_MAX_SAMPLES, this.consistent + 1);
    this.own.sample(error, distance, this.consistent);
  }

  /** A RATE kiss with the server's poll: poll slower from now on, and end the burst. */
  rate(serverPoll: number): void {
    this.kodMinPoll = clampPoll(Math.max(this.hpoll + 1, serverPoll), this.cfg.minpoll, this.cfg.maxpoll);
    this.hpoll = Math.max(this.hpoll, this.kodMinPoll);
    this.burstLeft = 0;
  }

  /**
   * Poll interval (RFC 5905 poll_update): the system poll within [minpoll, maxpoll] for the source
   * the clock follows (`followed`: the system peer), the source's own poll for the others (never
   * below the system poll: they are watched, not followed); backing off while the peer is
   * unreachable, and never below what a RATE kiss asked for.
   */
  adjust(systemPoll: number, calibrating: boolean, followed = true): void {
    const minpoll = Math.max(this.cfg.minpoll, this.kodMinPoll);
    if (this.reach === 0) {
      this.unreachPolls++;
      if (this.unreachPolls > 8) this.hpoll = clampPoll(this.hpoll + 1, minpoll, this.cfg.maxpoll);
    } else {
      this.unreachPolls = 0;
      const own = this.followsUs ? this.cfg.maxpoll : this.own.exponent;
      const poll = followed ? systemPoll : own;
      this.hpoll = clampPoll(poll, minpoll, this.cfg.maxpoll);
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
