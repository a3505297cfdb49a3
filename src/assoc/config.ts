/**
 * The configuration of associations: a source (client, symmetric or broadcast client), a broadcast
 * server, and the symmetric keys they sign with. src/system re-exports these types.
 */
import type { MacAlgorithm } from '../wire/mac.js';

export type SourceMode =
  /** We are a client (mode 3) of a server (mode 4). */
  | 'server'
  /** Symmetric active (mode 1) association. */
  | 'peer'
  /** Symmetric passive (mode 2), mobilised by an incoming mode 1 packet (not configurable). */
  | 'passive'
  /** Broadcast client: calibrate with client exchanges, then listen to mode 5 from this server. */
  | 'broadcast-client';

export interface SourceConfig {
  /** Resolved address of the remote. */
  address: string;
  port: number;
  /** Name as configured (host or pool name), for display. */
  name?: string;
  mode: SourceMode;
  /** Poll exponents (log2 s). Defaults 6 and 10. */
  minpoll: number;
  maxpoll: number;
  iburst: boolean;
  burst: boolean;
  prefer: boolean;
  noselect: boolean;
  /** Request interleaved mode (falls back to basic when the peer does not support it). */
  xleave: boolean;
  /** Symmetric key ID for authentication (must exist in SystemConfig.keys). */
  key?: number;
  /** NTP version to send (default 4). */
  version: number;
  /** Samples with a delay above this (s) are discarded (chrony maxdelay). Default Infinity. */
  maxDelay?: number;
  /**
   * NTS-authenticated client association (mode 'server' only, RFC 8915): no request leaves without
   * an NTS session (keys + cookies from NTS-KE, given by the host through `setNtsSession`), and only
   * authenticated responses are accepted.
   */
  nts?: boolean;
}

/** A symmetric key's type: a digest (MD5, SHA1, SHA256) or AES-CMAC (AES128CMAC, AES256CMAC). */
export type DigestType = MacAlgorithm;

export interface SymmetricKey {
  id: number;
  type: DigestType;
  key: Uint8Array;
}

/** A broadcast server association (we send mode 5). */
export interface BroadcastConfig {
  /** Destination, e.g. a subnet broadcast address and port. */
  address: string;
  port: number;
  /** Poll exponent between broadcasts. Default 6. */
  poll: number;
  xleave: boolean;
  key?: number;
}
