/**
 * NTS Key Establishment over TLS 1.3 (RFC 8915 section 4), client and server, over node:tls with ALPN
 * "ntske/1". The record logic is the pure src/nts/ke.ts; this module moves bytes and exports the
 * AEAD keys from the TLS session (`exportKeyingMaterial` with the label
 * "EXPORTER-network-time-security" and the context Protocol ID | AEAD ID | 0 (C2S) or 1 (S2C)).
 */

import { isIP, isIPv6, type Socket } from 'node:net';
import tls from 'node:tls';
import { CookieJar, type NtsKeys, type RandomBytes } from '../nts/cookie.js';
import {
  aeadKeyLength,
  buildKeError,
  buildKeRequest,
  buildKeResponse,
  exporterContext,
  interpretKeRequest,
  interpretKeResponse,
  KE_ALPN,
  KE_DEFAULT_PORT,
  KE_ERROR,
  KE_EXPORTER_LABEL,
  type KeProblemCode,
  type KeResponseInfo,
  scanKeMessage,
} from '../nts/ke.js';
import { nodeRandomBytes as cryptoRandomBytes } from './crypto.js';

/** Node's crypto-strong random bytes as the injected RandomBytes of src/nts (src/io/crypto.ts). */
export const nodeRandomBytes: RandomBytes = cryptoRandomBytes;

/** Derives the C2S and S2C keys of a finished TLS session. */
export function exportNtsKeys(socket: tls.TLSSocket, aead: number): NtsKeys {
  const len = aeadKeyLength(aead);
  if (len === null) throw new RangeError(`unsupported AEAD ${aead}`);
  const c2s = socket.exportKeyingMaterial(len, KE_EXPORTER_LABEL, Buffer.from(exporterContext(aead, 'c2s')));
  const s2c = socket.exportKeyingMaterial(len, KE_EXPORTER_LABEL, Buffer.from(exporterContext(aead, 's2c')));
  return { aead, c2s: new Uint8Array(c2s), s2c: new Uint8Array(s2c) };
}

export interface NtsKeClientOptions {
  host: string;
  /** NTS-KE port, default 4460. */
  port?: number;
  /** PEM CA certificate(s) to trust instead of the system store (e.g. a self-signed server cert). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** TLS server name to verify (default: host). */
  servername?: string;
  /** Skip certificate verification (testing only). */
  insecure?: boolean;
  /** Overall time limit, ms (default 5000). */
  timeoutMs?: number;
  aeads?: readonly number[];
  /** NTPv4 Server / Port Negotiation records to send. */
  requestServer?: string;
  requestPort?: number;
}

export type NtsKeClientResult =
  | {
      ok: true;
      keys: NtsKeys;
      cookies: Uint8Array[];
      /** Where to send NTP: the server's NTPv4 Server record, else the KE host. */
      ntpServer: string;
      /** The server's NTPv4 Port record, else 123. */
      ntpPort: number;
      info: KeResponseInfo;
    }
  | { ok: false; code: KeProblemCode | 'TLS' | 'TIMEOUT' | 'ALPN' | 'CLOSED'; message: string };

/** Runs one NTS-KE exchange as a client. Never rejects. */
export function ntsKeClient(o: NtsKeClientOptions): Promise<NtsKeClientResult> {
  return new Promise((resolve) => {
    let done = false;
    let buf = new Uint8Array(0);
    const finish = (r: NtsKeClientResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // A finished exchange closes cleanly (TLS close_notify); failures just drop the connection.
      if (r.ok) {
        socket.end();
        setTimeout(() => socket.destroy(), 1000).unref();
      } else socket.destroy();
      resolve(r);
    };
    const opts: tls.ConnectionOptions = {
      host: o.host,
      port: o.port ?? KE_DEFAULT_PORT,
      ALPNProtocols: [KE_ALPN],
      minVersion: 'TLSv1.3',
      rejectUnauthorized: o.insecure !== true,
    };
    // SNI carries names only (RFC 6066); an IP literal is verified against the certificate's IP SANs.
    const servername = o.servername ?? (isIP(o.host) === 0 ? o.host : undefined);
    if (servername !== undefined) opts.servername = servername;
    if (o.ca !== undefined) opts.ca = o.ca;
    const socket = tls.connect(opts);
    const timer = setTimeout(
      () => finish({ ok: false, code: 'TIMEOUT', message: `NTS-KE with ${o.host} timed out` }),
      o.timeoutMs ?? 5000,
    );
    socket.on('secureConnect', () => {
      if (socket.alpnProtocol !== KE_ALPN) {
        finish({ ok: false, code: 'ALPN', message: `the server did not agree to ALPN ${KE_ALPN}` });
        return;
      }
      const req: { aeads?: readonly number[]; server?: string; port?: number } = {};
      if (o.aeads !== undefined) req.aeads = o.aeads;
      if (o.requestServer !== undefined) req.server = o.requestServer;
      if (o.requestPort !== undefined) req.port = o.requestPort;
      socket.write(buildKeRequest(req));
    });
    socket.on('data', (chunk: Buffer) => {
      const next = new Uint8Array(buf.length + chunk.length);
      next.set(buf);
      next.set(chunk, buf.length);
      buf = next;
      const s = scanKeMessage(buf);
      if (!s.ok) {
        finish({ ok: false, code: 'MALFORMED', message: s.error.message });
        return;
      }
      if (!s.complete) return;
      const r = interpretKeResponse(s.records, o.aeads);
      if (!r.ok) {
        finish({ ok: false, code: r.problem.code, message: r.problem.message });
        return;
      }
      let keys: NtsKeys;
      try {
        keys = exportNtsKeys(socket, r.info.aead);
      } catch (err) {
        finish({ ok: false, code: 'TLS', message: `key export failed: ${(err as Error).message}` });
        return;
      }
      finish({
        ok: true,
        keys,
        cookies: r.info.cookies,
        ntpServer: r.info.server ?? o.host,
        ntpPort: r.info.port ?? 123,
        info: r.info,
      });
    });
    socket.on('error', (err) => finish({ ok: false, code: 'TLS', message: err.message }));
    socket.on('close', () =>
      finish({
        ok: false,
        code: 'CLOSED',
        message: 'the NTS-KE server closed the connection without a complete response',
      }),
    );
  });
}

export interface NtsKeServerOptions {
  /** PEM private key and certificate chain. */
  key: string | Buffer;
  cert: string | Buffer;
  port: number;
  host?: string;
  /** The cookie jar shared with the NTP responder that will receive the cookies. */
  jar: CookieJar;
  /** Cookies per response (default 8). */
  cookies?: number;
  /** NTPv4 Server / Port records to send (where clients should send NTP). */
  ntpServer?: string;
  ntpPort?: number;
  /** Per-connection time limit, ms (default 5000). */
  timeoutMs?: number;
  /** Time limit of a connection from accept, handshake and exchange together, ms (default: timeoutMs). */
  handshakeTimeoutMs?: number;
  /** Connections open at once; more are refused (default: no cap). */
  maxConnections?: number;
  /** The server's access list (`NtpServer.allows`): connections from refused sources are closed at once. */
  allows?: (address: string) => boolean;
}

export interface NtsKeServer {
  /** The TCP port actually bound. */
  port: number;
  /** Number of successful key establishments so far. */
  served(): number;
  close(): Promise<void>;
}

/** Starts an NTS-KE server. Resolves once it listens. */
export function startNtsKeServer(o: NtsKeServerOptions): Promise<NtsKeServer> {
  let served = 0;
  const server = tls.createServer({
    key: o.key,
    cert: o.cert,
    ALPNProtocols: [KE_ALPN],
    minVersion: 'TLSv1.3',
    handshakeTimeout: o.handshakeTimeoutMs ?? o.timeoutMs ?? 5000,
  });
  if (o.maxConnections !== undefined) server.maxConnections = o.maxConnections;
  // Every TCP connection, from accept on: a client that never completes (or never starts) its
  // handshake is dropped after the time limit, and close() ends whatever is still open.
  const open = new Set<Socket>();
  const lifetime = o.handshakeTimeoutMs ?? o.timeoutMs ?? 5000;
  server.on('connection', (raw: Socket) => {
    if (o.allows !== undefined && !o.allows(raw.remoteAddress ?? '')) {
      raw.destroy();
      return;
    }
    open.add(raw);
    const timer = setTimeout(() => raw.destroy(), lifetime);
    timer.unref();
    raw.on('close', () => {
      clearTimeout(timer);
      open.delete(raw);
    });
    raw.on('error', () => raw.destroy());
  });
  server.on('secureConnection', (socket) => {
    let buf = new Uint8Array(0);
    socket.setTimeout(o.timeoutMs ?? 5000, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    if (socket.alpnProtocol !== KE_ALPN) {
      socket.destroy();
      return;
    }
    socket.on('data', (chunk: Buffer) => {
      const next = new Uint8Array(buf.length + chunk.length);
      next.set(buf);
      next.set(chunk, buf.length);
      buf = next;
      const s = scanKeMessage(buf);
      if (!s.ok) {
        socket.end(buildKeError(KE_ERROR.BAD_REQUEST));
        return;
      }
      if (!s.complete) return;
      socket.removeAllListeners('data');
      const r = interpretKeRequest(s.records);
      if (!r.ok) {
        socket.end(buildKeError(r.errorRecordCode));
        return;
      }
      try {
        const keys = exportNtsKeys(socket, r.info.aead);
        const cookies: Uint8Array[] = [];
        for (let i = 0; i < (o.cookies ?? 8); i++) cookies.push(o.jar.seal(keys));
        const resp: { aead: number; cookies: Uint8Array[]; server?: string; port?: number } = {
          aead: r.info.aead,
          cookies,
        };
        if (o.ntpServer !== undefined) resp.server = o.ntpServer;
        if (o.ntpPort !== undefined) resp.port = o.ntpPort;
        socket.end(buildKeResponse(resp));
        served++;
      } catch {
        socket.end(buildKeError(KE_ERROR.INTERNAL_ERROR));
      }
    });
  });
  server.on('tlsClientError', () => {
    // a failed handshake concerns only that client
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const host = o.host ?? '127.0.0.1';
    // '::' only for IPv6, so that '0.0.0.0' and '::' can both be listened on (as the UDP sockets).
    server.listen({ port: o.port, host, ipv6Only: isIPv6(host) }, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve({
        port: typeof addr === 'object' && addr !== null ? addr.port : o.port,
        served: () => served,
        close: () =>
          new Promise<void>((res) => {
            server.close(() => res());
            for (const s of open) s.destroy();
          }),
      });
    });
  });
}

export { CookieJar };
