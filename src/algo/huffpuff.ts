/**
 * The huff-n'-puff filter (ntpd, described in RFC 5905's companion documentation and the ntpd
 * `tinker huffpuff` option): with asymmetric congestion the delay of one direction grows and the
 * offset shifts by half of the extra delay. The filter keeps the minimum delay seen over a window
 * (a ring of slots, each covering `slot` seconds) and corrects the offset by half the excess delay,
 * towards zero, never past it.
 */

export class HuffPuff {
  private readonly ring: number[];
  private readonly slot: number;
  private index = 0;
  private slotStart: number | null = null;

  /** @param window seconds covered by the filter; @param slot seconds per slot (ntpd: 900). */
  constructor(window: number, slot = 900) {
    const n = Math.max(1, Math.ceil(window / slot));
    this.slot = window / n;
    this.ring = new Array<number>(n).fill(Number.POSITIVE_INFINITY);
  }

  /** Records a delay sample at time `now` (monotonic seconds). */
  add(now: number, delay: number): void {
    if (this.slotStart === null) this.slotStart = now;
    while (now - this.slotStart >= this.slot) {
      this.index = (this.index + 1) % this.ring.length;
      this.ring[this.index] = Number.POSITIVE_INFINITY;
      this.slotStart += this.slot;
    }
    const cur = this.ring[this.index] ?? Number.POSITIVE_INFINITY;
    if (delay < cur) this.ring[this.index] = delay;
  }

  /** The minimum delay over the window. */
  minDelay(): number {
    return Math.min(...this.ring);
  }

  /** The corrected offset for a sample with this offset and delay. */
  correct(offset: number, delay: number): number {
    const min = this.minDelay();
    if (!Number.isFinite(min)) return offset;
    const excess = Math.max(0, (delay - min) / 2);
    if (offset > 0) return offset - Math.min(excess, offset);
    return offset + Math.min(excess, -offset);
  }
}
