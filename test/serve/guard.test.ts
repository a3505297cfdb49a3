import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { allowedResponseLength, type GuardDecision, ServerGuard } from '../../src/serve/index.js';
import { seeded } from '../../src/sim/rng.js';

const S = 1_000_000_000n; // raw counter units per second
const ep = (address: string, port = 123) => ({ address, port });

describe('ServerGuard access and length', () => {
  it('serves everybody by default and drops short datagrams', () => {
    const g = new ServerGuard();
    assert.deepEqual(g.check(0n, ep('192.0.2.1'), 48), { action: 'serve', reason: 'ok' });
    assert.deepEqual(g.check(0n, ep('2001:db8::1'), 68), { action: 'serve', reason: 'ok' });
    assert.deepEqual(g.check(0n, ep('192.0.2.1'), 47), { action: 'drop', reason: 'short' });
    assert.deepEqual(g.check(0n, ep('not-an-address'), 48), { action: 'drop', reason: 'bad-address' });
    const s = g.stats();
    assert.equal(s.requests, 4);
    assert.equal(s.responses, 2);
    assert.equal(s.dropped, 2);
    assert.deepEqual(s.invalid, { short: 1, 'bad-address': 1 });
  });

  it('allow/deny lists: deny entries first, default deny once an allow list exists', () => {
    const g = new ServerGuard({ allow: ['10.0.0.0/8', '::1'], deny: ['10.66.0.0/16'] });
    assert.equal(g.check(0n, ep('10.1.1.1'), 48).action, 'serve');
    assert.deepEqual(g.check(0n, ep('10.66.1.1'), 48), {
      action: 'drop',
      reason: 'denied',
      rule: 'deny 10.66.0.0/16',
    });
    assert.deepEqual(g.check(0n, ep('192.0.2.1'), 48), {
      action: 'drop',
      reason: 'denied',
      rule: 'default deny',
    });
    assert.equal(g.check(0n, ep('::1'), 48).action, 'serve');
    assert.equal(g.check(0n, ep('::2'), 48).action, 'drop');
    assert.equal(g.stats().denied, 3);
    assert.equal(g.stats().invalid.denied, 3, 'refusals are counted by reason');
    assert.equal(g.clientCount, 2, 'denied sources take no client record');
  });

  it('ordered rules decide by first match', () => {
    const g = new ServerGuard({
      rules: [
        { action: 'allow', cidr: '10.66.0.7' },
        { action: 'deny', cidr: '10.66.0.0/16' },
      ],
    });
    assert.equal(g.check(0n, ep('10.66.0.7'), 48).action, 'serve');
    assert.equal(g.check(0n, ep('10.66.0.8'), 48).action, 'drop');
    assert.equal(g.check(0n, ep('10.67.0.8'), 48).action, 'drop', 'allow rule present: default deny');
    assert.throws(() => new ServerGuard({ rules: [{ action: 'allow', cidr: 'x' }], allow: ['1.2.3.4'] }));
    assert.throws(() => new ServerGuard({ deny: ['10.0.0.0/40'] }), /prefix length above 32/);
  });
});

describe('ServerGuard client table', () => {
  it('never holds more than clientTableSize records and evicts the least recently seen', () => {
    const g = new ServerGuard({ clientTableSize: 4 });
    for (let i = 1; i <= 4; i++) g.check(BigInt(i) * S, ep(`192.0.2.${i}`), 48);
    // Refresh .1: .2 is now the least recently seen.
    g.check(5n * S, ep('192.0.2.1'), 48);
    g.check(6n * S, ep('192.0.2.5'), 48);
    const addrs = g.clients(6n * S).map((c) => c.address);
    assert.equal(addrs.length, 4);
    assert.ok(addrs.includes('192.0.2.1'));
    assert.ok(!addrs.includes('192.0.2.2'), 'oldest evicted');
    assert.equal(g.stats().clientsTracked, 4);
  });

  it('stays bounded for any request sequence (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 5000 })), {
          maxLength: 300,
        }),
        (size, reqs) => {
          const g = new ServerGuard({ clientTableSize: size, rateLimit: {}, random: seeded(size) });
          let raw = 0n;
          const lastSeen = new Map<string, bigint>();
          for (const [host, dtMs] of reqs) {
            raw += BigInt(dtMs) * 1_000_000n;
            g.check(raw, ep(`198.51.100.${host}`), 48);
            lastSeen.set(`198.51.100.${host}`, raw);
            assert.ok(g.clientCount <= size);
          }
          // The table holds exactly the most recently seen distinct addresses.
          const expected = [...lastSeen.entries()]
            .sort((a, b) => (a[1] < b[1] ? 1 : a[1] > b[1] ? -1 : 0))
            .slice(0, size)
            .map((e) => e[0]);
          const got = new Set(g.clients(raw).map((c) => c.address));
          // Ties in time keep insertion order; compare only when times are distinct.
          const times = new Set(lastSeen.values());
          if (times.size === lastSeen.size) assert.deepEqual(got, new Set(expected));
        },
      ),
    );
  });

  it('tracks IPv6 clients per /64 by default', () => {
    const g = new ServerGuard({ rateLimit: { interval: 3, burst: 2, leak: 0, kod: false } });
    const acts = ['2001:db8:1:1::1', '2001:db8:1:1::2', '2001:db8:1:1::3', '2001:db8:1:2::1'].map(
      (a) => g.check(0n, ep(a), 48).action,
    );
    assert.deepEqual(acts, ['serve', 'serve', 'drop', 'serve']);
    assert.equal(g.clientCount, 2);
  });

  it('reports per-client counts and the average interval', () => {
    const g = new ServerGuard();
    for (let i = 0; i < 5; i++) g.check(BigInt(i) * 2n * S, ep('192.0.2.10'), 48);
    g.check(9n * S, ep('192.0.2.11'), 48);
    const [a, b] = g.clients(10n * S);
    assert.equal(a?.address, '192.0.2.10');
    assert.equal(a?.requests, 5);
    assert.equal(a?.interval, 2);
    assert.equal(a?.lastSeen, 2);
    assert.equal(b?.interval, null);
  });
});

describe('ServerGuard rate limiting', () => {
  it('is off unless configured', () => {
    const g = new ServerGuard();
    for (let i = 0; i < 1000; i++) assert.equal(g.check(BigInt(i), ep('192.0.2.1'), 48).action, 'serve');
    assert.equal(g.rateLimit(), null);
  });

  it('allows a burst, then one request per 2^interval s', () => {
    const g = new ServerGuard({ rateLimit: { interval: 1, burst: 4, leak: 0, kod: false } });
    const at = (t: bigint) => g.check(t, ep('192.0.2.1'), 48).action;
    for (let i = 0; i < 4; i++) assert.equal(at(0n), 'serve', `burst ${i}`);
    assert.equal(at(0n), 'drop');
    assert.equal(at(1n * S), 'drop', 'half a token after 1 s');
    assert.equal(at(2n * S), 'serve', 'one token after 2 s');
    assert.equal(at(2n * S), 'drop');
    // Long idle refills to the burst, not beyond.
    for (let i = 0; i < 4; i++) assert.equal(at(1000n * S), 'serve');
    assert.equal(at(1000n * S), 'drop');
    const s = g.stats();
    assert.equal(s.rateLimited, 4);
    assert.equal(s.dropped, 4);
    assert.equal(s.kodSent, 0);
  });

  it('sends KoD RATE to a limited client at most once per 2^kodInterval s', () => {
    const g = new ServerGuard({ rateLimit: { interval: 3, burst: 1, leak: 0, kod: true, kodInterval: 0 } });
    const seq: GuardDecision[] = [];
    // 20 requests 0.1 s apart: 1 served (burst), then a KoD, then drops until 1 s later another KoD.
    for (let i = 0; i < 20; i++) seq.push(g.check(BigInt(i) * 100_000_000n, ep('192.0.2.1'), 48));
    assert.deepEqual(seq[0], { action: 'serve', reason: 'ok' });
    assert.deepEqual(seq[1], { action: 'kod', reason: 'rate-kod' });
    assert.deepEqual(seq[2], { action: 'drop', reason: 'rate-kod-limit' });
    assert.equal(seq.filter((d) => d.action === 'kod').length, 2);
    assert.equal(seq[11]?.action, 'kod');
    assert.equal(g.clients(2n * S)[0]?.kodSent, 2);
  });

  it('leaks about 1 in 2^leak limited requests', () => {
    const g = new ServerGuard({
      rateLimit: { interval: 10, burst: 1, leak: 2, kod: false },
      random: seeded(7),
    });
    let served = 0;
    const n = 20000;
    for (let i = 0; i < n; i++)
      if (g.check(BigInt(i) * 1000n, ep('192.0.2.1'), 48).action === 'serve') served++;
    const frac = (served - 1) / (n - 1);
    assert.ok(Math.abs(frac - 0.25) < 0.02, `leak fraction ${frac}`);
  });

  it('keeps serving a polite client while another floods (one table, one limiter)', () => {
    const g = new ServerGuard({ rateLimit: { interval: 3, burst: 8, leak: 0, kod: true } });
    let politeServed = 0;
    let floodServed = 0;
    let floodKod = 0;
    // 100 s of simulated time: flooder at 1000/s, polite client every 16 s.
    for (let ms = 0; ms < 100_000; ms++) {
      const raw = BigInt(ms) * 1_000_000n;
      const d = g.check(raw, ep('203.0.113.66'), 48);
      if (d.action === 'serve') floodServed++;
      if (d.action === 'kod') floodKod++;
      if (ms % 16_000 === 0) {
        assert.equal(g.check(raw, ep('192.0.2.1'), 48).action, 'serve', `polite at ${ms} ms`);
        politeServed++;
      }
    }
    assert.equal(politeServed, 7);
    // Burst 8 + 100 s / 8 s = 12 more at most.
    assert.ok(floodServed <= 8 + 13, `flooder served ${floodServed}`);
    assert.ok(floodKod <= 101, `kods ${floodKod}`);
  });

  it('rejects out-of-range parameters', () => {
    assert.throws(() => new ServerGuard({ rateLimit: { interval: 20 } }), RangeError);
    assert.throws(() => new ServerGuard({ rateLimit: { burst: 0 } }), RangeError);
    assert.throws(() => new ServerGuard({ rateLimit: { leak: -1 } }), RangeError);
    assert.throws(() => new ServerGuard({ clientTableSize: 0 }), RangeError);
  });

  it('reconfigure keeps clients and shrinks the table', () => {
    const g = new ServerGuard({ clientTableSize: 8 });
    for (let i = 0; i < 8; i++) g.check(BigInt(i), ep(`192.0.2.${i}`), 48);
    g.reconfigure({ clientTableSize: 3, deny: ['192.0.2.7'] });
    assert.equal(g.clientCount, 3);
    assert.equal(g.check(9n, ep('192.0.2.7'), 48).action, 'drop');
    assert.equal(g.stats().requests, 9);
  });
});

describe('no amplification', () => {
  it('limits unauthenticated responses to the request length', () => {
    assert.equal(allowedResponseLength(48, false), 48);
    assert.equal(allowedResponseLength(68, false), 68);
    assert.equal(allowedResponseLength(48, true), Number.POSITIVE_INFINITY);
    const g = new ServerGuard();
    g.check(0n, ep('192.0.2.1'), 48);
    assert.equal(g.checkResponse(ep('192.0.2.1'), 48, 48, false), true);
    g.check(0n, ep('192.0.2.1'), 48);
    assert.equal(g.checkResponse(ep('192.0.2.1'), 48, 72, false), false);
    assert.equal(g.checkResponse(ep('192.0.2.1'), 48, 120, true), true);
    const s = g.stats();
    assert.equal(s.responses, 1);
    assert.equal(s.invalid.amplification, 1);
    assert.equal(g.clients(0n)[0]?.dropped, 1);
  });

  it('property: an allowed unauthenticated response never exceeds its request', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 2000 }), (req, resp) => {
        const g = new ServerGuard();
        g.check(0n, ep('192.0.2.1'), req);
        assert.equal(g.checkResponse(ep('192.0.2.1'), req, resp, false), resp <= req);
      }),
    );
  });
});

describe('randomness', () => {
  it('a limiter that leaks needs an injected random source (no predictable built-in generator)', () => {
    assert.throws(() => new ServerGuard({ rateLimit: { leak: 2 } }), /random source/);
    assert.doesNotThrow(() => new ServerGuard({ rateLimit: { leak: 0 } }));
    const draws: number[] = [];
    const g = new ServerGuard({
      rateLimit: { interval: 10, burst: 1, leak: 1, kod: false },
      random: () => {
        draws.push(1);
        return 0.9;
      },
    });
    for (let i = 0; i < 10; i++) g.check(0n, ep('192.0.2.1'), 48);
    assert.equal(draws.length, 9, 'every limited request asks the injected source');
    assert.equal(g.stats().responses, 1, '0.9 ≥ 1/2: no leak');
  });
});

describe('global response rate', () => {
  it('caps answers over all clients even when every request comes from a new address', () => {
    const g = new ServerGuard({
      clientTableSize: 16,
      rateLimit: { burst: 1 },
      maxResponseRate: 100,
      random: seeded(3),
    });
    let answered = 0;
    // 10 s at 10,000 requests/s from 65,536 rotating addresses: the per-client table churns.
    for (let i = 0; i < 100_000; i++) {
      const raw = BigInt(i) * 100_000n;
      const d = g.check(raw, ep(`10.${(i >> 8) & 255}.${i & 255}.1`), 48);
      if (d.action !== 'drop') answered++;
    }
    assert.ok(answered <= 100 + 10 * 100 + 1, `answered ${answered}`);
    assert.ok(answered >= 10 * 100 - 1, `answered ${answered}`);
    assert.ok((g.stats().invalid['global-rate'] ?? 0) > 90_000);
  });
});
