/**
 * The per-source frequency fits of the RFC 5905 clock's start-up (`SourceFrequency`): a source that
 * steps its clock restarts its fit instead of giving a slope across the step (before: thousands of
 * ppm, clamped to +500 ppm by the discipline).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SourceFrequency } from '../../src/clock/lsfit.js';
import type { RawExchange } from '../../src/clock/types.js';
import { secondsToDuration } from '../../src/time/ntp-time.js';

/** An exchange at counter second `t` with a server whose time runs `ppm` faster than the counter, `jump` s ahead. */
function exchange(t: number, ppm: number, jump: number, id = 'a'): RawExchange {
  const ta = BigInt(Math.round(t * 1e9));
  const tf = ta + 200_000n;
  const server = (s: number) => secondsToDuration(1000 + s * (1 + ppm * 1e-6) + jump);
  return {
    sourceId: id,
    ta,
    tb: server(t + 100e-6),
    te: server(t + 110e-6),
    tf,
    rootDelay: 0,
    rootDispersion: 0,
    stratum: 1,
  };
}

test('a source that steps by 0.5 s keeps its frequency: the fit restarts on the new timescale', () => {
  const f = new SourceFrequency(900);
  for (let t = 0; t <= 64; t += 2) f.add(exchange(t, 100, 0));
  const before = f.slope();
  assert.ok(before !== null && Math.abs(before - 100e-6) < 1e-6, `slope ${before}`);
  for (let t = 66; t <= 80; t += 2) f.add(exchange(t, 100, 0.5));
  const after = f.slope();
  assert.ok(after !== null && Math.abs(after - 100e-6) < 1e-6, `slope after the step ${after}`);
});

test('a 10 ms change of a source is no step: its fit keeps the older points', () => {
  const f = new SourceFrequency(900);
  for (let t = 0; t <= 64; t += 2) f.add(exchange(t, 100, 0));
  f.add(exchange(66, 100, 0.01));
  // With the older points kept, the 10 ms moves the slope (a restart would give no slope at all).
  const y = f.slope();
  assert.ok(y !== null && y - 100e-6 > 1e-6, `slope ${y}`);
});
