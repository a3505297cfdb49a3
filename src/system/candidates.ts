/**
 * The sources of the selection (network associations and reference clocks) as mitigation
 * candidates: the fitness rules each kind adds to the common ones, and the start-up quorum.
 */
import type { Association } from '../assoc/association.js';
import { addressRefid } from '../assoc/util.js';
import { RefclockSource } from '../refclock/source.js';
import type { CryptoProvider } from '../wire/crypto.js';
import type { CandidateRules } from './mitigation.js';
import type { Endpoint, SourceMode } from './types.js';

/** A source of the selection: a network association or a reference clock. */
export type Peer = Association | RefclockSource;

/** The fitness rules of a source's kind (`crypto` hashes IPv6 addresses for the loop test). */
export function candidateRules(p: Peer, crypto: CryptoProvider): CandidateRules {
  if (p instanceof RefclockSource)
    return {
      unreachable: 'no good sample in the last 8 polls',
      waiting: 'waiting for a filtered sample',
      noun: 'reference',
      trusted: p.cfg.trust,
    };
  return {
    unreachable: 'no valid packet in the last 8 polls',
    waiting: 'waiting for a valid sample',
    noun: 'source',
    trusted: false,
    early: () => {
      if (p.stopped) return { verdict: 'unreachable', reason: `stopped by kiss code ${p.kod ?? ''}` };
      if (p.reach !== 0 && p.calibrating && p.output() === null)
        return { verdict: 'pending', reason: 'calibrating broadcast delay' };
      return null;
    },
    late: () =>
      p.localAddress !== null && p.stratum > 1 && p.refid === addressRefid(p.localAddress, crypto)
        ? { verdict: 'loop', reason: 'source is synchronised to us' }
        : null,
  };
}

/** More than half of the selectable sources have a clock filter output. */
export function startupQuorum(peers: Iterable<Peer>): boolean {
  let all = 0;
  let answered = 0;
  for (const p of peers) {
    if (p.cfg.noselect) continue;
    all++;
    if (p.output() !== null) answered++;
  }
  return 2 * answered > all;
}

/**
 * RFC 5905 clock_filter(): the system process runs only when an association is not in a burst, so
 * that every source has its burst of samples before the first selection. When a burst ended with its
 * last response lost, the samples it brought are used all the same at the next poll (ntpd runs the
 * selection during bursts while unsynchronised; without this, a start-up burst whose last packet is
 * lost leaves the clock waiting for the next new filter output, many polls later: 930 s instead of
 * 70 s in the loss30 scenario, seed 4).
 */
export class BurstWatch {
  /** Associations seen in a burst (to notice the end of one). */
  private readonly bursting = new Set<string>();
  /** Associations whose burst ended without a selection run since (its last response may be lost). */
  private readonly ended = new Set<string>();

  /** After association `a` ran: true when its ended burst lost its last response with new samples. */
  observe(a: Association, lastUpdateEpoch: number): boolean {
    if (a.inBurst) this.bursting.add(a.id);
    else if (this.bursting.delete(a.id)) this.ended.add(a.id);
    else if (this.ended.delete(a.id)) return a.selectEpoch > lastUpdateEpoch;
    return false;
  }

  /** The selection ran for association `id`. */
  ran(id: string): void {
    this.ended.delete(id);
  }
}

/**
 * The association of one of `modes` for packets from `from`: same address and port, or (unless
 * `matchPort`) the first with the same address.
 */
export function findAssoc(
  assocs: Iterable<Association>,
  from: Endpoint,
  modes: SourceMode[],
  matchPort: boolean,
): Association | undefined {
  let fallback: Association | undefined;
  for (const a of assocs) {
    if (!modes.includes(a.cfg.mode) || a.cfg.address !== from.address) continue;
    if (a.cfg.port === from.port) return a;
    if (!matchPort) fallback = fallback ?? a;
  }
  return fallback;
}
