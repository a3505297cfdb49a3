/**
 * The Linux RFC 2783 PPS API structures (include/uapi/linux/pps.h), for the ioctl calls on /dev/ppsN
 * made by src/io/pps.ts. Pure: byte layouts only (x86_64 / aarch64, little endian).
 *
 *   struct pps_ktime  { __s64 sec; __s32 nsec; __u32 flags; }                         16 bytes
 *   struct pps_kinfo  { __u32 assert_sequence; __u32 clear_sequence;
 *                       struct pps_ktime assert_tu; struct pps_ktime clear_tu; int current_mode; }  48
 *   struct pps_fdata  { struct pps_kinfo info; struct pps_ktime timeout; }            64
 *   struct pps_kparams { int api_version; int mode; struct pps_ktime assert_off_tu, clear_off_tu; } 40
 * The ioctl numbers encode a pointer-sized argument, as the kernel header declares them.
 */

function ioc(dir: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (0x70 << 8) | nr) >>> 0;
}
const READ = 2;
const WRITE = 1;
export const PPS_GETPARAMS = ioc(READ, 0xa1, 8);
export const PPS_SETPARAMS = ioc(WRITE, 0xa2, 8);
export const PPS_GETCAP = ioc(READ, 0xa3, 8);
export const PPS_FETCH = ioc(READ | WRITE, 0xa4, 8);

export const PPS_CAPTUREASSERT = 0x01;
export const PPS_CAPTURECLEAR = 0x02;
export const PPS_TSFMT_TSPEC = 0x1000;
/** pps_ktime.flags: the timeout is not valid (do not wait). */
export const PPS_TIME_INVALID = 0x01;

export const PPS_FDATA_SIZE = 64;
export const PPS_KPARAMS_SIZE = 40;

export interface PpsFetch {
  assertSequence: number;
  clearSequence: number;
  /** CLOCK_REALTIME of the last assert / clear edge (Unix ns). */
  assertNs: bigint;
  clearNs: bigint;
  mode: number;
}

/** A PPS_FETCH argument that asks for the latest event without waiting (timeout flagged invalid). */
export function fetchRequest(timeoutNs: bigint | null = null): Uint8Array {
  const b = new Uint8Array(PPS_FDATA_SIZE);
  const v = new DataView(b.buffer);
  if (timeoutNs === null) v.setUint32(60, PPS_TIME_INVALID, true);
  else {
    v.setBigInt64(48, timeoutNs / 1_000_000_000n, true);
    v.setInt32(56, Number(timeoutNs % 1_000_000_000n), true);
  }
  return b;
}

export function decodeFetch(b: Uint8Array): PpsFetch {
  if (b.byteLength < PPS_FDATA_SIZE) throw new RangeError(`pps_fdata needs ${PPS_FDATA_SIZE} bytes`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const t = (o: number) => v.getBigInt64(o, true) * 1_000_000_000n + BigInt(v.getInt32(o + 8, true));
  return {
    assertSequence: v.getUint32(0, true),
    clearSequence: v.getUint32(4, true),
    assertNs: t(8),
    clearNs: t(24),
    mode: v.getInt32(40, true),
  };
}

/** Encodes a pps_fdata as the kernel fills it (for tests). */
export function encodeFetch(f: PpsFetch): Uint8Array {
  const b = new Uint8Array(PPS_FDATA_SIZE);
  const v = new DataView(b.buffer);
  const put = (o: number, ns: bigint) => {
    const sec = ns >= 0n ? ns / 1_000_000_000n : -((-ns + 999_999_999n) / 1_000_000_000n);
    v.setBigInt64(o, sec, true);
    v.setInt32(o + 8, Number(ns - sec * 1_000_000_000n), true);
  };
  v.setUint32(0, f.assertSequence >>> 0, true);
  v.setUint32(4, f.clearSequence >>> 0, true);
  put(8, f.assertNs);
  put(24, f.clearNs);
  v.setInt32(40, f.mode, true);
  return b;
}

export interface PpsParams {
  apiVersion: number;
  mode: number;
}

export function decodeParams(b: Uint8Array): PpsParams {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { apiVersion: v.getInt32(0, true), mode: v.getInt32(4, true) };
}

export function encodeParams(p: PpsParams, into = new Uint8Array(PPS_KPARAMS_SIZE)): Uint8Array {
  const v = new DataView(into.buffer, into.byteOffset, into.byteLength);
  v.setInt32(0, p.apiVersion, true);
  v.setInt32(4, p.mode, true);
  return into;
}
