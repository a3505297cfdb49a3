import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  NmeaLineBuffer,
  nmeaChecksum,
  nmeaSample,
  nmeaSentence,
  parseNmea,
} from '../../src/refclock/nmea.js';
import { ntpTimeToUnixNs } from '../../src/time/ntp-time.js';

const unix = (iso: string) => BigInt(Date.parse(iso)) * 1_000_000n;

describe('NMEA time sentences', () => {
  it('parses the classic RMC example (1994-03-23 12:35:19, status A)', () => {
    const r = parseNmea('$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n');
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    assert.equal(r.time.sentence, 'RMC');
    assert.equal(r.time.talker, 'GP');
    assert.equal(r.time.valid, true);
    assert.equal(r.time.unixNs, unix('1994-03-23T12:35:19Z'));
  });

  it('parses the classic ZDA example with fractional seconds (2002-07-04 20:15:30)', () => {
    const r = parseNmea('$GPZDA,201530.00,04,07,2002,00,00*60');
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    assert.equal(r.time.sentence, 'ZDA');
    assert.equal(r.time.unixNs, unix('2002-07-04T20:15:30Z'));
  });

  it('reads a multi-constellation RMC with milliseconds and mode field; V or mode N is not valid', () => {
    const ok = parseNmea(nmeaSentence('GNRMC,235959.250,A,5230.0,N,01323.0,E,0.0,0.0,311226,,,D,V'));
    assert.ok(ok.ok);
    assert.equal(ok.time.talker, 'GN');
    assert.equal(ok.time.unixNs, unix('2026-12-31T23:59:59.250Z'));
    const v = parseNmea(nmeaSentence('GPRMC,000000,V,,,,,,,010125,,'));
    assert.ok(v.ok);
    assert.equal(v.time.valid, false);
    const n = parseNmea(nmeaSentence('GPRMC,000000,A,,,,,,,010125,,,N'));
    assert.ok(n.ok);
    assert.equal(n.time.valid, false);
  });

  it('takes 2-digit years 80-99 as 19xx and 00-79 as 20xx; accepts a leap second', () => {
    const a = parseNmea(nmeaSentence('GPRMC,120000,A,,,,,,,010180,,'));
    assert.ok(a.ok);
    assert.equal(a.time.unixNs, unix('1980-01-01T12:00:00Z'));
    const leap = parseNmea(nmeaSentence('GPZDA,235960,31,12,2016,00,00'));
    assert.ok(leap.ok);
    assert.equal(leap.time.unixNs, unix('2017-01-01T00:00:00Z'));
  });

  it('typed errors: bad checksum, no checksum, no start, unsupported, bad fields, too long', () => {
    const code = (l: string) => {
      const r = parseNmea(l);
      return r.ok ? 'ok' : r.error.code;
    };
    assert.equal(
      code('$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6B'),
      'bad-checksum',
    );
    assert.equal(code('$GPZDA,201530.00,04,07,2002,00,00'), 'no-checksum');
    assert.equal(code('$GPZDA,201530.00,04,07,2002,00,00*ZZ'), 'no-checksum');
    assert.equal(code('GPZDA,201530.00,04,07,2002,00,00*60'), 'no-start');
    assert.equal(
      code(nmeaSentence('GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,')),
      'unsupported',
    );
    assert.equal(code(nmeaSentence('GPZDA,201530.00,31,02,2002,00,00')), 'bad-field');
    assert.equal(code(nmeaSentence('GPZDA,251530.00,04,07,2002,00,00')), 'bad-field');
    assert.equal(code(nmeaSentence('GPRMC,123519,X,,,,,,,230394,,')), 'bad-field');
    assert.equal(code(nmeaSentence('GPRMC,123519,A,,,,,,,,,')), 'bad-field');
    assert.equal(code(nmeaSentence('GPRMC,123519')), 'bad-field');
    assert.equal(code(`$${'A'.repeat(200)}*00`), 'too-long');
    assert.equal(code('$GPZDA,\u0001*00'), 'bad-character');
    assert.equal(code(''), 'no-start');
  });

  it('never throws on garbage (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 150 }), (s) => {
        const a = parseNmea(s);
        const b = parseNmea(`$${s}`);
        const c = parseNmea(nmeaSentence(s.replace(/[*$\r\n]/g, '')));
        return [a, b, c].every((r) => typeof r.ok === 'boolean');
      }),
    );
  });

  it('checksum is the XOR of the payload; built sentences parse back', () => {
    assert.equal(nmeaChecksum('GPZDA,201530.00,04,07,2002,00,00'), 0x60);
    const r = parseNmea(nmeaSentence('GPZDA,010203.5,09,11,2026,00,00'));
    assert.ok(r.ok);
    assert.equal(r.time.unixNs, unix('2026-11-09T01:02:03.500Z'));
  });

  it('splits a chunked serial stream into lines', () => {
    const b = new NmeaLineBuffer();
    assert.deepEqual(b.push('$GPZDA,2015'), []);
    assert.deepEqual(b.push('30.00,04,07,2002,00,00*60\r\n$GP'), ['$GPZDA,201530.00,04,07,2002,00,00*60']);
    assert.deepEqual(b.push('X*00\r\n\r\n'), ['$GPX*00']);
  });

  it('makes a refclock sample; an invalid fix carries leap 3', () => {
    const r = parseNmea('$GPZDA,201530.00,04,07,2002,00,00*60');
    assert.ok(r.ok);
    const s = nmeaSample(42n, r.time);
    assert.equal(s.raw, 42n);
    assert.equal(s.leap, 0);
    assert.ok(s.reference !== null);
    assert.equal(ntpTimeToUnixNs(s.reference), unix('2002-07-04T20:15:30Z'));
    assert.equal(nmeaSample(1n, { ...r.time, valid: false }).leap, 3);
  });
});
