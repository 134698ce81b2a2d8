/**
 * The Docker Engine API routes for container I/O: attach, resize and exec
 * (create, start, resize, inspect), in dockerd's shapes (moby
 * api/server/router/container/exec.go, container_routes.go
 * `postContainersAttach`).
 *
 * Attach and exec start hijack the connection as dockerd does: a request
 * with `Upgrade: tcp` is answered `101 UPGRADED` and the socket then carries
 * the stream both ways; without it the answer is a `200` whose body is the
 * stream. With a TTY the stream is raw (`application/vnd.docker.raw-stream`);
 * without one it is multiplexed (`application/vnd.docker.multiplexed-stream`:
 * each chunk framed as `[stream, 0, 0, 0, size uint32 BE]`, stream 1 stdout,
 * 2 stderr). What the client writes is the process's stdin; its half-close
 * closes that stdin. Exec instances live in the API server process.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import type net from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import { isBerthError } from '@berth/oci-spec';
import type { Engine } from '../engine.js';
import type { ContainerProcess } from '@berth/namespaces';
import { ContainerNotRunningError, ExecNotFoundError, InvalidArgumentError, NoTtyError } from '../errors.js';
import { httpStatusForError } from './status.js';
import type { Route, RouteHelpers } from './operation-routes.js';

/** Content types of a hijacked stream. */
export const StreamMediaType = {
  Raw: 'application/vnd.docker.raw-stream',
  Multiplexed: 'application/vnd.docker.multiplexed-stream',
} as const;

/** One stdcopy frame: `[stream, 0, 0, 0, size uint32 BE]` + payload (1 stdout, 2 stderr). */
export function stdcopyFrame(stream: 1 | 2, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

/** The two directions of a hijacked (or plain streaming) request. */
interface Hijacked {
  /** What the client sends after the request body: the process's stdin. */
  input: Readable;
  /** Sends the response head; the stream follows. */
  begin(contentType: string): void;
  write(chunk: Buffer): void;
  end(): void;
  /** Resolves when the client goes away. */
  gone: Promise<void>;
}

/** Docker's exec instance, as `GET /exec/{id}/json` shows it. */
interface ExecInstance {
  id: string;
  containerId: string;
  cmd: string[];
  tty: boolean;
  attachStdin: boolean;
  attachStdout: boolean;
  attachStderr: boolean;
  user: string;
  workingDir: string;
  env: string[];
  privileged: boolean;
  detachKeys: string;
  consoleSize?: { rows: number; cols: number };
  started: boolean;
  running: boolean;
  exitCode: number | null;
  pid: number;
  proc?: ContainerProcess;
  /** When the process ended (ms since the epoch). */
  endedAt?: number;
}

/** How long an ended exec instance stays inspectable (dockerd's exec GC keeps them about as long). */
const execRetentionMs = 5 * 60_000;

const bool = (q: URLSearchParams, k: string) => ['1', 'true', 'True'].includes(q.get(k) ?? '');

function consoleSizeOf(v: unknown): { rows: number; cols: number } | undefined {
  if (!Array.isArray(v) || v.length !== 2) return undefined;
  const [rows, cols] = v.map(Number) as [number, number];
  return rows > 0 && cols > 0 ? { rows, cols } : undefined;
}

function sizeOf(q: URLSearchParams): { h: number; w: number } {
  const h = Number(q.get('h') ?? ''), w = Number(q.get('w') ?? '');
  if (!q.has('h') || !q.has('w') || !Number.isInteger(h) || !Number.isInteger(w)) {
    throw new InvalidArgumentError('resize', `h=${q.get('h')} w=${q.get('w')}`, 'h and w must be integers');
  }
  return { h, w };
}

/** The exit code Docker reports for a process: its own, or 128 + the signal number. */
function exitCodeOf(st: { exitCode: number | null; signal: NodeJS.Signals | null }): number {
  if (st.exitCode !== null) return st.exitCode;
  const n = st.signal ? (os.constants.signals as Record<string, number>)[st.signal] : undefined;
  return n === undefined ? 255 : 128 + n;
}

/**
 * The I/O routes and the hijacked-stream routes of one API server (its exec
 * instances live as long as the server).
 */
export function ioRoutes(engine: Engine, h: RouteHelpers): {
  routes: Route[];
  hijack: Array<[string, RegExp, (req: http.IncomingMessage, conn: Hijacked, p: Record<string, string>, q: URLSearchParams, body: Record<string, unknown>) => Promise<void>]>;
} {
  const { send, body } = h;
  const execs = new Map<string, ExecInstance>();
  const execOf = (id: string): ExecInstance => {
    const e = execs.get(id) ?? [...execs.values()].find((x) => x.id.startsWith(id) && id.length >= 12);
    if (!e) throw new ExecNotFoundError(id);
    return e;
  };
  /**
   * Forgets exec instances that ended more than {@link execRetentionMs} ago
   * and those of containers that no longer exist, as dockerd does, so a
   * long-lived API server does not grow with every `docker exec`.
   */
  const pruneExecs = async (): Promise<void> => {
    const now = Date.now();
    const gone = new Set<string>();
    await Promise.all([...new Set([...execs.values()].map((e) => e.containerId))].map((cid) =>
      engine.containers.inspect(cid).then(() => undefined, () => { gone.add(cid); })));
    for (const [id, e] of execs) {
      if (e.running) continue;
      if (gone.has(e.containerId) || (e.endedAt !== undefined && now - e.endedAt > execRetentionMs)) execs.delete(id);
    }
  };

  /** Streams a container attachment over a hijacked connection. */
  const attach = async (_req: http.IncomingMessage, conn: Hijacked, p: Record<string, string>, q: URLSearchParams) => {
    const r = await engine.containers.inspect(p.id!);
    const a = await engine.containers.attach(r.Id, {
      stdin: bool(q, 'stdin'), stdout: bool(q, 'stdout'), stderr: bool(q, 'stderr'), stream: bool(q, 'stream'), logs: bool(q, 'logs'),
      ...(q.has('detachKeys') ? { detachKeys: q.get('detachKeys')! } : {}),
      waitStart: true, // docker run attaches before it starts the container
    });
    conn.begin(a.tty ? StreamMediaType.Raw : StreamMediaType.Multiplexed);
    const outs: Array<Promise<void>> = [];
    const pump = (s: Readable | undefined, n: 1 | 2) => {
      if (!s) return;
      outs.push(new Promise<void>((resolve) => {
        s.on('data', (c: Buffer) => conn.write(a.tty ? c : stdcopyFrame(n, c)));
        s.once('end', resolve);
        s.once('error', () => resolve());
      }));
    };
    pump(a.stdout, 1);
    pump(a.stderr, 2);
    if (a.stdin) {
      conn.input.on('data', (c: Buffer) => a.stdin!.write(c));
      conn.input.once('end', () => a.stdin!.end());
    }
    void conn.gone.then(() => a.close());
    await a.ended;
    await Promise.all(outs);
    conn.end();
  };

  /** Runs an exec instance; with a connection, streams it. */
  const startExec = async (e: ExecInstance, conn: Hijacked | undefined, tty: boolean, size?: { rows: number; cols: number }) => {
    if (e.started) throw new InvalidArgumentError('exec', e.id, 'has already been started');
    e.started = true;
    const proc = await engine.containers.exec(e.containerId, e.cmd, {
      env: e.env, user: e.user || undefined, workingDir: e.workingDir || undefined, privileged: e.privileged, tty,
      stdio: conn ? 'pipe' : 'ignore', ...(size ?? e.consoleSize ? { consoleSize: size ?? e.consoleSize } : {}),
    }).catch((err: unknown) => {
      e.started = false;
      throw err;
    });
    e.proc = proc;
    e.pid = proc.pid;
    e.running = true;
    const exited = proc.wait().then((st) => exitCodeOf(st), () => 126).then((code) => {
      e.exitCode = code;
      e.running = false;
      e.endedAt = Date.now();
    });
    const keep = setInterval(() => undefined, 1 << 30); // the runtime's wait thread does not hold the loop open
    void exited.finally(() => clearInterval(keep));
    if (!conn) return;
    conn.begin(tty ? StreamMediaType.Raw : StreamMediaType.Multiplexed);
    const outs: Array<Promise<void>> = [];
    const pump = (s: Readable | undefined, n: 1 | 2) => {
      if (!s) return;
      if (!(n === 1 ? e.attachStdout : e.attachStderr)) {
        s.resume();
        return;
      }
      outs.push(new Promise<void>((resolve) => {
        s.on('data', (c: Buffer) => conn.write(tty ? c : stdcopyFrame(n, c)));
        s.once('end', resolve);
        s.once('close', resolve);
        s.once('error', () => resolve()); // a pty master reads EIO once the process is gone
      }));
    };
    pump(proc.stdio.pty, 1);
    pump(proc.stdio.stdout, 1);
    pump(proc.stdio.stderr, 2);
    const input = proc.stdio.pty ?? proc.stdio.stdin;
    input?.on('error', () => undefined);
    if (e.attachStdin && input) {
      conn.input.on('data', (c: Buffer) => { if (!input.destroyed) input.write(c); });
      if (!tty) conn.input.once('end', () => proc.stdio.stdin?.end());
    } else proc.stdio.stdin?.end();
    void conn.gone.then(() => { if (e.running) proc.kill('SIGKILL'); });
    await exited;
    // The output is in the pipes once the process exited; their EOF can lag (a runtime helper may hold a write end).
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(outs), new Promise<void>((res) => { grace = setTimeout(res, 250); })]);
    clearTimeout(grace);
    for (const s of [proc.stdio.stdout, proc.stdio.stderr, proc.stdio.pty, proc.stdio.stdin]) s?.destroy();
    conn.end();
  };

  const routes: Route[] = [
    ['POST', /^\/containers\/(?<id>[^/]+)\/resize$/, async (_r, res, p, q) => {
      await engine.containers.resize(p.id!, sizeOf(q));
      send(res, 200);
    }],
    ['POST', /^\/containers\/(?<id>[^/]+)\/exec$/, async (req, res, p) => {
      const b = await body(req);
      const r = await engine.containers.inspect(p.id!);
      if (!r.State.Running) throw new ContainerNotRunningError(r.Name.slice(1), 'cannot exec');
      if (r.State.Paused) throw new ContainerNotRunningError(r.Name.slice(1), 'it is paused: unpause it first');
      const cmd = Array.isArray(b.Cmd) ? b.Cmd.map(String) : [];
      if (cmd.length === 0) throw new InvalidArgumentError('Cmd', '', 'no exec command specified');
      await pruneExecs();
      const id = randomBytes(32).toString('hex');
      execs.set(id, {
        id, containerId: r.Id, cmd, tty: !!b.Tty, attachStdin: !!b.AttachStdin, attachStdout: !!b.AttachStdout, attachStderr: !!b.AttachStderr,
        user: String(b.User ?? ''), workingDir: String(b.WorkingDir ?? ''), env: Array.isArray(b.Env) ? b.Env.map(String) : [],
        privileged: !!b.Privileged, detachKeys: String(b.DetachKeys ?? ''), consoleSize: consoleSizeOf(b.ConsoleSize),
        started: false, running: false, exitCode: null, pid: 0,
      });
      send(res, 201, { Id: id });
    }],
    ['POST', /^\/exec\/(?<id>[^/]+)\/resize$/, async (_r, res, p, q) => {
      const e = execOf(p.id!);
      const size = sizeOf(q);
      if (!e.tty) throw new NoTtyError(e.id);
      if (!e.running || !e.proc || !e.proc.stdio.pty || e.proc.stdio.pty.destroyed) throw new ContainerNotRunningError(e.id, 'the exec process is not running');
      e.proc.resize(size.h, size.w);
      send(res, 200);
    }],
    ['GET', /^\/exec\/(?<id>[^/]+)\/json$/, async (_r, res, p) => {
      const e = execOf(p.id!);
      send(res, 200, {
        ID: e.id, Running: e.running, ExitCode: e.exitCode, CanRemove: false, ContainerID: e.containerId, DetachKeys: e.detachKeys,
        OpenStdin: e.attachStdin, OpenStdout: e.attachStdout, OpenStderr: e.attachStderr, Pid: e.pid,
        ProcessConfig: { tty: e.tty, entrypoint: e.cmd[0], arguments: e.cmd.slice(1), privileged: e.privileged, user: e.user },
      });
    }],
  ];

  const hijack: ReturnType<typeof ioRoutes>['hijack'] = [
    ['POST', /^\/containers\/(?<id>[^/]+)\/attach$/, (req, conn, p, q) => attach(req, conn, p, q)],
    ['POST', /^\/exec\/(?<id>[^/]+)\/start$/, async (_req, conn, p, _q, b) => {
      const e = execOf(p.id!);
      const tty = b.Tty === undefined ? e.tty : !!b.Tty;
      if (b.Detach) {
        await startExec(e, undefined, tty, consoleSizeOf(b.ConsoleSize));
        conn.begin('application/json');
        conn.end();
        return;
      }
      await startExec(e, conn, tty, consoleSizeOf(b.ConsoleSize));
    }],
  ];
  return { routes, hijack };
}

/** The API headers dockerd sends on every response. */
function apiHeaders(extra: Record<string, string>): string {
  return Object.entries(extra).map(([k, v]) => `${k}: ${v}\r\n`).join('');
}

/**
 * Serves the hijacked routes: a matching request with `Upgrade: tcp` (on
 * the server's `upgrade` event) is answered `101 UPGRADED` and the socket
 * carries the stream; the same routes without an upgrade answer `200` with
 * the stream as the body. Returns the handler for the plain requests.
 */
export function serveHijacked(server: http.Server, hijack: ReturnType<typeof ioRoutes>['hijack'], opts: {
  headers: Record<string, string>;
  /** Strips the `/v1.xx` prefix; undefined when the version is refused. */
  route(url: string): { pathname: string; query: URLSearchParams } | { error: string };
}): Route[] {
  const match = (method: string, pathname: string) => {
    for (const [m, re, handler] of hijack) {
      const g = re.exec(pathname);
      if (g && m === method) {
        const params: Record<string, string> = {};
        for (const [k, v] of Object.entries(g.groups ?? {})) params[k] = decodeURIComponent(v);
        return { handler, params };
      }
    }
    return undefined;
  };

  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => undefined);
    const fail = (status: number, value: unknown) => {
      const data = JSON.stringify(value);
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n${apiHeaders(opts.headers)}Content-Type: application/json\r\n`
        + `Content-Length: ${Buffer.byteLength(data)}\r\nConnection: close\r\n\r\n${data}`);
    };
    const routed = opts.route(req.url ?? '/');
    if ('error' in routed) return fail(400, { message: routed.error });
    const found = match(req.method ?? '', routed.pathname);
    if (!found) return fail(404, { message: 'page not found' });
    // The request body (exec start's JSON) comes first on the socket, then the stream.
    const length = Number(req.headers['content-length'] ?? 0);
    const input = new PassThrough();
    let pending: Buffer = head;
    let bodyDone: (b: Buffer) => void;
    const bodyRead = new Promise<Buffer>((r) => { bodyDone = r; });
    let inBody = true;
    const take = (chunk: Buffer) => {
      if (!inBody) return void input.write(chunk);
      pending = Buffer.concat([pending, chunk]);
      if (pending.length >= length) {
        inBody = false;
        bodyDone(pending.subarray(0, length));
        const rest = pending.subarray(length);
        if (rest.length) input.write(rest);
      }
    };
    socket.on('data', take);
    socket.once('end', () => input.end());
    take(Buffer.alloc(0));
    let begun = false;
    const gone = new Promise<void>((r) => socket.once('close', () => r()));
    const conn: Hijacked = {
      input, gone,
      begin(contentType) {
        begun = true;
        socket.write(`HTTP/1.1 101 UPGRADED\r\n${apiHeaders(opts.headers)}Content-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
      },
      write(chunk) { if (!socket.destroyed) socket.write(chunk); },
      end() { if (!socket.destroyed) socket.end(); },
    };
    void (async () => {
      try {
        const raw = await bodyRead;
        let b: Record<string, unknown> = {};
        if (raw.length) {
          try { b = JSON.parse(raw.toString('utf8')) as Record<string, unknown>; } catch { throw new InvalidArgumentError('request body', raw.toString('utf8').slice(0, 100), 'not JSON'); }
        }
        await found.handler(req, conn, found.params, routed.query, b);
      } catch (e) {
        if (begun) return void socket.destroy();
        fail(httpStatusForError(e), { message: isBerthError(e) ? e.message : String((e as Error)?.message ?? e), ...(isBerthError(e) ? { code: e.code } : {}) });
      }
    })();
  });

  // The same routes without an upgrade: the stream is the response body, stdin the request body.
  return hijack.map(([method, re, handler]): Route => [method, re, async (req, res, p, q) => {
    const chunks: Buffer[] = [];
    const input = new PassThrough();
    const isExec = re.source.includes('exec');
    let b: Record<string, unknown> = {};
    if (isExec) {
      for await (const c of req) chunks.push(c as Buffer);
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim()) {
        try { b = JSON.parse(text) as Record<string, unknown>; } catch { throw new InvalidArgumentError('request body', text.slice(0, 100), 'not JSON'); }
      }
      input.end();
    } else {
      req.on('data', (c: Buffer) => input.write(c));
      req.once('end', () => input.end());
    }
    const gone = new Promise<void>((r) => res.once('close', () => r()));
    await handler(req, {
      input, gone,
      begin(contentType) {
        res.writeHead(200, { 'Content-Type': contentType });
        res.flushHeaders();
      },
      write(chunk) { res.write(chunk); },
      end() { res.end(); },
    }, p, q, b);
  }]);
}
