/**
 * OverlaySnapshotter: each snapshot is a directory `snapshots/<id>/fs` (the
 * upper dir while active, a lower dir once committed) with a `work` dir;
 * an active snapshot mounts as overlayfs with its parents' dirs as lowerdir.
 *
 * Many layers: mount(2) takes at most one page of options. Each snapshot also
 * gets a short symlink `l/<id>` → `../snapshots/<id>/fs` (overlayfs follows
 * symlinks when it resolves lowerdir paths), and when even
 * `<root>/l/<id>:…` is too long, the lowerdirs go through a short alias
 * `/run/bovl/<hash of root>` → `<root>/l`. Ids are numbers, so each lower
 * costs `/run/bovl/xxxxxxxx/123:` = 23 bytes: about 160 layers fit in the
 * page next to upperdir and workdir (overlayfs itself stops at 500).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { SnapshotterUnsupportedError } from '../errors.js';
import { BaseSnapshotter, type Resolved } from '../internal/base-snapshotter.js';
import { SnapshotKind, type Mount } from '../snapshotter.js';

/** Options of {@link openOverlaySnapshotter}. */
export interface OverlaySnapshotterOptions {
  /** Directory for short aliases of `<root>/l` used when lowerdir lists are long (default /run/bovl). */
  aliasDir?: string;
  /** Largest mount option string (default 4000 bytes; the kernel takes one page). */
  maxOptionsLength?: number;
}

/** The overlayfs snapshotter; open it with {@link openOverlaySnapshotter}. */
export class OverlaySnapshotter extends BaseSnapshotter {
  /** Each layer has its own upper dir, so a chain can be unpacked concurrently over active parents. */
  readonly capabilities = { activeParent: true } as const;
  private readonly aliasDir: string;
  private readonly maxLen: number;

  /** Use {@link openOverlaySnapshotter}. */
  constructor(root: string, opts: OverlaySnapshotterOptions = {}) {
    super(root);
    this.aliasDir = opts.aliasDir ?? '/run/bovl';
    this.maxLen = opts.maxOptionsLength ?? 4000;
    fs.mkdirSync(`${root}/l`, { recursive: true, mode: 0o700 });
  }

  protected create(id: number, kind: SnapshotKind, _parentIds: number[]): void {
    const dir = this.makeSnapshotDir(id);
    fs.mkdirSync(`${dir}/fs`, { mode: 0o755 });
    if (kind === SnapshotKind.Active) fs.mkdirSync(`${dir}/work`, { mode: 0o700 });
    const link = `${this.root}/l/${id}`;
    removeLink(link);
    fs.symlinkSync(`../snapshots/${id}/fs`, link);
  }

  protected override removeExtra(id: number): void {
    removeLink(`${this.root}/l/${id}`);
  }

  protected override cleanupExtra(live: Set<number>): void {
    for (const n of fs.readdirSync(`${this.root}/l`)) {
      if (!live.has(Number(n))) removeLink(`${this.root}/l/${n}`);
    }
  }

  /** The short alias of `<root>/l`, created on demand. */
  private alias(): string {
    const a = `${this.aliasDir}/${createHash('sha256').update(this.root).digest('hex').slice(0, 8)}`;
    let cur: string | undefined;
    try { cur = fs.readlinkSync(a); } catch { /* missing */ }
    if (cur !== `${this.root}/l`) {
      fs.mkdirSync(this.aliasDir, { recursive: true, mode: 0o755 });
      removeLink(a);
      fs.symlinkSync(`${this.root}/l`, a);
    }
    return a;
  }

  /** Lower dirs, nearest first, in the first form whose option string fits one page. */
  lowerDirs(parentIds: number[], extra: number): string[] {
    const forms = [
      (id: number) => this.fsDir(id),
      (id: number) => `${this.root}/l/${id}`,
    ];
    for (const f of forms) {
      const dirs = parentIds.map(f);
      if ('lowerdir='.length + dirs.join(':').length + extra <= this.maxLen) return dirs;
    }
    const a = this.alias();
    const dirs = parentIds.map((id) => `${a}/${id}`);
    if ('lowerdir='.length + dirs.join(':').length + extra > this.maxLen) {
      throw new SnapshotterUnsupportedError(`${parentIds.length} layers do not fit in one page of overlay mount options`);
    }
    return dirs;
  }

  protected mountsOf(r: Resolved): Mount[] {
    const id = r.snap.id;
    const ro = r.snap.kind === SnapshotKind.View;
    if (r.parentIds.length === 0) {
      return [{ type: 'bind', source: this.fsDir(id), options: [ro ? 'ro' : 'rw', 'rbind'] }];
    }
    if (ro && r.parentIds.length === 1) {
      return [{ type: 'bind', source: this.fsDir(r.parentIds[0]!), options: ['ro', 'rbind'] }];
    }
    if (ro) {
      return [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${this.lowerDirs(r.parentIds, 0).join(':')}`] }];
    }
    const upper = `upperdir=${this.fsDir(id)}`;
    const work = `workdir=${this.snapshotsDir}/${id}/work`;
    const lowers = this.lowerDirs(r.parentIds, upper.length + work.length + 2);
    return [{ type: 'overlay', source: 'overlay', options: [`workdir=${this.snapshotsDir}/${id}/work`, upper, `lowerdir=${lowers.join(':')}`] }];
  }
}

/**
 * Opens (creating if needed) an overlayfs snapshotter rooted at `root`.
 * Unmounts stale mounts under the root. Needs root and overlayfs; the root's
 * filesystem must support `trusted.*` xattrs and d_type.
 *
 * @throws SnapshotterUnsupportedError when overlayfs is not available.
 */
export async function openOverlaySnapshotter(root: string, opts: OverlaySnapshotterOptions = {}): Promise<OverlaySnapshotter> {
  const fsTypes = fs.readFileSync('/proc/filesystems', 'utf8');
  if (!/\toverlay$/m.test(fsTypes)) throw new SnapshotterUnsupportedError('overlayfs is not available (modprobe overlay)');
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  const s = new OverlaySnapshotter(fs.realpathSync(root), opts);
  s['unmountStale']();
  return s;
}

/** Unlinks a symlink; a missing one is fine (`fs.rmSync` would load Node's rimraf for it, ~2 ms the first time). */
function removeLink(link: string): void {
  try {
    fs.unlinkSync(link);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
