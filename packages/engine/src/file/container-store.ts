/**
 * The on-disk container store: `<root>/containers/<id>/config.v2.json`
 * (atomic writes), `<root>/names/<name>` (exclusive name reservations).
 *
 * Every write is atomic (temp + rename), so any process, and this one after
 * a restart, reads a whole record. Creation is also durable (record and
 * directory fsynced), except for an AutoRemove (`--rm`) container, whose
 * record exists only until the container exits and which a machine crash
 * ends anyway; removal (directory fsynced) and a rename are durable; run
 * state (markRunning/markExited/markPaused, reconcile) is not fsynced: a
 * machine crash ends every container anyway, and reconcile rewrites what
 * it left behind.
 *
 * Several processes share the store (berth is daemonless). A change of a
 * record (update, the marks, rename, remove) holds flock(2) on the
 * container's directory over its read-modify-write, so no process writes
 * back a record it read before another's change. Create holds that lock from
 * the directory's mkdir until the record is written, which is how another
 * process tells a name reservation being created from a stale one (a crash
 * between the two steps): only a stale one is taken over, and that under
 * flock on `<root>/names`, so that two processes never both take it.
 * Readers take no lock (records are replaced atomically).
 *
 * A record (a few KiB) is read, and run state written, with synchronous
 * calls: tens of microseconds on a local disk, where each of the four or
 * five trips through the libuv pool an async read or write takes costs a
 * wake-up of the event loop, which a busy machine makes long. The same for
 * the directories made at open and listed by lookups and reconcile. fsyncs
 * stay asynchronous.
 */
import fs from 'node:fs/promises';
import { closeSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { flock, flockExclusive, removeTreeSync } from '@berth/namespaces';
import path from 'node:path';
import type {
  BerthContainerExtras, ContainerRecord, ContainerStore, ExitInfo, ListContainersOptions, NewContainer, RunLock, VolumeReferences,
} from '../container.js';
import {
  AmbiguousIdError, ContainerNotFoundError, InvalidArgumentError, InvalidFilterError, InvalidNameError, NameInUseError, StateCorruptError,
} from '../errors.js';
import { atomicWriteJson, fsyncDir, removeFileSync } from '../internal/atomic.js';
import { newId, rfc3339Nano, validName } from '../internal/ids.js';
import { openLockTarget, withFlock } from '../internal/flock.js';
import { KeyedMutex } from '../internal/mutex.js';
import { randomName } from '../internal/names.js';
import { isSameProcessAlive, processStartTicks } from '../internal/proc.js';

/** Writes of run state: atomic, not fsynced (see the module comment). */
const runState = { sync: false } as const;

/** Docker's zero time, used for StartedAt/FinishedAt before they happen. */
export const zeroTime = '0001-01-01T00:00:00Z';
const configFile = 'config.v2.json';
/** The run lock's file in a container's directory (see {@link FileContainerStore.lockRun}). */
const runLockFile = 'run.lock';

/** Options of {@link openFileContainerStore}. */
export interface FileContainerStoreOptions {
  /** The engine root; records go under `<root>/containers`, names under `<root>/names`. */
  root: string;
  /** Filled on create/remove with the container's named volumes. */
  volumeReferences?: VolumeReferences;
}

/** Opens (creating directories as needed) the on-disk {@link ContainerStore}. */
export async function openFileContainerStore(opts: FileContainerStoreOptions): Promise<FileContainerStore> {
  const store = new FileContainerStore(opts);
  mkdirSync(store.containersDir, { recursive: true, mode: 0o710 });
  mkdirSync(store.namesDir, { recursive: true, mode: 0o700 });
  return store;
}

/** The {@link ContainerStore} on a local filesystem. Create with {@link openFileContainerStore}. */
export class FileContainerStore implements ContainerStore {
  /** `<root>/containers`. */
  readonly containersDir: string;
  /** `<root>/names`. */
  readonly namesDir: string;
  readonly #refs: VolumeReferences | undefined;
  readonly #mutex = new KeyedMutex();

  constructor(opts: FileContainerStoreOptions) {
    this.containersDir = path.join(opts.root, 'containers');
    this.namesDir = path.join(opts.root, 'names');
    this.#refs = opts.volumeReferences;
  }

  dir(id: string): string {
    return path.join(this.containersDir, id);
  }

  async create(spec: NewContainer): Promise<ContainerRecord> {
    if (spec.id !== undefined && !/^[0-9a-f]{64}$/.test(spec.id)) throw new InvalidArgumentError('container id', spec.id, 'must be 64 hex digits');
    const id = spec.id ?? newId();
    const dir = this.dir(id);
    // The directory comes first and stays locked until the record is written: another process that finds the
    // name taken by this id and no record yet sees the lock and leaves the name alone (see #holderLive).
    mkdirSync(dir, { mode: 0o710 });
    const lockFd = openLockTarget(dir, 'directory');
    let name: string | undefined;
    try {
      await flockExclusive(lockFd);
      name = await this.#reserveName(spec.name, id);
      const cfg = spec.config ?? {};
      const hc = spec.hostConfig ?? {};
      const record: ContainerRecord = {
        Id: id,
        Name: `/${name}`,
        Created: rfc3339Nano(),
        Path: spec.path,
        Args: spec.args ?? [],
        State: {
          Status: 'created', Running: false, Paused: false, Restarting: false, OOMKilled: false, Dead: false,
          Pid: 0, ExitCode: 0, Error: '', StartedAt: zeroTime, FinishedAt: zeroTime,
        },
        Image: spec.image,
        ResolvConfPath: path.join(dir, 'resolv.conf'),
        HostnamePath: path.join(dir, 'hostname'),
        HostsPath: path.join(dir, 'hosts'),
        LogPath: path.join(dir, `${id}-json.log`),
        RestartCount: 0,
        Driver: 'overlay',
        Platform: 'linux',
        Config: {
          Hostname: id.slice(0, 12), Domainname: '', User: '', AttachStdin: false, AttachStdout: false,
          AttachStderr: false, Tty: false, OpenStdin: false, StdinOnce: false, Env: [], Cmd: null, Image: spec.image,
          WorkingDir: '', Entrypoint: null, Labels: {}, ...cfg,
        },
        HostConfig: {
          Binds: null, NetworkMode: 'bridge', PortBindings: {}, AutoRemove: false,
          LogConfig: { Type: 'json-file', Config: {} }, RestartPolicy: { Name: 'no', MaximumRetryCount: 0 }, ...hc,
        },
        Mounts: spec.mounts ?? [],
        NetworkSettings: { SandboxID: '', SandboxKey: '', Ports: {}, Networks: {}, ...spec.networkSettings },
        Berth: { ...spec.berth, ...(spec.anonymousVolumes?.length ? { AnonymousVolumes: [...spec.anonymousVolumes] } : {}) },
      };
      // A --rm container's record lives only as long as the container: atomic, not fsynced (see the module comment).
      const durable = record.HostConfig.AutoRemove !== true;
      await atomicWriteJson(path.join(dir, configFile), record, { sync: durable });
      if (durable) await fsyncDir(this.containersDir);
      for (const m of record.Mounts) if (m.Type === 'volume' && m.Name) await this.#refs?.add(m.Name, id);
      return record;
    } catch (e) {
      // The name first: while the locked directory exists no other process takes the name over.
      if (name !== undefined) removeFileSync(path.join(this.namesDir, name));
      removeTreeSync(dir);
      throw e;
    } finally {
      closeSync(lockFd);
    }
  }

  /** Takes `name` (or a random one) exclusively for `id` by creating `<root>/names/<name>` with O_EXCL. */
  async #reserveName(requested: string | undefined, id: string): Promise<string> {
    if (requested !== undefined) {
      const name = requested.replace(/^\//, '');
      if (!validName.test(name)) throw new InvalidNameError('container', requested);
      await this.#claim(name, id);
      return name;
    }
    for (let i = 0; ; i++) {
      const name = randomName(i);
      try {
        await this.#claim(name, id);
        return name;
      } catch (e) {
        if (!(e instanceof NameInUseError) || i > 20) throw e;
      }
    }
  }

  /**
   * Creates `<root>/names/<name>` holding `id` with O_EXCL. A name whose holder
   * is gone (see {@link #holderLive}) is taken over under the names directory's
   * lock, so two processes never both remove it and each take it.
   */
  async #claim(name: string, id: string): Promise<void> {
    const file = path.join(this.namesDir, name);
    if (tryClaim(file, id)) return;
    await this.#mutex.run('\0names', () => withFlock(this.namesDir, 'directory', () => {
      for (;;) {
        let holder: string;
        try {
          holder = readFileSync(file, 'utf8').trim();
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
          if (tryClaim(file, id)) return;
          continue;
        }
        if (this.#holderLive(holder)) throw new NameInUseError(name, holder);
        removeFileSync(file);
        if (tryClaim(file, id)) return;
      }
    }));
  }

  /**
   * Whether the container `holder` of a name reservation exists or is being
   * created: its record is there, or its directory is locked (a creating
   * process holds that lock from before its claim until its record is
   * written). A reservation of a container whose directory is gone, or
   * unlocked without a record (its creator died between the two steps), is
   * stale. An empty reservation is a claim being written.
   */
  #holderLive(holder: string): boolean {
    if (holder === '') return true;
    const dir = this.dir(holder);
    if (existsSync(path.join(dir, configFile))) return true;
    let fd: number;
    try {
      fd = openLockTarget(dir, 'directory');
    } catch {
      return false;
    }
    try {
      return !flock(fd, 'exclusive') || existsSync(path.join(dir, configFile));
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Runs a read-modify-write of container `id`'s record holding its lock:
   * within this process a promise chain, across processes flock(2) on the
   * container's directory (a supervisor recording an exit, a rename and an
   * update in three processes each read the record the other wrote).
   */
  #locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.#mutex.run(id, async () => {
      let fd: number;
      try {
        fd = openLockTarget(this.dir(id), 'directory');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ContainerNotFoundError(id);
        throw e;
      }
      try {
        await flockExclusive(fd);
        return await fn();
      } finally {
        closeSync(fd);
      }
    });
  }

  lockRun(id: string): RunLock | undefined {
    let fd: number;
    try {
      fd = openLockTarget(path.join(this.dir(id), runLockFile), 'file');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ContainerNotFoundError(id);
      throw e;
    }
    if (!flock(fd, 'exclusive')) {
      closeSync(fd);
      return undefined;
    }
    let held = true;
    return {
      release() {
        if (!held) return;
        held = false;
        closeSync(fd);
      },
    };
  }

  async #read(id: string): Promise<ContainerRecord> {
    const file = path.join(this.dir(id), configFile);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ContainerNotFoundError(id);
      throw e;
    }
    try {
      return JSON.parse(text) as ContainerRecord;
    } catch (e) {
      throw new StateCorruptError(file, { cause: e });
    }
  }

  async #ids(): Promise<string[]> {
    const entries = readdirSync(this.containersDir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory() && /^[0-9a-f]{64}$/.test(e.name)).map((e) => e.name);
  }

  /** Resolves `ref` to a full id: exact id, then exact name, then unique id prefix (docker's order). */
  async resolve(ref: string): Promise<string> {
    if (/^[0-9a-f]{64}$/.test(ref) && existsSync(path.join(this.dir(ref), configFile))) return ref;
    const name = ref.replace(/^\//, '');
    if (validName.test(name)) {
      const holder = (await fs.readFile(path.join(this.namesDir, name), 'utf8').catch(() => '')).trim();
      if (holder && existsSync(path.join(this.dir(holder), configFile))) return holder;
    }
    if (/^[0-9a-f]+$/.test(ref)) {
      const matches = (await this.#ids()).filter((id) => id.startsWith(ref));
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) throw new AmbiguousIdError(ref, matches);
    }
    throw new ContainerNotFoundError(ref);
  }

  async get(ref: string): Promise<ContainerRecord> {
    return this.#read(await this.resolve(ref));
  }

  async list(opts: ListContainersOptions = {}): Promise<ContainerRecord[]> {
    for (const key of Object.keys(opts.filters ?? {})) {
      if (!containerFilterKeys.has(key)) throw new InvalidFilterError(key, 'unknown filter key');
    }
    const out: ContainerRecord[] = [];
    for (const id of await this.#ids()) {
      try {
        out.push(await this.#read(id));
      } catch (e) {
        if (e instanceof ContainerNotFoundError) continue; // removed while listing
        throw e;
      }
    }
    out.sort((a, b) => (a.Created < b.Created ? 1 : a.Created > b.Created ? -1 : 0));
    // A status or exited filter looks at stopped containers too, as `docker ps --filter status=exited` does.
    const all = opts.all || !!opts.filters?.status?.length || !!opts.filters?.exited?.length;
    let list = out.filter((r) => all || r.State.Running || r.State.Paused || r.State.Restarting);
    if (opts.filters) list = list.filter((r) => matchFilters(r, opts.filters!));
    return opts.limit !== undefined && opts.limit >= 0 ? list.slice(0, opts.limit) : list;
  }

  async update(ref: string, mutate: (r: ContainerRecord) => void, opts: { sync?: boolean } = {}): Promise<ContainerRecord> {
    const id = await this.resolve(ref);
    return this.#locked(id, async () => {
      const r = await this.#read(id);
      mutate(r);
      r.Id = id; // the id is not mutable
      await atomicWriteJson(path.join(this.dir(id), configFile), r, { sync: opts.sync });
      return r;
    });
  }

  async markRunning(ref: string, pid: number, extras: Partial<BerthContainerExtras> = {}): Promise<ContainerRecord> {
    // The runtime's reading, taken while the init waited to exec, is both cheaper and surer than /proc now (the
    // process may be exec'ing, which stalls the read, or already a zombie, which has no start time to read).
    const ticks = extras.PidStartTicks || (await processStartTicks(pid));
    return this.update(ref, (r) => {
      Object.assign(r.State, {
        Status: 'running', Running: true, Paused: false, Restarting: false, OOMKilled: false, Dead: false,
        Pid: pid, ExitCode: 0, Error: '', StartedAt: rfc3339Nano(),
      });
      r.Berth = { ...r.Berth, ...extras, PidStartTicks: ticks };
    }, runState);
  }

  async markExited(ref: string, exit: ExitInfo): Promise<ContainerRecord> {
    return this.update(ref, (r) => {
      Object.assign(r.State, {
        Status: 'exited', Running: false, Paused: false, Restarting: false, OOMKilled: exit.oomKilled ?? false,
        Pid: 0, ExitCode: exit.exitCode, Error: exit.error ?? '', FinishedAt: rfc3339Nano(),
      });
      if (r.Berth) clearLiveness(r.Berth);
    }, runState);
  }

  async markPaused(ref: string, paused: boolean): Promise<ContainerRecord> {
    return this.update(ref, (r) => {
      // A pause that raced the exit (its supervisor recorded the exit first): an exited container is never paused.
      if (paused && !r.State.Running) return;
      r.State.Paused = paused;
      r.State.Status = paused ? 'paused' : r.State.Running ? 'running' : r.State.Status;
    }, runState);
  }

  async rename(ref: string, newName: string): Promise<ContainerRecord> {
    const id = await this.resolve(ref);
    const name = newName.replace(/^\//, '');
    if (!validName.test(name)) throw new InvalidNameError('container', newName);
    return this.#locked(id, async () => {
      const r = await this.#read(id);
      const old = r.Name.replace(/^\//, '');
      if (old === name) return r;
      await this.#claim(name, id);
      r.Name = `/${name}`;
      try {
        await atomicWriteJson(path.join(this.dir(id), configFile), r);
      } catch (e) {
        await fs.rm(path.join(this.namesDir, name), { force: true });
        throw e;
      }
      await fs.rm(path.join(this.namesDir, old), { force: true });
      await fsyncDir(this.namesDir);
      return r;
    });
  }

  async remove(ref: string): Promise<ContainerRecord> {
    const id = await this.resolve(ref);
    return this.#locked(id, async () => {
      const r = await this.#read(id);
      for (const m of r.Mounts) if (m.Type === 'volume' && m.Name) await this.#refs?.release(m.Name, id);
      const nameFile = path.join(this.namesDir, r.Name.replace(/^\//, ''));
      let holder = '';
      try {
        holder = readFileSync(nameFile, 'utf8').trim();
      } catch {
        // no reservation
      }
      if (holder === id) removeFileSync(nameFile);
      // Rename the directory away first so a crash never leaves a half-removed record visible.
      const trash = path.join(this.containersDir, `.removing-${id}`);
      renameSync(this.dir(id), trash);
      // The removal is durable once the directory is synced; the trash goes meanwhile (reconcile clears leftovers).
      const synced = fsyncDir(this.containersDir);
      try {
        removeTreeSync(trash); // a few small files: a few syscalls (fs.rmSync would load Node's rimraf first)
      } finally {
        await synced;
      }
      return r;
    });
  }

  async reconcile(): Promise<string[]> {
    const changed: string[] = [];
    for (const entry of readdirSync(this.containersDir)) {
      if (entry.startsWith('.removing-')) await fs.rm(path.join(this.containersDir, entry), { recursive: true, force: true });
    }
    for (const r of await this.list({ all: true })) {
      if (!(r.State.Running || r.State.Paused || r.State.Restarting)) continue;
      if (await isSameProcessAlive(r.State.Pid, r.Berth?.PidStartTicks)) continue;
      // The process is gone, but its supervisor records the real exit status: leave that to it.
      if (await isSupervisorAlive(r)) continue;
      let vanished = false;
      const marked = await this.update(r.Id, (rec) => {
        // Re-checked under the record's lock: the supervisor may have recorded the exit meanwhile, or another process
        // started the container again (a new pid) since the checks above.
        if (!(rec.State.Running || rec.State.Paused || rec.State.Restarting)) return;
        if (rec.State.Pid !== r.State.Pid || rec.Berth?.PidStartTicks !== r.Berth?.PidStartTicks) return;
        Object.assign(rec.State, {
          Status: 'exited', Running: false, Paused: false, Restarting: false, Pid: 0,
          // The real status is lost with the process; 255 is what Docker shows for an unknown exit.
          ExitCode: 255, Error: 'container process vanished while no engine was watching it', FinishedAt: rfc3339Nano(),
        });
        if (rec.Berth) clearLiveness(rec.Berth);
        vanished = true;
      }, runState);
      if (vanished) changed.push(marked.Id);
    }
    return changed;
  }
}

/** Creates the name reservation `file` holding `id`, unless it exists. */
function tryClaim(file: string, id: string): boolean {
  try {
    writeFileSync(file, id, { flag: 'wx', mode: 0o600 });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/** Forgets the pids of a container that is no longer running. */
function clearLiveness(b: NonNullable<ContainerRecord['Berth']>): void {
  delete b.PidStartTicks;
  delete b.SupervisorPid;
  delete b.SupervisorStartTicks;
}

/**
 * Whether the process that supervises `r` (and will record its exit) still
 * lives. A record without a supervisor (written by an older berth, or by a
 * caller of {@link FileContainerStore.markRunning} alone) has none.
 */
export async function isSupervisorAlive(r: ContainerRecord): Promise<boolean> {
  const pid = r.Berth?.SupervisorPid;
  if (pid === undefined) return false;
  return isSameProcessAlive(pid, r.Berth?.SupervisorStartTicks);
}


const containerFilterKeys = new Set(['id', 'name', 'status', 'exited', 'ancestor', 'label', 'volume', 'network']);

/** Applies `docker ps --filter` semantics: values of one key are OR-ed, keys are AND-ed. */
export function matchFilters(r: ContainerRecord, filters: Record<string, string[]>): boolean {
  for (const [key, values] of Object.entries(filters)) {
    if (values.length === 0) continue;
    const any = (pred: (v: string) => boolean) => values.some(pred);
    switch (key) {
      case 'id': if (!any((v) => r.Id.startsWith(v))) return false; break;
      case 'name': if (!any((v) => r.Name.slice(1).includes(v.replace(/^\//, '')))) return false; break;
      case 'status': if (!any((v) => r.State.Status === v)) return false; break;
      case 'exited': if (!any((v) => r.State.Status === 'exited' && r.State.ExitCode === Number(v))) return false; break;
      case 'ancestor': if (!any((v) => r.Config.Image === v || r.Image === v)) return false; break;
      case 'label': if (!any((v) => {
        const i = v.indexOf('=');
        return i < 0 ? v in r.Config.Labels : r.Config.Labels[v.slice(0, i)] === v.slice(i + 1);
      })) return false; break;
      case 'volume': if (!any((v) => r.Mounts.some((m) => m.Name === v || m.Destination === v))) return false; break;
      case 'network': if (!any((v) => v in r.NetworkSettings.Networks
        || Object.values(r.NetworkSettings.Networks).some((n) => n.NetworkID.startsWith(v)))) return false; break;
      default: throw new InvalidFilterError(key, 'unknown filter key');
    }
  }
  return true;
}
