/**
 * The engine's leap-second hooks in one place: the vote (src/system/leap.ts) drives the clock layer
 * (src/clock/leap.ts), decides the leap indicator we serve, and reports what it did as events.
 */
import { type LeapClock, type LeapExecution, LeapClock as LeapLayer, type LeapMode } from '../clock/leap.js';
import type { LocalClock, RawExchange, RawTime } from '../clock/types.js';
import type { LeapList } from '../time/leap-list.js';
import {
  durationToSeconds,
  formatNtpTime,
  type NtpDuration,
  type NtpTime,
  ntpTimeToUnixNs,
  ONE_SECOND,
  secondsToDuration,
} from '../time/ntp-time.js';
import { type LeapPending, LeapVote, type LeapVoteChange } from './leap.js';
import type { LeapPendingSnapshot, SystemEvent } from './types.js';

/** The second that is inserted (23:59:60) or skipped (23:59:59) as ISO text. */
export function leapSecondText(kind: 'insert' | 'delete', at: NtpTime): string {
  const s = formatNtpTime(at - ONE_SECOND, 0);
  return kind === 'insert' ? s.replace(/:59Z$/, ':60Z') : s;
}

function pendingSnapshot(p: LeapPending): LeapPendingSnapshot {
  return {
    kind: p.kind,
    at: leapSecondText(p.kind, p.at),
    midnight: Number(ntpTimeToUnixNs(p.at) / 1_000_000_000n),
    votes: p.votes,
    sources: p.sources,
    list: p.list,
  };
}

/** How the leap-second list stands on a pending leap, in words (status and log lines). */
export function leapListText(list: LeapPending['list']): string {
  return {
    agrees: 'leap list agrees',
    silent: 'leap list has no leap then',
    expired: 'leap list expired',
    none: 'no leap list',
  }[list];
}

export class LeapControl {
  readonly clock: LeapClock;
  readonly vote: LeapVote;
  private lastSmearNote: NtpTime | null = null;

  constructor(base: LocalClock, mode: LeapMode, smearWindow?: number) {
    this.clock = new LeapLayer(base, smearWindow === undefined ? { mode } : { mode, smearWindow });
    this.vote = new LeapVote();
  }

  setList(list: LeapList | null): void {
    this.vote.setList(list);
  }

  /**
   * Runs the vote (survivors' leap indicators, or null without a new selection), carries out a due
   * leap and returns the events to log.
   */
  update(raw: RawTime, survivors: readonly number[] | null, electorate = 0): SystemEvent[] {
    const out: SystemEvent[] = [];
    const done = this.clock.poll(raw);
    if (done !== null) {
      this.vote.done();
      out.push(...this.executed(done));
    }
    const now = this.clock.utc.read(raw);
    for (const c of this.vote.update(now, survivors, electorate)) out.push(this.changeEvent(c));
    const p = this.vote.current();
    const s = this.clock.scheduled();
    if (p === null && s !== null) this.clock.cancel();
    if (p !== null && (s === null || s.kind !== p.kind || s.at !== p.at)) {
      this.clock.schedule(raw, p.kind, p.at);
      if (this.clock.mode === 'smear' && this.lastSmearNote !== p.at) {
        this.lastSmearNote = p.at;
        out.push({
          kind: 'leap',
          action: 'smear',
          message:
            'serving smeared time around the leap second (LI 0 while smearing); clients that mix this server with unsmeared ones see up to 0.5 s between them',
        });
      }
    }
    return out;
  }

  private executed(e: LeapExecution): SystemEvent[] {
    const what = e.kind === 'insert' ? 'inserted' : 'deleted';
    const how: Record<LeapMode, string> = {
      step: e.kind === 'insert' ? '23:59:59 repeated' : '23:59:59 skipped',
      slew: 'served time slewed by the second from now on',
      smear: 'served time smeared over the window',
      ignore: 'ignored: the clock is left 1 s off until the discipline corrects it',
    };
    const out: SystemEvent[] = [
      {
        kind: 'leap',
        action: 'executed',
        message: `leap second ${what} at ${leapSecondText(e.kind, e.at)} (${e.mode} mode: ${how[e.mode]})`,
      },
    ];
    if (e.mode === 'step')
      out.push({
        kind: 'clock-step',
        offset: e.step,
        reason: e.kind === 'insert' ? 'leap second inserted (23:59:59 repeated)' : 'leap second deleted',
        cause: 'leap',
      });
    return out;
  }

  private changeEvent(c: LeapVoteChange): SystemEvent {
    switch (c.action) {
      case 'list-expired':
        return {
          kind: 'leap',
          action: 'list-expired',
          message: `leap-second list ${c.source} expired at ${formatNtpTime(c.expires, 0)}: not trusted, the network vote alone decides`,
        };
      case 'scheduled':
        return {
          kind: 'leap',
          action: 'scheduled',
          message: `${c.pending.kind} second scheduled at ${leapSecondText(c.pending.kind, c.pending.at)} (${this.votesText(c.pending)})`,
          pending: pendingSnapshot(c.pending),
        };
      case 'cancelled':
        return {
          kind: 'leap',
          action: 'cancelled',
          message: `${c.pending.kind} second at ${leapSecondText(c.pending.kind, c.pending.at)} cancelled: ${c.reason}`,
          pending: pendingSnapshot(c.pending),
        };
    }
  }

  private votesText(p: LeapPending): string {
    const list = leapListText(p.list);
    return p.sources === 0
      ? `no source has voted yet, ${list}`
      : `${p.votes} of ${p.sources} sources, ${list}`;
  }

  /** The leap indicator to serve while synchronised (0 while smearing: the smear absorbs the leap). */
  indicator(raw: RawTime): number {
    if (this.clock.mode === 'smear') return 0;
    return this.vote.announce(this.clock.utc.read(raw));
  }

  /**
   * `update` for the engine: `shift(by, before)` moves the local timestamps read before a leap's
   * counter value onto the UTC after it (in-flight exchanges across the leap stay consistent).
   */
  engineUpdate(
    raw: RawTime,
    survivors: readonly number[] | null,
    electorate: number,
    shift: (by: NtpDuration, before: RawTime) => void,
  ): SystemEvent[] {
    const before = this.clock.lastLeap();
    const events = this.update(raw, survivors, electorate);
    const done = this.clock.lastLeap();
    if (done !== null && done !== before && done.step !== 0) shift(secondsToDuration(done.step), done.raw);
    return events;
  }

  /** A raw exchange with the server's timestamps taken onto the discipline clock's (leap-free) timescale. */
  continuous(x: RawExchange): RawExchange {
    const c = this.clock;
    if (c.lastLeap() === null && c.scheduled() === null) return x;
    return { ...x, tb: c.toContinuous(x.tb, x.tf), te: c.toContinuous(x.te, x.tf) };
  }

  /** Counter value at which the scheduled leap falls due (to wake the engine then), or null. */
  dueRaw(raw: RawTime): RawTime | null {
    const s = this.clock.scheduled();
    if (s === null) return null;
    const left = durationToSeconds(
      (s.kind === 'insert' ? s.at : s.at - ONE_SECOND) - this.clock.utc.read(raw),
    );
    if (left < 0 || left > 86400) return null;
    return raw + BigInt(Math.ceil(left * 1e9));
  }

  /** `system.leapPending`, for the snapshot. */
  pending(): LeapPendingSnapshot | null {
    const p = this.vote.current();
    return p === null ? null : pendingSnapshot(p);
  }

  /** A status line: "insert second at 2016-12-31T23:59:60Z (3 of 4 sources, leap list agrees)". */
  statusText(): string | null {
    const p = this.vote.current();
    return p === null ? null : `${p.kind} second at ${leapSecondText(p.kind, p.at)} (${this.votesText(p)})`;
  }
}
