/**
 * What the engine does with an association's outputs: packets become send actions to the peer,
 * events are reported, raw exchanges go to the discipline, a demobilisation is carried out.
 */
import type { Association, AssocOutput } from '../assoc/association.js';
import type { RawExchange } from '../clock/types.js';
import type { Action, SystemEvent } from './types.js';

/** What carrying out the outputs needs of the engine. */
export interface OutputHost {
  emit(e: SystemEvent): void;
  /** A validated exchange of association `id` for the discipline. */
  exchange(x: RawExchange, id: string): void;
  demobilise(id: string, reason: string): void;
}

/** Carries out `outs` of association `a` (sends into `actions`); true when its filter has a new sample. */
export function carryOut(a: Association, outs: AssocOutput[], actions: Action[], host: OutputHost): boolean {
  let updated = false;
  for (const o of outs) {
    switch (o.kind) {
      case 'send': {
        const act: Action = {
          kind: 'send',
          to: { address: a.cfg.address, port: a.cfg.port },
          bytes: o.bytes,
        };
        if (o.txId !== undefined) act.txId = o.txId;
        actions.push(act);
        break;
      }
      case 'event':
        host.emit(o.event);
        break;
      case 'update':
        updated = true;
        break;
      case 'exchange':
        host.exchange(o.exchange, a.id);
        break;
      case 'demobilise':
        host.demobilise(a.id, o.reason);
        break;
    }
  }
  return updated;
}
