/**
 * Authenticated requests (symmetric-key MACs and NTS) answered in a server worker: the core's
 * `answerRequest` (src/serve/answer.ts) on a context built from the published state
 * (src/serve/published.ts), the worker's own keys and responder (its interleaved ring for
 * authenticated clients), and transmit-time callbacks the worker completes from the kernel's
 * transmit stamps. For NTS the worker keeps a cookie jar of its own holding the server's master
 * keys, which the main thread hands over at start and after every change (`setNtsKeys`); before
 * each NTS request it asks the host for changes not applied yet (`refreshKeys`), so a cookie
 * issued right after a rotation is not NAKed, nor one of a forgotten key accepted, while the new
 * keys are on their way.
 *
 * Sans-IO: the crypto provider is injected (node:crypto in the worker); times are the raw counter
 * (ns, bigint) and NTP time as the published clock line gives it.
 */
import type { SymmetricKey } from '../assoc/config.js';
import { ServerResponder, type ServerState } from '../assoc/server.js';
import { KeyRing } from '../assoc/util.js';
import type { RawTime } from '../clock/types.js';
import { CookieJar, type MasterKey, type RandomBytes } from '../nts/cookie.js';
import { hasNtsFields } from '../nts/ntp.js';
import { type Datagram, NtsInPlace, type RandomFill } from '../nts/server-reply.js';
import type { Endpoint } from '../system/types.js';
import type { NtpTime } from '../time/ntp-time.js';
import type { CryptoProvider } from '../wire/crypto.js';
import { decodePacket, MODE, type NtpPacket } from '../wire/packet.js';
import { type Answer, type AnswerContext, answerRequest, type NtsServerStats } from './answer.js';
import {
  ageAt,
  clockAt,
  dispersionAfter,
  type PublishedView,
  type Stamp,
  writeBasicReply,
  writeTransmit,
} from './published.js';

/** Callbacks waiting for a transmit time, in a ring (a reply whose stamp never comes is overwritten). */
const CALLBACKS = 4096;
/** Random bytes are fetched this many at a time (an NTS reply takes two 16-byte nonces). */
const RANDOM_POOL = 4096;

/**
 * `random` fetched in blocks of RANDOM_POOL bytes and handed out in copies (one call into the
 * system's generator per ~128 NTS replies instead of two per reply); each byte is used once.
 */
export function pooledRandom(random: RandomBytes): RandomBytes {
  const pool = new RandomPool(random);
  return (n) => pool.bytes(n);
}

/** `pooledRandom`'s pool, which also writes its bytes where they are wanted (`fill`). */
export class RandomPool {
  private pool: Uint8Array = new Uint8Array(0);
  private at = 0;

  constructor(private readonly random: RandomBytes) {}

  bytes(n: number): Uint8Array {
    if (n > RANDOM_POOL) return this.random(n);
    this.need(n);
    const out = this.pool.slice(this.at, this.at + n);
    this.at += n;
    return out;
  }

  /** `n` bytes (at most RANDOM_POOL) into `buf` at `at`, as `bytes(n)` would have given them. */
  fill(buf: Uint8Array, at: number, n: number): void {
    this.need(n);
    const p = this.pool;
    for (let i = 0; i < n; i++) buf[at + i] = p[this.at + i] as number;
    this.at += n;
  }

  private need(n: number): void {
    if (this.at + n > this.pool.length) {
      this.pool = this.random(RANDOM_POOL);
      this.at = 0;
    }
  }
}

export type WorkerAnswer = Answer & { txId?: number; bytes?: Uint8Array };

export class WorkerAnswerer {
  private readonly ctx: AnswerContext;
  private readonly callbacks: Array<((raw: RawTime) => void) | undefined> = new Array(CALLBACKS);
  private nextTx = 0;
  private readonly stamp: Stamp = { sec: 0, frac: 0 };
  readonly ntsStats: NtsServerStats = { requests: 0, responses: 0, naks: 0, rejected: 0 };
  private readonly randomBytes: RandomBytes;
  private readonly fill: RandomFill;
  /** NTS requests of the common shape, answered in place (`scanNts`, `answerNts`). */
  private readonly inPlace = new NtsInPlace();
  private readonly rx: Stamp = { sec: 0, frac: 0 };
  private readonly tx: Stamp = { sec: 0, frac: 0 };
  private readonly one: Datagram[] = [];
  /** The NTS cookie jar (the server's master keys); null: NTS requests are not answered here. */
  private jar: CookieJar | null = null;
  /** Applies key changes the host made and this jar has not seen yet (the worker reads its messages). */
  refreshKeys: () => void = () => {};

  constructor(
    private readonly view: PublishedView,
    keys: readonly SymmetricKey[],
    private readonly crypto: CryptoProvider,
    tableSize: number,
    randomBytes: RandomBytes,
  ) {
    const pool = new RandomPool(randomBytes);
    this.randomBytes = (n) => pool.bytes(n);
    this.fill = (buf, at, n) => pool.fill(buf, at, n);
    this.ctx = {
      clock: { read: (raw) => this.read(raw) },
      serverState: (raw) => this.state(raw),
      keys: new KeyRing(keys, crypto),
      responder: new ServerResponder(tableSize),
      ntsJar: () => this.jar,
      ntsStats: this.ntsStats,
      randomBytes: this.randomBytes,
      allocTxId: (onSent) => {
        const id = this.nextTx;
        this.nextTx = (this.nextTx + 1) % CALLBACKS;
        this.callbacks[id] = onSent;
        return id;
      },
    };
  }

  /**
   * The NTS server's master keys, oldest first (the last is current; `CookieJar.exportKeys`), or
   * null: no NTS here (such requests go to the main thread).
   */
  setNtsKeys(keys: readonly MasterKey[] | null): void {
    if (keys === null || keys.length === 0) {
      this.jar = null;
      return;
    }
    const jar = new CookieJar(this.crypto, this.randomBytes, keys.length);
    jar.importKeys(keys);
    this.jar = jar;
  }

  /** Whether NTS requests are answered here. */
  get nts(): boolean {
    return this.jar !== null;
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
   * fields, or with NTS fields when the worker has the master keys); null otherwise (other
   * extension fields, undecodable: the main thread decides).
   */
  decode(bytes: Uint8Array): NtpPacket | null {
    const d = decodePacket(bytes);
    if (!d.ok || d.packet.mode !== MODE.CLIENT) return null;
    const p = d.packet;
    if (p.extensions.length === 0) return p.mac === null ? null : p;
    if (this.jar === null || !hasNtsFields(p)) return null;
    this.refreshKeys();
    return this.jar === null ? null : p;
  }

  /**
   * Starts a batch of received datagrams (the first `count`): the NTS requests of the common
   * shape that do not ask for interleaved mode have their cookies opened together
   * (src/nts/server-reply.ts); `takesNts(i)` says which; `answerNts` answers them, `finishNts`
   * seals the replies (before any is sent).
   */
  prepareNts(datagrams: ReadonlyArray<Datagram | undefined>, count: number): void {
    if (this.jar !== null) this.refreshKeys();
    if (this.jar === null) this.inPlace.forget();
    else this.inPlace.prepare(this.jar, datagrams, count);
  }

  /** Whether datagram i of the batch is an NTS request `answerNts` may answer. */
  takesNts(i: number): boolean {
    return this.jar !== null && this.inPlace.taken(i);
  }

  /**
   * Answers datagram i of the batch (`req`, received at raw counter rxSec/rxNsec) in `out`, its
   * reply slot (`head`: a view of its first 48 bytes), the transmit timestamp read at
   * nowSec/nowNsec; returns the reply's length, or 0: `decode` and `answer` decide (an NTS NAK,
   * a silent drop...). Sealed by `finishNts`; the reply is the one `answer` would give with the
   * same random bytes.
   */
  answerNts(
    i: number,
    req: Uint8Array,
    from: Endpoint,
    rxSec: number,
    rxNsec: number,
    nowSec: number,
    nowNsec: number,
    out: Uint8Array,
    head: DataView,
  ): number {
    const jar = this.jar;
    if (jar === null) return 0;
    const v = this.view;
    clockAt(v, rxSec, rxNsec, this.rx);
    writeBasicReply(v, req, head, this.rx, ageAt(v, rxSec, rxNsec));
    clockAt(v, nowSec, nowNsec, this.tx);
    writeTransmit(head, this.tx);
    const n = this.inPlace.reply(i, req, out, this.fill);
    if (n === 0) return 0;
    this.ntsStats.requests++;
    this.ntsStats.responses++;
    // As the responder's basic answer: counted, and saved for a later interleaved request.
    const r = this.ctx.responder;
    r.requests++;
    r.responses++;
    if (r.table.size > 0) r.table.save(from.address, (BigInt(this.rx.sec) << 32n) | BigInt(this.rx.frac));
    return n;
  }

  /** Seals the replies `answerNts` wrote in this batch (call it before sending them). */
  finishNts(): void {
    this.inPlace.finish();
  }

  /** `prepareNts`, `answerNts` and `finishNts` for one request (0: not answered in place). */
  answerNtsOne(
    req: Uint8Array,
    from: Endpoint,
    rxSec: number,
    rxNsec: number,
    nowSec: number,
    nowNsec: number,
    out: Uint8Array,
    head: DataView,
  ): number {
    this.one[0] = { data: req, length: req.length };
    this.prepareNts(this.one, 1);
    const n = this.takesNts(0) ? this.answerNts(0, req, from, rxSec, rxNsec, nowSec, nowNsec, out, head) : 0;
    this.finishNts();
    return n;
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
    // `a` is this call's own object: completed in place rather than copied.
    const out: WorkerAnswer = a;
    out.bytes = a.send.bytes;
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
