/**
 * The clone-based implementation of {@link Container}: thin calls into the
 * addon's `runtime*` functions, with stdio fds wrapped as Node streams.
 */
import net from 'node:net';
import os from 'node:os';
import tty from 'node:tty';
import { binding } from '../native.js';
import { fromNative } from '../errors.js';
import {
  DEFAULT_RUNTIME_ROOT,
  type Container, type ContainerProcess, type ContainerState, type CreateContainerOptions, type ExecOptions,
  type ExitStatus, type ProcessStdio, type RuntimeProcess, type RuntimeSpec, type StdioMode,
} from '../runtime.js';

interface Spawned { pid: number; state?: string; fds?: [number, number, number]; pty?: number }
interface WaitReport { exitCode?: number | null; signal?: number | null; oomKilled?: boolean; error?: Error }

type Callback<T> = (err: Error | null, value: T) => void;

interface RuntimeBinding {
  runtimeCreate(o: { id: string; root?: string; bundle: string; spec: string; stdio?: StdioMode; rows?: number; cols?: number; noPivot?: boolean; start?: boolean }, cb: Callback<Spawned>): void;
  runtimeStart(root: string, id: string): string;
  runtimeStartAsync(root: string, id: string, cb: Callback<string>): void;
  runtimeState(root: string, id: string): string;
  runtimeList(root: string): string;
  runtimeKill(root: string, id: string, sig: number, all: boolean): void;
  runtimeDelete(root: string, id: string, force: boolean): void;
  runtimeDeleteAsync(root: string, id: string, force: boolean, cb: Callback<undefined>): void;
  runtimePause(root: string, id: string): void;
  runtimeResume(root: string, id: string): void;
  runtimePids(root: string, id: string): string;
  runtimeExec(o: { root: string; id: string; process: string; stdio?: StdioMode; rows?: number; cols?: number }, cb: Callback<Spawned>): void;
  runtimeWait(pid: number, isChild: boolean, cgroupsPath: string | null, cb: (r: WaitReport) => void): void;
  ptyResize(fd: number, rows: number, cols: number): void;
}

const signalNames: Record<number, NodeJS.Signals> = Object.fromEntries(
  Object.entries(os.constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw fromNative(e);
  }
}

function rt(): RuntimeBinding {
  return binding<RuntimeBinding>();
}

/** Calls an addon function that finishes on its own thread and reports through `cb`. */
function callAsync<T>(start: (cb: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    try {
      start((err, value) => (err ? reject(fromNative(err)) : resolve(value)));
    } catch (e) {
      reject(fromNative(e));
    }
  });
}

function signalNumber(sig: NodeJS.Signals | number | undefined): number {
  if (sig === undefined) return os.constants.signals.SIGTERM;
  if (typeof sig === 'number') return sig;
  const n = os.constants.signals[sig];
  if (n === undefined) throw new TypeError(`unknown signal ${sig}`);
  return n;
}

function wrapStdio(s: Spawned): ProcessStdio {
  const out: ProcessStdio = {};
  if (s.fds) {
    out.stdin = new net.Socket({ fd: s.fds[0], readable: false, writable: true });
    out.stdout = new net.Socket({ fd: s.fds[1], readable: true, writable: false });
    out.stderr = new net.Socket({ fd: s.fds[2], readable: true, writable: false });
  }
  if (s.pty !== undefined) {
    out.pty = new tty.ReadStream(s.pty);
  }
  return out;
}

class NativeProcess implements ContainerProcess {
  readonly pid: number;
  readonly stdio: ProcessStdio;
  protected readonly isChild: boolean;
  protected cgroupsPath: string | null = null;
  protected ptyFd: number | undefined;
  #exit: Promise<ExitStatus> | undefined;

  constructor(s: Spawned, isChild: boolean) {
    this.pid = s.pid;
    this.isChild = isChild;
    this.ptyFd = s.pty;
    this.stdio = wrapStdio(s);
  }

  wait(): Promise<ExitStatus> {
    this.#exit ??= new Promise((resolve, reject) => {
      call(() => rt().runtimeWait(this.pid, this.isChild, this.cgroupsPath, (r) => {
        if (r.error) reject(fromNative(r.error));
        else resolve({ exitCode: r.exitCode ?? null, signal: r.signal == null ? null : signalNames[r.signal] ?? null, oomKilled: r.oomKilled === true });
      }));
    });
    return this.#exit;
  }

  protected get waiting(): boolean {
    return this.#exit !== undefined;
  }

  kill(signal?: NodeJS.Signals | number): void {
    process.kill(this.pid, signalNumber(signal));
  }

  resize(rows: number, cols: number): void {
    if (this.ptyFd === undefined) throw new TypeError('the process has no pty');
    call(() => rt().ptyResize(this.ptyFd as number, rows, cols));
  }
}

class NativeContainer extends NativeProcess implements Container {
  readonly id: string;
  readonly root: string;
  readonly pidStartTime: number;

  constructor(id: string, root: string, s: Spawned, state: ContainerState, isChild: boolean) {
    super(s, isChild);
    this.id = id;
    this.root = root;
    this.pidStartTime = state.pidStartTime;
    this.cgroupsPath = state.cgroupsPath ?? null;
  }

  async start(): Promise<void> {
    // On a thread: start waits for the init to be scheduled and signal the exec fifo.
    await callAsync<string>((cb) => rt().runtimeStartAsync(this.root, this.id, cb));
  }

  override kill(signal?: NodeJS.Signals | number, options: { all?: boolean } = {}): void {
    call(() => rt().runtimeKill(this.root, this.id, signalNumber(signal), options.all === true));
  }

  async state(): Promise<ContainerState> {
    return JSON.parse(call(() => rt().runtimeState(this.root, this.id))) as ContainerState;
  }

  async delete(options: { force?: boolean } = {}): Promise<void> {
    if (this.waiting) {
      // The wait thread reaps the init; let it, so its status is not lost.
      const st = await this.state();
      if (st.status !== 'stopped') {
        if (options.force !== true) call(() => rt().runtimeDelete(this.root, this.id, false));
        if (st.status === 'paused') await this.resume().catch(() => undefined);
        this.kill('SIGKILL', { all: true });
      }
      await this.wait().catch(() => undefined);
    }
    // On a thread: removing the cgroup and the state directory does not hold the event loop.
    await callAsync<undefined>((cb) => rt().runtimeDeleteAsync(this.root, this.id, options.force === true, cb));
    this.stdio.stdin?.destroy();
    this.stdio.pty?.destroy();
  }

  async exec(p: RuntimeProcess, options: ExecOptions = {}): Promise<ContainerProcess> {
    const s = await callAsync<Spawned>((cb) => rt().runtimeExec({
      root: this.root, id: this.id, process: JSON.stringify(p), stdio: options.stdio ?? 'inherit',
      ...(options.consoleSize ? { rows: options.consoleSize.rows, cols: options.consoleSize.cols } : {}),
    }, cb));
    return new NativeProcess(s, true);
  }

  async pause(): Promise<void> {
    call(() => rt().runtimePause(this.root, this.id));
  }

  async resume(): Promise<void> {
    call(() => rt().runtimeResume(this.root, this.id));
  }

  async pids(): Promise<number[]> {
    return JSON.parse(call(() => rt().runtimePids(this.root, this.id))) as number[];
  }
}

async function spawn(id: string, spec: RuntimeSpec, options: CreateContainerOptions, start: boolean): Promise<Container> {
  const root = options.root ?? DEFAULT_RUNTIME_ROOT;
  // The clone and the whole set-up run on a native thread: the event loop stays free.
  const s = await callAsync<Spawned>((cb) => rt().runtimeCreate({
    id, root, bundle: options.bundle, spec: JSON.stringify(spec), stdio: options.stdio ?? 'inherit',
    noPivot: options.noPivot === true, start,
    ...(options.consoleSize ? { rows: options.consoleSize.rows, cols: options.consoleSize.cols } : {}),
  }, cb));
  return new NativeContainer(id, root, s, JSON.parse(s.state as string) as ContainerState, true);
}

/**
 * Creates a container from an OCI runtime spec: namespaces, cgroup, rootfs
 * and process are set up; the process waits to exec until
 * {@link Container.start}. Set-up failures reject with a
 * `ContainerSetupError` carrying errno, syscall and path.
 */
export async function createContainer(id: string, spec: RuntimeSpec, options: CreateContainerOptions): Promise<Container> {
  return spawn(id, spec, options, false);
}

/** Creates and starts a container in one step (no exec fifo): resolves once the process has exec'd. */
export async function runContainer(id: string, spec: RuntimeSpec, options: CreateContainerOptions): Promise<Container> {
  return spawn(id, spec, options, true);
}

/** Opens an existing container (created by this process, another one, or the CLI). */
export async function loadContainer(root: string, id: string): Promise<Container> {
  const st = JSON.parse(call(() => rt().runtimeState(root, id))) as ContainerState;
  return new NativeContainer(id, root, { pid: st.pid }, st, false);
}

/** The states of every container under a runtime root. */
export async function listContainers(root: string = DEFAULT_RUNTIME_ROOT): Promise<ContainerState[]> {
  return JSON.parse(call(() => rt().runtimeList(root))) as ContainerState[];
}
