/**
 * Symmetric key types and values (src/config/keys.ts): chrony's and NTPsec's key-file names for
 * AES-CMAC keys, exact AES key lengths, and a key type the build cannot compute reported as a
 * configuration error with file, line and key (inline `[[key]]` and key file), never accepted.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type KeySupport, parseDigestType, parseKeyFile, parseKeyValue } from '../../src/config/keys.js';
import { ConfigError, formatIssue } from '../../src/config/parse.js';
import { loadConfigFile } from '../../src/daemon/load.js';

test('key type names of ntpkit, chrony and NTPsec', () => {
  const names: Array<[string, string | null]> = [
    ['MD5', 'MD5'],
    ['M', 'MD5'],
    ['sha1', 'SHA1'],
    ['SHA-1', 'SHA1'],
    ['SHA256', 'SHA256'],
    ['AES128CMAC', 'AES128CMAC'],
    ['AES-128-CMAC', 'AES128CMAC'],
    ['AES128', 'AES128CMAC'], // chrony
    ['AES', 'AES128CMAC'], // NTPsec
    ['aes-128', 'AES128CMAC'], // NTPsec's OpenSSL name
    ['AES256', 'AES256CMAC'], // chrony
    ['AES-256', 'AES256CMAC'], // NTPsec
    ['AES256CMAC', 'AES256CMAC'],
    ['AES192', null],
    ['SHA512', null],
    ['', null],
  ];
  for (const [text, type] of names) assert.equal(parseDigestType(text), type, text);
});

test('AES keys must have their cipher`s length exactly; digest keys any length', () => {
  assert.equal(
    (parseKeyValue('AES128CMAC', 'HEX:000102030405060708090a0b0c0d0e0f') as Uint8Array).length,
    16,
  );
  assert.equal((parseKeyValue('AES128CMAC', '000102030405060708090a0b0c0d0e0f') as Uint8Array).length, 16);
  assert.match(parseKeyValue('AES128CMAC', 'HEX:0001') as string, /16 bytes \(32 hex digits\), not 2/);
  assert.match(parseKeyValue('AES128CMAC', 'ASCII:eighteen-chars-xyz') as string, /not 18/);
  assert.equal((parseKeyValue('AES128CMAC', 'ASCII:sixteen-chars-xx') as Uint8Array).length, 16);
  const k256 = `HEX:${'ab'.repeat(32)}`;
  assert.equal((parseKeyValue('AES256CMAC', k256) as Uint8Array).length, 32);
  assert.match(parseKeyValue('AES256CMAC', 'HEX:000102030405060708090a0b0c0d0e0f') as string, /32 bytes/);
  assert.equal((parseKeyValue('SHA1', 'x') as Uint8Array).length, 1);
});

test('a key file in chrony and NTPsec syntax with AES keys', () => {
  const { keys, issues } = parseKeyFile(
    [
      '# chrony',
      '1 AES128 HEX:000102030405060708090a0b0c0d0e0f',
      `2 AES256 HEX:${'0f'.repeat(32)}`,
      '# NTPsec',
      '3 AES 00112233445566778899aabbccddeeff',
      '4 AES128CMAC 00112233445566778899aabbccddeeff',
      '5 AES 0011',
      '6 AES192 00112233445566778899aabbccddeeff0011223344556677',
    ].join('\n'),
  );
  assert.deepEqual(
    keys.map((k) => [k.id, k.type, k.key.length]),
    [
      [1, 'AES128CMAC', 16],
      [2, 'AES256CMAC', 32],
      [3, 'AES128CMAC', 16],
      [4, 'AES128CMAC', 16],
    ],
  );
  assert.deepEqual(
    issues.map((i) => i.line),
    [7, 8],
  );
  assert.match(issues[0]?.message ?? '', /^key 5: an AES128CMAC key must be 16 bytes/);
  assert.match(issues[1]?.message ?? '', /unknown key type 'AES192'/);
});

/** A build without MD5 and AES-256 (an OpenSSL in FIPS mode lacks MD5, for example). */
const LIMITED: KeySupport = {
  supports: (t) => t !== 'MD5' && t !== 'AES256CMAC',
  name: 'a limited test provider',
};

test('a key type the build cannot compute is a config error naming file, line and key', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ntpkit-keys-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'ntp.keys');
  await writeFile(keyFile, `# keys\n1 SHA1 HEX:${'11'.repeat(20)}\n2 AES256 HEX:${'22'.repeat(32)}\n`);
  const inline = join(dir, 'inline.toml');
  await writeFile(
    inline,
    '[[server]]\naddress = "192.0.2.1"\nkey = 7\n\n[[key]]\nid = 8\ntype = "SHA256"\nvalue = "HEX:00"\n\n[[key]]\nid = 7\ntype = "MD5"\nvalue = "ASCII:secret"\n',
  );
  await assert.rejects(loadConfigFile(inline, LIMITED), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.issues.length, 1);
    const i = e.issues[0];
    assert.equal(i?.file, inline);
    assert.equal(i?.line, 12);
    assert.equal(i?.key, 'key[1].type');
    assert.match(
      formatIssue(i ?? e.issues[0]!),
      /inline\.toml:12: key\[1\]\.type: key 7: type MD5 is not available in this build \(a limited test provider\)/,
    );
    return true;
  });
  const withFile = join(dir, 'file.toml');
  await writeFile(withFile, '[[server]]\naddress = "192.0.2.1"\nkey = 2\n\n[keys]\nfile = "ntp.keys"\n');
  await assert.rejects(loadConfigFile(withFile, LIMITED), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.issues[0]?.file, keyFile);
    assert.equal(e.issues[0]?.line, 3);
    assert.match(e.issues[0]?.message ?? '', /key 2: type AES256CMAC is not available/);
    return true;
  });
  // With this build's real provider (node:crypto) both load, every key with its type.
  const c = await loadConfigFile(withFile);
  assert.deepEqual(
    c.system.keys.map((k) => [k.id, k.type]),
    [
      [1, 'SHA1'],
      [2, 'AES256CMAC'],
    ],
  );
  assert.deepEqual(
    (await loadConfigFile(inline)).system.keys.map((k) => k.type),
    ['SHA256', 'MD5'],
  );
});
