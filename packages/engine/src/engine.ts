/**
 * The Engine facade: one object giving access to each injected subsystem,
 * plus the Docker-level services composed from them.
 */
import type { ContainerRecord, ContainerStore, ListContainersOptions, PortBinding } from './container.js';
import type { EventBus } from './event.js';
import type { LogEntry, ReadLogsOptions } from './log.js';
import type { Endpoint, NetworkManager } from './network.js';
import type { VolumeStore } from './volume.js';

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
  /** Not wired until @berth/namespaces, @berth/image-store and @berth/cow-fs are composed here. */
  create(opts: unknown): Promise<never>;
  start(ref: string): Promise<never>;
  stop(ref: string, opts?: { timeout?: number; signal?: string }): Promise<never>;
  kill(ref: string, signal?: string): Promise<never>;
  restart(ref: string): Promise<never>;
  pause(ref: string): Promise<never>;
  unpause(ref: string): Promise<never>;
  wait(ref: string): Promise<never>;
  exec(ref: string, cmd: string[]): Promise<never>;
  attach(ref: string): Promise<never>;
  top(ref: string): Promise<never>;
  stats(ref: string): Promise<never>;
  commit(ref: string): Promise<never>;
  copy(ref: string): Promise<never>;
  prune(): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }>;
}

/** Image operations; none are wired until @berth/image-store, @berth/registry-client and @berth/cow-fs land. */
export interface ImageService {
  pull(ref: string): Promise<never>;
  push(ref: string): Promise<never>;
  list(): Promise<never>;
  inspect(ref: string): Promise<never>;
  history(ref: string): Promise<never>;
  tag(source: string, target: string): Promise<never>;
  remove(ref: string): Promise<never>;
  prune(): Promise<never>;
  save(refs: string[]): Promise<never>;
  load(): Promise<never>;
  import(): Promise<never>;
}

/** Networks plus container-level connect/disconnect (`docker network connect`). */
export interface NetworkService extends NetworkManager {
  /**
   * Connects a container: a running container with a sandbox gets a CNI
   * endpoint now; a stopped one is only recorded in its NetworkSettings
   * (attached when it starts), as Docker does.
   */
  connect(network: string, container: string, opts?: { aliases?: string[]; ipv4Address?: string }): Promise<Endpoint | undefined>;
  /** Disconnects a container (DEL for a live endpoint, and the record). */
  disconnect(network: string, container: string, opts?: { force?: boolean }): Promise<void>;
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
  volumeStore?: VolumeStore;
  networkManager?: NetworkManager;
  eventBus?: EventBus;
  /** CNI plugin directories for the default network manager. */
  cniPluginDirs?: string[];
  /** Default bridge network settings for the default network manager. */
  defaultBridge?: string;
  defaultSubnet?: string;
  subnetPool?: string;
  /** Fix recorded state against reality on open (default true). */
  reconcile?: boolean;
}

export type { PortBinding };
