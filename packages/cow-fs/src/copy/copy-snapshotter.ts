/**
 * CopySnapshotter: the portable backend. An active snapshot is a full copy
 * of its parent (`snapshots/<id>/fs`), made with reflinks (FICLONE) where the
 * filesystem supports them and a byte copy elsewhere, keeping owners, modes,
 * times, xattrs, devices and hardlinks. Mounts are bind mounts; a view of a
 * committed snapshot binds the (immutable) parent directory read-only.
 */
import fs from 'node:fs';
import { BaseSnapshotter, type Resolved } from '../internal/base-snapshotter.js';
import { copyTree } from '../internal/copy-tree.js';
import { SnapshotKind, type Mount } from '../snapshotter.js';

/** The copy snapshotter; open it with {@link openCopySnapshotter}. */
export class CopySnapshotter extends BaseSnapshotter {
  /** A snapshot starts as a copy of its parent, so the parent must be complete (committed) at prepare. */
  readonly capabilities = { activeParent: false } as const;
  /** Use {@link openCopySnapshotter}. */
  constructor(root: string) {
    super(root);
  }

  protected create(id: number, kind: SnapshotKind, parentIds: number[]): void {
    const dir = this.makeSnapshotDir(id);
    fs.mkdirSync(`${dir}/fs`, { mode: 0o755 });
    if (kind === SnapshotKind.Active && parentIds.length > 0) copyTree(this.fsDir(parentIds[0]!), `${dir}/fs`);
  }

  protected mountsOf(r: Resolved): Mount[] {
    if (r.snap.kind === SnapshotKind.View) {
      const src = r.parentIds.length > 0 ? this.fsDir(r.parentIds[0]!) : this.fsDir(r.snap.id);
      return [{ type: 'bind', source: src, options: ['ro', 'rbind'] }];
    }
    return [{ type: 'bind', source: this.fsDir(r.snap.id), options: ['rw', 'rbind'] }];
  }
}

/** Opens (creating if needed) a copy snapshotter rooted at `root`; unmounts stale mounts under it. Works on any Linux filesystem. */
export async function openCopySnapshotter(root: string): Promise<CopySnapshotter> {
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  const s = new CopySnapshotter(fs.realpathSync(root));
  s['unmountStale']();
  return s;
}
