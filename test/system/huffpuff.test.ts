/** The huff-n'-puff filter against long asymmetric congestion (ntpd's `tinker huffpuff`). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultSourceConfig } from '../../src/system/system.js';
import { fakeLab } from '../support/fake-discipline.js';

function run(huffPuff: number): number {
  const h = fakeLab(91);
  h.addNode({ name: 'S', address: '10.0.0.1', config: { localStratum: 1 } });
  const c = h.addNode({
    name: 'C',
    address: '10.0.0.2',
    config: { huffPuff },
    sources: [{ ...defaultSourceConfig('10.0.0.1'), minpoll: 4, maxpoll: 4, iburst: true }],
    discipline: { offset: 0.3 },
  });
  // From 600 s on, the C → S direction is congested by 20 ms for a long time (longer than the clock
  // filter's 8 samples), the S → C direction not.
  h.link('C', 'S', { delay: 0.002, extraDelay: (t) => (t > 600 ? 0.02 : 0) });
  h.start();
  h.runFor(1200);
  const e: number[] = [];
  h.runFor(600, () => e.push(Math.abs(c.error())), 8);
  return e.reduce((a, b) => a + b, 0) / e.length;
}

test("huff-n'-puff removes most of the offset error of asymmetric congestion", () => {
  const off = run(0);
  const on = run(3600);
  // Without the filter the client follows the asymmetry: half the extra delay, 10 ms.
  assert.ok(Math.abs(off - 0.01) < 0.001, `without huff-puff ${off}`);
  assert.ok(on < 0.001, `with huff-puff ${on}`);
});
