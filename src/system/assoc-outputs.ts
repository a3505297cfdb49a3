/**
 * What the engine does with an association's outputs: packets become send actions to the peer,
 * events are reported, raw exchanges go to the discipline, a demobilisation is carried out.
 */
import type { Association, AssocOutput } from '../assoc/association.js';
import type { BroadcastServer } from '../assoc/broadcast.js';
import type { ServerState } from '../assoc/server.js';
import type { DemobiliseReason } from '../assoc/types.js';
import { addressRefid, type KeyRing } from '../assoc/util.js';
import type { LocalClock, RawExchange, RawTime } from '../clock/types.js';
import { RefclockSource } from '../refclock/source.js';
import { secondsToDuration } from '../time/ntp-time.js';
import type { CryptoProvider } from '../wire/crypto.js';
import { refidFromString } from '../wire/refid.js';
import type { Peer } from './candidates.js';
import type { Action, SystemEvent } from './types.js';

/** What carrying out the outputs needs of the engine. */
export interface OutputHost {
  emit(e: SystemEvent): void;
  /** A validated exchange of association `id` for the discipline. */
  exchange(x: RawExchange, id: string): void;
  demobilise(id: string, reason: DemobiliseReason): void;
}

/** Carries out `outs` of association `a` (sends into `actions`); true when its filter has a new sample. */
export function carryOut(a: Association, outs: AssocOutput[], actions: Action[], host: OutputHost): boolean {
  let updated = false;
  for (const o of outs) {
    switch (o.kind) {
      case 'send': {
        const act: Action = {
          kind: 'send',
          to: { address: a.cfg.address, port: a.cfg.port },
          bytes: o.bytes,
        };
        if (o.txId !== undefined) act.txId = o.txId;
        // From the local address the peer's packets come to (a host with several addresses).
        if (a.localAddress !== null) act.from = { address: a.localAddress, port: 0 };
        actions.push(act);
        break;
      }
      case 'event':
        host.emit(o.event);
        break;
      case 'update':
        updated = true;
        break;
      case 'exchange':
        host.exchange(o.exchange, a.id);
        break;
      case 'demobilise':
        host.demobilise(a.id, o.reason);
        break;
    }
  }
  return updated;
}

/**
 * After a clock step of `offset` s: the stored local timestamps are readings of the old clock, moved
 * onto the new timescale so that exchanges in flight across the step still give correct offsets, and
 * the filters' offsets, measured against the old clock, are referred to the new one.
 */
export function referToStep(assocs: Iterable<Association>, offset: number): void {
  const by = secondsToDuration(offset);
  for (const a of assocs) {
    a.shiftLocalTimes(by);
    a.filter.shiftOffsets(-offset);
  }
}

/** The broadcasts due at `raw`, as send actions (src/assoc/broadcast.ts builds them). */
export function fireBroadcasts(
  broadcasters: readonly BroadcastServer[],
  raw: RawTime,
  actions: Action[],
  with_: {
    clock: LocalClock;
    state: () => ServerState;
    keys: KeyRing;
    alloc: (f: (raw: RawTime) => void) => number;
  },
): void {
  for (const b of broadcasters) {
    if (b.nextAt === null || b.nextAt > raw) continue;
    const sent = b.fire(raw, with_.clock, with_.state(), with_.keys, with_.alloc);
    if (sent !== null)
      actions.push({ kind: 'send', to: { address: b.cfg.address, port: b.cfg.port }, ...sent });
  }
}

/**
 * RFC 5905 clock_update(): the refid is the system peer's address (IPv6: MD5 hash); a reference
 * clock's is its four-character code (stratum 1: "GPS", "PPS", "SHM0").
 */
export function peerRefid(peer: Peer, crypto: CryptoProvider): number {
  return peer instanceof RefclockSource
    ? refidFromString(peer.cfg.refid)
    : addressRefid(peer.cfg.address, crypto);
}
