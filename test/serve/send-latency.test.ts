import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SendLatency } from '../../src/serve/send-latency.js';

test('proposes nothing until four sends are measured, then the lower quartile', () => {
  const l = new SendLatency();
  for (const ns of [40_000, 20_000, 30_000]) l.add(ns);
  assert.equal(l.compensationNs(), 0);
  l.add(50_000);
  // sorted 20, 30, 40, 50 µs: index floor(0.25 × 3) = 0 → 20 µs; median index 1 → 30 µs.
  assert.equal(l.compensationNs(), 20_000);
  assert.equal(l.stats().medianNs, 30_000);
  for (let i = 0; i < 9; i++) l.add(35_000 + i * 1000);
  // 13 kept: 20, 30, 35..43, 40, 50 → lower quartile index 3 of the sorted list.
  const sorted = [20, 30, 35, 36, 37, 38, 39, 40, 40, 41, 42, 43, 50].map((x) => x * 1000);
  assert.equal(l.compensationNs(), sorted[3]);
  assert.equal(l.stats().samples, 13);
});

test('ignores negative and absurd latencies and caps the compensation', () => {
  const l = new SendLatency({ window: 8, quantile: 0.25, minIntervalNs: 1n, warmup: 1, maxNs: 100_000 });
  l.add(-5);
  l.add(Number.NaN);
  l.add(50_000_000);
  assert.equal(l.stats().samples, 0);
  for (let i = 0; i < 8; i++) l.add(900_000);
  assert.equal(l.compensationNs(), 100_000);
});

test('follows a change of the send path within one window', () => {
  const l = new SendLatency({ window: 16, quantile: 0.25, minIntervalNs: 0n, warmup: 4, maxNs: 500_000 });
  for (let i = 0; i < 16; i++) l.add(60_000 + (i % 4) * 5000);
  assert.equal(l.compensationNs(), 60_000);
  // The host gets busy: sends leave in ~8 µs.
  for (let i = 0; i < 12; i++) l.add(8_000 + (i % 3) * 500);
  assert.ok(l.compensationNs() <= 9_000, `${l.compensationNs()}`);
});

test('measures each send during warm-up, then one per interval', () => {
  const l = new SendLatency({ window: 32, quantile: 0.25, minIntervalNs: 100n, warmup: 2, maxNs: 500_000 });
  assert.equal(l.wantSample(0n), true);
  l.begin(0n);
  l.add(10);
  assert.equal(l.wantSample(1n), true, 'still warming up');
  l.begin(1n);
  l.add(10);
  assert.equal(l.wantSample(50n), false);
  assert.equal(l.wantSample(101n), true);
  // A counter that went backwards (a restarted source of readings) does not stop the sampling.
  assert.equal(l.wantSample(0n), true);
});
