/**
 * The daemon's NTP transport: the UDP sockets (node:dgram, IPv4 and IPv6), how a datagram is sent
 * from the right one with the latest transmit timestamp, kernel or user-space timestamps and their
 * statistics.
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
}

interface BoundSocket extends TransportSocket {
  sock: dgram.Socket;
  /** Kernel receive/transmit stamps (`[serve] timestamping = "kernel"`), null = user-space readings. */
  stamps: KernelTimestamps | null;
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

  constructor(private readonly o: UdpTransportOptions) {}

  async bind(): Promise<void> {
    const o = this.o;
    const listen = o.listen.length > 0 ? o.listen : ['0.0.0.0', '::'];
    const errors: string[] = [];
    for (const address of listen) {
      const family: 4 | 6 = isIPv6(address) ? 6 : 4;
      const sock = dgram.createSocket({
        type: family === 6 ? 'udp6' : 'udp4',
        ipv6Only: family === 6,
        reuseAddr: false,
        lookup: syncLookup,
      });
      try {
        await new Promise<void>((resolve, reject) => {
          sock.once('error', reject);
          sock.bind({ address, port: o.port, exclusive: true }, () => {
            sock.off('error', reject);
            resolve();
          });
        });
      } catch (e) {
        sock.close();
        const msg = e instanceof Error ? e.message : String(e);
        // An IPv6 wildcard where the host has no IPv6 is not fatal when IPv4 works.
        errors.push(`${address}:${o.port}: ${msg}`);
        o.log().warn('cannot bind', { address, port: o.port, error: msg });
        continue;
      }
      if (family === 4) sock.setBroadcast(true);
      const bound = sock.address();
      const stamps = o.timestamping === 'kernel' ? KernelTimestamps.open(sock, () => o.raw()) : null;
      const b: BoundSocket = { sock, family, address, port: bound.port, stamps };
      sock.on('message', (msg, rinfo) => this.onMessage(b, msg, rinfo));
      sock.on('error', (err) => o.log().warn('socket error', { address, error: err }));
      this.sockets.push(b);
      this.endpoints.push({ address, port: bound.port });
    }
    if (this.sockets.length === 0) throw new Error(`could not bind any NTP socket: ${errors.join('; ')}`);
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

  send(bytes: Uint8Array, to: Endpoint, opts: SendOptions = {}, via?: TransportSocket): void {
    const b = (via as BoundSocket | undefined) ?? this.socketFor(to, opts.from);
    if (b === null) {
      this.o.log().debug('no socket for destination', { to });
      return;
    }
    this.sendRaw(b, bytes, to, opts.onSent, opts.transmitAt);
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
    b.sock.send(bytes, to.port, to.address, (err) => {
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
    });
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
    await Promise.all(
      this.sockets.splice(0).map(
        (s) =>
          new Promise<void>((r) => {
            s.stamps?.close();
            try {
              s.sock.close(() => r());
            } catch {
              r();
            }
          }),
      ),
    );
  }
}
