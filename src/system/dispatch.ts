/**
 * Where the engine sends a symmetric-active or broadcast packet: to its association, to a new
 * one the packet mobilises, or nowhere (the server decision then answers statelessly).
 */
import type { Association } from '../assoc/association.js';
import { checkAuth, type KeyRing } from '../assoc/util.js';
import { MODE, type NtpPacket } from '../wire/packet.js';
import { findAssoc } from './candidates.js';
import type { Endpoint, SystemConfig } from './types.js';

export type PacketTarget = 'association' | 'mobilise' | 'none';

/**
 * Who takes a symmetric-active (mode 1) or broadcast (mode 5) packet from `from`: an existing
 * association, a new one this packet would mobilise (`[system] allow-passive` /
 * `accept-broadcast`, authenticated when `require-auth-for-mobilise`), or nobody (a mode 1
 * packet then gets the server's stateless mode 2 answer; a mode 5 packet is dropped).
 */
export function packetTarget(
  assocs: Iterable<Association>,
  config: Pick<SystemConfig, 'allowPassive' | 'broadcastClient' | 'requireAuthForMobilise'>,
  keys: KeyRing,
  pkt: NtpPacket,
  from: Endpoint,
): PacketTarget {
  const symmetric = pkt.mode === MODE.SYMMETRIC_ACTIVE;
  const known = symmetric
    ? findAssoc(assocs, from, ['peer', 'passive'], true)
    : findAssoc(assocs, from, ['broadcast-client'], false);
  if (known !== undefined) return 'association';
  if (!(symmetric ? config.allowPassive : config.broadcastClient)) return 'none';
  const authOk = !config.requireAuthForMobilise || checkAuth(pkt, keys, undefined) === 'ok';
  return authOk ? 'mobilise' : 'none';
}
