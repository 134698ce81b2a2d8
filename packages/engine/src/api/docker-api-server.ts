/**
 * The Docker Engine API (v1.41 shape) over a unix socket, with node:http.
 * Routes that need subsystems not wired yet answer 501 with the engine's
 * `ERR_ENGINE_NOT_IMPLEMENTED` error; unknown routes answer 404 like dockerd.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import { isBerthError } from '@berth/oci-spec';
import type { CreateContainerOptions, Engine } from '../engine.js';
import type { MountRequest } from '../mount-request.js';
import { parseTmpfsFlag, parseVolumeFlag } from '../mounts/parse-mount-spec.js';
import type { PublishSpec } from '../ports/parse-publish.js';
import { InvalidArgumentError, InvalidFilterError, NotImplementedError } from '../errors.js';
import { nowNanos, parseTimestamp } from '../internal/ids.js';
import { engineVersion, toInspect } from '../local/local-engine.js';
import { httpStatusForError } from './status.js';
import { ioRoutes, serveHijacked } from './attach-routes.js';
import { containerOperationRoutes, imageOperationRoutes, systemRoutes } from './operation-routes.js';

/** The API version berth speaks. */
export const apiVersion = '1.41';
/** The oldest API version clients may ask for. */
export const minApiVersion = '1.24';

type Params = Record<string, string>;
type Handler = (req: http.IncomingMessage, res: http.ServerResponse, p: Params, q: URLSearchParams) => Promise<void>;

/** Parses Docker's `filters` query parameter (`{"k":{"v":true}}` or `{"k":["v"]}`). */
export function parseFiltersParam(raw: string | null): Record<string, string[]> {
  if (!raw) return {};
  let obj: unknown;
  try {
    obj = JSON.parse(raw);
  } catch {
    throw new InvalidFilterError(raw, 'not JSON');
  }
  if (typeof obj !== 'object' || obj === null) throw new InvalidFilterError(raw, 'not an object');
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    if (Array.isArray(v)) out[k] = v.map(String);
    else if (typeof v === 'object' && v !== null) out[k] = Object.entries(v).filter(([, on]) => on).map(([x]) => x);
    else throw new InvalidFilterError(k, 'values must be a list or a set');
  }
  return out;
}

async function body(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return {};
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new InvalidArgumentError('request body', text.slice(0, 100), 'not JSON');
  }
}

function send(res: http.ServerResponse, status: number, value?: unknown): void {
  if (value === undefined) {
    res.writeHead(status);
    res.end();
    return;
  }
  const data = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) });
  res.end(data);
}

const bool = (q: URLSearchParams, k: string) => ['1', 'true', 'True'].includes(q.get(k) ?? '');

/** The route table; exported for tests of routing only. */
function routes(engine: Engine, io: Array<[string, RegExp, Handler]> = []): Array<[string, RegExp, Handler]> {
  const notWired = (what: string, needs: string): Handler => async () => { throw new NotImplementedError(what, needs); };
  const runtime = '@berth/namespaces, @berth/image-store and @berth/cow-fs';
  const images = '@berth/image-store, @berth/registry-client and @berth/cow-fs';
  return [
    ['GET', /^\/_ping$/, async (_q, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache' });
      res.end('OK');
    }],
    ['HEAD', /^\/_ping$/, async (_q, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 0, 'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache' });
      res.end();
    }],
    ['GET', /^\/version$/, async (_q, res) => send(res, 200, {
      Platform: { Name: 'berth' },
      Components: [{ Name: 'Engine', Version: engineVersion, Details: { ApiVersion: apiVersion, MinAPIVersion: minApiVersion, Os: 'linux', Arch: os.arch() } }],
      Version: engineVersion, ApiVersion: apiVersion, MinAPIVersion: minApiVersion, GitCommit: '', GoVersion: `node ${process.version}`,
      Os: 'linux', Arch: os.arch() === 'x64' ? 'amd64' : os.arch(), KernelVersion: os.release(), BuildTime: '',
    })],
    ['GET', /^\/info$/, async (_q, res) => send(res, 200, await engine.info())],
    // Volumes
    ['GET', /^\/volumes$/, async (_r, res, _p, q) => send(res, 200, { Volumes: await engine.volumes.list({ filters: parseFiltersParam(q.get('filters')) }), Warnings: null })],
    ['POST', /^\/volumes\/create$/, async (req, res) => {
      const b = await body(req);
      send(res, 201, await engine.volumes.create({
        name: (b.Name as string | undefined) || undefined, driver: (b.Driver as string | undefined) || undefined,
        labels: (b.Labels as Record<string, string>) ?? {}, options: (b.DriverOpts as Record<string, string>) ?? {},
      }));
    }],
    ['POST', /^\/volumes\/prune$/, async (_r, res, _p, q) => send(res, 200, await engine.volumes.prune({ filters: parseFiltersParam(q.get('filters')) }))],
    ['GET', /^\/volumes\/(?<name>[^/]+)$/, async (_r, res, p) => send(res, 200, await engine.volumes.inspect(p.name!))],
    ['DELETE', /^\/volumes\/(?<name>[^/]+)$/, async (_r, res, p, q) => {
      await engine.volumes.remove(p.name!, { force: bool(q, 'force') });
      send(res, 204);
    }],
    // Networks
    ['GET', /^\/networks$/, async (_r, res, _p, q) => send(res, 200, await engine.networks.list({ filters: parseFiltersParam(q.get('filters')) }))],
    ['POST', /^\/networks\/create$/, async (req, res) => {
      const b = await body(req);
      const ipam = (b.IPAM as { Config?: Array<{ Subnet?: string; Gateway?: string }> } | undefined)?.Config?.[0];
      const n = await engine.networks.create({
        name: String(b.Name ?? ''), driver: (b.Driver as string | undefined) || undefined, internal: !!b.Internal, attachable: !!b.Attachable,
        subnet: ipam?.Subnet, gateway: ipam?.Gateway, labels: (b.Labels as Record<string, string>) ?? {}, options: (b.Options as Record<string, string>) ?? {},
      });
      send(res, 201, { Id: n.Id, Warning: '' });
    }],
    ['POST', /^\/networks\/prune$/, async (_r, res, _p, q) => send(res, 200, await engine.networks.prune({ filters: parseFiltersParam(q.get('filters')) }))],
    ['GET', /^\/networks\/(?<id>[^/]+)$/, async (_r, res, p) => send(res, 200, await engine.networks.inspect(p.id!))],
    ['DELETE', /^\/networks\/(?<id>[^/]+)$/, async (_r, res, p) => {
      await engine.networks.remove(p.id!);
      send(res, 204);
    }],
    ['POST', /^\/networks\/(?<id>[^/]+)\/connect$/, async (req, res, p) => {
      const b = await body(req);
      const ec = (b.EndpointConfig ?? {}) as { Aliases?: string[]; IPAMConfig?: { IPv4Address?: string } };
      await engine.networks.connect(p.id!, String(b.Container ?? ''), { aliases: ec.Aliases, ipv4Address: ec.IPAMConfig?.IPv4Address || undefined });
      send(res, 200);
    }],
    ['POST', /^\/networks\/(?<id>[^/]+)\/disconnect$/, async (req, res, p) => {
      const b = await body(req);
      await engine.networks.disconnect(p.id!, String(b.Container ?? ''), { force: !!b.Force });
      send(res, 200);
    }],
    // Containers: what the state store can answer.
    ['GET', /^\/containers\/json$/, async (_r, res, _p, q) => send(res, 200, await engine.containers.list({
      all: bool(q, 'all'), limit: q.has('limit') ? Number(q.get('limit')) : undefined, filters: parseFiltersParam(q.get('filters')),
    }))],
    ['GET', /^\/containers\/(?<id>[^/]+)\/json$/, async (_r, res, p) => send(res, 200, toInspect(await engine.containers.store.get(p.id!)))],
    ['DELETE', /^\/containers\/(?<id>[^/]+)$/, async (_r, res, p, q) => {
      await engine.containers.remove(p.id!, { force: bool(q, 'force'), volumes: bool(q, 'v') });
      send(res, 204);
    }],
    ['POST', /^\/containers\/(?<id>[^/]+)\/rename$/, async (_r, res, p, q) => {
      await engine.containers.rename(p.id!, q.get('name') ?? '');
      send(res, 204);
    }],
    ['POST', /^\/containers\/prune$/, async (_r, res, _p, q) => send(res, 200, await engine.containers.prune({ filters: parseFiltersParam(q.get('filters')) }))],
    ['GET', /^\/containers\/(?<id>[^/]+)\/logs$/, async (req, res, p, q) => {
      const r = await engine.containers.store.get(p.id!);
      const streams = [...(bool(q, 'stdout') ? ['stdout'] : []), ...(bool(q, 'stderr') ? ['stderr'] : [])] as Array<'stdout' | 'stderr'>;
      if (!streams.length) throw new InvalidArgumentError('logs', 'stdout/stderr', 'you must choose at least one stream');
      const ac = new AbortController();
      req.on('close', () => ac.abort());
      const it = engine.containers.logs(r.Id, {
        follow: bool(q, 'follow'), streams, signal: ac.signal,
        since: q.get('since') && q.get('since') !== '0' ? parseTimestamp(q.get('since')!) : undefined,
        until: q.get('until') && q.get('until') !== '0' ? parseTimestamp(q.get('until')!) : undefined,
        tail: q.get('tail') && q.get('tail') !== 'all' ? Number(q.get('tail')) : undefined,
      })[Symbol.asyncIterator]();
      const first = await it.next(); // errors (no log file) still become a JSON error response
      const tty = r.Config.Tty;
      res.writeHead(200, { 'Content-Type': tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream' });
      const ts = bool(q, 'timestamps');
      const frame = (e: { stream: string; log: string; time: string }) => {
        const payload = Buffer.from(ts ? `${e.time} ${e.log}` : e.log);
        if (tty) return payload;
        // stdcopy framing: [stream, 0, 0, 0, size32be] + payload.
        const h = Buffer.alloc(8);
        h[0] = e.stream === 'stderr' ? 2 : 1;
        h.writeUInt32BE(payload.length, 4);
        return Buffer.concat([h, payload]);
      };
      for (let n = first; !n.done; n = await it.next()) if (!res.write(frame(n.value))) await new Promise((r2) => res.once('drain', r2));
      res.end();
    }],
    ['POST', /^\/containers\/create$/, async (req, res, _p, q) => {
      const r = await engine.containers.create(createOptionsFromApi(await body(req), q.get('name') ?? undefined));
      send(res, 201, { Id: r.Id, Warnings: [] });
    }],
    // The API server process supervises what it starts (output to the json-file log, exit recorded).
    ['POST', /^\/containers\/(?<id>[^/]+)\/start$/, async (_r, res, p) => {
      await engine.containers.start(p.id!);
      send(res, 204);
    }],
    ['POST', /^\/containers\/(?<id>[^/]+)\/stop$/, async (_r, res, p, q) => {
      await engine.containers.stop(p.id!, { timeout: q.has('t') ? Number(q.get('t')) : undefined, signal: q.get('signal') ?? undefined });
      send(res, 204);
    }],
    ['POST', /^\/containers\/(?<id>[^/]+)\/kill$/, async (_r, res, p, q) => {
      await engine.containers.kill(p.id!, q.get('signal') ?? 'SIGKILL');
      send(res, 204);
    }],
    ['POST', /^\/containers\/(?<id>[^/]+)\/wait$/, async (req, res, p, q) => {
      const condition = q.get('condition') || 'not-running';
      // docker run and docker attach ask before they start or attach, and wait for these headers first (as dockerd,
      // which flushes them at once): answer them now, the status when the container stops.
      const r = await engine.containers.store.get(p.id!);
      if (condition === 'next-exit' || condition === 'removed') {
        // The status of the container's next `die` event (and, for removed, after its `destroy`).
        const ac = new AbortController();
        req.on('close', () => ac.abort());
        res.on('close', () => ac.abort());
        const it = engine.events.subscribe({ since: nowNanos(), filters: { type: ['container'], container: [r.Id] }, signal: ac.signal });
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.flushHeaders();
        let code: number | undefined = r.State.Running ? undefined : (condition === 'removed' ? r.State.ExitCode : undefined);
        for await (const e of it) {
          if (e.Action === 'die') {
            code = Number(e.Actor.Attributes.exitCode ?? 0);
            if (condition === 'next-exit') break;
          }
          if (e.Action === 'destroy' && condition === 'removed') break;
        }
        ac.abort();
        res.end(JSON.stringify({ StatusCode: code ?? 0, Error: null }));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      const exit = await engine.containers.wait(r.Id);
      res.end(JSON.stringify({ StatusCode: exit.StatusCode, Error: exit.Error ? { Message: exit.Error } : null }));
    }],
    // restart, pause, unpause, update, top, stats, changes, export, archive and /commit (operation-routes.ts).
    ...containerOperationRoutes(engine, { body, send, bool }),
    // attach, resize, exec create/start/resize/inspect (attach-routes.ts; attach and exec start hijack the connection).
    ...io,
    // Images: through engine.images (501 when the engine has no image service).
    ['GET', /^\/images\/json$/, async (_r, res, _p, q) => send(res, 200, await engine.images.list({ filters: parseFiltersParam(q.get('filters')) }))],
    ['POST', /^\/images\/create$/, async (req, res, _p, q) => {
      const from = q.get('fromImage') ?? '';
      if (!from) throw new InvalidArgumentError('fromImage', from, 'importing with fromSrc is not supported; use /images/load');
      const tag = q.get('tag');
      const ref = tag ? (tag.startsWith('sha256:') ? `${from}@${tag}` : `${from}:${tag}`) : from;
      const ac = new AbortController();
      req.on('close', () => { if (!res.writableEnded) ac.abort(); });
      // Headers go out with the first progress message, so a pull that fails at once (unknown image,
      // no image service) still gets its proper status; later failures are error objects in the stream.
      let started = false;
      const start = () => {
        if (!started) res.writeHead(200, { 'Content-Type': 'application/json' });
        started = true;
      };
      try {
        const r = await engine.images.pull(ref, { signal: ac.signal, onProgress: (p) => { start(); res.write(`${JSON.stringify(p)}\n`); } });
        start();
        res.write(`${JSON.stringify({ status: `Status: ${r.downloaded ? 'Downloaded newer image' : 'Image is up to date'} for ${r.name}` })}\n`);
      } catch (e) {
        if (!started) throw e;
        const message = (e as Error).message;
        res.write(`${JSON.stringify({ errorDetail: { message }, error: message })}\n`);
      }
      res.end();
    }],
    ['POST', /^\/images\/prune$/, async (_r, res, _p, q) => send(res, 200, await engine.images.prune({
      filters: parseFiltersParam(q.get('filters')), all: (parseFiltersParam(q.get('filters')).dangling ?? []).includes('false'),
    }))],
    ['GET', /^\/images\/(?<name>.+)\/json$/, async (_r, res, p) => send(res, 200, await engine.images.inspect(p.name!))],
    ['GET', /^\/images\/(?<name>.+)\/history$/, async (_r, res, p) => send(res, 200, await engine.images.history(p.name!))],
    ['POST', /^\/images\/(?<name>.+)\/tag$/, async (_r, res, p, q) => {
      const repo = q.get('repo') ?? '';
      await engine.images.tag(p.name!, q.get('tag') ? `${repo}:${q.get('tag')}` : repo);
      send(res, 201);
    }],
    ['DELETE', /^\/images\/(?<name>.+)$/, async (_r, res, p, q) => send(res, 200, await engine.images.remove(p.name!, { force: bool(q, 'force'), noprune: bool(q, 'noprune') }))],
    // save, load, push, search (operation-routes.ts).
    ...imageOperationRoutes(engine, { body, send, bool }),
    ['GET', /^\/images\/.*$/, notWired('images', images)],
    ['POST', /^\/images\/.*$/, notWired('images', images)],
    ['DELETE', /^\/images\/.*$/, notWired('images', images)],
    // berth keeps no build cache (it has no builder): there is nothing to prune, which is what docker's answer then is.
    // `docker system prune` asks for it last.
    ['POST', /^\/build\/prune$/, async (_r, res) => send(res, 200, { CachesDeleted: [], SpaceReclaimed: 0 })],
    ['POST', /^\/build$/, notWired('image build', 'an image builder: the engine has none (docker build needs one; commit and import make images)')],
    ...systemRoutes(engine, { body, send, bool }),
    // Events
    ['GET', /^\/events$/, async (req, res, _p, q) => {
      const ac = new AbortController();
      req.on('close', () => ac.abort());
      const it = engine.events.subscribe({
        since: q.get('since') ? parseTimestamp(q.get('since')!) : undefined,
        until: q.get('until') ? parseTimestamp(q.get('until')!) : undefined,
        filters: parseFiltersParam(q.get('filters')), signal: ac.signal,
      });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      for await (const e of it) res.write(`${JSON.stringify(e)}\n`);
      res.end();
    }],
  ];
}

/** Maps a `POST /containers/create` body (API 1.41) to the engine's create options. */
export function createOptionsFromApi(b: Record<string, unknown>, name?: string): CreateContainerOptions {
  const hc = (b.HostConfig ?? {}) as Record<string, unknown>;
  const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
  const mounts: MountRequest[] = [
    ...list(hc.Binds).map((v) => parseVolumeFlag(v)),
    ...Object.keys((b.Volumes ?? {}) as object).map((v) => parseVolumeFlag(v)),
    ...Object.entries((hc.Tmpfs ?? {}) as Record<string, string>).map(([t, o]) => parseTmpfsFlag(o ? `${t}:${o}` : t)),
    ...((hc.Mounts ?? []) as Array<Record<string, unknown>>).map((m) => ({
      Type: String(m.Type ?? 'volume') as MountRequest['Type'], Source: String(m.Source ?? ''), Target: String(m.Target ?? ''), ReadOnly: !!m.ReadOnly,
    })),
  ];
  const publish: PublishSpec[] = [];
  for (const [key, binds] of Object.entries((hc.PortBindings ?? {}) as Record<string, Array<{ HostIp?: string; HostPort?: string }> | null>)) {
    const [port, proto = 'tcp'] = key.split('/');
    for (const bnd of binds ?? []) {
      publish.push({ hostIP: bnd.HostIp ?? '', hostPort: Number(bnd.HostPort || 0), containerPort: Number(port), protocol: proto as PublishSpec['protocol'] });
    }
  }
  const endpoints = ((b.NetworkingConfig as { EndpointsConfig?: Record<string, { Aliases?: string[]; IPAMConfig?: { IPv4Address?: string } }> } | undefined)?.EndpointsConfig) ?? {};
  const firstEp = Object.values(endpoints)[0];
  const restart = (hc.RestartPolicy ?? {}) as { Name?: string; MaximumRetryCount?: number };
  const log = (hc.LogConfig ?? {}) as { Type?: string; Config?: Record<string, string> };
  return {
    image: String(b.Image ?? ''), name: name || undefined,
    cmd: Array.isArray(b.Cmd) && b.Cmd.length ? list(b.Cmd) : undefined,
    entrypoint: Array.isArray(b.Entrypoint) ? list(b.Entrypoint) : typeof b.Entrypoint === 'string' ? [b.Entrypoint] : undefined,
    env: list(b.Env), workingDir: (b.WorkingDir as string) || undefined, user: (b.User as string) || undefined,
    hostname: (b.Hostname as string) || undefined, tty: !!b.Tty, openStdin: !!b.OpenStdin, stdinOnce: !!b.StdinOnce,
    ...(Array.isArray(hc.ConsoleSize) && Number(hc.ConsoleSize[0]) > 0 && Number(hc.ConsoleSize[1]) > 0
      ? { consoleSize: { rows: Number(hc.ConsoleSize[0]), cols: Number(hc.ConsoleSize[1]) } } : {}),
    labels: (b.Labels ?? {}) as Record<string, string>,
    mounts, publish, publishAll: !!hc.PublishAllPorts, expose: Object.keys((b.ExposedPorts ?? {}) as object),
    networkMode: (hc.NetworkMode as string) && hc.NetworkMode !== 'default' ? String(hc.NetworkMode) : 'bridge',
    networkAliases: firstEp?.Aliases ?? [], ipv4Address: firstEp?.IPAMConfig?.IPv4Address || undefined,
    autoRemove: !!hc.AutoRemove, memory: Number(hc.Memory ?? 0), nanoCpus: Number(hc.NanoCpus ?? 0),
    pidsLimit: hc.PidsLimit == null ? undefined : Number(hc.PidsLimit),
    restartPolicy: { Name: restart.Name || 'no', MaximumRetryCount: restart.MaximumRetryCount ?? 0 },
    logConfig: { Type: log.Type || 'json-file', Config: log.Config ?? {} },
    stopSignal: (b.StopSignal as string) || undefined, stopTimeout: b.StopTimeout == null ? undefined : Number(b.StopTimeout),
    readOnly: !!hc.ReadonlyRootfs, privileged: !!hc.Privileged, capAdd: list(hc.CapAdd), capDrop: list(hc.CapDrop),
    ...(list(hc.SecurityOpt).length ? { securityOpt: list(hc.SecurityOpt) } : {}),
    extraHosts: list(hc.ExtraHosts), dns: list(hc.Dns), init: !!hc.Init,
  };
}

/** A running API server; `close()` stops it and removes the socket. */
export interface DockerApiServer {
  readonly socketPath: string;
  readonly server: http.Server;
  close(): Promise<void>;
}

/** Options of {@link serveDockerApi}. */
export interface ServeDockerApiOptions {
  /** Path of the unix socket to listen on (replaced if stale). */
  socketPath: string;
  /** Socket file mode (default 0o660). */
  mode?: number;
}

/** Starts the Docker Engine API for `engine` on a unix socket. */
export async function serveDockerApi(engine: Engine, opts: ServeDockerApiOptions): Promise<DockerApiServer> {
  const io = ioRoutes(engine, { body, send, bool });
  let table: Array<[string, RegExp, Handler]> = [];
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    res.setHeader('Api-Version', apiVersion);
    res.setHeader('Docker-Experimental', 'false');
    res.setHeader('Ostype', 'linux');
    res.setHeader('Server', `Berth/${engineVersion} (linux)`);
    const url = new URL(req.url ?? '/', 'http://berth');
    let pathname = url.pathname;
    const ver = /^\/v(\d+\.\d+)(\/.*)$/.exec(pathname);
    if (ver) {
      pathname = ver[2]!;
      if (Number(ver[1]) > Number(apiVersion) || Number(ver[1]) < Number(minApiVersion)) {
        send(res, 400, { message: `client version ${ver[1]} is not supported: berth speaks ${minApiVersion} to ${apiVersion}` });
        return;
      }
    }
    let matchedPath = false;
    for (const [method, re, handler] of table) {
      const m = re.exec(pathname);
      if (!m) continue;
      matchedPath = true;
      if (method !== req.method) continue;
      const params: Params = {};
      for (const [k, v] of Object.entries(m.groups ?? {})) params[k] = decodeURIComponent(v);
      handler(req, res, params, url.searchParams).catch((e: unknown) => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        const msg = isBerthError(e) ? e.message : String((e as Error)?.message ?? e);
        send(res, httpStatusForError(e), { message: msg, ...(isBerthError(e) ? { code: e.code } : {}) });
      });
      return;
    }
    send(res, matchedPath ? 405 : 404, { message: matchedPath ? 'method not allowed' : 'page not found' });
  });
  // Hijacked streams (attach, exec start): `Upgrade: tcp` requests arrive on the server's upgrade event.
  const hijacked = serveHijacked(server, io.hijack, {
    headers: { 'Api-Version': apiVersion, 'Docker-Experimental': 'false', Ostype: 'linux', Server: `Berth/${engineVersion} (linux)` },
    route(raw) {
      const url = new URL(raw, 'http://berth');
      const ver = /^\/v(\d+\.\d+)(\/.*)$/.exec(url.pathname);
      if (ver && (Number(ver[1]) > Number(apiVersion) || Number(ver[1]) < Number(minApiVersion))) {
        return { error: `client version ${ver[1]} is not supported: berth speaks ${minApiVersion} to ${apiVersion}` };
      }
      return { pathname: ver ? ver[2]! : url.pathname, query: url.searchParams };
    },
  });
  table = routes(engine, [...io.routes, ...hijacked]);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await fs.rm(opts.socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.socketPath, () => resolve());
  });
  await fs.chmod(opts.socketPath, opts.mode ?? 0o660);
  let closed: Promise<void> | undefined;
  return {
    socketPath: opts.socketPath,
    server,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }).then(() => fs.rm(opts.socketPath, { force: true }));
      return closed;
    },
  };
}
