/**
 * The system side of the batched UDP sockets (Linux, through koffi): the libc bindings, the
 * socket options, sockaddr encoding, binding a descriptor (SO_REUSEPORT, SO_TIMESTAMPNS,
 * IP_PKTINFO / IPV6_RECVPKTINFO, a receive timeout), poll(2) over several of them, and the
 * reuseport program that picks a worker by the client's address. src/io/mmsg.ts builds the
 * batched sockets (recvmmsg/sendmmsg over preallocated native buffers) on these.
 *
 * 64-bit Linux ABIs only (x64, arm64: the struct layouts below); `batchSupport()` says why
 * not elsewhere, and the daemon then keeps the node:dgram path.
 */
import { isIPv6 } from 'node:net';
import { type Koffi, libc } from './ffi.js';

export const MAX_BATCH = 64;
/** Bytes per datagram slot: the largest request the server reads (NTS requests stay far below). */
export const SLOT_SIZE = 2048;

export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_DGRAM = 2;
export const SOCK_CLOEXEC = 0x80000;
export const SOL_SOCKET = 1;
export const SO_BROADCAST = 6;
export const SO_RCVBUF = 8;
export const SO_REUSEPORT = 15;
export const SO_RCVTIMEO = 20;
export const SO_TIMESTAMPNS = 35;
/** SO_TIMESTAMPING (the option, and SCM_TIMESTAMPING, its control message), 64-bit ABIs. */
export const SO_TIMESTAMPING = 37;
export const SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1;
export const SOF_TIMESTAMPING_SOFTWARE = 1 << 4;
export const SOF_TIMESTAMPING_OPT_ID = 1 << 7;
export const SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11;
export const SOF_TIMESTAMPING_OPT_RX_FILTER = 1 << 17;
export const IP_RECVERR = 11;
export const IPV6_RECVERR = 25;
export const SO_EE_ORIGIN_TIMESTAMPING = 4;
export const SCM_TSTAMP_SND = 0;
export const MSG_ERRQUEUE = 0x2000;
export const IPPROTO_IP = 0;
export const IP_PKTINFO = 8;
export const IPPROTO_IPV6 = 41;
export const IPV6_V6ONLY = 26;
export const IPV6_RECVPKTINFO = 49;
export const IPV6_PKTINFO = 50;
export const MSG_DONTWAIT = 0x40;
export const MSG_WAITFORONE = 0x10000;
export const EAGAIN = 11;
export const EINTR = 4;

// struct layouts (LP64)
export const MMSGHDR = 64; // msghdr (56) + msg_len (4) + padding
export const IOVEC = 16;
export const NAME = 32; // sockaddr_in6 is 28
// SCM_TIMESTAMPNS (32) + IP(V6)_PKTINFO (≤ 40) + SCM_TIMESTAMPING (64, on kernels that cannot
// filter it out of receives once transmit stamps are on)
export const RX_CONTROL = 192;
// one IP(V6)_PKTINFO (≤ 40) + SO_TIMESTAMPING asking for this datagram's transmit stamp (24)
export const TX_CONTROL = 64;
/** Error-queue messages: SCM_TIMESTAMPING (64) + IP(V6)_RECVERR (≤ 64). */
export const ERR_CONTROL = 160;
export const CMSG_HDR = 16;

export interface Fns {
  koffi: Koffi;
  socket: (domain: number, type: number, proto: number) => number;
  bind: (fd: number, addr: Uint8Array, len: number) => number;
  getsockname: (fd: number, addr: Uint8Array, len: Uint32Array) => number;
  setsockopt: (fd: number, level: number, name: number, val: Uint8Array, len: number) => number;
  close: (fd: number) => number;
  recvmmsg: (fd: number, vec: unknown, n: number, flags: number, timeout: null) => number;
  /** sendmmsg with the vector given as an address (to resume part-way through a batch). */
  sendmmsg: (fd: number, vec: bigint, n: number, flags: number) => number;
  sendmsg: (fd: number, msg: bigint, flags: number) => number;
  strerror: (errno: number) => string;
}

let fns: Fns | null | undefined;
let why = '';

/** Why `loadBatch()` returned null. */
export function batchWhy(): string {
  return why;
}

/** The libc functions, loaded once; null where batched sockets cannot work (see `batchSupport`). */
export function loadBatch(): Fns | null {
  if (fns !== undefined) return fns;
  fns = null;
  if (process.platform !== 'linux') {
    why = `recvmmsg needs Linux (this is ${process.platform})`;
    return fns;
  }
  if (process.arch !== 'x64' && process.arch !== 'arm64') {
    why = `batched sockets are built for 64-bit x64/arm64 (this is ${process.arch})`;
    return fns;
  }
  const c = libc();
  if (c === null) {
    why = 'the FFI (koffi) or libc.so.6 is not available';
    return fns;
  }
  try {
    fns = {
      koffi: c.koffi,
      socket: c.func('int socket(int domain, int type, int proto)'),
      bind: c.func('int bind(int fd, const uint8_t *addr, uint32_t len)'),
      getsockname: c.func('int getsockname(int fd, _Inout_ uint8_t *addr, _Inout_ uint32_t *len)'),
      setsockopt: c.func('int setsockopt(int fd, int level, int name, const uint8_t *val, uint32_t len)'),
      close: c.func('int close(int fd)'),
      recvmmsg: c.func('int recvmmsg(int fd, void *vec, unsigned int n, int flags, void *timeout)'),
      sendmmsg: c.func('int sendmmsg(int fd, intptr_t vec, unsigned int n, int flags)'),
      sendmsg: c.func('intptr_t sendmsg(int fd, intptr_t msg, int flags)'),
      strerror: c.func('const char *strerror(int errnum)'),
    };
  } catch (e) {
    why = `recvmmsg/sendmmsg not found in libc: ${e instanceof Error ? e.message : String(e)}`;
    fns = null;
  }
  return fns;
}

/** Null when batched sockets work here, else the reason (for the log and `ntpkit status`). */
export function batchSupport(): string | null {
  return loadBatch() === null ? why : null;
}

export function fail(f: Fns, what: string): Error {
  const e = f.koffi.errno();
  return new Error(`${what}: ${f.strerror(e)} (errno ${e})`);
}

function int32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v, true);
  return b;
}

/** Encodes a sockaddr_in / sockaddr_in6 (in6: scope id from a `%n` suffix, numeric only). */
export function encodeSockaddr(address: string, port: number, out: DataView, at: number): number {
  if (isIPv6(address) || address.includes(':')) {
    const [host = '', scope] = address.split('%');
    const groups = expandV6(host);
    if (groups === null) throw new Error(`bad IPv6 address ${address}`);
    out.setUint16(at, AF_INET6, true);
    out.setUint16(at + 2, port, false);
    out.setUint32(at + 4, 0, true);
    for (let i = 0; i < 8; i++) out.setUint16(at + 8 + 2 * i, groups[i] ?? 0, false);
    out.setUint32(at + 24, scope !== undefined && /^\d+$/.test(scope) ? Number(scope) : 0, true);
    return 28;
  }
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255))
    throw new Error(`bad IPv4 address ${address}`);
  out.setUint16(at, AF_INET, true);
  out.setUint16(at + 2, port, false);
  for (let i = 0; i < 4; i++) out.setUint8(at + 4 + i, parts[i] ?? 0);
  out.setUint32(at + 8, 0, true);
  out.setUint32(at + 12, 0, true);
  return 16;
}

function expandV6(host: string): number[] | null {
  let text = host;
  const tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted !== null) {
    const p = (dotted[1] ?? '').split('.').map(Number);
    tail.push(((p[0] ?? 0) << 8) | (p[1] ?? 0), ((p[2] ?? 0) << 8) | (p[3] ?? 0));
    text = text.slice(0, -(dotted[1] ?? '').length);
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const head = parse(halves[0] ?? '');
  const rest = halves.length === 2 ? parse(halves[1] ?? '') : [];
  const fill = 8 - head.length - rest.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return null;
  const all = [...head, ...new Array<number>(fill).fill(0), ...rest, ...tail];
  return all.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? all : null;
}

export interface BatchSocketOptions {
  address: string;
  port: number;
  /** SO_REUSEPORT (several sockets on one address and port). Default true. */
  reusePort?: boolean;
  /** Receive timeout of `receive()`, ms. Default 200. */
  timeoutMs?: number;
  /** SO_RCVBUF bytes, 0 = the system default. */
  receiveBuffer?: number;
  /**
   * SO_TIMESTAMPNS (receive stamps as control messages). Default true; false for a descriptor
   * node:dgram adopts, which reads its stamps with SIOCGSTAMPNS (src/io/kernel-timestamps.ts).
   */
  receiveStamps?: boolean;
}

/** A bound batch-socket descriptor (SO_REUSEPORT, timestamps, pktinfo, receive timeout set). */
export interface BatchFd {
  fd: number;
  family: 4 | 6;
  port: number;
}

/** Opens and binds a batch-socket descriptor; throws with the system's reason. */
export function bindBatchFd(o: BatchSocketOptions): BatchFd {
  const f = loadBatch();
  if (f === null) throw new Error(why);
  const family: 4 | 6 = isIPv6(o.address) ? 6 : 4;
  const fd = f.socket(family === 6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw fail(f, 'socket');
  try {
    const opt = (level: number, name: number, val: Uint8Array, what: string) => {
      if (f.setsockopt(fd, level, name, val, val.length) !== 0) throw fail(f, `setsockopt ${what}`);
    };
    if (o.reusePort !== false) opt(SOL_SOCKET, SO_REUSEPORT, int32(1), 'SO_REUSEPORT');
    if (o.receiveStamps !== false) opt(SOL_SOCKET, SO_TIMESTAMPNS, int32(1), 'SO_TIMESTAMPNS');
    if (family === 6) {
      opt(IPPROTO_IPV6, IPV6_V6ONLY, int32(1), 'IPV6_V6ONLY');
      opt(IPPROTO_IPV6, IPV6_RECVPKTINFO, int32(1), 'IPV6_RECVPKTINFO');
    } else {
      opt(IPPROTO_IP, IP_PKTINFO, int32(1), 'IP_PKTINFO');
      opt(SOL_SOCKET, SO_BROADCAST, int32(1), 'SO_BROADCAST');
    }
    if ((o.receiveBuffer ?? 0) > 0) opt(SOL_SOCKET, SO_RCVBUF, int32(o.receiveBuffer ?? 0), 'SO_RCVBUF');
    const tv = new Uint8Array(16);
    const ms = o.timeoutMs ?? 200;
    const tvv = new DataView(tv.buffer);
    tvv.setBigInt64(0, BigInt(Math.floor(ms / 1000)), true);
    tvv.setBigInt64(8, BigInt((ms % 1000) * 1000), true);
    opt(SOL_SOCKET, SO_RCVTIMEO, tv, 'SO_RCVTIMEO');
    const sa = new Uint8Array(32);
    const len = encodeSockaddr(o.address, o.port, new DataView(sa.buffer), 0);
    if (f.bind(fd, sa, len) !== 0) throw fail(f, `bind ${o.address}:${o.port}`);
    const lenBox = new Uint32Array([32]);
    if (f.getsockname(fd, sa, lenBox) !== 0) throw fail(f, 'getsockname');
    const port = new DataView(sa.buffer).getUint16(2, false);
    return { fd, family, port };
  } catch (e) {
    f.close(fd);
    throw e;
  }
}

/**
 * Turns on kernel transmit stamps by request on a batch-socket descriptor: SO_TIMESTAMPING with
 * the report flag (SOFTWARE), OPT_ID (each stamped datagram gets the next number of a per-socket
 * counter, reported with its stamp) and OPT_TSONLY (the error queue returns the stamp alone, not
 * a copy of the datagram), and OPT_RX_FILTER where the kernel has it (receives keep only their
 * SO_TIMESTAMPNS message). No generation flag: a datagram is stamped only when its sendmsg asks
 * (an SO_TIMESTAMPING control message), so the main thread's sends on the same descriptor are not
 * stamped and do not advance the counter. `reset` restarts the counter at 0 (OPT_ID off, then on).
 * False when the kernel refuses the option.
 */
export function enableTxStamps(fd: number, reset = false): boolean {
  const f = loadBatch();
  if (f === null) return false;
  const base = SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_TSONLY;
  const set = (v: number) => f.setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, int32(v), 4) === 0;
  for (const extra of [SOF_TIMESTAMPING_OPT_RX_FILTER, 0]) {
    if (reset && !set(base | extra)) continue;
    if (set(base | extra | SOF_TIMESTAMPING_OPT_ID)) return true;
  }
  return false;
}

/**
 * Ends reading on a descriptor (shutdown(2) SHUT_RD): a thread blocked in recvmmsg on it returns
 * at once (with nothing), as it would on its receive timeout.
 */
export function shutdownRead(fd: number): void {
  libc()?.func<(fd: number, how: number) => number>('int shutdown(int fd, int how)')(fd, 0);
}

/** Closes a descriptor from `bindBatchFd` that no BatchSocket adopted. */
export function closeFd(fd: number): void {
  loadBatch()?.close(fd);
}

/**
 * An eventfd(2) another thread can wake a poller with: `wake` adds to its counter (readable from
 * then on), `clear` reads it back to zero. Non-blocking, closed on exec.
 */
export class WakeFd {
  private readonly write: (fd: number, buf: Uint8Array, n: number) => number;
  private readonly read: (fd: number, buf: Uint8Array, n: number) => number;
  private readonly one = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);
  private readonly sink = new Uint8Array(8);

  private constructor(readonly fd: number) {
    const c = libc();
    if (c === null) throw new Error(why);
    this.write = c.func('intptr_t write(int fd, const uint8_t *buf, uintptr_t n)');
    this.read = c.func('intptr_t read(int fd, _Out_ uint8_t *buf, uintptr_t n)');
  }

  /** A new eventfd (EFD_NONBLOCK | EFD_CLOEXEC). */
  static create(): WakeFd {
    const c = libc();
    if (c === null) throw new Error(why);
    const eventfd = c.func<(init: number, flags: number) => number>(
      'int eventfd(unsigned int init, int flags)',
    );
    const fd = eventfd(0, 0o4000 | 0o2000000);
    if (fd < 0) throw new Error('eventfd failed');
    return new WakeFd(fd);
  }

  /** The eventfd `fd` another thread created (the worker's end). */
  static adopt(fd: number): WakeFd {
    return new WakeFd(fd);
  }

  wake(): void {
    this.write(this.fd, this.one, 8);
  }

  clear(): void {
    this.read(this.fd, this.sink, 8);
  }

  close(): void {
    closeFd(this.fd);
  }
}

/** poll(2) over several descriptors (batch sockets, a WakeFd): which of them are readable. */
export class Poller {
  private readonly mem: unknown;
  private readonly view: DataView;
  private readonly poll: (fds: unknown, n: number, timeout: number) => number;

  constructor(private readonly fds: readonly number[]) {
    const f = loadBatch();
    if (f === null) throw new Error(why);
    const c = libc();
    if (c === null) throw new Error(why);
    this.poll = c.func('int poll(void *fds, unsigned long n, int timeout)');
    this.mem = f.koffi.alloc('uint8_t', Math.max(1, fds.length) * 8);
    this.view = new DataView(f.koffi.view(this.mem, Math.max(1, fds.length) * 8));
  }

  /** Waits up to `ms` for any descriptor to be readable; returns how many are (0 on timeout). */
  wait(ms: number): number {
    const v = this.view;
    for (let i = 0; i < this.fds.length; i++) {
      v.setInt32(i * 8, this.fds[i] ?? -1, true);
      v.setInt16(i * 8 + 4, 1, true); // POLLIN
      v.setInt16(i * 8 + 6, 0, true);
    }
    const r = this.poll(this.mem, this.fds.length, ms);
    return r < 0 ? 0 : r;
  }

  /** Whether descriptor `i` was readable (or in error) at the last `wait`. */
  ready(i: number): boolean {
    return this.view.getInt16(i * 8 + 6, true) !== 0;
  }
}

/**
 * Makes the kernel pick a group's socket by the client's address alone, not its 4-tuple: a
 * classic BPF program (SO_ATTACH_REUSEPORT_CBPF) returns (low 32 bits of the source address) mod
 * `n`, the index of the socket in bind order. Clients that change port per request (chrony does)
 * still meet one rate-limit shard, and a member bound after the first `n` is never picked. False
 * when the kernel refuses it (then the 4-tuple hash decides).
 */
export function attachSourceHash(fd: number, family: 4 | 6, n: number): boolean {
  const f = loadBatch();
  // Also with one worker: the main thread's own member joins the group after the workers' sockets
  // (src/daemon/fast-transport.ts), and only the program keeps requests away from it.
  if (f === null || n < 1) return false;
  const SO_ATTACH_REUSEPORT_CBPF = 51;
  const SKF_NET_OFF = -0x100000;
  // IPv4 source address at byte 12 of the IP header; IPv6: its last 4 bytes at 20.
  const k = (SKF_NET_OFF + (family === 6 ? 20 : 12)) >>> 0;
  const prog: [number, number][] = [
    [0x20, k], // ld [k]      (BPF_LD | BPF_W | BPF_ABS)
    [0x94, n], // mod #n      (BPF_ALU | BPF_MOD | BPF_K)
    [0x16, 0], // ret a       (BPF_RET | BPF_A)
  ];
  const mem = f.koffi.alloc('uint8_t', prog.length * 8);
  const v = new DataView(f.koffi.view(mem, prog.length * 8));
  prog.forEach(([code, kk], i) => {
    v.setUint16(i * 8, code, true);
    v.setUint8(i * 8 + 2, 0);
    v.setUint8(i * 8 + 3, 0);
    v.setUint32(i * 8 + 4, kk, true);
  });
  const fprog = new Uint8Array(16);
  const pv = new DataView(fprog.buffer);
  pv.setUint16(0, prog.length, true);
  pv.setBigUint64(8, f.koffi.address(mem), true);
  return f.setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog, 16) === 0;
}
