/**
 * The engine's reference clocks (src/refclock): their table, the samples the host reads from the
 * devices, and the polls that hand filtered samples to the selection.
 */
import type { LocalClock, RawTime } from '../clock/types.js';
import { type LockReference, RefclockSource, type SampleResult } from '../refclock/source.js';
import { type RefclockConfig, type RefclockSample, validateRefclockConfig } from '../refclock/types.js';
import { uniqueId } from './defaults.js';
import type { SystemEvent } from './types.js';

export class Refclocks {
  private readonly map = new Map<string, RefclockSource>();

  /**
   * Adds a reference clock; its id is its refid made unique with #n (`taken`: ids of other sources).
   * Throws on an invalid config.
   */
  add(raw: RawTime, cfg: RefclockConfig, taken: (id: string) => boolean): RefclockSource {
    const errs = validateRefclockConfig(cfg);
    if (errs.length > 0)
      throw new RangeError(`refclock ${cfg.refid}: ${errs.map((e) => e.message).join('; ')}`);
    const id = uniqueId(cfg.refid, (x) => taken(x) || this.map.has(x));
    const r = new RefclockSource(id, cfg);
    this.map.set(id, r);
    r.start(raw);
    return r;
  }

  delete(id: string): boolean {
    return this.map.delete(id);
  }

  has(id: string): boolean {
    return this.map.has(id);
  }

  get(id: string): RefclockSource | undefined {
    return this.map.get(id);
  }

  ids(): string[] {
    return [...this.map.keys()];
  }

  values(): IterableIterator<RefclockSource> {
    return this.map.values();
  }

  /** One reading of reference clock `id`, telling whether it was accepted (and why not). */
  sample(
    id: string,
    sample: RefclockSample,
    clock: LocalClock,
  ): SampleResult | { ok: false; reason: 'unknown-refclock' } {
    const r = this.map.get(id);
    if (r === undefined) return { ok: false, reason: 'unknown-refclock' };
    let lock: LockReference | null = null;
    if (r.cfg.lock !== undefined) {
      const l = this.map.get(r.cfg.lock);
      if (l !== undefined) lock = { sample: l.lastSample(), interval: l.driverInterval() };
    }
    return r.addSample(sample, clock, lock);
  }

  /** Runs the due polls; true when one changed what the selection sees. */
  poll(raw: RawTime, emit: (e: SystemEvent) => void): boolean {
    let updated = false;
    for (const r of this.map.values()) {
      if (r.nextPoll === null || r.nextPoll > raw) continue;
      const wasReachable = r.reach !== 0;
      if (r.poll(raw)) {
        updated = true;
        if (!wasReachable) emit({ kind: 'reachable', sourceId: r.id });
      } else if (wasReachable && r.reach === 0) {
        emit({ kind: 'unreachable', sourceId: r.id });
        updated = true;
      }
    }
    return updated;
  }

  /** The earliest poll due, null when none. */
  nextPoll(): RawTime | null {
    let at: RawTime | null = null;
    for (const r of this.map.values())
      if (r.nextPoll !== null && (at === null || r.nextPoll < at)) at = r.nextPoll;
    return at;
  }
}
