/**
 * Authenticated (symmetric-key MAC) requests answered in a server worker: the core's
 * `answerRequest` (src/serve/answer.ts) on a context built from the published state
 * (src/serve/published.ts), the worker's own keys and responder (its interleaved ring for
 * authenticated clients), and transmit-time callbacks the worker completes from the kernel's
 * transmit stamps.
 *
 * Sans-IO: the crypto provider is injected (node:crypto in the worker); times are the raw counter
 * (ns, bigint) and NTP time as the published clock line gives it.
 */
import type { SymmetricKey } from '../assoc/config.js';
import { ServerResponder, type ServerState } from '../assoc/server.js';
import { KeyRing } from '../assoc/util.js';
import type { RawTime } from '../clock/types.js';
import type { Endpoint } from '../system/types.js';
import type { NtpTime } from '../time/ntp-time.js';
import type { CryptoProvider } from '../wire/crypto.js';
import { decodePacket, MODE, type NtpPacket } from '../wire/packet.js';
import { type Answer, type AnswerContext, answerRequest, type NtsServerStats } from './answer.js';
import { ageAt, clockAt, dispersionAfter, type PublishedView, type Stamp } from './published.js';

/** Callbacks waiting for a transmit time, in a ring (a reply whose stamp never comes is overwritten). */
const CALLBACKS = 4096;

export type WorkerAnswer = Answer & { txId?: number; bytes?: Uint8Array };

export class WorkerAnswerer {
  private readonly ctx: AnswerContext;
  private readonly callbacks: Array<((raw: RawTime) => void) | undefined> = new Array(CALLBACKS);
  private nextTx = 0;
  private readonly stamp: Stamp = { sec: 0, frac: 0 };
  readonly ntsStats: NtsServerStats = { requests: 0, responses: 0, naks: 0, rejected: 0 };

  constructor(
    private readonly view: PublishedView,
    keys: readonly SymmetricKey[],
    crypto: CryptoProvider,
    tableSize: number,
    randomBytes: (n: number) => Uint8Array,
  ) {
    this.ctx = {
      clock: { read: (raw) => this.read(raw) },
      serverState: (raw) => this.state(raw),
      keys: new KeyRing(keys, crypto),
      responder: new ServerResponder(tableSize),
      ntsJar: () => null,
      ntsStats: this.ntsStats,
      randomBytes,
      allocTxId: (onSent) => {
        const id = this.nextTx;
        this.nextTx = (this.nextTx + 1) % CALLBACKS;
        this.callbacks[id] = onSent;
        return id;
      },
    };
  }

  /** The published clock's reading at `raw`. */
  read(raw: RawTime): NtpTime {
    const sec = Number(raw / 1_000_000_000n);
    const nsec = Number(raw % 1_000_000_000n);
    clockAt(this.view, sec, nsec, this.stamp);
    return (BigInt(this.stamp.sec) << 32n) | BigInt(this.stamp.frac);
  }

  /** The system variables a reply carries, as published, the root dispersion aged to `raw`. */
  state(raw: RawTime): ServerState {
    const v = this.view;
    const age = ageAt(v, Number(raw / 1_000_000_000n), Number(raw % 1_000_000_000n));
    return {
      leap: v.leap,
      stratum: v.stratum,
      precision: v.precision,
      rootDelay: v.rootDelay,
      rootDispersion: dispersionAfter(v, age),
      referenceId: v.referenceId,
      referenceTimestamp: (BigInt(v.refSec) << 32n) | BigInt(v.refFrac),
    };
  }

  /**
   * The request in `bytes` when it is one to answer here (mode 3 with a MAC and no extension
   * fields); null otherwise (NTS and other extension fields, undecodable: the main thread decides).
   */
  decode(bytes: Uint8Array): NtpPacket | null {
    const d = decodePacket(bytes);
    if (!d.ok || d.packet.mode !== MODE.CLIENT || d.packet.extensions.length > 0 || d.packet.mac === null)
      return null;
    return d.packet;
  }

  /** Answers `pkt` (from `decode`; `bytes` on the wire) received at `raw`; `now`: the counter now. */
  answer(
    pkt: NtpPacket,
    bytes: Uint8Array,
    from: Endpoint,
    to: Endpoint,
    raw: RawTime,
    now: RawTime,
  ): WorkerAnswer {
    const a = answerRequest(this.ctx, raw, now, pkt, bytes, from, to);
    if (a.kind !== 'reply') return a;
    const out: WorkerAnswer = { ...a, bytes: a.send.bytes };
    if (a.send.txId !== undefined) out.txId = a.send.txId;
    return out;
  }

  /** The reply with transmit callback `txId` left at raw counter `raw` (from its kernel stamp). */
  transmitted(txId: number, raw: RawTime): void {
    const cb = this.callbacks[txId];
    if (cb === undefined) return;
    this.callbacks[txId] = undefined;
    cb(raw);
  }
}
