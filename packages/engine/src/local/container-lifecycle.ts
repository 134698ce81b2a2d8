/**
 * Container create/start/stop/kill/wait: the one place where image store,
 * snapshotter, volumes, networks, runtime spec and runtime meet (containerd's
 * `client/` composition, in Docker's semantics).
 *
 * start, in order: mount the container's snapshot at `<runRoot>/bundles/<id>/rootfs`
 * (cow-fs `mountAll`), set up the network (namespace, CNI, hosts files),
 * mount volumes, build the spec (oci-spec defaults + `with…` options), create
 * the container with piped stdio (namespaces), copy its output into the
 * json-file log, start it. A background task waits for the exit and undoes
 * everything in reverse order.
 */
import fs from 'node:fs/promises';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  generateSpec, mergeEnv, resolveUser, withAddedCapabilities, withCgroupsPath, withCpus, withCwd, withDroppedCapabilities,
  withEnv, withArgs, withHostname, withMemoryLimit, withMounts, withNamespace, withoutNamespace, withPidsLimit, withPrivileged,
  withReadonlyRootfs, withRootfs, withUser, withDefaultSeccomp, withNoNewPrivileges, isBerthError, ALL_CAPABILITIES,
  type RuntimeMount, type SpecOpt,
} from '@berth/oci-spec';
import { mountAll, unmountAll } from '@berth/cow-fs';
import { loadContainer } from '@berth/namespaces';
import type { ContainerRecord, ContainerStore, MountPoint, PortBinding, EndpointSettings, RunLock, VolumeReferences } from '../container.js';
import type {
  ConsoleSize, ContainerAttachment, ContainerAttachOptions, ContainerExit, ContainerHandle, ContainerImageSource, ContainerRuntime, CreateContainerOptions,
  NetworkService, NetworkSetup, RuntimeContainer, StartContainerOptions,
} from '../engine.js';
import {
  ContainerNotRunningError, InvalidArgumentError, InvalidMountError, NoTtyError, NotImplementedError,
} from '../errors.js';
import {
  AttachHub, attachSocketPath, connectAttach, makeAttachment, parseDetachKeys, resizeThroughSocket, type AttachmentParts,
} from './attach-hub.js';
import { readJsonFileLog } from '../json-file/json-file-log.js';
import type { EventBus } from '../event.js';
import type { VolumeStore } from '../volume.js';
import type { MountRequest } from '../mount-request.js';
import { toOciMount } from '../mounts/parse-mount-spec.js';
import { openJsonFileLogWriter } from '../json-file/json-file-log.js';
import { isSameProcessAlive, processStartTicks } from '../internal/proc.js';
import { isSupervisorAlive } from '../file/container-store.js';
import { ImageNotFoundError } from '../images/errors.js';
import { newId } from '../internal/ids.js';
import { parseSize } from '../mounts/parse-mount-spec.js';

const predefined = new Set(['bridge', 'host', 'none']);

/** How often {@link ContainerLifecycle.wait} re-reads the record of a container another process supervises. */
const waitPollMs = 25;

/** This process's start time (clock ticks since boot), recorded with its pid as a container's supervisor. */
let supervisorTicks: number | undefined;

function emptyEndpoint(aliases: string[] | null, ip?: string): EndpointSettings {
  return {
    IPAMConfig: ip ? { IPv4Address: ip } : null, Links: null, Aliases: aliases, MacAddress: '', NetworkID: '', EndpointID: '', Gateway: '',
    IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, DNSNames: null,
  };
}

/** The exit status Docker reports for a process: its code, or 128 + the signal number. */
export function exitStatusOf(r: { exitCode: number | null; signal: NodeJS.Signals | null }): number {
  if (r.exitCode !== null) return r.exitCode;
  const n = r.signal ? os.constants.signals[r.signal] : undefined;
  return n === undefined ? 255 : 128 + n;
}

/**
 * Docker's exit code for a start failure: 127 command not found, 126 found
 * but not executable, else 128. The runtime's exec errors carry execve's
 * errno, which decides: ENOENT is 127; EACCES, ENOEXEC and the rest are 126
 * (an ERR_NS_EXEC_NOT_FOUND without an errno stays 127).
 */
function startFailureCode(e: unknown): number {
  if (!isBerthError(e)) return 128;
  if (e.code !== 'ERR_NS_EXEC_NOT_FOUND' && e.code !== 'ERR_NS_EXEC_FAILED') return 128;
  const d = (e.details ?? {}) as { errnoCode?: string; errno?: number };
  if (d.errnoCode === undefined && d.errno === undefined) return e.code === 'ERR_NS_EXEC_NOT_FOUND' ? 127 : 126;
  return d.errnoCode === 'ENOENT' || d.errno === 2 ? 127 : 126;
}

/** The pty size recorded at create (`HostConfig.ConsoleSize`: [rows, columns]), if any. */
function consoleSizeOf(r: ContainerRecord): { rows: number; cols: number } | undefined {
  const cs = r.HostConfig.ConsoleSize as [number, number] | undefined;
  return Array.isArray(cs) && cs[0]! > 0 && cs[1]! > 0 ? { rows: cs[0]!, cols: cs[1]! } : undefined;
}

interface Running {
  container: RuntimeContainer;
  done: Promise<ContainerExit>;
  /** Fans the container's output out to attached clients (and their input in). */
  hub: AttachHub;
}

/** Dependencies of {@link ContainerLifecycle}. */
export interface LifecycleDeps {
  store: ContainerStore;
  volumes: VolumeStore;
  networks: NetworkService;
  events: EventBus;
  runRoot: string;
  images?: ContainerImageSource;
  runtime?: ContainerRuntime;
  /** Removes a stopped container (the container service's remove, for AutoRemove). */
  remove: (id: string) => Promise<void>;
}

/** Whether overlayfs takes `volatile` (Linux 5.10). */
const overlayVolatile = ((m) => m !== null && (Number(m[1]) > 5 || (Number(m[1]) === 5 && Number(m[2]) >= 10)))(/^(\d+)\.(\d+)/.exec(os.release()));

/**
 * The rootfs mounts of a `--rm` container with overlayfs's `volatile`
 * option: unmounting a non-volatile overlay syncs its upper filesystem
 * (syncfs of the whole disk holding the snapshots, 100 ms and more when
 * other writes are pending), and a container removed on exit needs none of
 * that durability (podman mounts `--rm` containers volatile too).
 */
function withVolatileOverlay(mounts: Parameters<typeof mountAll>[0], autoRemove: boolean): Parameters<typeof mountAll>[0] {
  if (!autoRemove || !overlayVolatile) return mounts;
  return mounts.map((m) => (m.type === 'overlay' && !(m.options ?? []).includes('volatile') ? { ...m, options: [...(m.options ?? []), 'volatile'] } : m));
}

/** The kernel release `minKernel` rules of the seccomp profile are checked against. */
const seccompHost = { kernel: os.release() };

let boundingCaps: Set<string> | undefined;
/**
 * The capabilities this process may pass on: its bounding set (`CapBnd` of
 * /proc/self/status; `ALL_CAPABILITIES` is in capability-number order). A
 * host can withhold some from root (here CAP_SYS_RESOURCE), and asking
 * for one of those fails capset with EPERM.
 */
function hostBoundingCaps(): Set<string> {
  if (boundingCaps) return boundingCaps;
  const hex = /^CapBnd:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  const mask = hex === undefined ? undefined : BigInt(`0x${hex}`);
  boundingCaps = new Set(ALL_CAPABILITIES.filter((_c, i) => mask === undefined || ((mask >> BigInt(i)) & 1n) === 1n));
  return boundingCaps;
}

/**
 * `--privileged` gets every capability the engine itself holds, not every
 * capability Linux knows: on a host that withholds one from root, a
 * privileged container still starts instead of failing capset.
 */
const withHostPrivilegedCaps: SpecOpt = (spec) => {
  const caps = spec.process?.capabilities;
  if (!caps) return;
  const held = hostBoundingCaps();
  for (const k of ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'] as const) {
    if (caps[k]) caps[k] = caps[k]!.filter((c) => held.has(c));
  }
};

/**
 * Parses `--security-opt` values as dockerd does (`key=value`, or the
 * older `key:value`): `seccomp=unconfined` (or `builtin`/`default`, the
 * default profile), `no-new-privileges[=true|false]`.
 */
function parseSecurityOpts(list: readonly string[]): { list: string[]; seccompUnconfined: boolean; noNewPrivileges?: boolean } {
  let seccompUnconfined = false;
  let noNewPrivileges: boolean | undefined;
  for (const o of list) {
    if (o === 'no-new-privileges') { noNewPrivileges = true; continue; }
    const m = /^([a-z-]+)[=:](.*)$/.exec(o);
    const [key, value] = m ? [m[1], m[2]] : [o, ''];
    if (key === 'seccomp' && value === 'unconfined') seccompUnconfined = true;
    else if (key === 'seccomp' && (value === 'builtin' || value === 'default')) seccompUnconfined = false;
    else if (key === 'no-new-privileges' && (value === 'true' || value === 'false')) noNewPrivileges = value === 'true';
    else throw new InvalidArgumentError('security-opt', o, 'supported: seccomp=unconfined, seccomp=builtin, no-new-privileges[=true|false]');
  }
  return { list: [...list], seccompUnconfined, ...(noNewPrivileges !== undefined ? { noNewPrivileges } : {}) };
}

/** The files the engine bind-mounts over (from the container's own directory), as Docker's init layer holds them. */
const initLayerFiles = ['etc/hostname', 'etc/hosts', 'etc/resolv.conf'];

/**
 * A read-only directory under `runRoot` holding empty mount points for the
 * files the engine bind-mounts (`/etc/hostname`, `/etc/hosts`,
 * `/etc/resolv.conf`), made once per run root. Docker keeps these in an
 * "init" layer between the image and the container's writable layer, so
 * `docker diff` and `docker commit` never see them; here the directory is
 * the topmost lowerdir of the container's overlay (see `withInitLayer`), so
 * the runtime finds its mount points there instead of creating them in the
 * writable layer.
 */
function initLayerDir(runRoot: string): string {
  const dir = path.join(runRoot, 'init-layer');
  try {
    if (initLayerFiles.every((f) => statSync(path.join(dir, f)).isFile())) return dir;
  } catch { /* made below */ }
  const tmp = `${dir}.${process.pid}-${Math.random().toString(16).slice(2)}`;
  mkdirSync(path.join(tmp, 'etc'), { recursive: true, mode: 0o755 });
  chmodSync(tmp, 0o755);
  for (const f of initLayerFiles) writeFileSync(path.join(tmp, f), '', { mode: 0o644 });
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another process made it first
  }
  return dir;
}

/** An overlay rootfs with the init layer as its topmost lower dir; any other mount (a bind of a snapshot without parents, the copy backend) as is. */
function withInitLayer(mounts: Parameters<typeof mountAll>[0], init: string): Parameters<typeof mountAll>[0] {
  return mounts.map((m) => (m.type !== 'overlay' || !(m.options ?? []).some((o) => o.startsWith('upperdir=')) ? m
    : { ...m, options: (m.options ?? []).map((o) => (o.startsWith('lowerdir=') ? `lowerdir=${init}:${o.slice('lowerdir='.length)}` : o)) }));
}

/** Creates, starts and supervises containers for the local engine. */
export class ContainerLifecycle {
  readonly #d: LifecycleDeps;
  readonly #running = new Map<string, Running>();
  /** Hubs of containers attached to before this process starts them (Docker's attach before start). */
  readonly #pending = new Map<string, AttachHub>();

  constructor(deps: LifecycleDeps) {
    this.#d = deps;
  }

  #images(op: string): ContainerImageSource {
    if (!this.#d.images) throw new NotImplementedError(op, 'an image service with resolveImage and a snapshotter (openLocalImageService)');
    return this.#d.images;
  }

  #runtime(op: string): ContainerRuntime {
    if (!this.#d.runtime) throw new NotImplementedError(op, 'a container runtime (@berth/namespaces)');
    return this.#d.runtime;
  }

  /** The snapshotter key of a container's rootfs. */
  static snapshotKey(id: string): string {
    return `berth-container-${id}`;
  }

  async create(opts: CreateContainerOptions): Promise<ContainerRecord> {
    const images = this.#images('container create');
    this.#runtime('container create');
    const img = await images.resolveImage(opts.image);
    const ic = img.config.config ?? {};
    // Docker: an --entrypoint override also drops the image's Cmd.
    const entrypoint = opts.entrypoint ?? ic.Entrypoint ?? [];
    const cmd = opts.entrypoint !== undefined ? (opts.cmd ?? []) : (opts.cmd ?? ic.Cmd ?? []);
    const args = [...entrypoint, ...cmd];
    if (args.length === 0) throw new InvalidArgumentError('command', opts.image, 'no command specified');
    const securityOpt = parseSecurityOpts(opts.securityOpt ?? []);

    // Network mode: predefined, container:<ref>, or an existing user network.
    const mode = opts.networkMode || 'bridge';
    let netName: string | undefined;
    if (mode.startsWith('container:')) await this.#d.store.get(mode.slice('container:'.length));
    else if (!predefined.has(mode)) netName = (await this.#d.networks.inspect(mode)).Name;
    else if (mode === 'bridge') netName = 'bridge';

    const ports: Record<string, PortBinding[]> = {};
    for (const p of opts.publish) (ports[`${p.containerPort}/${p.protocol}`] ??= []).push({ HostIp: p.hostIP, HostPort: p.hostPort ? String(p.hostPort) : '' });
    const exposed: Record<string, Record<string, never>> = { ...(ic.ExposedPorts ?? {}) };
    for (const e of opts.expose) exposed[e.includes('/') ? e : `${e}/tcp`] = {};
    for (const k of Object.keys(ports)) exposed[k] = {};
    if (opts.publishAll) for (const k of Object.keys(exposed)) ports[k] ??= [{ HostIp: '', HostPort: '' }];

    // The id is chosen here: the volumes are referenced by it as they are made (so that no prune or volume rm of
    // another process takes them before the record exists), and the snapshot named after it is prepared while the
    // record is written and synced.
    const id = newId();
    // Mounts: named volumes are created on demand, anonymous ones for -v /path and the image's VOLUMEs.
    const mounts: MountPoint[] = [];
    const named: string[] = [];
    const anonymous: string[] = [];
    const tmpfs: MountRequest[] = [];
    const targets = new Set(opts.mounts.map((m) => m.Target));
    const volumeReqs: MountRequest[] = [...opts.mounts];
    for (const v of Object.keys(ic.Volumes ?? {})) if (!targets.has(v)) volumeReqs.push({ Type: 'volume', Source: '', Target: v, ReadOnly: false });
    try {
      for (const m of volumeReqs) {
        if (m.Type === 'tmpfs') { tmpfs.push(m); continue; }
        if (m.Type === 'bind') {
          const exists = await fs.stat(m.Source).then(() => true, () => false);
          if (!exists) {
            if (!m.CreateHostPath) throw new InvalidMountError(m.Source, 'bind source path does not exist');
            await fs.mkdir(m.Source, { recursive: true });
          }
          mounts.push({ Type: 'bind', Source: m.Source, Destination: m.Target, Mode: m.Relabel ?? '', RW: !m.ReadOnly, Propagation: m.Propagation ?? 'rprivate' });
          continue;
        }
        const v = m.Source
          ? await this.#d.volumes.create({ name: m.Source, labels: m.VolumeLabels, options: m.VolumeOptions, reference: id })
          : await this.#d.volumes.create({ reference: id });
        (m.Source ? named : anonymous).push(v.Name);
        mounts.push({ Type: 'volume', Name: v.Name, Source: v.Mountpoint, Destination: m.Target, Driver: 'local', Mode: m.Relabel ?? 'z', RW: !m.ReadOnly, Propagation: '' });
      }
    } catch (e) {
      await this.#dropVolumes(id, named, anonymous);
      throw e;
    }

    const networks: Record<string, EndpointSettings> = {};
    if (netName) networks[netName] = emptyEndpoint(opts.networkAliases.length ? opts.networkAliases : null, opts.ipv4Address);
    const key = ContainerLifecycle.snapshotKey(id);
    // On a user network the record is written holding the lock its users are decided under, so a network remove in
    // another process either sees this container or removes the network before (the create then fails, not found).
    const userNet = netName !== undefined && !predefined.has(netName) ? netName : undefined;
    const using = <T>(fn: () => Promise<T>) => (userNet === undefined ? fn() : this.#d.networks.usingNetwork(userNet, fn));
    const made = await Promise.allSettled([using(() => this.#d.store.create({
      id, name: opts.name, image: img.id, path: args[0]!, args: args.slice(1),
      config: {
        ...(opts.hostname ? { Hostname: opts.hostname } : {}),
        User: opts.user ?? ic.User ?? '', Tty: opts.tty, OpenStdin: opts.openStdin, StdinOnce: opts.openStdin && (opts.stdinOnce ?? true),
        AttachStdin: opts.openStdin, AttachStdout: true, AttachStderr: true,
        Env: mergeEnv(ic.Env ?? [], opts.env), Cmd: cmd.length ? cmd : null, Image: opts.image,
        WorkingDir: opts.workingDir ?? ic.WorkingDir ?? '', Entrypoint: entrypoint.length ? entrypoint : null,
        Labels: { ...(ic.Labels ?? {}), ...opts.labels }, ExposedPorts: exposed,
        Volumes: ic.Volumes ? { ...ic.Volumes } as Record<string, Record<string, never>> : null,
        ...(opts.stopSignal ?? ic.StopSignal ? { StopSignal: opts.stopSignal ?? ic.StopSignal } : {}),
        ...(opts.stopTimeout !== undefined ? { StopTimeout: opts.stopTimeout } : {}),
      },
      hostConfig: {
        NetworkMode: mode, PortBindings: ports, AutoRemove: opts.autoRemove, Memory: opts.memory, NanoCpus: opts.nanoCpus,
        PidsLimit: opts.pidsLimit ?? null, LogConfig: opts.logConfig, RestartPolicy: opts.restartPolicy,
        ReadonlyRootfs: opts.readOnly, Privileged: opts.privileged, CapAdd: opts.capAdd, CapDrop: opts.capDrop,
        ...(securityOpt.list.length ? { SecurityOpt: securityOpt.list } : {}),
        ExtraHosts: opts.extraHosts, Dns: opts.dns, Init: opts.init,
        ...(opts.consoleSize ? { ConsoleSize: [opts.consoleSize.rows, opts.consoleSize.cols] } : {}),
        Binds: opts.mounts.filter((m) => m.Type === 'bind').map((m) => `${m.Source}:${m.Target}${m.ReadOnly ? ':ro' : ''}`),
        Tmpfs: Object.fromEntries(tmpfs.map((t) => [t.Target, (t.TmpfsOptions ?? []).join(',')])),
      },
      mounts, networkSettings: { Networks: networks }, anonymousVolumes: anonymous, berth: { SnapshotKey: key, TmpfsMounts: tmpfs },
      // An AutoRemove container's snapshot record is written in the background (close() waits for it): should a
      // crash lose it, the container is exited and removed anyway (removal tolerates the missing record) and the
      // orphan directory goes at the next image prune. A `run --rm` no longer waits for that fsync.
    })), images.snapshotter.prepare(key, img.chainIds.at(-1), opts.autoRemove ? { durable: false } : {})]);
    const [record, snapshot] = made;
    const undo = async () => {
      if (record.status === 'fulfilled') await this.#d.store.remove(id).catch(() => undefined);
      if (snapshot.status === 'fulfilled') await images.snapshotter.remove(key).catch(() => undefined);
      await this.#dropVolumes(id, named, anonymous);
    };
    if (record.status === 'rejected' || snapshot.status === 'rejected') {
      await undo();
      throw record.status === 'rejected' ? record.reason : (snapshot as PromiseRejectedResult).reason;
    }
    const r = record.value;
    try {
      // The record is visible now: an image remove or prune in another process that ran meanwhile removed the
      // image before it could see this container (gone: undo, as if the image had never been found); one after
      // this check sees the record and keeps the image (see LocalImageService.stillPresent).
      if (images.stillPresent && !(await images.stillPresent(img.id))) throw new ImageNotFoundError(opts.image);
      await this.#d.events.publish({ Type: 'container', Action: 'create', Actor: { ID: r.Id, Attributes: { ...r.Config.Labels, image: opts.image, name: r.Name.slice(1) } } });
      return r;
    } catch (e) {
      await undo();
      throw e;
    }
  }

  /** Undoes the volumes of a create that failed: drops container `id`'s references, removes the anonymous volumes. */
  async #dropVolumes(id: string, named: string[], anonymous: string[]): Promise<void> {
    const refs = this.#d.volumes as Partial<VolumeReferences>;
    for (const v of [...named, ...anonymous]) await refs.release?.(v, id).catch(() => undefined);
    for (const a of anonymous) await this.#d.volumes.remove(a, { force: true }).catch(() => undefined);
  }

  /** The spec of a container whose rootfs is mounted at `rootfs`, in the network `net` set up. */
  async #spec(r: ContainerRecord, rootfs: string, net: NetworkSetup): Promise<ReturnType<typeof generateSpec>> {
    // Two small files: read synchronously rather than through eight trips to the libuv pool.
    const read = (p: string) => {
      try {
        return readFileSync(path.join(rootfs, p), 'utf8');
      } catch {
        return undefined;
      }
    };
    const db = { passwd: read('etc/passwd'), group: read('etc/group') };
    const user = r.Config.User || '0';
    const home = resolveUser(user, db, 'container user').home;
    const env = r.Config.Env.some((e) => e.startsWith('HOME=')) ? r.Config.Env : [...r.Config.Env, `HOME=${home || '/'}`];
    // Kept in the container's directory, bind-mounted (read-only with a read-only rootfs, as Docker does): the hosts
    // file is rewritten in place when peers join a user network, which the bind mount shows at once.
    const fileOpts = ['rbind', 'rprivate', ...(r.HostConfig.ReadonlyRootfs ? ['ro'] : [])];
    const files: RuntimeMount[] = [
      { destination: '/etc/resolv.conf', type: 'bind', source: r.ResolvConfPath, options: fileOpts },
      { destination: '/etc/hosts', type: 'bind', source: r.HostsPath, options: fileOpts },
      { destination: '/etc/hostname', type: 'bind', source: r.HostnamePath, options: fileOpts },
    ];
    const userMounts: RuntimeMount[] = [];
    for (const m of r.Mounts) {
      const req: MountRequest = { Type: m.Type === 'volume' ? 'volume' : 'bind', Source: m.Source, Target: m.Destination, ReadOnly: !m.RW,
        Propagation: m.Type === 'bind' ? m.Propagation || 'rprivate' : undefined };
      userMounts.push(toOciMount(req, m.Source) as RuntimeMount);
    }
    for (const t of r.Berth?.TmpfsMounts ?? []) userMounts.push(toOciMount(t) as RuntimeMount);
    const hc = r.HostConfig;
    const opts: SpecOpt[] = [
      withRootfs(rootfs), withArgs([r.Path, ...r.Args]), withEnv(env), withCwd(r.Config.WorkingDir || '/'), withUser(user, db),
      withMounts([...files, ...userMounts]),
      // A namespace file to join (bridge, container:<id>); none: a new namespace the runtime makes, lo up in it; host: the host's.
      net.netnsPath ? withNamespace('network', net.netnsPath) : net.mode === 'none' ? withNamespace('network') : withoutNamespace('network'),
      withCgroupsPath(`/berth/${r.Id}`),
    ];
    // A host-network container keeps the host's UTS name, as Docker does.
    if (hc.NetworkMode !== 'host') opts.push(withHostname(r.Config.Hostname));
    if (hc.Memory && hc.Memory > 0) opts.push(withMemoryLimit(hc.Memory));
    if (hc.NanoCpus && hc.NanoCpus > 0) opts.push(withCpus(hc.NanoCpus / 1e9));
    if (hc.PidsLimit && hc.PidsLimit > 0) opts.push(withPidsLimit(hc.PidsLimit));
    if (hc.ReadonlyRootfs) opts.push(withReadonlyRootfs());
    if (hc.Privileged) opts.push(withPrivileged(), withHostPrivilegedCaps);
    if ((hc.CapAdd as string[] | undefined)?.length) opts.push(withAddedCapabilities(hc.CapAdd as string[]));
    if ((hc.CapDrop as string[] | undefined)?.length) opts.push(withDroppedCapabilities(hc.CapDrop as string[]));
    // Docker's default seccomp profile, resolved for the capabilities set above, unless privileged or unconfined.
    const security = parseSecurityOpts(Array.isArray(hc.SecurityOpt) ? hc.SecurityOpt as string[] : []);
    if (!hc.Privileged && !security.seccompUnconfined) opts.push(withDefaultSeccomp(seccompHost));
    if (security.noNewPrivileges !== undefined) opts.push(withNoNewPrivileges(security.noNewPrivileges));
    return generateSpec(...opts);
  }

  async start(ref: string, opts: StartContainerOptions = {}): Promise<ContainerHandle> {
    const images = this.#images('container start');
    const runtime = this.#runtime('container start');
    // Held from here until the exit is recorded (or the start failed and was undone): see ContainerStore.lockRun.
    const { record: r, lock: runLock } = (await this.lockStopped(ref, (x) => {
      throw new InvalidArgumentError('container', x.Name.slice(1), 'is already running');
    }))!;
    const bundle = path.join(this.#d.runRoot, 'bundles', r.Id);
    const rootfs = path.join(bundle, 'rootfs');
    // Undo steps: `undo` in reverse order (volumes, then the rootfs, then the bundle directory: each needs the next
    // one's mount gone); `alongside` (the runtime's delete, the log, the network, sharing nothing with the mounts, the
    // container having a mount namespace of its own) at the same time. For a bridge, CNI DEL is the slow one.
    const undo: Array<() => Promise<unknown>> = [];
    const alongside: Array<() => Promise<unknown>> = [];
    const unwind = async () => {
      const others = alongside.splice(0).map((u) => u().catch(() => undefined));
      for (const u of undo.splice(0).reverse()) await u().catch(() => undefined);
      await Promise.all(others);
    };
    let container: RuntimeContainer;
    let pumps: Promise<void>[];
    let log: Awaited<ReturnType<typeof openJsonFileLogWriter>>;
    let hub: AttachHub;
    let listening: Promise<void> = Promise.resolve();
    let running = false;
    try {
      // The network (files; for a bridge, a namespace and CNI plugins) is set up while the rootfs is mounted.
      const network = this.#d.networks.setUp(r.Id, r);
      network.catch(() => undefined);
      alongside.push(async () => {
        if (await network.then(() => true, () => false)) await this.#d.networks.tearDown(r.Id, r);
      });
      mkdirSync(rootfs, { recursive: true, mode: 0o700 });
      undo.push(async () => {
        // Two rmdirs (synchronous: local, empty directories); a rootfs still mounted (EBUSY) is left alone rather than
        // emptied by a recursive rm.
        try {
          rmdirSync(rootfs);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return;
        }
        try {
          rmdirSync(bundle);
        } catch {
          rmSync(bundle, { recursive: true, force: true });
        }
      });
      const key = r.Berth?.SnapshotKey ?? ContainerLifecycle.snapshotKey(r.Id);
      mountAll(withInitLayer(withVolatileOverlay(await images.snapshotter.mounts(key), r.HostConfig.AutoRemove === true), initLayerDir(this.#d.runRoot)), rootfs);
      undo.push(async () => unmountAll(rootfs, 1, { detach: true }));
      const setup = await network;
      for (const m of r.Mounts) {
        if (m.Type !== 'volume' || !m.Name) continue;
        await this.#d.volumes.mount(m.Name, r.Id);
        undo.push(() => this.#d.volumes.unmount(m.Name!, r.Id));
      }
      // setUp moved the hosts/resolv.conf paths for container:<id>; the other modes leave what the spec reads alone.
      const fresh = setup.mode === 'container' ? await this.#d.store.get(r.Id) : r;
      const lc = fresh.HostConfig.LogConfig?.Config ?? {};
      const building = this.#spec(fresh, rootfs, setup); // reads the image's passwd/group while the log opens
      building.catch(() => undefined);
      log = await openJsonFileLogWriter(fresh.LogPath, {
        ...(lc['max-size'] ? { maxSize: parseSize('max-size', lc['max-size']) } : {}),
        ...(lc['max-file'] ? { maxFile: Number(lc['max-file']) } : {}),
      });
      alongside.push(() => log.close());
      const spec = await building;
      // A TTY: the process gets a pty (its slave as stdio and controlling terminal); the master carries all output as stdout.
      const tty = fresh.Config.Tty;
      const size = opts.consoleSize ?? consoleSizeOf(fresh);
      if (tty) spec.process = { ...spec.process!, terminal: true, ...(size ? { consoleSize: { height: size.rows, width: size.cols } } : {}) };
      const h = this.#pending.get(r.Id) ?? new AttachHub(r.Id, fresh.Config);
      hub = h;
      this.#pending.delete(r.Id);
      undo.push(async () => { if (!running) await h.end(); }); // once running, the exit task ends the hub, after the exit is recorded
      const createOpts = {
        bundle, root: path.join(this.#d.runRoot, 'runtime'), stdio: tty ? 'pty' as const : 'pipe' as const, ...(tty && size ? { consoleSize: size } : {}),
      };
      // Nothing waits between create and start unless a client must attach first: then one runtime call does both
      // (no exec fifo round trip, and the process runs while its pipes and attach socket are wired up here; its
      // output waits in the pipes meanwhile).
      const runAtOnce = !opts.waitForAttach && runtime.run !== undefined;
      container = runAtOnce ? await runtime.run!(r.Id, spec, createOpts) : await runtime.create(r.Id, spec, createOpts);
      alongside.push(() => container.delete({ force: true }));
      const pump = (stream: 'stdout' | 'stderr', s: import('node:stream').Readable | undefined) => new Promise<void>((resolve) => {
        if (!s) return resolve();
        s.on('data', (chunk: Buffer) => {
          void log.write(stream, chunk);
          opts.onOutput?.(stream, chunk);
          h.output(stream, chunk);
        });
        s.once('end', () => resolve());
        s.once('close', () => resolve());
        s.once('error', () => resolve()); // a pty master reads EIO once the last slave closed
      });
      pumps = tty ? [pump('stdout', container.stdio.pty)] : [pump('stdout', container.stdio.stdout), pump('stderr', container.stdio.stderr)];
      if (!fresh.Config.OpenStdin) container.stdio.stdin?.end();
      const c = container;
      h.bind({
        stdin: fresh.Config.OpenStdin ? (tty ? c.stdio.pty : c.stdio.stdin) : undefined,
        resize: tty ? (rows, cols) => {
          // The master closes (EIO, then destroy) once the process is gone; its fd number may be reused after that.
          if (!c.stdio.pty || c.stdio.pty.destroyed) throw new ContainerNotRunningError(r.Name.slice(1), 'its pty is closed');
          c.resize?.(rows, cols);
        } : undefined,
      });
      const socket = attachSocketPath(this.#d.runRoot, r.Id);
      if (opts.waitForAttach) {
        // run -it's detached supervisor: the client attaches before the process runs, so it sees all of its output.
        await h.listen(socket);
        opts.onAttachReady?.();
        await h.firstAttach;
      } else {
        listening = h.listen(socket).then(() => opts.onAttachReady?.(), () => undefined);
      }
      if (!runAtOnce) await container.start();
      running = true;
    } catch (e) {
      await unwind();
      const code = startFailureCode(e);
      await this.#d.store.update(r.Id, (rec) => {
        rec.State.ExitCode = code;
        rec.State.Error = (e as Error).message;
      }, { sync: false }).catch(() => undefined);
      runLock.release();
      throw e;
    }
    // The runtime waits on its own thread, which does not hold the event loop open; the container's pipes do, but
    // they may close before the exit arrives. Hold the loop until this supervisor has recorded the exit.
    const keep = setInterval(() => undefined, 1 << 30);
    let started: ContainerRecord;
    try {
      // This process supervises the container and records its exit: say so, so others wait for that record.
      // One record write for both.
      supervisorTicks ??= await processStartTicks(process.pid);
      started = await this.#d.store.markRunning(r.Id, container.pid, {
        SupervisorPid: process.pid, SupervisorStartTicks: supervisorTicks, ...(container.pidStartTime ? { PidStartTicks: container.pidStartTime } : {}),
      });
      await this.#d.events.publish({ Type: 'container', Action: 'start', Actor: { ID: r.Id, Attributes: { image: started.Config.Image, name: started.Name.slice(1) } } });
    } catch (e) {
      clearInterval(keep);
      runLock.release();
      throw e;
    }
    const done = (async (): Promise<ContainerExit> => {
      const st = await container.wait().catch((e: unknown) => ({ exitCode: null, signal: null, oomKilled: false, error: e }));
      await Promise.all(pumps);
      const exit: ContainerExit = { StatusCode: exitStatusOf(st), OOMKilled: st.oomKilled };
      let rec: ContainerRecord;
      try {
        await unwind();
        rec = await this.#d.store.markExited(r.Id, { exitCode: exit.StatusCode, oomKilled: exit.OOMKilled });
        this.#running.delete(r.Id);
      } finally {
        // The exit is recorded and nothing of the run is left: another start, or a remove, may go (AutoRemove's too).
        runLock.release();
      }
      await this.#d.events.publish({
        Type: 'container', Action: 'die',
        Actor: { ID: r.Id, Attributes: { image: rec.Config.Image, name: rec.Name.slice(1), exitCode: String(exit.StatusCode) } },
      });
      if (rec.HostConfig.AutoRemove) await this.#d.remove(r.Id).catch(() => undefined);
      // Attached clients learn the exit last, so a client of run --rm finds the container gone.
      await listening;
      await hub.end(exit);
      return exit;
    })().finally(() => clearInterval(keep));
    this.#running.set(r.Id, { container, done, hub });
    const tty = started.Config.Tty;
    return {
      id: r.Id, pid: container.pid, tty, wait: () => done,
      stdin: started.Config.OpenStdin ? (tty ? container.stdio.pty : container.stdio.stdin) : undefined,
      resize: (size) => hub.resize(size),
    };
  }

  /**
   * Takes container `ref`'s run lock once it does not run, and returns it
   * with the record re-read under it. While the container runs (supervised
   * here, or its process alive elsewhere) `whileRunning(record)` is called:
   * it throws to refuse, or stops the container and returns whether it is
   * still there to lock (false: gone with its exit, say AutoRemove; then
   * undefined is returned). A lock held elsewhere (another process starting
   * the container, removing it, or its supervisor recording its exit, each
   * for milliseconds) is polled for (1, 2, 4… 16 ms).
   */
  async lockStopped(ref: string, whileRunning: (r: ContainerRecord) => Promise<boolean>): Promise<{ record: ContainerRecord; lock: RunLock } | undefined> {
    const runs = async (x: ContainerRecord) => x.State.Running && (await isSameProcessAlive(x.State.Pid, x.Berth?.PidStartTicks));
    let r = await this.#d.store.get(ref);
    for (let delay = 1; ; delay = Math.min(delay * 2, 16)) {
      if ((this.#running.has(r.Id) || (await runs(r))) && !(await whileRunning(r))) return undefined;
      const lock = this.#d.store.lockRun(r.Id);
      if (lock) {
        let again: ContainerRecord;
        try {
          again = await this.#d.store.get(r.Id);
        } catch (e) {
          lock.release();
          throw e;
        }
        if (!(await runs(again))) return { record: again, lock };
        lock.release();
        r = again;
        continue;
      }
      await sleep(delay);
      r = await this.#d.store.get(r.Id);
    }
  }


  /**
   * Attaches to a container's stdio: the hub of this process when it
   * supervises the container, else its supervisor's attach socket; a
   * container not running is refused unless a supervisor waits for an
   * attach or `waitStart` (then the attachment starts with this process's
   * next start of it). `logs` replays the json-file log first.
   */
  async attach(ref: string, opts: ContainerAttachOptions = {}): Promise<ContainerAttachment> {
    const r = await this.#d.store.get(ref);
    const name = r.Name.slice(1);
    if (opts.detachKeys !== undefined) parseDetachKeys(opts.detachKeys);
    let parts: AttachmentParts | undefined;
    if (opts.stream === false) {
      parts = makeAttachment(r.Id, r.Config.Tty, false, opts, { input: () => undefined, inputEnd: () => undefined, resize: async () => undefined, closed: () => undefined });
    } else {
      const mine = this.#running.get(r.Id);
      if (mine) parts = mine.hub.attachLocal(opts);
      else {
        if (r.State.Paused) throw new ContainerNotRunningError(name, 'it is paused: unpause it first');
        const socket = attachSocketPath(this.#d.runRoot, r.Id);
        const alive = r.State.Running && (await isSameProcessAlive(r.State.Pid, r.Berth?.PidStartTicks));
        if (alive || (await fs.access(socket).then(() => true, () => false))) {
          try {
            parts = await connectAttach(socket, r.Id, r.Config, opts);
          } catch (e) {
            if (alive || !opts.waitStart) throw e;
          }
        }
        if (!parts) {
          if (!opts.waitStart) throw new ContainerNotRunningError(name, 'start it first, or attach before starting it (waitStart)');
          const pending = this.#pending.get(r.Id) ?? new AttachHub(r.Id, r.Config);
          this.#pending.set(r.Id, pending);
          parts = pending.attachLocal(opts);
        }
      }
    }
    if (opts.logs) {
      parts.hold();
      const streams = [...(opts.stdout !== false ? ['stdout'] : []), ...(opts.stderr !== false ? ['stderr'] : [])] as Array<'stdout' | 'stderr'>;
      try {
        for await (const e of readJsonFileLog(r.LogPath, { streams })) parts.deliver(r.Config.Tty ? 'stdout' : e.stream, Buffer.from(e.log));
      } catch { /* no log yet */ }
      parts.release();
    }
    if (opts.stream === false) parts.finish({ reason: 'closed' });
    return parts.attachment;
  }

  /** Resizes a container's pty: through its hub here, else through its supervisor's socket. */
  async resize(ref: string, size: ConsoleSize): Promise<void> {
    const r = await this.#d.store.get(ref);
    if (!r.Config.Tty) throw new NoTtyError(r.Name.slice(1));
    if (!Number.isInteger(size.h) || !Number.isInteger(size.w) || size.h < 0 || size.w < 0 || size.h > 0xffff || size.w > 0xffff) {
      throw new InvalidArgumentError('console size', `${size.h}x${size.w}`, 'height and width must be integers from 0 to 65535');
    }
    const mine = this.#running.get(r.Id);
    if (mine) return mine.hub.resize(size);
    if (!(r.State.Running && (await isSameProcessAlive(r.State.Pid, r.Berth?.PidStartTicks)))) throw new ContainerNotRunningError(r.Name.slice(1), 'cannot resize');
    await resizeThroughSocket(attachSocketPath(this.#d.runRoot, r.Id), r.Name.slice(1), size);
  }

  /** Signals the container's init: through the runtime when this process started it, else by its recorded pid. */
  async kill(ref: string, signal: string | number = 'SIGKILL'): Promise<void> {
    const r = await this.#d.store.get(ref);
    const sig = typeof signal === 'number' ? signal : (signal.startsWith('SIG') ? signal : `SIG${signal}`) as NodeJS.Signals;
    const mine = this.#running.get(r.Id);
    if (mine) {
      mine.container.kill(sig);
      return;
    }
    if (!(r.State.Running && (await isSameProcessAlive(r.State.Pid, r.Berth?.PidStartTicks)))) {
      throw new ContainerNotRunningError(r.Name.slice(1), 'nothing to signal');
    }
    process.kill(r.State.Pid, sig);
  }

  /**
   * Waits for the container's exit. Started by another process, the exit is
   * that process's to record (its supervisor): the record is polled until it
   * says the container stopped. Only when the container process and its
   * supervisor are both gone without a record does reconcile record 255.
   */
  async wait(ref: string): Promise<ContainerExit> {
    const r = await this.#d.store.get(ref);
    const mine = this.#running.get(r.Id);
    if (mine) return mine.done;
    for (;;) {
      const cur = await this.#d.store.get(r.Id);
      if (!(cur.State.Running || cur.State.Restarting)) return { StatusCode: cur.State.ExitCode, OOMKilled: cur.State.OOMKilled };
      const waiting = this.#running.get(r.Id); // started by this process since
      if (waiting) return waiting.done;
      if (!(await isSameProcessAlive(cur.State.Pid, cur.Berth?.PidStartTicks)) && !(await isSupervisorAlive(cur))) {
        await this.#d.store.reconcile();
        const after = await this.#d.store.get(r.Id);
        return { StatusCode: after.State.ExitCode, OOMKilled: after.State.OOMKilled };
      }
      await new Promise((res) => setTimeout(res, waitPollMs));
    }
  }

  async stop(ref: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    const r = await this.#d.store.get(ref);
    // A container whose process ended but whose supervisor has not yet recorded the exit is still stopping: wait for the record.
    const running = this.#running.has(r.Id)
      || (r.State.Running && ((await isSameProcessAlive(r.State.Pid, r.Berth?.PidStartTicks)) || (await isSupervisorAlive(r))));
    if (!running) return; // docker stop on a stopped container succeeds
    const timeout = opts.timeout ?? r.Config.StopTimeout ?? 10;
    await this.kill(r.Id, opts.signal ?? r.Config.StopSignal ?? 'SIGTERM').catch(() => undefined);
    const exited = this.wait(r.Id).then(() => true);
    const timer = new Promise<boolean>((res) => setTimeout(() => res(false), Math.max(0, timeout) * 1000).unref());
    if (!(await Promise.race([exited, timer]))) {
      await this.kill(r.Id, 'SIGKILL').catch(() => undefined);
      await exited;
    }
  }

  /** Removes the container's snapshot (after the record is gone or going). */
  /**
   * What a supervisor that died without its exit task (SIGKILLed, crashed)
   * left of a container: the runtime's state and cgroup, and the rootfs
   * mount. `remove` calls it once the container is known stopped; a
   * container a live supervisor (this process or another) still holds is
   * left alone. Nothing is left after a normal exit, so this is then one
   * failed lookup.
   */
  async cleanupAfterDeadSupervisor(r: ContainerRecord): Promise<void> {
    if (!this.#d.runtime || this.#running.has(r.Id) || (await isSupervisorAlive(r))) return;
    const root = path.join(this.#d.runRoot, 'runtime');
    const left = await loadContainer(root, r.Id).catch(() => undefined);
    if (left) await left.delete({ force: true }).catch(() => undefined);
    const bundle = path.join(this.#d.runRoot, 'bundles', r.Id);
    const rootfs = path.join(bundle, 'rootfs');
    if (existsSync(rootfs)) {
      try {
        unmountAll(rootfs, 1, { detach: true });
      } catch { /* not mounted */ }
      await fs.rmdir(rootfs).catch(() => undefined);
      await fs.rmdir(bundle).catch(() => undefined);
    }
  }

  async removeSnapshot(r: ContainerRecord): Promise<void> {
    if (!this.#d.images || !r.Berth?.SnapshotKey) return;
    await this.#d.images.snapshotter.remove(r.Berth.SnapshotKey).catch(() => undefined);
  }
}
