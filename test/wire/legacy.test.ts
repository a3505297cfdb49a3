import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  decodeTime,
  encodeTime,
  formatDaytime,
  parseDaytime,
  resolveTime,
  timeEra,
  timeValue,
} from '../../src/wire/legacy.js';

const ROLLOVER = 2_085_978_496n; // 2036-02-07T06:28:16Z in Unix seconds
const NOW = 1_795_273_561n; // 2026-11-21

test('RFC 868 encodes seconds since 1900 big-endian', () => {
  assert.deepEqual(encodeTime(0n), new Uint8Array([0x83, 0xaa, 0x7e, 0x80])); // 2208988800
  assert.equal(timeValue(encodeTime(NOW)), Number(NOW + 2_208_988_800n));
  assert.deepEqual(encodeTime(ROLLOVER), new Uint8Array([0, 0, 0, 0]));
  assert.deepEqual(encodeTime(ROLLOVER - 1n), new Uint8Array([0xff, 0xff, 0xff, 0xff]));
  assert.equal(timeEra(ROLLOVER - 1n), 0n);
  assert.equal(timeEra(ROLLOVER), 1n);
  assert.equal(timeEra(-2_208_988_801n), -1n);
});

test('RFC 868 decoding resolves the era against the local reference (2036 rollover)', () => {
  const d = decodeTime(new Uint8Array([0, 0, 0, 5]), ROLLOVER - 100n);
  assert.ok(d.ok);
  assert.equal(d.unixSeconds, ROLLOVER + 5n);
  const before = decodeTime(new Uint8Array([0xff, 0xff, 0xff, 0xfb]), ROLLOVER + 100n);
  assert.ok(before.ok);
  assert.equal(before.unixSeconds, ROLLOVER - 5n);
  assert.equal(decodeTime(new Uint8Array(3), NOW).ok, false);
  assert.equal(decodeTime(new Uint8Array(5), NOW).ok, false);
});

test('RFC 868 round trip within ±68 years of the reference (property)', () => {
  const half = 2n ** 31n;
  fc.assert(
    fc.property(
      fc.bigInt({ min: -4_000_000_000n, max: 8_000_000_000n }),
      fc.bigInt({ min: -(half - 1n), max: half - 1n }),
      (ref, delta) => {
        const t = ref + delta;
        const v = timeValue(encodeTime(t));
        assert.ok(v !== null);
        assert.equal(resolveTime(v, ref), t);
      },
    ),
    { numRuns: 3000 },
  );
});

test('Daytime output formats parse back to the same second', () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: 4_000_000_000n }),
      fc.constantFrom('rfc867', 'iso', 'ctime', 'nist'),
      (s, style) => {
        const line = formatDaytime(s * 1_000_000_000n + 123n, style as 'rfc867');
        assert.ok(line.endsWith('\r\n'));
        const r = parseDaytime(line, s * 1_000_000_000n);
        assert.ok(r.ok, `${style}: ${line}`);
        assert.equal(r.unixNs, s * 1_000_000_000n);
      },
    ),
    { numRuns: 1000 },
  );
  assert.equal(formatDaytime(NOW * 1_000_000_000n), 'Saturday, November 21, 2026 15:06:01-UTC\r\n');
});

test('Daytime parser accepts what common servers send', () => {
  const ref = NOW * 1_000_000_000n;
  const at = (iso: string) => BigInt(Date.parse(iso)) * 1_000_000n;
  const cases: [string, string][] = [
    ['Tuesday, February 22, 1982 17:37:43-PST', '1982-02-23T01:37:43Z'], // RFC 867's example
    ['02 FEB 82 07:59:01 PST', '1982-02-02T15:59:01Z'], // RFC 867's SMTP-style example
    ['Sat Nov 21 15:04:08 2026\r\n', '2026-11-21T15:04:08Z'], // inetd / ctime
    ['Sat Nov 21 15:04:08 UTC 2026', '2026-11-21T15:04:08Z'], // date(1)
    ['Sat, 21 Nov 2026 15:04:08 +0100', '2026-11-21T14:04:08Z'], // RFC 2822
    ['21 NOV 2026 15:04:08 GMT', '2026-11-21T15:04:08Z'],
    ['2026-11-21T15:04:08.25Z', '2026-11-21T15:04:08.250Z'],
    ['2026-11-21 15:04:08 +05:30', '2026-11-21T09:34:08Z'],
    ['\n61365 26-11-21 15:04:08 00 0 0  50.0 UTC(NIST) * \n', '2026-11-21T15:04:08Z'], // NIST ACTS
  ];
  for (const [text, iso] of cases) {
    const r = parseDaytime(text, ref);
    assert.ok(r.ok, `${JSON.stringify(text)}: ${r.ok ? '' : r.error}`);
    assert.equal(r.unixNs, at(iso), text);
  }
  for (const bad of [
    '',
    'hello',
    'Feb 30, 2026 10:00:00',
    '2026-13-01T00:00:00Z',
    'Sat Nov 21 25:04:08 2026',
    '2026-11-21T15:04:08 XYZ',
    '60999 26-11-21 15:04:08 00 0 0 50.0 UTC(NIST) *',
  ]) {
    const r = parseDaytime(bad, ref);
    assert.equal(r.ok, false, bad);
    assert.ok(!r.ok && r.error.length > 0);
  }
});
