/**
 * A broadcast server association (RFC 5905 mode 5). Every 2^poll seconds a mode 5 packet carrying our
 * system variables goes to the configured (broadcast or multicast) address.
 *
 * Interleaved broadcast (ntpd's `xleave`, RFC 9769 section 5): the transmit field keeps the software
 * timestamp of this packet, so basic clients are unaffected, and the origin field carries the precise
 * transmit time of the previous broadcast, which interleaved clients pair with their receive time of
 * that previous packet.
 */
import type { LocalClock, RawTime } from '../clock/types.js';
import { toTimestamp } from '../time/ntp-time.js';
import { emptyPacket, encodePacket, LEAP, MODE } from '../wire/packet.js';
import type { BroadcastConfig } from './config.js';
import type { ServerState } from './server.js';
import { type KeyRing, sign } from './util.js';

export class BroadcastServer {
  nextAt: RawTime | null = null;
  packetsSent = 0;
  private prevPreciseTx = 0n;

  constructor(readonly cfg: BroadcastConfig) {}

  start(raw: RawTime): void {
    this.nextAt = raw + 1_000_000_000n;
  }

  /**
   * Builds the next broadcast. `allocTxId` registers the precise-transmit callback. Null when the
   * configured key cannot sign (missing, or a type this build cannot compute): nothing goes out unsigned.
   */
  fire(
    raw: RawTime,
    clock: LocalClock,
    state: ServerState,
    keys: KeyRing,
    allocTxId: (onSent: (raw: RawTime) => void) => number,
  ): { bytes: Uint8Array; txId: number } | null {
    const p = emptyPacket();
    p.mode = MODE.BROADCAST;
    p.leap = state.stratum >= 16 ? LEAP.UNSYNC : state.leap;
    p.stratum = state.stratum >= 16 ? 0 : state.stratum;
    p.poll = this.cfg.poll;
    p.precision = state.precision;
    p.rootDelay = state.rootDelay;
    p.rootDispersion = state.rootDispersion;
    p.referenceId = state.referenceId;
    p.referenceTimestamp = state.referenceTimestamp;
    p.originTimestamp = this.cfg.xleave ? this.prevPreciseTx : 0n;
    p.transmitTimestamp = toTimestamp(clock.read(raw)) || 1n;
    this.nextAt = raw + BigInt(Math.round(2 ** this.cfg.poll * 1e9));
    const signed = sign(p, keys, this.cfg.key);
    if (signed === null) return null;
    this.packetsSent++;
    const txId = allocTxId((sentRaw) => {
      this.prevPreciseTx = toTimestamp(clock.read(sentRaw)) || 1n;
    });
    return { bytes: encodePacket(signed), txId };
  }
}
