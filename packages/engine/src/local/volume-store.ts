/** Docker's `local` volume driver on the host filesystem, with a file-based reference registry. */
import fs from 'node:fs/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { VolumeReferences } from '../container.js';
import { InvalidArgumentError, InvalidFilterError, InvalidNameError, VolumeInUseError, VolumeMountError, VolumeNotFoundError } from '../errors.js';
import { atomicWriteJson, fsyncDir, readJsonIfExists } from '../internal/atomic.js';
import { labelMatches } from '../internal/prune-filters.js';
import { run } from '../internal/exec.js';
import { newId, rfc3339Nano, validName } from '../internal/ids.js';
import { withFlock } from '../internal/flock.js';
import { KeyedMutex } from '../internal/mutex.js';
import type { CreateVolumeOptions, PruneReport, PruneVolumesOptions, Volume, VolumeStore } from '../volume.js';

/** The label Docker 23+ puts on anonymous volumes. */
export const anonymousVolumeLabel = 'com.docker.volume.anonymous';

/** Notified after volume changes (the engine turns these into events). */
export type VolumeListener = (action: 'create' | 'destroy' | 'mount' | 'unmount', volume: Volume, containerId?: string) => void;

/** Options of {@link openLocalVolumeStore}. */
export interface LocalVolumeStoreOptions {
  /** The engine root; volumes live under `<root>/volumes`. */
  root: string;
  listener?: VolumeListener;
}

interface VolumeMeta { Name: string; Driver: 'local'; CreatedAt: string; Labels: Record<string, string>; Options: Record<string, string> }

/** Opens the {@link LocalVolumeStore} (creating `<root>/volumes`). */
export async function openLocalVolumeStore(opts: LocalVolumeStoreOptions): Promise<LocalVolumeStore> {
  const s = new LocalVolumeStore(opts);
  mkdirSync(s.volumesDir, { recursive: true, mode: 0o701 }); // synchronously: one local mkdir
  return s;
}

/**
 * The `local` driver, also the {@link VolumeReferences} registry:
 * `<root>/volumes/<name>/refs/<containerId>` marks a reference (kept while the
 * container exists), `<root>/volumes/<name>/users/<containerId>` a mount use.
 *
 * Several processes share the volumes (berth is daemonless): create, remove,
 * adding a reference, mount and unmount hold flock(2) on `<root>/volumes`
 * (see `#locked`), so a remove or prune never deletes a volume between
 * another process's check of it and its use, and the last unmount never
 * unmounts under a new user. A container's create passes its id as
 * `reference`, so its volumes are referenced from the moment they exist.
 */
export class LocalVolumeStore implements VolumeStore, VolumeReferences {
  /** `<root>/volumes`. */
  readonly volumesDir: string;
  readonly #listener: VolumeListener | undefined;
  readonly #mutex = new KeyedMutex();

  constructor(opts: LocalVolumeStoreOptions) {
    this.volumesDir = path.join(opts.root, 'volumes');
    this.#listener = opts.listener;
  }

  /**
   * Runs `fn` holding the volumes lock: within this process a promise chain,
   * across processes flock(2) on `<root>/volumes`. Every change that looks
   * at what exists or who uses it before it acts (create, remove, add a
   * reference, mount, unmount) holds it.
   */
  #locked<T>(fn: () => Promise<T>): Promise<T> {
    return this.#mutex.run('volumes', () => withFlock(this.volumesDir, 'directory', fn));
  }

  #dir(name: string): string {
    return path.join(this.volumesDir, name);
  }

  #toVolume(m: VolumeMeta): Volume {
    return {
      CreatedAt: m.CreatedAt, Driver: m.Driver, Labels: m.Labels, Mountpoint: path.join(this.#dir(m.Name), '_data'),
      Name: m.Name, Options: m.Options, Scope: 'local',
    };
  }

  async #meta(name: string): Promise<VolumeMeta> {
    if (!validName.test(name)) throw new VolumeNotFoundError(name);
    const m = await readJsonIfExists<VolumeMeta>(path.join(this.#dir(name), 'volume.json'));
    if (!m) throw new VolumeNotFoundError(name);
    return m;
  }

  async create(opts: CreateVolumeOptions = {}): Promise<Volume> {
    const driver = opts.driver ?? 'local';
    if (driver !== 'local') throw new InvalidArgumentError('volume driver', driver, 'only the "local" driver exists');
    const anonymous = opts.name === undefined || opts.name === '';
    const name = anonymous ? newId() : opts.name!;
    if (!validName.test(name) || name.length < 2) throw new InvalidNameError('volume', name);
    const options = { ...(opts.options ?? {}) };
    for (const k of Object.keys(options)) {
      if (!['type', 'device', 'o', 'size'].includes(k)) throw new InvalidArgumentError('volume option', k, 'the local driver knows type, device, o');
    }
    if ((options.type || options.device) && !(options.type && options.device)) {
      throw new InvalidArgumentError('volume options', options, 'type and device go together');
    }
    const reference = opts.reference;
    if (reference !== undefined && !/^[0-9a-f]{64}$/.test(reference)) throw new InvalidArgumentError('volume reference', reference, 'must be a 64-hex container id');
    return this.#locked(async () => {
      const existing = await readJsonIfExists<VolumeMeta>(path.join(this.#dir(name), 'volume.json'));
      if (existing) {
        if (reference !== undefined) writeFileSync(path.join(this.#dir(name), 'refs', reference), '');
        return this.#toVolume(existing);
      }
      const meta: VolumeMeta = {
        Name: name, Driver: 'local', CreatedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        Labels: { ...(opts.labels ?? {}), ...(anonymous ? { [anonymousVolumeLabel]: '' } : {}) }, Options: options,
      };
      const dir = this.#dir(name);
      await fs.mkdir(path.join(dir, '_data'), { recursive: true, mode: 0o755 });
      await fs.mkdir(path.join(dir, 'refs'), { recursive: true });
      await fs.mkdir(path.join(dir, 'users'), { recursive: true });
      if (reference !== undefined) writeFileSync(path.join(dir, 'refs', reference), '');
      await atomicWriteJson(path.join(dir, 'volume.json'), meta);
      await fsyncDir(this.volumesDir);
      const v = this.#toVolume(meta);
      this.#listener?.('create', v);
      return v;
    });
  }

  async inspect(name: string): Promise<Volume> {
    return this.#toVolume(await this.#meta(name));
  }

  async list(opts: { filters?: Record<string, string[]> } = {}): Promise<Volume[]> {
    const out: Volume[] = [];
    for (const name of (await fs.readdir(this.volumesDir)).sort()) {
      const m = await readJsonIfExists<VolumeMeta>(path.join(this.#dir(name), 'volume.json')).catch(() => undefined);
      if (m) out.push(this.#toVolume(m));
    }
    const filters = opts.filters ?? {};
    const result: Volume[] = [];
    for (const v of out) if (await this.#matches(v, filters)) result.push(v);
    return result;
  }

  async #matches(v: Volume, filters: Record<string, string[]>): Promise<boolean> {
    for (const [key, values] of Object.entries(filters)) {
      if (!values.length) continue;
      switch (key) {
        case 'name': if (!values.some((x) => v.Name.includes(x))) return false; break;
        case 'driver': if (!values.some((x) => v.Driver === x)) return false; break;
        case 'label': if (!values.some((x) => labelMatches(v.Labels, x))) return false; break;
        case 'label!': if (values.some((x) => labelMatches(v.Labels, x))) return false; break;
        case 'dangling': {
          const dangling = (await this.holders(v.Name)).length === 0;
          if (!values.some((x) => (x === 'true' || x === '1') === dangling)) return false;
          break;
        }
        case 'all': break;
        default: throw new InvalidFilterError(key, 'unknown filter key');
      }
    }
    return true;
  }

  async remove(name: string, opts: { force?: boolean } = {}): Promise<void> {
    const trash = path.join(this.volumesDir, `.removing-${name}-${newId().slice(0, 8)}`);
    const meta = await this.#locked(async () => {
      let m: VolumeMeta;
      try {
        m = await this.#meta(name);
      } catch (e) {
        if (opts.force && e instanceof VolumeNotFoundError) return undefined;
        throw e;
      }
      const holders = await this.holders(name);
      if (holders.length) throw new VolumeInUseError(name, holders);
      await this.#unmountIfMounted(name);
      await fs.rename(this.#dir(name), trash);
      await fsyncDir(this.volumesDir);
      return m;
    });
    if (!meta) return;
    // The content goes after the lock: the volume is gone for every process once renamed.
    await fs.rm(trash, { recursive: true, force: true });
    this.#listener?.('destroy', this.#toVolume(meta));
  }

  async prune(opts: PruneVolumesOptions = {}): Promise<PruneReport> {
    const report: PruneReport = { VolumesDeleted: [], SpaceReclaimed: 0 };
    const all = opts.all || (opts.filters?.all ?? []).some((v) => v === 'true' || v === '1');
    const filters = { ...(opts.filters ?? {}) };
    delete filters.all;
    for (const v of await this.list({ filters })) {
      if (!all && !(anonymousVolumeLabel in v.Labels)) continue;
      if ((await this.holders(v.Name)).length) continue;
      const size = await duBytes(v.Mountpoint);
      try {
        await this.remove(v.Name);
      } catch (e) {
        if (e instanceof VolumeInUseError) continue;
        throw e;
      }
      report.VolumesDeleted.push(v.Name);
      report.SpaceReclaimed += size;
    }
    return report;
  }

  async mount(name: string, containerId: string): Promise<string> {
    return this.#locked(async () => {
      const meta = await this.#meta(name);
      const mp = path.join(this.#dir(name), '_data');
      const usersDir = path.join(this.#dir(name), 'users');
      const users = await fs.readdir(usersDir);
      if (meta.Options.type && users.length === 0 && !(await isMountPoint(mp))) {
        // Like docker's local driver: mount -t <type> -o <o> <device> <mountpoint>.
        const args = ['-t', meta.Options.type];
        if (meta.Options.o) args.push('-o', meta.Options.o);
        args.push(meta.Options.device!, mp);
        try {
          await run('mount', args);
        } catch (e) {
          throw new VolumeMountError(name, { cause: e, details: { options: meta.Options } });
        }
      }
      await fs.writeFile(path.join(usersDir, containerId), '');
      this.#listener?.('mount', this.#toVolume(meta), containerId);
      return mp;
    });
  }

  async unmount(name: string, containerId: string): Promise<void> {
    return this.#locked(async () => {
      const meta = await this.#meta(name);
      const usersDir = path.join(this.#dir(name), 'users');
      await fs.rm(path.join(usersDir, containerId), { force: true });
      if ((await fs.readdir(usersDir)).length === 0 && meta.Options.type) await this.#unmountIfMounted(name);
      this.#listener?.('unmount', this.#toVolume(meta), containerId);
    });
  }

  async #unmountIfMounted(name: string): Promise<void> {
    const mp = path.join(this.#dir(name), '_data');
    if (await isMountPoint(mp)) {
      try {
        await run('umount', [mp]);
      } catch (e) {
        throw new VolumeMountError(name, { cause: e, details: { op: 'umount' } });
      }
    }
  }

  // VolumeReferences

  async add(volume: string, containerId: string): Promise<void> {
    // Under the lock: a remove or prune of another process checks the holders and removes under it too.
    await this.#locked(async () => {
      await this.#meta(volume);
      writeFileSync(path.join(this.#dir(volume), 'refs', containerId), '');
    });
  }

  async release(volume: string, containerId: string): Promise<void> {
    await fs.rm(path.join(this.#dir(volume), 'refs', containerId), { force: true });
  }

  async holders(volume: string): Promise<string[]> {
    return (await fs.readdir(path.join(this.#dir(volume), 'refs')).catch(() => [] as string[])).sort();
  }
}

/** Is `p` a mount point? Compares against /proc/self/mountinfo (field 5 is the mount point). */
export async function isMountPoint(p: string): Promise<boolean> {
  const info = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const real = await fs.realpath(p).catch(() => p);
  return info.split('\n').some((line) => unescapeMountPath(line.split(' ')[4] ?? '') === real);
}

function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

async function duBytes(dir: string): Promise<number> {
  let total = 0;
  const entries = await fs.readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isFile()) continue;
    const st = await fs.lstat(path.join(e.parentPath, e.name)).catch(() => undefined);
    total += st?.size ?? 0;
  }
  return total;
}
