/**
 * The ntpd shared-memory reference clock segment (ntpd refclock_shm.c, chrony refclock_shm.c), as
 * written by gpsd, ptp4l/phc2sys (`phc2sys -E ntpshm`) and read by ntpd and chrony. Pure: the
 * segment is seen through a DataView (src/io/shm.ts attaches the real one with shmget/shmat).
 *
 * struct shmTime (x86_64 / aarch64 Linux, little endian, 64-bit time_t), 96 bytes:
 *   off  0 int mode            0: valid flag only; 1: count protocol as well
 *   off  4 int count           incremented by the writer before and after an update (mode 1)
 *   off  8 time_t clockTimeStampSec      reference time (the true time of the event)
 *   off 16 int clockTimeStampUSec
 *   off 24 time_t receiveTimeStampSec    system clock when the event happened
 *   off 32 int receiveTimeStampUSec
 *   off 36 int leap            0 none, 1 insert, 2 delete, 3 not synchronised
 *   off 40 int precision       log2 s
 *   off 44 int nsamples
 *   off 48 int valid           set by the writer after an update, cleared by the reader
 *   off 52 unsigned clockTimeStampNSec   (ntpd 4.2.8 / gpsd: used when NSec/1000 == USec)
 *   off 56 unsigned receiveTimeStampNSec
 *   off 60 int dummy[8]
 * The segment key is 0x4e545030 ("NTP0") + unit.
 */
import { type NtpTime, unixNsToNtpTime } from '../time/ntp-time.js';

export const SHM_KEY_BASE = 0x4e545030;
export const SHM_SIZE = 96;

export const SHM_OFFSET = {
  mode: 0,
  count: 4,
  clockSec: 8,
  clockUsec: 16,
  receiveSec: 24,
  receiveUsec: 32,
  leap: 36,
  precision: 40,
  nsamples: 44,
  valid: 48,
  clockNsec: 52,
  receiveNsec: 56,
  dummy: 60,
} as const;

/** The segment key of a unit. */
export function shmKey(unit: number): number {
  return (SHM_KEY_BASE + unit) >>> 0;
}

export interface ShmTime {
  mode: number;
  count: number;
  clockSec: bigint;
  clockUsec: number;
  receiveSec: bigint;
  receiveUsec: number;
  leap: number;
  precision: number;
  nsamples: number;
  valid: number;
  clockNsec: number;
  receiveNsec: number;
}

export function emptyShmTime(): ShmTime {
  return {
    mode: 0,
    count: 0,
    clockSec: 0n,
    clockUsec: 0,
    receiveSec: 0n,
    receiveUsec: 0,
    leap: 0,
    precision: 0,
    nsamples: 0,
    valid: 0,
    clockNsec: 0,
    receiveNsec: 0,
  };
}

/** Decodes the 96-byte structure. */
export function decodeShmTime(v: DataView): ShmTime {
  if (v.byteLength < SHM_SIZE) throw new RangeError(`shmTime needs ${SHM_SIZE} bytes, got ${v.byteLength}`);
  const o = SHM_OFFSET;
  return {
    mode: v.getInt32(o.mode, true),
    count: v.getInt32(o.count, true),
    clockSec: v.getBigInt64(o.clockSec, true),
    clockUsec: v.getInt32(o.clockUsec, true),
    receiveSec: v.getBigInt64(o.receiveSec, true),
    receiveUsec: v.getInt32(o.receiveUsec, true),
    leap: v.getInt32(o.leap, true),
    precision: v.getInt32(o.precision, true),
    nsamples: v.getInt32(o.nsamples, true),
    valid: v.getInt32(o.valid, true),
    clockNsec: v.getUint32(o.clockNsec, true),
    receiveNsec: v.getUint32(o.receiveNsec, true),
  };
}

/** Encodes into `v` (all fields, the dummy area untouched). */
export function encodeShmTime(t: ShmTime, v: DataView): void {
  if (v.byteLength < SHM_SIZE) throw new RangeError(`shmTime needs ${SHM_SIZE} bytes, got ${v.byteLength}`);
  const o = SHM_OFFSET;
  v.setInt32(o.mode, t.mode, true);
  v.setInt32(o.count, t.count, true);
  v.setBigInt64(o.clockSec, t.clockSec, true);
  v.setInt32(o.clockUsec, t.clockUsec, true);
  v.setBigInt64(o.receiveSec, t.receiveSec, true);
  v.setInt32(o.receiveUsec, t.receiveUsec, true);
  v.setInt32(o.leap, t.leap, true);
  v.setInt32(o.precision, t.precision, true);
  v.setInt32(o.nsamples, t.nsamples, true);
  v.setInt32(o.valid, t.valid, true);
  v.setUint32(o.clockNsec, t.clockNsec >>> 0, true);
  v.setUint32(o.receiveNsec, t.receiveNsec >>> 0, true);
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/** A reading of the segment: both timestamps in Unix ns. */
export interface ShmReading {
  /** Reference time of the event (Unix ns). */
  clockNs: bigint;
  /** System (CLOCK_REALTIME) time of the event (Unix ns). */
  receiveNs: bigint;
  leap: number;
  precision: number;
  mode: number;
  count: number;
}

export type ShmReadError =
  /** No new sample (valid flag clear): the normal case between writer updates. */
  | { code: 'not-valid' }
  /** Mode 1 and the count changed while reading: a torn read, try again at the next driver poll. */
  | { code: 'inconsistent' }
  | { code: 'bad-mode'; mode: number }
  | { code: 'bad-time' };

export type ShmReadResult = { ok: true; reading: ShmReading } | { ok: false; error: ShmReadError };

/** Seconds and (micro/nano) fraction to Unix ns, with ntpd's rule for the nanosecond fields. */
function stampNs(sec: bigint, usec: number, nsec: number, useNsec: boolean): bigint {
  return sec * 1_000_000_000n + BigInt(useNsec ? nsec : usec * 1000);
}

/**
 * The reader's side of the protocol (as chrony and ntpd do it): copy the structure, check the mode,
 * the valid flag and (mode 1) that the count did not change meanwhile, then clear `valid`.
 * `duringRead` runs between the copy and the re-check (tests use it to play a concurrent writer).
 */
export function readShm(v: DataView, duringRead?: () => void): ShmReadResult {
  const t = decodeShmTime(v);
  duringRead?.();
  if (t.mode !== 0 && t.mode !== 1) return { ok: false, error: { code: 'bad-mode', mode: t.mode } };
  if (t.mode === 1 && v.getInt32(SHM_OFFSET.count, true) !== t.count)
    return { ok: false, error: { code: 'inconsistent' } };
  if (t.valid === 0) return { ok: false, error: { code: 'not-valid' } };
  v.setInt32(SHM_OFFSET.valid, 0, true);
  const useNsec =
    Math.floor(t.clockNsec / 1000) === t.clockUsec && Math.floor(t.receiveNsec / 1000) === t.receiveUsec;
  const fracOk = (u: number, n: number) => (useNsec ? n >= 0 && n < 1_000_000_000 : u >= 0 && u < 1_000_000);
  if (!fracOk(t.clockUsec, t.clockNsec) || !fracOk(t.receiveUsec, t.receiveNsec))
    return { ok: false, error: { code: 'bad-time' } };
  return {
    ok: true,
    reading: {
      clockNs: stampNs(t.clockSec, t.clockUsec, t.clockNsec, useNsec),
      receiveNs: stampNs(t.receiveSec, t.receiveUsec, t.receiveNsec, useNsec),
      leap: t.leap,
      precision: t.precision,
      mode: t.mode,
      count: t.count,
    },
  };
}

export interface ShmWrite {
  clockNs: bigint;
  receiveNs: bigint;
  leap?: number;
  precision?: number;
  /** Protocol mode written into the segment (default 1). */
  mode?: 0 | 1;
}

/**
 * The writer's side (as gpsd and phc2sys do it): in mode 1 count is incremented before and after the
 * update and valid is cleared first; the valid flag is set last.
 */
export function writeShm(v: DataView, w: ShmWrite, midWrite?: () => void): void {
  const o = SHM_OFFSET;
  const mode = w.mode ?? 1;
  v.setInt32(o.valid, 0, true);
  v.setInt32(o.mode, mode, true);
  v.setInt32(o.count, (v.getInt32(o.count, true) + 1) | 0, true);
  const split = (ns: bigint) => {
    const sec = floorDiv(ns, 1_000_000_000n);
    const nsec = Number(ns - sec * 1_000_000_000n);
    return { sec, nsec, usec: Math.floor(nsec / 1000) };
  };
  const c = split(w.clockNs);
  const r = split(w.receiveNs);
  v.setBigInt64(o.clockSec, c.sec, true);
  v.setInt32(o.clockUsec, c.usec, true);
  v.setUint32(o.clockNsec, c.nsec, true);
  midWrite?.();
  v.setBigInt64(o.receiveSec, r.sec, true);
  v.setInt32(o.receiveUsec, r.usec, true);
  v.setUint32(o.receiveNsec, r.nsec, true);
  v.setInt32(o.leap, w.leap ?? 0, true);
  v.setInt32(o.precision, w.precision ?? -20, true);
  v.setInt32(o.nsamples, 3, true);
  v.setInt32(o.count, (v.getInt32(o.count, true) + 1) | 0, true);
  v.setInt32(o.valid, 1, true);
}

/** The reference time of a reading as NTP time (for a `RefclockSample`). */
export function readingReference(r: ShmReading): NtpTime {
  return unixNsToNtpTime(r.clockNs);
}
