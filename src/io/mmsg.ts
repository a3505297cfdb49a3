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
 * The libc bindings, struct layouts (64-bit Linux: x64, arm64), socket options and binding live in
 * src/io/mmsg-sys.ts; `batchSupport()` there says why batched sockets cannot work elsewhere, and
 * the daemon then keeps the node:dgram path.
 */
import { formatAddress } from '../serve/cidr.js';
import type { Endpoint } from '../system/types.js';
import {
  AF_INET6,
  type BatchSocketOptions,
  batchWhy,
  bindBatchFd,
  CMSG_HDR,
  EAGAIN,
  EINTR,
  ERR_CONTROL,
  enableTxStamps,
  encodeSockaddr,
  type Fns,
  fail,
  IOVEC,
  IP_PKTINFO,
  IP_RECVERR,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_PKTINFO,
  IPV6_RECVERR,
  loadBatch,
  MAX_BATCH,
  MMSGHDR,
  MSG_DONTWAIT,
  MSG_ERRQUEUE,
  MSG_WAITFORONE,
  NAME,
  RX_CONTROL,
  SCM_TSTAMP_SND,
  SLOT_SIZE,
  SO_EE_ORIGIN_TIMESTAMPING,
  SO_TIMESTAMPING,
  SO_TIMESTAMPNS,
  SOF_TIMESTAMPING_TX_SOFTWARE,
  SOL_SOCKET,
  TX_CONTROL,
} from './mmsg-sys.js';

export { MAX_BATCH, SLOT_SIZE } from './mmsg-sys.js';

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

/** Writes a length (a number below 2^32) into a 64-bit field, without a bigint. */
function put64(v: DataView, at: number, n: number): void {
  v.setUint32(at, n, true);
  v.setUint32(at + 4, 0, true);
}

/** Reads a 64-bit length field known to be below 2^32 (lengths of control messages, buffers). */
/** Restores the name and control lengths and the flags of the first `n` headers, which recvmmsg rewrote. */
function resetHeaders(v: DataView, n: number, control: number): void {
  for (let i = 0; i < n; i++) {
    const h = i * MMSGHDR;
    v.setUint32(h + 8, NAME, true);
    put64(v, h + 40, control);
    v.setUint32(h + 48, 0, true);
  }
}

function len64(v: DataView, at: number): number {
  return v.getUint32(at + 4, true) === 0 ? v.getUint32(at, true) : 0xffffffff;
}

/** Reads a signed 64-bit field (time_t, long) as a number. */
function int64(v: DataView, at: number): number {
  return v.getInt32(at + 4, true) * 4294967296 + v.getUint32(at, true);
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
    readonly slotSize = SLOT_SIZE,
  ) {
    this.iov = n * MMSGHDR;
    this.names = this.iov + n * IOVEC;
    this.control = this.names + n * NAME;
    this.data = this.control + n * controlSize;
    const size = this.data + n * slotSize;
    this.mem = f.koffi.alloc('uint8_t', size);
    this.base = f.koffi.address(this.mem);
    const buf = f.koffi.view(this.mem, size);
    this.view = new DataView(buf);
    this.bytes = new Uint8Array(buf);
    for (let i = 0; i < n; i++) {
      const h = i * MMSGHDR;
      this.setPtr(h + 16, this.iov + i * IOVEC);
      this.view.setBigUint64(h + 24, 1n, true);
      this.setPtr(this.iov + i * IOVEC, this.data + i * slotSize);
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
  /**
   * Set by a flush that did not send its whole batch in one go while it held datagrams asking for
   * a transmit stamp: the kernel's stamp counter may then differ from the caller's count (a
   * failed datagram may or may not have taken a number), so the caller restarts it (`resetTxStamps`).
   */
  stampCountUncertain = false;
  /** Whether transmit stamps by request are on (`enableTxStamps`). */
  txStamps = false;
  private readonly rx: MessageBlock;
  private readonly tx: MessageBlock;
  private err: MessageBlock | null = null;
  private stampedQueued = 0;
  /** Receive headers the kernel wrote into at the last call (their lengths are reset before the next). */
  private rxDirty = MAX_BATCH;
  private errDirty = 0;
  /** Native addresses, computed once: each request's name, each reply slot, each control area. */
  private readonly rxName: bigint[] = [];
  private readonly txSlot: bigint[] = [];
  private readonly txCtrl: bigint[] = [];
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
      this.rxName.push(this.rx.base + BigInt(this.rx.names + i * NAME));
      this.txSlot.push(this.tx.base + BigInt(t));
      this.txCtrl.push(this.tx.base + BigInt(this.tx.control + i * TX_CONTROL));
      const h = i * MMSGHDR;
      this.rx.setPtr(h, this.rx.names + i * NAME);
      put64(this.rx.view, this.rx.iov + i * IOVEC + 8, SLOT_SIZE);
      this.rx.setPtr(h + 32, this.rx.control + i * RX_CONTROL);
    }
  }

  /** Opens and binds a socket; throws with the system's reason (EADDRINUSE, EACCES...). */
  static open(o: BatchSocketOptions): BatchSocket {
    const b = bindBatchFd(o);
    return BatchSocket.adopt(b.fd, b.family, b.port, o.address);
  }

  /** A batch socket on a descriptor `bindBatchFd` opened (in this thread or another). */
  static adopt(fd: number, family: 4 | 6, port: number, address: string): BatchSocket {
    const f = loadBatch();
    if (f === null) throw new Error(batchWhy());
    return new BatchSocket(f, fd, family, port, address);
  }

  /**
   * Waits for datagrams (up to the receive timeout) and reads up to 64 at once; returns how many
   * (0 on timeout). `wait: false` returns at once when none is queued.
   */
  receive(wait = true): number {
    if (this.closed) return 0;
    const rx = this.rx;
    const v = rx.view;
    // The kernel rewrote the name and control lengths (and flags) of the messages it filled.
    resetHeaders(v, this.rxDirty, RX_CONTROL);
    this.rxDirty = 0;
    let n = this.f.recvmmsg(this.fd, rx.mem, MAX_BATCH, wait ? MSG_WAITFORONE : MSG_DONTWAIT, null);
    if (n < 0) {
      const e = this.f.koffi.errno();
      if (e === EAGAIN || e === EINTR) return 0;
      if (this.closed) return 0;
      throw fail(this.f, 'recvmmsg');
    }
    n = Math.min(n, MAX_BATCH);
    this.rxDirty = n;
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
    const clen = Math.min(len64(v, h + 40), RX_CONTROL);
    let at = 0;
    while (at + CMSG_HDR <= clen) {
      const len = len64(v, cbase + at);
      if (len < CMSG_HDR || at + len > clen) break;
      const level = v.getInt32(cbase + at + 8, true);
      const type = v.getInt32(cbase + at + 12, true);
      const data = cbase + at + CMSG_HDR;
      if (level === SOL_SOCKET && type === SO_TIMESTAMPNS && len >= CMSG_HDR + 16) {
        d.rxSec = int64(v, data);
        d.rxNsec = int64(v, data + 8);
      } else if (level === SOL_SOCKET && type === SO_TIMESTAMPING && len >= CMSG_HDR + 16) {
        // Kernels without OPT_RX_FILTER add the software stamp here too once transmit stamps are on.
        if (d.rxSec < 0) {
          d.rxSec = int64(v, data);
          d.rxNsec = int64(v, data + 8);
        }
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
   * that datagram was sent to; `stamp`: ask the kernel for its transmit stamp (`enableTxStamps`
   * first; it comes with the next number of the socket's counter, see `readStamps`). Call
   * `flush()` after the batch.
   */
  queue(i: number, length: number, stamp = false): void {
    const rx = this.rx;
    const tx = this.tx;
    const v = tx.view;
    const k = this.queued++;
    const h = k * MMSGHDR;
    // The name: the request's source, read from the receive block in place. (Header k's iovec
    // pointer is fixed; its base is set to reply slot i.)
    v.setBigUint64(h, this.rxName[i] ?? 0n, true);
    v.setUint32(h + 8, this.family === 6 ? 28 : 16, true);
    v.setBigUint64(tx.iov + k * IOVEC, this.txSlot[i] ?? 0n, true);
    put64(v, tx.iov + k * IOVEC + 8, Math.min(length, SLOT_SIZE));
    const c = tx.control + k * TX_CONTROL;
    let clen = writePktinfo(v, c, this.family, rx.view, rx.control + i * RX_CONTROL, this.datagrams[i]);
    if (stamp && this.txStamps) {
      // cmsg(SOL_SOCKET, SO_TIMESTAMPING, u32 TX_SOFTWARE): CMSG_LEN(4) = 20, CMSG_SPACE(4) = 24.
      put64(v, c + clen, CMSG_HDR + 4);
      v.setInt32(c + clen + 8, SOL_SOCKET, true);
      v.setInt32(c + clen + 12, SO_TIMESTAMPING, true);
      v.setUint32(c + clen + 16, SOF_TIMESTAMPING_TX_SOFTWARE, true);
      v.setUint32(c + clen + 20, 0, true);
      clen += 24;
      this.stampedQueued++;
    }
    if (clen > 0) {
      v.setBigUint64(h + 32, this.txCtrl[k] ?? 0n, true);
      put64(v, h + 40, clen);
    } else {
      v.setBigUint64(h + 32, 0n, true);
      put64(v, h + 40, 0);
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
    const stamped = this.stampedQueued;
    this.stampedQueued = 0;
    const tx = this.tx;
    while (done < n && !this.closed) {
      const rest = n - done;
      const r = this.f.sendmmsg(this.fd, done === 0 ? tx.base : tx.base + BigInt(done * MMSGHDR), rest, 0);
      if (r < rest && stamped > 0) this.stampCountUncertain = true;
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

  /** Turns on transmit stamps by request (src/io/mmsg-sys.ts `enableTxStamps`); false if refused. */
  enableTxStamps(): boolean {
    this.txStamps = !this.closed && enableTxStamps(this.fd);
    return this.txStamps;
  }

  /** Restarts the kernel's stamp counter at 0 (after `stampCountUncertain`); false if refused. */
  resetTxStamps(): boolean {
    this.stampCountUncertain = false;
    this.txStamps = !this.closed && enableTxStamps(this.fd, true);
    return this.txStamps;
  }

  /**
   * Reads the transmit stamps queued on the error queue (up to 64, without waiting): for each,
   * its number (OPT_ID) into `ids` and its CLOCK_REALTIME time into `sec`/`nsec`; returns how many.
   */
  readStamps(ids: Uint32Array, sec: Float64Array, nsec: Float64Array): number {
    if (this.closed || !this.txStamps) return 0;
    let e = this.err;
    if (e === null) {
      e = new MessageBlock(this.f, MAX_BATCH, ERR_CONTROL, 64);
      for (let i = 0; i < MAX_BATCH; i++) {
        e.setPtr(i * MMSGHDR, e.names + i * NAME);
        put64(e.view, e.iov + i * IOVEC + 8, 64);
        e.setPtr(i * MMSGHDR + 32, e.control + i * ERR_CONTROL);
      }
      this.err = e;
      this.errDirty = MAX_BATCH;
    }
    const v = e.view;
    resetHeaders(v, this.errDirty, ERR_CONTROL);
    this.errDirty = 0;
    const n = this.f.recvmmsg(this.fd, e.mem, MAX_BATCH, MSG_ERRQUEUE | MSG_DONTWAIT, null);
    if (n <= 0) return 0;
    this.errDirty = Math.min(n, MAX_BATCH);
    let out = 0;
    for (let i = 0; i < Math.min(n, MAX_BATCH); i++) {
      const h = i * MMSGHDR;
      const cbase = e.control + i * ERR_CONTROL;
      const clen = Math.min(len64(v, h + 40), ERR_CONTROL);
      let at = 0;
      let s = -1;
      let ns = 0;
      let id = -1;
      while (at + CMSG_HDR <= clen) {
        const len = len64(v, cbase + at);
        if (len < CMSG_HDR || at + len > clen) break;
        const level = v.getInt32(cbase + at + 8, true);
        const type = v.getInt32(cbase + at + 12, true);
        const data = cbase + at + CMSG_HDR;
        if (level === SOL_SOCKET && type === SO_TIMESTAMPING && len >= CMSG_HDR + 16) {
          s = int64(v, data);
          ns = int64(v, data + 8);
        } else if (
          ((level === IPPROTO_IP && type === IP_RECVERR) ||
            (level === IPPROTO_IPV6 && type === IPV6_RECVERR)) &&
          len >= CMSG_HDR + 16 &&
          v.getUint8(data + 4) === SO_EE_ORIGIN_TIMESTAMPING &&
          v.getUint32(data + 8, true) === SCM_TSTAMP_SND
        ) {
          id = v.getUint32(data + 12, true);
        }
        at += (len + 7) & ~7;
      }
      // A software stamp is in the first of the three timespecs; zero there: none.
      if (id < 0 || s <= 0) continue;
      ids[out] = id;
      sec[out] = s;
      nsec[out] = ns;
      out++;
    }
    return out;
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
    const len = len64(rv, rxControl + off);
    if (len < CMSG_HDR || off + len > RX_CONTROL) return 0;
    const level = rv.getInt32(rxControl + off + 8, true);
    const type = rv.getInt32(rxControl + off + 12, true);
    const data = rxControl + off + CMSG_HDR;
    if (family === 4 && level === IPPROTO_IP && type === IP_PKTINFO) {
      put64(v, at, CMSG_HDR + 12);
      v.setInt32(at + 8, IPPROTO_IP, true);
      v.setInt32(at + 12, IP_PKTINFO, true);
      // ifindex 0: route by the destination; spec_dst = the request's destination address.
      v.setInt32(at + CMSG_HDR, 0, true);
      v.setUint32(at + CMSG_HDR + 4, rv.getUint32(data + 8, true), true);
      v.setUint32(at + CMSG_HDR + 8, 0, true);
      return 32;
    }
    if (family === 6 && level === IPPROTO_IPV6 && type === IPV6_PKTINFO) {
      put64(v, at, CMSG_HDR + 20);
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
    const f = loadBatch();
    if (f === null) throw new Error(batchWhy());
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
