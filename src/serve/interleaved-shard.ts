/**
 * A server worker's interleaved-mode state (RFC 9769) in fixed typed arrays: the table of recent
 * exchanges (client address, our receive timestamp, the kernel transmit timestamp of our reply)
 * and the replies whose kernel transmit stamps are still awaited, matched by the number the
 * kernel gives each stamped datagram (SO_TIMESTAMPING OPT_ID).
 *
 * The table is direct-mapped by a hash of our receive timestamp: saving an exchange overwrites
 * whatever held its slot, so memory does not depend on the number of clients and nothing is
 * allocated per reply; a client whose entry was overwritten gets a basic answer, which is how it
 * finds out and tries again (as with the main thread's ring, src/assoc/server.ts). Lookups compare
 * the full timestamp and the address, so a collision never pairs a client with another's stamp.
 *
 * A stamp is believed only for the datagram whose number it carries, sent in the current counter
 * epoch (the counter restarts after a send that may have skipped a number), and only if it lies
 * within the time its batch's sendmmsg ran (a software stamp is taken in that call; a later one
 * is allowed `lateSlackNs` for a queueing driver). Everything is numbers: timestamps as (seconds,
 * 32-bit fraction), CLOCK_REALTIME as nanoseconds since a base the caller chooses.
 */

const EMPTY = 0;
const RX_ONLY = 1;
const WITH_TX = 2;

function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n && p < 1 << 24) p <<= 1;
  return p;
}

export class InterleavedShard {
  readonly size: number;
  private readonly mask: number;
  private readonly addr: string[];
  private readonly state: Uint8Array;
  private readonly rxS: Uint32Array;
  private readonly rxF: Uint32Array;
  private readonly txS: Uint32Array;
  private readonly txF: Uint32Array;
  private used = 0;

  /** `size` slots at least (rounded up to a power of two); 0: no interleaved mode. */
  constructor(size: number) {
    this.size = size <= 0 ? 0 : pow2AtLeast(size);
    this.mask = Math.max(0, this.size - 1);
    const n = Math.max(1, this.size);
    this.addr = new Array<string>(n).fill('');
    this.state = new Uint8Array(n);
    this.rxS = new Uint32Array(n);
    this.rxF = new Uint32Array(n);
    this.txS = new Uint32Array(n);
    this.txF = new Uint32Array(n);
  }

  private slotOf(sec: number, frac: number): number {
    return (Math.imul(frac ^ Math.imul(sec, 0x85ebca6b), 0x9e3779b1) >>> 8) & this.mask;
  }

  /** Saves the exchange with our receive timestamp (sec, frac); returns its slot (-1: no table). */
  save(address: string, sec: number, frac: number): number {
    if (this.size === 0) return -1;
    const k = this.slotOf(sec, frac);
    if (this.state[k] === EMPTY) this.used++;
    this.addr[k] = address;
    this.rxS[k] = sec;
    this.rxF[k] = frac;
    this.state[k] = RX_ONLY;
    return k;
  }

  /** The slot holding `address`'s exchange received at (sec, frac), or -1. */
  find(address: string, sec: number, frac: number): number {
    if (this.size === 0) return -1;
    const k = this.slotOf(sec, frac);
    if (this.state[k] === EMPTY || this.rxS[k] !== sec >>> 0 || this.rxF[k] !== frac >>> 0) return -1;
    return this.addr[k] === address ? k : -1;
  }

  /** Whether the reply of the exchange in `slot` has its transmit timestamp. */
  hasTx(slot: number): boolean {
    return slot >= 0 && this.state[slot] === WITH_TX;
  }

  txSec(slot: number): number {
    return this.txS[slot] ?? 0;
  }

  txFrac(slot: number): number {
    return this.txF[slot] ?? 0;
  }

  /** Records the transmit timestamp of the reply saved in `slot`, if that exchange is still there. */
  setTx(slot: number, rxSec: number, rxFrac: number, txSec: number, txFrac: number): boolean {
    if (slot < 0 || slot >= this.size || this.state[slot] === EMPTY) return false;
    if (this.rxS[slot] !== rxSec >>> 0 || this.rxF[slot] !== rxFrac >>> 0) return false;
    this.txS[slot] = txSec;
    this.txF[slot] = txFrac;
    this.state[slot] = WITH_TX;
    return true;
  }

  /** Slots in use. */
  count(): number {
    return this.used;
  }

  /** Forgets every exchange (after a clock step: their transmit times are on the old clock). */
  clear(): void {
    this.state.fill(EMPTY);
    this.used = 0;
  }
}

/** What a matched stamp belongs to. */
export interface StampOwner {
  slot: number;
  rxSec: number;
  rxFrac: number;
}

/**
 * Replies sent with a request for their kernel transmit stamp, by the counter number the kernel
 * gives them (in send order, from 0 after each restart), in a ring of `capacity` entries.
 */
export class PendingStamps {
  private readonly mask: number;
  private readonly id: Float64Array;
  private readonly epochOf: Uint32Array;
  private readonly slot: Int32Array;
  private readonly rxS: Uint32Array;
  private readonly rxF: Uint32Array;
  private readonly start: Float64Array;
  private readonly end: Float64Array;
  private epoch = 1;
  private nextId = 0;
  /** First number of the batch being sent (its window end is set by `sent`). */
  private batchFirst = 0;
  private waiting = 0;
  /** Stamps matched, and stamps not believed (unknown number, old epoch, outside the window). */
  matched = 0;
  rejected = 0;

  constructor(
    capacity = 4096,
    private readonly lateSlackNs = 5_000_000,
  ) {
    const n = pow2AtLeast(capacity);
    this.mask = n - 1;
    this.id = new Float64Array(n).fill(-1);
    this.epochOf = new Uint32Array(n);
    this.slot = new Int32Array(n);
    this.rxS = new Uint32Array(n);
    this.rxF = new Uint32Array(n);
    this.start = new Float64Array(n);
    this.end = new Float64Array(n);
  }

  /** Stamps awaited (an upper bound: some may never come). */
  outstanding(): number {
    return this.waiting;
  }

  /** A new batch is about to be sent at realtime `startNs` (read before sendmmsg). */
  begin(startNs: number): void {
    this.batchFirst = this.nextId;
    this.batchStart = startNs;
  }

  private batchStart = 0;

  /** A stamped reply queued in the batch: the exchange in `slot` received at (rxSec, rxFrac). */
  add(slot: number, rxSec: number, rxFrac: number): void {
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0;
    const k = id & this.mask;
    if (this.id[k] !== -1 && this.epochOf[k] === this.epoch) this.waiting--;
    this.id[k] = id;
    this.epochOf[k] = this.epoch;
    this.slot[k] = slot;
    this.rxS[k] = rxSec;
    this.rxF[k] = rxFrac;
    this.start[k] = this.batchStart;
    this.end[k] = Number.POSITIVE_INFINITY;
    this.waiting++;
  }

  /** The batch's sendmmsg returned at realtime `endNs`. */
  sent(endNs: number): void {
    for (let id = this.batchFirst; id !== this.nextId; id = (id + 1) >>> 0) {
      const k = id & this.mask;
      if (this.id[k] === id) this.end[k] = endNs;
    }
  }

  /**
   * The counter may have skipped a number: forget everything awaited and count from 0 again
   * (the caller restarts the kernel's counter at the same time).
   */
  restart(): void {
    this.epoch = (this.epoch + 1) >>> 0 || 1;
    this.nextId = 0;
    this.batchFirst = 0;
    this.waiting = 0;
  }

  /**
   * The owner of the stamp numbered `id` taken at realtime `stampNs`, into `out`; false when the
   * stamp is not believed (then it is counted in `rejected`).
   */
  match(id: number, stampNs: number, out: StampOwner): boolean {
    const k = id & this.mask;
    if (this.id[k] !== id || this.epochOf[k] !== this.epoch) {
      this.rejected++;
      return false;
    }
    const start = this.start[k] ?? 0;
    const end = this.end[k] ?? 0;
    if (!(stampNs >= start && stampNs <= end + this.lateSlackNs)) {
      // Not this datagram's (a number of an earlier epoch): its own stamp may still come.
      this.rejected++;
      return false;
    }
    this.id[k] = -1;
    this.waiting = Math.max(0, this.waiting - 1);
    out.slot = this.slot[k] ?? -1;
    out.rxSec = this.rxS[k] ?? 0;
    out.rxFrac = this.rxF[k] ?? 0;
    this.matched++;
    return true;
  }
}
