/**
 * Symmetric keys: parsing key values and key files (pure; the daemon reads the file).
 *
 * Key file format, one key per line, compatible with both ntpd and chronyd:
 *   ID TYPE VALUE        # comment
 * TYPE: MD5, SHA1, SHA256, AES128CMAC (also written AES-128-CMAC, M = MD5).
 * VALUE: `HEX:0a1b...` or `ASCII:secret` (chrony), otherwise ntpd's rule: up to 20 characters is
 * ASCII, longer is hexadecimal.
 */
import type { DigestType, SymmetricKey } from '../system/types.js';

export function parseDigestType(s: string): DigestType | null {
  switch (s.toUpperCase().replace(/-/g, '')) {
    case 'M':
    case 'MD5':
      return 'MD5';
    case 'SHA1':
      return 'SHA1';
    case 'SHA256':
      return 'SHA256';
    case 'AES128CMAC':
    case 'AES128':
      return 'AES128CMAC';
    default:
      return null;
  }
}

function hexToBytes(h: string): Uint8Array | null {
  if (h.length === 0 || h.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(h)) return null;
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
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
  if (type === 'AES128CMAC' && bytes.length !== 16)
    return 'an AES128CMAC key must be 16 bytes (32 hex digits)';
  return bytes;
}

export interface KeyFileIssue {
  line: number;
  message: string;
}

/** Parses a key file's text. Invalid lines are reported, valid ones returned. */
export function parseKeyFile(text: string): { keys: SymmetricKey[]; issues: KeyFileIssue[] } {
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
      issues.push({ line: i + 1, message: `unknown key type '${typeText}'` });
      return;
    }
    const key = parseKeyValue(type, value);
    if (typeof key === 'string') {
      issues.push({ line: i + 1, message: key });
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
