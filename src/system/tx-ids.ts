/**
 * Transmit ids: the engine tags a send whose precise transmit time it wants, and the host reports
 * the counter value when that packet left (`handleTransmitted`). The table is bounded.
 */
import type { RawTime } from '../clock/types.js';

const MAX_PENDING_TX = 4096;

export class TxIds {
  private readonly pending = new Map<number, (raw: RawTime) => void>();
  private next = 1;

  /** A new id; `onSent` gets the counter value when the packet left. */
  alloc(onSent: (raw: RawTime) => void): number {
    const id = this.next++;
    if (this.next > 0x7fffffff) this.next = 1;
    this.pending.set(id, onSent);
    if (this.pending.size > MAX_PENDING_TX) {
      const first = this.pending.keys().next();
      if (!first.done) this.pending.delete(first.value);
    }
    return id;
  }

  /** The packet tagged `id` left at counter value `raw` (unknown or expired ids are ignored). */
  transmitted(id: number, raw: RawTime): void {
    const f = this.pending.get(id);
    if (f === undefined) return;
    this.pending.delete(id);
    f(raw);
  }
}
