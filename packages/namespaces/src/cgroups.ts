/**
 * cgroups v1 and v2 behind one manager interface, with an injectable root.
 *
 * {@link openCgroup} picks the backend by detection: v2 when the root
 * (default `/sys/fs/cgroup`) is a cgroup2 mount, v1 when v1 hierarchies are
 * mounted under it, including hybrid hosts (v1 controllers plus a cgroup2
 * mount at `<root>/unified`, where tasks are placed too). A root with no
 * cgroup mount (a test's fake tree) is v2 when it has `cgroup.controllers`.
 *
 * The Rust side (`native/core/src/cgroups`) is the same code the runtime uses
 * in the cloned child's parent; this is its typed wrapper.
 */
import os from 'node:os';
import type { LinuxResources } from '@berth/oci-spec';
import { binding } from './native.js';
import { awaitNative, callNative, NamespacesInvalidArgumentError } from './errors.js';

/** The cgroup hierarchy a manager drives. */
export type CgroupVersion = 'v1' | 'v2';

/** The freezer state of a cgroup. */
export type FreezerState = 'thawed' | 'freezing' | 'frozen';

/** Options of {@link openCgroup}. */
export interface OpenCgroupOptions {
  /** The cgroup root. Default `/sys/fs/cgroup`; tests point it at a fake tree. */
  root?: string;
  /** Forces a backend instead of detecting it. */
  version?: CgroupVersion;
}

/** Memory statistics, in bytes. */
export interface CgroupMemoryStats {
  /** v1 `memory.usage_in_bytes`, v2 `memory.current`. */
  usage: number;
  /** The limit; null when unlimited. */
  limit: number | null;
  /** Peak usage: v1 `memory.max_usage_in_bytes`, v2 `memory.peak` (null where absent). */
  maxUsage: number | null;
  /** Swap in use, when the kernel accounts it; else null. */
  swapUsage: number | null;
  /** Times the limit was hit: v1 `memory.failcnt`, v2 `memory.events` max. */
  failcnt: number;
  /** OOM kills in the cgroup. */
  oomKill: number;
}

/** CPU statistics, in nanoseconds. */
export interface CgroupCpuStats {
  usageNs: number;
  userNs: number;
  systemNs: number;
  nrPeriods: number;
  nrThrottled: number;
  throttledNs: number;
}

/** Pids statistics. */
export interface CgroupPidsStats {
  current: number;
  /** null when unlimited. */
  limit: number | null;
}

/** What {@link CgroupManager.stats} returns. */
export interface CgroupStats {
  memory: CgroupMemoryStats;
  cpu: CgroupCpuStats;
  pids: CgroupPidsStats;
}

interface CgroupBinding {
  cgDetect(root: string | null): CgroupVersion;
  cgInfo(path: string, root: string | null, version: string | null): { version: CgroupVersion; path: string };
  cgCreate(path: string, root: string | null, version: string | null): void;
  cgAddTask(path: string, root: string | null, version: string | null, pid: number): void;
  cgApply(path: string, root: string | null, version: string | null, resources: string): void;
  cgFreezerState(path: string, root: string | null, version: string | null): FreezerState;
  cgStats(path: string, root: string | null, version: string | null): string;
  cgPids(path: string, root: string | null, version: string | null): number[];
  cgOomKilled(path: string, root: string | null, version: string | null): boolean;
  cgFreeze(path: string, root: string | null, version: string | null): Promise<void>;
  cgThaw(path: string, root: string | null, version: string | null): Promise<void>;
  cgKillAll(path: string, root: string | null, version: string | null, signal: number): Promise<void>;
  cgRemove(path: string, root: string | null, version: string | null): Promise<void>;
}

const native = (): CgroupBinding => binding<CgroupBinding>();

function signalNumber(signal: NodeJS.Signals | number): number {
  const n = typeof signal === 'number' ? signal : (os.constants.signals as Record<string, number>)[signal];
  if (n === undefined || !Number.isInteger(n) || n < 1 || n > 64) throw new NamespacesInvalidArgumentError(`unknown signal ${String(signal)}`);
  return n;
}

/**
 * One container's cgroup in every hierarchy the backend drives.
 *
 * Order of use: `create()` → `apply(resources)` → `addTask(pid)` … `freeze()` /
 * `thaw()`, `stats()` … `killAll()` → `remove()`. Calls that wait for the
 * kernel are async and run on a native thread of their own.
 */
export class CgroupManager {
  /** The cgroups path, normalised (`/berth/<id>` for a relative one). */
  readonly path: string;
  /** The backend in use. */
  readonly version: CgroupVersion;
  /** The cgroup root. */
  readonly root: string;
  readonly #args: [string, string | null, string | null];

  /** Use {@link openCgroup}. */
  constructor(path: string, version: CgroupVersion, root: string) {
    this.path = path;
    this.version = version;
    this.root = root;
    this.#args = [path, root, version];
  }

  /** Creates the cgroup directories (idempotent); on v1 copies the parent's cpuset. */
  create(): void {
    callNative(() => native().cgCreate(...this.#args));
  }

  /** Moves `pid` into the cgroup (`cgroup.procs` of every hierarchy). */
  addTask(pid: number): void {
    callNative(() => native().cgAddTask(...this.#args, pid));
  }

  /** Writes OCI `linux.resources`; absent fields are left alone. */
  apply(resources: LinuxResources): void {
    callNative(() => native().cgApply(...this.#args, JSON.stringify(resources)));
  }

  /** Freezes every task; resolves once the kernel reports the cgroup frozen. */
  freeze(): Promise<void> {
    return awaitNative(() => native().cgFreeze(...this.#args));
  }

  /** Thaws the cgroup; resolves once it is thawed. */
  thaw(): Promise<void> {
    return awaitNative(() => native().cgThaw(...this.#args));
  }

  /** The current freezer state. */
  freezerState(): FreezerState {
    return callNative(() => native().cgFreezerState(...this.#args));
  }

  /** Memory, cpu and pids statistics. */
  stats(): CgroupStats {
    return JSON.parse(callNative(() => native().cgStats(...this.#args))) as CgroupStats;
  }

  /** The pids in the cgroup and its descendants, sorted. */
  pids(): number[] {
    return callNative(() => native().cgPids(...this.#args));
  }

  /**
   * Sends `signal` (default SIGKILL) to every task. With SIGKILL on v2 this
   * is `cgroup.kill`; otherwise the cgroup is frozen around the signalling
   * so no task can fork away from it.
   */
  async killAll(signal: NodeJS.Signals | number = 'SIGKILL'): Promise<void> {
    const n = signalNumber(signal);
    return await awaitNative(() => native().cgKillAll(...this.#args, n));
  }

  /** Removes the cgroup and its sub-cgroups, retrying rmdir on EBUSY for about two seconds. */
  remove(): Promise<void> {
    return awaitNative(() => native().cgRemove(...this.#args));
  }

  /** Has the kernel OOM-killed a task in this cgroup? */
  oomKilled(): boolean {
    return callNative(() => native().cgOomKilled(...this.#args));
  }
}

/**
 * Opens the cgroup at `path` (an OCI `cgroupsPath`: absolute paths are taken
 * from the root of each hierarchy, relative ones go under `/berth`). Creates
 * nothing; call {@link CgroupManager.create}.
 */
export function openCgroup(path: string, opts: OpenCgroupOptions = {}): CgroupManager {
  const root = opts.root ?? '/sys/fs/cgroup';
  const info = callNative(() => native().cgInfo(path, root, opts.version ?? null));
  return new CgroupManager(info.path, info.version, root);
}

/** The cgroup version at `root` (default `/sys/fs/cgroup`); hybrid hosts are `v1`. */
export function detectCgroupVersion(root?: string): CgroupVersion {
  return callNative(() => native().cgDetect(root ?? null));
}
