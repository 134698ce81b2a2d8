/**
 * Copies a directory tree, keeping what a layer needs: type, mode (incl.
 * setuid/setgid/sticky), uid/gid, mtimes (symlinks too), xattrs, device
 * numbers, fifos and hardlinks. Regular files are cloned with FICLONE where
 * the filesystem supports reflinks and copied otherwise.
 */
import fs from 'node:fs';
import { lgetxattrs, lsetxattr, lutimens, mknod } from './sys.js';

/** What {@link copyTree} and {@link copyEntry} take. */
export interface CopyOptions {
  /** Copy xattrs (default true). `trusted.overlay.*` are never copied. */
  xattrs?: boolean;
}

/** Copies one non-directory entry `src` to `dst` (which must not exist), with its metadata. */
export function copyEntry(src: string, dst: string, st: fs.BigIntStats = fs.lstatSync(src, { bigint: true }), opts: CopyOptions = {}): void {
  if (st.isFile()) {
    fs.copyFileSync(src, dst, fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE);
  } else if (st.isSymbolicLink()) {
    fs.symlinkSync(fs.readlinkSync(src), dst);
  } else if (st.isCharacterDevice() || st.isBlockDevice()) {
    mknod(dst, { type: st.isCharacterDevice() ? 'char' : 'block', mode: Number(st.mode & 0o7777n), major: major(st.rdev), minor: minor(st.rdev) });
  } else if (st.isFIFO()) {
    mknod(dst, { type: 'fifo', mode: Number(st.mode & 0o7777n) });
  } else if (st.isDirectory()) {
    fs.mkdirSync(dst, Number(st.mode & 0o7777n));
  } else {
    return; // sockets are not copied (they are not part of a layer)
  }
  copyMetadata(src, dst, st, opts);
}

/** Sets owner, mode, xattrs and times of `dst` from `src` (no final symlink follow). */
export function copyMetadata(src: string, dst: string, st: fs.BigIntStats, opts: CopyOptions = {}): void {
  fs.lchownSync(dst, Number(st.uid), Number(st.gid));
  if (!st.isSymbolicLink()) fs.chmodSync(dst, Number(st.mode & 0o7777n));
  if (opts.xattrs !== false) {
    for (const [k, v] of lgetxattrs(src)) {
      if (k.startsWith('trusted.overlay.')) continue;
      lsetxattr(dst, k, v);
    }
  }
  lutimens(dst, timespecOf(st.atimeNs), timespecOf(st.mtimeNs));
}

/** The major number of a Linux dev_t (glibc's gnu_dev_major). */
export function major(dev: number | bigint): number {
  const d = BigInt(dev);
  return Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
}

/** The minor number of a Linux dev_t (glibc's gnu_dev_minor). */
export function minor(dev: number | bigint): number {
  const d = BigInt(dev);
  return Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
}

/**
 * Copies the tree at `src` into `dst` (an existing empty directory, whose own
 * metadata is set from `src`). Hardlinks inside the tree stay hardlinks.
 */
export function copyTree(src: string, dst: string, opts: CopyOptions = {}): void {
  const links = new Map<string, string>();
  const dirs: Array<[string, string, fs.BigIntStats]> = [];
  const walk = (s: string, d: string): void => {
    for (const name of fs.readdirSync(s)) {
      const sp = `${s}/${name}`;
      const dp = `${d}/${name}`;
      const st = fs.lstatSync(sp, { bigint: true });
      if (st.isDirectory()) {
        fs.mkdirSync(dp, 0o700);
        walk(sp, dp);
        dirs.push([sp, dp, st]);
        continue;
      }
      if (st.nlink > 1 && !st.isDirectory()) {
        const id = `${st.dev}:${st.ino}`;
        const first = links.get(id);
        if (first !== undefined) {
          fs.linkSync(first, dp);
          continue;
        }
        links.set(id, dp);
      }
      copyEntry(sp, dp, st, opts);
    }
  };
  walk(src, dst);
  // Directory metadata last: writing children changes a directory's mtime.
  for (const [sp, dp, st] of dirs) copyMetadata(sp, dp, st, opts);
  copyMetadata(src, dst, fs.lstatSync(src, { bigint: true }), opts);
}

/** A nanosecond bigint time as a timespec. */
export function timespecOf(ns: bigint): { sec: number; nsec: number } {
  const sec = ns / 1_000_000_000n - (ns < 0n && ns % 1_000_000_000n !== 0n ? 1n : 0n);
  return { sec: Number(sec), nsec: Number(ns - sec * 1_000_000_000n) };
}
