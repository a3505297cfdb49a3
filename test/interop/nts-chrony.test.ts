/**
 * NTS interop with chrony 4.3 (ports 11620-11639):
 * 1. chronyd as NTS server: our NTS-KE client gets keys and cookies; NTS-protected NTP exchanges verify
 *    and bring new cookies; tampered responses are rejected; chronyd's serverstats count our traffic.
 * 2. chronyd as NTS client of our NTS-KE server and a responder built from our server functions:
 *    chronyc authdata shows NTS with cookies, ntpdata shows authenticated packets accepted, and a
 *    second source whose responder tampers with replies never gets a valid packet accepted; after a
 *    master-key rotation chronyd gets an NTS NAK, runs NTS-KE again and carries on.
 */

import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { test } from 'node:test';
import { ntsQuery } from '../../src/cli/nts-query.js';
import { nodeCrypto } from '../../src/io/crypto.js';
import { nodeRandomBytes, ntsKeClient, startNtsKeServer } from '../../src/io/nts-ke.js';
import { CookieJar } from '../../src/nts/cookie.js';
import { NtsClientSession, type NtsRequest } from '../../src/nts/ntp.js';
import { emptyPacket, MODE } from '../../src/wire/packet.js';
import { checkServerResponse } from '../../src/wire/validate.js';
import { makeCert, startNtsResponder } from '../nts/responder.js';
import { freeTempDir, removeDir, skipReason, startChronyd, waitFor } from '../support/peers.js';

function exchange(port: number, req: NtsRequest, timeoutMs = 2000): Promise<Uint8Array | null> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      resolve(null);
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(new Uint8Array(m));
    });
    s.send(req.bytes, port, '127.0.0.1');
  });
}

test('chronyd 4.3 as NTS server: KE, authenticated exchanges, new cookies, tampering rejected', async (t) => {
  const why = skipReason('root', 'chronyd', 'chronyc', 'openssl');
  if (why !== null) return t.skip(why);
  const dir = await freeTempDir('ntpkit-nts-');
  t.after(() => removeDir(dir));
  const { keyPath, certPath, cert } = await makeCert(dir);
  const srv = await startChronyd({
    port: 11620,
    conf: [`ntsserverkey ${keyPath}`, `ntsservercert ${certPath}`, 'ntsport 11621', `ntsdumpdir ${dir}`],
  });
  t.after(() => srv.stop());

  const ke = await ntsKeClient({ host: 'localhost', port: 11621, ca: cert });
  assert.ok(ke.ok, ke.ok ? '' : `${ke.code}: ${ke.message}`);
  assert.equal(ke.keys.aead, 15);
  assert.equal(ke.keys.c2s.length, 32);
  assert.equal(ke.cookies.length, 8);
  assert.equal(ke.ntpPort, 11620, 'chronyd names its NTP port in an NTPv4 Port record');

  const session = new NtsClientSession(nodeCrypto, ke.keys, ke.cookies);
  for (let i = 0; i < 3; i++) {
    const base = emptyPacket();
    base.mode = MODE.CLIENT;
    base.transmitTimestamp = (0xeb000000n + BigInt(i)) << 32n;
    const req = session.request(base, nodeRandomBytes);
    assert.ok(req !== null);
    const reply = await exchange(11620, req);
    assert.ok(reply !== null, 'chronyd answered');
    // Tampering: flip one bit in the header, in the authenticator's ciphertext, or change the UID.
    for (const at of [3, 40, reply.length - 5]) {
      const bad = Uint8Array.from(reply);
      bad[at] = (bad[at] ?? 0) ^ 0x10;
      const v = session.response(bad, req);
      assert.ok(!v.ok, `tampered byte ${at} must be rejected`);
      assert.ok(v.code === 'AUTH_FAILED' || v.code === 'UNIQUE_ID_MISMATCH', v.code);
    }
    const v = session.response(reply, req);
    assert.ok(v.ok, v.ok ? '' : `${v.code}: ${v.message}`);
    assert.equal(v.cookies.length, 1, 'one new cookie per spent cookie');
    assert.equal(session.cookies.length, 8);
    assert.ok(checkServerResponse(req.packet, v.packet).ok);
    assert.equal(v.packet.stratum, 1);
  }

  // A cookie chronyd cannot open: chronyd answers with an NTS NAK, which the session reports.
  const forged = new NtsClientSession(nodeCrypto, ke.keys, [
    Uint8Array.from(ke.cookies[0] ?? [], (b, i) => (i === 10 ? b ^ 1 : b)),
  ]);
  const nakBase = emptyPacket();
  nakBase.mode = MODE.CLIENT;
  nakBase.transmitTimestamp = 0xeb00000100000000n;
  const nakReq = forged.request(nakBase, nodeRandomBytes);
  assert.ok(nakReq !== null);
  const nak = await exchange(11620, nakReq);
  assert.ok(nak !== null, 'chronyd answers a bad cookie with a NAK');
  const nv = forged.response(nak, nakReq);
  assert.ok(!nv.ok);
  assert.equal(nv.code, 'NTS_NAK');

  // The CLI path (ntpkit query --nts) end to end.
  const q = await ntsQuery({
    host: 'localhost',
    kePort: 11621,
    caFile: certPath,
    samples: 3,
    timeoutMs: 1000,
    intervalMs: 50,
  });
  assert.ok(q.ok, q.ok ? '' : q.message);
  assert.equal(q.samples.length, 3);
  assert.ok(Math.abs(q.best.offset) < 0.005, `offset ${q.best.offset} s from a chronyd on the same clock`);
  // Both ends stamp in the kernel and the round trip takes microseconds; the server randomises its
  // timestamps below its precision, so the measured delay may come out a fraction of a µs negative.
  assert.ok(q.best.delay > -1e-6 && q.best.delay < 0.01, `delay ${q.best.delay}`);

  // chronyd's own counters agree: 2 NTS-KE connections, ≥ 6 authenticated NTP packets.
  const stats = await srv.chronyc(['serverstats']);
  const ke2 = /NTS-KE connections accepted\s*:\s*(\d+)/.exec(stats);
  const auth = /Authenticated NTP packets\s*:\s*(\d+)/.exec(stats);
  assert.ok(ke2 !== null && auth !== null, stats);
  assert.equal(Number(ke2[1]), 2);
  assert.ok(Number(auth[1]) >= 6, stats);
});

test('chronyd 4.3 as NTS client of our NTS-KE server and responder', async (t) => {
  const why = skipReason('root', 'chronyd', 'chronyc', 'openssl');
  if (why !== null) return t.skip(why);
  const dir = await freeTempDir('ntpkit-nts-');
  t.after(() => removeDir(dir));
  const { certPath, key, cert } = await makeCert(dir);
  const jar = new CookieJar(nodeCrypto, nodeRandomBytes);
  const keGood = await startNtsKeServer({ key, cert, port: 11630, jar, ntpPort: 11631 });
  t.after(() => keGood.close());
  const keBad = await startNtsKeServer({ key, cert, host: '127.0.0.2', port: 11632, jar, ntpPort: 11633 });
  t.after(() => keBad.close());
  const good = await startNtsResponder({ port: 11631, jar });
  t.after(() => good.close());
  const bad = await startNtsResponder({ host: '127.0.0.2', port: 11633, jar, tamper: true });
  t.after(() => bad.close());
  const cli = await startChronyd({
    port: 0,
    conf: [
      'server localhost port 11631 nts ntsport 11630 iburst minpoll -2 maxpoll -2',
      'server 127.0.0.2 port 11633 nts ntsport 11632 iburst minpoll -2 maxpoll -2',
      `ntstrustedcerts ${certPath}`,
    ],
  });
  t.after(() => cli.stop());

  const synced = await waitFor(async () => /^\^\*/m.test(await cli.chronyc(['sources'])), 15_000, 250);
  const sources = await cli.chronyc(['sources']);
  assert.ok(
    synced,
    `chronyd never selected our NTS source:\n${sources}\n${JSON.stringify([good.stats, bad.stats])}\n${cli.daemon.output()}`,
  );

  // authdata (CSV): Name,Mode,KeyID,Type,KLen,Last,Atmp,NAK,Cook,CLen
  const authdata = await cli.chronyc(['-c', 'authdata']);
  const rows = authdata
    .trim()
    .split('\n')
    .map((l) => l.split(','));
  assert.equal(rows.length, 2, authdata);
  for (const r of rows) {
    assert.equal(r[1], 'NTS', authdata);
    assert.equal(r[3], '15', 'AEAD_AES_SIV_CMAC_256');
    assert.equal(r[9], '104', 'our cookie length');
  }

  // ntpdata of both sources, once each has had a few exchanges.
  const blocksOf = async () => {
    const nd = await cli.chronyc(['ntpdata']);
    const blocks = nd.split(/\n\s*\n/).filter((b) => b.includes('Remote port'));
    const num = (b: string | undefined, field: string) =>
      Number(new RegExp(`${field}\\s*:\\s*(\\d+)`).exec(b ?? '')?.[1] ?? Number.NaN);
    const goodData = blocks.find((b) => /Remote port\s*:\s*11631/.test(b));
    const badData = blocks.find((b) => /Remote port\s*:\s*11633/.test(b));
    return { nd, goodData, badData, num };
  };
  await waitFor(async () => {
    const { goodData, badData, num } = await blocksOf();
    return num(goodData, 'Total good RX') >= 4 && num(badData, 'Total RX') >= 2;
  }, 8000);
  const { nd, goodData, badData, num } = await blocksOf();
  assert.ok(goodData !== undefined && badData !== undefined, nd);
  assert.match(goodData, /Authenticated\s*:\s*Yes/);
  const goodRx = num(goodData, 'Total good RX');
  assert.ok(goodRx >= 4, `good RX ${goodRx}\n${goodData}`);
  assert.match(goodData, /Reference ID\s*:\s*4E545352/);
  // The tampering source: chronyd received replies but accepted none.
  const badRx = num(badData, 'Total RX');
  const badValid = num(badData, 'Total valid RX');
  assert.ok(badRx >= 2, badData);
  assert.equal(badValid, 0, badData);
  assert.ok(bad.stats.authenticated >= 1);

  // Our side: every chronyd request verified, and chronyd came to the honest KE server once.
  assert.deepEqual(good.stats.failures, []);
  assert.ok(good.stats.authenticated >= 4);
  assert.equal(keGood.served(), 1);
  // The selected source (state '*') is the honest one, never the tampering one.
  const selected = (await cli.chronyc(['-c', 'sources'])).split('\n').find((l) => l.split(',')[1] === '*');
  assert.equal(selected?.split(',')[2], '127.0.0.1');

  // Master-key rotation: chronyd's cookies become unusable, our responder NAKs, chronyd runs NTS-KE
  // again and resumes authenticated exchanges with fresh cookies.
  const before = good.stats.authenticated;
  jar.rotate();
  jar.rotate();
  jar.rotate();
  const rekeyed = await waitFor(
    () => keGood.served() >= 2 && good.stats.authenticated >= before + 2,
    10_000,
    100,
  );
  assert.ok(rekeyed, `no re-key after a NAK: ${JSON.stringify(good.stats)}, KE served ${keGood.served()}`);
  assert.ok(good.stats.naks >= 1);
  assert.ok(
    good.stats.failures.every((f) => f === 'BAD_COOKIE'),
    JSON.stringify(good.stats.failures),
  );
});
