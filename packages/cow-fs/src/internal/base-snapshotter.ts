/**
 * What the overlay and copy snapshotters share: the key/name/parent
 * bookkeeping, persisted metadata, locking, walk and cleanup. Backends
 * supply how a snapshot directory is made and how it is mounted.
 */
import fs from 'node:fs';
import { randomHex, throwIfAborted } from '@berth/oci-spec';
import {
  SnapshotAlreadyExistsError, SnapshotHasChildrenError, SnapshotInvalidArgumentError, SnapshotInvalidStateError,
  SnapshotNotFoundError, SnapshotterClosedError, SnapshotterUnsupportedError,
} from '../errors.js';
import {
  SnapshotKind, type Mount, type SnapshotInfo, type SnapshotOptions, type Snapshotter, type SnapshotterCapabilities, type Usage, type WalkFilter,
} from '../snapshotter.js';
import { diskUsage, readMetadata, writeMetadataAsync, type StoredMetadata, type StoredSnapshot } from './metadata.js';
import { SyncGroup, warmSyncThread } from './sync-group.js';
import { removeTree, removeTreeSync, spreadSubdirectories, umount } from './sys.js';
import { RootLock } from './root-lock.js';
import { publishSnapshotEvent } from '../diagnostics.js';

/** A snapshot with the ids of its committed ancestors, topmost first. */
export interface Resolved {
  key: string;
  snap: StoredSnapshot;
  /** Ids of the parent chain, nearest parent first. */
  parentIds: number[];
}

/** The base of berth's snapshotters; see {@link Snapshotter}. */
export abstract class BaseSnapshotter implements Snapshotter {
  protected meta: StoredMetadata;
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();
  protected readonly metaPath: string;
  protected readonly snapshotsDir: string;
  /** Where removed snapshots' directories wait for their deletion. */
  private readonly trashDir: string;
  /** Commits waiting for the disk at the same time share one syncfs, off the main thread. */
  private readonly syncGroup: SyncGroup;
  /** Commits in progress, by key: settles once that commit's record is made (a child's commit records after its parent's). */
  private readonly committing = new Map<string, Promise<void>>();
  /** The metadata write in flight, and the one that follows it (see persist). */
  private writing: Promise<void> | undefined;
  private writeStarted = false;
  private nextWrite: { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | undefined;
  /** Background deletions of removed snapshots' directories (see removeDir). */
  private readonly deleting = new Set<Promise<unknown>>();
  /** Shared with the other processes on this root (see RootLock): held from a change's start until its write is on disk. */
  private readonly lock: RootLock;
  /** A change is running (inside mutate): the lock stays held even when no write is in flight. */
  private mutating = false;
  abstract readonly capabilities: SnapshotterCapabilities;

  protected constructor(readonly root: string) {
    this.metaPath = `${root}/metadata.json`;
    this.trashDir = `${root}/trash`;
    this.snapshotsDir = `${root}/snapshots`;
    fs.mkdirSync(this.snapshotsDir, { recursive: true, mode: 0o700 });
    // Each snapshot is its own tree: on ext4, place them in their own block groups.
    spreadSubdirectories(this.snapshotsDir);
    this.lock = new RootLock(`${root}/metadata.lock`);
    this.lock.stale();
    this.meta = readMetadata(this.metaPath);
    this.syncGroup = new SyncGroup(this.snapshotsDir);
  }

  /** The directory holding a snapshot's files (the upper dir for overlay). */
  fsDir(id: number): string {
    return `${this.snapshotsDir}/${id}/fs`;
  }

  /** Creates the directories of snapshot `id` (its `fs` dir filled from the parent for copy). */
  protected abstract create(id: number, kind: SnapshotKind, parentIds: number[]): void;

  /**
   * Makes `snapshots/<id>` (mode 0700) and returns its path. It is made under
   * a random name and renamed: ext4's Orlov allocator places a directory in
   * a top directory (see spreadSubdirectories) by a hash of its name and the
   * groups' directory counts, so every root's `1`, `2`… would land in the same
   * groups again, right after the previous ones were deleted — where each
   * new inode must skip the recently freed ones. (A crash before the rename
   * leaves a `.new-*` directory that cleanup() removes.)
   */
  protected makeSnapshotDir(id: number): string {
    const dir = `${this.snapshotsDir}/${id}`;
    const tmp = `${this.snapshotsDir}/.new-${randomHex(8)}`;
    fs.mkdirSync(tmp, { mode: 0o700 });
    fs.renameSync(tmp, dir);
    return dir;
  }
  /** The mounts of an active snapshot or a view. */
  protected abstract mountsOf(r: Resolved): Mount[];
  /** Removes the backend's extra state of a snapshot (before its directory goes). */
  protected removeExtra(_id: number): void { /* none by default */ }
  /** Ids the backend keeps state for beyond `snapshots/<id>` (for cleanup). */
  protected cleanupExtra(_live: Set<number>): void { /* none by default */ }

  /** Runs `fn` after the operations before it (in this process), on metadata as new as any other process wrote. */
  private exclusive<T>(fn: () => T | Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.closed) throw new SnapshotterClosedError();
      this.refresh();
      return fn();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * {@link exclusive} for a change: `fn` runs holding the root's lock, which
   * stays held until the write `fn` persists is on disk, so no other process
   * picks the same id or writes over this change.
   */
  private mutate<T>(fn: () => T | Promise<T>, signal?: AbortSignal): Promise<T> {
    const run = this.queue.then(async () => {
      if (this.closed) throw new SnapshotterClosedError();
      // Taken just now: another process may have changed the metadata since this one last looked.
      // (Already held: this process's writes are in flight and its view is ahead of the file.)
      if (!this.lock.held) {
        await this.lock.acquire(signal);
        if (this.lock.stale()) this.meta = readMetadata(this.metaPath);
      }
      this.mutating = true;
      try {
        return await fn();
      } finally {
        this.mutating = false;
        this.releaseIfIdle();
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Re-reads the metadata when another process changed it (not while this one holds the lock: its own view is the newest). */
  private refresh(): void {
    if (this.lock.held || !this.lock.stale()) return;
    this.meta = readMetadata(this.metaPath);
  }

  private releaseIfIdle(): void {
    if (!this.mutating && this.writing === undefined) this.lock.release();
  }

  /**
   * Makes `next` the metadata and returns when it is on disk (atomically and
   * durably, off the main thread). Called inside exclusive(), awaited outside
   * it: the next operation already sees `next`, and operations made while a
   * write is in flight share the following write (a chain of prepares or
   * commits costs one or two writes, not one each). A failed write rolls the
   * metadata back to what is on disk and fails every operation waiting on it.
   */
  private persist(next: StoredMetadata): Promise<void> {
    this.meta = next;
    // Not started yet (it starts on the next turn of the event loop): it will write this too.
    if (this.writing !== undefined && !this.writeStarted) return this.writing;
    if (this.writing === undefined) {
      this.writing = this.writeMeta();
      return this.writing;
    }
    if (this.nextWrite === undefined) {
      let settle!: { resolve: () => void; reject: (e: unknown) => void };
      const promise = new Promise<void>((resolve, reject) => { settle = { resolve, reject }; });
      this.nextWrite = { promise, ...settle };
    }
    return this.nextWrite.promise;
  }

  private async writeMeta(): Promise<void> {
    this.writeStarted = false;
    try {
      // Operations issued together (a chain of prepares, of commits) all reach persist() within
      // this turn: one write covers them.
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.writeStarted = true;
      this.lock.beginWrite();
      await writeMetadataAsync(this.metaPath, this.meta);
      this.lock.endWrite();
    } catch (e) {
      // (The token stays dirty: every process re-reads the file.)
      this.meta = readMetadata(this.metaPath);
      throw e;
    } finally {
      this.writing = undefined;
      const waiting = this.nextWrite;
      this.nextWrite = undefined;
      if (waiting !== undefined) {
        this.writing = this.writeMeta();
        this.writing.then(waiting.resolve, waiting.reject);
      } else {
        this.releaseIfIdle();
      }
    }
  }

  private clone(): StoredMetadata {
    return structuredClone(this.meta);
  }

  protected resolve(key: string): Resolved {
    const snap = this.meta.snapshots[key];
    if (snap === undefined) throw new SnapshotNotFoundError(key);
    const parentIds: number[] = [];
    let p = snap.parent;
    while (p !== undefined) {
      const ps = this.meta.snapshots[p];
      if (ps === undefined) throw new SnapshotNotFoundError(p, { details: { child: key } });
      parentIds.push(ps.id);
      p = ps.parent;
    }
    return { key, snap, parentIds };
  }

  private info(key: string, s: StoredSnapshot): SnapshotInfo {
    const i: SnapshotInfo = { name: key, kind: s.kind, labels: { ...s.labels }, created: new Date(s.created), updated: new Date(s.updated) };
    if (s.parent !== undefined) i.parent = s.parent;
    return i;
  }

  private checkKey(key: string): void {
    if (typeof key !== 'string' || key === '' || key.includes('\0')) throw new SnapshotInvalidArgumentError(`invalid snapshot key ${JSON.stringify(key)}`);
  }

  private checkLabels(labels: Record<string, string> | undefined): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(labels ?? {})) {
      if (k === '' || typeof v !== 'string') throw new SnapshotInvalidArgumentError(`invalid label ${JSON.stringify(k)}`);
      out[k] = v;
    }
    return out;
  }

  async stat(key: string, opts: { signal?: AbortSignal } = {}): Promise<SnapshotInfo> {
    throwIfAborted(opts.signal, 'stat');
    return this.exclusive(() => this.info(key, this.resolve(key).snap));
  }

  async update(info: Pick<SnapshotInfo, 'name' | 'labels'>, opts: { fieldpaths?: string[]; signal?: AbortSignal } = {}): Promise<SnapshotInfo> {
    throwIfAborted(opts.signal, 'update');
    const { out, durable } = await this.mutate(() => {
      this.resolve(info.name);
      const next = this.clone();
      const s = next.snapshots[info.name]!;
      const labels = this.checkLabels(info.labels);
      if (opts.fieldpaths === undefined || opts.fieldpaths.length === 0) {
        s.labels = labels;
      } else {
        for (const f of opts.fieldpaths) {
          if (f === 'labels') { s.labels = labels; continue; }
          if (!f.startsWith('labels.')) throw new SnapshotInvalidArgumentError(`cannot update field ${JSON.stringify(f)}`);
          const k = f.slice('labels.'.length);
          if (labels[k] === undefined) delete s.labels[k];
          else s.labels[k] = labels[k];
        }
      }
      s.updated = new Date().toISOString();
      return { out: this.info(info.name, s), durable: this.persist(next) };
    }, opts.signal);
    await durable;
    return out;
  }

  async usage(key: string, opts: { signal?: AbortSignal } = {}): Promise<Usage> {
    throwIfAborted(opts.signal, 'usage');
    return this.exclusive(() => {
      const r = this.resolve(key);
      if (r.snap.usage !== undefined) return { ...r.snap.usage };
      return diskUsage(this.fsDir(r.snap.id));
    });
  }

  async mounts(key: string, opts: { signal?: AbortSignal } = {}): Promise<Mount[]> {
    throwIfAborted(opts.signal, 'mounts');
    return this.exclusive(() => {
      const r = this.resolve(key);
      if (r.snap.kind === SnapshotKind.Committed) throw new SnapshotInvalidStateError(key, 'committed snapshots have no mounts');
      return this.mountsOf(r);
    });
  }

  prepare(key: string, parent?: string, opts: SnapshotOptions = {}): Promise<Mount[]> {
    return this.createSnapshot(SnapshotKind.Active, key, parent, opts);
  }

  view(key: string, parent?: string, opts: SnapshotOptions = {}): Promise<Mount[]> {
    return this.createSnapshot(SnapshotKind.View, key, parent, opts);
  }

  private async createSnapshot(kind: SnapshotKind, key: string, parent: string | undefined, opts: SnapshotOptions): Promise<Mount[]> {
    throwIfAborted(opts.signal, kind === SnapshotKind.View ? 'view' : 'prepare');
    this.checkKey(key);
    const labels = this.checkLabels(opts.labels);
    const { mounts, durable } = await this.mutate(() => {
      if (this.meta.snapshots[key] !== undefined) throw new SnapshotAlreadyExistsError(key);
      let parentIds: number[] = [];
      let activeOk = false;
      if (parent !== undefined && parent !== '') {
        const p = this.resolve(parent);
        activeOk = kind === SnapshotKind.Active && opts.activeParent === true && p.snap.kind === SnapshotKind.Active;
        if (activeOk && !this.capabilities.activeParent) throw new SnapshotterUnsupportedError('this snapshotter needs a committed parent (no concurrent unpack)');
        if (p.snap.kind !== SnapshotKind.Committed && !activeOk) throw new SnapshotInvalidStateError(parent, 'parent is not committed');
        parentIds = [p.snap.id, ...p.parentIds];
      }
      // A concurrent unpack: its commits come together; start the syncfs thread while the layers are applied.
      if (activeOk) warmSyncThread();
      const next = this.clone();
      const id = next.nextId++;
      // The directory first, then the record: a crash in between leaves an orphan directory for cleanup().
      removeTreeSync(`${this.snapshotsDir}/${id}`); // a leftover of a crash, if any (usually nothing)
      this.create(id, kind, parentIds);
      const now = new Date().toISOString();
      const s: StoredSnapshot = { id, kind, labels, created: now, updated: now };
      if (parent !== undefined && parent !== '') s.parent = parent;
      next.snapshots[key] = s;
      const mounts = this.mountsOf({ key, snap: s, parentIds });
      // (A failed write leaves the directory an orphan for cleanup(), as a crash would.)
      return { mounts, durable: this.persist(next) };
    }, opts.signal);
    // durable: false: the write goes on (close() waits for it); a failure rolls the metadata back (see SnapshotOptions).
    if (opts.durable === false) durable.catch(() => undefined);
    else await durable;
    publishSnapshotEvent({ event: kind === SnapshotKind.View ? 'view' : 'prepare', root: this.root, key });
    return mounts;
  }

  async commit(name: string, key: string, opts: SnapshotOptions = {}): Promise<void> {
    throwIfAborted(opts.signal, 'commit');
    this.checkKey(name);
    const labels = opts.labels === undefined ? undefined : this.checkLabels(opts.labels);
    const check = (): Resolved => {
      const r = this.resolve(key);
      if (r.snap.kind !== SnapshotKind.Active) throw new SnapshotInvalidStateError(key, `cannot commit a ${r.snap.kind} snapshot`);
      if (this.meta.snapshots[name] !== undefined) throw new SnapshotAlreadyExistsError(name);
      return r;
    };
    const r0 = await this.exclusive(check);
    // A child committed together with its active parent records after the parent (same syncfs, same write).
    const parentRecorded = r0.snap.parent === undefined ? undefined : this.committing.get(r0.snap.parent);
    let recorded!: () => void;
    const recordedP = new Promise<void>((resolve) => { recorded = resolve; });
    this.committing.set(key, recordedP);
    let durable: Promise<void>;
    try {
      // Data reaches the disk before the commit record does (containerd #8895, #9401). The syncfs
      // runs off the main thread and is shared by every commit waiting at the same time.
      await this.syncGroup.sync();
      if (parentRecorded !== undefined) await parentRecorded;
      ({ durable } = await this.mutate(() => {
        const r = check();
        const parent = r.snap.parent === undefined ? undefined : this.meta.snapshots[r.snap.parent];
        if (parent !== undefined && parent.kind !== SnapshotKind.Committed) {
          throw new SnapshotInvalidStateError(key, `parent ${JSON.stringify(r.snap.parent)} is not committed yet`);
        }
        const usage = diskUsage(this.fsDir(r.snap.id));
        const next = this.clone();
        const s = next.snapshots[key]!;
        delete next.snapshots[key];
        next.snapshots[name] = { ...s, kind: SnapshotKind.Committed, labels: labels ?? s.labels, updated: new Date().toISOString(), usage };
        // Children prepared over this active snapshot now name its committed name (the rebase).
        for (const c of Object.values(next.snapshots)) if (c.parent === key) c.parent = name;
        return { durable: this.persist(next) };
      }, opts.signal));
    } finally {
      recorded();
      if (this.committing.get(key) === recordedP) this.committing.delete(key);
    }
    await durable;
    publishSnapshotEvent({ event: 'commit', root: this.root, key, name });
  }

  async remove(key: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    throwIfAborted(opts.signal, 'remove');
    const { id, committed, durable } = await this.mutate(() => {
      const r = this.resolve(key);
      const children = Object.entries(this.meta.snapshots).filter(([, s]) => s.parent === key).map(([k]) => k);
      if (children.length > 0) throw new SnapshotHasChildrenError(key, children);
      const next = this.clone();
      delete next.snapshots[key];
      return { id: r.snap.id, committed: r.snap.kind === SnapshotKind.Committed, durable: this.persist(next) };
    }, opts.signal);
    // The directory goes only once no record names it (a crash in between leaves an orphan for cleanup()).
    await durable;
    await this.exclusive(() => {
      this.removeExtra(id);
      this.removeDir(id, committed);
    });
    publishSnapshotEvent({ event: 'remove', root: this.root, key });
  }

  /**
   * Moves a removed snapshot's directory aside (one rename: its path is free
   * at once) and deletes it. A small tree of an active snapshot or a view (at most {@link SMALL_TREE_ENTRIES}
   * entries holding at most {@link SMALL_TREE_BYTES}: a container's upper and
   * work directories usually hold a handful of small files) goes at once,
   * with synchronous calls (well under a millisecond),
   * so `close` has nothing to wait for: a CLI `run --rm` waited 3-15 ms for
   * a dozen pool trips. A larger one is deleted in the background, in one
   * job on the thread pool (@berth/namespaces removeTree): a layer's
   * thousands of unlinks neither hold the main thread nor queue ahead of
   * other work on the pool (`fs.promises.rm` queued them all at once; a
   * deletion one async call at a time still made ~300 round trips through
   * the main thread during the next pull), nor does a few large
   * files' (freeing a synced 20 MiB file's blocks took 15 ms of an image
   * removal's main thread). A committed snapshot (an image layer) always goes
   * to the background: an image removal waited 5-15 ms per small layer. It goes to `<root>/trash`,
   * so `snapshots/` holds live snapshots only. `cleanup` and `close` wait
   * for the deletions; a process that dies first leaves `trash/<id>-…` for
   * the next `cleanup`.
   */
  private removeDir(id: number, committed: boolean): void {
    const dir = `${this.snapshotsDir}/${id}`;
    const trash = `${this.trashDir}/${id}-${process.pid}-${Date.now()}`;
    try {
      fs.mkdirSync(this.trashDir, { recursive: true, mode: 0o700 });
      fs.renameSync(dir, trash);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    if (!committed && isSmallTree(trash, SMALL_TREE_ENTRIES, SMALL_TREE_BYTES)) {
      try {
        removeTreeSync(trash); // a few syscalls; fs.rmSync would load Node's rimraf first
        return;
      } catch { /* what is left goes in the background */ }
    }
    const done = removeTree(trash).catch(() => undefined).finally(() => { this.deleting.delete(done); });
    this.deleting.add(done);
  }

  async *walk(opts: { filters?: WalkFilter[]; signal?: AbortSignal } = {}): AsyncIterable<SnapshotInfo> {
    const list = await this.exclusive(() => Object.entries(this.meta.snapshots)
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([k, s]) => this.info(k, s)));
    for (const i of list) {
      throwIfAborted(opts.signal, 'walk');
      if ((opts.filters ?? []).every((f) => matches(i, f))) yield i;
    }
  }

  async cleanup(opts: { signal?: AbortSignal } = {}): Promise<void> {
    throwIfAborted(opts.signal, 'cleanup');
    // Holding the lock: no other process is between making a snapshot's directory and recording it.
    return this.mutate(async () => {
      await Promise.all(this.deleting);
      // Deletions a dead process left unfinished.
      fs.rmSync(this.trashDir, { recursive: true, force: true });
      this.unmountStale();
      const live = new Set(Object.values(this.meta.snapshots).map((s) => s.id));
      for (const n of fs.readdirSync(this.snapshotsDir)) {
        const id = Number(n);
        if (String(id) === n && live.has(id)) continue;
        fs.rmSync(`${this.snapshotsDir}/${n}`, { recursive: true, force: true });
      }
      this.cleanupExtra(live);
    }, opts.signal);
  }

  /** Unmounts anything mounted under the root (left by a crashed user), deepest first. */
  protected unmountStale(): void {
    let text: string;
    try {
      text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    } catch {
      return;
    }
    const points = text.split('\n').map((l) => l.split(' ')[4]).filter((p): p is string => p !== undefined)
      .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
      .filter((p) => p.startsWith(this.root + '/'))
      .sort((a, b) => b.length - a.length);
    for (const p of points) {
      try {
        umount(p, { detach: true });
      } catch { /* already gone */ }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.queue;
    this.closed = true;
    while (this.writing !== undefined) await this.writing.catch(() => undefined);
    await Promise.all(this.deleting);
    this.lock.close();
  }
}

function matches(i: SnapshotInfo, f: WalkFilter): boolean {
  if (f.kind !== undefined && i.kind !== f.kind) return false;
  if (f.parent !== undefined && i.parent !== f.parent) return false;
  if (f.namePrefix !== undefined && !i.name.startsWith(f.namePrefix)) return false;
  for (const [k, v] of Object.entries(f.labels ?? {})) {
    if (!(k in i.labels)) return false;
    if (v !== undefined && v !== '*' && i.labels[k] !== v) return false;
  }
  return true;
}

/** Removed trees with at most this many entries, of at most SMALL_TREE_BYTES in files, are deleted synchronously. */
const SMALL_TREE_ENTRIES = 64;
const SMALL_TREE_BYTES = 1 << 20;

/**
 * Whether the tree under `dir` has at most `max` entries and its regular
 * files at most `maxBytes` (counting stops past either; an unreadable tree is
 * not small).
 */
function isSmallTree(dir: string, max: number, maxBytes: number): boolean {
  const stack = [dir];
  let n = 0;
  let bytes = 0;
  try {
    while (stack.length > 0) {
      const d = stack.pop()!;
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        if (++n > max) return false;
        if (e.isDirectory()) stack.push(`${d}/${e.name}`);
        else if (e.isFile() && (bytes += fs.lstatSync(`${d}/${e.name}`).size) > maxBytes) return false;
      }
    }
  } catch {
    return false;
  }
  return true;
}
