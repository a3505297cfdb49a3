/**
 * `ntpkit query` against NTPsec ntpd (port 123, in its own network namespace).
 *
 * NTPsec cannot be given a known clock error with libfaketime: it takes receive timestamps from the
 * kernel (SO_TIMESTAMPNS), which faketime does not shift, while its transmit timestamps are shifted,
 * so a +2.5 s fake shows up as +1.25 s offset and −2.5 s delay (this test checks exactly that). The
 * accuracy check therefore uses the true clock (known offset 0) and compares with ntpdig (NTPsec's
 * own client) querying the same server.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createNetns, hasBinary, type NetnsPair, skipReason, startNtpsec } from '../support/peers.js';

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;

interface Reply {
  offset: number;
  delay: number;
  stratum: number;
  refid: string;
  port: number;
  version: number;
}

async function query(ns: NetnsPair): Promise<Reply> {
  // ntpd drops the very first request after start-up; several samples cover that.
  const r = await ns.exec(
    ns.a,
    process.execPath,
    [CLI, 'query', '--json', ns.addrB, '-n', '6', '-i', '0.1', '-t', '1'],
    {
      timeoutMs: 20_000,
    },
  );
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Reply;
}

test('query NTPsec ntpd in a namespace: offset within 1 ms of 0 and of ntpdig', async (t) => {
  const why = skipReason('root', 'ntpsec', 'setpriv', 'ip');
  if (why !== null) return t.skip(why);
  const ns = await createNetns('nkq', { addrA: '10.123.1.1/24', addrB: '10.123.1.2/24' });
  t.after(() => ns.cleanup());
  const srv = await startNtpsec({ netns: ns.b, waitForAddress: ns.addrB });
  t.after(() => srv.stop());
  const j = await query(ns);
  assert.ok(Math.abs(j.offset) < 0.001, `offset ${j.offset}`);
  // Both ends stamp in the kernel and the round trip takes microseconds; the server randomises its
  // timestamps below its precision, so the measured delay may come out a fraction of a µs negative.
  assert.ok(j.delay > -1e-6 && j.delay < 0.01, `delay ${j.delay}`);
  assert.equal(j.port, 123);
  assert.equal(j.version, 4);
  assert.ok(j.stratum >= 1 && j.stratum <= 15);
  assert.equal(j.refid, 'LOOP');
  if (hasBinary('ntpdig')) {
    // e.g. "2026-11-21 15:13:28.070 (+0000) +0.000012 +/- 0.000100 10.123.1.2 s1 no-leap"
    // ntpdig takes one sample per run; under load its own error can reach milliseconds, so keep its
    // best (smallest error bound) of three runs and allow 1 ms beyond the bound it reports itself.
    let theirs: number | null = null;
    let bound = Infinity;
    for (let i = 0; i < 3; i++) {
      const d = await ns.exec(ns.a, 'ntpdig', ['-t', '2', ns.addrB], { timeoutMs: 10_000 });
      const m = /\(\S+\)\s+([+-]\d+\.\d+)\s+\+\/-\s+(\d+\.\d+)/.exec(d.stdout);
      if (m !== null && Number(m[2]) < bound) {
        theirs = Number(m[1]);
        bound = Number(m[2]);
      }
    }
    assert.ok(theirs !== null, 'ntpdig got no answer');
    assert.ok(
      Math.abs(theirs - j.offset) < 0.001 + bound,
      `ntpdig ${theirs} +/- ${bound} vs ntpkit ${j.offset}`,
    );
  }
});

test('NTPsec under faketime +2.5 s: kernel receive stamps make it +1.25 s offset, -2.5 s delay', async (t) => {
  const why = skipReason('root', 'ntpsec', 'faketime', 'setpriv', 'ip');
  if (why !== null) return t.skip(why);
  const ns = await createNetns('nkq', { addrA: '10.123.1.1/24', addrB: '10.123.1.2/24' });
  t.after(() => ns.cleanup());
  const srv = await startNtpsec({ netns: ns.b, faketime: '+2.5s', waitForAddress: ns.addrB });
  t.after(() => srv.stop());
  const j = await query(ns);
  assert.ok(Math.abs(j.offset - 1.25) < 0.001, `offset ${j.offset}`);
  assert.ok(Math.abs(j.delay + 2.5) < 0.002, `delay ${j.delay}`);
});
