/**
 * Structured logs: one JSON object per line (`{"ts":"…","level":"info","msg":"…",…fields}`), or a
 * human `text` form. Written to stderr by default; tests pass their own sink.
 */
import type { LogLevel } from '../config/types.js';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** Changes the threshold at run time (`ntpkit log-level`); loggers that cannot, omit it. */
  setLevel?(level: LogLevel): void;
}

function jsonSafe(_k: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Error) return { message: v.message, code: (v as NodeJS.ErrnoException).code };
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  return v;
}

export function createLogger(
  opts: { level: LogLevel; format: 'json' | 'text' },
  sink: (line: string) => void = (l) => process.stderr.write(l),
): Logger {
  let min = ORDER[opts.level];
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (ORDER[level] < min) return;
    const ts = new Date().toISOString();
    if (opts.format === 'json') {
      sink(`${JSON.stringify({ ts, level, msg, ...fields }, jsonSafe)}\n`);
    } else {
      const extra = fields === undefined ? '' : ` ${JSON.stringify(fields, jsonSafe)}`;
      sink(`${ts} ${level.toUpperCase().padEnd(5)} ${msg}${extra}\n`);
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    setLevel: (level) => {
      min = ORDER[level];
    },
  };
}

/** A logger that discards everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
