/**
 * The dashboard's event strip: the engine events an operator wants on a timeline (clock steps and
 * large slews, synchronisation changes, system peer and source changes, leap seconds, KoDs
 * received), kept in a bounded ring and served as JSON at /api/events.
 *
 * Only those kinds, and only their own fields (sizes, reasons, source ids and labels, KoD codes):
 * nothing about clients, rejected datagrams or keys. Repeats of one kind from one source (a KoD
 * per poll, a flapping source) fold into the event before them with a count, so a misbehaving
 * source cannot push the steps out of the ring. Times are monotonic seconds, served on the
 * history's timeline (History.toClock), so that the strip lines up with the charts.
 */
import type { SystemEvent, SystemEventKind } from '../system/types.js';

export type EventLane = 'clock' | 'source' | 'leap' | 'kod';

export interface DashboardEvent {
  /** Stable id; a folded repeat keeps it. */
  id: number;
  /** Sequence number of the last change (a new event, or a repeat folded into it). */
  seq: number;
  /** Unix seconds on the charts' timeline (null before the first history sample). */
  t: number | null;
  /** The time of the last repeat folded in (as `t`). */
  last: number | null;
  kind: SystemEventKind;
  lane: EventLane;
  /** One line: what happened, with sizes and reasons. */
  text: string;
  /** How many times it happened (repeats folded in). */
  count: number;
  sourceId?: string;
  /** The source's name or address:port, when known. */
  source?: string;
  offset?: number;
  reason?: string;
  cause?: string;
  code?: string;
  action?: string;
  synchronised?: boolean;
}

export interface EventsDump {
  /** Newest sequence number: pass it back as `since`. */
  seq: number;
  /** Events kept at most. */
  capacity: number;
  /** Events pushed out of the ring since the start. */
  dropped: number;
  events: DashboardEvent[];
}

interface Stored {
  id: number;
  seq: number;
  m: number;
  lastM: number;
  count: number;
  kind: SystemEventKind;
  lane: EventLane;
  sourceId?: string;
  label?: string;
  fields: Pick<DashboardEvent, 'offset' | 'reason' | 'cause' | 'code' | 'action' | 'synchronised'> & {
    distance?: number;
    message?: string;
  };
}

const LANES: Partial<Record<SystemEventKind, EventLane>> = {
  'clock-step': 'clock',
  'clock-slew': 'clock',
  'clock-panic': 'clock',
  sync: 'clock',
  'served-time-violation': 'clock',
  'sys-peer': 'source',
  'source-added': 'source',
  'source-removed': 'source',
  reachable: 'source',
  unreachable: 'source',
  orphan: 'source',
  leap: 'leap',
  kod: 'kod',
};

/** Kinds whose repeats (same source, same code) fold into the previous event. */
const FOLD: ReadonlySet<SystemEventKind> = new Set(['kod', 'reachable', 'unreachable', 'sync']);
/** Repeats within this long (s) of the previous one fold. */
const FOLD_SECONDS = 3600;
/** How far back (events) a repeat is looked for. */
const FOLD_SCAN = 16;
const MAX_TEXT = 200;
/** The fields an event carries to the page, when set. */
const FIELDS = ['offset', 'reason', 'cause', 'code', 'action', 'synchronised'] as const;

function clip(s: string): string {
  return s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT - 1)}…` : s;
}

function signed(v: number): string {
  return `${v >= 0 ? '+' : ''}${v.toFixed(6)}`;
}

function text(e: Stored, label: string): string {
  const f = e.fields;
  switch (e.kind) {
    case 'clock-step':
      return `clock stepped by ${signed(f.offset ?? 0)} s: ${f.reason ?? ''}`;
    case 'clock-slew':
      return `clock off by ${signed(f.offset ?? 0)} s: slewing (${label})`;
    case 'clock-panic':
      return `clock offset ${signed(f.offset ?? 0)} s beyond the panic threshold: daemon stopped`;
    case 'sync':
      return f.synchronised === true ? 'synchronised' : `unsynchronised: ${f.reason ?? ''}`;
    case 'served-time-violation':
      return `served time ${signed(f.offset ?? 0)} s off, beyond the announced ${(f.distance ?? 0).toFixed(6)} s`;
    case 'sys-peer':
      return e.sourceId === undefined ? 'no system peer' : `system peer: ${label}`;
    case 'source-added':
      return `source added: ${label}`;
    case 'source-removed':
      return `source removed: ${label} (${f.reason ?? ''})`;
    case 'reachable':
      return `${label} reachable`;
    case 'unreachable':
      return `${label} unreachable`;
    case 'kod':
      return `KoD ${f.code ?? ''} from ${label}`;
    default:
      return f.message ?? e.kind;
  }
}

export class EventLog {
  private readonly ring: Stored[] = [];
  private seq = 0;
  private nextId = 1;
  private droppedCount = 0;

  constructor(readonly capacity = 500) {}

  /** Records `e` at monotonic time `m` (s); `label`: the source's label when known. Other kinds are ignored. */
  record(e: SystemEvent, m: number, label?: string): void {
    const lane = LANES[e.kind];
    if (lane === undefined) return;
    const sourceId = 'sourceId' in e && e.sourceId !== null ? e.sourceId : undefined;
    const fields: Stored['fields'] = {};
    switch (e.kind) {
      case 'clock-step':
        Object.assign(fields, { offset: e.offset, reason: clip(e.reason), cause: e.cause });
        break;
      case 'clock-slew':
      case 'clock-panic':
        fields.offset = e.offset;
        break;
      case 'sync':
        fields.synchronised = e.synchronised;
        if (e.reason !== undefined) fields.reason = clip(e.reason);
        break;
      case 'served-time-violation':
        Object.assign(fields, { offset: e.offset, distance: e.distance });
        break;
      case 'source-removed':
        fields.reason = clip(e.reason);
        break;
      case 'kod':
        fields.code = clip(e.code);
        break;
      case 'leap':
        Object.assign(fields, { action: e.action, message: clip(e.message) });
        break;
      case 'orphan':
        fields.message = clip(e.message);
        break;
    }
    this.seq++;
    if (FOLD.has(e.kind)) {
      for (let i = this.ring.length - 1; i >= Math.max(0, this.ring.length - FOLD_SCAN); i--) {
        const p = this.ring[i];
        if (p === undefined || p.kind !== e.kind || p.sourceId !== sourceId) continue;
        if (p.fields.code !== fields.code || p.fields.synchronised !== fields.synchronised) break;
        if (m - p.lastM > FOLD_SECONDS) break;
        p.count++;
        p.lastM = m;
        p.seq = this.seq;
        p.fields = fields;
        if (label !== undefined) p.label = label;
        return;
      }
    }
    const s: Stored = { id: this.nextId++, seq: this.seq, m, lastM: m, count: 1, kind: e.kind, lane, fields };
    if (sourceId !== undefined) s.sourceId = sourceId;
    if (label !== undefined) s.label = label;
    this.ring.push(s);
    if (this.ring.length > this.capacity) {
      this.ring.shift();
      this.droppedCount++;
    }
  }

  /**
   * Events changed after sequence number `since`: times through `toClock` (monotonic → the charts'
   * timeline), source labels through `label` (current) or as recorded, else the source id.
   */
  dump(
    since = 0,
    toClock: (m: number) => number | null = (m) => m,
    label: (id: string) => string | undefined = () => undefined,
  ): EventsDump {
    const events: DashboardEvent[] = [];
    for (const s of this.ring) {
      if (s.seq <= since) continue;
      const name = s.sourceId === undefined ? '' : (label(s.sourceId) ?? s.label ?? s.sourceId);
      const d: DashboardEvent = {
        id: s.id,
        seq: s.seq,
        t: toClock(s.m),
        last: toClock(s.lastM),
        kind: s.kind,
        lane: s.lane,
        text: text(s, name),
        count: s.count,
      };
      if (s.sourceId !== undefined) Object.assign(d, { sourceId: s.sourceId, source: name });
      for (const k of FIELDS) if (s.fields[k] !== undefined) Object.assign(d, { [k]: s.fields[k] });
      events.push(d);
    }
    return { seq: this.seq, capacity: this.capacity, dropped: this.droppedCount, events };
  }
}
