/**
 * Linux PPS devices (/dev/ppsN, RFC 2783 API) through ioctl via koffi: PPS_FETCH returns the
 * CLOCK_REALTIME time stamp and sequence number of the latest assert edge, read without waiting.
 * Best effort: `openPps` reports why it cannot (no FFI, no device, no permission), and the host then
 * leaves the PPS refclock unreachable. Struct layouts: src/refclock/pps-struct.ts.
 */
import {
  decodeFetch,
  decodeParams,
  encodeParams,
  fetchRequest,
  PPS_CAPTUREASSERT,
  PPS_FETCH,
  PPS_GETPARAMS,
  PPS_KPARAMS_SIZE,
  PPS_SETPARAMS,
  PPS_TSFMT_TSPEC,
  type PpsFetch,
} from '../refclock/pps-struct.js';
import type { RefclockSample } from '../refclock/types.js';
import { errnoText } from './errno.js';
import { type Koffi, libc } from './ffi.js';
import { realtimePair, type TimePair } from './shm.js';

interface PpsFns {
  koffi: Koffi;
  open: (path: string, flags: number) => number;
  close: (fd: number) => number;
  ioctl: (fd: number, req: number, buf: Uint8Array) => number;
}

const O_RDWR = 2;
const O_RDONLY = 0;
let fns: PpsFns | null | undefined;

function load(): PpsFns | null {
  if (fns !== undefined) return fns;
  fns = null;
  const c = libc();
  if (c === null) return fns;
  try {
    fns = {
      koffi: c.koffi,
      open: c.func('int open(const char *path, int flags)'),
      close: c.func('int close(int fd)'),
      // ioctl is variadic; on the Linux ABIs a pointer third argument is passed the same way.
      ioctl: c.func('int ioctl(int fd, unsigned long req, _Inout_ uint8_t *arg)'),
    };
  } catch {
    fns = null;
  }
  return fns;
}

export type PpsError =
  | { code: 'ffi-unavailable'; message: string }
  | { code: 'open'; errno: number; message: string }
  | { code: 'ioctl'; errno: number; message: string };

export class PpsDevice {
  private closed = false;

  constructor(
    readonly path: string,
    private readonly fd: number,
    private readonly f: PpsFns,
  ) {}

  /** The latest edges (does not wait). */
  fetch(): { ok: true; fetch: PpsFetch } | { ok: false; error: PpsError } {
    if (this.closed) return { ok: false, error: { code: 'ioctl', errno: 9, message: 'closed' } };
    const buf = fetchRequest(null);
    if (this.f.ioctl(this.fd, PPS_FETCH, buf) < 0) {
      const errno = this.f.koffi.errno();
      return {
        ok: false,
        error: { code: 'ioctl', errno, message: `PPS_FETCH on ${this.path}: ${errnoText(errno)}` },
      };
    }
    return { ok: true, fetch: decodeFetch(buf) };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.f.close(this.fd);
  }
}

/**
 * Opens a PPS device and (when writable) enables assert capture with timespec stamps, as chrony does.
 */
export function openPps(path: string): { ok: true; device: PpsDevice } | { ok: false; error: PpsError } {
  const f = load();
  if (f === null)
    return { ok: false, error: { code: 'ffi-unavailable', message: 'koffi/libc not available' } };
  let fd = f.open(path, O_RDWR);
  const writable = fd >= 0;
  if (fd < 0) fd = f.open(path, O_RDONLY);
  if (fd < 0) {
    const errno = f.koffi.errno();
    return { ok: false, error: { code: 'open', errno, message: `cannot open ${path}: ${errnoText(errno)}` } };
  }
  if (writable) {
    const p = new Uint8Array(PPS_KPARAMS_SIZE);
    if (f.ioctl(fd, PPS_GETPARAMS, p) === 0) {
      const cur = decodeParams(p);
      if ((cur.mode & PPS_CAPTUREASSERT) === 0) {
        encodeParams({ apiVersion: cur.apiVersion, mode: cur.mode | PPS_CAPTUREASSERT | PPS_TSFMT_TSPEC }, p);
        f.ioctl(fd, PPS_SETPARAMS, p);
      }
    }
  }
  return { ok: true, device: new PpsDevice(path, fd, f) };
}

/**
 * The PPS refclock driver: every driver poll, a new assert edge (sequence changed) becomes a pulse
 * sample at the counter value of the edge.
 */
/** What the driver needs from a device (PpsDevice, or a fake in tests). */
export interface PpsFetcher {
  fetch(): { ok: true; fetch: PpsFetch } | { ok: false; error: PpsError };
  close(): void;
}

export class PpsRefclockDriver {
  private lastSequence: number | null = null;

  constructor(
    readonly device: PpsFetcher,
    private readonly now: () => TimePair = realtimePair,
  ) {}

  poll(): { ok: true; sample: RefclockSample } | { ok: false; error: PpsError | { code: 'no-pulse' } } {
    const r = this.device.fetch();
    if (!r.ok) return r;
    return this.sampleFrom(r.fetch);
  }

  /** The sample for a fetch result (separate for tests). */
  sampleFrom(f: PpsFetch): { ok: true; sample: RefclockSample } | { ok: false; error: { code: 'no-pulse' } } {
    if (f.assertSequence === 0 || f.assertSequence === this.lastSequence)
      return { ok: false, error: { code: 'no-pulse' } };
    this.lastSequence = f.assertSequence;
    const now = this.now();
    return { ok: true, sample: { raw: now.raw - (now.realtimeNs - f.assertNs), reference: null } };
  }

  close(): void {
    this.device.close();
  }
}
