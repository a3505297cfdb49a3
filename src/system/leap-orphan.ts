/**
 * The engine's leap-second and orphan-mode steps (leap-control.ts, orphan.ts) over what they need of
 * it: the header we serve, the orphan selection, the leap update, and their snapshot fields.
 */
import type { Association } from '../assoc/association.js';
import type { ServerState } from '../assoc/server.js';
import { addressRefid } from '../assoc/util.js';
import type { RawTime } from '../clock/types.js';
import type { CryptoProvider } from '../wire/crypto.js';
import type { Peer } from './candidates.js';
import type { LeapControl } from './leap-control.js';
import { type Entry, fitness, type MitigationEnv, type Verdict } from './mitigation.js';
import { type OrphanState, orphanEntries, orphanServerState } from './orphan.js';
import type { SystemSnapshot } from './snapshot.js';
import type { SystemVariables } from './sysvars.js';
import type { SystemConfig, SystemEvent } from './types.js';

/** What the leap and orphan steps need of the engine. */
export interface LeapOrphanHost {
  readonly config: SystemConfig;
  readonly vars: SystemVariables;
  readonly leapControl: LeapControl;
  readonly orphan: OrphanState | null;
  readonly crypto: CryptoProvider;
  assocs(): Iterable<Association>;
  hasSysPeer(): boolean;
  emit(e: SystemEvent): void;
}

/** We serve as the orphan parent: orphan mode on, no parent to follow, synchronised before. */
export function isOrphanParent(h: LeapOrphanHost): boolean {
  const o = h.orphan;
  return o?.active === true && o.parent === null && h.vars.updateRaw !== null;
}

/** Our system variables as advertised, with the voted leap indicator (orphan parent: the orphan stratum). */
export function servedState(h: LeapOrphanHost, raw: RawTime): ServerState {
  if (isOrphanParent(h) && h.orphan !== null)
    return orphanServerState(h.vars, raw, h.orphan.stratum, h.config, h.leapControl.indicator(raw));
  const st = h.vars.serverState(raw, h.hasSysPeer());
  // The leap indicator we serve comes from the vote (LeapControl), not from the system peer.
  if (st.leap !== 3) st.leap = h.leapControl.indicator(raw);
  return st;
}

/** Orphan mode (orphan.ts): the entries to select from, or null when we are the orphan parent. */
export function orphanSelect(
  h: LeapOrphanHost,
  raw: RawTime,
  entries: Entry<Peer>[],
  env: MitigationEnv,
  verdicts: Map<string, Verdict>,
): Entry<Peer>[] | null {
  const o = h.orphan;
  if (o === null) return entries;
  // Our metric towards a source: the local address its packets arrive at (ntpd's dstadr); unknown
  // (nothing received yet) is the highest, as ntpd takes it.
  const r = orphanEntries(
    entries,
    (e) => fitness(e.source, e.rules, raw, env) === null,
    o.stratum,
    h.vars.updateRaw !== null,
    (a) => ({
      refid: addressRefid(a.cfg.address, h.crypto),
      localRefid: a.localAddress === null ? 0xffffffff : addressRefid(a.localAddress, h.crypto),
    }),
  );
  for (const [id, verdict] of r.verdicts) verdicts.set(id, verdict);
  const msg = o.set(r.active, r.parent);
  if (msg !== null) h.emit({ kind: 'orphan', active: r.active, message: msg });
  return r.entries;
}

/**
 * The leap vote and the clock layer (`electorate`: the selectable sources); a leap carried out moves
 * the in-flight exchanges onto UTC after it.
 */
export function leapUpdate(
  h: LeapOrphanHost,
  raw: RawTime,
  survivors: number[] | null,
  electorate: number,
): void {
  // An unsynchronised clock's date says nothing about this month's leap (nor the list's expiry).
  const synced = h.vars.announcement(raw, h.hasSysPeer()).synchronised || isOrphanParent(h);
  if (!synced && h.config.localStratum === null && h.leapControl.clock.scheduled() === null) return;
  const events = h.leapControl.engineUpdate(raw, survivors, electorate, (by, before) => {
    for (const a of h.assocs()) a.shiftLocalTimes(by, before);
  });
  for (const e of events) h.emit(e);
}

/** The snapshot's leap and orphan fields. */
export function leapOrphanSnapshot(
  h: LeapOrphanHost,
  raw: RawTime,
): Pick<SystemSnapshot, 'leapPending' | 'taiUtc' | 'leapMode' | 'smearing' | 'orphan'> {
  const o = h.orphan;
  return {
    leapPending: h.leapControl.pending(),
    taiUtc: h.leapControl.vote.taiUtc(h.leapControl.clock.utc.read(raw)),
    leapMode: h.leapControl.clock.mode,
    smearing: h.leapControl.clock.smearing(raw),
    orphan: o === null ? null : { stratum: o.stratum, active: o.active, parent: o.parent },
  };
}
