// What the dashboard's JSON serves: the two-tier history (src/observe/history.ts) and the event log
// (src/observe/events.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventLog } from '../../src/observe/events.js';
import { History } from '../../src/observe/history.js';
import { fixture } from './fixture.js';

/** A snapshot at daemon time `time`, system offset `offset`, source 1 offset `src`. */
function snap(time: number, offset: number, src = offset) {
  const f = fixture();
  f.system.time = time;
  f.system.offset = offset;
  const s = f.system.sources[0];
  if (s !== undefined) s.offset = src;
  return f;
}

describe('dashboard history', () => {
  it('keeps `capacity` samples and one point per minute beyond, with the extremes of each minute', () => {
    const h = new History(10, 5, 60);
    const T = 1_795_000_000;
    // 5 minutes of 1 s samples; a 2.5 s spike in the second minute.
    for (let m = 0; m < 300; m++)
      h.add(snap(T + m, m === 75 ? 2.5 : 1e-5 * Math.sin(m), m === 75 ? -2.5 : 0), m);
    const d = h.dump();
    assert.deepEqual(d.limits, { fine: 10, coarse: 5, coarseSeconds: 60 });
    assert.equal(d.system.length, 10, 'the fine tier is bounded');
    assert.deepEqual(
      d.system.map((p) => p.t),
      Array.from({ length: 10 }, (_, i) => T + 290 + i),
    );
    // Four minutes finished (the fifth is still being filled).
    assert.equal(d.coarse.system.length, 4);
    assert.deepEqual(
      d.coarse.system.map((p) => p.t),
      [T + 59, T + 119, T + 179, T + 239],
    );
    assert.equal(d.coarse.system[1]?.offset, 2.5, 'the spike survives in its minute');
    assert.equal(d.coarse.sources['1']?.[1]?.offset, -2.5, 'largest magnitude, sign kept');
    assert.ok(Math.abs(d.coarse.system[2]?.offset ?? 1) <= 1e-5);
    assert.equal(d.sources['pool-4']?.points.length, 0);
    assert.deepEqual(d.coarse.sources['pool-4'], []);
    // Bounded too: 20 minutes more leave 5 coarse points.
    for (let m = 300; m < 1500; m++) h.add(snap(T + m, 0), m);
    assert.equal(h.dump().coarse.system.length, 5);
    // `since`: only what is newer, in both tiers.
    const seq = h.dump().seq;
    for (let m = 1500; m < 1560; m++) h.add(snap(T + m, 0), m);
    const n = h.dump(seq);
    assert.equal(n.system.length, 10);
    assert.equal(n.coarse.system.length, 1);
    assert.equal(h.dump(n.seq).system.length, 0);
  });

  it('a clock step moves the whole history onto the new timeline and changes the epoch', () => {
    const h = new History(100);
    const T = 1_795_000_000;
    for (let m = 0; m < 10; m++) h.add(snap(T - 2.5 + m, 2.5), 1000 + m);
    assert.equal(h.epoch, 0);
    assert.equal(h.dump().system[0]?.t, T - 2.5);
    // Slewing (ppm) is no step.
    h.add(snap(T - 2.5 + 10.0004, 2.5), 1010);
    assert.equal(h.epoch, 0);
    // Stepped forward by 2.5 s.
    h.add(snap(T + 11, 0), 1011);
    assert.equal(h.epoch, 1);
    const d = h.dump();
    assert.equal(d.epoch, 1);
    assert.ok(Math.abs((d.system[0]?.t ?? 0) - T) < 1e-3, 'old samples re-expressed on the new clock');
    assert.ok(
      d.system.every((p, i, a) => i === 0 || p.t > (a[i - 1]?.t ?? 0)),
      'time increases across the step',
    );
    assert.equal(h.toClock(1005), T + 5);
    assert.equal(h.label('1'), 'localhost');
    assert.equal(h.label('2'), '192.0.2.7:123');
  });
});

describe('dashboard event log', () => {
  it('keeps the operator events with their sizes and reasons, and nothing else', () => {
    const log = new EventLog(10);
    log.record(
      { kind: 'clock-step', offset: 2.5, reason: 'offset beyond the step threshold', cause: 'offset' },
      10,
    );
    log.record({ kind: 'reject', sourceId: null, reason: 'malformed: TOO_SHORT' }, 11);
    log.record({ kind: 'interleaved', sourceId: '1', on: true }, 12);
    log.record({ kind: 'nts-ke', sourceId: '1', reason: 'no-cookies' }, 13);
    log.record({ kind: 'sys-peer', sourceId: '1' }, 14, 'localhost');
    log.record({ kind: 'sys-peer', sourceId: null }, 15);
    log.record(
      { kind: 'leap', action: 'scheduled', message: 'leap second insertion at 2026-12-31 23:59:60' },
      16,
    );
    log.record({ kind: 'source-removed', sourceId: '2', reason: 'removed by configuration' }, 17);
    log.record({ kind: 'sync', synchronised: false, reason: 'no sources' }, 18);
    const d = log.dump(
      0,
      (m) => 1000 + m,
      (id) => (id === '2' ? 'ntp.example:123' : undefined),
    );
    assert.deepEqual(
      d.events.map((e) => [e.t, e.lane, e.kind, e.text]),
      [
        [1010, 'clock', 'clock-step', 'clock stepped by +2.500000 s: offset beyond the step threshold'],
        [1014, 'source', 'sys-peer', 'system peer: localhost'],
        [1015, 'source', 'sys-peer', 'no system peer'],
        [1016, 'leap', 'leap', 'leap second insertion at 2026-12-31 23:59:60'],
        [1017, 'source', 'source-removed', 'source removed: ntp.example:123 (removed by configuration)'],
        [1018, 'clock', 'sync', 'unsynchronised: no sources'],
      ],
    );
    const step = d.events[0];
    assert.deepEqual(
      { offset: step?.offset, cause: step?.cause, count: step?.count },
      { offset: 2.5, cause: 'offset', count: 1 },
    );
    assert.equal(d.events[3]?.action, 'scheduled');
    assert.equal(d.events[1]?.source, 'localhost');
    assert.ok(!('reason' in (d.events[1] ?? {})), 'no empty fields');
  });

  it('folds repeated KoDs of one source into one event with a count; is bounded; serves what changed', () => {
    const log = new EventLog(5);
    log.record({ kind: 'clock-step', offset: -0.2, reason: 'r', cause: 'offset' }, 0);
    for (let i = 0; i < 100; i++) log.record({ kind: 'kod', sourceId: 'p', code: 'RATE' }, 10 + i * 64);
    let d = log.dump();
    assert.equal(d.events.length, 2, 'a KoD per poll does not push the step out');
    assert.equal(d.events[1]?.count, 100);
    assert.equal(d.events[1]?.t, 10);
    assert.equal(d.events[1]?.last, 10 + 99 * 64);
    assert.equal(d.events[1]?.text, 'KoD RATE from p');
    // Another code, another source: new events. An hour's pause: a new event.
    log.record({ kind: 'kod', sourceId: 'p', code: 'DENY' }, 7000);
    log.record({ kind: 'kod', sourceId: 'q', code: 'DENY' }, 7001);
    log.record({ kind: 'kod', sourceId: 'q', code: 'DENY' }, 7001 + 3601);
    assert.equal(log.dump().events.length, 5);
    // A repeat is served again (same id, newer seq).
    const seq = log.dump().seq;
    log.record({ kind: 'kod', sourceId: 'q', code: 'DENY' }, 10700);
    d = log.dump(seq);
    assert.equal(d.events.length, 1);
    assert.equal(d.events[0]?.count, 2);
    // Bounded: the oldest go, and are counted.
    for (let i = 0; i < 10; i++) log.record({ kind: 'source-added', sourceId: `s${i}` }, 20000 + i);
    d = log.dump();
    assert.equal(d.events.length, 5);
    assert.equal(d.dropped, 10);
    assert.equal(d.capacity, 5);
    assert.equal(d.events[4]?.text, 'source added: s9');
    // Long reasons are cut.
    log.record({ kind: 'clock-step', offset: 1, reason: 'x'.repeat(5000), cause: 'startup' }, 30000);
    assert.ok((log.dump(d.seq).events[0]?.reason?.length ?? 0) <= 200);
  });
});
