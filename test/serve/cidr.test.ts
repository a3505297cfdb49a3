import assert from 'node:assert/strict';
import { isIPv6 } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  AccessList,
  CidrError,
  cidrContains,
  clientKey,
  formatAddress,
  formatCidr,
  type IpAddress,
  parseAddress,
  parseCidr,
} from '../../src/serve/index.js';

function addr(text: string): IpAddress {
  const a = parseAddress(text);
  assert.ok(a !== null, `parse ${text}`);
  return a;
}

function v6words(a: IpAddress): string {
  assert.equal(a.family, 6);
  return a.family === 6 ? a.v6.toString(16).padStart(32, '0') : '';
}

describe('address parsing', () => {
  it('parses IPv4 and rejects malformed quads', () => {
    assert.deepEqual(parseAddress('192.0.2.1'), { family: 4, v4: 0xc0000201 });
    assert.deepEqual(parseAddress('255.255.255.255'), { family: 4, v4: 0xffffffff });
    assert.deepEqual(parseAddress('0.0.0.0'), { family: 4, v4: 0 });
    for (const bad of ['256.1.1.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1..2.3', 'a.b.c.d', '', '1.2.3.4 ']) {
      assert.equal(parseAddress(bad), null, bad);
    }
  });

  it('parses IPv6 forms, zone ids, embedded IPv4', () => {
    assert.equal(v6words(addr('::1')), `${'0'.repeat(31)}1`);
    assert.equal(v6words(addr('::')), '0'.repeat(32));
    assert.equal(v6words(addr('2001:db8::')), `20010db8${'0'.repeat(24)}`);
    assert.equal(v6words(addr('fe80::1%eth0')), `fe80${'0'.repeat(27)}1`);
    assert.equal(v6words(addr('1:2:3:4:5:6:7:8')), '00010002000300040005000600070008');
    assert.equal(v6words(addr('64:ff9b::192.0.2.33')), `0064ff9b${'0'.repeat(16)}c0000221`);
    for (const bad of [
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '12345::',
      ':1',
      'g::1',
      '1:2:3:4:5:6:7:8::',
      '::1.2.3',
    ]) {
      assert.equal(parseAddress(bad), null, bad);
    }
  });

  it('treats IPv4-mapped IPv6 as IPv4', () => {
    assert.deepEqual(parseAddress('::ffff:10.1.2.3'), { family: 4, v4: 0x0a010203 });
    assert.deepEqual(parseAddress('::ffff:a01:203'), { family: 4, v4: 0x0a010203 });
  });

  it('formats IPv6 canonically (RFC 5952) and agrees with node:net on validity', () => {
    assert.equal(formatAddress(addr('2001:0DB8:0:0:1:0:0:1')), '2001:db8::1:0:0:1');
    assert.equal(formatAddress(addr('0:0:0:0:0:0:0:0')), '::');
    assert.equal(formatAddress(addr('1:0:2:3:4:5:6:7')), '1:0:2:3:4:5:6:7');
    const word = fc.integer({ min: 0, max: 0xffff });
    fc.assert(
      fc.property(fc.array(word, { minLength: 8, maxLength: 8 }), (ws) => {
        const text = ws.map((w) => w.toString(16)).join(':');
        const a = parseAddress(text);
        assert.ok(a !== null);
        const out = formatAddress(a);
        assert.ok(isIPv6(out) || /^\d+\.\d+\.\d+\.\d+$/.test(out), out);
        // Round trip through the canonical text.
        assert.deepEqual(parseAddress(out), a);
      }),
    );
  });
});

describe('CIDR', () => {
  it('normalises host bits and defaults to full length', () => {
    assert.equal(formatCidr(parseCidr('10.1.2.3/8')), '10.0.0.0/8');
    assert.equal(formatCidr(parseCidr('10.1.2.3')), '10.1.2.3/32');
    assert.equal(formatCidr(parseCidr('2001:db8:1:2::5/32')), '2001:db8::/32');
    assert.equal(formatCidr(parseCidr('::1')), '::1/128');
    assert.equal(formatCidr(parseCidr('::ffff:10.0.0.0/104')), '10.0.0.0/8');
  });

  it('rejects bad prefixes with a typed error', () => {
    for (const bad of [
      '10.0.0.0/33',
      '::/129',
      '10.0.0.0/-1',
      '10.0.0.0/x',
      'foo',
      '10.0.0/8',
      'fe80::1%eth0/64',
    ]) {
      assert.throws(() => parseCidr(bad), CidrError, bad);
    }
  });

  it('matches edge prefixes /0, /1, /31, /32, /127, /128', () => {
    const c = (t: string, a: string) => cidrContains(parseCidr(t), addr(a));
    assert.ok(c('0.0.0.0/0', '255.255.255.255'));
    assert.ok(!c('0.0.0.0/0', '::1'), 'families never mix');
    assert.ok(c('128.0.0.0/1', '200.0.0.1'));
    assert.ok(!c('128.0.0.0/1', '127.255.255.255'));
    assert.ok(c('192.0.2.0/31', '192.0.2.1'));
    assert.ok(!c('192.0.2.0/31', '192.0.2.2'));
    assert.ok(c('192.0.2.7/32', '192.0.2.7'));
    assert.ok(!c('192.0.2.7/32', '192.0.2.6'));
    assert.ok(c('::/0', '2001:db8::1'));
    assert.ok(c('2001:db8::/127', '2001:db8::1'));
    assert.ok(!c('2001:db8::/127', '2001:db8::2'));
    assert.ok(c('2001:db8::1/128', '2001:db8::1'));
    assert.ok(!c('2001:db8::1/128', '2001:db8::'));
    assert.ok(c('10.0.0.0/8', '::ffff:10.9.9.9'), 'mapped address matches an IPv4 prefix');
  });

  it('agrees with a bit-by-bit reference for random IPv4 prefixes', () => {
    fc.assert(
      fc.property(fc.nat(0xffffffff), fc.nat(0xffffffff), fc.integer({ min: 0, max: 32 }), (net, a, p) => {
        const q = (v: number) => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
        let expected = true;
        for (let i = 0; i < p; i++) {
          const bit = 31 - i;
          if (((net >>> bit) & 1) !== ((a >>> bit) & 1)) expected = false;
        }
        assert.equal(cidrContains(parseCidr(`${q(net)}/${p}`), addr(q(a))), expected);
      }),
    );
  });

  it('agrees with a bit-by-bit reference for random IPv6 prefixes', () => {
    const v6 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });
    fc.assert(
      fc.property(v6, v6, fc.integer({ min: 0, max: 128 }), (net, a, p) => {
        const text = (v: bigint) =>
          Array.from({ length: 8 }, (_, i) => ((v >> BigInt((7 - i) * 16)) & 0xffffn).toString(16)).join(':');
        // Skip the IPv4-mapped space, where prefixes ≥ 96 become IPv4 prefixes by design.
        fc.pre(net >> 32n !== 0xffffn && a >> 32n !== 0xffffn);
        let expected = true;
        for (let i = 0; i < p; i++) {
          const bit = BigInt(127 - i);
          if (((net >> bit) & 1n) !== ((a >> bit) & 1n)) expected = false;
        }
        assert.equal(cidrContains(parseCidr(`${text(net)}/${p}`), addr(text(a))), expected);
      }),
    );
  });
});

describe('access list', () => {
  it('applies the first matching rule, then the default', () => {
    const acl = new AccessList(
      [
        { action: 'allow', cidr: '10.1.2.3' },
        { action: 'deny', cidr: '10.0.0.0/8' },
        { action: 'allow', cidr: '2001:db8::/32' },
        { action: 'deny', cidr: 'all' },
      ],
      true,
    );
    assert.deepEqual(acl.check(addr('10.1.2.3')), { allowed: true, rule: 'allow 10.1.2.3/32' });
    assert.deepEqual(acl.check(addr('10.1.2.4')), { allowed: false, rule: 'deny 10.0.0.0/8' });
    assert.deepEqual(acl.check(addr('2001:db8:ffff::1')), { allowed: true, rule: 'allow 2001:db8::/32' });
    assert.deepEqual(acl.check(addr('2001:db9::1')), { allowed: false, rule: 'deny ::/0' });
    assert.deepEqual(acl.check(addr('192.0.2.1')), { allowed: false, rule: 'deny 0.0.0.0/0' });
    const open = new AccessList([], true);
    assert.deepEqual(open.check(addr('192.0.2.1')), { allowed: true, rule: 'default allow' });
    const closed = new AccessList([{ action: 'allow', cidr: '127.0.0.0/8' }], false);
    assert.equal(closed.check(addr('::1')).allowed, false);
    assert.equal(closed.check(addr('127.0.0.5')).allowed, true);
  });

  it('keys IPv6 clients by prefix, IPv4 by address', () => {
    assert.equal(clientKey(addr('2001:db8:1:2:3:4:5:6'), 64), '2001:db8:1:2::/64');
    assert.equal(clientKey(addr('2001:db8:1:2:3:4:5:6'), 128), '2001:db8:1:2:3:4:5:6');
    assert.equal(clientKey(addr('::ffff:192.0.2.9'), 64), '192.0.2.9');
  });
});
