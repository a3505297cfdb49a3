/**
 * The daemon's NTP transport: the UDP sockets (node:dgram, IPv4 and IPv6), how a datagram is sent
 * from the right one with the latest transmit timestamp, kernel or user-space timestamps and their
 * statistics.
 *
 * Replies leave from the address the request came to. A socket bound to a wildcard cannot tell
 * (node:dgram has no IP_PKTINFO), so beside each wildcard the transport binds one socket per local
 * address of that family (SO_REUSEADDR: the kernel delivers to the most specific socket), and
 * `refresh()` follows address changes: new addresses get a socket, removed ones lose theirs. The
 * wildcard stays for broadcasts and for addresses that appear between two refreshes. A busy port
 * is still an error: a plain exclusive bind on the wildcard is tried first.
 */
import * as dgram from 'node:dgram';
import * as dns from 'node:dns';
import { isIP, isIPv6 } from 'node:net';
import type { RawTime } from '../clock/types.js';
import { KernelTimestamps, type TxTicket } from '../io/kernel-timestamps.js';
import { SendLatency } from '../serve/send-latency.js';
import type { TimestampingStats } from '../system/snapshot.js';
import type { Endpoint } from '../system/types.js';
import { type NtpTime, toTimestamp } from '../time/ntp-time.js';
import type { Logger } from './log.js';

/** One bound socket, as the packet handler sees it. */
export interface TransportSocket {
  readonly family: 4 | 6;
  /** The address it is bound to (a wildcard or one local address). */
  readonly address: string;
  readonly port: number;
}

/** A received datagram: `raw` is its receive stamp (the kernel's where available). */
export type DatagramHandler = (
  sock: TransportSocket,
  bytes: Uint8Array,
  from: Endpoint,
  raw: RawTime,
) => void;

export interface SendOptions {
  /** The local endpoint to send from (the address a request came to); port 0 = any. */
  from?: Endpoint | undefined;
  /** Receives the precise transmit stamp (the kernel's where available). */
  onSent?: ((raw: RawTime) => void) | undefined;
  /** Byte offset of a transmit timestamp to write as late as possible before the send. */
  transmitAt?: number | undefined;
}

/** How the daemon sends and receives NTP datagrams (`UdpTransport`; engine `fast` plugs its batched path in). */
export interface Transport {
  /** The bound endpoints (actual ports when 0 was configured). */
  readonly endpoints: readonly Endpoint[];
  /** Binds the sockets; throws when none could be bound. */
  bind(): Promise<void>;
  /** Whether a socket of `address`'s family exists. */
  canReach(address: string): boolean;
  /** Sends `bytes` to `to`, from `via` when given (the socket a request arrived on), else by `opts.from`. */
  send(bytes: Uint8Array, to: Endpoint, opts?: SendOptions, via?: TransportSocket): void;
  stats(): TimestampingStats;
  close(): Promise<void>;
}

export interface UdpTransportOptions {
  /** Addresses to bind; empty = the wildcards `0.0.0.0` and `::`. */
  listen: readonly string[];
  port: number;
  timestamping: 'kernel' | 'user';
  /** The raw counter. */
  raw: () => RawTime;
  /** The served clock (transmit timestamps written at send time). */
  clock: () => { read(raw: RawTime): NtpTime };
  log: () => Logger;
  onDatagram: DatagramHandler;
  /**
   * The host's local addresses (os.networkInterfaces()); when given, every wildcard in `listen`
   * gets per-address sockets beside it (see above). Absent: wildcards only.
   */
  localAddresses?: () => string[];
  /**
   * Descriptors bound elsewhere, one per `listen` address, for node:dgram to adopt instead of
   * binding its own (the batched transport's main-thread member of each SO_REUSEPORT group,
   * src/daemon/fast-transport.ts), with a synchronous send that sets the source address
   * (IP_PKTINFO) for a reply that must leave from an address the wildcard is not bound to.
   */
  adopt?: (address: string) => AdoptedSocket;
}

/** A bound descriptor handed to the transport (`UdpTransportOptions.adopt`). */
export interface AdoptedSocket {
  fd: number;
  /** Sends `bytes` to `to` from local address `from`; throws on errors. */
  sendFrom(bytes: Uint8Array, to: Endpoint, from: string): void;
}

interface BoundSocket extends TransportSocket {
  sock: dgram.Socket;
  /** Kernel receive/transmit stamps (`[serve] timestamping = "kernel"`), null = user-space readings. */
  stamps: KernelTimestamps | null;
  /** A per-address socket beside a wildcard (not in `endpoints`; closed when its address goes). */
  perAddress: boolean;
  /** An adopted descriptor's send with a source address (UdpTransportOptions.adopt). */
  sendFrom?: ((bytes: Uint8Array, to: Endpoint, from: string) => void) | undefined;
}

/** Addresses a per-address socket can be bound to: not link-local IPv6 (it needs a scope). */
function bindable(address: string, family: 4 | 6): boolean {
  if ((isIPv6(address) ? 6 : 4) !== family) return false;
  return family === 4 || !address.toLowerCase().startsWith('fe80:');
}

/**
 * The sockets' address lookup: IP literals (all the engine ever sends to) are answered
 * synchronously, so `send()` transmits at once instead of after a deferred lookup.
 */
function syncLookup(
  address: string,
  options: dns.LookupOneOptions,
  cb: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const fam = isIP(address);
  if (fam !== 0) cb(null, address, fam);
  else dns.lookup(address, options, cb);
}

export function isWildcard(a: string): boolean {
  return a === '0.0.0.0' || a === '::';
}

export class UdpTransport implements Transport {
  readonly endpoints: Endpoint[] = [];
  private sockets: BoundSocket[] = [];
  /** Receive/precise-transmit stamps read in user space on sockets without kernel stamps. */
  private rxUser = 0;
  private txUser = 0;
  /** Measured send-path latency, added to basic-mode transmit timestamps (src/serve/send-latency.ts). */
  private readonly sendLatency = new SendLatency();
  private refreshing = false;
  private closed = false;

  constructor(private readonly o: UdpTransportOptions) {}

  async bind(): Promise<void> {
    const o = this.o;
    const listen = o.listen.length > 0 ? o.listen : ['0.0.0.0', '::'];
    const errors: string[] = [];
    for (const address of listen) {
      const perAddress = o.localAddresses !== undefined && isWildcard(address);
      let b: BoundSocket;
      try {
        // Per-address sockets share the port (SO_REUSEADDR), which would hide another daemon on
        // it: a plain exclusive bind on the wildcard first tells a busy port.
        if (perAddress && o.port !== 0)
          await this.open(address, o.port, false, false).then((p) => this.drop(p));
        b = await this.open(address, o.port, perAddress, false, o.adopt?.(address));
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        // An IPv6 wildcard where the host has no IPv6 is not fatal when IPv4 works.
        errors.push(`${address}:${o.port}: ${msg}`);
        o.log().warn('cannot bind', { address, port: o.port, error: msg });
        continue;
      }
      this.sockets.push(b);
      this.endpoints.push({ address, port: b.port });
    }
    if (this.sockets.length === 0) throw new Error(`could not bind any NTP socket: ${errors.join('; ')}`);
    await this.refresh();
  }

  /** Binds one socket; `reuse` = SO_REUSEADDR (wildcards with per-address sockets, and those). */
  private async open(
    address: string,
    port: number,
    reuse: boolean,
    perAddress: boolean,
    adopted?: AdoptedSocket,
  ): Promise<BoundSocket> {
    const o = this.o;
    const family: 4 | 6 = isIPv6(address) ? 6 : 4;
    const sock = dgram.createSocket({
      type: family === 6 ? 'udp6' : 'udp4',
      ipv6Only: family === 6,
      reuseAddr: reuse,
      lookup: syncLookup,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind(adopted !== undefined ? { fd: adopted.fd } : { address, port, exclusive: true }, () => {
          sock.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      sock.close();
      throw e;
    }
    if (family === 4) sock.setBroadcast(true);
    const bound = sock.address();
    const stamps = o.timestamping === 'kernel' ? KernelTimestamps.open(sock, () => o.raw()) : null;
    const b: BoundSocket = {
      sock,
      family,
      address,
      port: bound.port,
      stamps,
      perAddress,
      sendFrom: adopted?.sendFrom,
    };
    sock.on('message', (msg, rinfo) => this.onMessage(b, msg, rinfo));
    sock.on('error', (err) => o.log().warn('socket error', { address, error: err }));
    return b;
  }

  private drop(b: BoundSocket): Promise<void> {
    return new Promise<void>((r) => {
      b.stamps?.close();
      try {
        b.sock.close(() => r());
      } catch {
        r();
      }
    });
  }

  /**
   * Follows the host's addresses: beside every wildcard socket, one socket per local address of
   * its family (new addresses get one, removed ones lose theirs). Call it periodically.
   */
  async refresh(): Promise<void> {
    const o = this.o;
    if (o.localAddresses === undefined || this.refreshing || this.closed) return;
    this.refreshing = true;
    try {
      await this.follow(o.localAddresses());
    } finally {
      this.refreshing = false;
    }
  }

  private async follow(local: string[]): Promise<void> {
    const o = this.o;
    for (const w of this.sockets.filter((s) => !s.perAddress && isWildcard(s.address))) {
      const wanted = new Set(local.filter((a) => bindable(a, w.family)));
      for (const s of this.sockets.filter(
        (x) => x.perAddress && x.family === w.family && x.port === w.port,
      )) {
        if (wanted.delete(s.address)) continue;
        this.sockets = this.sockets.filter((x) => x !== s);
        await this.drop(s);
        o.log().info('address gone: its socket closed', { address: s.address, port: s.port });
      }
      for (const address of wanted) {
        try {
          const s = await this.open(address, w.port, true, true);
          if (this.closed) await this.drop(s);
          else this.sockets.push(s);
          o.log().debug('per-address socket', { address, port: w.port });
        } catch (e) {
          o.log().warn('cannot bind', { address, port: w.port, error: e instanceof Error ? e.message : e });
        }
      }
    }
  }

  /** How the sockets stamp datagrams, for the start-up log. */
  stampingModes(): string {
    const stamping = this.sockets.map((s) =>
      s.stamps === null ? 'user' : s.stamps.tx ? 'kernel' : 'kernel receive, user transmit',
    );
    return [...new Set(stamping)].join(', ');
  }

  private onMessage(b: BoundSocket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const user = this.o.raw();
    // libuv calls this right after reading the datagram, so the kernel's last stamp is its own.
    let raw = user;
    if (b.stamps === null) this.rxUser++;
    else raw = b.stamps.received(user);
    if (msg.length === 0) return;
    const bytes = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
    this.o.onDatagram(b, bytes, { address: rinfo.address, port: rinfo.port }, raw);
  }

  canReach(address: string): boolean {
    const fam = isIPv6(address) ? 6 : 4;
    return this.sockets.some((s) => s.family === fam);
  }

  private socketFor(to: Endpoint, from?: Endpoint): BoundSocket | null {
    const family: 4 | 6 = isIPv6(to.address) ? 6 : 4;
    if (from !== undefined) {
      const exact = this.sockets.find(
        (s) => s.address === from.address && (from.port === 0 || s.port === from.port),
      );
      if (exact !== undefined) return exact;
    }
    const same = this.sockets.filter((s) => s.family === family);
    return same.find((s) => isWildcard(s.address)) ?? same[0] ?? null;
  }

  /** The socket bound to `address` itself (a `listen` address, not a per-address one). */
  socketAt(address: string): TransportSocket | undefined {
    return this.sockets.find((s) => s.address === address && !s.perAddress);
  }

  send(bytes: Uint8Array, to: Endpoint, opts: SendOptions = {}, via?: TransportSocket): void {
    const b = (via as BoundSocket | undefined) ?? this.socketFor(to, opts.from);
    if (b === null) {
      this.o.log().debug('no socket for destination', { to });
      return;
    }
    // An adopted wildcard sets the source of a reply itself (IP_PKTINFO): the address the request came to.
    const from = opts.from?.address;
    const source =
      b.sendFrom !== undefined && from !== undefined && from !== b.address && isWildcard(b.address)
        ? from
        : undefined;
    this.sendRaw(b, bytes, to, opts.onSent, opts.transmitAt, source);
  }

  /**
   * Sends a datagram. `onSent` gets the precise transmit stamp: the kernel's, when the socket has
   * kernel timestamps; otherwise the counter read as `send()` returns (with the synchronous lookup
   * the datagram has normally left by then, uv_udp_try_send) or in the send callback, the earlier.
   */
  private sendRaw(
    b: BoundSocket,
    bytes: Uint8Array,
    to: Endpoint,
    onSent?: (raw: RawTime) => void,
    transmitAt?: number,
    source?: string,
  ): void {
    const o = this.o;
    let after: RawTime | null = null;
    let sampleAt: RawTime | null = null;
    let probe: { ticket: TxTicket; readAt: RawTime } | null = null;
    if (transmitAt !== undefined && transmitAt + 8 <= bytes.length) {
      // The basic-mode transmit timestamp, read as late as the host can: right before the send,
      // and advanced by the send path's measured latency where the kernel stamps sent datagrams.
      const readAt = o.raw();
      const ahead = b.stamps?.tx === true ? BigInt(this.sendLatency.compensationNs()) : 0n;
      const t = toTimestamp(o.clock().read(readAt + ahead));
      new DataView(bytes.buffer, bytes.byteOffset, bytes.length).setBigUint64(transmitAt, t);
      if (onSent === undefined && b.stamps?.tx === true && this.sendLatency.wantSample(readAt))
        sampleAt = readAt;
    }
    b.stamps?.sending();
    const ticket = onSent === undefined || b.stamps === null ? null : b.stamps.track(bytes);
    if (sampleAt !== null && b.stamps !== null) {
      const measured = b.stamps.track(bytes);
      if (measured !== null) {
        this.sendLatency.begin(sampleAt);
        probe = { ticket: measured, readAt: sampleAt };
      }
    }
    const done = (err: unknown) => {
      const raw = o.raw();
      const failed = err !== null && err !== undefined;
      if (failed) o.log().debug('send failed', { to, error: err });
      const user = after !== null && after < raw ? after : raw;
      if (probe !== null && b.stamps !== null) {
        const readAt = probe.readAt;
        b.stamps.settle(
          probe.ticket,
          (k) => {
            if (k !== null) this.sendLatency.add(Number(k - readAt));
          },
          failed,
        );
        return;
      }
      if (ticket !== null && b.stamps !== null) {
        b.stamps.settle(ticket, (k) => onSent?.(k ?? user), failed);
        return;
      }
      // Keep the error queue empty: every send on a stamping socket leaves a copy there.
      b.stamps?.drain();
      if (!failed && onSent !== undefined) {
        this.txUser++;
        onSent(user);
      }
    };
    if (source !== undefined && b.sendFrom !== undefined) {
      let err: unknown = null;
      try {
        b.sendFrom(bytes, to, source);
      } catch (e) {
        err = e;
      }
      after = o.raw();
      done(err);
      return;
    }
    b.sock.send(bytes, to.port, to.address, done);
    after = o.raw();
  }

  stats(): TimestampingStats {
    const t: TimestampingStats = { mode: 'user', rxKernel: 0, rxUser: 0, txKernel: 0, txUser: 0 };
    const stamps = this.sockets.map((s) => s.stamps);
    if (stamps.length > 0 && stamps.every((x) => x !== null))
      t.mode = stamps.every((x) => x?.tx === true) ? 'kernel' : 'kernel receive';
    for (const x of stamps) {
      if (x === null) continue;
      t.rxKernel += x.counters.rxKernel;
      t.rxUser += x.counters.rxFallback;
      t.txKernel += x.counters.txKernel;
      t.txUser += x.counters.txFallback;
    }
    t.rxUser += this.rxUser;
    t.txUser += this.txUser;
    if (t.mode === 'kernel') {
      const l = this.sendLatency.stats();
      t.sendLatency = {
        samples: l.samples,
        compensation: l.compensationNs / 1e9,
        median: l.medianNs === null ? null : l.medianNs / 1e9,
      };
    }
    return t;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.sockets.splice(0).map((s) => this.drop(s)));
  }
}
