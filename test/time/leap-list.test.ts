/**
 * The leap-second list: the system's file (Debian's tzdata) parsed and its hash verified, a bad
 * hash, an expired list (warned about, not trusted by the vote), a missing file, malformed lines, and
 * the bounded read (an oversized file, an endless device).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { DEFAULT_LEAP_FILE } from '../../src/config/types.js';
import { nodeCrypto } from '../../src/io/crypto.js';
import { loadLeapFile } from '../../src/io/leap-file.js';
import { LeapVote } from '../../src/system/leap.js';
import {
  LeapListError,
  leapListExpired,
  listLeapAt,
  parseLeapList,
  taiUtcAt,
} from '../../src/time/leap-list.js';
import { type NtpTime, UNIX_EPOCH_NTP_SECONDS } from '../../src/time/ntp-time.js';

/** NTP time of a UTC date (midnight), from Unix seconds. */
function ntp(unixSeconds: number): NtpTime {
  return (BigInt(unixSeconds) + UNIX_EPOCH_NTP_SECONDS) << 32n;
}
const JAN_2017 = ntp(1483228800);
const DEC_31_2016_NOON = ntp(1483185600);

/** A small list in the file's format with a correct hash (computed here from the same rule). */
function sample(opts: { expires?: number; corrupt?: boolean } = {}): string {
  const updated = 3960835200;
  const expires = opts.expires ?? 3991593600;
  const data = [
    ['3644697600', '36'],
    ['3692217600', '37'],
  ];
  const digits = `${updated}${expires}${data.map(([a, b]) => `${a}${b}`).join('')}`;
  const h = Buffer.from(nodeCrypto.digest('SHA1', new TextEncoder().encode(digits))).toString('hex');
  const words = h.match(/.{8}/g)!.join(' ');
  const rows = data.map(([a, b]) => `${a}\t${b}\t# a leap`);
  if (opts.corrupt) rows[1] = '3692304000\t37\t# moved by a day';
  return `# test list\n#$\t${updated}\n#@\t${expires}\n${rows.join('\n')}\n#h\t${words}\n`;
}

test("the system's leap-seconds.list parses, its hash verifies, and it has the 2016 leap", () => {
  assert.ok(
    existsSync(DEFAULT_LEAP_FILE),
    `${DEFAULT_LEAP_FILE} missing: install tzdata (scripts/install-peers.sh)`,
  );
  const list = parseLeapList(readFileSync(DEFAULT_LEAP_FILE, 'utf8'), nodeCrypto, DEFAULT_LEAP_FILE);
  assert.ok(list.entries.length >= 28);
  assert.equal(list.entries[0]!.taiUtc, 10);
  assert.equal(taiUtcAt(list, DEC_31_2016_NOON), 36);
  assert.equal(taiUtcAt(list, JAN_2017), 37);
  assert.equal(listLeapAt(list, JAN_2017), 'insert');
  assert.equal(listLeapAt(list, ntp(1485907200)), null); // 2017-02-01
  assert.ok(list.expires > list.updated);
});

test('a list whose contents do not match its hash is refused, naming the file', () => {
  assert.doesNotThrow(() => parseLeapList(sample(), nodeCrypto, 'ok.list'));
  assert.throws(
    () => parseLeapList(sample({ corrupt: true }), nodeCrypto, 'bad.list'),
    (e: unknown) => e instanceof LeapListError && /^bad\.list: hash mismatch/.test(e.message),
  );
  const noHash = sample().replace(/^#h.*$/m, '');
  assert.throws(() => parseLeapList(noHash, nodeCrypto, 'x.list'), /no hash line/);
  const badLine = sample().replace('3644697600\t36', '3644697600\tthirty-six');
  assert.throws(() => parseLeapList(badLine, nodeCrypto, 'x.list'), /^LeapListError: x\.list:4: TAI-UTC/);
});

test('an expired list is warned about once and not trusted: the network vote alone decides', () => {
  const list = parseLeapList(sample({ expires: 3692131200 }), nodeCrypto, 'old.list'); // expired 2016-12-31
  assert.ok(leapListExpired(list, DEC_31_2016_NOON));
  const vote = new LeapVote(list);
  const first = vote.update(DEC_31_2016_NOON, [0, 0, 0]);
  assert.deepEqual(
    first.map((c) => c.action),
    ['list-expired'],
  );
  assert.equal(vote.current(), null, 'an expired list schedules nothing');
  assert.equal(vote.taiUtc(DEC_31_2016_NOON), null);
  assert.deepEqual(vote.update(DEC_31_2016_NOON + (60n << 32n), [0, 0, 0]), [], 'warned once');
  // The network alone: three of three survivors announce.
  const ch = vote.update(DEC_31_2016_NOON + (120n << 32n), [1, 1, 1]);
  assert.equal(ch[0]?.action, 'scheduled');
  assert.equal(vote.current()?.list, 'expired');
  // A valid list schedules on its own, and says it agrees.
  const fresh = new LeapVote(parseLeapList(sample(), nodeCrypto, 'ok.list'));
  fresh.update(DEC_31_2016_NOON, [0, 0, 0]);
  assert.deepEqual(fresh.current(), { kind: 'insert', at: JAN_2017, votes: 0, sources: 3, list: 'agrees' });
  assert.equal(fresh.taiUtc(DEC_31_2016_NOON), 36);
});

test('loadLeapFile: the system default, a missing configured file, "none", a bad file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ntpkit-leap-'));
  try {
    const sys = await loadLeapFile(null, nodeCrypto, { now: DEC_31_2016_NOON });
    assert.ok(sys.ok && sys.list !== null && sys.file === DEFAULT_LEAP_FILE && !sys.expired, inspect(sys));
    assert.equal(taiUtcAt(sys.list, JAN_2017), 37);
    const absentDefault = await loadLeapFile(null, nodeCrypto, { systemFile: join(dir, 'nope') });
    assert.deepEqual(absentDefault, { ok: true, list: null, file: null, expired: false });
    const missing = await loadLeapFile(join(dir, 'missing.list'), nodeCrypto);
    assert.ok(!missing.ok, inspect(missing));
    assert.equal(missing.error, `leap-file ${join(dir, 'missing.list')}: no such file or directory (ENOENT)`);
    assert.deepEqual(await loadLeapFile('none', nodeCrypto), {
      ok: true,
      list: null,
      file: null,
      expired: false,
    });
    writeFileSync(join(dir, 'bad.list'), sample({ corrupt: true }));
    const bad = await loadLeapFile(join(dir, 'bad.list'), nodeCrypto);
    assert.ok(!bad.ok && /bad\.list: hash mismatch/.test(bad.error), inspect(bad));
    // A directory where the system list should be is an error, not "no list".
    const isDir = await loadLeapFile(null, nodeCrypto, { systemFile: dir });
    assert.ok(!isDir.ok && /: is a directory$/.test(isDir.error), inspect(isDir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadLeapFile: an expired file loads, flagged expired (the daemon warns; the vote does not trust it)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ntpkit-leap-'));
  try {
    const file = join(dir, 'old.list');
    writeFileSync(file, sample({ expires: 3692131200 })); // expired 2016-12-31 00:00
    const r = await loadLeapFile(file, nodeCrypto, { now: DEC_31_2016_NOON });
    assert.ok(r.ok && r.list !== null && r.expired, inspect(r));
    const before = await loadLeapFile(file, nodeCrypto, { now: ntp(1483056000) }); // 2016-12-30
    assert.ok(before.ok && !before.expired);
    const vote = new LeapVote(r.list);
    vote.update(DEC_31_2016_NOON, [0, 0, 0]);
    assert.equal(vote.current(), null, 'the expired list alone schedules nothing');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadLeapFile reads through the bounded reader: an oversized file, /dev/zero', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ntpkit-leap-'));
  try {
    writeFileSync(join(dir, 'huge.list'), `${sample()}${'#'.repeat(300 * 1024)}\n`);
    const huge = await loadLeapFile(join(dir, 'huge.list'), nodeCrypto);
    assert.ok(!huge.ok, inspect(huge));
    assert.match(huge.error, /^leap-file .*huge\.list: \d+ bytes, larger than the 256 KiB limit$/);
    // An endless device costs no more than the limit, and says what it is.
    const zero = await loadLeapFile('/dev/zero', nodeCrypto, { maxBytes: 4096 });
    assert.ok(!zero.ok, inspect(zero));
    assert.equal(zero.error, 'leap-file /dev/zero: a character device, larger than the 4 KiB limit');
    // Just under the limit is fine: the bound is on bytes, not a guess.
    const text = sample();
    writeFileSync(join(dir, 'exact.list'), text);
    const exact = await loadLeapFile(join(dir, 'exact.list'), nodeCrypto, {
      maxBytes: Buffer.byteLength(text),
    });
    assert.ok(exact.ok && exact.list !== null);
    const over = await loadLeapFile(join(dir, 'exact.list'), nodeCrypto, {
      maxBytes: Buffer.byteLength(text) - 1,
    });
    assert.ok(!over.ok && /larger than the/.test(over.error));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
