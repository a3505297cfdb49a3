/**
 * Repeated warnings about one source (a name that does not resolve, NTS-KE failing, kisses) written
 * at most once per interval per source and message, the next line carrying how many were held back
 * (`repeated`), so that a failing source does not log one line per poll.
 */
import type { LogFields, Logger } from './log.js';

export interface LogLimiterOptions {
  /** At most one line per (source, message) per this many ms. Default 600,000 (10 min). */
  intervalMs?: number;
  /** Distinct (source, message) pairs remembered; beyond, the oldest is forgotten. Default 1,024. */
  maxKeys?: number;
  /** Milliseconds on a monotonic scale. Default performance.now. */
  now?: () => number;
}

interface Entry {
  last: number;
  held: number;
}

type Level = 'debug' | 'info' | 'warn' | 'error';

export class LogLimiter {
  private readonly entries = new Map<string, Entry>();
  private readonly intervalMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  /** `log` is read at each line (the daemon's logger changes on reload). */
  constructor(
    private readonly log: () => Logger,
    opts: LogLimiterOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 600_000;
    this.maxKeys = opts.maxKeys ?? 1024;
    this.now = opts.now ?? (() => performance.now());
  }

  /** A logger whose lines about `source` are rate-limited (per message text). */
  for(source: string): Logger {
    const emit = (level: Level) => (msg: string, fields?: LogFields) => this.emit(level, source, msg, fields);
    return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
  }

  /**
   * The condition about `source` cleared (it resolved, answered, …): its next warning is written
   * at once, and a held-back count is reported now.
   */
  clear(source: string): void {
    const prefix = `${source}\u0000`;
    for (const [k, e] of this.entries) {
      if (!k.startsWith(prefix)) continue;
      if (e.held > 0)
        this.log().info('repeated warnings ended', {
          source,
          message: k.slice(prefix.length),
          repeated: e.held,
        });
      this.entries.delete(k);
    }
  }

  private emit(level: Level, source: string, msg: string, fields?: LogFields): void {
    const key = `${source}\u0000${msg}`;
    const now = this.now();
    const e = this.entries.get(key);
    if (e !== undefined && now - e.last < this.intervalMs) {
      e.held++;
      return;
    }
    const extra =
      e !== undefined && e.held > 0
        ? { repeated: e.held, repeatedSeconds: Math.round((now - e.last) / 1000) }
        : {};
    this.log()[level](msg, { ...fields, ...extra });
    this.entries.delete(key);
    this.entries.set(key, { last: now, held: 0 });
    if (this.entries.size > this.maxKeys) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }
}
