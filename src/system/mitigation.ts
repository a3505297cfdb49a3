/**
 * The mitigation chain as one pure function (RFC 5905 sections 11.2-11.3): fitness, selection,
 * cluster and combine over candidates that may be network associations or reference clocks.
 */
import { cluster, merit } from '../algo/cluster.js';
import { combine } from '../algo/combine.js';
import { MINDISP, PHI } from '../algo/constants.js';
import type { FilterOutput } from '../algo/filter.js';
import { intersect } from '../algo/select.js';
import { type ClockSample, type Discipline, type RawTime, rawSeconds } from '../clock/types.js';
import type { SelectionVerdict } from './snapshot.js';
import type { SystemConfig } from './types.js';

/** A selection verdict with the reason shown beside it. */
export interface Verdict {
  verdict: SelectionVerdict;
  reason: string;
}

/** What the selection reads of a source (an Association or a RefclockSource). */
export interface Candidate {
  readonly id: string;
  readonly cfg: { readonly noselect: boolean; readonly prefer: boolean };
  readonly reach: number;
  readonly leap: number;
  readonly stratum: number;
  readonly rootDelay: number;
  readonly rootDispersion: number;
  /** Poll exponent of the source. */
  readonly hpoll: number;
  /** Epoch (raw seconds) of the newest filter output handed to the selection. */
  readonly selectEpoch: number;
  output(): FilterOutput | null;
  rootDistance(raw: RawTime): number;
}

/** What a kind of source adds to the common fitness tests (peer_unfit()). */
export interface CandidateRules {
  /** The reason shown when the reachability register is empty. */
  unreachable: string;
  /** The reason shown while there is no filter output. */
  waiting: string;
  /** What the source is called in the leap-3 reason ('source', 'reference'). */
  noun: string;
  /** chrony `trust`: when any candidate is trusted, only the trusted ones vote. */
  trusted: boolean;
  /** A verdict of this kind of source tested after noselect, before the common tests. */
  early?: () => Verdict | null;
  /** A verdict of this kind of source tested after the common tests. */
  late?: () => Verdict | null;
}

/** A candidate with the rules of its kind. */
export interface Entry<C extends Candidate = Candidate> {
  source: C;
  rules: CandidateRules;
}

/** The system state the mitigation reads. */
export interface MitigationEnv {
  config: Pick<
    SystemConfig,
    'minSane' | 'minClock' | 'maxClock' | 'maxDistance' | 'maxJitter' | 'maxStratum'
  >;
  /** The discipline's poll exponent (the distance threshold grows with it). */
  pollExponent: number;
  /** The current system peer's id. */
  sysPeer: string | null;
  /** A candidate's filter output offset referred to `raw` (offsetNow below). */
  offsetNow: (c: Candidate, raw: RawTime) => number;
}

export interface MitigationResult<C extends Candidate> {
  /** Verdicts to record, in order. */
  verdicts: [string, Verdict][];
  /** The system peer chosen (null: none). */
  sysPeer: C | null;
  /** The combined offset and selection jitter referred to the system peer's sample (null: no update). */
  update: { offset: number; jitter: number } | null;
  /** The survivors of selection and clustering (null: the selection failed); the leap vote counts them. */
  survivors: C[] | null;
}

/** Fitness of a source for selection (RFC 5905 section 11.2 / A.5.5 peer_unfit()); null: fit. */
export function fitness(
  c: Candidate,
  rules: CandidateRules,
  raw: RawTime,
  env: Pick<MitigationEnv, 'config' | 'pollExponent'>,
): Verdict | null {
  if (c.cfg.noselect) return { verdict: 'noselect', reason: 'configured noselect' };
  const early = rules.early?.() ?? null;
  if (early !== null) return early;
  if (c.reach === 0) return { verdict: 'unreachable', reason: rules.unreachable };
  if (c.output() === null) return { verdict: 'pending', reason: rules.waiting };
  if (c.leap === 3) return { verdict: 'unsynchronised', reason: `${rules.noun} is unsynchronised (leap 3)` };
  const { maxStratum, maxDistance } = env.config;
  if (c.stratum >= maxStratum || c.stratum >= 16)
    return { verdict: 'bad-stratum', reason: `stratum ${c.stratum} not below ${Math.min(16, maxStratum)}` };
  const dist = c.rootDistance(raw);
  const limit = maxDistance + PHI * 2 ** env.pollExponent;
  if (dist > limit)
    return {
      verdict: 'bad-distance',
      reason: `root distance ${dist.toFixed(6)} s over ${limit.toFixed(3)} s`,
    };
  // chrony's maxjitter: a source whose offsets scatter this much says little about the time.
  const jitter = c.output()?.jitter ?? 0;
  if (jitter > env.config.maxJitter)
    return {
      verdict: 'jittery',
      reason: `jitter ${jitter.toFixed(6)} s over ${env.config.maxJitter.toFixed(3)} s`,
    };
  return rules.late?.() ?? null;
}

/**
 * The intersection algorithm; with trusted candidates (chrony `trust`) only they vote, and the others
 * are truechimers when their correctness interval overlaps the trusted intersection.
 */
function select(entries: Entry[], raw: RawTime, env: MitigationEnv): ReturnType<typeof intersect> {
  const interval = (e: Entry) => ({
    id: e.source.id,
    offset: env.offsetNow(e.source, raw),
    rootDistance: e.source.rootDistance(raw),
  });
  const { minSane } = env.config;
  const trust = entries.filter((e) => e.rules.trusted);
  if (trust.length === 0) return intersect(entries.map(interval), minSane);
  const ts = intersect(trust.map(interval), 1);
  if (!ts.ok) return intersect(entries.map(interval), minSane);
  const truechimers: string[] = [];
  const falsetickers: string[] = [];
  for (const c of entries.map(interval)) {
    if (c.offset + c.rootDistance < ts.low || c.offset - c.rootDistance > ts.high) falsetickers.push(c.id);
    else truechimers.push(c.id);
  }
  if (truechimers.length < minSane) return { ...ts, ok: false, truechimers: [], falsetickers };
  return { ...ts, truechimers, falsetickers };
}

/** The mitigation chain: fitness, selection, cluster, system peer choice and combine. */
export function mitigate<C extends Candidate>(
  entries: Entry<C>[],
  raw: RawTime,
  env: MitigationEnv,
): MitigationResult<C> {
  const { minSane, minClock, maxClock, maxDistance } = env.config;
  const verdicts: [string, Verdict][] = [];
  const fit: Entry<C>[] = [];
  for (const e of entries) {
    const f = fitness(e.source, e.rules, raw, env);
    if (f === null) fit.push(e);
    else verdicts.push([e.source.id, f]);
  }
  const none = { verdicts, sysPeer: null, update: null, survivors: null };
  const byId = new Map<string, C>(fit.map((e) => [e.source.id, e.source]));
  const sel = select(fit, raw, env);
  if (!sel.ok) {
    for (const e of fit)
      verdicts.push([
        e.source.id,
        {
          verdict: 'falseticker',
          reason:
            fit.length < minSane
              ? `fewer than ${minSane} selectable sources`
              : `no majority of ${fit.length} sources agrees`,
        },
      ]);
    return none;
  }
  for (const id of sel.falsetickers)
    verdicts.push([
      id,
      {
        verdict: 'falseticker',
        reason: `outside the intersection [${sel.low.toFixed(6)}, ${sel.high.toFixed(6)}] s of ${sel.truechimers.length} truechimers`,
      },
    ]);
  const chosen = (ids: string[]) => ids.map((id) => byId.get(id)).filter((a): a is C => a !== undefined);
  const cands = chosen(sel.truechimers).map((a) => ({
    id: a.id,
    offset: env.offsetNow(a, raw),
    jitter: a.output()?.jitter ?? 0,
    stratum: a.stratum,
    rootDistance: a.rootDistance(raw),
    prefer: a.cfg.prefer,
  }));
  cands.sort((x, y) => merit(x, maxDistance) - merit(y, maxDistance));
  const kept = cands.slice(0, maxClock);
  for (const c of cands.slice(maxClock))
    verdicts.push([c.id, { verdict: 'excess', reason: `beyond maxclock ${maxClock}` }]);
  const cl = cluster(kept, minClock, maxDistance);
  for (const id of cl.outliers)
    verdicts.push([
      id,
      { verdict: 'outlier', reason: 'discarded by the cluster algorithm (largest selection jitter)' },
    ]);
  const survivors = chosen(cl.survivors);
  // System peer: a preferred survivor, else the current system peer while it survives (avoids
  // clock hopping), else the survivor with the best merit.
  const peer =
    survivors.find((a) => a.cfg.prefer) ?? survivors.find((a) => a.id === env.sysPeer) ?? survivors[0];
  if (peer === undefined) return { ...none, survivors };
  for (const a of survivors)
    verdicts.push([
      a.id,
      a === peer
        ? { verdict: 'sys-peer', reason: 'selected as system peer' }
        : { verdict: 'combined', reason: `survivor combined with ${survivors.length - 1} others` },
    ]);
  const po = peer.output();
  if (po === null) return { verdicts, sysPeer: peer, update: null, survivors };
  // The survivors' offsets are combined at a common instant (now); the result is referred back to
  // the system peer's sample, which is what the discipline gets (an offset measured then).
  const peerNow = env.offsetNow(peer, raw);
  const comb = combine(
    survivors.map((a) => ({ offset: env.offsetNow(a, raw), rootDistance: a.rootDistance(raw) })),
    peerNow,
  );
  return {
    verdicts,
    sysPeer: peer,
    update: { offset: comb.offset + (po.offset - peerNow), jitter: comb.jitter },
    survivors,
  };
}

/**
 * What clock_update() hands the discipline (RFC 5905 section 11.3): the combined offset with the
 * system peer's sample, jitter and root values through it; null without a filter output.
 */
export function clockSample(
  peer: Candidate & { readonly id: string },
  raw: RawTime,
  offset: number,
  selJitter: number,
  /** The dispersion to use instead of the filter output's (a filter filling after a clear). */
  dispersion: number | null = null,
): ClockSample | null {
  const po = peer.output();
  if (po === null) return null;
  const jitter = Math.sqrt(po.jitter ** 2 + selJitter ** 2);
  const age = Math.max(0, rawSeconds(raw) - po.epoch);
  return {
    raw: po.raw ?? raw,
    now: raw,
    offset,
    jitter,
    rootDelay: peer.rootDelay + po.delay,
    rootDispersion: Math.max(
      MINDISP,
      peer.rootDispersion + (dispersion ?? po.dispersion) + jitter + PHI * age + Math.abs(po.offset),
    ),
    poll: peer.hpoll,
    sourceId: peer.id,
  };
}

/**
 * A source's filter output offset referred to `raw` (now) through the corrections the discipline
 * made to the clock since that sample was measured (`Discipline.offsetAt`). Filter outputs are of
 * different ages (the clock filter keeps the lowest-delay of the last eight samples): while the clock
 * is being slewed, an older sample measured against the clock before the correction would otherwise
 * disagree with a fresh one by the correction made in between (the start-up transient: tens of ms).
 */
export function offsetNow(d: Pick<Discipline, 'offsetAt'>, a: Candidate, raw: RawTime): number {
  const o = a.output();
  if (o === null) return 0;
  if (d.offsetAt === undefined || o.raw === undefined || o.raw > raw) return o.offset;
  return d.offsetAt(o.raw, o.offset, raw);
}
