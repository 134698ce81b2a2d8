/**
 * The Docker Engine API (1.41) routes for container operations beyond the
 * lifecycle (restart, pause, unpause, update, top, stats, changes, export,
 * archive), commit, image save / load / push, and `system df`, in dockerd's
 * request and response shapes (moby api/server/router/container, image and
 * system). `docker-api-server.ts` splices them into its route table.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { mergeEnv } from '@berth/oci-spec';
import type { Engine } from '../engine.js';
import type { ImageSummary, RegistryCredentials } from '../images.js';
import { InvalidArgumentError, NotImplementedError } from '../errors.js';
import { familiarTag } from '../images/names.js';
import { updateFromApi } from '../runtime/container-update.js';
import { parseChanges } from './commit-changes.js';

const execFileP = promisify(execFile);

type Params = Record<string, string>;
/** A route handler, as in `docker-api-server.ts`. */
export type RouteHandler = (req: http.IncomingMessage, res: http.ServerResponse, p: Params, q: URLSearchParams) => Promise<void>;
/** One route: method, path pattern, handler. */
export type Route = [string, RegExp, RouteHandler];

/** What the server lends the routes: its body reader, JSON sender and boolean query reader. */
export interface RouteHelpers {
  body(req: http.IncomingMessage): Promise<Record<string, unknown>>;
  send(res: http.ServerResponse, status: number, value?: unknown): void;
  bool(q: URLSearchParams, k: string): boolean;
}

/** An AbortSignal that aborts when the client goes away before the response ends. */
function clientGone(res: http.ServerResponse): AbortSignal {
  const ac = new AbortController();
  res.on('close', () => { if (!res.writableFinished) ac.abort(); });
  return ac.signal;
}

/** Writes `value` as one line of a JSON stream, waiting for drain. */
async function writeLine(res: http.ServerResponse, value: unknown): Promise<void> {
  // A client that went away never drains: its close ends the wait too.
  if (!res.write(`${JSON.stringify(value)}\n`)) await new Promise((r) => { res.once('drain', r); res.once('close', r); });
}

/** Docker's `X-Docker-Container-Path-Stat`: base64 of the stat's JSON. */
function pathStatHeader(stat: unknown): string {
  return Buffer.from(JSON.stringify(stat)).toString('base64');
}

/**
 * Decodes `X-Registry-Auth` (base64url JSON `{username, password,
 * serveraddress}` or `{identitytoken}`); a malformed header is a 400, as
 * dockerd answers.
 */
export function parseRegistryAuth(header: string | string[] | undefined): Record<string, string> {
  const raw = Array.isArray(header) ? header[0] : header;
  if (!raw) return {};
  try {
    const v = JSON.parse(Buffer.from(raw.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, string>;
  } catch (e) {
    throw new InvalidArgumentError('X-Registry-Auth', raw.slice(0, 40), `not base64 JSON (${(e as Error).message})`);
  }
}

/** Bytes used by the files under `dir` (apparent sizes; hard links counted once). */
async function duBytes(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      const st = await fs.lstat(p).catch(() => undefined);
      if (!st) continue;
      const ino = `${st.dev}:${st.ino}`;
      if (seen.has(ino)) continue;
      seen.add(ino);
      if (st.isDirectory()) await walk(p);
      else total += st.size;
    }
  };
  await walk(dir);
  return total;
}

/**
 * `ps` output filtered to `pids` (moby `parsePSOutput`): the PID column is
 * found in the header; thread lines (`-` as pid) follow their process;
 * fields beyond the header's count are joined into the last column.
 */
export function parsePsOutput(output: string, pids: ReadonlySet<number>, args = ''): { Titles: string[]; Processes: string[][] } {
  const lines = output.split('\n');
  const Titles = (lines[0] ?? '').trim().split(/\s+/).filter(Boolean);
  const at = Titles.indexOf('PID');
  if (at < 0) throw new InvalidArgumentError('ps_args', args, 'ps output has no PID column');
  const Processes: string[][] = [];
  const add = (f: string[]) => Processes.push([...f.slice(0, Titles.length - 1), f.slice(Titles.length - 1).join(' ')]);
  let inContainer = false;
  for (const line of lines.slice(1)) {
    const f = line.trim().split(/\s+/).filter(Boolean);
    if (!f.length) continue;
    if (f[at] === '-') {
      if (inContainer) add(f);
      continue;
    }
    inContainer = pids.has(Number(f[at]));
    if (inContainer) add(f);
  }
  return { Titles, Processes };
}

/** The container-operation routes (insert where the container routes are). */
export function containerOperationRoutes(engine: Engine, h: RouteHelpers): Route[] {
  const { body, send, bool } = h;
  return [
    ['POST', /^\/containers\/(?<id>[^/]+)\/restart$/, async (_r, res, p, q) => {
      await engine.containers.restart(p.id!, { timeout: q.has('t') ? Number(q.get('t')) : undefined, signal: q.get('signal') || undefined });
      send(res, 204);
    }],
    ['POST', /^\/containers\/(?<id>[^/]+)\/pause$/, async (_r, res, p) => {
      await engine.containers.pause(p.id!);
      send(res, 204);
    }],
    ['POST', /^\/containers\/(?<id>[^/]+)\/unpause$/, async (_r, res, p) => {
      await engine.containers.unpause(p.id!);
      send(res, 204);
    }],
    ['POST', /^\/containers\/(?<id>[^/]+)\/update$/, async (req, res, p) => {
      send(res, 200, await engine.containers.update(p.id!, updateFromApi((await body(req)) ?? {})));
    }],
    ['GET', /^\/containers\/(?<id>[^/]+)\/top$/, async (_r, res, p, q) => {
      const args = q.get('ps_args');
      const top = await engine.containers.top(p.id!);
      if (!args || args === '-ef') {
        send(res, 200, top);
        return;
      }
      // Other ps options: the host's ps with them, its rows kept for the container's pids (moby daemon/top_unix.go).
      const pids = new Set(top.Processes.map((row) => Number(row[1])));
      const out = await execFileP('ps', args.split(' ').filter(Boolean), { maxBuffer: 16 << 20 }).then((r) => r.stdout, (e: { stderr?: string }) => {
        throw new InvalidArgumentError('ps_args', args, `ps failed: ${(e.stderr ?? '').trim()}`);
      });
      send(res, 200, parsePsOutput(out, pids, args));
    }],
    ['GET', /^\/containers\/(?<id>[^/]+)\/stats$/, async (_r, res, p, q) => {
      // Docker's default is a stream; stream=0 answers one sample (primed, unless one-shot=1).
      const stream = q.has('stream') ? bool(q, 'stream') : true;
      const signal = clientGone(res);
      if (!stream) {
        send(res, 200, await engine.containers.stats(p.id!, { oneShot: bool(q, 'one-shot'), signal }));
        return;
      }
      const it = engine.containers.stats(p.id!, { stream: true, signal })[Symbol.asyncIterator]();
      const first = await it.next(); // a container that is not running still gets a JSON error
      res.writeHead(200, { 'Content-Type': 'application/json' });
      try {
        for (let n = first; !n.done; n = await it.next()) await writeLine(res, n.value);
      } finally {
        await it.return?.(undefined);
      }
      res.end();
    }],
    ['GET', /^\/containers\/(?<id>[^/]+)\/changes$/, async (_r, res, p) => send(res, 200, await engine.containers.changes(p.id!))],
    ['GET', /^\/containers\/(?<id>[^/]+)\/export$/, async (_r, res, p) => {
      const tar = await engine.containers.export(p.id!, { signal: clientGone(res) });
      res.writeHead(200, { 'Content-Type': 'application/x-tar' });
      await pipeline(tar, res);
    }],
    ['HEAD', /^\/containers\/(?<id>[^/]+)\/archive$/, async (_r, res, p, q) => {
      const stat = await engine.containers.statPath(p.id!, q.get('path') ?? '');
      res.writeHead(200, { 'X-Docker-Container-Path-Stat': pathStatHeader(stat), 'Content-Type': 'application/x-tar' });
      res.end();
    }],
    ['GET', /^\/containers\/(?<id>[^/]+)\/archive$/, async (_r, res, p, q) => {
      const at = q.get('path') ?? '';
      if (!at) throw new InvalidArgumentError('path', at, 'a path is required');
      const stat = await engine.containers.statPath(p.id!, at);
      // `dir/.` means the directory's contents: entries named `./…` (dockerd's TarResourceRebase to the base `.`),
      // which docker cp renames to its destination.
      const tar = await engine.containers.copyFrom(p.id!, at, /(^|\/)\.$/.test(at) ? { name: '.' } : {});
      res.writeHead(200, { 'X-Docker-Container-Path-Stat': pathStatHeader(stat), 'Content-Type': 'application/x-tar' });
      await pipeline(tar, res);
    }],
    ['PUT', /^\/containers\/(?<id>[^/]+)\/archive$/, async (req, res, p, q) => {
      const at = q.get('path') ?? '';
      if (!at) throw new InvalidArgumentError('path', at, 'a path is required');
      await engine.containers.statPath(p.id!, at); // 404 for a missing directory, as dockerd
      await engine.containers.copyTo(p.id!, at, req);
      send(res, 200);
    }],
    ['POST', /^\/commit$/, async (req, res, _p, q) => {
      const container = q.get('container') ?? '';
      const repo = q.get('repo') ?? '';
      const cfg = ((await body(req)) ?? {}) as Record<string, unknown>;
      const r = await engine.containers.inspect(container);
      const changes = parseChanges(q.getAll('changes').flatMap((c) => c.split('\n')).filter((c) => c.trim()));
      // The body's config fields (docker commit --change is sent as `changes`; API clients may send Config).
      for (const k of ['Cmd', 'Entrypoint', 'WorkingDir', 'User', 'ExposedPorts', 'Volumes', 'Labels', 'StopSignal'] as const) {
        const v = cfg[k];
        if (v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0)) (changes as Record<string, unknown>)[k] ??= v;
      }
      const env = [...(Array.isArray(cfg.Env) ? (cfg.Env as string[]) : []), ...(changes.Env ?? [])];
      if (env.length) changes.Env = mergeEnv(r.Config.Env, env);
      if (changes.Labels) changes.Labels = { ...r.Config.Labels, ...changes.Labels };
      const tag = q.get('tag');
      const out = await engine.containers.commit(container, {
        ...(repo ? { reference: tag ? `${repo}:${tag}` : repo } : {}), author: q.get('author') || undefined, message: q.get('comment') || undefined,
        pause: q.has('pause') ? bool(q, 'pause') : true, changes,
      });
      send(res, 201, { Id: out.id });
    }],
  ];
}

/** The image routes (insert before the image catch-alls). */
export function imageOperationRoutes(engine: Engine, h: RouteHelpers): Route[] {
  const { send, bool } = h;
  const save = async (res: http.ServerResponse, names: string[]) => {
    if (!names.length) throw new InvalidArgumentError('names', '', 'no image given');
    const tar = await engine.images.save(names, { signal: clientGone(res) });
    res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    await pipeline(tar, res);
  };
  return [
    ['GET', /^\/images\/get$/, async (_r, res, _p, q) => save(res, q.getAll('names'))],
    ['GET', /^\/images\/(?<name>.+)\/get$/, async (_r, res, p) => save(res, [p.name!])],
    ['POST', /^\/images\/load$/, async (req, res, _p, q) => {
      const loaded = await engine.images.load(req);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const quiet = bool(q, 'quiet');
      for (const n of loaded.names) await writeLine(res, { stream: `Loaded image: ${familiarTag(n) ?? n}\n` });
      if (!loaded.names.length) for (const id of loaded.ids) await writeLine(res, { stream: `Loaded image ID: ${id}\n` });
      void quiet; // dockerd only drops progress bars with quiet; berth sends none.
      res.end();
    }],
    ['GET', /^\/images\/search$/, async () => {
      throw new NotImplementedError('image search', 'a registry search API (the v2 registry protocol has none; Docker Hub\'s is not reachable here)');
    }],
    ['POST', /^\/images\/(?<name>.+)\/push$/, async (req, res, p, q) => {
      // X-Registry-Auth's login (docker push sends what `docker login` stored), else the client's own credentials.
      const auth = parseRegistryAuth(req.headers['x-registry-auth']);
      const credentials: RegistryCredentials | undefined = auth.identitytoken ? { identityToken: auth.identitytoken, ...(auth.username ? { username: auth.username } : {}) }
        : auth.username && auth.password ? { username: auth.username, password: auth.password } : undefined;
      const tag = q.get('tag');
      const ref = tag ? `${p.name}:${tag}` : p.name!;
      const signal = clientGone(res);
      let started = false;
      const start = () => {
        if (!started) res.writeHead(200, { 'Content-Type': 'application/json' });
        started = true;
      };
      try {
        const pushed = await engine.images.push(ref, { signal, ...(credentials ? { credentials } : {}), onProgress: (m) => { start(); res.write(`${JSON.stringify(m)}\n`); } });
        start();
        res.write(`${JSON.stringify({ progressDetail: {}, aux: { Tag: tag || (familiarTag(ref)?.split(':').pop() ?? 'latest'), Digest: pushed.digest, Size: pushed.size } })}\n`);
      } catch (e) {
        if (!started) throw e;
        const message = (e as Error).message;
        res.write(`${JSON.stringify({ errorDetail: { message }, error: message })}\n`);
      }
      res.end();
    }],
  ];
}

/** `GET /system/df` (`docker system df`): images, containers with their writable-layer size, volumes with usage. */
export function systemRoutes(engine: Engine, h: RouteHelpers): Route[] {
  const { send } = h;
  return [
    ['GET', /^\/system\/df$/, async (_r, res) => {
      const records = await engine.containers.store.list({ all: true });
      const images: Array<ImageSummary & { Containers: number }> = (await engine.images.list().catch(() => [] as ImageSummary[]))
        .map((i) => ({ ...i, SharedSize: 0, Containers: records.filter((r) => r.Image === i.Id).length }));
      const sn = (engine.images as unknown as { snapshotter?: { usage?(key: string): Promise<{ size: number }> } }).snapshotter;
      const summaries = await engine.containers.list({ all: true });
      const containers = await Promise.all(summaries.map(async (c) => {
        const r = records.find((x) => x.Id === c.Id);
        const key = r?.Berth?.SnapshotKey;
        const rw = key && sn?.usage ? await sn.usage(key).then((u) => u.size, () => 0) : 0;
        const img = images.find((i) => i.Id === c.ImageID);
        return { ...c, SizeRw: rw, SizeRootFs: rw + (img?.Size ?? 0) };
      }));
      const volumes = await Promise.all((await engine.volumes.list()).map(async (v) => ({
        ...v,
        UsageData: {
          Size: await duBytes(v.Mountpoint),
          RefCount: records.filter((r) => r.Mounts.some((m) => m.Type === 'volume' && m.Name === v.Name)).length,
        },
      })));
      send(res, 200, {
        LayersSize: images.reduce((a, i) => a + i.Size, 0),
        Images: images, Containers: containers, Volumes: volumes, BuildCache: [],
      });
    }],
  ];
}
