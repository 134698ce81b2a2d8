/**
 * The container runtime: the OCI lifecycle (created → running → stopped)
 * over the native addon. {@link createContainer} clones a child in Rust
 * that sets up namespaces, rootfs and the process and then waits before
 * exec; {@link Container.start} lets it exec. State lives under a runtime
 * root (default `/run/berth-runtime`) in runc's `state` shape, so the
 * `berth-runtime` CLI and this API see the same containers.
 */
import type { Readable, Writable } from 'node:stream';
import type { ReadStream } from 'node:tty';
import type { RuntimeProcess, RuntimeSpec } from '@berth/oci-spec';

/** The default runtime root. */
export const DEFAULT_RUNTIME_ROOT = '/run/berth-runtime';

/** How a container process gets its stdio. */
export type StdioMode = 'inherit' | 'ignore' | 'pipe' | 'pty';

/** Options of {@link createContainer} and {@link runContainer}. */
export interface CreateContainerOptions {
  /** The bundle directory: a relative `root.path` and bind sources resolve against it. */
  bundle: string;
  /** The runtime root holding the state; default {@link DEFAULT_RUNTIME_ROOT}. */
  root?: string;
  /** Stdio of the process; `pty` is implied by `process.terminal`. Default `inherit`. */
  stdio?: StdioMode;
  /** Initial pty size. */
  consoleSize?: { rows: number; cols: number };
  /** Use MS_MOVE + chroot instead of pivot_root. */
  noPivot?: boolean;
}

/** Options of {@link Container.exec}. */
export interface ExecOptions {
  stdio?: StdioMode;
  consoleSize?: { rows: number; cols: number };
}

/** How a process ended. */
export interface ExitStatus {
  /** The exit code, or null when a signal killed it (or the process was not our child). */
  exitCode: number | null;
  /** The signal that killed it, or null. */
  signal: NodeJS.Signals | null;
  /** The kernel OOM-killed a task of the container's cgroup. */
  oomKilled: boolean;
}

/** A container's state, as `runc state` prints it plus berth fields. */
export interface ContainerState {
  ociVersion: string;
  id: string;
  status: 'created' | 'running' | 'paused' | 'stopped';
  pid: number;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations: Record<string, string>;
  cgroupsPath?: string;
  pidStartTime: number;
}

/** The stdio of a container process, as Node streams. */
export interface ProcessStdio {
  /** With `pipe`: the write end of the process's stdin. */
  stdin?: Writable;
  /** With `pipe`: its stdout. */
  stdout?: Readable;
  /** With `pipe`: its stderr. */
  stderr?: Readable;
  /** With `pty`: the master side, readable and writable. */
  pty?: ReadStream;
}

/** A process started in a container by {@link Container.exec}. */
export interface ContainerProcess {
  /** Its pid on the host. */
  readonly pid: number;
  readonly stdio: ProcessStdio;
  /** Resolves when it exits (waited on a dedicated thread). */
  wait(): Promise<ExitStatus>;
  /** Sends a signal. */
  kill(signal?: NodeJS.Signals | number): void;
  /** Resizes its pty. */
  resize(rows: number, cols: number): void;
}

/** A container. Obtained from {@link createContainer}, {@link runContainer} or {@link loadContainer}. */
export interface Container extends ContainerProcess {
  readonly id: string;
  readonly root: string;
  /**
   * The init's start time in clock ticks since boot (field 22 of
   * `/proc/<pid>/stat`), read at create while the init waited: with `pid` it
   * names the process even after pid reuse, without reading /proc again
   * (which stalls while the process execs or exits).
   */
  readonly pidStartTime: number;
  /** Lets a created container exec its process. */
  start(): Promise<void>;
  /** Signals the init process, or with `all` every process of the cgroup. */
  kill(signal?: NodeJS.Signals | number, options?: { all?: boolean }): void;
  /** Its state now. */
  state(): Promise<ContainerState>;
  /** Removes a stopped container (with `force`, kills it first). */
  delete(options?: { force?: boolean }): Promise<void>;
  /** Runs another process in the running container. */
  exec(process: RuntimeProcess, options?: ExecOptions): Promise<ContainerProcess>;
  /** Freezes it (cgroup freezer). */
  pause(): Promise<void>;
  /** Thaws it. */
  resume(): Promise<void>;
  /** Host pids of its processes. */
  pids(): Promise<number[]>;
}

export type { RuntimeProcess, RuntimeSpec };
export { createContainer, runContainer, loadContainer, listContainers } from './clone/container.js';
