import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { describe, it } from 'node:test';
import { KernelTimestamps, socketFd } from '../../src/io/kernel-timestamps.js';

const raw = () => process.hrtime.bigint();

async function pair(family: 4 | 6 = 4): Promise<{ a: dgram.Socket; b: dgram.Socket; port: number }> {
  const a = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
  const b = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
  const host = family === 6 ? '::1' : '127.0.0.1';
  await new Promise<void>((r) => a.bind(0, host, r));
  await new Promise<void>((r) => b.bind(0, host, r));
  return { a, b, port: b.address().port };
}

const available = process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64');

describe('kernel timestamps on loopback', { skip: available ? false : 'Linux x64/arm64 only' }, () => {
  it('finds the descriptor of a bound socket', async () => {
    const { a, b } = await pair();
    try {
      const fa = socketFd(a);
      const fb = socketFd(b);
      assert.ok(fa !== null && fa > 2 && fb !== null && fb !== fa);
    } finally {
      a.close();
      b.close();
    }
  });

  for (const family of [4, 6] as const)
    it(`orders send, kernel transmit, kernel receive and the message handler of each datagram (IPv${family})`, async () => {
      const { a, b, port } = await pair(family);
      const host = family === 6 ? '::1' : '127.0.0.1';
      const ta = KernelTimestamps.open(a, raw);
      const tb = KernelTimestamps.open(b, raw);
      assert.ok(ta !== null && tb !== null);
      assert.equal(ta.tx, true);
      const rows: { before: bigint; tx: bigint | null; cb: bigint; rx: bigint; handler: bigint }[] = [];
      let pendingRx: ((v: { rx: bigint; handler: bigint; bytes: Buffer }) => void) | null = null;
      b.on('message', (msg) => {
        const handler = raw();
        const rx = tb.received(handler);
        pendingRx?.({ rx, handler, bytes: msg });
      });
      try {
        // Switching receive stamps on for the first socket of the host flips a kernel static key from
        // a work queue, so a datagram arriving in the next moments may go unstamped: warm up first.
        await new Promise<void>((r) => {
          pendingRx = () => r();
          ta.sending();
          a.send(new Uint8Array(48), port, host);
        });
        await new Promise((r) => setTimeout(r, 20));
        ta.drain();
        const rx0 = tb.counters.rxKernel;
        const fallback0 = tb.counters.rxFallback;
        for (let i = 0; i < 40; i++) {
          const bytes = new Uint8Array(48);
          bytes[0] = 0x23;
          bytes[47] = i;
          const got = new Promise<{ rx: bigint; handler: bigint; bytes: Buffer }>((r) => {
            pendingRx = r;
          });
          ta.sending();
          const ticket = ta.track(bytes);
          assert.ok(ticket !== null);
          const before = raw();
          const sent = new Promise<{ tx: bigint | null; cb: bigint }>((r) =>
            a.send(bytes, port, host, (err) => {
              const cb = raw();
              ta.settle(ticket, (tx) => r({ tx, cb }), err !== null && err !== undefined);
            }),
          );
          const [{ tx, cb }, { rx, handler, bytes: echoed }] = await Promise.all([sent, got]);
          assert.equal(echoed[47], i);
          rows.push({ before, tx, cb, rx, handler });
        }
        const us = (x: bigint) => Number(x) / 1e3;
        for (const r of rows) {
          assert.ok(r.tx !== null, 'a kernel transmit stamp for every datagram');
          // 2 µs of slack for the two clock reads that convert a stamp.
          assert.ok(r.tx >= r.before - 2000n, `transmit ${us(r.tx - r.before)} µs after the send call`);
          assert.ok(r.tx <= r.cb + 2000n, `transmit ${us(r.cb - r.tx)} µs before the callback`);
          assert.ok(r.rx >= r.tx - 2000n, `receive ${us(r.rx - r.tx)} µs after transmit`);
          assert.ok(r.rx <= r.handler, 'the kernel receive stamp precedes the handler');
        }
        // Loopback: kernel transmit to kernel receive takes microseconds.
        const wire = rows.map((r) => Number((r.rx - (r.tx ?? 0n)) / 1000n)).sort((x, y) => x - y);
        assert.ok(
          (wire[wire.length >> 1] ?? 1e9) < 50,
          `median transmit→receive ${wire[wire.length >> 1]} µs`,
        );
        assert.equal(tb.counters.rxKernel - rx0, 40);
        assert.equal(
          tb.counters.rxFallback - fallback0,
          0,
          'every measured datagram got its kernel receive stamp',
        );
        assert.equal(ta.counters.txKernel, 40);
        assert.equal(ta.counters.txFallback, 0);
      } finally {
        ta.close();
        tb.close();
        a.close();
        b.close();
      }
    });

  it('drains copies nobody awaits and matches each awaited one by its bytes', async () => {
    const { a, b, port } = await pair();
    const ta = KernelTimestamps.open(a, raw);
    assert.ok(ta !== null);
    try {
      // Three sends in a row: the first untracked, the others tracked; callbacks in order.
      const payloads = [1, 2, 3].map((k) => new Uint8Array(48).fill(k));
      const tickets = payloads.map((p, k) => (k === 0 ? null : ta.track(p)));
      const results = await Promise.all(
        payloads.map(
          (p, k) =>
            new Promise<bigint | null>((r) => {
              ta.sending();
              a.send(p, port, '127.0.0.1', () => {
                const t = tickets[k];
                if (t === null || t === undefined) {
                  ta.drain();
                  r(null);
                } else ta.settle(t, r);
              });
            }),
        ),
      );
      assert.equal(results[0], null);
      assert.ok(typeof results[1] === 'bigint' && typeof results[2] === 'bigint');
      assert.ok((results[2] ?? 0n) >= (results[1] ?? 0n), 'stamps in sending order');
      assert.equal(ta.counters.txUnclaimed, 1);
      assert.equal(ta.counters.txKernel, 2);
    } finally {
      ta.close();
      a.close();
      b.close();
    }
  });

  it('gives up a stamp that never comes and falls back to the caller', async () => {
    const { a, b } = await pair();
    const ta = KernelTimestamps.open(a, raw);
    assert.ok(ta !== null);
    try {
      const t = ta.track(new Uint8Array(48).fill(9));
      assert.ok(t !== null);
      // Never sent: the retries run out and the callback gets null.
      const got = await new Promise<bigint | null>((r) => ta.settle(t, r));
      assert.equal(got, null);
      assert.equal(ta.counters.txFallback, 1);
    } finally {
      ta.close();
      a.close();
      b.close();
    }
  });
});
