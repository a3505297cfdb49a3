/** RFC 5905 section 10 (clock filter algorithm) and Appendix A.5.2 clock_filter(). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { MAXDISP, NSTAGE, PHI } from '../../src/algo/constants.js';
import { ClockFilter } from '../../src/algo/filter.js';

test('10: the lowest-delay stage gives the peer offset and delay', () => {
  const f = new ClockFilter(1e-9);
  f.add({ offset: 0.003, delay: 0.02, dispersion: 0, epoch: 0 }, 16);
  f.add({ offset: 0.001, delay: 0.01, dispersion: 0, epoch: 16 }, 16);
  f.add({ offset: 0.005, delay: 0.03, dispersion: 0, epoch: 32 }, 16);
  const o = f.output();
  assert.ok(o !== null);
  assert.equal(o.offset, 0.001);
  assert.equal(o.delay, 0.01);
  assert.equal(o.epoch, 16);
});

test('10: peer dispersion is Σ ε_i / 2^(i+1) over the delay-sorted stages, empty stages counting MAXDISP', () => {
  const f = new ClockFilter(1e-9);
  f.add({ offset: 0, delay: 0.01, dispersion: 0.001, epoch: 0 }, 16);
  let o = f.output();
  assert.ok(o !== null);
  // One sample: 0.001/2 + MAXDISP · (1/4 + ... + 1/256).
  let expected = 0.001 / 2;
  for (let i = 1; i < NSTAGE; i++) expected += MAXDISP / 2 ** (i + 1);
  assert.ok(Math.abs(o.dispersion - expected) < 1e-12);
  f.add({ offset: 0, delay: 0.02, dispersion: 0.002, epoch: 10 }, 16);
  o = f.output();
  assert.ok(o !== null);
  // The first sample aged by PHI·10 s and sorts first (lower delay).
  expected = (0.001 + PHI * 10) / 2 + 0.002 / 4;
  for (let i = 2; i < NSTAGE; i++) expected += MAXDISP / 2 ** (i + 1);
  assert.ok(Math.abs(o.dispersion - expected) < 1e-12, `${o.dispersion} vs ${expected}`);
});

test('10: jitter is the RMS of offset differences to the first stage, at least the precision', () => {
  const f = new ClockFilter(1e-6);
  const offs = [0.001, 0.002, 0.004];
  offs.forEach((off, i) => {
    f.add({ offset: off, delay: 0.01 + i * 0.001, dispersion: 0, epoch: i * 100 }, 1000);
  });
  const o = f.output();
  assert.ok(o !== null);
  const expected = Math.sqrt(((0.001 - 0.002) ** 2 + (0.001 - 0.004) ** 2) / 2);
  assert.ok(Math.abs(o.jitter - expected) < 1e-15);
  const g = new ClockFilter(1e-6);
  g.add({ offset: 0.5, delay: 0.01, dispersion: 0, epoch: 0 }, 16);
  assert.equal(g.output()?.jitter, 1e-6);
});

test('10: a sample is passed on only once and never one older than the last used (prime directive)', () => {
  const f = new ClockFilter(1e-9);
  assert.equal(f.add({ offset: 0.001, delay: 0.01, dispersion: 0, epoch: 0 }, 16).kind, 'update');
  // Higher delay: the best stage is still the old one.
  assert.equal(f.add({ offset: 0.001, delay: 0.05, dispersion: 0, epoch: 16 }, 16).kind, 'stale');
  assert.equal(f.add({ offset: 0.001, delay: 0.005, dispersion: 0, epoch: 32 }, 16).kind, 'update');
});

test('10: popcorn spikes (|Δθ| > 3ψ within two polls) are suppressed, then accepted after two polls', () => {
  const f = new ClockFilter(1e-9);
  // Decreasing delays: every sample is the new best and is used.
  for (let i = 0; i < 8; i++) {
    const v = f.add({ offset: 0.001, delay: 0.01 - i * 1e-4, dispersion: 0, epoch: i * 16 }, 16);
    assert.equal(v.kind, 'update');
  }
  const spike = f.add({ offset: 0.1, delay: 0.001, dispersion: 0, epoch: 8 * 16 }, 16);
  assert.equal(spike.kind, 'spike');
  // The register keeps it; once two poll intervals have passed since the last update, it is used.
  const later = f.add({ offset: 0.1, delay: 0.0009, dispersion: 0, epoch: 8 * 16 + 40 }, 16);
  assert.equal(later.kind, 'update');
  assert.equal(f.output()?.offset, 0.1);
});

test('10: clear() empties the register (RFC 5905 clear after a step)', () => {
  const f = new ClockFilter();
  f.add({ offset: 0.001, delay: 0.01, dispersion: 0, epoch: 0 }, 16);
  f.clear(5);
  assert.equal(f.count(), 0);
  assert.equal(f.output(), null);
  assert.equal(f.add({ offset: 0.3, delay: 0.01, dispersion: 0, epoch: 6 }, 16).kind, 'update');
});

test('10: registers are newest first, at most 8, with aged dispersion (property)', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          offset: fc.double({ min: -1, max: 1, noNaN: true }),
          delay: fc.double({ min: 0, max: 1, noNaN: true }),
        }),
        {
          minLength: 1,
          maxLength: 20,
        },
      ),
      (samples) => {
        const f = new ClockFilter(1e-9);
        samples.forEach((s, i) => {
          f.add({ ...s, dispersion: 0, epoch: i }, 16);
        });
        const now = samples.length + 10;
        const regs = f.registers(now);
        assert.equal(regs.length, Math.min(NSTAGE, samples.length));
        for (let i = 1; i < regs.length; i++) assert.ok((regs[i - 1]?.epoch ?? 0) > (regs[i]?.epoch ?? 0));
        const newest = samples[samples.length - 1];
        assert.equal(regs[0]?.offset, newest?.offset);
        for (const r of regs)
          assert.ok(Math.abs(r.dispersion - Math.min(MAXDISP, PHI * (now - r.epoch))) < 1e-12);
        // The output delay is the minimum over the register.
        const o = f.output();
        assert.ok(o !== null);
        assert.equal(o.delay, Math.min(...regs.map((r) => r.delay)));
      },
    ),
  );
});

test('10: samples beyond MAXDIST (δ/2 + ε) do not count in the jitter once two are in (ntpd)', () => {
  const f = new ClockFilter(1e-9, 1.5);
  f.add({ offset: 0.001, delay: 0.01, dispersion: 0, epoch: 0 }, 16);
  f.add({ offset: 0.002, delay: 0.012, dispersion: 0, epoch: 16 }, 16);
  f.add({ offset: -5, delay: 10, dispersion: 0, epoch: 32 }, 16);
  const o = f.output();
  assert.ok(o !== null);
  assert.ok(Math.abs(o.jitter - 0.001) < 1e-12, `jitter ${o.jitter}`);
  assert.equal(f.registers(32).length, 3);
});
