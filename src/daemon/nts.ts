/**
 * NTS (RFC 8915) in the daemon: the I/O half. The engine (src/system, src/assoc) keeps the NTS
 * sessions and protects/verifies packets; this module does what needs TLS, files and timers:
 *
 *   client  an NTS source's association asks for keys with an 'nts-ke' event (no session, cookies
 *           used up, NTS NAK); we run NTS-KE with its server (TLS 1.3, ALPN ntske/1; back-off on
 *           failure, at most one run per MIN_KE_INTERVAL_MS per source) and hand keys, cookies and
 *           the NTP server the KE server named to `NtpSystem.setNtsSession`.
 *   server  `[nts] server-cert`/`server-key`: an NTS-KE server on `ke-listen` (default: `[serve]
 *           listen`) port `ke-port`, sharing one CookieJar with the engine's responder. The jar's
 *           master keys are rotated every `rotate-interval` (keep `keep-keys`) and kept in a key file
 *           (atomic writes, mode 0600) so cookies survive restarts.
 */

import { isIPv6 } from 'node:net';
import { dirname, join } from 'node:path';
import type { RawTime } from '../clock/types.js';
import { NTS } from '../config/schema.js';
import { defaultsOf } from '../config/schema-kit.js';
import type { DaemonConfig, HostSourceConfig, NtsConfig } from '../config/types.js';
import { BoundedReadError, READ_LIMITS, readFileBounded, readTextIfExists } from '../io/bounded-read.js';
import { nodeCrypto } from '../io/crypto.js';
import { type NtsKeServer, nodeRandomBytes, ntsKeClient, startNtsKeServer } from '../io/nts-ke.js';
import { keepCorrupt, removeStaleTemps, writeFileAtomic } from '../io/state-file.js';
import { TcpLimiter } from '../io/tcp-limits.js';
import { CookieJar, type MasterKey } from '../nts/cookie.js';
import type { NtpSystem } from '../system/system.js';
import type { Action, Endpoint, SystemEvent } from '../system/types.js';
import type { Logger } from './log.js';

/** Minimum time between two NTS-KE runs of one source (also after a NAK). */
export const MIN_KE_INTERVAL_MS = 5_000;
/** Back-off after failed NTS-KE runs: 2^n × this, capped at MAX_KE_BACKOFF_MS. */
const KE_BACKOFF_BASE_MS = 2_000;
const MAX_KE_BACKOFF_MS = 3_600_000;
/** A session that needs replacing within this time of its NTS-KE counts as a failed run. */
const QUICK_FAILURE_MS = 60_000;

/** `[nts]` of a configuration built without it (the schema's defaults). */
export const NTS_DEFAULTS: NtsConfig = defaultsOf(NTS);

/** What the NTS service needs from the daemon. */
export interface NtsHost {
  engine(): NtpSystem;
  execute(actions: Action[]): void;
  raw(): RawTime;
  log(): Logger;
  /** Lines about one source, repeated ones rate-limited with a count (default: `log()`). */
  sourceLog?(id: string): Logger;
  /** The condition about a source cleared: its next warning is written at once. */
  sourceOk?(id: string): void;
  resolve(host: string): Promise<string[]>;
  /** Whether we have a socket for this address's family. */
  canReach(address: string): boolean;
  /** The bound NTP endpoints (the KE server names their port). */
  ntpEndpoints(): readonly Endpoint[];
  /** The server's access list (`NtpServer.allows`), asked for every NTS-KE connection. */
  allows(address: string): boolean;
}

interface ClientSource {
  id: string;
  cfg: HostSourceConfig;
  running: boolean;
  timer: NodeJS.Timeout | null;
  failures: number;
  lastRun: number;
  /** When the last NTS-KE succeeded (ms). */
  lastSuccess: number;
  keRuns: number;
}

/** The key file: master keys (hex), oldest first, and when the newest was made (Unix s). */
interface KeyFileContent {
  version: 1;
  rotated: number;
  keys: { id: number; key: string }[];
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** Parses a key file: its keys, or why it is not usable (naming the entry). */
export function parseNtsKeyFile(
  text: string,
): { ok: true; rotated: number; keys: MasterKey[] } | { ok: false; reason: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { ok: false, reason: `not JSON (${e instanceof Error ? e.message : String(e)})` };
  }
  if (typeof v !== 'object' || v === null) return { ok: false, reason: 'not a JSON object' };
  const o = v as Partial<KeyFileContent>;
  if (o.version !== 1) return { ok: false, reason: 'version is not 1' };
  if (typeof o.rotated !== 'number' || !Number.isFinite(o.rotated))
    return { ok: false, reason: 'rotated is not a number' };
  if (!Array.isArray(o.keys) || o.keys.length === 0) return { ok: false, reason: 'no keys' };
  const keys: MasterKey[] = [];
  for (const [i, k] of (o.keys as unknown[]).entries()) {
    const e = k as Partial<{ id: unknown; key: unknown }> | null;
    if (typeof e !== 'object' || e === null) return { ok: false, reason: `keys[${i}] is not an object` };
    const id = e.id;
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0xffffffff)
      return {
        ok: false,
        reason: `keys[${i}].id ${JSON.stringify(id)} is not a key ID (an integer 0 to 4294967295)`,
      };
    if (keys.some((x) => x.id === id)) return { ok: false, reason: `keys[${i}].id ${id} appears twice` };
    if (typeof e.key !== 'string' || !/^[0-9a-f]{64}$/.test(e.key))
      return { ok: false, reason: `keys[${i}].key is not 64 lower-case hex digits` };
    keys.push({ id, key: new Uint8Array(Buffer.from(e.key, 'hex')) });
  }
  return { ok: true, rotated: o.rotated, keys };
}

export class NtsService {
  private ca: Buffer | undefined;
  private readonly sources = new Map<string, ClientSource>();
  private jar: CookieJar | null = null;
  private keyFile: string | null = null;
  private rotated = 0;
  private rotateTimer: NodeJS.Timeout | null = null;
  /** The server certificate and key read by `prepare`. */
  private pem: { cert: Buffer; key: Buffer } | null = null;
  private readonly servers: NtsKeServer[] = [];
  private stopped = false;
  /** Addresses and ports the NTS-KE server listens on. */
  readonly keEndpoints: Endpoint[] = [];

  constructor(
    private config: DaemonConfig,
    private readonly host: NtsHost,
  ) {}

  private get nts(): NtsConfig {
    return this.config.nts ?? NTS_DEFAULTS;
  }

  /**
   * Before the NTP sockets are bound: loads the trust anchors and, for an NTS server, the
   * certificate, the key and the cookie master keys (key file), and hands the jar to the engine.
   * An NTS request that arrived before the jar was there would be dropped (a client polling fast,
   * e.g. across a restart, saw one of its requests silently refused), so the sockets come after.
   * Throws on fatal errors.
   */
  async prepare(): Promise<void> {
    await this.loadTrust();
    const n = this.nts;
    if (n.serverCert === null || n.serverKey === null) return;
    if (!this.config.server.enabled) {
      this.host.log().warn('nts: server-cert/server-key set but [serve] is disabled; no NTS-KE server');
      return;
    }
    const [cert, key] = await Promise.all([
      readFileBounded(n.serverCert, READ_LIMITS.pem),
      readFileBounded(n.serverKey, READ_LIMITS.pem),
    ]);
    this.pem = { cert, key };
    this.jar = new CookieJar(nodeCrypto, nodeRandomBytes, n.keepKeys);
    await this.loadKeys();
    this.host.engine().setNtsServer(this.jar);
  }

  /**
   * After the NTP sockets are bound (the KE server names their port): starts the NTS-KE server
   * when `prepare` loaded one. Throws when it cannot listen anywhere.
   */
  async listen(): Promise<void> {
    const n = this.nts;
    const pem = this.pem;
    if (this.jar === null || pem === null) return;
    const { cert, key } = pem;
    const ntpPort = this.host.ntpEndpoints()[0]?.port;
    const listen =
      n.keListen ?? (this.config.server.listen.length > 0 ? this.config.server.listen : ['0.0.0.0']);
    const errors: string[] = [];
    // One per-source count over every KE listener.
    const limiter = new TcpLimiter({ perSource: n.maxConnectionsPerSource, idleMs: n.idleTimeout * 1000 });
    for (const address of listen) {
      try {
        const opts: Parameters<typeof startNtsKeServer>[0] = {
          key,
          cert,
          port: this.keEndpoints[0]?.port ?? n.kePort,
          host: address,
          jar: this.jar,
          timeoutMs: n.handshakeTimeout * 1000,
          handshakeTimeoutMs: n.handshakeTimeout * 1000,
          maxConnections: n.maxConnections,
          limiter,
          allows: (a) => this.host.allows(a),
        };
        if (ntpPort !== undefined) opts.ntpPort = ntpPort;
        const srv = await startNtsKeServer(opts);
        this.servers.push(srv);
        this.keEndpoints.push({ address, port: srv.port });
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        errors.push(`${address}:${n.kePort}: ${msg}`);
        this.host.log().warn('nts-ke: cannot listen', { address, port: n.kePort, error: msg });
      }
    }
    if (this.servers.length === 0) throw new Error(`NTS-KE server could not listen: ${errors.join('; ')}`);
    const every = Math.min(n.rotateInterval * 1000, 2 ** 31 - 1);
    this.rotateTimer = setInterval(() => void this.rotate(), every);
    this.rotateTimer.unref();
    this.host.log().info('nts-ke server', { endpoints: this.keEndpoints, ntpPort, keyFile: this.keyFile });
  }

  private async loadTrust(): Promise<void> {
    const f = this.nts.trustedCerts;
    this.ca = f === null ? undefined : await readFileBounded(f, READ_LIMITS.pem);
  }

  /** The key file: configured, else next to the state file, else none (keys live in memory only). */
  private keyFilePath(): string | null {
    if (this.nts.keyFile !== null) return this.nts.keyFile;
    const sf = this.config.clock.stateFile;
    return sf === null ? null : join(dirname(sf), 'ntpkit-nts-keys.json');
  }

  private async loadKeys(): Promise<void> {
    const jar = this.jar;
    if (jar === null) return;
    this.keyFile = this.keyFilePath();
    const now = Date.now() / 1000;
    if (this.keyFile !== null) {
      const file = this.keyFile;
      const stale = await removeStaleTemps(file);
      if (stale.length > 0)
        this.host.log().info('nts: removed temporary files of interrupted writes', { stale });
      let parsed: ReturnType<typeof parseNtsKeyFile> | null = null;
      try {
        const text = await readTextIfExists(file, READ_LIMITS.state);
        if (text !== null) parsed = parseNtsKeyFile(text);
      } catch (e) {
        parsed = { ok: false, reason: e instanceof BoundedReadError ? e.reason : String(e) };
      }
      if (parsed !== null && !parsed.ok) {
        // As with the state file: warn, keep what was there, start with a new key.
        const keptAs = (await keepCorrupt(file)) ?? undefined;
        this.host
          .log()
          .warn('nts: key file unusable; starting with a new key', { file, reason: parsed.reason, keptAs });
      }
      if (parsed?.ok === true) {
        jar.importKeys(parsed.keys);
        this.rotated = parsed.rotated;
        this.host.log().info('nts: master keys loaded', { file: this.keyFile, keys: parsed.keys.length });
        if (now - parsed.rotated >= this.nts.rotateInterval) await this.rotate();
        return;
      }
    }
    this.rotated = now;
    await this.saveKeys();
  }

  /** This daemon serves NTS-KE (it has cookie master keys to rotate). */
  get servesKe(): boolean {
    return this.jar !== null;
  }

  /** Adds a new master key (cookies of the last `keep-keys` keys stay valid) and saves the key file. */
  async rotate(): Promise<void> {
    if (this.jar === null || this.stopped) return;
    this.jar.rotate();
    this.rotated = Date.now() / 1000;
    this.host.log().info('nts: master key rotated', { keyId: this.jar.currentKeyId() });
    await this.saveKeys();
  }

  private async saveKeys(): Promise<void> {
    if (this.jar === null || this.keyFile === null) return;
    const content: KeyFileContent = {
      version: 1,
      rotated: this.rotated,
      keys: this.jar.exportKeys().map((k) => ({ id: k.id, key: hex(k.key) })),
    };
    try {
      await writeFileAtomic(this.keyFile, `${JSON.stringify(content)}\n`, 0o600);
    } catch (e) {
      this.host.log().warn('nts: cannot write key file', { file: this.keyFile, error: e });
    }
  }

  // ------------------------------------------------------------------------------------ client

  /** An NTS source was added to the engine: get its first keys and cookies. */
  attach(id: string, cfg: HostSourceConfig): void {
    if (this.sources.has(id)) return;
    this.sources.set(id, {
      id,
      cfg,
      running: false,
      timer: null,
      failures: 0,
      lastRun: Number.NEGATIVE_INFINITY,
      lastSuccess: Number.NEGATIVE_INFINITY,
      keRuns: 0,
    });
    this.requestKe(id);
  }

  detach(id: string): void {
    const s = this.sources.get(id);
    if (s === undefined) return;
    if (s.timer !== null) clearTimeout(s.timer);
    this.sources.delete(id);
  }

  /** Engine events: 'nts-ke' asks for a new key establishment. */
  onEvent(e: SystemEvent): void {
    if (e.kind === 'nts-ke') {
      // Keys that stop working soon after NTS-KE (NAKs, cookies never replaced) count as a failure,
      // so that a broken server is asked with growing back-off, not every MIN_KE_INTERVAL_MS.
      const s = this.sources.get(e.sourceId);
      if (s !== undefined && e.reason !== 'no-session' && !s.running && s.timer === null) {
        if (Date.now() - s.lastSuccess < QUICK_FAILURE_MS) s.failures++;
        else s.failures = 0;
      }
      this.requestKe(e.sourceId);
    } else if (e.kind === 'source-removed') this.detach(e.sourceId);
  }

  /** NTS-KE runs per source id so far (tests, diagnostics). */
  keRuns(id: string): number {
    return this.sources.get(id)?.keRuns ?? 0;
  }

  private requestKe(id: string): void {
    const s = this.sources.get(id);
    if (s === undefined || s.running || s.timer !== null || this.stopped) return;
    // Failures since the last lasting session (failed runs, sessions that broke at once): 2^n × 2 s.
    const backoff = Math.max(
      MIN_KE_INTERVAL_MS,
      Math.min(MAX_KE_BACKOFF_MS, KE_BACKOFF_BASE_MS * 2 ** s.failures),
    );
    const wait = Math.max(0, s.lastRun + backoff - Date.now());
    s.timer = setTimeout(() => {
      s.timer = null;
      void this.runKe(s);
    }, wait);
    s.timer.unref();
  }

  private async runKe(s: ClientSource): Promise<void> {
    if (this.stopped || this.sources.get(s.id) !== s) return;
    s.running = true;
    s.lastRun = Date.now();
    s.keRuns++;
    const n = this.nts;
    const log = this.host.sourceLog?.(s.id) ?? this.host.log();
    try {
      const opts: Parameters<typeof ntsKeClient>[0] = {
        host: s.cfg.host,
        port: s.cfg.ntsPort ?? 4460,
        insecure: n.insecureSkipVerify,
        timeoutMs: n.handshakeTimeout * 1000,
      };
      if (this.ca !== undefined) opts.ca = this.ca;
      const r = await ntsKeClient(opts);
      if (this.stopped || this.sources.get(s.id) !== s) return;
      if (!r.ok) {
        s.failures++;
        log.warn('nts-ke failed', { id: s.id, host: s.cfg.host, code: r.code, error: r.message });
        s.running = false;
        this.requestKe(s.id);
        return;
      }
      const addrs = await this.host.resolve(r.ntpServer);
      const address = addrs.find((a) => this.host.canReach(a));
      if (address === undefined) {
        s.failures++;
        log.warn('nts-ke: cannot reach the NTP server it named', { id: s.id, server: r.ntpServer });
        s.running = false;
        this.requestKe(s.id);
        return;
      }
      s.lastSuccess = Date.now();
      this.host.sourceOk?.(s.id);
      this.host.log().info('nts-ke done', {
        id: s.id,
        host: s.cfg.host,
        ntp: `${isIPv6(address) ? `[${address}]` : address}:${r.ntpPort}`,
        cookies: r.cookies.length,
        aead: r.keys.aead,
      });
      this.host.execute(
        this.host.engine().setNtsSession(this.host.raw(), s.id, {
          keys: r.keys,
          cookies: r.cookies,
          address,
          port: r.ntpPort,
        }),
      );
    } catch (e) {
      s.failures++;
      log.warn('nts-ke error', { id: s.id, error: e });
      s.running = false;
      this.requestKe(s.id);
      return;
    } finally {
      s.running = false;
    }
  }

  /** New configuration: new trust anchors apply to the next NTS-KE; server changes need a restart. */
  async reload(config: DaemonConfig): Promise<void> {
    const before = JSON.stringify({ ...(this.config.nts ?? NTS_DEFAULTS), trustedCerts: null });
    this.config = config;
    if (before !== JSON.stringify({ ...(config.nts ?? NTS_DEFAULTS), trustedCerts: null }))
      this.host.log().warn('[nts] server changes take effect at restart');
    try {
      await this.loadTrust();
    } catch (e) {
      this.host.log().error('nts: cannot read trusted-certs; keeping the old ones', { error: e });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.rotateTimer !== null) clearInterval(this.rotateTimer);
    this.rotateTimer = null;
    for (const s of this.sources.values()) if (s.timer !== null) clearTimeout(s.timer);
    this.sources.clear();
    await Promise.all(this.servers.splice(0).map((s) => s.close()));
  }
}
