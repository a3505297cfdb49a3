/**
 * Rejected datagrams in the log: counted per sender and reason and reported in rate-limited summary
 * lines ("rejected datagrams", with the count), never one line per datagram, so a flood of hostile
 * packets cannot flood the log.
 */
import type { Action, Endpoint } from '../system/types.js';
import type { Logger } from './log.js';

export interface RejectLogOptions {
  /** At most one report per this many ms. Default 60,000. */
  intervalMs?: number;
  /** A report waits this long after the first rejection of a quiet period, to gather a burst. Default 1,000. */
  gatherMs?: number;
  /** Lines per report naming a sender and reason; the rest are summed in one line. Default 10. */
  maxLines?: number;
  /** Distinct (sender, reason, source) entries counted between reports; beyond, only summed. Default 4,096. */
  maxEntries?: number;
  /** Milliseconds on any monotonic scale. Default performance.now. */
  now?: () => number;
}

interface Entry {
  from: string | null;
  reason: string;
  sourceId: string | null;
  count: number;
}

/** Counts rejections and writes them as summaries on a timer (unref'd: it never keeps the process alive). */
export class RejectLog {
  private readonly entries = new Map<string, Entry>();
  /** Rejections not given an entry because the table was full. */
  private unlisted = 0;
  private periodStart = 0;
  private lastReport = Number.NEGATIVE_INFINITY;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly intervalMs: number;
  private readonly gatherMs: number;
  private readonly maxLines: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(
    private readonly log: Logger,
    opts: RejectLogOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 60_000;
    this.gatherMs = opts.gatherMs ?? 1_000;
    this.maxLines = opts.maxLines ?? 10;
    this.maxEntries = opts.maxEntries ?? 4_096;
    this.now = opts.now ?? (() => performance.now());
  }

  /** Counts one rejection: `from` is the sender's address (null when not from a datagram). */
  record(from: string | null, reason: string, sourceId: string | null = null): void {
    const key = `${from ?? ''}\u0000${reason}\u0000${sourceId ?? ''}`;
    const e = this.entries.get(key);
    if (e !== undefined) e.count++;
    else if (this.entries.size < this.maxEntries) this.entries.set(key, { from, reason, sourceId, count: 1 });
    else this.unlisted++;
    this.schedule();
  }

  /**
   * Takes the `reject` events out of the actions a datagram from `from` produced, counting them
   * here; returns the other actions (the daemon's one-line hook on its packet path).
   */
  take(actions: Action[], from: Endpoint): Action[] {
    if (!actions.some((a) => a.kind === 'event' && a.event.kind === 'reject')) return actions;
    return actions.filter((a) => {
      if (a.kind !== 'event' || a.event.kind !== 'reject') return true;
      this.record(from.address, a.event.reason, a.event.sourceId);
      return false;
    });
  }

  /** Rejections counted and not yet reported. */
  pending(): number {
    let n = this.unlisted;
    for (const e of this.entries.values()) n += e.count;
    return n;
  }

  /** Writes the report now (what the timer does): the busiest entries one per line, the rest summed. */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const total = this.pending();
    if (total === 0) return;
    const now = this.now();
    const seconds = Math.round((now - this.periodStart) / 100) / 10;
    const sorted = [...this.entries.values()].sort((a, b) => b.count - a.count);
    for (const e of sorted.slice(0, this.maxLines)) {
      this.log.info('rejected datagrams', {
        from: e.from ?? undefined,
        reason: e.reason,
        sourceId: e.sourceId ?? undefined,
        count: e.count,
        seconds,
      });
    }
    const rest = sorted.slice(this.maxLines);
    if (rest.length > 0 || this.unlisted > 0) {
      const senders = new Set(rest.map((e) => e.from));
      this.log.info('rejected datagrams', {
        others: true,
        senders: senders.size + (this.unlisted > 0 ? 1 : 0),
        count: rest.reduce((n, e) => n + e.count, 0) + this.unlisted,
        seconds,
      });
    }
    this.entries.clear();
    this.unlisted = 0;
    this.lastReport = now;
  }

  /** Reports what is pending and stops the timer (daemon stop). */
  close(): void {
    this.flush();
  }

  private schedule(): void {
    if (this.timer !== null) return;
    const now = this.now();
    this.periodStart = now;
    const wait = Math.max(this.gatherMs, this.lastReport + this.intervalMs - now);
    this.timer = setTimeout(() => this.flush(), wait);
    this.timer.unref?.();
  }
}
