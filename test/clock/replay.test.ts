import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseHz, parseSeconds, parseTrace } from '../../src/cli/replay.js';
import { replay } from '../../src/clock/replay.js';
import { Rng } from '../../src/sim/rng.js';
import { ntpTimeToUnixNs, UNIX_EPOCH_NTP_SECONDS } from '../../src/time/ntp-time.js';
import { expPath, makeExchange, oscillator, type SynthExchange } from './synth.js';

const run = promisify(execFile);
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function unixDecimal(t: bigint): string {
  const ns = ntpTimeToUnixNs(t);
  return `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
}

function trace(
  n: number,
  ticksPerNs = 1,
  scale = 1n,
): { text: string; xs: SynthExchange[]; rateAt: (t: number) => number } {
  const rnd = new Rng(17);
  const osc = oscillator(rnd, n * 64 + 100);
  const path = expPath(rnd);
  const xs: SynthExchange[] = [];
  const lines = ['# synthetic trace: Ta Tb Te Tf'];
  for (let i = 0; i < n; i++) {
    const x = makeExchange(osc, path, 1 + i * 64);
    xs.push(x);
    const ta = ticksPerNs === 1 ? x.ta : x.ta / scale;
    const tf = ticksPerNs === 1 ? x.tf : x.tf / scale;
    lines.push(`${ta} ${unixDecimal(x.tb)} ${unixDecimal(x.te)} ${tf}`);
  }
  return { text: `${lines.join('\n')}\n`, xs, rateAt: (t: number) => osc.rate(t) };
}

test('decimal seconds are read exactly into NTP units', () => {
  assert.equal(parseSeconds('1'), 1n << 32n);
  assert.equal(parseSeconds('0.5'), 1n << 31n);
  // 2^-32 s = 0.00000000023283064365386962890625 s exactly
  assert.equal(parseSeconds('0.00000000023283064365386962890625'), 1n);
  assert.equal(parseSeconds('1767225600.000000001'), (1767225600n << 32n) + 4n);
  assert.equal(parseSeconds('1e9'), null);
  assert.equal(parseSeconds('-1'), null);
  assert.deepEqual(parseHz('1000000'), { num: 1000000n, den: 1n });
  assert.deepEqual(parseHz('14318180.5'), { num: 143181805n, den: 10n });
  assert.deepEqual(parseHz('1e9'), { num: 1_000_000_000n, den: 1n });
  assert.equal(parseHz('0'), null);
});

test('trace parsing: epochs, counter frequency, errors with file and line', () => {
  const xs = parseTrace('# c\n\n2000 100.5 100.6 4000\n', 't.txt', { num: 1000n, den: 1n }, 'unix');
  assert.equal(xs.length, 1);
  assert.equal(xs[0]?.ta, 2_000_000_000n, '2000 ticks at 1 kHz = 2 s');
  assert.equal(xs[0]?.tb, ((UNIX_EPOCH_NTP_SECONDS + 100n) << 32n) + (1n << 31n));
  const ntp = parseTrace('1 5 5 2\n', 't', undefined, 'ntp');
  assert.equal(ntp[0]?.tb, 5n << 32n);
  assert.throws(() => parseTrace('1 2 3\n', 'bad.txt'), /bad\.txt:1: expected 4 fields/);
  assert.throws(() => parseTrace('# x\n1 2 3 0\n', 'bad.txt'), /bad\.txt:2: Tf is before Ta/);
  assert.throws(() => parseTrace('1.5 2 3 4\n', 'b'), /integers/);
});

test('replay through both clocks: per-exchange rows; the feed-forward clock predicts the server closely', () => {
  const { text, xs: sx, rateAt } = trace(200);
  const xs = parseTrace(text, 'mem');
  for (const kind of ['feedforward', 'rfc5905'] as const) {
    const rows = [...replay(kind, xs)];
    assert.equal(rows.length, 200);
    assert.ok(rows.every((r, i) => r.index === i));
    const late = rows.slice(100).map((r) => r.offset);
    const rms = Math.sqrt(late.reduce((a, x) => a + x * x, 0) / late.length);
    // the offset to the server midpoint includes the path noise itself (~70 µs per exchange); the
    // RFC loop is still settling from slewing out ~0.14 s (its FREQ state ended on an inlier)
    assert.ok(rms < (kind === 'feedforward' ? 150e-6 : 10e-3), `${kind}: ${rms}`);
    if (kind === 'feedforward') {
      const last = rows[rows.length - 1]!;
      const truth = (rateAt(sx[sx.length - 1]!.tArrive) - 1) * 1e6;
      assert.ok(Math.abs((last.ratePpm ?? 0) - truth) < 0.1, `rate ${last.ratePpm} vs ${truth}`);
      assert.ok(
        rows.some((r) => r.action === 'poor'),
        'some exchanges are poor and held',
      );
    }
  }
});

test('ntpkit replay command: text and --json output, counter frequency option, usage errors', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ntpkit-replay-'));
  try {
    const a = join(dir, 'trace.txt');
    await writeFile(a, trace(100).text);
    const j = await run(process.execPath, [MAIN, 'replay', a, '--json']);
    const rows = j.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(rows.length, 100);
    assert.equal(rows[0]?.state !== undefined, true);
    assert.match(String(rows[99]?.time), /^2026-01-01T/);
    assert.equal(typeof rows[99]?.ratePpm, 'number');
    const t = await run(process.execPath, [MAIN, 'replay', a, '--clock', 'rfc5905']);
    assert.match(t.stdout, /^# clock rfc5905, 100 exchanges/);
    assert.match(t.stdout, /# steps \d+; RMS offset/);
    // the same trace with a 1 MHz counter (ticks = ns / 1000) gives the same kind of result
    const b = join(dir, 'trace-mhz.txt');
    await writeFile(b, trace(100, 1000, 1000n).text);
    const m = await run(process.execPath, [MAIN, 'replay', b, '--counter-hz', '1000000', '--json']);
    const last = JSON.parse(m.stdout.trim().split('\n').pop() ?? '{}') as { ratePpm: number };
    assert.ok(Math.abs(last.ratePpm + 100) < 1, `rate ${last.ratePpm}`);
    await assert.rejects(
      run(process.execPath, [MAIN, 'replay', a, '--clock', 'nope']),
      (e: { code: number }) => e.code === 2,
    );
    await writeFile(join(dir, 'bad.txt'), '1 2 3\n');
    await assert.rejects(
      run(process.execPath, [MAIN, 'replay', join(dir, 'bad.txt')]),
      (e: { code: number; stderr: string }) => e.code === 1 && /bad\.txt:1/.test(e.stderr),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
