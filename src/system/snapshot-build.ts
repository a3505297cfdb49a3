/**
 * Snapshot building: one builder of `SourceSnapshot` for both kinds of source (the measured fields
 * from the candidate the selection sees, the descriptive ones from the association or reference
 * clock), and the `SystemSnapshot` around them.
 */
import { PHI } from '../algo/constants.js';
import type { Association } from '../assoc/association.js';
import type { ServerResponder, ServerState } from '../assoc/server.js';
import { type Discipline, type LocalClock, type RawTime, rawSeconds } from '../clock/types.js';
import type { RefclockSource } from '../refclock/source.js';
import { ntpTimeToUnixNs } from '../time/ntp-time.js';
import { renderRefid } from '../wire/refid.js';
import type { Candidate, Verdict } from './mitigation.js';
import type { NtsServer } from './nts-server.js';
import type { FilterStage, SourceSnapshot, SystemSnapshot } from './snapshot.js';
import type { SystemVariables } from './sysvars.js';

/** The descriptive fields before the measured ones. */
type Head = Pick<
  SourceSnapshot,
  | 'id'
  | 'address'
  | 'port'
  | 'name'
  | 'mode'
  | 'interleaved'
  | 'xleave'
  | 'prefer'
  | 'noselect'
  | 'stratum'
  | 'refid'
  | 'leap'
  | 'version'
  | 'precision'
  | 'rootDelay'
  | 'rootDispersion'
  | 'poll'
  | 'peerPoll'
>;

/** The descriptive fields after the verdict. */
type Tail = Omit<SourceSnapshot, keyof Head | Measured | 'filter' | 'verdict' | 'verdictReason'>;

type Measured = 'reach' | 'when' | 'offset' | 'delay' | 'dispersion' | 'jitter' | 'rootDistance';

/** What the builder reads of a source besides the selection's view. */
interface Source extends Candidate {
  readonly lastValid: RawTime | null;
}

function build(
  s: Source,
  raw: RawTime,
  v: Verdict,
  head: Head,
  filter: (now: number) => FilterStage[],
  tail: Tail,
): SourceSnapshot {
  const now = rawSeconds(raw);
  const o = s.output();
  return {
    ...head,
    reach: s.reach,
    when: s.lastValid === null ? null : now - rawSeconds(s.lastValid),
    offset: o?.offset ?? 0,
    delay: o?.delay ?? 0,
    dispersion: o === null ? 16 : Math.min(16, o.dispersion + PHI * Math.max(0, now - o.epoch)),
    jitter: o?.jitter ?? 0,
    rootDistance: s.rootDistance(raw),
    filter: filter(now),
    verdict: v.verdict,
    verdictReason: v.reason,
    ...tail,
  };
}

/** The snapshot of a network association. */
export function associationSnapshot(a: Association, raw: RawTime, v: Verdict): SourceSnapshot {
  const head: Head = {
    id: a.id,
    address: a.cfg.address,
    port: a.cfg.port,
    name: a.cfg.name ?? null,
    mode: a.cfg.mode,
    interleaved: a.interleaved,
    xleave: a.cfg.xleave,
    prefer: a.cfg.prefer,
    noselect: a.cfg.noselect,
    stratum: a.stratum,
    refid: renderRefid(a.refid, a.stratum),
    leap: a.leap,
    version: a.version,
    precision: a.precision,
    rootDelay: a.rootDelay,
    rootDispersion: a.rootDispersion,
    poll: a.effectivePoll(),
    peerPoll: a.ppoll,
  };
  const filter = (now: number): FilterStage[] =>
    a.filter.registers(now).map((s) => ({
      offset: s.offset,
      delay: s.delay,
      dispersion: s.dispersion,
      age: now - s.epoch,
    }));
  return build(a, raw, v, head, filter, {
    auth: a.auth,
    authMethod: a.cfg.nts === true ? 'nts' : a.cfg.key !== undefined ? 'symmetric' : 'none',
    ...(a.cfg.nts === true
      ? {
          nts: {
            session: a.hasNtsSession,
            cookies: a.ntsCookies() ?? 0,
            keRequests: a.ntsKeRequests,
            naks: a.ntsNaks,
            authFailures: a.ntsAuthFailures,
          },
        }
      : {}),
    keyId: a.cfg.key ?? null,
    kod: a.kod,
    rejected: { ...a.rejected },
    packetsSent: a.packetsSent,
    packetsReceived: a.packetsReceived,
    ...(a.offline ? { offline: true } : {}),
  });
}

/** The snapshot of a reference clock. */
export function refclockSnapshot(r: RefclockSource, raw: RawTime, v: Verdict): SourceSnapshot {
  const head: Head = {
    id: r.id,
    address: r.cfg.parameter,
    port: 0,
    name: `${r.cfg.driver} ${r.cfg.parameter}`.trim(),
    mode: 'refclock',
    interleaved: false,
    xleave: false,
    prefer: r.cfg.prefer,
    noselect: r.cfg.noselect,
    stratum: r.stratum,
    refid: r.cfg.refid,
    leap: r.leap,
    version: 4,
    precision: Math.ceil(Math.log2(r.cfg.precision)),
    rootDelay: 0,
    rootDispersion: 0,
    poll: r.cfg.poll,
    peerPoll: r.cfg.dpoll,
  };
  const filter = (now: number): FilterStage[] =>
    r.history.map((h) => ({
      offset: h.offset,
      delay: r.cfg.delay,
      dispersion: h.dispersion,
      age: now - h.epoch,
    }));
  return build(r, raw, v, head, filter, {
    auth: 'none',
    keyId: null,
    kod: null,
    rejected: { ...r.rejected },
    packetsSent: 0,
    packetsReceived: r.samplesAccepted,
    refclock: {
      driver: r.cfg.driver,
      parameter: r.cfg.parameter,
      lock: r.cfg.lock ?? null,
      trust: r.cfg.trust,
      pulse: r.cfg.pulse,
      samples: r.filter.size,
      lastSampleOffset: r.lastSample()?.offset ?? null,
    },
  });
}

/** What the system snapshot is made of. */
export interface SystemParts {
  discipline: Discipline;
  /** The clock whose reading is the snapshot's time (the served one); default the discipline's. */
  clock?: LocalClock;
  precision: number;
  /** Our advertised state now. */
  state: ServerState;
  /** Serving synchronised time (possibly in holdover, or as a configured local stratum). */
  synchronised: boolean;
  vars: SystemVariables;
  sysPeer: string | null;
  sources: SourceSnapshot[];
  events: SystemSnapshot['events'];
  extra: Record<string, number>;
}

/** The system snapshot at counter value `raw`. */
export function systemSnapshot(raw: RawTime, p: SystemParts): SystemSnapshot {
  const d = p.discipline.snapshot(raw);
  const clock = p.clock ?? p.discipline.clock;
  const st = p.state;
  const rootDelay = st.rootDelay / 65536;
  const rootDispersion = st.rootDispersion / 65536;
  const ref = p.vars.referenceTime;
  return {
    time: Number(ntpTimeToUnixNs(clock.read(raw))) / 1e9,
    clock: p.discipline.kind,
    clockState: d.state,
    synchronised: p.synchronised,
    leap: st.leap,
    stratum: st.stratum,
    refid: renderRefid(st.referenceId, st.stratum),
    referenceTime: ref === null ? null : Number(ntpTimeToUnixNs(ref)) / 1e9,
    rootDelay,
    rootDispersion,
    rootDistance: rootDelay / 2 + rootDispersion,
    offset: d.offset,
    frequencyPpm: d.frequencyPpm,
    jitter: p.vars.synchronised ? p.vars.jitter : d.jitter,
    wander: d.wander,
    poll: d.poll,
    precision: p.precision,
    errorBound: clock.errorBound(raw),
    sysPeer: p.sysPeer,
    sources: p.sources,
    events: p.events,
    extra: p.extra,
  };
}

/** The engine's counters for `SystemSnapshot.extra`: the combined offset, served-time checks, server and NTS. */
export function engineExtra(
  vars: SystemVariables,
  server: ServerResponder,
  nts: NtsServer,
): Record<string, number> {
  return {
    combinedOffset: vars.offset,
    servedTimeViolations: vars.violations,
    serverRequests: server.requests,
    serverResponses: server.responses,
    interleavedResponses: server.interleavedResponses,
    interleavedTableEntries: server.table.count(),
    ...nts.extra(),
  };
}
