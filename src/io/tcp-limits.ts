/**
 * Per-source limits for the TCP services (NTS-KE, RFC 868 Time, RFC 867 Daytime): how many
 * connections one address may hold at once, and an idle timeout, so that clients which connect and
 * then never speak, read or close cannot hold every slot of the service's connection cap.
 */
import type { Socket } from 'node:net';

export interface TcpLimits {
  /** Connections one source address may have open at once; more are closed at accept. */
  perSource: number;
  /** A connection with no traffic in either direction for this many ms is closed. */
  idleMs: number;
}

/** Default for NTS-KE and the Time/Daytime services: 8 connections per address, 2 s idle. */
export const DEFAULT_TCP_LIMITS: TcpLimits = { perSource: 8, idleMs: 2_000 };

/** Counters of a `TcpLimiter`, for logs and tests. */
export interface TcpLimitCounters {
  /** Connections closed at accept because their source already had `perSource` open. */
  refusedPerSource: number;
  /** Connections closed by the idle timeout. */
  idleClosed: number;
}

/** The source key of an address: IPv4-mapped IPv6 addresses count as their IPv4 address. */
function sourceOf(address: string | undefined): string {
  const a = address ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** Applies `TcpLimits` to accepted sockets; one instance may be shared by several listeners. */
export class TcpLimiter {
  private readonly open = new Map<string, number>();
  private readonly counts: TcpLimitCounters = { refusedPerSource: 0, idleClosed: 0 };

  constructor(readonly limits: TcpLimits = DEFAULT_TCP_LIMITS) {}

  /**
   * Call on every accepted connection before using it. Returns false (and has destroyed the socket)
   * when its source is at its limit; otherwise counts it until it closes and arms the idle timeout.
   */
  admit(sock: Socket): boolean {
    const src = sourceOf(sock.remoteAddress);
    const n = this.open.get(src) ?? 0;
    if (n >= this.limits.perSource) {
      this.counts.refusedPerSource++;
      sock.destroy();
      return false;
    }
    this.open.set(src, n + 1);
    sock.once('close', () => {
      const left = (this.open.get(src) ?? 1) - 1;
      if (left <= 0) this.open.delete(src);
      else this.open.set(src, left);
    });
    sock.setTimeout(this.limits.idleMs, () => {
      this.counts.idleClosed++;
      sock.destroy();
    });
    return true;
  }

  /** Connections open from `address` now. */
  openFrom(address: string): number {
    return this.open.get(sourceOf(address)) ?? 0;
  }

  /** Connections open now, over all sources. */
  total(): number {
    let n = 0;
    for (const v of this.open.values()) n += v;
    return n;
  }

  counters(): TcpLimitCounters {
    return { ...this.counts };
  }
}
