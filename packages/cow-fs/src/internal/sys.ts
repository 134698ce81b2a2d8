/**
 * The filesystem syscalls Node lacks, from @berth/namespaces: mknod,
 * xattrs, utimensat (nanosecond times on symlinks), syncfs, mount. Kept in
 * one module so cow-fs's whole need of that package is visible here.
 */
import * as ns from '@berth/namespaces';
import type { Mount } from '../snapshotter.js';

/** A device or fifo, as mknod creates it. */
export interface MknodSpec {
  type: 'char' | 'block' | 'fifo';
  mode: number;
  major?: number;
  minor?: number;
}

/** Creates a char/block device or a fifo at `path` (which must not exist). */
export function mknod(path: string, spec: MknodSpec): void {
  ns.mknod(path, { type: spec.type, mode: spec.mode & 0o7777, major: spec.major ?? 0, minor: spec.minor ?? 0 });
}

/** Sets one xattr on `path` without following a final symlink. */
export function lsetxattr(path: string, name: string, value: Buffer): void {
  ns.lsetxattr(path, name, value);
}

/** Reads one xattr of `path`, or undefined when it is absent. */
export function lgetxattr(path: string, name: string): Buffer | undefined {
  return ns.lgetxattr(path, name);
}

/** Reads every xattr of `path` (no final symlink follow), sorted by name. */
export function lgetxattrs(path: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const n of ns.llistxattr(path).sort()) {
    const v = ns.lgetxattr(path, n);
    if (v !== undefined) out.set(n, v);
  }
  return out;
}

/** Sets atime and mtime with nanoseconds, on a symlink itself when `path` is one. */
export function lutimens(path: string, atime: { sec: number; nsec: number }, mtime: { sec: number; nsec: number }): void {
  ns.utimensat(path, atime, mtime, { nofollow: true });
}

/** Flushes the filesystem that holds `path` (syncfs(2)). */
export function syncfs(path: string): void {
  ns.syncfs(path);
}

/** Mounts snapshot mounts in order at `target`. */
export function mountAll(mounts: Mount[], target: string): void {
  ns.mountAll(mounts, target);
}

/** Unmounts `target` (lazily with `detach`). */
export function umount(target: string, opts: { detach?: boolean } = {}): void {
  ns.umount(target, opts);
}

/**
 * Asks the filesystem to spread the subdirectories of `dir` over its block
 * groups (ext4's FS_TOPDIR_FL, `chattr +T`); a no-op where there is no such
 * flag or it cannot be set. See the README's platform notes.
 */
export function spreadSubdirectories(dir: string): void {
  try {
    ns.markTopDirectory(dir);
  } catch {
    // Only a placement hint.
  }
}

/** Deletes a file or a whole tree in one job on the thread pool (symlinks removed, never followed; a missing path is fine). */
export function removeTree(path: string): Promise<void> {
  return ns.removeTree(path);
}

/** {@link removeTree} on the calling thread, for a small tree. */
export function removeTreeSync(path: string): void {
  ns.removeTreeSync(path);
}
