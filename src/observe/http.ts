/**
 * HTTP server for the Prometheus metrics (/metrics) and the web dashboard (/, /assets/*, and its
 * JSON: /api/snapshot, /api/history?since=SEQ, /api/events?since=SEQ). Read-only; GET and HEAD only;
 * binds to localhost unless an address is given explicitly, and then refuses foreign Host headers.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { DaemonSnapshot } from '../system/snapshot.js';
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS } from './dashboard/page.js';
import type { EventLog } from './events.js';
import type { History } from './history.js';
import { prometheusText } from './metrics.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * Parse "HOST:PORT", "[V6]:PORT", ":PORT" or "PORT". Without a host, localhost (127.0.0.1).
 */
export function parseListenAddress(text: string): ListenAddress {
  const t = text.trim();
  let host = '127.0.0.1';
  let portText = t;
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(t);
  if (v6 !== null) {
    host = v6[1] ?? host;
    portText = v6[2] ?? '';
  } else if (t.includes(':')) {
    const i = t.lastIndexOf(':');
    if (i > 0) host = t.slice(0, i);
    portText = t.slice(i + 1);
  }
  if (host === 'localhost') host = '127.0.0.1';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 0 || port > 65535) {
    throw new Error(`invalid listen address '${text}' (expected HOST:PORT, [IPv6]:PORT or PORT)`);
  }
  return { host, port };
}

function isLoopbackHost(h: string): boolean {
  return h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

export interface HttpRoutes {
  metrics: boolean;
  dashboard: boolean;
}

export interface HttpServerHandle {
  address: ListenAddress;
  close(): Promise<void>;
}

interface Asset {
  type: string;
  body: string | Buffer;
}

let uplotCache: { js: Buffer; css: Buffer } | null = null;
function uplotAssets(): { js: Buffer; css: Buffer } {
  if (uplotCache === null) {
    const require = createRequire(import.meta.url);
    uplotCache = {
      js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js')),
      css: readFileSync(require.resolve('uplot/dist/uPlot.min.css')),
    };
  }
  return uplotCache;
}

export async function startHttpServer(
  listen: ListenAddress,
  routes: HttpRoutes,
  getSnapshot: () => DaemonSnapshot,
  history: History,
  events: EventLog,
): Promise<HttpServerHandle> {
  const assets = new Map<string, () => Asset>();
  if (routes.dashboard) {
    uplotAssets(); // fail early (at start) when uplot is not installed
    assets.set('/', () => ({ type: 'text/html; charset=utf-8', body: DASHBOARD_HTML }));
    assets.set('/index.html', () => ({ type: 'text/html; charset=utf-8', body: DASHBOARD_HTML }));
    assets.set('/assets/dashboard.js', () => ({
      type: 'text/javascript; charset=utf-8',
      body: DASHBOARD_JS,
    }));
    assets.set('/assets/dashboard.css', () => ({ type: 'text/css; charset=utf-8', body: DASHBOARD_CSS }));
    assets.set('/assets/uPlot.iife.min.js', () => ({
      type: 'text/javascript; charset=utf-8',
      body: uplotAssets().js,
    }));
    assets.set('/assets/uPlot.min.css', () => ({ type: 'text/css; charset=utf-8', body: uplotAssets().css }));
  }

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const send = (code: number, type: string, body: string | Buffer): void => {
      res.writeHead(code, {
        'content-type': type,
        'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, 'text/plain; charset=utf-8', 'method not allowed\n');
      return;
    }
    if (!hostAllowed(req.headers.host)) {
      // DNS rebinding protection: a page from another origin resolving its name to 127.0.0.1
      // must not read the daemon's state through the browser.
      send(421, 'text/plain; charset=utf-8', 'misdirected request: use the address the daemon listens on\n');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      if (routes.metrics && url.pathname === '/metrics') {
        send(200, 'text/plain; version=0.0.4; charset=utf-8', prometheusText(getSnapshot()));
        return;
      }
      if (routes.dashboard && url.pathname === '/api/snapshot') {
        send(200, 'application/json', JSON.stringify(getSnapshot()));
        return;
      }
      if (routes.dashboard && url.pathname === '/api/history') {
        const since = Number(url.searchParams.get('since') ?? '0');
        send(200, 'application/json', JSON.stringify(history.dump(Number.isFinite(since) ? since : 0)));
        return;
      }
      if (routes.dashboard && url.pathname === '/api/events') {
        const since = Number(url.searchParams.get('since') ?? '0');
        const dump = events.dump(
          Number.isFinite(since) ? since : 0,
          (m) => history.toClock(m),
          (id) => history.label(id),
        );
        send(200, 'application/json', JSON.stringify(dump));
        return;
      }
      const asset = assets.get(url.pathname);
      if (asset !== undefined) {
        const a = asset();
        send(200, a.type, a.body);
        return;
      }
      send(404, 'text/plain; charset=utf-8', 'not found\n');
    } catch (e) {
      send(500, 'text/plain; charset=utf-8', `error: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  };

  const loopbackOnly = isLoopbackHost(listen.host);
  const hostAllowed = (host: string | undefined): boolean => {
    if (!loopbackOnly) return true;
    if (host === undefined) return true;
    const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : (host.split(':')[0] ?? '');
    return name === 'localhost' || isLoopbackHost(name);
  };

  const server: Server = createServer(handler);
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10000;
  server.requestTimeout = 10000;
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const bound: ListenAddress =
    typeof addr === 'object' && addr !== null ? { host: addr.address, port: addr.port } : listen;
  return {
    address: bound,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
