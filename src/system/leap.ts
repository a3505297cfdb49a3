/**
 * The leap-second vote: which leap (if any) is scheduled for the end of this month, from the sources
 * that survive selection and the leap-second list. A network announcement counts only when more than
 * half of the survivors make it, or when the list agrees; a scheduled leap the list confirms cannot be
 * cancelled over the network, one the network scheduled only after a majority has said "no leap" for
 * an hour (so that servers which stop announcing early do not cancel it).
 */
import { type LeapKind, type LeapList, leapListExpired, listLeapAt, taiUtcAt } from '../time/leap-list.js';
import { civilFromDays, daysFromCivil, type NtpTime, UNIX_EPOCH_NTP_SECONDS } from '../time/ntp-time.js';

/** One day, NTP time units. */
const DAY = 86400n << 32n;
/** A network-only leap is cancelled after a majority has announced none for this long (s). */
export const LEAP_CANCEL_HOLD = 3600;

/** What the engine reports as `system.leapPending`. */
export interface LeapPending {
  kind: LeapKind;
  /** The UTC midnight the leap second precedes (NTP time): 23:59:60 is the second before it. */
  at: NtpTime;
  /** Survivors announcing it, of `sources` survivors at the last selection. */
  votes: number;
  sources: number;
  /** The leap-second list: 'agrees', 'silent' (valid, no leap then), 'expired' or 'none' (no list). */
  list: 'agrees' | 'silent' | 'expired' | 'none';
}

export type LeapVoteChange =
  | { action: 'scheduled'; pending: LeapPending }
  | { action: 'cancelled'; pending: LeapPending; reason: string }
  | { action: 'list-expired'; source: string; expires: NtpTime };

/** The UTC midnight at which the month containing `now` ends (the first of the next month). */
export function monthEndAfter(now: NtpTime): NtpTime {
  const unixS = Number((now >> 32n) - UNIX_EPOCH_NTP_SECONDS);
  const { year, month } = civilFromDays(Math.floor(unixS / 86400));
  const days = daysFromCivil(month === 12 ? year + 1 : year, month === 12 ? 1 : month + 1, 1);
  return (BigInt(days) * 86400n + UNIX_EPOCH_NTP_SECONDS) << 32n;
}

function count(leaps: readonly number[], li: number): number {
  return leaps.filter((l) => l === li).length;
}

const LI: Record<LeapKind, number> = { insert: 1, delete: 2 };

export class LeapVote {
  private list: LeapList | null;
  private pending: LeapPending | null = null;
  private againstSince: NtpTime | null = null;
  private warnedExpired = false;
  /** The midnight of the last leap carried out (never scheduled again). */
  private doneAt: NtpTime | null = null;

  constructor(list: LeapList | null = null) {
    this.list = list;
  }

  /** Replaces the leap-second list (null: none). */
  setList(list: LeapList | null): void {
    this.list = list;
    this.warnedExpired = false;
  }

  leapList(): LeapList | null {
    return this.list;
  }

  /** The scheduled leap, or null. */
  current(): LeapPending | null {
    return this.pending === null ? null : { ...this.pending };
  }

  /** TAI−UTC by the list at `now` (null: no list, or expired). */
  taiUtc(now: NtpTime): number | null {
    const l = this.list;
    return l === null || leapListExpired(l, now) ? null : taiUtcAt(l, now);
  }

  private listState(now: NtpTime): { state: LeapPending['list']; kind: LeapKind | null } {
    const l = this.list;
    if (l === null) return { state: 'none', kind: null };
    if (leapListExpired(l, now)) return { state: 'expired', kind: null };
    const kind = listLeapAt(l, monthEndAfter(now));
    return { state: kind === null ? 'silent' : 'agrees', kind };
  }

  /**
   * Runs the vote at UTC `now`. `survivors`: the leap indicators of the sources that survived the
   * last selection (null: no new selection, only the list and the calendar are looked at).
   * `electorate`: the sources configured for selection; a majority is of at least half of them too, so that a
   * lone survivor (the others' filters still empty after a step) cannot decide for the rest.
   */
  update(now: NtpTime, survivors: readonly number[] | null, electorate = 0): LeapVoteChange[] {
    const out: LeapVoteChange[] = [];
    const l = this.list;
    if (l !== null && leapListExpired(l, now) && !this.warnedExpired) {
      this.warnedExpired = true;
      out.push({ action: 'list-expired', source: l.source, expires: l.expires });
    }
    const end = monthEndAfter(now);
    // A leap whose midnight has passed belongs to the clock layer now (executed or ignored).
    if (this.pending !== null && this.pending.at < end && now >= this.pending.at + DAY) this.pending = null;
    const list = this.listState(now);
    const lastDay = now >= end - DAY;
    const n = Math.max(survivors?.length ?? 0, Math.ceil(electorate / 2));
    let netKind: LeapKind | null = null;
    if (survivors !== null && lastDay && n > 0) {
      if (2 * count(survivors, 1) > n) netKind = 'insert';
      else if (2 * count(survivors, 2) > n) netKind = 'delete';
    }
    const p = this.pending;
    if (p === null) {
      const kind = list.kind ?? netKind;
      if (kind === null || (this.doneAt !== null && end <= this.doneAt)) return out;
      this.pending = {
        kind,
        at: end,
        votes: survivors === null ? 0 : count(survivors, LI[kind]),
        sources: n,
        list: list.kind === kind ? 'agrees' : list.state,
      };
      this.againstSince = null;
      out.push({ action: 'scheduled', pending: { ...this.pending } });
      return out;
    }
    p.list = list.kind === p.kind ? 'agrees' : list.state;
    if (survivors === null) return out;
    p.votes = count(survivors, LI[p.kind]);
    p.sources = n;
    if (p.list === 'agrees') {
      this.againstSince = null;
      return out;
    }
    if (n > 0 && 2 * count(survivors, 0) > n) {
      this.againstSince ??= now;
      if (Number((now - this.againstSince) >> 32n) >= LEAP_CANCEL_HOLD) {
        this.pending = null;
        this.againstSince = null;
        out.push({
          action: 'cancelled',
          pending: { ...p },
          reason: `more than half of the survivors announced no leap for ${LEAP_CANCEL_HOLD} s`,
        });
      }
    } else this.againstSince = null;
    return out;
  }

  /** The leap was carried out (or passed): nothing is scheduled any more. */
  done(): void {
    if (this.pending !== null) this.doneAt = this.pending.at;
    this.pending = null;
    this.againstSince = null;
  }

  /** The leap indicator to serve at `now`: the scheduled leap during its last day, else 0. */
  announce(now: NtpTime): number {
    const p = this.pending;
    if (p === null || now < p.at - DAY || now >= p.at) return 0;
    return LI[p.kind];
  }
}
