import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { nodeCrypto } from '../../src/io/crypto.js';
import { isKissOfDeath, KISS_CODES, kissCode, kissCodeInfo, kissCodeToRefid } from '../../src/wire/kiss.js';
import { emptyPacket, MODE } from '../../src/wire/packet.js';
import {
  isAsciiRefid,
  parseIPv6,
  refidFromAddress,
  refidFromIPv4,
  refidFromString,
  refidToString,
  renderRefid,
} from '../../src/wire/refid.js';

test('IPv4 refids and dotted rendering above stratum 1', () => {
  assert.equal(refidFromIPv4('192.168.0.1'), 0xc0a80001);
  assert.equal(refidFromAddress('10.123.1.2', nodeCrypto), 0x0a7b0102);
  assert.equal(renderRefid(0xc0a80001, 2), '192.168.0.1');
  assert.equal(renderRefid(0x7f000001, 16), '127.0.0.1');
  assert.throws(() => refidFromIPv4('256.1.1.1'));
  assert.throws(() => refidFromIPv4('1.2.3'));
});

test('IPv6 refid = first 4 octets of MD5(address), checked against node:crypto', () => {
  for (const addr of [
    '2001:db8::1',
    '::1',
    'fe80::c808:18ff:fe60:5fff',
    '2001:0db8:0000:0000:0000:ff00:0042:8329',
  ]) {
    const bytes = parseIPv6(addr);
    assert.ok(bytes !== null);
    const h = createHash('md5').update(bytes).digest();
    assert.equal(refidFromAddress(addr, nodeCrypto), h.readUInt32BE(0), addr);
  }
  // IPv4-mapped addresses use the IPv4 address itself
  assert.equal(refidFromAddress('::ffff:192.0.2.1', nodeCrypto), 0xc0000201);
  assert.throws(() => refidFromAddress('not-an-address', nodeCrypto));
});

test('IPv6 parser handles compression, embedded IPv4, zones and rejects junk', () => {
  assert.deepEqual(parseIPv6('::'), new Uint8Array(16));
  const one = new Uint8Array(16);
  one[15] = 1;
  assert.deepEqual(parseIPv6('::1'), one);
  assert.deepEqual(parseIPv6('[::1]'), one);
  assert.deepEqual(parseIPv6('0:0:0:0:0:0:0:1'), one);
  assert.deepEqual(parseIPv6('fe80::1%eth0')?.slice(0, 2), new Uint8Array([0xfe, 0x80]));
  assert.deepEqual(parseIPv6('::ffff:1.2.3.4')?.slice(10), new Uint8Array([0xff, 0xff, 1, 2, 3, 4]));
  for (const bad of ['1::2::3', '12345::', ':::', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', 'g::1', '::1.2.3']) {
    assert.equal(parseIPv6(bad), null, bad);
  }
});

test('four-character codes at stratum 0 and 1', () => {
  assert.equal(refidFromString('GPS'), 0x47505300);
  assert.equal(refidToString(0x47505300), 'GPS');
  assert.equal(renderRefid(refidFromString('PPS'), 1), 'PPS');
  assert.equal(renderRefid(refidFromString('RATE'), 0), 'RATE');
  // chrony's local reference 127.127.1.1 is not ASCII: shown dotted even at stratum 1
  assert.ok(!isAsciiRefid(0x7f7f0101));
  assert.equal(renderRefid(0x7f7f0101, 1), '127.127.1.1');
  assert.equal(refidToString(0x41000042), 'A\\x00\\x00B');
  assert.throws(() => refidFromString('TOOLONG'));
});

test("kiss-o'-death detection and the RFC 5905 code table", () => {
  const kod = {
    ...emptyPacket(),
    mode: MODE.SERVER,
    stratum: 0,
    leap: 3,
    referenceId: kissCodeToRefid('RATE'),
  };
  assert.ok(isKissOfDeath(kod));
  assert.equal(kissCode(kod), 'RATE');
  assert.equal(kissCodeInfo('RATE')?.action, 'reduce-rate');
  assert.equal(kissCodeInfo('DENY')?.action, 'stop');
  assert.equal(kissCodeInfo('RSTR')?.action, 'stop');
  assert.equal(kissCodeInfo('XXXX'), null);
  for (const c of [
    'ACST',
    'AUTH',
    'AUTO',
    'BCST',
    'CRYP',
    'DENY',
    'DROP',
    'RSTR',
    'INIT',
    'MCST',
    'NKEY',
    'RATE',
    'RMOT',
    'STEP',
  ]) {
    assert.ok(c in KISS_CODES, c);
    assert.equal(refidToString(kissCodeToRefid(c)), c);
  }
  // a client request (stratum 0, mode 3) and a normal reply are not KoDs
  assert.ok(!isKissOfDeath({ ...emptyPacket(), mode: MODE.CLIENT }));
  assert.equal(kissCode({ ...kod, stratum: 2 }), null);
});
