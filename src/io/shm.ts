/**
 * The ntpd SHM reference clock segment, attached through System V shared memory (shmget/shmat/shmdt
 * via koffi FFI). The structure and its count/valid protocol live in src/refclock/shm-struct.ts
 * (pure); this module maps the real segment and turns readings into refclock samples.
 *
 * Keys are 0x4e545030 + unit, as gpsd, ptp4l/phc2sys (`-E ntpshm -M unit`), ntpd and chrony use them.
 * The receive timestamp in the segment is CLOCK_REALTIME; a reading is placed on the raw counter by
 * reading the counter and CLOCK_REALTIME together (`realtimePair`).
 */
import type { RawTime } from '../clock/types.js';
import {
  readingReference,
  readShm,
  SHM_SIZE,
  type ShmReadError,
  type ShmReading,
  type ShmWrite,
  shmKey,
  writeShm,
} from '../refclock/shm-struct.js';
import type { RefclockSample } from '../refclock/types.js';
import { errnoText } from './errno.js';
import { type Koffi, libc } from './ffi.js';

interface ShmFns {
  koffi: Koffi;
  shmget: (key: number, size: number, flags: number) => number;
  shmat: (id: number, addr: null, flags: number) => unknown;
  shmdt: (addr: unknown) => number;
  shmctl: (id: number, cmd: number, buf: null) => number;
  clockGettime: (clk: number, ts: { tv_sec: number; tv_nsec: number }) => number;
}

const IPC_CREAT = 0o1000;
const IPC_RMID = 0;
const CLOCK_REALTIME = 0;

let fns: ShmFns | null | undefined;

/** The FFI functions, or null where koffi or libc is not available (not Linux, no koffi). */
function load(): ShmFns | null {
  if (fns !== undefined) return fns;
  fns = null;
  const c = libc();
  if (c === null) return fns;
  try {
    c.koffi.struct('ntpkit_shm_timespec', { tv_sec: 'long', tv_nsec: 'long' });
    fns = {
      koffi: c.koffi,
      shmget: c.func('int shmget(int key, size_t size, int shmflg)'),
      shmat: c.func('void *shmat(int shmid, void *shmaddr, int shmflg)'),
      shmdt: c.func('int shmdt(void *shmaddr)'),
      shmctl: c.func('int shmctl(int shmid, int cmd, void *buf)'),
      clockGettime: c.func('int clock_gettime(int clk, _Out_ ntpkit_shm_timespec *ts)'),
    };
  } catch {
    fns = null;
  }
  return fns;
}

/** Whether SHM segments can be attached here. */
export function shmAvailable(): boolean {
  return load() !== null;
}

export type ShmAttachError =
  | { code: 'ffi-unavailable'; message: string }
  /** shmget failed: ENOENT when the writer has not created the segment and `create` is false. */
  | { code: 'shmget'; errno: number; message: string }
  | { code: 'shmat'; errno: number; message: string };

export interface ShmAttachOptions {
  /** Create the segment if missing (readers do, like chrony; default true). */
  create?: boolean;
  /** Permissions when created (chrony: 0600 for every unit unless `perm`; ntpd: 0666 from unit 2). */
  perm?: number;
}

/** An attached segment. The view is valid until `detach()`. */
export class ShmSegment {
  private attached = true;

  constructor(
    readonly unit: number,
    readonly id: number,
    private readonly addr: unknown,
    readonly view: DataView,
    private readonly f: ShmFns,
  ) {}

  get key(): number {
    return shmKey(this.unit);
  }

  /** Reads one sample with the count/valid protocol (clears `valid`). */
  read(): ReturnType<typeof readShm> {
    if (!this.attached) return { ok: false, error: { code: 'not-valid' } };
    return readShm(this.view);
  }

  /** Writes one sample like gpsd/phc2sys do (mode 1 unless told otherwise). */
  write(w: ShmWrite): void {
    if (!this.attached) throw new Error('SHM segment detached');
    writeShm(this.view, w);
  }

  detach(): void {
    if (!this.attached) return;
    this.attached = false;
    this.f.shmdt(this.addr);
  }

  /** Detaches and marks the segment for removal (IPC_RMID): for tests and writers that own it. */
  remove(): void {
    this.detach();
    this.f.shmctl(this.id, IPC_RMID, null);
  }
}

export function attachShm(
  unit: number,
  opts: ShmAttachOptions = {},
): { ok: true; segment: ShmSegment } | { ok: false; error: ShmAttachError } {
  const f = load();
  if (f === null)
    return {
      ok: false,
      error: { code: 'ffi-unavailable', message: 'koffi/libc shared memory not available' },
    };
  if (!Number.isInteger(unit) || unit < 0 || unit > 255)
    return { ok: false, error: { code: 'shmget', errno: 22, message: `bad unit ${unit}` } };
  const flags = ((opts.create ?? true) ? IPC_CREAT : 0) | (opts.perm ?? 0o600);
  const id = f.shmget(shmKey(unit), SHM_SIZE, flags);
  if (id < 0) {
    const errno = f.koffi.errno();
    return {
      ok: false,
      error: { code: 'shmget', errno, message: `shmget(unit ${unit}) failed: ${errnoText(errno)}` },
    };
  }
  const addr = f.shmat(id, null, 0);
  if (addr === null || f.koffi.address(addr) === (1n << 64n) - 1n) {
    const errno = f.koffi.errno();
    return {
      ok: false,
      error: { code: 'shmat', errno, message: `shmat(unit ${unit}) failed: ${errnoText(errno)}` },
    };
  }
  const view = new DataView(f.koffi.view(addr, SHM_SIZE));
  return { ok: true, segment: new ShmSegment(unit, id, addr, view, f) };
}

/** Whether a segment with this key exists (IPC key, e.g. `shmKey(unit)`). */
export function shmKeyExists(key: number): boolean {
  const f = load();
  if (f === null) return false;
  return f.shmget(key | 0, 0, 0) >= 0;
}

/**
 * Marks the segment with this key for removal (IPC_RMID). For tests that ran a writer (gpsd leaves
 * its segments behind when it has dropped root). Returns false when there is none or it failed.
 */
export function removeShmKey(key: number): boolean {
  const f = load();
  if (f === null) return false;
  const id = f.shmget(key | 0, 0, 0);
  return id >= 0 && f.shmctl(id, IPC_RMID, null) === 0;
}

/** CLOCK_REALTIME in Unix ns (FFI), or null without FFI. */
export function realtimeNs(): bigint | null {
  const f = load();
  if (f === null) return null;
  const ts = { tv_sec: 0, tv_nsec: 0 };
  if (f.clockGettime(CLOCK_REALTIME, ts) !== 0) return null;
  return BigInt(ts.tv_sec) * 1_000_000_000n + BigInt(ts.tv_nsec);
}

/** A raw counter reading (process.hrtime) and CLOCK_REALTIME taken together. */
export interface TimePair {
  raw: RawTime;
  realtimeNs: bigint;
}

/**
 * Reads the counter around CLOCK_REALTIME and takes the midpoint (error: half the read time); the
 * tightest of three tries, so that a preemption between the reads does not spoil the pair.
 */
export function realtimePair(): TimePair {
  let best: TimePair | null = null;
  let width = 0n;
  for (let i = 0; i < 3; i++) {
    const a = process.hrtime.bigint();
    const rt = realtimeNs() ?? BigInt(Date.now()) * 1_000_000n;
    const b = process.hrtime.bigint();
    if (best === null || b - a < width) {
      best = { raw: a + (b - a) / 2n, realtimeNs: rt };
      width = b - a;
    }
  }
  return best ?? { raw: process.hrtime.bigint(), realtimeNs: BigInt(Date.now()) * 1_000_000n };
}

/** A reading as a refclock sample: the receive time is moved from CLOCK_REALTIME onto the counter. */
export function shmSample(r: ShmReading, now: TimePair): RefclockSample {
  const raw = now.raw - (now.realtimeNs - r.receiveNs);
  const s: RefclockSample = { raw, reference: readingReference(r), leap: r.leap };
  if (r.precision < 0 && r.precision > -64) s.dispersion = 2 ** r.precision;
  return s;
}

/**
 * The SHM refclock driver: read the segment every 2^dpoll s, hand new samples to the engine.
 * `poll()` returns the sample, or the reason there is none (normally 'not-valid': no update since).
 */
export class ShmRefclockDriver {
  constructor(
    readonly segment: ShmSegment,
    private readonly now: () => TimePair = realtimePair,
  ) {}

  poll(): { ok: true; sample: RefclockSample } | { ok: false; error: ShmReadError } {
    const r = this.segment.read();
    if (!r.ok) return r;
    return { ok: true, sample: shmSample(r.reading, this.now()) };
  }

  close(): void {
    this.segment.detach();
  }
}
