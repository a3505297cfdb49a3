/**
 * Captured packets from real chronyd and NTPsec (test/vectors/*.json, made by test/vectors/capture.ts):
 * each is decoded field by field and compared with tshark's independent decoding stored next to it,
 * re-encoded to identical bytes, and (where the key is known) its MAC verified with the node:crypto provider.
 */

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { nodeCrypto } from '../../src/io/crypto.js';
import { ntpTimeToUnixNs, resolveTimestamp } from '../../src/time/ntp-time.js';
import { fromHex, toHex } from '../../src/wire/hex.js';
import { macKey, verifyPacketMac } from '../../src/wire/mac.js';
import { decodePacket, encodePacket, MODE, type NtpPacket } from '../../src/wire/packet.js';
import { checkServerResponse } from '../../src/wire/validate.js';
import type { VectorFile } from '../vectors/capture.js';

const DIR = new URL('../../../test/vectors/', import.meta.url);
const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** tshark's absolute time text ("Nov 21, 2026 15:08:47.477308566 UTC") to Unix ns. */
function tsharkTime(text: string): bigint {
  const m = /^(\w{3})\s+(\d+), (\d{4}) (\d{2}):(\d{2}):(\d{2})\.(\d{9}) UTC$/.exec(text);
  assert.ok(m !== null, `unexpected tshark time '${text}'`);
  const ms = Date.UTC(
    Number(m[3]),
    MONTHS.indexOf(m[1] ?? ''),
    Number(m[2]),
    Number(m[4]),
    Number(m[5]),
    Number(m[6]),
  );
  return BigInt(ms) * 1_000_000n + BigInt(m[7] ?? '0');
}

/** Wireshark places timestamps in 1968..2104: the era nearest to 2036-02-07 (NTP time 2^64). */
function wiresharkUnixNs(ts: bigint): bigint {
  return ntpTimeToUnixNs(resolveTimestamp(ts, 1n << 64n));
}

function checkTime(field: string, ts: bigint, text: string | undefined): void {
  if (text === undefined || text === '' || text === 'NULL') {
    assert.equal(ts, 0n, `${field}: tshark shows no time, so the timestamp must be zero`);
    return;
  }
  const diff = wiresharkUnixNs(ts) - tsharkTime(text);
  assert.ok(diff >= -1n && diff <= 1n, `${field}: ${wiresharkUnixNs(ts)} vs tshark ${text}`);
}

/** Symmetric keys the capture script configured (chrony HEX: keys and NTPsec hex keys). */
const KEYS: Record<string, Record<number, { type: 'MD5' | 'SHA1' | 'SHA256'; key: string }>> = {
  'chrony 4.3': {
    1: { type: 'MD5', key: '000102030405060708090a0b0c0d0e0f' },
    2: { type: 'SHA1', key: '0f0e0d0c0b0a09080706050403020100aabbccdd' },
    3: { type: 'SHA256', key: '00112233445566778899aabbccddeeff' },
  },
  'NTPsec 1.2.2': {
    1: { type: 'MD5', key: '000102030405060708090a0b0c0d0e0f' },
    2: { type: 'SHA1', key: '0f0e0d0c0b0a09080706050403020100aabbccdd' },
  },
};

test('test vectors exist for chrony and NTPsec', () => {
  assert.ok(files.some((f) => f.startsWith('chrony-')));
  assert.ok(files.some((f) => f.startsWith('ntpsec-')));
  assert.ok(files.length >= 8);
});

for (const file of files) {
  const vec = JSON.parse(readFileSync(new URL(file, DIR), 'utf8')) as VectorFile;
  test(`vector ${vec.name}: ${vec.description}`, () => {
    assert.ok(vec.packets.length > 0);
    let lastRequest: NtpPacket | null = null;
    for (const [i, pkt] of vec.packets.entries()) {
      const bytes = fromHex(pkt.hex);
      const r = decodePacket(bytes);
      assert.ok(r.ok, `packet ${i} does not decode: ${r.ok ? '' : r.error.message}`);
      const p = r.packet;
      const t = pkt.tshark;
      assert.equal(p.leap, Number(t['ntp.flags.li']), 'leap');
      assert.equal(p.version, Number(t['ntp.flags.vn']), 'version');
      assert.equal(p.mode, Number(t['ntp.flags.mode']), 'mode');
      assert.equal(p.stratum, Number(t['ntp.stratum']), 'stratum');
      assert.equal(p.poll & 0xff, Number(t['ntp.ppoll']), 'poll');
      assert.equal(p.precision & 0xff, Number(t['ntp.precision']), 'precision');
      assert.equal(p.rootDelay, Number(t['ntp.rootdelay']), 'root delay');
      assert.equal(p.rootDispersion, Number(t['ntp.rootdispersion']), 'root dispersion');
      assert.equal(p.referenceId.toString(16).padStart(8, '0'), t['ntp.refid'], 'refid');
      checkTime('reference', p.referenceTimestamp, t['ntp.reftime']);
      checkTime('origin', p.originTimestamp, t['ntp.org']);
      checkTime('receive', p.receiveTimestamp, t['ntp.rec']);
      checkTime('transmit', p.transmitTimestamp, t['ntp.xmt']);
      if (t['ntp.keyid'] === '') {
        assert.equal(p.mac, null, 'tshark saw no MAC');
      } else {
        assert.ok(p.mac !== null, 'tshark saw a MAC');
        assert.equal(p.mac.keyId.toString(16).padStart(8, '0'), t['ntp.keyid'], 'key id');
        assert.equal(toHex(p.mac.digest), t['ntp.mac'], 'digest');
        const k = KEYS[vec.peer]?.[p.mac.keyId];
        assert.ok(k !== undefined, `vector uses unknown key ${p.mac.keyId}`);
        assert.equal(
          verifyPacketMac(p, macKey(nodeCrypto, k.type, fromHex(k.key))),
          'ok',
          'MAC verifies with the node:crypto provider',
        );
        const tampered = { ...p, transmitTimestamp: p.transmitTimestamp ^ 1n };
        assert.equal(verifyPacketMac(tampered, macKey(nodeCrypto, k.type, fromHex(k.key))), 'bad-digest');
      }
      const types = p.extensions.map((e) => `0x${e.type.toString(16).padStart(4, '0')}`).join(',');
      const lengths = p.extensions.map((e) => String(4 + e.body.length)).join(',');
      assert.equal(types, t['ntp.ext.type'] ?? '', 'extension types');
      assert.equal(lengths, t['ntp.ext.length'] ?? '', 'extension lengths');
      assert.deepEqual(encodePacket(p), bytes, 're-encodes to identical bytes');
      if (pkt.direction === 'request') {
        assert.equal(p.mode, MODE.CLIENT);
        lastRequest = p;
      } else {
        assert.equal(p.mode, MODE.SERVER);
        if (lastRequest !== null && !vec.name.includes('xleave')) {
          assert.deepEqual(
            checkServerResponse(lastRequest, p),
            { ok: true },
            'the reply passes the sanity checks',
          );
        }
      }
    }
  });
}
