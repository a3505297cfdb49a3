/**
 * Test helper (not a test): a small NTS-capable NTP responder built from the pure server functions
 * (`verifyNtsRequest`, `buildNtsResponse`, `buildNtsNak`) over node:dgram, and a self-signed
 * certificate maker. Used by the NTS tests and the chrony interop tests.
 */

import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { nodeRandomBytes } from '../../src/io/nts-ke.js';
import { wallClockNs } from '../../src/io/udp-query.js';
import type { CookieJar } from '../../src/nts/cookie.js';
import { buildNtsNak, buildNtsResponse, verifyNtsRequest } from '../../src/nts/ntp.js';
import { unixNsToTimestamp } from '../../src/time/ntp-time.js';
import { emptyPacket, MODE } from '../../src/wire/packet.js';
import { freeTempDir, removeDir, runCommand, skipReason } from '../support/peers.js';

export interface ResponderStats {
  authenticated: number;
  naks: number;
  failures: string[];
}

export interface NtsResponder {
  stats: ResponderStats;
  close(): Promise<void>;
}

/**
 * Serves NTS-protected NTP (stratum 1, refid 'NTSR') on `host` (default 127.0.0.1):`port`. With `tamper`, it flips one
 * byte of the authenticator's ciphertext in every response (a forged reply a client must reject).
 */
export async function startNtsResponder(o: {
  port: number;
  jar: CookieJar;
  tamper?: boolean;
  host?: string;
}): Promise<NtsResponder> {
  const stats: ResponderStats = { authenticated: 0, naks: 0, failures: [] };
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    const rx = unixNsToTimestamp(wallClockNs());
    const v = verifyNtsRequest(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), o.jar);
    const h = emptyPacket();
    h.mode = MODE.SERVER;
    h.stratum = 1;
    h.precision = -20;
    h.referenceId = 0x4e545352; // 'NTSR'
    h.rootDispersion = 16; // ~0.25 ms
    if (!v.ok) {
      stats.failures.push(v.code);
      if (v.nakUniqueId !== undefined) {
        stats.naks++;
        sock.send(buildNtsNak(h, v.nakUniqueId), rinfo.port, rinfo.address);
      }
      return;
    }
    const req = v.context.packet;
    h.version = req.version;
    h.poll = req.poll;
    h.originTimestamp = req.transmitTimestamp;
    h.receiveTimestamp = rx;
    h.referenceTimestamp = rx;
    h.transmitTimestamp = unixNsToTimestamp(wallClockNs());
    const out = buildNtsResponse(h, v.context, o.jar, nodeRandomBytes);
    if (o.tamper === true) out[out.length - 20] = (out[out.length - 20] ?? 0) ^ 0x40;
    stats.authenticated++;
    sock.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(o.port, o.host ?? '127.0.0.1', () => {
      sock.off('error', reject);
      resolve();
    });
  });
  return { stats, close: () => new Promise<void>((r) => sock.close(() => r())) };
}

/** A self-signed P-256 certificate for localhost, 127.0.0.1 and 127.0.0.2 in `dir` (openssl, as TESTRIG.md). */
export async function makeCert(
  dir: string,
): Promise<{ keyPath: string; certPath: string; key: Buffer; cert: Buffer }> {
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  const r = await runCommand('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    certPath,
    '-days',
    '30',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:127.0.0.2',
  ]);
  if (r.code !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { keyPath, certPath, key: await readFile(keyPath), cert: await readFile(certPath) };
}

/**
 * For a test that needs a certificate: skips the test without openssl (null), else a temp dir
 * (removed after the test) holding a fresh certificate.
 */
export async function certFixture(
  t: TestContext,
): Promise<(Awaited<ReturnType<typeof makeCert>> & { dir: string }) | null> {
  const why = skipReason('openssl');
  if (why !== null) {
    t.skip(why);
    return null;
  }
  const dir = await freeTempDir('ntpkit-nts-');
  t.after(() => removeDir(dir));
  return { dir, ...(await makeCert(dir)) };
}
