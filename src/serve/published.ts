/**
 * What a server reply needs from the main thread, published for the server workers through a
 * SharedArrayBuffer under a sequence lock, and the basic-mode reply built from it.
 *
 * The sources, selection and discipline run on the main thread; the workers answer requests. The
 * main thread publishes, every few tens of milliseconds and at once after a clock change, the
 * clock as a line through a point (raw counter → NTP time, with the rate of the next interval, so a
 * pending slew is followed), and the system variables of `ServerState` with the growth rate of the
 * root dispersion. A worker reads without locks: the writer makes the sequence odd, writes, makes
 * it even again; a reader that saw an odd sequence, or a different one after reading, reads again.
 * Neither side ever waits for the other.
 *
 * Everything here is numbers (no bigint, nothing allocated per read): the raw counter is passed as
 * seconds and nanoseconds, NTP time as era seconds and a 32-bit fraction.
 */
import type { RawTime } from '../clock/types.js';

/** Int32 slots. */
const SEQ = 0;
const LEAP = 1;
const STRATUM = 2;
const PRECISION = 3;
const REFID = 4;
const ROOT_DELAY = 5;
const ROOT_DISP = 6;
const GENERATION = 7;
const I32_COUNT = 8;
/** Float64 slots (after the Int32 area, 8-aligned). */
const RAW_SEC = 0;
const RAW_NSEC = 1;
const TIME_SEC = 2;
const TIME_FRAC = 3;
const RATE = 4;
const DISP_RATE = 5;
const REF_SEC = 6;
const REF_FRAC = 7;
const F64_COUNT = 8;

export const PUBLISHED_BYTES = I32_COUNT * 4 + F64_COUNT * 8;

const TWO32 = 4294967296;
/** NTP fraction units (2^-32 s) per nanosecond. */
const UNITS_PER_NS = TWO32 / 1e9;

/** The system variables a reply carries (root delay and dispersion in short format, u32). */
interface SystemFields {
  leap: number;
  stratum: number;
  precision: number;
  referenceId: number;
  rootDelay: number;
  /** As of the publication. */
  rootDispersion: number;
}

/** A reply's view of the published state (one object, refilled by `read`). */
export interface PublishedView extends SystemFields {
  /** Short-format units the root dispersion grows per second after the publication. */
  dispersionRate: number;
  refSec: number;
  refFrac: number;
  /** Clock line: NTP (timeSec, timeFrac) at raw (rawSec, rawNsec), advancing `rate` per raw second. */
  rawSec: number;
  rawNsec: number;
  timeSec: number;
  timeFrac: number;
  rate: number;
  /** Counts publications after clock steps (a reader may drop state that predates one). */
  generation: number;
  /** False until the main thread published once. */
  valid: boolean;
}

export function emptyView(): PublishedView {
  return {
    leap: 3,
    stratum: 16,
    precision: -20,
    referenceId: 0,
    rootDelay: 0,
    rootDispersion: 0,
    dispersionRate: 0,
    refSec: 0,
    refFrac: 0,
    rawSec: 0,
    rawNsec: 0,
    timeSec: 0,
    timeFrac: 0,
    rate: 1,
    generation: 0,
    valid: false,
  };
}

/** What the main thread publishes. */
export interface PublishInput extends SystemFields {
  raw: RawTime;
  /** The clock's NTP time (era-extended, 32.32) at `raw` and at `raw + span`. */
  time: bigint;
  timeLater: bigint;
  spanNs: number;
  /** Root dispersion (short format) one second later, for its growth rate. */
  rootDispersionLater: number;
  referenceTimestamp: bigint;
  /** True after a clock step (bumps the generation). */
  stepped?: boolean;
}

function split(ts: bigint): [number, number] {
  return [Number((ts >> 32n) & 0xffffffffn), Number(ts & 0xffffffffn)];
}

export class PublishedWriter {
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    if (buffer.byteLength < PUBLISHED_BYTES) throw new RangeError('published-state buffer too small');
    this.i32 = new Int32Array(buffer, 0, I32_COUNT);
    this.f64 = new Float64Array(buffer, I32_COUNT * 4, F64_COUNT);
  }

  static create(): PublishedWriter {
    return new PublishedWriter(new SharedArrayBuffer(PUBLISHED_BYTES));
  }

  publish(p: PublishInput): void {
    const i = this.i32;
    const f = this.f64;
    Atomics.add(i, SEQ, 1); // odd: writing
    i[LEAP] = p.leap;
    i[STRATUM] = p.stratum;
    i[PRECISION] = p.precision;
    i[REFID] = p.referenceId | 0;
    i[ROOT_DELAY] = p.rootDelay | 0;
    i[ROOT_DISP] = p.rootDispersion | 0;
    if (p.stepped === true) i[GENERATION] = ((i[GENERATION] ?? 0) + 1) | 0;
    f[RAW_SEC] = Number(p.raw / 1_000_000_000n);
    f[RAW_NSEC] = Number(p.raw % 1_000_000_000n);
    const [ts, tf] = split(p.time);
    f[TIME_SEC] = ts;
    f[TIME_FRAC] = tf;
    // Units of 2^-32 s per raw ns, as a ratio to nominal: 1 + frequency (+ the slew's share).
    f[RATE] = Number(p.timeLater - p.time) / (p.spanNs * UNITS_PER_NS);
    f[DISP_RATE] = Math.max(0, (p.rootDispersionLater >>> 0) - (p.rootDispersion >>> 0));
    const [rs, rf] = split(p.referenceTimestamp);
    f[REF_SEC] = rs;
    f[REF_FRAC] = rf;
    Atomics.add(i, SEQ, 1); // even: done
  }
}

export class PublishedReader {
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;

  constructor(buffer: SharedArrayBuffer) {
    this.i32 = new Int32Array(buffer, 0, I32_COUNT);
    this.f64 = new Float64Array(buffer, I32_COUNT * 4, F64_COUNT);
  }

  /** Copies the current state into `v`; false when nothing has been published yet. */
  read(v: PublishedView): boolean {
    const i = this.i32;
    const f = this.f64;
    for (;;) {
      const s = Atomics.load(i, SEQ);
      if ((s & 1) !== 0) continue;
      if (s === 0) {
        v.valid = false;
        return false;
      }
      v.leap = i[LEAP] ?? 3;
      v.stratum = i[STRATUM] ?? 16;
      v.precision = i[PRECISION] ?? -20;
      v.referenceId = (i[REFID] ?? 0) >>> 0;
      v.rootDelay = (i[ROOT_DELAY] ?? 0) >>> 0;
      v.rootDispersion = (i[ROOT_DISP] ?? 0) >>> 0;
      v.generation = i[GENERATION] ?? 0;
      v.rawSec = f[RAW_SEC] ?? 0;
      v.rawNsec = f[RAW_NSEC] ?? 0;
      v.timeSec = f[TIME_SEC] ?? 0;
      v.timeFrac = f[TIME_FRAC] ?? 0;
      v.rate = f[RATE] ?? 1;
      v.dispersionRate = f[DISP_RATE] ?? 0;
      v.refSec = f[REF_SEC] ?? 0;
      v.refFrac = f[REF_FRAC] ?? 0;
      if (Atomics.load(i, SEQ) === s) {
        v.valid = true;
        return true;
      }
    }
  }
}

/** An NTP timestamp as two numbers (era seconds, fraction), reused by the caller. */
export interface Stamp {
  sec: number;
  frac: number;
}

/** The published clock's reading at raw counter (sec, nsec), into `out`. */
export function clockAt(v: PublishedView, sec: number, nsec: number, out: Stamp): void {
  const dns = (sec - v.rawSec) * 1e9 + (nsec - v.rawNsec);
  let frac = v.timeFrac + Math.round(dns * UNITS_PER_NS * v.rate);
  let s = v.timeSec;
  const carry = Math.floor(frac / TWO32);
  frac -= carry * TWO32;
  s += carry;
  out.sec = s >>> 0;
  out.frac = frac >>> 0;
}

/** The root dispersion (NTP short units) `age` s after the publication, grown at its published rate. */
export function dispersionAfter(v: PublishedView, age: number): number {
  return Math.min(v.rootDispersion + (age > 0 ? Math.floor(v.dispersionRate * age) : 0), 0xffffffff);
}

/** Seconds since the publication at raw (sec, nsec). */
export function ageAt(v: PublishedView, sec: number, nsec: number): number {
  return sec - v.rawSec + (nsec - v.rawNsec) / 1e9;
}

function putStamp(d: DataView, at: number, s: Stamp): void {
  d.setUint32(at, s.sec, false);
  d.setUint32(at + 4, s.frac, false);
}

/**
 * Writes the basic-mode answer (48 bytes) to the mode 3 request `req` into `out`, as
 * `buildServerResponse` does: LI 3 and stratum 0 on the wire while unsynchronised, the request's
 * version and poll, origin = its transmit timestamp, receive = `rx`. The transmit timestamp is
 * written last, by `writeTransmit`, as late as possible. `age`: seconds since the publication, for
 * the root dispersion's growth.
 */
export function writeBasicReply(
  v: PublishedView,
  req: Uint8Array,
  out: DataView,
  rx: Stamp,
  age: number,
): void {
  const version = ((req[0] ?? 0) >> 3) & 7;
  const unsync = v.stratum >= 16;
  const leap = unsync ? 3 : v.leap & 3;
  out.setUint8(0, (leap << 6) | (version << 3) | 4);
  out.setUint8(1, unsync || v.stratum <= 0 ? 0 : v.stratum);
  out.setUint8(2, req[2] ?? 0);
  out.setInt8(3, v.precision);
  out.setUint32(4, v.rootDelay, false);
  out.setUint32(8, dispersionAfter(v, age), false);
  out.setUint32(12, v.referenceId, false);
  out.setUint32(16, v.refSec, false);
  out.setUint32(20, v.refFrac, false);
  for (let k = 0; k < 8; k++) out.setUint8(24 + k, req[40 + k] ?? 0);
  putStamp(out, 32, rx);
}

/**
 * Writes the transmit timestamp `tx` (bytes 40–48), made later than the receive timestamp in
 * bytes 32–40 by at least one unit where it is not (clients rely on the two differing).
 */
export function writeTransmit(out: DataView, tx: Stamp): void {
  const rs = out.getUint32(32, false);
  const rf = out.getUint32(36, false);
  const d = (tx.sec - rs) | 0; // wrapping difference: correct across the era boundary
  if (d < 0 || (d === 0 && tx.frac <= rf)) {
    tx.sec = rs;
    tx.frac = rf + 1;
    if (tx.frac >= TWO32) {
      tx.frac = 0;
      tx.sec = (tx.sec + 1) >>> 0;
    }
  }
  putStamp(out, 40, tx);
}

/**
 * Writes a KoD (RATE, DENY or RSTR) to request `req` into `out` (48 bytes), as
 * `buildKissResponse`: leap 3, stratum 0, the code as reference ID, every timestamp the request's
 * transmit timestamp.
 */
export function writeKissReply(
  req: Uint8Array,
  out: DataView,
  code: 'RATE' | 'DENY' | 'RSTR',
  precision: number,
): void {
  const version = ((req[0] ?? 0) >> 3) & 7;
  out.setUint8(0, (3 << 6) | (version << 3) | 4);
  out.setUint8(1, 0);
  out.setUint8(2, req[2] ?? 0);
  out.setInt8(3, precision);
  out.setUint32(4, 0, false);
  out.setUint32(8, 0, false);
  for (let k = 0; k < 4; k++) out.setUint8(12 + k, code.charCodeAt(k));
  for (let t = 16; t < 48; t += 8) for (let k = 0; k < 8; k++) out.setUint8(t + k, req[40 + k] ?? 0);
}
