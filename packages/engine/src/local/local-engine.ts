/**
 * The daemonless local engine: the {@link Engine} facade over a state
 * directory shared by every berth process that opens it (like podman).
 */
import fs from 'node:fs/promises';
import { existsSync, linkSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ContainerRecord, ContainerStore, ListContainersOptions, RunLock, VolumeReferences } from '../container.js';
import type {
  ConsoleSize, ContainerAttachment, ContainerAttachOptions, ContainerExit, ContainerHandle, ContainerImageSource, ContainerRuntime, ContainerService, ContainerSummary, CreateContainerOptions,
  Engine, EngineInfo, EngineOptions, ImageService, NetworkService, NetworkSetup, RemoveContainerOptions, StartContainerOptions,
} from '../engine.js';
import {
  AlreadyConnectedError, ClosedError, ContainerNotFoundError, ContainerNotRunningError, InvalidArgumentError, NetworkInUseError, NetworkNotFoundError,
  NotConnectedError, NotImplementedError,
} from '../errors.js';
import type { EngineEvent, EventBus, EventInput } from '../event.js';
import type { LogEntry, ReadLogsOptions } from '../log.js';
import type { AttachOptions, CreateNetworkOptions, Endpoint, NetworkInspect, NetworkManager, PortMapping } from '../network.js';
import { buildHosts, resolvConfFor, writeInPlace } from '../cni/hosts.js';
import { allocateHostPort } from '../ports/parse-publish.js';
import { releasePorts, reservePorts } from '../ports/port-reservations.js';
import { withFlock } from '../internal/flock.js';
import { KeyedMutex } from '../internal/mutex.js';
import { isoToNs, pruneFilter } from '../internal/prune-filters.js';
import { createContainer as namespacesCreateContainer, runContainer as namespacesRunContainer } from '@berth/namespaces';
import { ContainerLifecycle } from './container-lifecycle.js';
import {
  ContainerOperations, type CommitContainerOptions, type ContainerStats, type ContainerTop, type ExecContainerOptions, type OperationsImageSource,
} from '../runtime/container-operations.js';
import type { ContainerProcess } from '@berth/namespaces';
import type { ContainerStatsOptions } from '../runtime/container-operations.js';
import type { ContainerUpdate } from '../runtime/container-update.js';
import type { ContainerChange, ContainerPathStat } from '../runtime/container-changes.js';
import type { Readable } from 'node:stream';
import type { VolumeStore } from '../volume.js';
import { openFileContainerStore } from '../file/container-store.js';
import { openLocalVolumeStore } from './volume-store.js';
import { LazyCniNetworkManager } from './lazy-network-manager.js';
import { openJournalEventBus } from '../journal/journal-event-bus.js';
import { readJsonFileLog } from '../json-file/json-file-log.js';
import { containerStatusText } from '../internal/human.js';
import { atomicWrite, removeFileSync } from '../internal/atomic.js';
import { newId } from '../internal/ids.js';
import { isSameProcessAlive } from '../internal/proc.js';

/** berth's version, reported by `/version` and `berth version`. */
export const engineVersion = '0.1.0';

const runtimeNeeds = '@berth/namespaces (container runtime), @berth/image-store and @berth/cow-fs (rootfs)';
const imageNeeds = '@berth/image-store, @berth/registry-client and @berth/cow-fs';

/**
 * Opens the engine at `root`. Subsystems not injected are created with their
 * defaults (file container store, local volumes, CNI networks initialized
 * on first use, journal events); their changes are published as Docker
 * events. Unless
 * `reconcile: false`, recorded container state is checked against reality.
 */
export async function openEngine(opts: EngineOptions): Promise<LocalEngine> {
  const root = path.resolve(opts.root);
  const runRoot = path.resolve(opts.runRoot ?? path.join(root, 'run'));
  // Opening is a handful of mkdirs of local directories: synchronous (microseconds each), not a trip through the
  // libuv pool apiece, which costs an event-loop wake-up that a busy machine makes long. The same for the stores below.
  mkdirSync(root, { recursive: true, mode: 0o711 });
  mkdirSync(runRoot, { recursive: true, mode: 0o700 });
  const events = opts.eventBus ?? await openJournalEventBus({ root });
  const publish = (e: EventInput) => { events.publish(e).catch(() => undefined); };
  const volumes = opts.volumeStore ?? await openLocalVolumeStore({
    root,
    listener: (action, v, container) => publish({
      Type: 'volume', Action: action,
      Actor: { ID: v.Name, Attributes: { driver: v.Driver, ...(container ? { container } : {}) } },
    }),
  });
  const references = 'holders' in volumes ? volumes as unknown as VolumeReferences : undefined;
  const store = opts.containerStore ?? await openFileContainerStore({ root, volumeReferences: references });
  // Initialized on first use: a --network none or host container never needs the network records.
  const networks = opts.networkManager ?? new LazyCniNetworkManager({
    root, runRoot, pluginDirs: opts.cniPluginDirs, defaultBridge: opts.defaultBridge, defaultSubnet: opts.defaultSubnet, pool: opts.subnetPool,
    listener: (action, n, container) => publish({
      Type: 'network', Action: action,
      Actor: { ID: n.Id, Attributes: { name: n.Name, type: n.Driver, ...(container ? { container } : {}) } },
    }),
  });
  const images = opts.imageService ?? unwiredImages;
  const runtime: ContainerRuntime = opts.runtime ?? {
    // @berth/namespaces' createContainer and runContainer fit the runtime role structurally.
    create: (id, spec, o) => namespacesCreateContainer(id, spec, o),
    run: (id, spec, o) => namespacesRunContainer(id, spec, o),
  };
  const engine = new LocalEngine(root, runRoot, store, volumes, networks, events, images, runtime);
  if (opts.reconcile !== false) {
    for (const id of await store.reconcile()) {
      const r = await store.get(id);
      publish({ Type: 'container', Action: 'die', Actor: { ID: id, Attributes: { name: r.Name.slice(1), image: r.Config.Image, exitCode: String(r.State.ExitCode) } } });
    }
  }
  return engine;
}

/** The {@link Engine} implementation of {@link openEngine}. */
export class LocalEngine implements Engine {
  readonly root: string;
  readonly runRoot: string;
  readonly containers: LocalContainerService;
  readonly images: ImageService;
  readonly networks: LocalNetworkService;
  readonly volumes: VolumeStore;
  readonly events: EventBus;
  #closed = false;

  constructor(root: string, runRoot: string, store: ContainerStore, volumes: VolumeStore, networks: NetworkManager, events: EventBus,
    images: ImageService, runtime?: ContainerRuntime) {
    this.root = root;
    this.runRoot = runRoot;
    this.volumes = volumes;
    this.events = events;
    this.networks = new LocalNetworkService(networks, store, root);
    this.images = images;
    // Containers can be made from images only when the image service can resolve them and owns their snapshots.
    const source = 'resolveImage' in images && 'snapshotter' in images ? images as unknown as ContainerImageSource : undefined;
    // commit and cp need the image store too: the service itself, or a lazy one's `service()` (the CLI's).
    const lazy = images as unknown as { service?: () => Promise<OperationsImageSource> };
    const opsImages = source && 'store' in images ? images as unknown as OperationsImageSource
      : typeof lazy.service === 'function' ? () => lazy.service!() : undefined;
    this.containers = new LocalContainerService(store, volumes, networks, events, (remove) => new ContainerLifecycle({
      store, volumes, networks: this.networks, events, runRoot, images: source, runtime, remove,
    }), new ContainerOperations({ store, events, runRoot, images: opsImages }));
  }

  async info(): Promise<EngineInfo> {
    if (this.#closed) throw new ClosedError('engine');
    const all = await this.containers.store.list({ all: true });
    const idFile = path.join(this.root, 'engine-id');
    let id = (await fs.readFile(idFile, 'utf8').catch(() => '')).trim();
    if (!id) {
      // Made once: a whole temp file linked to the name (link(2) fails when it exists), so processes asking a fresh
      // root at once all end with the id that stays, not each with its own (the last rename winning).
      const fresh = newId().slice(0, 36);
      const tmp = `${idFile}.${fresh}.tmp`;
      await atomicWrite(tmp, fresh);
      try {
        linkSync(tmp, idFile);
        id = fresh;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        id = readFileSync(idFile, 'utf8').trim();
      } finally {
        removeFileSync(tmp);
      }
    }
    const osRelease = await fs.readFile('/etc/os-release', 'utf8').catch(() => '');
    return {
      ID: id,
      Containers: all.length,
      ContainersRunning: all.filter((r) => r.State.Running && !r.State.Paused).length,
      ContainersPaused: all.filter((r) => r.State.Paused).length,
      ContainersStopped: all.filter((r) => !r.State.Running).length,
      // Without an image service (ERR_ENGINE_NOT_IMPLEMENTED) there are no images to count.
      Images: await this.images.list().then((l) => l.length, () => 0),
      Driver: 'overlay',
      DockerRootDir: this.root,
      OperatingSystem: /^PRETTY_NAME="?([^"\n]*)/m.exec(osRelease)?.[1] ?? os.type(),
      OSType: 'linux',
      Architecture: os.machine(),
      KernelVersion: os.release(),
      NCPU: os.cpus().length,
      MemTotal: os.totalmem(),
      Name: os.hostname(),
      ServerVersion: engineVersion,
      LoggingDriver: 'json-file',
      CgroupDriver: 'cgroupfs',
      Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null'], Log: ['json-file'] },
      Warnings: [],
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.events.close();
  }
}

function notWired(operation: string, needs = runtimeNeeds): Promise<never> {
  return Promise.reject(new NotImplementedError(operation, needs));
}

/** The image service until the image packages are composed in: every call rejects with `ERR_ENGINE_NOT_IMPLEMENTED`. */
export const unwiredImages: ImageService = {
  pull: () => notWired('image pull', imageNeeds),
  push: () => notWired('image push', imageNeeds),
  list: () => notWired('image list', imageNeeds),
  inspect: () => notWired('image inspect', imageNeeds),
  history: () => notWired('image history', imageNeeds),
  tag: () => notWired('image tag', imageNeeds),
  remove: () => notWired('image remove', imageNeeds),
  prune: () => notWired('image prune', imageNeeds),
  save: () => notWired('image save', imageNeeds),
  load: () => notWired('image load', imageNeeds),
  import: () => notWired('image import', imageNeeds),
};

/** Formats a record as a `docker ps` row. */
export function toSummary(r: ContainerRecord, now = Date.now()): ContainerSummary {
  const ports: ContainerSummary['Ports'] = [];
  for (const [key, binds] of Object.entries(r.HostConfig.PortBindings ?? {})) {
    const [port, type] = key.split('/');
    for (const b of binds ?? []) ports.push({ IP: b.HostIp || '0.0.0.0', PrivatePort: Number(port), PublicPort: Number(b.HostPort), Type: type ?? 'tcp' });
  }
  for (const key of Object.keys(r.Config.ExposedPorts ?? {})) {
    const [port, type] = key.split('/');
    if (!ports.some((p) => p.PrivatePort === Number(port) && p.Type === type)) ports.push({ PrivatePort: Number(port), Type: type ?? 'tcp' });
  }
  return {
    Id: r.Id,
    Names: [r.Name],
    Image: r.Config.Image,
    ImageID: r.Image,
    Command: [r.Path, ...r.Args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' '),
    Created: Math.floor(Date.parse(r.Created) / 1000),
    Ports: ports,
    Labels: r.Config.Labels,
    State: r.State.Status,
    Status: containerStatusText(r, now),
    HostConfig: { NetworkMode: r.HostConfig.NetworkMode },
    NetworkSettings: { Networks: r.NetworkSettings.Networks },
    Mounts: r.Mounts,
  };
}

/** Strips berth's bookkeeping from a record, leaving Docker's inspect shape. */
export function toInspect(r: ContainerRecord): ContainerRecord {
  const { Berth: _, ...rest } = r;
  return rest;
}

/** The {@link ContainerService} of the local engine. */
export class LocalContainerService implements ContainerService {
  readonly store: ContainerStore;
  readonly #volumes: VolumeStore;
  readonly #networks: NetworkManager;
  readonly #events: EventBus;
  readonly #life: ContainerLifecycle;

  readonly #ops: ContainerOperations;

  constructor(store: ContainerStore, volumes: VolumeStore, networks: NetworkManager, events: EventBus,
    lifecycle: (remove: (id: string) => Promise<void>) => ContainerLifecycle, operations?: ContainerOperations) {
    this.store = store;
    this.#volumes = volumes;
    this.#networks = networks;
    this.#events = events;
    this.#life = lifecycle((id) => this.remove(id, { volumes: true }));
    this.#ops = operations ?? new ContainerOperations({ store, events, runRoot: os.tmpdir() });
  }

  async list(opts: ListContainersOptions = {}): Promise<ContainerSummary[]> {
    const now = Date.now();
    return (await this.store.list(opts)).map((r) => toSummary(r, now));
  }

  async inspect(ref: string): Promise<ContainerRecord> {
    return toInspect(await this.store.get(ref));
  }

  async *logs(ref: string, opts: ReadLogsOptions = {}): AsyncGenerator<LogEntry> {
    const r = await this.store.get(ref);
    const isDone = async () => {
      try {
        const cur = await this.store.get(r.Id);
        return !(cur.State.Running && (await isSameProcessAlive(cur.State.Pid, cur.Berth?.PidStartTicks)));
      } catch (e) {
        if (e instanceof ContainerNotFoundError) return true;
        throw e;
      }
    };
    yield* readJsonFileLog(r.LogPath, { ...opts, isDone: opts.isDone ?? isDone });
  }

  async rename(ref: string, newName: string): Promise<void> {
    const before = await this.store.get(ref);
    const r = await this.store.rename(ref, newName);
    await this.#publish('rename', r, { oldName: before.Name });
  }

  async remove(ref: string, opts: RemoveContainerOptions = {}): Promise<void> {
    // The run lock is held while removing: no process starts the container meanwhile, and one that is starting it
    // or recording its exit is waited for.
    const held = await this.#life.lockStopped(ref, async (r) => {
      // Docker refuses without force; with force it kills first.
      if (!opts.force) throw new InvalidArgumentError('container', r.Name.slice(1), 'is running: stop it first or use force');
      await this.#life.kill(r.Id, 'SIGKILL').catch(() => undefined);
      // A frozen process takes the SIGKILL only once thawed (Docker unpauses too).
      if (r.State.Paused) await this.#ops.unpause(r.Id).catch(() => undefined);
      await this.#life.wait(r.Id);
      return !r.HostConfig.AutoRemove; // else the exit task removed it
    });
    if (!held) return;
    try {
      await this.#removeLocked(held.record, opts);
    } finally {
      held.lock.release();
    }
  }

  /** Removes the stopped container `r`, holding its run lock. */
  async #removeLocked(r: ContainerRecord, opts: RemoveContainerOptions): Promise<void> {
    // Endpoints and a namespace file are a bridge container's; other modes have none, unless an older berth bound one.
    const mode = r.HostConfig.NetworkMode || 'bridge';
    if ((mode !== 'none' && mode !== 'host' && !mode.startsWith('container:')) || existsSync(this.#networks.sandboxPath(r.Id))) {
      await this.#networks.removeSandbox(r.Id);
    }
    // A supervisor killed before its exit task ran left the runtime's state, cgroup and rootfs mount: clean them up.
    await this.#life.cleanupAfterDeadSupervisor(r);
    // The record and the snapshot go together; a failure to remove the record leaves a container that rm can retry.
    const [removed] = await Promise.allSettled([this.store.remove(r.Id), this.#life.removeSnapshot(r)]);
    if (removed.status === 'rejected') throw removed.reason;
    if (opts.volumes) {
      for (const v of r.Berth?.AnonymousVolumes ?? []) await this.#volumes.remove(v, { force: true }).catch(() => undefined);
    }
    await this.#publish('destroy', r);
  }

  async prune(opts: { filters?: Record<string, string[]> } = {}): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
    const matches = pruneFilter(opts.filters);
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const r of await this.store.list({ all: true })) {
      if (r.State.Running || r.State.Paused || r.State.Restarting) continue;
      if (!matches({ createdNs: isoToNs(r.Created), labels: r.Config.Labels })) continue;
      const size = await this.#ops.writableSize(r);
      try {
        await this.remove(r.Id);
      } catch (e) {
        // Started, or removed, by another process since the list: not this prune's to remove.
        if (e instanceof InvalidArgumentError || e instanceof ContainerNotFoundError) continue;
        throw e;
      }
      deleted.push(r.Id);
      reclaimed += size;
    }
    return { ContainersDeleted: deleted, SpaceReclaimed: reclaimed };
  }

  async #publish(action: string, r: ContainerRecord, extra: Record<string, string> = {}): Promise<EngineEvent> {
    return this.#events.publish({
      Type: 'container', Action: action,
      Actor: { ID: r.Id, Attributes: { ...r.Config.Labels, image: r.Config.Image, name: r.Name.slice(1), ...extra } },
    });
  }

  create(opts: CreateContainerOptions): Promise<ContainerRecord> { return this.#life.create(opts); }
  start(ref: string, opts?: StartContainerOptions): Promise<ContainerHandle> { return this.#life.start(ref, opts); }
  stop(ref: string, opts?: { timeout?: number; signal?: string }): Promise<void> { return this.#life.stop(ref, opts); }
  kill(ref: string, signal?: string): Promise<void> { return this.#life.kill(ref, signal); }
  async restart(ref: string, opts?: { timeout?: number; signal?: string }): Promise<ContainerHandle> {
    await this.#life.stop(ref, opts);
    return this.#life.start(ref);
  }
  pause(ref: string): Promise<void> { return this.#ops.pause(ref); }
  unpause(ref: string): Promise<void> { return this.#ops.unpause(ref); }
  wait(ref: string): Promise<ContainerExit> { return this.#life.wait(ref); }
  exec(ref: string, cmd: string[], opts?: ExecContainerOptions): Promise<ContainerProcess> { return this.#ops.exec(ref, cmd, opts); }
  attach(ref: string, opts?: ContainerAttachOptions): Promise<ContainerAttachment> { return this.#life.attach(ref, opts); }
  resize(ref: string, size: ConsoleSize): Promise<void> { return this.#life.resize(ref, size); }
  top(ref: string): Promise<ContainerTop> { return this.#ops.top(ref); }
  stats(ref: string, opts: ContainerStatsOptions & { stream: true }): AsyncIterable<ContainerStats>;
  stats(ref: string, opts?: ContainerStatsOptions & { stream?: false }): Promise<ContainerStats>;
  stats(ref: string, opts: ContainerStatsOptions = {}): AsyncIterable<ContainerStats> | Promise<ContainerStats> {
    return opts.stream ? this.#ops.stats(ref, { ...opts, stream: true }) : this.#ops.stats(ref, { ...opts, stream: false });
  }
  update(ref: string, u: ContainerUpdate): Promise<{ Warnings: string[] }> { return this.#ops.update(ref, u); }
  changes(ref: string): Promise<ContainerChange[]> { return this.#ops.changes(ref); }
  export(ref: string, opts?: { signal?: AbortSignal }): Promise<Readable> { return this.#ops.export(ref, opts); }
  statPath(ref: string, p: string): Promise<ContainerPathStat> { return this.#ops.statPath(ref, p); }
  commit(ref: string, opts: CommitContainerOptions): Promise<{ id: string; name?: string }> { return this.#ops.commit(ref, opts); }
  copyFrom(ref: string, p: string, opts?: { followLink?: boolean; name?: string }): Promise<Readable> { return this.#ops.copyFrom(ref, p, opts); }
  copyTo(ref: string, dir: string, tar: Readable | AsyncIterable<Uint8Array>): Promise<void> { return this.#ops.copyTo(ref, dir, tar); }

  /** The runtime operations (pause, exec, top, stats, commit, cp) this service delegates to. */
  get operations(): ContainerOperations { return this.#ops; }
}

/** The {@link NetworkService} of the local engine: a NetworkManager plus container-level connect. */
export class LocalNetworkService implements NetworkService {
  readonly #m: NetworkManager;
  readonly #store: ContainerStore;
  readonly #portsDir: string;

  readonly #usersLock: string;
  readonly #usersMutex = new KeyedMutex();

  /**
   * `root` holds the host port reservations (`<root>/ports`, see
   * ports/port-reservations.ts) and the network users' lock
   * (`<root>/network-users.lock`, see {@link usingNetwork}).
   */
  constructor(manager: NetworkManager, store: ContainerStore, root: string) {
    this.#m = manager;
    this.#store = store;
    this.#portsDir = path.join(root, 'ports');
    this.#usersLock = path.join(root, 'network-users.lock');
  }

  async usingNetwork<T>(network: string, fn: () => Promise<T>): Promise<T> {
    return this.#usersMutex.run('users', () => withFlock(this.#usersLock, 'file', async () => {
      await this.#m.inspect(network); // still there, under the lock
      return fn();
    }));
  }

  /**
   * Whether container `holder` still holds its published ports: its run lock
   * is held (it is being started, runs under its supervisor, or its exit is
   * being undone), or it runs with no supervisor left.
   */
  async #holdsPorts(holder: string): Promise<boolean> {
    let rec: ContainerRecord;
    let lock: RunLock | undefined;
    try {
      rec = await this.#store.get(holder);
      lock = this.#store.lockRun(holder);
    } catch {
      return false; // removed
    }
    if (!lock) return true;
    lock.release();
    return rec.State.Running && (await isSameProcessAlive(rec.State.Pid, rec.Berth?.PidStartTicks));
  }

  create(opts: CreateNetworkOptions): Promise<NetworkInspect> { return this.#m.create(opts); }
  inspect(ref: string): Promise<NetworkInspect> { return this.#m.inspect(ref); }
  list(opts?: { filters?: Record<string, string[]> }): Promise<NetworkInspect[]> { return this.#m.list(opts); }
  prune(opts?: { filters?: Record<string, string[]> }): Promise<{ NetworksDeleted: string[] }> { return this.#m.prune(opts); }
  createSandbox(containerId: string): Promise<string> { return this.#m.createSandbox(containerId); }
  sandboxPath(containerId: string): string { return this.#m.sandboxPath(containerId); }
  removeSandbox(containerId: string): Promise<void> { return this.#m.removeSandbox(containerId); }
  attach(network: string, opts: AttachOptions): Promise<Endpoint> { return this.#m.attach(network, opts); }
  detach(network: string, containerId: string): Promise<void> { return this.#m.detach(network, containerId); }
  check(network: string, containerId: string): Promise<void> { return this.#m.check(network, containerId); }
  endpoints(containerId: string): Promise<Endpoint[]> { return this.#m.endpoints(containerId); }

  async remove(ref: string): Promise<void> {
    // Stopped containers that only name the network in their settings also keep it (Docker: "has active endpoints").
    const n = await this.#m.inspect(ref);
    await this.usingNetwork(n.Id, async () => {
      const users = (await this.#store.list({ all: true })).filter((r) => n.Name in r.NetworkSettings.Networks).map((r) => r.Id);
      if (users.length) throw new NetworkInUseError(n.Name, users);
      await this.#m.remove(n.Id);
    });
  }

  async connect(network: string, container: string, opts: { aliases?: string[]; ipv4Address?: string } = {}): Promise<Endpoint | undefined> {
    const n = await this.#m.inspect(network);
    if (n.Driver !== 'bridge') throw new InvalidArgumentError('network', n.Name, 'host and none are modes chosen at create time');
    const r = await this.#store.get(container);
    // As Docker: a container in none, host or container:<id> mode has no network of its own to add an endpoint to.
    const mode = r.HostConfig.NetworkMode || 'bridge';
    if (mode === 'none' || mode === 'host' || mode.startsWith('container:')) {
      throw new InvalidArgumentError('container', r.Name.slice(1), `its network mode is ${mode}: it cannot be connected to a network`);
    }
    if (n.Name in r.NetworkSettings.Networks) throw new AlreadyConnectedError(n.Name, r.Name.slice(1));
    // Recorded holding the network users' lock: a remove in another process sees this container or goes first.
    return this.usingNetwork(n.Id, () => this.#connect(n, r, opts));
  }

  async #connect(n: NetworkInspect, r: ContainerRecord, opts: { aliases?: string[]; ipv4Address?: string }): Promise<Endpoint | undefined> {
    const sandbox = this.#m.sandboxPath(r.Id);
    const live = r.State.Running && (await isSameProcessAlive(r.State.Pid, r.Berth?.PidStartTicks))
      && (await fs.access(sandbox).then(() => true, () => false));
    let ep: Endpoint | undefined;
    if (live) {
      ep = await this.#m.attach(n.Id, {
        containerId: r.Id, containerName: r.Name.slice(1), netnsPath: sandbox, aliases: opts.aliases,
        ipv4Address: opts.ipv4Address, hostsPath: r.HostsPath, hostname: r.Config.Hostname,
      });
    }
    await this.#store.update(r.Id, (rec) => {
      rec.NetworkSettings.Networks[n.Name] = {
        IPAMConfig: opts.ipv4Address ? { IPv4Address: opts.ipv4Address } : null, Links: null, Aliases: opts.aliases ?? null,
        MacAddress: ep?.macAddress ?? '', NetworkID: n.Id, EndpointID: ep?.endpointId ?? '', Gateway: ep?.gateway ?? '',
        IPAddress: ep?.ipAddress ?? '', IPPrefixLen: ep?.prefixLen ?? 0, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0,
        DNSNames: [rec.Name.slice(1), rec.Id.slice(0, 12), ...(opts.aliases ?? [])],
      };
    });
    return ep;
  }

  async disconnect(network: string, container: string, opts: { force?: boolean } = {}): Promise<void> {
    let n: NetworkInspect | undefined;
    try {
      n = await this.#m.inspect(network);
    } catch (e) {
      if (!(opts.force && e instanceof NetworkNotFoundError)) throw e;
    }
    const r = await this.#store.get(container);
    const name = n?.Name ?? network;
    if (!(name in r.NetworkSettings.Networks)) throw new NotConnectedError(name, r.Name.slice(1));
    if (n && (await this.#m.endpoints(r.Id)).some((e) => e.networkId === n!.Id)) await this.#m.detach(n.Id, r.Id);
    await this.#store.update(r.Id, (rec) => { delete rec.NetworkSettings.Networks[name]; });
  }

  async setUp(container: string, known?: ContainerRecord): Promise<NetworkSetup> {
    const r = known ?? await this.#store.get(container);
    const mode = r.HostConfig.NetworkMode || 'bridge';
    const hostname = r.Config.Hostname || r.Id.slice(0, 12);
    if (mode === 'none') {
      // The runtime makes the namespace when it creates the container (lo up in it, no helper process): only the files
      // here, written in place (they are bound into the container) and synchronously (three small writes).
      const resolv = await resolvConfFor('none');
      writeFileSync(r.HostnamePath, `${hostname}\n`, { mode: 0o644 });
      writeFileSync(r.ResolvConfPath, resolv, { mode: 0o644 });
      writeFileSync(r.HostsPath, buildHosts(undefined, []), { mode: 0o644 });
      return { mode: 'none', endpoints: [] };
    }
    await writeInPlace(r.HostnamePath, `${hostname}\n`);
    if (mode === 'host') {
      await writeInPlace(r.ResolvConfPath, await resolvConfFor('host'));
      await writeInPlace(r.HostsPath, await fs.readFile('/etc/hosts', 'utf8').catch(() => buildHosts(undefined, [])));
      await this.#store.update(r.Id, (rec) => { rec.NetworkSettings.SandboxKey = ''; }, runState);
      return { mode: 'host', endpoints: [] };
    }
    if (mode.startsWith('container:')) {
      const other = await this.#store.get(mode.slice('container:'.length));
      const alive = other.State.Running && (await isSameProcessAlive(other.State.Pid, other.Berth?.PidStartTicks));
      // A bridge container's namespace is bound at its sandbox path; a none-mode one's was made by the runtime: its init's.
      const sandbox = this.#m.sandboxPath(other.Id);
      const ns = alive && !existsSync(sandbox) ? `/proc/${other.State.Pid}/ns/net` : sandbox;
      const live = alive && existsSync(ns);
      if (!live) throw new ContainerNotRunningError(other.Name.slice(1), `its network namespace is needed by ${r.Name.slice(1)}`);
      // Share the other container's files too, as Docker does (one namespace, one view of names).
      await this.#store.update(r.Id, (rec) => {
        rec.NetworkSettings.SandboxKey = ns;
        rec.ResolvConfPath = other.ResolvConfPath;
        rec.HostsPath = other.HostsPath;
      }, runState);
      return { mode: 'container', netnsPath: ns, endpoints: await this.#m.endpoints(other.Id) };
    }
    const ns = await this.#m.createSandbox(r.Id);
    try {
      await writeInPlace(r.ResolvConfPath, await resolvConfFor('bridge'));
      await writeInPlace(r.HostsPath, buildHosts(undefined, []));
      const names = Object.keys(r.NetworkSettings.Networks);
      if (!names.includes(mode)) names.unshift(mode);
      const mappings = await reservePorts({
        dir: this.#portsDir, id: r.Id, wanted: portMappingsOf(r), allocate: allocateHostPort, holds: (h) => this.#holdsPorts(h),
      });
      const endpoints: Endpoint[] = [];
      for (const [i, name] of names.entries()) {
        const want = r.NetworkSettings.Networks[name];
        endpoints.push(await this.#m.attach(name, {
          containerId: r.Id, containerName: r.Name.slice(1), netnsPath: ns, aliases: want?.Aliases ?? [],
          ipv4Address: want?.IPAMConfig?.IPv4Address, portMappings: i === 0 ? mappings : [],
          hostsPath: r.HostsPath, hostname,
        }));
      }
      await this.#store.update(r.Id, (rec) => {
        rec.NetworkSettings.SandboxKey = ns;
        rec.NetworkSettings.SandboxID = r.Id;
        rec.NetworkSettings.Ports = {};
        for (const m of mappings) {
          (rec.NetworkSettings.Ports[`${m.containerPort}/${m.protocol}`] ??= [])!.push({ HostIp: m.hostIP ?? '0.0.0.0', HostPort: String(m.hostPort) });
        }
        for (const ep of endpoints) {
          const prev = rec.NetworkSettings.Networks[ep.networkName];
          rec.NetworkSettings.Networks[ep.networkName] = {
            IPAMConfig: prev?.IPAMConfig ?? null, Links: null, Aliases: prev?.Aliases ?? null, MacAddress: ep.macAddress,
            NetworkID: ep.networkId, EndpointID: ep.endpointId, Gateway: ep.gateway, IPAddress: ep.ipAddress, IPPrefixLen: ep.prefixLen,
            IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0,
            DNSNames: ep.networkName === 'bridge' ? null : [rec.Name.slice(1), rec.Id.slice(0, 12), ...(prev?.Aliases ?? [])],
          };
        }
      }, runState);
      return { mode: 'bridge', netnsPath: ns, endpoints };
    } catch (e) {
      await this.#m.removeSandbox(r.Id).catch(() => undefined);
      await releasePorts(this.#portsDir, r.Id).catch(() => undefined);
      throw e;
    }
  }

  async tearDown(container: string, known?: ContainerRecord): Promise<void> {
    const r = known ?? await this.#store.get(container);
    if ((r.HostConfig.NetworkMode || '').startsWith('container:') || r.HostConfig.NetworkMode === 'host') return;
    // none: the runtime's namespace went with the container; only a sandbox bound by an older berth is left to remove.
    if (r.HostConfig.NetworkMode === 'none' && !existsSync(this.#m.sandboxPath(r.Id))) return;
    await this.#m.removeSandbox(r.Id);
    await releasePorts(this.#portsDir, r.Id);
    await this.#store.update(r.Id, (rec) => {
      rec.NetworkSettings.SandboxKey = '';
      rec.NetworkSettings.Ports = {};
      for (const n of Object.values(rec.NetworkSettings.Networks)) {
        Object.assign(n, { EndpointID: '', IPAddress: '', IPPrefixLen: 0, Gateway: '', MacAddress: '' });
      }
    }, runState);
  }
}

/** Record writes of network run state (sandbox, addresses): atomic, not fsynced (see internal/atomic.ts). */
const runState = { sync: false } as const;


/** `HostConfig.PortBindings` as CNI port mappings; an empty host port is 0 (a free one is reserved). */
function portMappingsOf(r: ContainerRecord): PortMapping[] {
  const out: PortMapping[] = [];
  for (const [key, binds] of Object.entries(r.HostConfig.PortBindings ?? {})) {
    const [port, proto = 'tcp'] = key.split('/');
    for (const b of binds ?? []) {
      const protocol = proto as PortMapping['protocol'];
      const hostPort = b.HostPort ? Number(b.HostPort) : 0;
      out.push({ containerPort: Number(port), hostPort, protocol, ...(b.HostIp && b.HostIp !== '0.0.0.0' ? { hostIP: b.HostIp } : {}) });
    }
  }
  return out;
}
