/**
 * The Engine facade: one object giving access to each injected subsystem,
 * plus the Docker-level services composed from them.
 */
import type { ContainerRecord, ContainerStore, ListContainersOptions, PortBinding } from './container.js';
import type { EventBus } from './event.js';
import type { LogEntry, ReadLogsOptions } from './log.js';
import type { Endpoint, NetworkManager } from './network.js';
import type { VolumeStore } from './volume.js';
import type { MountRequest } from './mount-request.js';
import type { PublishSpec } from './ports/parse-publish.js';

/**
 * What `docker run`/`docker create` ask for, already parsed from flags (the
 * CLI builds it; the Docker API's create body maps to it too). Image config
 * (Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts, Volumes) fills what
 * is left undefined, when the image service is wired.
 */
export interface CreateContainerOptions {
  image: string;
  name?: string;
  /** Replaces the image's Cmd when given. */
  cmd?: string[];
  /** Replaces the image's Entrypoint when given (`--entrypoint ''` clears it: `[]`). */
  entrypoint?: string[];
  /** `KEY=value` entries, appended to (and overriding) the image's Env. */
  env: string[];
  workingDir?: string;
  user?: string;
  hostname?: string;
  tty: boolean;
  openStdin: boolean;
  /** Close the container's stdin when the first attached client that wrote it detaches (`run -i` without `-d`); default false. */
  stdinOnce?: boolean;
  /** The pty's initial size with `tty` (`HostConfig.ConsoleSize`: rows, columns). */
  consoleSize?: { rows: number; cols: number };
  labels: Record<string, string>;
  mounts: MountRequest[];
  publish: PublishSpec[];
  /** Publish every exposed port to a random host port (`-P`). */
  publishAll: boolean;
  expose: string[];
  /** `bridge` (default), `host`, `none`, `container:<id>` or a network name. */
  networkMode: string;
  networkAliases: string[];
  ipv4Address?: string;
  autoRemove: boolean;
  /** Bytes; 0 is unlimited. */
  memory: number;
  /** CPU quota in units of 1e-9 CPUs (`--cpus 1.5` → 1.5e9). */
  nanoCpus: number;
  /** Undefined or ≤0 is unlimited. */
  pidsLimit?: number;
  restartPolicy: { Name: string; MaximumRetryCount: number };
  logConfig: { Type: string; Config: Record<string, string> };
  stopSignal?: string;
  stopTimeout?: number;
  readOnly: boolean;
  privileged: boolean;
  /**
   * `--security-opt` values: `seccomp=unconfined` (no seccomp filter; else
   * Docker's default profile applies unless `privileged`),
   * `no-new-privileges[=true|false]`. Others are refused
   * (`ERR_ENGINE_INVALID_ARGUMENT`).
   */
  securityOpt?: string[];
  capAdd: string[];
  capDrop: string[];
  extraHosts: string[];
  dns: string[];
  init: boolean;
}

/** One row of `GET /containers/json` (`docker ps`). */
export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  /** Seconds since the epoch. */
  Created: number;
  Ports: Array<{ IP?: string; PrivatePort: number; PublicPort?: number; Type: string }>;
  Labels: Record<string, string>;
  State: string;
  /** Human status: `Up 5 minutes`, `Exited (0) 2 hours ago`, `Created`. */
  Status: string;
  HostConfig: { NetworkMode: string };
  NetworkSettings: { Networks: ContainerRecord['NetworkSettings']['Networks'] };
  Mounts: ContainerRecord['Mounts'];
}

/** Options of {@link ContainerService.remove} (`docker rm`). */
export interface RemoveContainerOptions {
  /** Kill a running container first (needs the runtime). */
  force?: boolean;
  /** Also remove its anonymous volumes (`rm -v`). */
  volumes?: boolean;
}

/** How a container's process ended (`docker wait`'s answer). */
export interface ContainerExit {
  /** The exit status, or 128 + signal number when killed by a signal. */
  StatusCode: number;
  OOMKilled: boolean;
  Error?: string;
}

/** Options of {@link ContainerService.start}. */
export interface StartContainerOptions {
  /** Receives the container's output as it is written to its json-file log (how `run` shows it). */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  /** The pty's size at start for a container with `Tty` (else `HostConfig.ConsoleSize`, else the kernel's 0x0). */
  consoleSize?: { rows: number; cols: number };
  /**
   * Open the container's attach socket and wait for the first client to
   * attach before letting the process exec (a detached supervisor of
   * `run -it`, so no output is lost); `onAttachReady` is called once the
   * socket listens.
   */
  waitForAttach?: boolean;
  /** Called when the attach socket listens (with `waitForAttach`, before the process runs). */
  onAttachReady?: () => void;
}

/** A pty size: `h` rows and `w` columns (Docker's resize query). */
export interface ConsoleSize {
  h: number;
  w: number;
}

/** Options of {@link ContainerService.attach}; Docker's attach query parameters. */
export interface ContainerAttachOptions {
  /** Attach stdin (only for a container with `OpenStdin`). */
  stdin?: boolean;
  /** Attach stdout (default true). */
  stdout?: boolean;
  /** Attach stderr (default true; with a TTY everything comes on stdout). */
  stderr?: boolean;
  /** Stream live output (default true). */
  stream?: boolean;
  /** Replay the json-file log first. */
  logs?: boolean;
  /** The detach sequence (Docker's `ctrl-p,ctrl-q` default; `''` disables it). */
  detachKeys?: string;
  /** For a container that is not running: wait until this process starts it, instead of `ERR_ENGINE_CONTAINER_NOT_RUNNING`. */
  waitStart?: boolean;
}

/** Why an attachment ended. */
export interface AttachEnd {
  /** `exited`: the container stopped; `detached`: the detach keys were read; `closed`: `close()` or the connection ended. */
  reason: 'exited' | 'detached' | 'closed';
  /** With `exited`: the container's exit. */
  exit?: ContainerExit;
}

/** A live attachment to a container's stdio (what `docker attach` holds). */
export interface ContainerAttachment {
  readonly id: string;
  /** The container has a pty: its output is raw, on `stdout` only. */
  readonly tty: boolean;
  /** Writes the container's stdin (with `stdin` and `OpenStdin`); ending it closes the container's stdin when `StdinOnce`. */
  readonly stdin?: import('node:stream').Writable;
  /** The container's stdout (with a TTY: all of its output). */
  readonly stdout?: import('node:stream').Readable;
  /** The container's stderr (never with a TTY). */
  readonly stderr?: import('node:stream').Readable;
  /** Resolves when the attachment ends (the output streams have ended by then). */
  readonly ended: Promise<AttachEnd>;
  /** Resizes the container's pty (`ERR_ENGINE_NO_TTY` without one). */
  resize(size: ConsoleSize): Promise<void>;
  /** Detaches; idempotent. */
  close(): void;
}

/** A container started by this process. */
export interface ContainerHandle {
  readonly id: string;
  readonly pid: number;
  /** The container's stdin, when its config has `OpenStdin` (`-i`). */
  readonly stdin?: import('node:stream').Writable;
  /** Whether the container has a pty (`Tty`); its output then comes as `stdout` only. */
  readonly tty: boolean;
  /** Resizes the container's pty; `ERR_ENGINE_NO_TTY` without one. */
  resize(size: ConsoleSize): void;
  /** Resolves once the process exited, its output is logged, its resources are released (and, with AutoRemove, the container removed). */
  wait(): Promise<ContainerExit>;
}

/** Options of {@link ContainerRuntime.create} and {@link ContainerRuntime.run}. */
export interface RuntimeCreateOptions {
  bundle: string; root: string; stdio: 'pipe' | 'ignore' | 'pty'; consoleSize?: { rows: number; cols: number };
}

/**
 * The runtime role the engine needs (structurally `@berth/namespaces`'
 * `createContainer` and `runContainer`): create a container from a spec; the
 * result is started, waited for, signalled and deleted.
 */
export interface ContainerRuntime {
  create(id: string, spec: import('@berth/oci-spec').RuntimeSpec, opts: RuntimeCreateOptions): Promise<RuntimeContainer>;
  /**
   * Creates and starts in one step, without the create/start handshake
   * (optional): the engine uses it when nothing must happen between the two
   * (no client to wait for), else `create`, then `start`.
   */
  run?(id: string, spec: import('@berth/oci-spec').RuntimeSpec, opts: RuntimeCreateOptions): Promise<RuntimeContainer>;
}

/** A container as the runtime hands it back. */
export interface RuntimeContainer {
  readonly pid: number;
  /** The init's start time in clock ticks since boot, when the runtime knows it (recorded with the pid, so /proc need not be read). */
  readonly pidStartTime?: number;
  readonly stdio: {
    stdin?: import('node:stream').Writable; stdout?: import('node:stream').Readable; stderr?: import('node:stream').Readable;
    /** With `stdio: 'pty'`: the pty master (read the output, write the input). */
    pty?: import('node:stream').Duplex;
  };
  /** Resizes the pty (with `stdio: 'pty'`). */
  resize?(rows: number, cols: number): void;
  start(): Promise<void>;
  wait(): Promise<{ exitCode: number | null; signal: NodeJS.Signals | null; oomKilled: boolean }>;
  kill(signal?: NodeJS.Signals | number, opts?: { all?: boolean }): void;
  delete(opts?: { force?: boolean }): Promise<void>;
}

/**
 * The image role container creation needs (structurally the
 * `LocalImageService`): resolve a reference to its config and layer
 * chainIds, and the snapshotter holding the unpacked layers.
 */
export interface ContainerImageSource {
  resolveImage(ref: string): Promise<{ id: string; config: import('@berth/oci-spec').ImageConfig; chainIds: string[] }>;
  /**
   * Whether image `id` is still there, asked under the lock image removal
   * holds (`LocalImageService.stillPresent`); create asks it once its record
   * is written and undoes itself when the image went meanwhile. Optional.
   */
  stillPresent?(id: string): Promise<boolean>;
  readonly snapshotter: {
    /** `durable: false`: the snapshot's record is written in the background (cow-fs `SnapshotOptions.durable`). */
    prepare(key: string, parent?: string, opts?: { durable?: boolean }): Promise<import('@berth/oci-spec').Mount[]>;
    mounts(key: string): Promise<import('@berth/oci-spec').Mount[]>;
    remove(key: string): Promise<void>;
  };
}

/** Container operations at Docker's level. Operations that need the runtime throw `ERR_ENGINE_NOT_IMPLEMENTED`. */
export interface ContainerService {
  /** The underlying metadata store. */
  readonly store: ContainerStore;
  list(opts?: ListContainersOptions): Promise<ContainerSummary[]>;
  /** `docker inspect` of a container. */
  inspect(ref: string): Promise<ContainerRecord>;
  /** Reads the json-file log (`docker logs`); `follow` ends when the container stops. */
  logs(ref: string, opts?: ReadLogsOptions): AsyncIterable<LogEntry>;
  rename(ref: string, newName: string): Promise<void>;
  /** Removes a stopped container with its sandbox, name and (with `volumes`) anonymous volumes. */
  remove(ref: string, opts?: RemoveContainerOptions): Promise<void>;
  /**
   * Creates a container from an image (Docker's semantics: image Entrypoint,
   * Cmd, Env, WorkingDir, User, ExposedPorts and Volumes, overridden by the
   * options) with its writable snapshot. Needs an image service that is a
   * {@link ContainerImageSource}; otherwise `ERR_ENGINE_NOT_IMPLEMENTED`.
   */
  create(opts: CreateContainerOptions): Promise<ContainerRecord>;
  /** Starts a created or exited container in this process: rootfs, network, mounts, spec, runtime, json-file log. */
  start(ref: string, opts?: StartContainerOptions): Promise<ContainerHandle>;
  /** Sends the stop signal, waits `timeout` seconds (default StopTimeout or 10), then SIGKILL. */
  stop(ref: string, opts?: { timeout?: number; signal?: string }): Promise<void>;
  /** Sends a signal (default SIGKILL) to the container's process. */
  kill(ref: string, signal?: string): Promise<void>;
  /** Stops (as {@link ContainerService.stop}) and starts the container again in this process. */
  restart(ref: string, opts?: { timeout?: number; signal?: string }): Promise<ContainerHandle>;
  /** Freezes the container's processes (cgroup freezer); publishes `pause`. */
  pause(ref: string): Promise<void>;
  /** Thaws a paused container; publishes `unpause`. */
  unpause(ref: string): Promise<void>;
  /** Waits until the container is not running and returns its exit. */
  wait(ref: string): Promise<ContainerExit>;
  /** Runs another process in a running container (its Env, User, WorkingDir unless overridden). */
  exec(ref: string, cmd: string[], opts?: import('./runtime/container-operations.js').ExecContainerOptions): Promise<import('@berth/namespaces').ContainerProcess>;
  /**
   * Attaches to a container's stdio (`docker attach`): through this process
   * when it supervises the container, else through the attach socket of its
   * supervisor. A container that is not running is refused with
   * `ERR_ENGINE_CONTAINER_NOT_RUNNING`, unless a supervisor waits for an
   * attach before starting it, or `waitStart` is set (the attachment then
   * begins when this process starts the container, as Docker's attach before
   * start).
   */
  attach(ref: string, opts?: ContainerAttachOptions): Promise<ContainerAttachment>;
  /** Resizes the container's pty (`docker container resize`); `ERR_ENGINE_NO_TTY` for a container without `Tty`. */
  resize(ref: string, size: ConsoleSize): Promise<void>;
  /** The container's processes in `ps -ef` columns (Docker's `{ Titles, Processes }`). */
  top(ref: string): Promise<import('./runtime/container-operations.js').ContainerTop>;
  /**
   * `docker stats` from the container's cgroup, in Docker's shape: with
   * `stream: true` an async iterable of one sample a second (each with the
   * previous reading as `precpu_stats`; ends when the container stops or
   * `signal` aborts); otherwise one sample, primed over one interval unless
   * `oneShot`.
   */
  stats(ref: string, opts: import('./runtime/container-operations.js').ContainerStatsOptions & { stream: true }): AsyncIterable<import('./runtime/container-operations.js').ContainerStats>;
  stats(ref: string, opts?: import('./runtime/container-operations.js').ContainerStatsOptions & { stream?: false }): Promise<import('./runtime/container-operations.js').ContainerStats>;
  /** `docker update`: new limits, applied to the running cgroup and recorded in `HostConfig`. */
  update(ref: string, u: import('./runtime/container-update.js').ContainerUpdate): Promise<{ Warnings: string[] }>;
  /** `docker diff`: the container's changes to its rootfs, sorted by path. */
  changes(ref: string): Promise<import('./runtime/container-changes.js').ContainerChange[]>;
  /** `docker export`: the container's rootfs as a tar stream. */
  export(ref: string, opts?: { signal?: AbortSignal }): Promise<import('node:stream').Readable>;
  /** The stat of a container path (`docker cp`); `ERR_ENGINE_PATH_NOT_FOUND` when it does not exist. */
  statPath(ref: string, path: string): Promise<import('./runtime/container-changes.js').ContainerPathStat>;
  /** A new image from the container's changes (diff → layer → config with history → tagged `reference`). */
  commit(ref: string, opts: import('./runtime/container-operations.js').CommitContainerOptions): Promise<{ id: string; name?: string }>;
  /** A tar stream of a path of the container's rootfs (`docker cp CONTAINER:path -`). */
  copyFrom(ref: string, path: string, opts?: { followLink?: boolean; name?: string }): Promise<import('node:stream').Readable>;
  /** Extracts a tar into a directory of the container's rootfs, safely (`docker cp - CONTAINER:dir`). */
  copyTo(ref: string, dir: string, tar: import('node:stream').Readable | AsyncIterable<Uint8Array>): Promise<void>;
  /**
   * `docker container prune`: removes every stopped container matching the
   * filters (`until`, `label`, `label!`); `SpaceReclaimed` sums their
   * writable layers.
   */
  prune(opts?: { filters?: Record<string, string[]> }): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }>;
}

/** Image operations: the contract is in `images.ts`. */
export type { ImageService } from './images.js';
import type { ImageService } from './images.js';

/** Networks plus container-level connect/disconnect (`docker network connect`). */
export interface NetworkService extends NetworkManager {
  /**
   * Connects a container: a running container with a sandbox gets a CNI
   * endpoint now; a stopped one is only recorded in its NetworkSettings
   * (attached when it starts), as Docker does. A container in `none`,
   * `host` or `container:<id>` mode is refused (`ERR_ENGINE_INVALID_ARGUMENT`).
   */
  connect(network: string, container: string, opts?: { aliases?: string[]; ipv4Address?: string }): Promise<Endpoint | undefined>;
  /** Disconnects a container (DEL for a live endpoint, and the record). */
  disconnect(network: string, container: string, opts?: { force?: boolean }): Promise<void>;
  /**
   * Sets up a container's networking before its process starts, from its
   * record's `HostConfig.NetworkMode`, `HostConfig.PortBindings` and
   * `NetworkSettings.Networks`: `host` (no namespace; the host's
   * resolv.conf and hosts), `none` (only the files: no `netnsPath`, the
   * runtime makes a new namespace and brings `lo` up in it),
   * `container:<ref>` (the other running container's namespace and files),
   * or bridge/user networks (a namespace, one CNI endpoint per network, the
   * published ports on the first). Writes the container's `hostname`,
   * `hosts` and `resolv.conf` and records the result in its
   * `NetworkSettings`. The runtime then joins `netnsPath`. `known` is the
   * container's record as the caller just read it (spares a read).
   */
  setUp(container: string, known?: import('./container.js').ContainerRecord): Promise<NetworkSetup>;
  /** Undoes {@link NetworkService.setUp}: CNI DEL for every endpoint, namespace removed, addresses cleared. Idempotent. `known` as for setUp. */
  tearDown(container: string, known?: import('./container.js').ContainerRecord): Promise<void>;
  /**
   * Runs `fn` holding the lock under which a network's users are decided
   * (across processes), once `network` is known to exist there
   * (`ERR_ENGINE_NETWORK_NOT_FOUND` otherwise): a container create that names
   * a user network writes its record in `fn`; `remove` lists the users and
   * removes under the same lock, and `connect` records under it. So no
   * container is left naming a network another process removed.
   */
  usingNetwork<T>(network: string, fn: () => Promise<T>): Promise<T>;
}

/** What {@link NetworkService.setUp} made. */
export interface NetworkSetup {
  mode: 'host' | 'none' | 'container' | 'bridge';
  /** The namespace file the container must join; undefined for `host` (the host's) and `none` (a new one, made by the runtime). */
  netnsPath?: string;
  endpoints: Endpoint[];
}

/** The engine: the only place where berth's flows cross packages. */
export interface Engine {
  /** The engine's state directory. */
  readonly root: string;
  /** The runtime directory (namespaces, sockets). */
  readonly runRoot: string;
  readonly containers: ContainerService;
  readonly images: ImageService;
  readonly networks: NetworkService;
  readonly volumes: VolumeStore;
  readonly events: EventBus;
  /** Docker's `system info` subset. */
  info(): Promise<EngineInfo>;
  /** Flushes and closes every subsystem. Idempotent. */
  close(): Promise<void>;
}

/** The parts of `docker info` berth can tell. */
export interface EngineInfo {
  ID: string;
  Containers: number;
  ContainersRunning: number;
  ContainersPaused: number;
  ContainersStopped: number;
  Images: number;
  Driver: string;
  DockerRootDir: string;
  OperatingSystem: string;
  OSType: 'linux';
  Architecture: string;
  KernelVersion: string;
  NCPU: number;
  MemTotal: number;
  Name: string;
  ServerVersion: string;
  LoggingDriver: 'json-file';
  CgroupDriver: 'cgroupfs';
  Plugins: { Volume: string[]; Network: string[]; Log: string[] };
  Warnings: string[];
}

/** Options of `openEngine`: the root and, optionally, injected subsystems. */
export interface EngineOptions {
  /** State directory (records, volumes, networks, events). */
  root: string;
  /** Runtime directory; default `<root>/run`. */
  runRoot?: string;
  containerStore?: ContainerStore;
  /** The image service (e.g. `openLocalImageService`); without one, image operations reject with `ERR_ENGINE_NOT_IMPLEMENTED`. */
  imageService?: ImageService;
  volumeStore?: VolumeStore;
  networkManager?: NetworkManager;
  eventBus?: EventBus;
  /** CNI plugin directories for the default network manager. */
  cniPluginDirs?: string[];
  /** Default bridge network settings for the default network manager. */
  defaultBridge?: string;
  defaultSubnet?: string;
  subnetPool?: string;
  /** The container runtime; default `@berth/namespaces`' `createContainer`. */
  runtime?: ContainerRuntime;
  /** Fix recorded state against reality on open (default true). */
  reconcile?: boolean;
}

export type { PortBinding };
