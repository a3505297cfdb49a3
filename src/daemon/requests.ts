/**
 * The daemon's packet path: every datagram goes to the core's server decision
 * (`NtpServer.serve`, src/serve/server.ts) and the decision is carried out: nothing, a KoD or a
 * response sent from the socket the request came to, the engine's association layer, or the
 * mode 6 (ntpq) handler. No policy lives here.
 */
import type { RawTime } from '../clock/types.js';
import { handleMode6 } from '../observe/index.js';
import type { NtpServer, ServeDecision } from '../serve/server.js';
import type { DaemonSnapshot } from '../system/snapshot.js';
import type { Action, Endpoint, NtpEngine } from '../system/types.js';
import type { Logger } from './log.js';
import type { Transport, TransportSocket } from './transport.js';

/** What the packet path needs of the daemon. */
export interface RequestHost {
  server(): NtpServer;
  engine(): NtpEngine;
  transport(): Transport;
  execute(actions: Action[]): void;
  snapshot(): DaemonSnapshot;
  /** `[observe] ntpq-remote`: answer mode 6 from other hosts than loopback. */
  ntpqRemote(): boolean;
  raw(): RawTime;
  stopping(): boolean;
  log(): Logger;
}

export class RequestPath {
  constructor(private readonly h: RequestHost) {}

  /** Every datagram: the server decision (src/serve/server.ts) says what to do with it. */
  onDatagram(b: TransportSocket, bytes: Uint8Array, from: Endpoint, raw: RawTime): void {
    if (this.h.stopping()) return;
    const to: Endpoint = { address: b.address, port: b.port };
    let d: ServeDecision;
    try {
      d = this.h.server().serve(bytes, from, to, raw, this.h.raw());
    } catch (e) {
      this.h.log().error('engine error on request', { from, error: e });
      this.h.server().count('engine-error');
      return;
    }
    switch (d.kind) {
      case 'ignore':
        return;
      case 'kod':
        this.h.transport().send(d.bytes, from, {}, b);
        return;
      case 'respond':
        this.respond(b, d, from);
        return;
      case 'forward':
        if (d.to === 'control') this.onControl(b, bytes, from);
        else this.forward(raw, bytes, from, to);
        return;
    }
  }

  /** Sends a response of the server decision (from the address the request came to). */
  private respond(b: TransportSocket, d: ServeDecision & { kind: 'respond' }, to: Endpoint): void {
    const txId = d.txId;
    const onSent =
      txId === undefined
        ? undefined
        : (sent: RawTime) => {
            if (!this.h.stopping()) this.h.execute(this.h.engine().handleTransmitted(txId, sent));
          };
    this.h.transport().send(d.bytes, to, { onSent, transmitAt: d.transmitAt }, b);
  }

  /** A packet for the association layer (replies to our requests, peers, broadcasts). */
  private forward(raw: RawTime, bytes: Uint8Array, from: Endpoint, to: Endpoint): void {
    let actions: Action[];
    try {
      actions = this.h.engine().handlePacket(raw, bytes, from, to, this.h.raw());
    } catch (e) {
      this.h.log().error('engine error', { from, error: e });
      return;
    }
    this.h.execute(actions);
  }

  private onControl(b: TransportSocket, bytes: Uint8Array, from: Endpoint): void {
    let replies: Uint8Array[] | null;
    try {
      replies = handleMode6(bytes, from, () => this.h.snapshot(), {
        allowRemote: this.h.ntpqRemote(),
      });
    } catch (e) {
      this.h.log().warn('mode 6 handler error', { from, error: e });
      return;
    }
    for (const r of replies ?? []) this.h.transport().send(r, from, {}, b);
  }
}
