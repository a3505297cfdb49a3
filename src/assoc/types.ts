/**
 * Types shared by the parts of an association (src/assoc): local timestamps, what the association
 * needs of the system, what it returns, and the packets it remembers.
 */
import type { LocalClock, RawExchange, RawTime } from '../clock/types.js';
import type { NtsRequest } from '../nts/ntp.js';
import type { RejectReason } from '../serve/reasons.js';
import type { NtpTime } from '../time/ntp-time.js';
import type { CryptoProvider } from '../wire/crypto.js';
import type { DecodeErrorCode } from '../wire/packet.js';
import type { AssocReject } from './checks.js';
import type { ServerState } from './server.js';
import type { KeyRing } from './util.js';

/** A local timestamp: counter value and clock reading (mutable: shifted on steps, refined by handleTransmitted). */
export interface LocalStamp {
  raw: RawTime;
  time: NtpTime;
  precise: boolean;
}

/** What the association needs from the system. */
export interface AssocContext {
  clock: LocalClock;
  random(): number;
  keys: KeyRing;
  /** Digests and AEADs (NTS, reference IDs). */
  crypto: CryptoProvider;
  /** Our precision, log2 s. */
  precision: number;
  /** Our system variables as we advertise them (symmetric and broadcast packets carry them). */
  serverState(raw: RawTime): ServerState;
  /** The discipline's poll exponent. */
  systemPoll(): number;
  /** Optional: requests of an iburst to hold back for the first regular poll (`Discipline.iburstHeld`). */
  iburstHeld?(pollSeconds: number, delays: readonly number[]): number;
  /** Whether source `id` is the system peer (the clock follows it: it polls at the system poll). */
  isSystemPeer(id: string): boolean;
  /** Huff-n'-puff correction of an offset (identity when off). */
  correctOffset(epoch: number, offset: number, delay: number): number;
  /** A fresh txId for a precise-transmit callback. */
  allocTxId(onSent: (raw: RawTime) => void): number;
  /** Cryptographically strong random bytes (NTS). */
  randomBytes(n: number): Uint8Array;
}

/**
 * Why a packet was refused, as the `reject` event says: an association's check, the server decision's
 * reason, or one of the system's own (no association for the mode, an undecodable packet, a request
 * not sent because its key is unusable).
 */
export type RejectEventReason =
  | AssocReject
  | RejectReason
  | `malformed: ${DecodeErrorCode}`
  | 'no association for mode 4'
  | 'no association for mode 2'
  | 'unexpected broadcast'
  | `mode ${number} not handled`
  | `key ${string} unusable: nothing sent`;

/** Why an NTS source asks for NTS-KE: no keys yet, cookies used up, or an NTS NAK. */
export type NtsKeReason = 'no-session' | 'no-cookies' | 'nak';

/** Why an association is removed. */
export type DemobiliseReason =
  | 'broadcast server unreachable'
  | 'passive peer unreachable'
  | 'removed by configuration';

/** The events of an association (part of the engine's `SystemEvent`). */
export type AssocEvent =
  | { kind: 'reachable'; sourceId: string }
  | { kind: 'unreachable'; sourceId: string }
  | { kind: 'kod'; sourceId: string; code: string }
  | { kind: 'reject'; sourceId: string | null; reason: RejectEventReason }
  | { kind: 'interleaved'; sourceId: string; on: boolean }
  /**
   * An NTS source needs (new) keys and cookies: the host runs NTS-KE (with back-off) and hands the
   * result to `NtpSystem.setNtsSession`.
   */
  | { kind: 'nts-ke'; sourceId: string; reason: NtsKeReason };

export type AssocOutput =
  | { kind: 'send'; bytes: Uint8Array; txId?: number }
  | { kind: 'event'; event: AssocEvent }
  /** The clock filter produced a new peer offset: run the mitigation chain. */
  | { kind: 'update' }
  | { kind: 'exchange'; exchange: RawExchange }
  /** Remove this association (passive unreachable, or auto-mobilised broadcast client gone). */
  | { kind: 'demobilise'; reason: DemobiliseReason };

/** One transmitted packet, kept in a short history for origin checks and interleaved T1 lookup. */
export interface SentPacket {
  /** Transmit timestamp field we sent (what a basic-mode peer echoes as origin). */
  xmtField: bigint;
  /** Receive timestamp field we sent (what an interleaved peer echoes as origin, symmetric mode). */
  recField: bigint;
  /**
   * Symmetric: our receive time (wire) of the peer's packet last received before this one was sent;
   * `recField` is this plus the packet's index among those sent since (see symmetric.ts).
   */
  recBase: bigint;
  /** Origin field we sent. */
  orgField: bigint;
  interleaved: boolean;
  tx: LocalStamp;
  /** NTS: the request's unique identifier etc., to verify the response. */
  nts?: NtsRequest;
}

/** Seconds as a counter interval (ns). */
export function secondsNs(s: number): bigint {
  return BigInt(Math.round(s * 1e9));
}
