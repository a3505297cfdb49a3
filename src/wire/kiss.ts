/**
 * Kiss-o'-death packets (RFC 5905 section 7.4): a reply with stratum 0 whose reference ID carries a
 * four-character ASCII "kiss code" telling the client what to do.
 */

import { MODE, type NtpPacket } from './packet.js';
import { refidFromString, refidToString } from './refid.js';

export type KissAction = 'stop' | 'reduce-rate' | 'info';

export interface KissCodeInfo {
  meaning: string;
  /** RFC 5905: DENY/RSTR → stop talking to the server; RATE → reduce the poll rate; others informational. */
  action: KissAction;
}

/** The RFC 5905 Figure 13 code table, plus NTSN from RFC 8915. */
export const KISS_CODES: Readonly<Record<string, KissCodeInfo>> = {
  ACST: { meaning: 'the association belongs to a unicast server', action: 'info' },
  AUTH: { meaning: 'server authentication failed', action: 'info' },
  AUTO: { meaning: 'Autokey sequence failed', action: 'info' },
  BCST: { meaning: 'the association belongs to a broadcast server', action: 'info' },
  CRYP: { meaning: 'cryptographic authentication or identification failed', action: 'info' },
  DENY: { meaning: 'access denied by remote server', action: 'stop' },
  DROP: { meaning: 'lost peer in symmetric mode', action: 'info' },
  RSTR: { meaning: 'access denied due to local policy', action: 'stop' },
  INIT: { meaning: 'the association has not yet synchronized for the first time', action: 'info' },
  MCST: { meaning: 'the association belongs to a dynamically discovered server', action: 'info' },
  NKEY: { meaning: 'no key found; either the key was never installed or is not trusted', action: 'info' },
  NTSN: {
    meaning: 'NTS negative acknowledgment (NAK): the server could not use the NTS cookie',
    action: 'info',
  },
  RATE: {
    meaning:
      'rate exceeded; the server has temporarily denied access because the client exceeded the rate threshold',
    action: 'reduce-rate',
  },
  RMOT: { meaning: 'alteration of association from a remote host running ntpdc', action: 'info' },
  STEP: {
    meaning: 'a step change in system time has occurred, but the association has not yet resynchronized',
    action: 'info',
  },
};

/** True for a kiss-o'-death: a packet from a server/peer/broadcaster with stratum 0. */
export function isKissOfDeath(p: NtpPacket): boolean {
  return (
    p.stratum === 0 &&
    (p.mode === MODE.SERVER ||
      p.mode === MODE.SYMMETRIC_ACTIVE ||
      p.mode === MODE.SYMMETRIC_PASSIVE ||
      p.mode === MODE.BROADCAST)
  );
}

/** The kiss code of a kiss-o'-death packet (e.g. 'RATE'), or null when `p` is not a KoD. */
export function kissCode(p: NtpPacket): string | null {
  return isKissOfDeath(p) ? refidToString(p.referenceId) : null;
}

/** The reference ID carrying a kiss code ('RATE' → 0x52415445). */
export function kissCodeToRefid(code: string): number {
  return refidFromString(code);
}

/** What a kiss code means, or null for a code outside the table. */
export function kissCodeInfo(code: string): KissCodeInfo | null {
  return KISS_CODES[code] ?? null;
}
