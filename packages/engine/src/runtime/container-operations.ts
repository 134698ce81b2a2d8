/**
 * The container operations that act on a container the runtime already
 * knows (by its id under `<runRoot>/runtime`) or on its snapshot: pause,
 * unpause, exec, top, stats, commit and copying files in and out. They
 * need no in-process supervisor, so they work from any process (a CLI
 * invocation while a detached supervisor owns the container).
 *
 * Docker's shapes: `top` answers `{ Titles, Processes }` as `ps -ef` would
 * (moby daemon/top_unix.go), `stats` one `types.StatsJSON`
 * (daemon/stats_collector), commit follows daemon/commit.go (pause, diff
 * the rootfs against the image, new layer + config with a history entry),
 * cp follows daemon/archive.go (paths resolved inside the rootfs).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateSpec, mergeEnv, withArgs, withCwd, withEnv, withUser, withPrivileged, OciMediaType, digestOf, type Descriptor, type ImageConfig } from '@berth/oci-spec';
import { applyLayer, applyLayerToMounts, diffMounts, DiffError, mountAll, unmountAll, type DiffResult, type Mount } from '@berth/cow-fs';
import { loadContainer, openCgroup, type Container, type ContainerProcess } from '@berth/namespaces';
import { readBlob, writeBlob, type ImageStore } from '@berth/image-store';
import type { ContainerRecord, ContainerStore } from '../container.js';
import type { EventBus } from '../event.js';
import { ContainerNotRunningError, ContainerPathNotFoundError, InvalidArgumentError, NotImplementedError } from '../errors.js';
import { isSameProcessAlive } from '../internal/proc.js';
import { chainIds, normalizeImageName } from '../images/names.js';
import { SnapshotLabel } from '../images/local-image-service.js';
import { resolveInRoot } from './root-path.js';
import { tarPath } from './tar-out.js';
import { readStatsSample, streamStats, toDockerStats, type ContainerStats, type StatsTarget } from './container-stats.js';
import { rootfsChanges, statInRoot, tarRootfs, type ContainerChange, type ContainerPathStat } from './container-changes.js';
import { applyUpdateToHostConfig, updateResources, validateUpdate, type ContainerUpdate } from './container-update.js';

/** `docker top`'s answer. */
export interface ContainerTop {
  Titles: string[];
  Processes: string[][];
}

export type { ContainerStats, CpuStats } from './container-stats.js';

/** Options of {@link ContainerOperations.stats}. */
export interface ContainerStatsOptions {
  /** An async iterable of one sample per `intervalMs` (docker stats), instead of one sample. */
  stream?: boolean;
  /**
   * Without `stream`: answer at once with an empty `precpu_stats` (Docker's
   * `one-shot=1`). Default false: wait one interval for a second reading, so
   * `precpu_stats` is filled and CPU % can be computed (Docker's `stream=0`).
   */
  oneShot?: boolean;
  /** Ends a stream, or cancels the wait of a primed sample. */
  signal?: AbortSignal;
  /** Time between readings; default 1000 ms. */
  intervalMs?: number;
}

/** Options of {@link ContainerOperations.exec}. */
export interface ExecContainerOptions {
  env?: string[];
  user?: string;
  workingDir?: string;
  tty?: boolean;
  privileged?: boolean;
  /** `pipe` (default) hands back stdin/stdout/stderr streams; `inherit` shares this process's. */
  stdio?: 'pipe' | 'inherit' | 'ignore';
  consoleSize?: { rows: number; cols: number };
}

/** Options of {@link ContainerOperations.commit}. */
export interface CommitContainerOptions {
  /** The new image's name (`repo[:tag]`); without one the image is dangling (`<none>:<none>`), as docker's. */
  reference?: string;
  author?: string;
  message?: string;
  /** Pause the container while its rootfs is read (default true, as docker). */
  pause?: boolean;
  /** Config fields replacing the container's (a parsed `--change`). */
  changes?: Partial<NonNullable<ImageConfig['config']>>;
}

/**
 * The image side commit and rootfs access need (structurally the
 * `LocalImageService`): resolve an image, its store and snapshotter, and
 * naming.
 */
export interface OperationsImageSource {
  resolveImage(ref: string): Promise<{ id: string; config: ImageConfig; chainIds: string[] }>;
  tag(source: string, target: string): Promise<void>;
  /** Points a name at a stored manifest, leaving the image it named before dangling; no name: the manifest's image is dangling (`LocalImageService.nameImage`). */
  nameImage?(name: string | undefined, manifest: Descriptor, id: string): Promise<void>;
  readonly store: ImageStore;
  readonly snapshotter: {
    prepare(key: string, parent?: string): Promise<Mount[]>;
    mounts(key: string): Promise<Mount[]>;
    view(key: string, parent?: string): Promise<Mount[]>;
    commit(name: string, key: string, opts?: { labels?: Record<string, string> }): Promise<void>;
    remove(key: string): Promise<void>;
    stat?(key: string): Promise<unknown>;
    /** Bytes (and inodes) a snapshot's own layer holds (cow-fs `usage`). */
    usage?(key: string): Promise<{ size: number }>;
  };
}

/** Dependencies of {@link ContainerOperations}. */
export interface ContainerOperationsDeps {
  store: ContainerStore;
  events: EventBus;
  runRoot: string;
  /** The image side, or a function opening it on first use (commit, cp on a stopped container). */
  images?: OperationsImageSource | (() => Promise<OperationsImageSource>);
  /** The cgroup root stats read from (default `/sys/fs/cgroup`; tests point it at a fake tree). */
  cgroupRoot?: string;
}

const hz = 100; // USER_HZ on Linux (sysconf(_SC_CLK_TCK))

/** Reads `/proc/<pid>/stat` fields (after the comm) as numbers. */
async function procStat(pid: number): Promise<{ comm: string; f: string[] } | undefined> {
  const s = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!s) return undefined;
  const close = s.lastIndexOf(')');
  return { comm: s.slice(s.indexOf('(') + 1, close), f: s.slice(close + 2).trim().split(' ') };
}

function clock(sec: number): string {
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = Math.floor(sec % 60);
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

/**
 * What `docker diff` leaves out for a rootfs that is not an overlay (the copy backend, a snapshot without parents):
 * the mount points of the files the engine mounts over, which the runtime made in it. An overlay rootfs gets them from
 * the init layer (a lower dir, as Docker's init layer), so its writable layer never holds them and nothing is hidden.
 */
const changesHidden = ['/etc/hostname', '/etc/hosts', '/etc/resolv.conf'];

/**
 * `src` in pieces of at most `piece` bytes, with a turn of the event loop
 * after each. The apply works synchronously through what it is given, and an
 * async iterator over buffered data never yields to the event loop: without
 * the turns, the commit's other I/O (lease edits, blob fsyncs) would wait
 * for the whole apply instead of running beside it.
 */
async function* yieldingPieces(src: AsyncIterable<Buffer>, piece = 64 * 1024): AsyncGenerator<Buffer> {
  for await (const c of src) {
    for (let off = 0; off < c.length; off += piece) {
      yield c.subarray(off, off + piece);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}

/** Pause, unpause, exec, top, stats, commit and cp for the local engine. */
export class ContainerOperations {
  readonly #d: ContainerOperationsDeps;

  constructor(deps: ContainerOperationsDeps) {
    this.#d = deps;
  }

  /** The runtime root the lifecycle creates containers under. */
  get runtimeRoot(): string {
    return path.join(this.#d.runRoot, 'runtime');
  }

  /** The host path of a running container's rootfs. */
  rootfsOf(id: string): string {
    return path.join(this.#d.runRoot, 'bundles', id, 'rootfs');
  }

  async #running(ref: string, why: string): Promise<{ r: ContainerRecord; c: Container }> {
    const r = await this.#d.store.get(ref);
    if (!(r.State.Running && (await isSameProcessAlive(r.State.Pid, r.Berth?.PidStartTicks)))) {
      throw new ContainerNotRunningError(r.Name.slice(1), why);
    }
    try {
      return { r, c: await loadContainer(this.runtimeRoot, r.Id) };
    } catch (e) {
      throw new ContainerNotRunningError(r.Name.slice(1), `the runtime does not know it (${(e as Error).message})`);
    }
  }

  #publish(r: ContainerRecord, action: string, extra: Record<string, string> = {}): Promise<unknown> {
    return this.#d.events.publish({ Type: 'container', Action: action, Actor: { ID: r.Id, Attributes: { image: r.Config.Image, name: r.Name.slice(1), ...extra } } });
  }

  /** Freezes every process of the container (cgroup freezer). */
  async pause(ref: string): Promise<void> {
    const { r, c } = await this.#running(ref, 'cannot pause');
    if (r.State.Paused) throw new InvalidArgumentError('container', r.Name.slice(1), 'is already paused');
    await c.pause();
    const now = await this.#d.store.markPaused(r.Id, true);
    if (!now.State.Paused) throw new ContainerNotRunningError(r.Name.slice(1), 'it exited while being paused');
    await this.#publish(r, 'pause');
  }

  /** Thaws a paused container. */
  async unpause(ref: string): Promise<void> {
    const { r, c } = await this.#running(ref, 'cannot unpause');
    if (!r.State.Paused) throw new InvalidArgumentError('container', r.Name.slice(1), 'is not paused');
    await c.resume();
    await this.#d.store.markPaused(r.Id, false);
    await this.#publish(r, 'unpause');
  }

  /**
   * Runs another process in a running container: the container's Env with
   * `env` merged in, its User and WorkingDir unless overridden; the user is
   * resolved with the container's /etc/passwd and /etc/group.
   */
  async exec(ref: string, cmd: string[], opts: ExecContainerOptions = {}): Promise<ContainerProcess> {
    if (cmd.length === 0) throw new InvalidArgumentError('command', '', 'exec needs a command');
    const { r, c } = await this.#running(ref, 'cannot exec');
    if (r.State.Paused) throw new InvalidArgumentError('container', r.Name.slice(1), 'is paused: unpause it first');
    const rootfs = this.rootfsOf(r.Id);
    const read = (p: string) => fs.readFile(path.join(rootfs, p), 'utf8').catch(() => undefined);
    const db = { passwd: await read('etc/passwd'), group: await read('etc/group') };
    const env = mergeEnv(r.Config.Env, opts.env ?? []);
    const spec = generateSpec(
      withArgs(cmd), withEnv(env), withCwd(opts.workingDir || r.Config.WorkingDir || '/'), withUser(opts.user || r.Config.User || '0', db),
      ...(opts.privileged ? [withPrivileged()] : []),
    );
    const proc = { ...spec.process!, terminal: opts.tty === true, ...(opts.consoleSize ? { consoleSize: { height: opts.consoleSize.rows, width: opts.consoleSize.cols } } : {}) };
    const p = await c.exec(proc, { stdio: opts.tty ? 'pty' : (opts.stdio ?? 'pipe'), ...(opts.consoleSize ? { consoleSize: opts.consoleSize } : {}) });
    await this.#publish(r, `exec_start: ${cmd.join(' ')}`);
    if (!p.stdio.pty) return p;
    // The pty master is destroyed after its EIO (the process is gone); its fd number may be reused after that.
    return {
      pid: p.pid, stdio: p.stdio,
      wait: () => p.wait(),
      kill: (signal) => p.kill(signal),
      resize: (rows, cols) => {
        if (p.stdio.pty?.destroyed) throw new ContainerNotRunningError(r.Name.slice(1), 'the exec process\'s pty is closed');
        p.resize(rows, cols);
      },
    };
  }

  /** The container's processes as `ps -ef` shows them (docker top without ps options). */
  async top(ref: string): Promise<ContainerTop> {
    const { c } = await this.#running(ref, 'cannot list its processes');
    const pids = (await c.pids()).sort((a, b) => a - b);
    const uptime = Number((await fs.readFile('/proc/uptime', 'utf8')).split(' ')[0]);
    const boot = Date.now() / 1000 - uptime;
    const users = new Map<number, string>();
    for (const line of (await fs.readFile('/etc/passwd', 'utf8').catch(() => '')).split('\n')) {
      const f = line.split(':');
      if (f.length > 2 && !users.has(Number(f[2]))) users.set(Number(f[2]), f[0]!);
    }
    const rows: string[][] = [];
    for (const pid of pids) {
      const st = await procStat(pid);
      if (!st) continue; // exited meanwhile
      const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      const cmdline = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean).join(' ');
      // stat fields after comm: [0]=state [1]=ppid [4]=tty_nr [11]=utime [12]=stime [19]=starttime
      const cpu = (Number(st.f[11]) + Number(st.f[12])) / hz;
      const started = Number(st.f[19]) / hz;
      const elapsed = Math.max(uptime - started, 1e-3);
      const start = new Date((boot + started) * 1000);
      const tty = Number(st.f[4]);
      rows.push([
        users.get(uid) ?? String(uid), String(pid), st.f[1]!, String(Math.floor((cpu / elapsed) * 100)),
        `${String(start.getHours()).padStart(2, '0')}:${String(start.getMinutes()).padStart(2, '0')}`,
        tty === 0 ? '?' : `pts/${tty & 0xff}`, clock(cpu), cmdline || `[${st.comm}]`,
      ]);
    }
    return { Titles: ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'], Processes: rows };
  }

  /** What {@link ContainerOperations.stats} measures for a running container: its cgroup and init pid. */
  async #statsTarget(ref: string): Promise<{ target: StatsTarget; alive: () => Promise<boolean> }> {
    const { r, c } = await this.#running(ref, 'no stats');
    const state = await c.state();
    const cgroup = openCgroup(state.cgroupsPath ?? `/berth/${r.Id}`, this.#d.cgroupRoot ? { root: this.#d.cgroupRoot } : {});
    const mode = r.HostConfig.NetworkMode || 'bridge';
    return {
      target: { id: r.Id, name: r.Name, cgroup, pid: r.State.Pid, noNetwork: mode === 'host' || mode === 'none' },
      alive: () => isSameProcessAlive(r.State.Pid, r.Berth?.PidStartTicks),
    };
  }

  /**
   * `docker stats`: with `stream: true` an async iterable of one sample per
   * second, each with the previous reading as `precpu_stats`, ending when
   * the container stops or `signal` aborts; otherwise one sample (primed
   * over one interval unless `oneShot`).
   */
  stats(ref: string, opts: ContainerStatsOptions & { stream: true }): AsyncIterable<ContainerStats>;
  stats(ref: string, opts?: ContainerStatsOptions & { stream?: false }): Promise<ContainerStats>;
  stats(ref: string, opts: ContainerStatsOptions = {}): AsyncIterable<ContainerStats> | Promise<ContainerStats> {
    const interval = opts.intervalMs ?? 1000;
    if (opts.stream) {
      const self = this;
      return (async function* () {
        const { target, alive } = await self.#statsTarget(ref);
        yield* streamStats(target, { intervalMs: interval, signal: opts.signal, alive });
      })();
    }
    return (async () => {
      const { target } = await this.#statsTarget(ref);
      const first = await readStatsSample(target);
      if (opts.oneShot) return toDockerStats(target, first, undefined, { version: target.cgroup.version });
      await sleep(interval, undefined, { signal: opts.signal });
      return toDockerStats(target, await readStatsSample(target), first, { version: target.cgroup.version });
    })();
  }

  /**
   * `docker update`: checks `u` as dockerd does, writes the new limits to
   * the cgroup of a running container, then records them in `HostConfig`
   * (used by the next start); publishes `update`.
   */
  async update(ref: string, u: ContainerUpdate): Promise<{ Warnings: string[] }> {
    const r = await this.#d.store.get(ref);
    validateUpdate(r, u);
    const resources = updateResources(u);
    if (Object.keys(resources).length && r.State.Running && (await isSameProcessAlive(r.State.Pid, r.Berth?.PidStartTicks))) {
      const { c } = await this.#running(r.Id, 'cannot update');
      const state = await c.state();
      openCgroup(state.cgroupsPath ?? `/berth/${r.Id}`, this.#d.cgroupRoot ? { root: this.#d.cgroupRoot } : {}).apply(resources);
    }
    await this.#d.store.update(r.Id, (rec) => applyUpdateToHostConfig(rec.HostConfig, u));
    await this.#publish(r, 'update');
    return { Warnings: [] };
  }

  /** `docker diff`: what the container changed in its rootfs (running or not), sorted by path. */
  async changes(ref: string): Promise<ContainerChange[]> {
    const r = await this.#d.store.get(ref);
    const key = r.Berth?.SnapshotKey;
    if (!key) throw new InvalidArgumentError('container', r.Name.slice(1), 'has no rootfs snapshot');
    const images = await this.#images('container changes');
    const parent = await images.resolveImage(r.Image);
    const mounts = await images.snapshotter.mounts(key);
    const hide = mounts[0]?.type === 'overlay' ? [] : changesHidden;
    return rootfsChanges(mounts, async () => {
      const viewKey = `changes-view-${randomBytes(6).toString('hex')}`;
      const mounts = parent.chainIds.length ? await images.snapshotter.view(viewKey, parent.chainIds.at(-1)) : [];
      return { mounts, release: () => (parent.chainIds.length ? images.snapshotter.remove(viewKey).catch(() => undefined) : Promise.resolve()) };
    }, { hide });
  }

  /** `docker export`: the container's whole rootfs as a tar (a stopped one's snapshot stays mounted until the stream ends). */
  async export(ref: string, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    const r = await this.#d.store.get(ref);
    return new Promise<Readable>((resolve, reject) => {
      this.withRootfs(r, async (root) => {
        const s = tarRootfs(root, opts);
        resolve(s);
        await new Promise<void>((done) => { s.once('close', () => done()); s.once('end', () => done()); s.once('error', () => done()); });
      }).catch(reject);
    });
  }

  /** The stat `docker cp` asks for (`HEAD /containers/{id}/archive`); `ERR_ENGINE_PATH_NOT_FOUND` when missing. */
  async statPath(ref: string, p: string): Promise<ContainerPathStat> {
    const r = await this.#d.store.get(ref);
    if (!p.startsWith('/')) p = path.posix.join(r.Config.WorkingDir || '/', p);
    return this.withRootfs(r, async (root) => {
      try {
        return await statInRoot(root, p);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') {
          throw new ContainerPathNotFoundError(r.Name.slice(1), p, { cause: e });
        }
        throw e;
      }
    });
  }

  /** Bytes the container wrote to its rootfs (its snapshot's own layer); 0 when the snapshotter cannot tell. */
  async writableSize(r: ContainerRecord): Promise<number> {
    const key = r.Berth?.SnapshotKey;
    if (!key || !this.#d.images) return 0;
    const images = await this.#images('container size');
    return images.snapshotter.usage ? images.snapshotter.usage(key).then((u) => u.size, () => 0) : 0;
  }

    async #images(op: string): Promise<OperationsImageSource> {
    const i = this.#d.images;
    if (!i) throw new NotImplementedError(op, 'an image service with a store and snapshotter (openLocalImageService)');
    return typeof i === 'function' ? i() : i;
  }

  /**
   * Runs `fn` with the container's rootfs on the host: the live mount of a
   * running container, else its snapshot mounted for the call.
   */
  async withRootfs<T>(r: ContainerRecord, fn: (rootfs: string, live: boolean) => Promise<T>): Promise<T> {
    const live = this.rootfsOf(r.Id);
    if (r.State.Running && (await isSameProcessAlive(r.State.Pid, r.Berth?.PidStartTicks))) return fn(live, true);
    const images = await this.#images('accessing a stopped container\'s files');
    const key = r.Berth?.SnapshotKey;
    if (!key) throw new InvalidArgumentError('container', r.Name.slice(1), 'has no rootfs snapshot');
    const dir = path.join(this.#d.runRoot, 'mnt', `${r.Id}-${randomBytes(4).toString('hex')}`);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      mountAll(await images.snapshotter.mounts(key), dir);
      try {
        return await fn(dir, false);
      } finally {
        unmountAll(dir, 1, { detach: true });
      }
    } finally {
      await fs.rmdir(dir).catch(() => undefined);
    }
  }

  /** `docker cp CONTAINER:path -`: a tar stream of `p` (named by its base name). */
  async copyFrom(ref: string, p: string, opts: { followLink?: boolean; name?: string } = {}): Promise<Readable> {
    const r = await this.#d.store.get(ref);
    if (!p.startsWith('/')) p = path.posix.join(r.Config.WorkingDir || '/', p);
    // A stopped container's snapshot stays mounted until the stream ends.
    return new Promise<Readable>((resolve, reject) => {
      this.withRootfs(r, async (root) => {
        const host = await resolveInRoot(root, p, { followLast: opts.followLink === true });
        await fs.lstat(host);
        const name = opts.name ?? (path.posix.basename(path.posix.normalize(p)) || '.');
        const s = tarPath(host, name);
        resolve(s);
        await new Promise<void>((done) => { s.once('close', () => done()); s.once('end', () => done()); s.once('error', () => done()); });
      }).catch(reject);
    });
  }

  /**
   * `docker cp - CONTAINER:dir`: extracts a tar into directory `dir` of the
   * container's rootfs, safely (no entry lands outside `dir`).
   */
  async copyTo(ref: string, dir: string, tar: Readable | AsyncIterable<Uint8Array>): Promise<void> {
    const r = await this.#d.store.get(ref);
    if (!dir.startsWith('/')) dir = path.posix.join(r.Config.WorkingDir || '/', dir);
    await this.withRootfs(r, async (root) => {
      const host = await resolveInRoot(root, dir);
      const st = await fs.stat(host).catch(() => undefined);
      if (!st?.isDirectory()) throw new InvalidArgumentError('destination', dir, 'is not a directory in the container');
      await applyLayer(host, tar, { sync: false, allowDevices: false });
    });
  }

  /**
   * `docker cp CONTAINER:src dest`: copies `src` to the host path `dest`,
   * into it when it is a directory, else as `dest` itself.
   */
  async copyToHost(ref: string, src: string, dest: string, opts: { followLink?: boolean } = {}): Promise<void> {
    const tar = await this.copyFrom(ref, src, opts);
    const st = await fs.stat(dest).catch(() => undefined);
    if (st?.isDirectory()) {
      await applyLayer(dest, tar, { sync: false, allowDevices: false });
      return;
    }
    const name = path.posix.basename(path.posix.normalize(src.startsWith('/') ? src : `/${src}`)) || '.';
    const tmp = await fs.mkdtemp(path.join(path.dirname(path.resolve(dest)), '.berth-cp-'));
    try {
      await applyLayer(tmp, tar, { sync: false, allowDevices: false });
      await fs.rename(path.join(tmp, name), dest);
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  }

  /**
   * `docker cp src CONTAINER:dest`: copies the host path `src` into the
   * container, into `dest` when it is a directory there, else as `dest`.
   */
  async copyFromHost(ref: string, src: string, dest: string): Promise<void> {
    const r = await this.#d.store.get(ref);
    if (!dest.startsWith('/')) dest = path.posix.join(r.Config.WorkingDir || '/', dest);
    await fs.lstat(src);
    await this.withRootfs(r, async (root) => {
      const host = await resolveInRoot(root, dest);
      const st = await fs.stat(host).catch(() => undefined);
      const [dir, name] = st?.isDirectory()
        ? [host, path.basename(path.resolve(src))]
        : [await resolveInRoot(root, path.posix.dirname(dest)), path.posix.basename(dest)];
      const dst = await fs.stat(dir).catch(() => undefined);
      if (!dst?.isDirectory()) throw new InvalidArgumentError('destination', dest, 'its directory does not exist in the container');
      await applyLayer(dir, tarPath(src, name), { sync: false, allowDevices: false });
    });
  }

  /**
   * `docker commit`: the container's changes (its snapshot against the
   * image's top layer) become a new gzip layer on top of the image's; the
   * config is the container's (Env, Cmd, Entrypoint, WorkingDir, User,
   * ExposedPorts, Volumes, Labels) plus `changes`, with a history entry;
   * the layer is unpacked into a snapshot so containers can be made from
   * the new image at once. Returns the new image id.
   */
  async commit(ref: string, opts: CommitContainerOptions): Promise<{ id: string; name?: string }> {
    const images = await this.#images('container commit');
    const r = await this.#d.store.get(ref);
    const key = r.Berth?.SnapshotKey;
    if (!key) throw new InvalidArgumentError('container', r.Name.slice(1), 'has no rootfs snapshot');
    const name = opts.reference ? normalizeImageName(opts.reference) : undefined;
    if (!name && !images.nameImage) throw new NotImplementedError('commit without a name', 'an image service that records unnamed images (nameImage)');
    const parent = await images.resolveImage(r.Image);
    const running = r.State.Running && (await isSameProcessAlive(r.State.Pid, r.Berth?.PidStartTicks));
    const pause = running && opts.pause !== false && !r.State.Paused;
    if (pause) await this.pause(r.Id);
    let paused = pause;
    // The lease, the container's mounts, the layer's ingest and the new layer's snapshot (see 2.) do
    // not depend on each other: made at once, and undone if any of them fails.
    const tmp = `commit-${randomBytes(6).toString('hex')}`;
    const parentLayers = this.#parentLayers(images, parent.id, r.Image);
    parentLayers.catch(() => undefined);
    const made = await Promise.allSettled([
      images.store.leases.create({ expiresInMs: 3600_000, labels: { 'berth/commit': r.Id } }),
      images.snapshotter.mounts(key),
      // The writers are not leased: an ingest is safe from GC while its writer holds it, and the lease
      // takes the three blobs (below) before any is published, in one edit each (a leased writer edits
      // the lease when it opens, publishes and closes: three edits, each with two fsyncs, per blob).
      images.store.writer(`commit-${r.Id}-${randomBytes(4).toString('hex')}`),
      images.snapshotter.prepare(tmp, parent.chainIds.at(-1)),
    ] as const);
    const [leaseR, upperR, writerR, tmpR] = made;
    if (made.some((x) => x.status === 'rejected')) {
      if (leaseR.status === 'fulfilled') await images.store.leases.delete(leaseR.value.id).catch(() => undefined);
      if (writerR.status === 'fulfilled') await writerR.value.close().catch(() => undefined);
      if (tmpR.status === 'fulfilled') await images.snapshotter.remove(tmp).catch(() => undefined);
      if (paused) await this.unpause(r.Id).catch(() => undefined);
      throw made.find((x) => x.status === 'rejected')!.reason;
    }
    const value = <T>(x: PromiseSettledResult<T>): T => (x as PromiseFulfilledResult<T>).value;
    const lease = value(leaseR);
    const w = value(writerR);
    const upper = value(upperR);
    const mounts = value(tmpR);
    let tmpLive = true;
    let applyEnded: Promise<void> | undefined;
    let viewKey: string | undefined;
    try {
      // 1. The layer: diff of the container's snapshot (an overlay upper dir, or two trees for the copy backend).
      let lower: Mount[] = [];
      let id: string;
      let manifestDesc: Descriptor;
      try {
        if (upper[0]?.type !== 'overlay' && parent.chainIds.length) {
          viewKey = `commit-view-${randomBytes(6).toString('hex')}`;
          lower = await images.snapshotter.view(viewKey, parent.chainIds.at(-1));
        }
        // 2. In the same pass, the snapshot of the new layer, so the new image runs without a pull: the
        // uncompressed tar is teed into a new snapshot over the image's top layer while it is compressed
        // and stored (the blob is never read back, nothing is decompressed). Its name (the chainId) is
        // known only at the end; if that snapshot exists already, the new one is dropped.
        // The tree is walked on cow-fs's diff thread while this thread applies (file creation is most of the time).
        const tar = new PassThrough({ highWaterMark: 1 << 20 });
        const d = diffMounts(lower, upper, { compression: 'gzip', tee: tar, thread: true });
        const applying = applyLayerToMounts(mounts, yieldingPieces(tar), { sync: false });
        applyEnded = applying.then(() => undefined, () => undefined);
        let layer: DiffResult;
        try {
          await w.copyFrom(d as AsyncIterable<Uint8Array>);
          layer = await d.result;
        } catch (e) {
          // When the apply fails first, the diff fails only because its tee was closed: report the apply's error.
          const failed = await applying.then(() => undefined, (x: unknown) => x);
          if (failed !== undefined && (e as { details?: { teeClosed?: boolean } }).details?.teeClosed === true) throw failed;
          throw e;
        }
        // The container's files have all been read; the apply may still be running (it is the slower half).
        if (paused) { paused = false; await this.unpause(r.Id).catch(() => undefined); }

        // 3. Config and manifest (daemon/commit.go: the container's config becomes the image's).
        const created = new Date().toISOString();
        const cc = r.Config;
        const config: ImageConfig = {
          ...parent.config,
          created,
          ...(opts.author ? { author: opts.author } : {}),
          config: {
            ...(parent.config.config ?? {}),
            Env: cc.Env, Cmd: cc.Cmd ?? undefined, Entrypoint: cc.Entrypoint ?? undefined, WorkingDir: cc.WorkingDir, User: cc.User,
            ...(Object.keys(cc.ExposedPorts ?? {}).length ? { ExposedPorts: cc.ExposedPorts } : {}),
            ...(cc.Volumes ? { Volumes: cc.Volumes } : {}),
            ...(Object.keys(cc.Labels ?? {}).length ? { Labels: cc.Labels } : {}),
            ...(cc.StopSignal ? { StopSignal: cc.StopSignal } : {}),
            ...opts.changes,
          } as ImageConfig['config'],
          rootfs: { type: 'layers', diff_ids: [...parent.config.rootfs.diff_ids, layer.diffId] },
          history: [...(parent.config.history ?? []), {
            created, created_by: [r.Path, ...r.Args].join(' '), ...(opts.author ? { author: opts.author } : {}), ...(opts.message ? { comment: opts.message } : {}),
          }],
        };
        const configBytes = Buffer.from(JSON.stringify(config));
        const configDesc: Descriptor = { mediaType: OciMediaType.ImageConfig, digest: digestOf(configBytes), size: configBytes.length };
        const manifest = {
          schemaVersion: 2, mediaType: OciMediaType.ImageManifest, config: configDesc,
          layers: [...(await parentLayers), { mediaType: layer.mediaType, digest: layer.digest, size: layer.compressedSize }],
        };
        const manifestBytes = Buffer.from(JSON.stringify(manifest));
        manifestDesc = { mediaType: OciMediaType.ImageManifest, digest: digestOf(manifestBytes), size: manifestBytes.length };
        id = configDesc.digest;

        // 4. Everything becomes durable before the name points at it, the blobs while the apply is still
        // running: the lease takes the three blobs, then the layer blob (one fsync), config and manifest
        // (one fsync each) are published; the new snapshot is committed (the snapshotter's syncfs) once
        // the apply has ended with the layer's diffId.
        const top = chainIds([...parent.config.rootfs.diff_ids, layer.diffId]).at(-1)!;
        const labels = { [SnapshotLabel.ImageLayer]: 'true', [SnapshotLabel.LayerDigest]: layer.digest, [SnapshotLabel.LayerSize]: String(layer.size) };
        const storing = (async () => {
          for (const digest of [layer.digest, configDesc.digest, manifestDesc.digest]) await images.store.leases.addResource(lease.id, { type: 'content', digest });
          const stored = await Promise.allSettled([
            w.commit().catch((e: unknown) => {
              // The same layer is stored already (and held by the lease).
              if ((e as { code?: string }).code !== 'ERR_STORE_ALREADY_EXISTS') throw e;
            }),
            writeBlob(images.store, `commit-${configDesc.digest}`, configBytes, configDesc),
            writeBlob(images.store, `commit-${manifestDesc.digest}`, manifestBytes, manifestDesc),
          ]);
          for (const x of stored) if (x.status === 'rejected') throw x.reason;
        })();
        const snapshotting = (async () => {
          const applied = await applying;
          if (applied.diffId !== layer.diffId) throw new DiffError(`the new snapshot got diffId ${applied.diffId}, the stored layer ${layer.diffId}`);
          await images.snapshotter.commit(top, tmp, { labels }).then(() => { tmpLive = false; }, (e: unknown) => {
            // The same layer was committed before: keep that snapshot, drop ours (below).
            if ((e as { code?: string }).code !== 'ERR_SNAPSHOT_ALREADY_EXISTS') throw e;
          });
        })();
        const settled = await Promise.allSettled([storing, snapshotting]);
        for (const x of settled) if (x.status === 'rejected') throw x.reason;
      } finally {
        // Never remove the snapshot under a running apply.
        await applyEnded;
        if (tmpLive) await images.snapshotter.remove(tmp).catch(() => undefined);
        await w.close();
        if (viewKey) await images.snapshotter.remove(viewKey).catch(() => undefined);
      }

      if (images.nameImage) {
        // The image the name pointed at before becomes dangling (docker's <none>:<none>), not garbage; no name: this one.
        await images.nameImage(name, manifestDesc, id);
      } else if (name) {
        await images.store.images.tag(name, manifestDesc);
        // Through the image service too, so its metadata (tag time, dangling) and events see the new name.
        await images.tag(name, name);
      }
      await this.#publish(r, 'commit', { comment: opts.message ?? '', imageID: id });
      return { id, ...(name ? { name } : {}) };
    } finally {
      if (paused) await this.unpause(r.Id).catch(() => undefined);
      await images.store.leases.delete(lease.id).catch(() => undefined);
    }
  }

  /** The layer descriptors of the image the container was made from. */
  async #parentLayers(images: OperationsImageSource, id: string, ref: string): Promise<Descriptor[]> {
    const resolved = await images.resolveImage(ref) as { manifest?: Descriptor };
    if (!resolved.manifest) throw new InvalidArgumentError('image', id, 'has no manifest');
    return (JSON.parse((await readBlob(images.store, resolved.manifest)).toString('utf8')) as { layers: Descriptor[] }).layers;
  }
}
