// makestep (ntpkit makestep, chrony's makestep): the correction still being slewed is stepped at
// once, announced to the clock's listeners with its reason; nothing pending steps nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FeedForwardClock } from '../../src/clock/feedforward.js';
import { Rfc5905Discipline } from '../../src/clock/rfc5905.js';
import type { SoftwareClock } from '../../src/clock/software-clock.js';
import type { ClockChange, Discipline } from '../../src/clock/types.js';

const S = 1_000_000_000n;

type WithClock = Discipline & { software: SoftwareClock };
const start = { raw: 0n, time: 1000n << 32n };

for (const [name, make] of [
  ['rfc5905', (): WithClock => new Rfc5905Discipline(start)],
  ['feedforward', (): WithClock => new FeedForwardClock(start)],
] as const) {
  test(`${name}: makestep steps the pending slew at once and says why`, () => {
    const d = make();
    const clock = d.software;
    const changes: ClockChange[] = [];
    d.clock.onChange((c) => changes.push(c));
    assert.equal(d.makestep?.(S, 'makestep command'), 0, 'nothing pending: no step');
    assert.equal(changes.filter((c) => c.kind === 'step').length, 0);
    clock.slewLinear(S, 0.25); // 500 ppm: 500 s to finish
    const before = clock.read(2n * S);
    const offset = d.makestep?.(2n * S, 'makestep command') ?? Number.NaN;
    assert.ok(Math.abs(offset - (0.25 - 0.0005)) < 1e-6, `stepped ${offset}`);
    assert.equal(clock.pendingSlew(2n * S), 0);
    const jumped = Number(clock.read(2n * S) - before) / 2 ** 32;
    assert.ok(Math.abs(jumped - offset) < 1e-6, `clock moved ${jumped}`);
    const step = changes.find((c) => c.kind === 'step');
    assert.ok(step?.kind === 'step' && step.reason === 'makestep command');
  });
}
