/**
 * How the daemon logs the engine's events: steps at warn with their size and reason, the start of a
 * large slew, per-source trouble rate-limited with a count, rejected datagrams as summaries.
 */
import type { SystemEvent } from '../system/types.js';
import type { Logger } from './log.js';
import type { LogLimiter } from './log-limiter.js';
import type { RejectLog } from './reject-log.js';

function signed(offset: number): string {
  return `${offset >= 0 ? '+' : ''}${offset.toFixed(6)}`;
}

/** Logs one engine event (the caller acts on it: a panic stops the daemon). */
export function logEvent(e: SystemEvent, log: Logger, limiter: LogLimiter, rejects: RejectLog): void {
  switch (e.kind) {
    case 'clock-panic':
      log.error('clock offset beyond the panic threshold; set the host clock and restart', { ...e });
      return;
    case 'clock-step':
      log.warn(`clock stepped by ${signed(e.offset)} s: ${e.reason}`, { ...e });
      return;
    case 'clock-slew':
      log.info(`clock off by ${signed(e.offset)} s: slewing`, { offset: e.offset, sourceId: e.sourceId });
      return;
    case 'unreachable':
    case 'kod':
      // Per source, at most once per interval with a count (a failing source polls on and on).
      limiter.for(e.sourceId).info(e.kind, { ...e });
      return;
    case 'reachable':
      limiter.clear(e.sourceId);
      log.info(e.kind, { ...e });
      return;
    case 'reject':
      rejects.record(null, e.reason, e.sourceId);
      return;
    case 'leap':
      if (e.action === 'list-expired') log.warn(e.message, { event: 'leap', action: e.action });
      else log.info(e.message, { event: 'leap', action: e.action, pending: e.pending });
      return;
    case 'orphan':
      log.info(e.message, { event: 'orphan', active: e.active });
      return;
    default:
      log.info(e.kind, { ...e });
  }
}
