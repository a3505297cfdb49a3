import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Scheduler } from '../../src/sim/scheduler.js';

test('events run in time order, ties in insertion order', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 300 }), (times) => {
      const s = new Scheduler();
      const ran: [number, number][] = [];
      times.forEach((t, i) => {
        s.at(t, () => ran.push([s.now, i]));
      });
      s.runUntil(100);
      const expected = times
        .map((t, i) => [t, i] as [number, number])
        .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      assert.deepEqual(ran, expected);
    }),
  );
});

test('cancel, runUntil boundary and events scheduled from events', () => {
  const s = new Scheduler();
  const log: string[] = [];
  const e = s.at(5, () => log.push('cancelled'));
  s.at(3, () => {
    log.push(`a@${s.now}`);
    s.after(1, () => log.push(`b@${s.now}`));
    s.at(1, () => log.push(`past@${s.now}`)); // clamped to now
  });
  s.cancel(e);
  s.at(10, () => log.push('late'));
  s.runUntil(9);
  assert.deepEqual(log, ['a@3', 'past@3', 'b@4']);
  assert.equal(s.now, 9);
  assert.equal(s.peekTime(), 10);
  s.runUntil(10);
  assert.deepEqual(log.at(-1), 'late');
});

test('an event loop stuck at one instant is reported, not run forever', () => {
  const s = new Scheduler();
  s.maxEventsPerInstant = 1000;
  const again = (): void => {
    s.at(s.now, again);
  };
  s.at(1, again);
  assert.throws(() => s.runUntil(2), /stuck: more than 1000 events at t = 1 s/);
});
