/**
 * Symmetric keys: parsing key types, key values and key files (pure; the daemon reads the file).
 *
 * Key file format, one key per line, compatible with ntpd, NTPsec and chronyd:
 *   ID TYPE VALUE        # comment
 * TYPE (case-insensitive, `-` ignored):
 *   MD5 (also `M`), SHA1, SHA256                   digest keys, MAC = H(key || packet)
 *   AES128CMAC, AES128 (chrony), AES (NTPsec)      AES-128-CMAC (RFC 8573), 16-byte key
 *   AES256CMAC, AES256 (chrony, NTPsec AES-256)    AES-256-CMAC, 32-byte key
 * VALUE: `HEX:0a1b...` or `ASCII:secret` (chrony), otherwise ntpd's and NTPsec's rule: up to 20
 * characters is ASCII, longer is hexadecimal. An AES key must have exactly its cipher's length
 * (chrony refuses other lengths; NTPsec would pad or truncate, which hides a typo).
 *
 * Whether the build can compute a type is the crypto provider's business: `supports` lets the
 * caller (the daemon's loader, `config check`) turn a type it cannot do into an error with file and
 * line, so that no packet ever goes out unsigned for want of an algorithm.
 */
import type { DigestType, SymmetricKey } from '../system/types.js';
import { fromHex } from '../wire/hex.js';
import { macKeyLength } from '../wire/mac.js';
import { KeyLines } from './lines.js';
import type { ConfigIssue } from './reader.js';

/** The key types ntpkit knows, as its messages name them. */
export const KEY_TYPE_NAMES = 'MD5, SHA1, SHA256, AES128CMAC (AES128, AES), AES256CMAC (AES256)';

export function parseDigestType(s: string): DigestType | null {
  switch (s.toUpperCase().replace(/[-_]/g, '')) {
    case 'M':
    case 'MD5':
      return 'MD5';
    case 'SHA1':
      return 'SHA1';
    case 'SHA256':
      return 'SHA256';
    case 'AES':
    case 'AES128':
    case 'AES128CMAC':
      return 'AES128CMAC';
    case 'AES256':
    case 'AES256CMAC':
      return 'AES256CMAC';
    default:
      return null;
  }
}

function hexToBytes(h: string): Uint8Array | null {
  if (h.length === 0 || !/^[0-9a-fA-F]+$/.test(h)) return null;
  try {
    return fromHex(h);
  } catch {
    return null;
  }
}

/** Key material from its text form; an error message when invalid. */
export function parseKeyValue(type: DigestType, value: string): Uint8Array | string {
  let bytes: Uint8Array | null;
  if (value.startsWith('HEX:')) bytes = hexToBytes(value.slice(4));
  else if (value.startsWith('ASCII:')) bytes = new TextEncoder().encode(value.slice(6));
  else if (value.length <= 20) bytes = new TextEncoder().encode(value);
  else bytes = hexToBytes(value);
  if (bytes === null || bytes.length === 0)
    return 'key value is neither ASCII (≤ 20 characters) nor even-length hex';
  const need = macKeyLength(type);
  if (need !== null && bytes.length !== need)
    return `an ${type} key must be ${need} bytes (${2 * need} hex digits), not ${bytes.length}`;
  return bytes;
}

/** The message for a key whose type the build cannot compute. */
export function unsupportedKeyMessage(id: number, type: DigestType, provider: string): string {
  return `key ${id}: type ${type} is not available in this build (${provider})`;
}

export interface KeyFileIssue {
  line: number;
  message: string;
}

export interface KeySupport {
  /** Whether the build can compute MACs of this type. */
  supports(type: DigestType): boolean;
  /** The provider's name, for the message. */
  name: string;
}

/**
 * Parses a key file's text. Invalid lines are reported, valid ones returned; with `support`, a key
 * of a type the build cannot compute is an invalid line too.
 */
export function parseKeyFile(
  text: string,
  support?: KeySupport,
): { keys: SymmetricKey[]; issues: KeyFileIssue[] } {
  const keys: SymmetricKey[] = [];
  const issues: KeyFileIssue[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const parts = line.split(/\s+/);
    const [idText, typeText, value] = parts;
    const id = Number(idText);
    if (!Number.isInteger(id) || id < 1 || id > 0xffffffff) {
      issues.push({ line: i + 1, message: `bad key ID '${idText ?? ''}'` });
      return;
    }
    if (typeText === undefined || value === undefined) {
      issues.push({ line: i + 1, message: 'expected: ID TYPE VALUE' });
      return;
    }
    const type = parseDigestType(typeText);
    if (type === null) {
      issues.push({ line: i + 1, message: `unknown key type '${typeText}' (${KEY_TYPE_NAMES})` });
      return;
    }
    if (support !== undefined && !support.supports(type)) {
      issues.push({ line: i + 1, message: unsupportedKeyMessage(id, type, support.name) });
      return;
    }
    const key = parseKeyValue(type, value);
    if (typeof key === 'string') {
      issues.push({ line: i + 1, message: `key ${id}: ${key}` });
      return;
    }
    if (keys.some((k) => k.id === id)) {
      issues.push({ line: i + 1, message: `duplicate key ID ${id}` });
      return;
    }
    keys.push({ id, type, key });
  });
  return { keys, issues };
}

/**
 * Issues for the inline `[[key]]` entries of a parsed configuration whose type the build cannot
 * compute, with the line of each entry's `type`. `keys` are the inline keys in file order (what
 * `checkConfig` returns in `system.keys` before a key file is added).
 */
export function unsupportedInlineKeys(
  text: string,
  file: string,
  keys: readonly SymmetricKey[],
  support: KeySupport,
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  let lines: KeyLines | null = null;
  keys.forEach((k, i) => {
    if (support.supports(k.type)) return;
    lines ??= new KeyLines(text);
    const key = `key[${i}].type`;
    out.push({
      code: 'CONFIG_BAD_VALUE',
      file,
      line: lines.lineOf(key),
      key,
      message: unsupportedKeyMessage(k.id, k.type, support.name),
    });
  });
  return out;
}
