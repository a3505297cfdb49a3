/**
 * Batched UDP sockets through the FFI (Linux): recvmmsg/sendmmsg on sockets ntpkit opens itself.
 *
 * Node's dgram hands JavaScript one datagram per callback and one send per call, which costs more
 * than a whole NTP reply. A `BatchSocket` instead receives up to 64 datagrams in one system call
 * into preallocated native buffers, with, for each, the kernel receive timestamp (SO_TIMESTAMPNS,
 * CLOCK_REALTIME), the address it was sent to and the interface (IP_PKTINFO / IPV6_RECVPKTINFO);
 * replies are written into preallocated slots and leave in one sendmmsg, each from the address its
 * request came to (in_pktinfo.ipi_spec_dst / in6_pktinfo), so a server on a wildcard address
 * answers from the right one. Nothing is allocated per datagram in steady state: the slots' views,
 * endpoint objects and the address strings of recent peers are reused.
 *
 * The socket is blocking with a receive timeout (SO_RCVTIMEO): `receive()` is meant for a worker
 * thread, which sleeps in the kernel until a datagram arrives or the timeout passes, so no
 * JavaScript runs per packet to be woken. SO_REUSEPORT lets several such sockets (one per worker)
 * share one address and port; the kernel spreads clients over them by a hash of the 4-tuple.
 *
 * 64-bit Linux ABIs only (x64, arm64: the struct layouts below); `batchSupport()` says why not
 * elsewhere, and the daemon then keeps the node:dgram path.
 */
import { isIPv6 } from 'node:net';
import { formatAddress } from '../serve/cidr.js';
import type { Endpoint } from '../system/types.js';
import { type Koffi, libc } from './ffi.js';

export const MAX_BATCH = 64;
/** Bytes per datagram slot: the largest request the server reads (NTS requests stay far below). */
export const SLOT_SIZE = 2048;

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0x80000;
const SOL_SOCKET = 1;
const SO_BROADCAST = 6;
const SO_RCVBUF = 8;
const SO_REUSEPORT = 15;
const SO_RCVTIMEO = 20;
const SO_TIMESTAMPNS = 35;
const IPPROTO_IP = 0;
const IP_PKTINFO = 8;
const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;
const IPV6_RECVPKTINFO = 49;
const IPV6_PKTINFO = 50;
const MSG_DONTWAIT = 0x40;
const MSG_WAITFORONE = 0x10000;
const EAGAIN = 11;
const EINTR = 4;

// struct layouts (LP64)
const MMSGHDR = 64; // msghdr (56) + msg_len (4) + padding
const IOVEC = 16;
const NAME = 32; // sockaddr_in6 is 28
const RX_CONTROL = 128; // SCM_TIMESTAMPNS (32) + IP(V6)_PKTINFO (≤ 40)
const TX_CONTROL = 48; // one IP(V6)_PKTINFO
const CMSG_HDR = 16;

interface Fns {
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

function load(): Fns | null {
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
  return load() === null ? why : null;
}

function fail(f: Fns, what: string): Error {
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

/** Text form of the address in a sockaddr / in(6)_addr, with a bounded cache of recent IPv4 strings. */
class AddressText {
  private readonly v4 = new Map<number, string>();

  constructor(private readonly limit = 65536) {}

  ipv4(n: number): string {
    let s = this.v4.get(n);
    if (s === undefined) {
      s = `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
      if (this.v4.size >= this.limit) this.v4.clear();
      this.v4.set(n, s);
    }
    return s;
  }

  ipv6(v: DataView, at: number): string {
    // ::ffff:a.b.c.d stays dotted (as node prints it); else the RFC 5952 form (src/serve/cidr.ts).
    if (
      v.getUint32(at, false) === 0 &&
      v.getUint32(at + 4, false) === 0 &&
      v.getUint32(at + 8, false) === 0xffff
    )
      return `::ffff:${this.ipv4(v.getUint32(at + 12, false))}`;
    const v6 = (v.getBigUint64(at, false) << 64n) | v.getBigUint64(at + 8, false);
    return formatAddress({ family: 6, v6 });
  }
}

/** One received datagram, as seen by the handler (objects reused from batch to batch). */
export interface Datagram {
  /** The slot's bytes; the datagram is the first `length` of them. */
  readonly data: Uint8Array;
  length: number;
  readonly from: Endpoint;
  /** The local address and port the datagram was sent to. */
  readonly to: Endpoint;
  /** Interface index of arrival (from pktinfo), 0 when unknown. */
  ifindex: number;
  /** Kernel receive time, CLOCK_REALTIME: seconds and nanoseconds; `rxSec` < 0 without a stamp. */
  rxSec: number;
  rxNsec: number;
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
}

/** A bound batch-socket descriptor (SO_REUSEPORT, timestamps, pktinfo, receive timeout set). */
export interface BatchFd {
  fd: number;
  family: 4 | 6;
  port: number;
}

/** Opens and binds a batch-socket descriptor; throws with the system's reason. */
export function bindBatchFd(o: BatchSocketOptions): BatchFd {
  const f = load();
  if (f === null) throw new Error(why);
  const family: 4 | 6 = isIPv6(o.address) ? 6 : 4;
  const fd = f.socket(family === 6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw fail(f, 'socket');
  try {
    const opt = (level: number, name: number, val: Uint8Array, what: string) => {
      if (f.setsockopt(fd, level, name, val, val.length) !== 0) throw fail(f, `setsockopt ${what}`);
    };
    if (o.reusePort !== false) opt(SOL_SOCKET, SO_REUSEPORT, int32(1), 'SO_REUSEPORT');
    opt(SOL_SOCKET, SO_TIMESTAMPNS, int32(1), 'SO_TIMESTAMPNS');
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

/** Closes a descriptor from `bindBatchFd` that no BatchSocket adopted. */
export function closeFd(fd: number): void {
  load()?.close(fd);
}

/** Native memory of `n` message headers with their iovecs, names, control areas and data slots. */
class MessageBlock {
  readonly mem: unknown;
  readonly base: bigint;
  readonly view: DataView;
  readonly bytes: Uint8Array;
  readonly iov: number;
  readonly names: number;
  readonly control: number;
  readonly data: number;

  constructor(
    f: Fns,
    readonly n: number,
    readonly controlSize: number,
  ) {
    this.iov = n * MMSGHDR;
    this.names = this.iov + n * IOVEC;
    this.control = this.names + n * NAME;
    this.data = this.control + n * controlSize;
    const size = this.data + n * SLOT_SIZE;
    this.mem = f.koffi.alloc('uint8_t', size);
    this.base = f.koffi.address(this.mem);
    const buf = f.koffi.view(this.mem, size);
    this.view = new DataView(buf);
    this.bytes = new Uint8Array(buf);
    for (let i = 0; i < n; i++) {
      const h = i * MMSGHDR;
      this.setPtr(h + 16, this.iov + i * IOVEC);
      this.view.setBigUint64(h + 24, 1n, true);
      this.setPtr(this.iov + i * IOVEC, this.data + i * SLOT_SIZE);
    }
  }

  setPtr(at: number, offset: number): void {
    this.view.setBigUint64(at, this.base + BigInt(offset), true);
  }
}

/**
 * A UDP socket served in batches. `receive()` fills `datagrams[0..n)`; the caller writes replies
 * with `reply(i)` (the reply slot) and `queue(i, length)`, then `flush()` sends them in one call.
 */
export class BatchSocket {
  readonly family: 4 | 6;
  readonly port: number;
  readonly datagrams: Datagram[] = [];
  /** Datagrams the last flush could not send (the socket buffer was full, or an error). */
  sendErrors = 0;
  private readonly rx: MessageBlock;
  private readonly tx: MessageBlock;
  private readonly text = new AddressText();
  private readonly replies: Uint8Array[] = [];
  private queued = 0;
  private closed = false;

  private constructor(
    private readonly f: Fns,
    readonly fd: number,
    family: 4 | 6,
    port: number,
    private readonly boundAddress: string,
  ) {
    this.family = family;
    this.port = port;
    this.rx = new MessageBlock(f, MAX_BATCH, RX_CONTROL);
    this.tx = new MessageBlock(f, MAX_BATCH, TX_CONTROL);
    for (let i = 0; i < MAX_BATCH; i++) {
      const at = this.rx.data + i * SLOT_SIZE;
      this.datagrams.push({
        data: this.rx.bytes.subarray(at, at + SLOT_SIZE),
        length: 0,
        from: { address: '', port: 0 },
        to: { address: boundAddress, port },
        ifindex: 0,
        rxSec: -1,
        rxNsec: 0,
      });
      const t = this.tx.data + i * SLOT_SIZE;
      this.replies.push(this.tx.bytes.subarray(t, t + SLOT_SIZE));
    }
  }

  /** Opens and binds a socket; throws with the system's reason (EADDRINUSE, EACCES...). */
  static open(o: BatchSocketOptions): BatchSocket {
    const b = bindBatchFd(o);
    return BatchSocket.adopt(b.fd, b.family, b.port, o.address);
  }

  /** A batch socket on a descriptor `bindBatchFd` opened (in this thread or another). */
  static adopt(fd: number, family: 4 | 6, port: number, address: string): BatchSocket {
    const f = load();
    if (f === null) throw new Error(why);
    return new BatchSocket(f, fd, family, port, address);
  }

  /**
   * Waits for datagrams
  /**
   * Waits for datagrams (up to the receive timeout) and reads up to 64 at once; returns how many
   * (0 on timeout). `wait: false` returns at once when none is queued.
   */
  receive(wait = true): number {
    if (this.closed) return 0;
    const rx = this.rx;
    const v = rx.view;
    for (let i = 0; i < MAX_BATCH; i++) {
      const h = i * MMSGHDR;
      rx.setPtr(h, rx.names + i * NAME);
      v.setUint32(h + 8, NAME, true);
      v.setBigUint64(rx.iov + i * IOVEC + 8, BigInt(SLOT_SIZE), true);
      rx.setPtr(h + 32, rx.control + i * RX_CONTROL);
      v.setBigUint64(h + 40, BigInt(RX_CONTROL), true);
      v.setUint32(h + 48, 0, true);
    }
    let n = this.f.recvmmsg(this.fd, rx.mem, MAX_BATCH, wait ? MSG_WAITFORONE : MSG_DONTWAIT, null);
    if (n < 0) {
      const e = this.f.koffi.errno();
      if (e === EAGAIN || e === EINTR) return 0;
      if (this.closed) return 0;
      throw fail(this.f, 'recvmmsg');
    }
    n = Math.min(n, MAX_BATCH);
    for (let i = 0; i < n; i++) this.parse(i);
    return n;
  }

  private parse(i: number): void {
    const rx = this.rx;
    const v = rx.view;
    const d = this.datagrams[i] as Datagram;
    const h = i * MMSGHDR;
    d.length = Math.min(v.getUint32(h + 56, true), SLOT_SIZE);
    const name = rx.names + i * NAME;
    const fam = v.getUint16(name, true);
    const from = d.from as { address: string; port: number };
    from.port = v.getUint16(name + 2, false);
    from.address =
      fam === AF_INET6 ? this.text.ipv6(v, name + 8) : this.text.ipv4(v.getUint32(name + 4, false));
    d.rxSec = -1;
    d.ifindex = 0;
    const to = d.to as { address: string; port: number };
    to.address = this.boundAddress;
    // Walk the control messages.
    const cbase = rx.control + i * RX_CONTROL;
    const clen = Math.min(Number(v.getBigUint64(h + 40, true)), RX_CONTROL);
    let at = 0;
    while (at + CMSG_HDR <= clen) {
      const len = Number(v.getBigUint64(cbase + at, true));
      if (len < CMSG_HDR || at + len > clen) break;
      const level = v.getInt32(cbase + at + 8, true);
      const type = v.getInt32(cbase + at + 12, true);
      const data = cbase + at + CMSG_HDR;
      if (level === SOL_SOCKET && type === SO_TIMESTAMPNS && len >= CMSG_HDR + 16) {
        d.rxSec = Number(v.getBigInt64(data, true));
        d.rxNsec = Number(v.getBigInt64(data + 8, true));
      } else if (level === IPPROTO_IP && type === IP_PKTINFO && len >= CMSG_HDR + 12) {
        d.ifindex = v.getInt32(data, true);
        to.address = this.text.ipv4(v.getUint32(data + 8, false));
      } else if (level === IPPROTO_IPV6 && type === IPV6_PKTINFO && len >= CMSG_HDR + 20) {
        to.address = this.text.ipv6(v, data);
        d.ifindex = v.getInt32(data + 16, true);
      }
      at += (len + 7) & ~7;
    }
  }

  /** The reply slot for datagram `i` (write the reply at its start, then `queue(i, length)`). */
  reply(i: number): Uint8Array {
    return this.replies[i] as Uint8Array;
  }

  /**
   * Queues the reply in slot `i` (length bytes) to the sender of datagram `i`, from the address
   * that datagram was sent to. Call `flush()` after the batch.
   */
  queue(i: number, length: number): void {
    const rx = this.rx;
    const tx = this.tx;
    const v = tx.view;
    const k = this.queued++;
    const h = k * MMSGHDR;
    // The name: the request's source, read from the receive block in place.
    tx.view.setBigUint64(h, rx.base + BigInt(rx.names + i * NAME), true);
    v.setUint32(h + 8, this.family === 6 ? 28 : 16, true);
    tx.setPtr(h + 16, tx.iov + k * IOVEC);
    tx.setPtr(tx.iov + k * IOVEC, tx.data + i * SLOT_SIZE);
    v.setBigUint64(tx.iov + k * IOVEC + 8, BigInt(Math.min(length, SLOT_SIZE)), true);
    const c = tx.control + k * TX_CONTROL;
    const clen = writePktinfo(v, c, this.family, rx.view, rx.control + i * RX_CONTROL, this.datagrams[i]);
    if (clen > 0) {
      tx.setPtr(h + 32, c);
      v.setBigUint64(h + 40, BigInt(clen), true);
    } else {
      v.setBigUint64(h + 32, 0n, true);
      v.setBigUint64(h + 40, 0n, true);
    }
    v.setUint32(h + 48, 0, true);
  }

  /** Replies queued since the last flush. */
  pending(): number {
    return this.queued;
  }

  /** Sends every queued reply (sendmmsg, repeated for what a first call did not take). */
  flush(): number {
    let done = 0;
    const n = this.queued;
    this.queued = 0;
    const tx = this.tx;
    while (done < n && !this.closed) {
      const rest = n - done;
      const r = this.f.sendmmsg(this.fd, tx.base + BigInt(done * MMSGHDR), rest, 0);
      if (r <= 0) {
        // This message failed (unreachable, buffer full...): skip it, send the rest.
        this.sendErrors++;
        done++;
        continue;
      }
      done += r;
    }
    return n;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.f.close(this.fd);
  }
}

/**
 * Writes the in_pktinfo / in6_pktinfo control message that makes a reply leave from the address
 * the request was sent to; returns its length (0 when the request carried no pktinfo).
 */
function writePktinfo(
  v: DataView,
  at: number,
  family: 4 | 6,
  rv: DataView,
  rxControl: number,
  d: Datagram | undefined,
): number {
  if (d === undefined || d.to.address === '') return 0;
  // Find the request's pktinfo again (its raw bytes), rather than reparsing the text address.
  let off = 0;
  while (off + CMSG_HDR <= RX_CONTROL) {
    const len = Number(rv.getBigUint64(rxControl + off, true));
    if (len < CMSG_HDR || off + len > RX_CONTROL) return 0;
    const level = rv.getInt32(rxControl + off + 8, true);
    const type = rv.getInt32(rxControl + off + 12, true);
    const data = rxControl + off + CMSG_HDR;
    if (family === 4 && level === IPPROTO_IP && type === IP_PKTINFO) {
      v.setBigUint64(at, BigInt(CMSG_HDR + 12), true);
      v.setInt32(at + 8, IPPROTO_IP, true);
      v.setInt32(at + 12, IP_PKTINFO, true);
      // ifindex 0: route by the destination; spec_dst = the request's destination address.
      v.setInt32(at + CMSG_HDR, 0, true);
      v.setUint32(at + CMSG_HDR + 4, rv.getUint32(data + 8, true), true);
      v.setUint32(at + CMSG_HDR + 8, 0, true);
      return 32;
    }
    if (family === 6 && level === IPPROTO_IPV6 && type === IPV6_PKTINFO) {
      v.setBigUint64(at, BigInt(CMSG_HDR + 20), true);
      v.setInt32(at + 8, IPPROTO_IPV6, true);
      v.setInt32(at + 12, IPV6_PKTINFO, true);
      for (let j = 0; j < 20; j += 4) v.setUint32(at + CMSG_HDR + j, rv.getUint32(data + j, true), true);
      return 40;
    }
    off += (len + 7) & ~7;
  }
  return 0;
}

/**
 * Single datagrams sent on a batch socket's descriptor from another thread (the daemon's main
 * thread answers what a worker forwarded, and sends its own requests from the server port), with
 * its own native buffer, so it never touches the worker's. `from` picks the source address.
 */
export class DatagramSender {
  private readonly mem: unknown;
  private readonly base: bigint;
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  private readonly scratch = new DataView(new ArrayBuffer(32));

  constructor(
    private readonly fd: number,
    private readonly family: 4 | 6,
  ) {
    const f = load();
    if (f === null) throw new Error(why);
    this.f = f;
    const size = 56 + IOVEC + NAME + TX_CONTROL + SLOT_SIZE;
    this.mem = f.koffi.alloc('uint8_t', size);
    this.base = f.koffi.address(this.mem);
    const buf = f.koffi.view(this.mem, size);
    this.view = new DataView(buf);
    this.bytes = new Uint8Array(buf);
  }

  private readonly f: Fns;

  /** Sends `bytes` to `to`; `from` (a unicast local address) sets the source. Throws on errors. */
  send(bytes: Uint8Array, to: Endpoint, from?: string): void {
    const v = this.view;
    const IOV = 56;
    const NAME_AT = IOV + IOVEC;
    const CTRL = NAME_AT + NAME;
    const DATA = CTRL + TX_CONTROL;
    if (bytes.length > SLOT_SIZE) throw new Error(`datagram of ${bytes.length} bytes is too long`);
    this.bytes.set(bytes, DATA);
    const nameLen = encodeSockaddr(to.address, to.port, v, NAME_AT);
    v.setBigUint64(0, this.base + BigInt(NAME_AT), true);
    v.setUint32(8, nameLen, true);
    v.setBigUint64(16, this.base + BigInt(IOV), true);
    v.setBigUint64(24, 1n, true);
    v.setBigUint64(IOV, this.base + BigInt(DATA), true);
    v.setBigUint64(IOV + 8, BigInt(bytes.length), true);
    let clen = 0;
    if (from !== undefined && from !== '0.0.0.0' && from !== '::') {
      encodeSockaddr(from, 0, this.scratch, 0);
      if (this.family === 4) {
        v.setBigUint64(CTRL, BigInt(CMSG_HDR + 12), true);
        v.setInt32(CTRL + 8, IPPROTO_IP, true);
        v.setInt32(CTRL + 12, IP_PKTINFO, true);
        v.setInt32(CTRL + CMSG_HDR, 0, true);
        v.setUint32(CTRL + CMSG_HDR + 4, this.scratch.getUint32(4, true), true);
        v.setUint32(CTRL + CMSG_HDR + 8, 0, true);
        clen = 32;
      } else {
        v.setBigUint64(CTRL, BigInt(CMSG_HDR + 20), true);
        v.setInt32(CTRL + 8, IPPROTO_IPV6, true);
        v.setInt32(CTRL + 12, IPV6_PKTINFO, true);
        for (let j = 0; j < 16; j += 4)
          v.setUint32(CTRL + CMSG_HDR + j, this.scratch.getUint32(8 + j, true), true);
        v.setUint32(CTRL + CMSG_HDR + 16, this.scratch.getUint32(24, true), true);
        clen = 40;
      }
    }
    v.setBigUint64(32, clen > 0 ? this.base + BigInt(CTRL) : 0n, true);
    v.setBigUint64(40, BigInt(clen), true);
    v.setUint32(48, 0, true);
    const r = Number(this.f.sendmsg(this.fd, this.base, MSG_DONTWAIT));
    if (r < 0) throw fail(this.f, `sendmsg to ${to.address}:${to.port}`);
  }
}

/** poll(2) over several batch sockets: which of them have datagrams queued. */
export class Poller {
  private readonly mem: unknown;
  private readonly view: DataView;
  private readonly poll: (fds: unknown, n: number, timeout: number) => number;

  constructor(private readonly fds: readonly number[]) {
    const f = load();
    if (f === null) throw new Error(why);
    const c = libc();
    if (c === null) throw new Error(why);
    this.poll = c.func('int poll(void *fds, unsigned long n, int timeout)');
    this.mem = f.koffi.alloc('uint8_t', Math.max(1, fds.length) * 8);
    this.view = new DataView(f.koffi.view(this.mem, Math.max(1, fds.length) * 8));
  }

  /** Waits up to `ms` for any socket to be readable; returns how many are (0 on timeout). */
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

  /** Whether socket `i` was readable (or in error) at the last `wait`. */
  ready(i: number): boolean {
    return this.view.getInt16(i * 8 + 6, true) !== 0;
  }
}

/**
 * Makes the kernel pick a group's socket by the client's address alone, not its 4-tuple: a
 * classic BPF program (SO_ATTACH_REUSEPORT_CBPF) returns (low 32 bits of the source address) mod
 * `n`, the index of the socket in bind order. Clients that change port per request (chrony does)
 * still meet one rate-limit shard. False when the kernel refuses it (then the 4-tuple hash decides).
 */
export function attachSourceHash(fd: number, family: 4 | 6, n: number): boolean {
  const f = load();
  if (f === null || n < 2) return n < 2;
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
