/**
 * Kernel timestamps for Node's UDP sockets (Linux, through koffi).
 *
 * Node hands a datagram to JavaScript only when the event loop gets to it, and says nothing about
 * when a sent datagram left; reading the counter in the `message` handler or the send callback is
 * late by the loop's latency (tens of µs on an idle machine, more under load). The kernel knows both
 * moments. This module asks it, without taking the socket away from libuv:
 *
 * - Receive: libuv reads each datagram with recvmsg(2) and then calls the `message` handler
 *   synchronously. The kernel records the receive time of the datagram last read in the socket
 *   (sk_stamp), and ioctl(SIOCGSTAMPNS) returns it, so the handler asks right away. The first call
 *   switches receive timestamping on (and answers ENOENT).
 * - Transmit: SO_TIMESTAMPING with SOF_TIMESTAMPING_TX_SOFTWARE makes the kernel queue a copy of
 *   every sent datagram on the socket's error queue, stamped as the driver hands it to the device.
 *   Only the generation flag is set, not SOF_TIMESTAMPING_SOFTWARE: then reading an error-queue
 *   message does not add a control message but stores its stamp where SIOCGSTAMPNS reads it, and
 *   ordinary receives keep doing the same. The copy is matched to the send by its bytes (the UDP
 *   payload ends the copy).
 *
 * Stamps are CLOCK_REALTIME; they are turned into the daemon's raw counter by their age:
 * raw = rawNow − (realtimeNow − stamp), good to well under a microsecond for ages of milliseconds
 * whichever counter the daemon uses. The error queue is drained from every send callback, so it
 * never holds more than the datagrams in flight (libuv would otherwise be woken by EPOLLERR).
 *
 * Where any of this is unavailable (not Linux, no koffi, 32-bit ABI, the option refused)
 * `KernelTimestamps.open` returns null, or the object reports `tx: false`, and the daemon keeps its
 * user-space readings.
 */
import type dgram from 'node:dgram';
import type { RawTime } from '../clock/types.js';
import { clockReader, type Koffi, libc } from './ffi.js';

const SOL_SOCKET = 1;
const SO_TIMESTAMPING = 37;
const SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1;
const SIOCGSTAMPNS = 0x8907;
const MSG_DONTWAIT = 0x40;
const MSG_ERRQUEUE = 0x2000;
const CLOCK_REALTIME = 0;

/** msghdr, iovec, payload and control areas in one native block (64-bit layout). */
const MSGHDR = 0;
const IOV = 56;
const DATA = 72;
const DATA_SIZE = 4096;
const CONTROL = DATA + DATA_SIZE;
const CONTROL_SIZE = 256;
const BLOCK = CONTROL + CONTROL_SIZE;

/** Oldest unmatched transmit tickets are given up beyond this many. */
const MAX_PENDING = 256;
/** Error-queue messages read per drain at most (the rest wait for the next one). */
const MAX_DRAIN = 256;
/** A stamp older than this, or in the future by more than 1 ms, is not believed (clock stepped). */
const MAX_AGE_NS = 1_000_000_000n;
const MAX_FUTURE_NS = 1_000_000n;
/** A realtime/raw pair read within this many ns is taken at once; wider ones are read again. */
const PAIR_WINDOW_NS = 2_000n;
const PAIR_TRIES = 4;
/** Retries for a transmit stamp not yet queued when the send callback runs (ms). */
const RETRY_MS = [0, 1, 5] as const;

interface Fns {
  koffi: Koffi;
  ioctl: (fd: number, req: number, arg: Uint8Array) => number;
  setsockopt: (fd: number, level: number, name: number, val: Uint8Array, len: number) => number;
  recvmsg: (fd: number, msg: unknown, flags: number) => number | bigint;
  realtime: () => bigint;
}

let fns: Fns | null | undefined;

function load(): Fns | null {
  if (fns !== undefined) return fns;
  fns = null;
  if (process.arch !== 'x64' && process.arch !== 'arm64') return fns;
  const c = libc();
  const realtime = clockReader(CLOCK_REALTIME);
  if (c === null || realtime === null) return fns;
  try {
    fns = {
      koffi: c.koffi,
      // ioctl is variadic; on these ABIs a pointer third argument is passed the same way.
      ioctl: c.func('int ioctl(int fd, unsigned long req, _Inout_ uint8_t *arg)'),
      setsockopt: c.func('int setsockopt(int fd, int level, int name, const uint8_t *val, uint32_t len)'),
      recvmsg: c.func('intptr_t recvmsg(int fd, void *msg, int flags)'),
      realtime,
    };
  } catch {
    fns = null;
  }
  return fns;
}

/** The file descriptor behind a bound dgram socket (Node keeps its handle under a private symbol). */
export function socketFd(sock: dgram.Socket): number | null {
  for (const sym of Object.getOwnPropertySymbols(sock)) {
    if (sym.description !== 'state symbol') continue;
    const state = (sock as unknown as Record<symbol, { handle?: { fd?: unknown } } | undefined>)[sym];
    const fd = state?.handle?.fd;
    return typeof fd === 'number' && fd >= 0 ? fd : null;
  }
  return null;
}

/** A datagram whose kernel transmit stamp is awaited. */
export interface TxTicket {
  readonly bytes: Uint8Array;
  raw: RawTime | null;
  done: ((raw: RawTime | null) => void) | null;
  timer: NodeJS.Timeout | null;
}

export interface KernelStampCounters {
  /** Receive stamps taken from the kernel / not available (user-space reading used). */
  rxKernel: number;
  rxFallback: number;
  /** Transmit stamps matched to their datagram / given up (user-space reading used). */
  txKernel: number;
  txFallback: number;
  /** Error-queue copies that matched no awaited datagram (sends nobody asked the time of). */
  txUnclaimed: number;
}

export class KernelTimestamps {
  readonly counters: KernelStampCounters = {
    rxKernel: 0,
    rxFallback: 0,
    txKernel: 0,
    txFallback: 0,
    txUnclaimed: 0,
  };
  private pending: TxTicket[] = [];
  /** Sends whose error-queue copy has not been read yet (an estimate; reset when the queue is empty). */
  private inFlight = 0;
  private readonly stamp = new Uint8Array(16);
  private readonly stampView = new DataView(this.stamp.buffer);
  private readonly mem: unknown;
  private readonly base: bigint;
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  private closed = false;

  private constructor(
    private readonly f: Fns,
    private readonly fd: number,
    private readonly rawNow: () => RawTime,
    /** Whether transmit stamps were switched on. */
    readonly tx: boolean,
  ) {
    this.mem = f.koffi.alloc('uint8_t', BLOCK);
    this.base = f.koffi.address(this.mem);
    const buf = f.koffi.view(this.mem, BLOCK);
    this.view = new DataView(buf);
    this.bytes = new Uint8Array(buf);
  }

  /**
   * Switches kernel timestamping on for a bound socket. Null where receive stamps are unavailable;
   * `transmit: false` leaves transmit stamping off (then `track` returns null).
   */
  static open(
    sock: dgram.Socket,
    rawNow: () => RawTime,
    opts: { transmit?: boolean } = {},
  ): KernelTimestamps | null {
    const f = load();
    if (f === null) return null;
    const fd = socketFd(sock);
    if (fd === null) return null;
    // The first SIOCGSTAMPNS enables receive timestamping; it answers ENOENT (no stamp yet) or a stamp.
    const probe = new Uint8Array(16);
    if (f.ioctl(fd, SIOCGSTAMPNS, probe) < 0 && f.koffi.errno() !== 2) return null;
    let tx = false;
    if (opts.transmit !== false) {
      const flags = new Uint8Array(4);
      new DataView(flags.buffer).setUint32(0, SOF_TIMESTAMPING_TX_SOFTWARE, true);
      tx = f.setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, flags, 4) === 0;
    }
    // Warm the clock reader: a first foreign call can be slow enough to widen every early bracket.
    for (let i = 0; i < 3; i++) f.realtime();
    return new KernelTimestamps(f, fd, rawNow, tx);
  }

  /** The age-corrected raw counter value of a CLOCK_REALTIME stamp, or null when not believable. */
  private toRaw(stampNs: bigint): RawTime | null {
    const pair = this.clockPair();
    const age = pair.realtime - stampNs;
    if (age > MAX_AGE_NS || age < -MAX_FUTURE_NS) return null;
    return age > 0n ? pair.raw - age : pair.raw;
  }

  /**
   * CLOCK_REALTIME and the raw counter at one instant: the realtime read is bracketed by two raw
   * reads and the midpoint taken. A bracket wider than PAIR_WINDOW_NS (the thread was preempted, or
   * a first call was slow) is read again, and the narrowest of PAIR_TRIES kept, so a stall between
   * the reads does not shift the converted stamp by the length of the stall.
   */
  private clockPair(): { realtime: bigint; raw: RawTime } {
    const read = () => {
      const before = this.rawNow();
      const realtime = this.f.realtime();
      const width = this.rawNow() - before;
      return { realtime, raw: before + width / 2n, width };
    };
    let best = read();
    for (let i = 1; i < PAIR_TRIES && best.width > PAIR_WINDOW_NS; i++) {
      const next = read();
      if (next.width < best.width) best = next;
    }
    return best;
  }

  /** The kernel's last stamp on this socket (CLOCK_REALTIME ns), or null. */
  private lastStamp(): bigint | null {
    if (this.f.ioctl(this.fd, SIOCGSTAMPNS, this.stamp) < 0) return null;
    const ns = this.stampView.getBigInt64(0, true) * 1_000_000_000n + this.stampView.getBigInt64(8, true);
    return ns > 0n ? ns : null;
  }

  /**
   * The raw counter at which the kernel received the datagram being delivered. Call it first thing
   * in the `message` handler (libuv calls the handler right after reading that datagram). `user`:
   * the handler's own reading, which bounds the answer from above.
   */
  received(user: RawTime): RawTime {
    if (this.closed) return user;
    const ns = this.lastStamp();
    const raw = ns === null ? null : this.toRaw(ns);
    if (raw === null || raw > user) {
      this.counters.rxFallback++;
      return user;
    }
    this.counters.rxKernel++;
    return raw;
  }

  /**
   * Call before every send on this socket: each one leaves a copy on the error queue, and knowing
   * how many are outstanding saves the drain a system call that would find the queue empty.
   */
  sending(): void {
    if (this.tx) this.inFlight++;
  }

  /** Registers a datagram about to be sent whose transmit stamp is wanted; null without tx stamps. */
  track(bytes: Uint8Array): TxTicket | null {
    if (!this.tx || this.closed) return null;
    const t: TxTicket = { bytes, raw: null, done: null, timer: null };
    this.pending.push(t);
    while (this.pending.length > MAX_PENDING) {
      const old = this.pending.shift();
      if (old !== undefined) this.give(old, null);
    }
    return t;
  }

  /**
   * Call from the send callback: `done` gets the kernel transmit stamp of the ticket's datagram, at
   * once when it is queued already, else after a few short retries, or null (then the caller uses
   * its own reading). On a send error pass `failed` to drop the ticket.
   */
  settle(t: TxTicket, done: (raw: RawTime | null) => void, failed = false): void {
    if (failed || this.closed) {
      this.forget(t);
      done(null);
      return;
    }
    if (t.raw === null) this.drain(t);
    if (t.raw !== null) {
      done(t.raw);
      return;
    }
    t.done = done;
    this.retry(t, 0);
  }

  private retry(t: TxTicket, attempt: number): void {
    const delay = RETRY_MS[attempt];
    if (delay === undefined) {
      this.forget(t);
      this.give(t, null);
      return;
    }
    t.timer = setTimeout(() => {
      t.timer = null;
      if (t.done === null) return;
      this.drain();
      if (t.done !== null) this.retry(t, attempt + 1);
    }, delay);
    t.timer.unref();
  }

  private forget(t: TxTicket): void {
    const i = this.pending.indexOf(t);
    if (i >= 0) this.pending.splice(i, 1);
  }

  private give(t: TxTicket, raw: RawTime | null): void {
    if (t.timer !== null) clearTimeout(t.timer);
    t.timer = null;
    const done = t.done;
    t.done = null;
    if (raw === null) this.counters.txFallback++;
    else this.counters.txKernel++;
    done?.(raw);
  }

  /**
   * Reads the error queue: every transmit copy is matched to its ticket or counted unclaimed. With
   * `until`, stops as soon as that ticket has its stamp (the rest is read by later drains).
   */
  drain(until?: TxTicket): void {
    if (!this.tx || this.closed) return;
    // Nothing sent since the queue was last found empty: no system call.
    if (this.inFlight === 0 && until === undefined) return;
    const v = this.view;
    for (let i = 0; i < MAX_DRAIN; i++) {
      v.setBigUint64(MSGHDR, 0n, true);
      v.setUint32(MSGHDR + 8, 0, true);
      v.setBigUint64(MSGHDR + 16, this.base + BigInt(IOV), true);
      v.setBigUint64(MSGHDR + 24, 1n, true);
      v.setBigUint64(MSGHDR + 32, this.base + BigInt(CONTROL), true);
      v.setBigUint64(MSGHDR + 40, BigInt(CONTROL_SIZE), true);
      v.setUint32(MSGHDR + 48, 0, true);
      v.setBigUint64(IOV, this.base + BigInt(DATA), true);
      v.setBigUint64(IOV + 8, BigInt(DATA_SIZE), true);
      const n = Number(this.f.recvmsg(this.fd, this.mem, MSG_ERRQUEUE | MSG_DONTWAIT));
      if (n < 0) {
        this.inFlight = 0;
        return;
      }
      if (this.inFlight > 0) this.inFlight--;
      const t = this.match(Math.min(n, DATA_SIZE));
      if (t === null) {
        this.counters.txUnclaimed++;
        if (until === undefined && this.inFlight === 0) return;
        continue;
      }
      const ns = this.lastStamp();
      const raw = ns === null ? null : this.toRaw(ns);
      this.forget(t);
      if (raw === null) {
        this.give(t, null);
        continue;
      }
      t.raw = raw;
      if (t.done !== null) this.give(t, raw);
      else this.counters.txKernel++;
      if (t === until) return;
    }
  }

  /** The oldest awaited datagram whose bytes end the error-queue copy of length n. */
  private match(n: number): TxTicket | null {
    const data = this.bytes;
    for (const t of this.pending) {
      const len = t.bytes.length;
      if (t.raw !== null || len > n) continue;
      let same = true;
      for (let j = len - 1; j >= 0; j--) {
        if (data[DATA + n - len + j] !== t.bytes[j]) {
          same = false;
          break;
        }
      }
      if (same) return t;
    }
    return null;
  }

  /** Gives up every awaited stamp (the socket is closing). */
  close(): void {
    if (this.closed) return;
    const pending = this.pending;
    this.pending = [];
    for (const t of pending) this.give(t, null);
    this.closed = true;
  }
}
