/**
 * Batched sockets on loopback: many datagrams in one receive, the kernel receive timestamp of each,
 * the destination address from pktinfo, and replies that leave from the address they were sent to.
 * Ports 12400–12409.
 */
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { describe, it } from 'node:test';
import { BatchSocket, DatagramSender } from '../../src/io/mmsg.js';
import { batchSupport } from '../../src/io/mmsg-sys.js';

const supported = batchSupport() === null;

function udp(type: 'udp4' | 'udp6', address: string): Promise<dgram.Socket> {
  const s = dgram.createSocket(type);
  return new Promise((res, rej) => {
    s.once('error', rej);
    s.bind(0, address, () => res(s));
  });
}

function nextMessage(s: dgram.Socket, ms = 2000): Promise<{ msg: Buffer; rinfo: dgram.RemoteInfo }> {
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error('no reply')), ms);
    s.once('message', (msg, rinfo) => {
      clearTimeout(t);
      res({ msg, rinfo });
    });
  });
}

const sendTo = (s: dgram.Socket, b: Uint8Array, port: number, host: string) =>
  new Promise<void>((res, rej) => s.send(b, port, host, (e) => (e ? rej(e) : res())));

/** Receives until `count` datagrams have arrived (or 2 s passed); returns the batch sizes. */
function receiveAll(sock: BatchSocket, count: number, each?: (i: number) => void): number[] {
  const sizes: number[] = [];
  let got = 0;
  const until = Date.now() + 2000;
  while (got < count && Date.now() < until) {
    const n = sock.receive();
    for (let i = 0; i < n; i++) each?.(i);
    if (n > 0) sizes.push(n);
    got += n;
  }
  return sizes;
}

describe('BatchSocket', { skip: supported ? false : `batched sockets: ${batchSupport()}` }, () => {
  it('reads a burst of datagrams in batches, each with its payload, source and kernel timestamp', async () => {
    const sock = BatchSocket.open({ address: '127.0.0.1', port: 12400, timeoutMs: 100 });
    const client = await udp('udp4', '127.0.0.1');
    try {
      const before = Date.now();
      for (let k = 0; k < 100; k++) await sendTo(client, new Uint8Array([k, 1, 2, 3]), 12400, '127.0.0.1');
      const after = Date.now();
      const seen: number[] = [];
      const sizes = receiveAll(sock, 100, (i) => {
        const d = sock.datagrams[i];
        assert.ok(d !== undefined);
        assert.equal(d.length, 4);
        assert.deepEqual([...d.data.subarray(1, 4)], [1, 2, 3]);
        assert.equal(d.from.address, '127.0.0.1');
        assert.equal(d.from.port, client.address().port);
        assert.equal(d.to.address, '127.0.0.1');
        assert.ok(d.rxSec > 0, 'a kernel receive timestamp');
        const ms = d.rxSec * 1000 + d.rxNsec / 1e6;
        assert.ok(ms >= before - 5 && ms <= after + 5, `stamp ${ms} within [${before}, ${after}]`);
        seen.push(d.data[0] ?? -1);
      });
      assert.deepEqual(
        seen,
        Array.from({ length: 100 }, (_, k) => k),
        'every datagram, in order',
      );
      assert.ok(sizes.length < 100 && Math.max(...sizes) > 1, `batches: ${sizes.join(',')}`);
      assert.ok(Math.max(...sizes) <= 64);
    } finally {
      client.close();
      sock.close();
    }
  });

  it('transmit stamps by request: numbered in send order, unstamped sends do not count, reset restarts', async () => {
    const sock = BatchSocket.open({ address: '127.0.0.1', port: 12404, timeoutMs: 100 });
    const client = await udp('udp4', '127.0.0.1');
    const ids = new Uint32Array(64);
    const sec = new Float64Array(64);
    const nsec = new Float64Array(64);
    const realNs = () => BigInt(Date.now()) * 1_000_000n;
    try {
      assert.equal(sock.enableTxStamps(), true);
      for (let k = 0; k < 6; k++) await sendTo(client, new Uint8Array([k, 0, 0, 0]), 12404, '127.0.0.1');
      const got: number[] = [];
      receiveAll(sock, 6, (i) => got.push(i));
      // Receives keep their SO_TIMESTAMPNS stamp with transmit stamps on.
      assert.ok((sock.datagrams[0]?.rxSec ?? -1) > 0);
      // Replies 0, 2, 4 ask for a stamp, 1, 3, 5 do not; a send from another sender in between.
      const before = realNs();
      for (const i of got.slice(0, 6)) {
        sock.reply(i).set([9, i]);
        sock.queue(i, 2, i % 2 === 0);
      }
      sock.flush();
      new DatagramSender(sock.fd, 4).send(new Uint8Array([5]), {
        address: '127.0.0.1',
        port: client.address().port,
      });
      sock.queue(0, 2, true);
      sock.flush();
      const after = realNs() + 1_000_000n;
      let n = 0;
      for (let tries = 0; tries < 20 && n < 4; tries++) {
        n += sock.readStamps(ids.subarray(n), sec.subarray(n), nsec.subarray(n));
        if (n < 4) await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(n, 4, 'one stamp per reply that asked');
      assert.deepEqual([...ids.subarray(0, 4)], [0, 1, 2, 3]);
      for (let j = 0; j < 4; j++) {
        const t = BigInt(sec[j] ?? 0) * 1_000_000_000n + BigInt(nsec[j] ?? 0);
        assert.ok(t >= before - 1_000_000n && t <= after, `stamp ${t} in [${before}, ${after}]`);
      }
      assert.equal(sock.readStamps(ids, sec, nsec), 0, 'nothing else queued');
      for (let k = 0; k < 8; k++) await nextMessage(client).catch(() => null);
      assert.equal(sock.resetTxStamps(), true);
      sock.queue(0, 2, true);
      sock.flush();
      let m = 0;
      for (let tries = 0; tries < 20 && m < 1; tries++) {
        m = sock.readStamps(ids, sec, nsec);
        if (m < 1) await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(m, 1);
      assert.equal(ids[0], 0, 'the counter restarted');
    } finally {
      client.close();
      sock.close();
    }
  });

  it('times out without datagrams and returns 0', () => {
    const sock = BatchSocket.open({ address: '127.0.0.1', port: 12401, timeoutMs: 50 });
    try {
      const t0 = Date.now();
      assert.equal(sock.receive(), 0);
      assert.ok(Date.now() - t0 >= 40, 'waited for the timeout');
      assert.equal(sock.receive(false), 0);
    } finally {
      sock.close();
    }
  });

  it('on a wildcard address: reports the destination and replies from it (IPv4 pktinfo)', async () => {
    const sock = BatchSocket.open({ address: '0.0.0.0', port: 12402, timeoutMs: 100 });
    const client = await udp('udp4', '0.0.0.0');
    try {
      for (const dst of ['127.0.0.2', '127.0.0.3']) {
        await sendTo(client, new Uint8Array([7, 7]), 12402, dst);
        const reply = nextMessage(client);
        receiveAll(sock, 1, (i) => {
          const d = sock.datagrams[i];
          assert.equal(d?.to.address, dst);
          assert.ok((d?.ifindex ?? 0) > 0, 'interface index from pktinfo');
          const out = sock.reply(i);
          out.set([1, 2, 3]);
          sock.queue(i, 3);
        });
        assert.equal(sock.pending(), 1);
        sock.flush();
        const { msg, rinfo } = await reply;
        assert.deepEqual([...msg], [1, 2, 3]);
        assert.equal(rinfo.address, dst, 'the reply leaves from the address the request was sent to');
        assert.equal(rinfo.port, 12402);
      }
    } finally {
      client.close();
      sock.close();
    }
  });

  it('IPv6: destination from IPV6_PKTINFO, reply from it', async (t) => {
    let sock: BatchSocket;
    try {
      sock = BatchSocket.open({ address: '::', port: 12403, timeoutMs: 100 });
    } catch (e) {
      t.skip(`no IPv6: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    const client = await udp('udp6', '::1');
    try {
      await sendTo(client, new Uint8Array([9]), 12403, '::1');
      const reply = nextMessage(client);
      receiveAll(sock, 1, (i) => {
        const d = sock.datagrams[i];
        assert.equal(d?.to.address, '::1');
        assert.equal(d?.from.address, '::1');
        assert.ok((d?.rxSec ?? -1) > 0);
        sock.reply(i).set([4, 5]);
        sock.queue(i, 2);
      });
      sock.flush();
      const { msg, rinfo } = await reply;
      assert.deepEqual([...msg], [4, 5]);
      assert.equal(rinfo.address, '::1');
    } finally {
      client.close();
      sock.close();
    }
  });

  it('SO_REUSEPORT: two sockets share a port; a plain second bind is refused', () => {
    const a = BatchSocket.open({ address: '127.0.0.1', port: 12404 });
    const b = BatchSocket.open({ address: '127.0.0.1', port: 12404 });
    try {
      assert.equal(a.port, 12404);
      assert.equal(b.port, 12404);
      assert.throws(
        () => BatchSocket.open({ address: '127.0.0.1', port: 12404, reusePort: false }),
        /bind 127\.0\.0\.1:12404: .*errno 98/,
      );
    } finally {
      a.close();
      b.close();
    }
  });

  it('DatagramSender sends from another buffer on the same descriptor, from the chosen address', async () => {
    const sock = BatchSocket.open({ address: '0.0.0.0', port: 12405 });
    const client = await udp('udp4', '127.0.0.1');
    try {
      const sender = new DatagramSender(sock.fd, 4);
      const got = nextMessage(client);
      sender.send(
        new Uint8Array([42, 43]),
        { address: '127.0.0.1', port: client.address().port },
        '127.0.0.5',
      );
      const { msg, rinfo } = await got;
      assert.deepEqual([...msg], [42, 43]);
      assert.equal(rinfo.address, '127.0.0.5');
      assert.equal(rinfo.port, 12405);
      assert.throws(() => sender.send(new Uint8Array(4), { address: '127.0.0.1', port: 0 }), /sendmsg/);
    } finally {
      client.close();
      sock.close();
    }
  });
});
