/**
 * Sanity checks of a server's reply to a client request (RFC 5905 section 8 "packet sanity tests",
 * named like chrony's tests). Pure: the one-shot query and the client engine share it.
 */

import { kissCode, kissCodeInfo } from './kiss.js';
import { LEAP, MODE, type NtpPacket } from './packet.js';

export type ResponseProblemCode =
  | 'NOT_SERVER_MODE'
  | 'ORIGIN_MISMATCH'
  | 'KISS_OF_DEATH'
  | 'ZERO_TRANSMIT'
  | 'ZERO_RECEIVE'
  | 'BAD_STRATUM'
  | 'UNSYNCHRONIZED'
  | 'ROOT_DISTANCE';

export type ResponseCheck =
  | { ok: true }
  | { ok: false; code: ResponseProblemCode; message: string; kissCode?: string };

export interface ResponseCheckOptions {
  /** Reject when rootDelay/2 + rootDispersion exceeds this (seconds). Default: no limit. */
  maxRootDistance?: number;
}

/**
 * Checks `response` against the `request` it should answer, in this order:
 * mode is server (4), the origin timestamp echoes our transmit timestamp (so spoofed or stale replies,
 * and spoofed KoDs, are dropped first), not a kiss-o'-death, transmit and receive timestamps non-zero,
 * stratum 1..15, leap indicator not "unsynchronized", optionally a root distance limit.
 */
export function checkServerResponse(
  request: NtpPacket,
  response: NtpPacket,
  options: ResponseCheckOptions = {},
): ResponseCheck {
  if (response.mode !== MODE.SERVER) {
    return {
      ok: false,
      code: 'NOT_SERVER_MODE',
      message: `the reply has mode ${response.mode}, not 4 (server); it is not an answer to our request`,
    };
  }
  if (response.originTimestamp !== request.transmitTimestamp) {
    return {
      ok: false,
      code: 'ORIGIN_MISMATCH',
      message:
        'the reply does not echo our transmit timestamp in its origin field: it is stale, duplicated or forged',
    };
  }
  const kiss = kissCode(response);
  if (kiss !== null) {
    const info = kissCodeInfo(kiss);
    return {
      ok: false,
      code: 'KISS_OF_DEATH',
      kissCode: kiss,
      message: `the server sent a kiss-o'-death with code ${kiss}${info === null ? '' : ` (${info.meaning})`}`,
    };
  }
  if (response.transmitTimestamp === 0n) {
    return { ok: false, code: 'ZERO_TRANSMIT', message: 'the reply has no transmit timestamp (it is zero)' };
  }
  if (response.receiveTimestamp === 0n) {
    return { ok: false, code: 'ZERO_RECEIVE', message: 'the reply has no receive timestamp (it is zero)' };
  }
  if (response.stratum < 1 || response.stratum > 15) {
    return {
      ok: false,
      code: 'BAD_STRATUM',
      message:
        response.stratum === 16
          ? 'the server is not synchronized (stratum 16)'
          : `the server reports stratum ${response.stratum}, outside 1..15`,
    };
  }
  if (response.leap === LEAP.UNSYNC) {
    return {
      ok: false,
      code: 'UNSYNCHRONIZED',
      message: 'the server says its clock is not synchronized (leap indicator 3)',
    };
  }
  if (options.maxRootDistance !== undefined) {
    const dist = response.rootDelay / 65536 / 2 + response.rootDispersion / 65536;
    if (dist > options.maxRootDistance) {
      return {
        ok: false,
        code: 'ROOT_DISTANCE',
        message: `the server's root distance ${dist.toFixed(3)} s exceeds the limit of ${options.maxRootDistance} s`,
      };
    }
  }
  return { ok: true };
}
