/**
 * A fault-injection HTTP proxy on 127.0.0.1 in front of a real registry.
 *
 * Every request is logged with its arrival time; a test decides per request
 * what happens: pass it through, cut the connection after N body bytes,
 * flip one body byte, answer with a fixed status (429 + Retry-After), stall
 * the body after N bytes, or redirect. Timestamps are the proxy's own, so a
 * test can check ordering and delays as the server saw them.
 */
import http from 'node:http';
import { pipeline } from 'node:stream/promises';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** One request the proxy saw. */
export interface ProxyLogEntry {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** `Date.now()` when the request arrived. */
  at: number;
  /** `Date.now()` when the proxy finished its answer (or cut it). */
  doneAt?: number;
  /** `Date.now()` right after the last body bytes were handed to the socket. */
  lastWriteAt?: number;
  /** The action taken. */
  action: string;
}

/** What to do with a request. */
export type FaultAction =
  | { kind: 'pass'; dropHeaders?: string[]; mapHeaders?: (h: http.IncomingHttpHeaders) => http.IncomingHttpHeaders }
  | { kind: 'cut'; afterBytes: number }
  | { kind: 'flip'; atByte: number }
  | { kind: 'stall'; afterBytes: number }
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  | { kind: 'redirect'; status: 302 | 303 | 307; location: string };

/** A running fault proxy. */
export interface FaultProxy {
  /** `127.0.0.1:<port>`. */
  host: string;
  /** Every request seen, in arrival order. */
  log: ProxyLogEntry[];
  /** Decides the action per request; default passes everything. */
  rule: (req: http.IncomingMessage, seen: ProxyLogEntry[]) => FaultAction;
  close(): Promise<void>;
}

/** Options of {@link startFaultProxy}. */
export interface FaultProxyOptions {
  /** Headers to set on upstream requests (e.g. credentials a CDN would hold). */
  upstreamHeaders?: Record<string, string>;
}

/** Starts a fault proxy forwarding to `upstream` (`127.0.0.1:PORT`, plain HTTP). */
export async function startFaultProxy(upstream: string, options: FaultProxyOptions = {}): Promise<FaultProxy> {
  const [uHost, uPort] = upstream.split(':');
  const sockets = new Set<net.Socket>();
  const proxy: FaultProxy = {
    host: '',
    log: [],
    rule: () => ({ kind: 'pass' }),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server = http.createServer((req, res) => {
    const entry: ProxyLogEntry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, at: Date.now(), action: '' };
    proxy.log.push(entry);
    const action = proxy.rule(req, proxy.log);
    entry.action = action.kind;
    const finish = () => { entry.doneAt = Date.now(); };
    if (action.kind === 'status') {
      req.resume();
      res.writeHead(action.status, { 'content-type': 'application/json', ...(action.headers ?? {}) });
      res.end(action.body ?? '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}', finish);
      return;
    }
    if (action.kind === 'redirect') {
      req.resume();
      res.writeHead(action.status, { location: action.location, 'content-length': '0' });
      res.end(finish);
      return;
    }
    const headers = { ...req.headers, ...(options.upstreamHeaders ?? {}) };
    const up = http.request({ host: uHost, port: Number(uPort), method: req.method, path: req.url, headers }, (ur) => {
      // Keep the upstream Location pointing at the proxy (the registry builds it from Host, which we keep).
      let outHeaders = { ...ur.headers };
      if (action.kind === 'pass') {
        for (const h of action.dropHeaders ?? []) delete outHeaders[h];
        if (action.mapHeaders) outHeaders = action.mapHeaders(outHeaders);
      }
      res.writeHead(ur.statusCode ?? 502, outHeaders);
      let sent = 0;
      ur.on('data', (chunk: Buffer) => {
        let c = chunk;
        if (action.kind === 'flip' && action.atByte >= sent && action.atByte < sent + c.length) {
          c = Buffer.from(c);
          c[action.atByte - sent] ^= 0xff;
        }
        if ((action.kind === 'cut' || action.kind === 'stall') && sent + c.length >= action.afterBytes) {
          const part = c.subarray(0, action.afterBytes - sent);
          sent += part.length;
          res.write(part);
          ur.destroy();
          finish();
          // cut: drop the connection; stall: keep it open and send nothing more.
          if (action.kind === 'cut') res.socket?.destroy();
          return;
        }
        sent += c.length;
        res.write(c);
        entry.lastWriteAt = Date.now();
      });
      ur.on('end', () => res.end(finish));
      ur.on('error', () => res.destroy());
    });
    up.on('error', () => { res.writeHead(502); res.end(); });
    pipeline(req, up).catch(() => undefined);
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  proxy.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

/** A TCP server on 127.0.0.1 that accepts connections and never answers. */
export async function startSilentServer(): Promise<{ host: string; connections: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const state = { host: '', connections: 0, close: async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  } };
  const server = net.createServer((s) => {
    state.connections++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  state.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}
