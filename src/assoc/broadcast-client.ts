/**
 * Broadcast client (RFC 5905 section 9; interleaved broadcast as in ntpd and RFC 9769 section 5):
 * the delay calibrated with client exchanges, then samples from the server's mode 5 broadcasts.
 */
import { PHI } from '../algo/constants.js';
import { type RawTime, rawSeconds } from '../clock/types.js';
import { diffTimestamps, durationToSeconds, ONE_SECOND, resolveTimestamp } from '../time/ntp-time.js';
import { isKissOfDeath } from '../wire/kiss.js';
import type { NtpPacket } from '../wire/packet.js';
import type { Association } from './association.js';
import type { AssocOutput, LocalStamp } from './types.js';

/** Calibration exchanges wanted, the attempts allowed, and the broadcasts between recalibrations. */
const CALIBRATION_SAMPLES = 4;
const CALIBRATION_ATTEMPTS = 12;
const RECALIBRATE_AFTER = 64;

export class BroadcastClientState {
  phase: 'calibrate' | 'listen' = 'calibrate';
  calibDelays: number[] = [];
  calibAttempts = 0;
  calibratedDelay: number | null = null;
  sinceCalibration = 0;
  last: { xmt: bigint; dst: LocalStamp } | null = null;
  /** The broadcast server sends interleaved broadcasts: calibrate with interleaved exchanges too. */
  interleaved = false;
  /** Apparent one-way delays (T4 − T3, s) of the last broadcasts. */
  delays: number[] = [];
  readonly samplesWanted = CALIBRATION_SAMPLES;

  startCalibration(): void {
    this.delays = [];
    this.phase = 'calibrate';
    this.calibDelays = [];
    this.calibAttempts = 0;
    this.sinceCalibration = 0;
  }

  /** Calibration ran out of attempts with some delays measured: use what there is. */
  calibrationDue(): boolean {
    return this.calibAttempts >= CALIBRATION_ATTEMPTS && this.calibDelays.length > 0;
  }
}

export function finishCalibration(a: Association, raw: RawTime): void {
  const b = a.bc;
  b.calibratedDelay = Math.min(...b.calibDelays);
  b.phase = 'listen';
  a.polling.burstLeft = 0;
  b.sinceCalibration = 0;
  a.polling.schedule(raw, 2 ** Math.max(a.polling.ppoll, a.cfg.minpoll) * 2);
}

/** A mode 5 broadcast from the server. */
export function receiveBroadcast(a: Association, raw: RawTime, pkt: NtpPacket): AssocOutput[] {
  const b = a.bc;
  const out: AssocOutput[] = [];
  const now = a.ctx.clock.read(raw);
  if (pkt.transmitTimestamp === 0n) return a.reject('test3-invalid');
  if (pkt.transmitTimestamp === a.lastRecvXmt) return a.reject('test1-duplicate');
  if (a.lastRecvXmt !== 0n && diffTimestamps(pkt.transmitTimestamp, a.lastRecvXmt) < 0n)
    return a.reject('broadcast-old');
  if (!a.authOk(pkt, out)) return out;
  a.lastRecvXmt = pkt.transmitTimestamp;
  const dst: LocalStamp = { raw, time: now, precise: true };
  const prev = b.last;
  b.last = { xmt: pkt.transmitTimestamp, dst };
  if (isKissOfDeath(pkt)) {
    a.handleKiss(pkt, out);
    return out;
  }
  a.acceptHeader(raw, pkt, out);
  if (!a.headerOk(pkt, out)) return out;
  if (pkt.originTimestamp !== 0n) b.interleaved = true;
  if (b.phase === 'calibrate' || b.calibratedDelay === null) {
    // Until the delay is calibrated with client exchanges, broadcasts only keep the server reachable.
    if (a.polling.nextPoll === null) a.polling.nextPoll = raw;
    return out;
  }
  b.sinceCalibration++;
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
      b.interleaved = true;
    }
  }
  a.setInterleaved(xleave, out);
  const calibrated = b.calibratedDelay;
  // θ = T3 + δ/2 − T4: the broadcast left at T3 and travelled half the calibrated round trip.
  const apparent = durationToSeconds(t4.time - t3);
  const offset = calibrated / 2 - apparent;
  // A broadcast that queued longer than usual arrives late and gives a smaller offset; nothing in
  // the packet shows it. Its excess over the smallest apparent one-way delay of the recent
  // broadcasts is charged to its delay (twice, as a round trip), so the clock filter, which prefers
  // low delays, sets it aside like any congested sample.
  b.delays.push(apparent);
  if (b.delays.length > 8) b.delays.shift();
  const excess = Math.max(0, apparent - Math.min(...b.delays));
  const delay = calibrated + 2 * excess;
  const dispersion = 2 ** pkt.precision + 2 ** a.ctx.precision + PHI * delay;
  a.pushSample(t4.raw, a.ctx.correctOffset(rawSeconds(t4.raw), offset, delay), delay, dispersion, out);
  if (b.sinceCalibration >= RECALIBRATE_AFTER) {
    b.startCalibration();
    a.polling.nextPoll = raw;
  }
  return out;
}
