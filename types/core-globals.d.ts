/**
 * The web-standard globals the sans-IO core may use, for its own type check (tsconfig.core.json),
 * which has neither node's types nor the DOM's: only the WHATWG Encoding API's TextEncoder and
 * TextDecoder (in every JavaScript host: Node, Deno, browsers). Anything else a host provides
 * (clocks, timers, sockets, Buffer, process) stays out of the core.
 */
declare class TextEncoder {
  readonly encoding: string;
  encode(input?: string): Uint8Array;
}

declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean });
  readonly encoding: string;
  decode(input?: Uint8Array, options?: { stream?: boolean }): string;
}
