/**
 * Container metadata and state: the Docker inspect shape as far as berth
 * fills it, and the store that keeps one record per container on disk.
 */

/** Docker's container status values. */
export const ContainerStatus = {
  Created: 'created',
  Running: 'running',
  Paused: 'paused',
  Restarting: 'restarting',
  Removing: 'removing',
  Exited: 'exited',
  Dead: 'dead',
} as const;
/** One of {@link ContainerStatus}. */
export type ContainerStatus = (typeof ContainerStatus)[keyof typeof ContainerStatus];

/** `State` of `docker inspect`. Times are RFC3339Nano; zero time is `0001-01-01T00:00:00Z`. */
export interface ContainerState {
  Status: ContainerStatus;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
}

/** `Config` of `docker inspect` (the image-derived, portable part). */
export interface ContainerConfig {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  ExposedPorts?: Record<string, Record<string, never>>;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[];
  Cmd: string[] | null;
  Image: string;
  Volumes?: Record<string, Record<string, never>> | null;
  WorkingDir: string;
  Entrypoint: string[] | null;
  Labels: Record<string, string>;
  StopSignal?: string;
  StopTimeout?: number;
}

/** One published port binding (`HostConfig.PortBindings["80/tcp"][i]`). */
export interface PortBinding { HostIp: string; HostPort: string }

/** `HostConfig` of `docker inspect` (the host-specific part); unknown keys are kept. */
export interface HostConfig {
  Binds: string[] | null;
  NetworkMode: string;
  PortBindings: Record<string, PortBinding[]>;
  AutoRemove: boolean;
  Mounts?: unknown[];
  Tmpfs?: Record<string, string>;
  Memory?: number;
  NanoCpus?: number;
  PidsLimit?: number | null;
  LogConfig: { Type: string; Config: Record<string, string> };
  RestartPolicy: { Name: string; MaximumRetryCount: number };
  [key: string]: unknown;
}

/** One entry of `Mounts` in `docker inspect`. */
export interface MountPoint {
  Type: 'bind' | 'volume' | 'tmpfs';
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

/** One network attachment in `NetworkSettings.Networks`. */
export interface EndpointSettings {
  IPAMConfig: { IPv4Address?: string } | null;
  Links: string[] | null;
  Aliases: string[] | null;
  MacAddress: string;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  DNSNames: string[] | null;
}

/** `NetworkSettings` of `docker inspect`. */
export interface NetworkSettings {
  SandboxID: string;
  SandboxKey: string;
  Ports: Record<string, PortBinding[] | null>;
  Networks: Record<string, EndpointSettings>;
}

/** berth's own bookkeeping inside a record (not part of Docker's shape). */
export interface BerthContainerExtras {
  /** Start time of `State.Pid` in clock ticks since boot, to detect pid reuse. */
  PidStartTicks?: number;
  /**
   * The process that supervises the running container and records its exit
   * (the engine process that started it: a foreground `run`, or the detached
   * `container start --supervise` copy of the CLI). While it lives, no other
   * process records the exit.
   */
  SupervisorPid?: number;
  /** Start time of `SupervisorPid` in clock ticks since boot, to detect pid reuse. */
  SupervisorStartTicks?: number;
  /** Anonymous volumes created for this container, removed with `rm -v`. */
  AnonymousVolumes?: string[];
  /** The snapshotter key of the container's writable rootfs layer. */
  SnapshotKey?: string;
  /** tmpfs mounts (`--tmpfs`, `--mount type=tmpfs`) as requested, turned into OCI mounts at start. */
  TmpfsMounts?: import('./mount-request.js').MountRequest[];
}

/** A container's persisted record: Docker's `config.v2.json` / inspect shape plus {@link BerthContainerExtras}. */
export interface ContainerRecord {
  Id: string;
  /** With the leading slash, as Docker stores it: `/web`. */
  Name: string;
  Created: string;
  Path: string;
  Args: string[];
  State: ContainerState;
  Image: string;
  ResolvConfPath: string;
  HostnamePath: string;
  HostsPath: string;
  LogPath: string;
  RestartCount: number;
  Driver: string;
  Platform: string;
  Config: ContainerConfig;
  HostConfig: HostConfig;
  Mounts: MountPoint[];
  NetworkSettings: NetworkSettings;
  Berth?: BerthContainerExtras;
}

/** What a caller gives to create a record; the store fills ids, paths and state. */
export interface NewContainer {
  name?: string;
  image: string;
  path: string;
  args?: string[];
  config?: Partial<ContainerConfig>;
  hostConfig?: Partial<HostConfig>;
  mounts?: MountPoint[];
  networkSettings?: Partial<NetworkSettings>;
  anonymousVolumes?: string[];
  /** The id to use (64 hex digits, from the caller's `newId()`), so resources named after it can be made alongside; default a new one. */
  id?: string;
  /** berth's bookkeeping to record from the start (`SnapshotKey`, `TmpfsMounts`), in the same write as the record. */
  berth?: Partial<BerthContainerExtras>;
}

/** Options of {@link ContainerStore.list}. */
export interface ListContainersOptions {
  /** Include stopped containers (`ps -a`). */
  all?: boolean;
  /** Docker filters: id, name, status, label, exited, volume, network, ancestor. */
  filters?: Record<string, string[]>;
  /** Only the n most recently created (`ps -n`). */
  limit?: number;
}

/** How a process exited, for {@link ContainerStore.markExited}. */
export interface ExitInfo {
  exitCode: number;
  error?: string;
  oomKilled?: boolean;
}

/**
 * The persistent container metadata store. One directory per container,
 * `<root>/containers/<id>/`, holding `config.v2.json` (written atomically) and
 * the json-file log. Names are reserved exclusively in `<root>/names/`, so two
 * berth processes cannot take the same name.
 */
export interface ContainerStore {
  /** Creates a record in state `created`; throws `ERR_ENGINE_NAME_IN_USE` or `ERR_ENGINE_INVALID_NAME`. */
  create(spec: NewContainer): Promise<ContainerRecord>;
  /** Resolves a full id, a name (with or without `/`) or a unique id prefix, like docker. */
  get(ref: string): Promise<ContainerRecord>;
  /** Lists records, newest first. */
  list(opts?: ListContainersOptions): Promise<ContainerRecord[]>;
  /**
   * Read-modify-write of one record (serialised per container within this
   * process). Atomic for every reader; `sync: false` skips the fsync for run
   * state a machine crash makes stale anyway (the default fsyncs).
   */
  update(ref: string, mutate: (r: ContainerRecord) => void, opts?: { sync?: boolean }): Promise<ContainerRecord>;
  /** Records that the container's init process `pid` runs (and sets `extras` on `Berth`, in the same write; `PidStartTicks` from the runtime spares a /proc read). Run state: not fsynced. */
  markRunning(ref: string, pid: number, extras?: Partial<BerthContainerExtras>): Promise<ContainerRecord>;
  /** Records that the container's process exited. Run state: not fsynced. */
  markExited(ref: string, exit: ExitInfo): Promise<ContainerRecord>;
  /** Records pause / unpause (run state: not fsynced). */
  markPaused(ref: string, paused: boolean): Promise<ContainerRecord>;
  /** Renames a container; throws `ERR_ENGINE_NAME_IN_USE` when taken. */
  rename(ref: string, newName: string): Promise<ContainerRecord>;
  /** Removes the record, its directory and its name. */
  remove(ref: string): Promise<ContainerRecord>;
  /**
   * Compares recorded state with reality: a container recorded running or
   * paused whose pid is gone, or was reused by another process (start time in
   * /proc/<pid>/stat differs), is marked exited. Returns the ids it changed.
   */
  reconcile(): Promise<string[]>;
  /** The container's directory. */
  dir(id: string): string;
  /**
   * Takes container `id`'s run lock if no one holds it (it does not wait):
   * the process that starts a container holds it from before its start until
   * its exit is recorded (its supervisor), and a remove holds it while it
   * removes, so two processes never start one container at once nor remove
   * one being started or being stopped. Across processes (flock(2) on
   * `<dir>/run.lock`; the kernel drops it with its holder). Throws
   * `ERR_ENGINE_CONTAINER_NOT_FOUND` when the container is gone.
   */
  lockRun(id: string): RunLock | undefined;
}

/** A held run lock (see {@link ContainerStore.lockRun}); `release()` is idempotent. */
export interface RunLock {
  release(): void;
}

/**
 * The registry of which containers reference which volumes. The container
 * store fills it; the volume store refuses to remove referenced volumes.
 */
export interface VolumeReferences {
  /** Records that `containerId` uses `volume`. */
  add(volume: string, containerId: string): Promise<void>;
  /** Drops the reference. */
  release(volume: string, containerId: string): Promise<void>;
  /** The containers that reference `volume`. */
  holders(volume: string): Promise<string[]>;
}
