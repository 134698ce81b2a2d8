/**
 * Filesystem syscalls Node lacks, for @berth/cow-fs and the engine: mount and
 * umount2 (with fstab-style option parsing), mknod, the `l*xattr` family,
 * lchown, utimensat on symlinks, renameat2, syncfs/fsync, and a safe
 * resolve-inside-root built on openat2(2) `RESOLVE_IN_ROOT`.
 *
 * Every call is synchronous and throws {@link SystemCallError} (code
 * `ERR_NS_SYSCALL`, with `errno`, `errnoCode`, `syscall` and `path`) when the
 * kernel refuses, or {@link NamespacesInvalidArgumentError} for bad input.
 */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { throwIfAborted } from '@berth/oci-spec';
import { binding } from './native.js';
import { callNative, fromNative, MountDataTooLongError, NamespacesInvalidArgumentError } from './errors.js';

interface FsBinding {
  fsMount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  fsUmount2(target: string, flags: number): void;
  fsMountOverlay(target: string, lower: string[], upper: string | null, work: string | null, options: string[], flags: number): void;
  fsParseMountOptions(options: string[]): { flags: number; cleared: number; propagation: number[]; data: string };
  fsMknod(path: string, mode: number, major: number, minor: number): void;
  fsLsetxattr(path: string, name: string, value: Buffer, flags: number): void;
  fsLgetxattr(path: string, name: string): Buffer | undefined;
  fsLlistxattr(path: string): string[];
  fsLremovexattr(path: string, name: string): void;
  fsLchown(path: string, uid: number, gid: number): void;
  fsUtimensat(path: string, asec: number, ansec: number, msec: number, mnsec: number, nofollow: boolean): void;
  fsRenameat2(oldPath: string, newPath: string, flags: number): void;
  fsSyncfs(path: string): void;
  fsFsyncPath(path: string): void;
  fsFsyncDir(path: string): void;
  fsOpenInRoot(root: string, rel: string, flags: number, mode: number, noSymlinks: boolean, beneath: boolean, resolver: string): number;
  fsResolveInRoot(root: string, rel: string, resolver: string): string;
  fsMkdirInRoot(root: string, rel: string, mode: number, resolver: string): void;
  fsFdPath(fd: number): string;
  fsFlock(fd: number, exclusive: boolean, unlock: boolean, wait: boolean): boolean;
  fsRemoveTree(path: string): Promise<void>;
  fsRemoveTreeSync(path: string): void;
  fsMapFile(path: string, latin1: boolean): string | Buffer;
}

const native = (): FsBinding => binding<FsBinding>();

// ---------------------------------------------------------------------------
// mount

/** The `MS_*` bit of each {@link MountFlags} key (linux/mount.h). */
export const MountFlagBits = {
  readonly: 0x1,
  nosuid: 0x2,
  nodev: 0x4,
  noexec: 0x8,
  sync: 0x10,
  remount: 0x20,
  mand: 0x40,
  dirsync: 0x80,
  nosymfollow: 0x100,
  noatime: 0x400,
  nodiratime: 0x800,
  bind: 0x1000,
  move: 0x2000,
  rec: 0x4000,
  silent: 0x8000,
  unbindable: 0x20000,
  private: 0x40000,
  slave: 0x80000,
  shared: 0x100000,
  relatime: 0x200000,
  iversion: 0x800000,
  strictatime: 0x1000000,
  lazytime: 0x2000000,
} as const;

/** A mount flag name: a key of {@link MountFlagBits}. */
export type MountFlag = keyof typeof MountFlagBits;

/**
 * mount(2) flags as an object: `{ bind: true, rec: true, readonly: true }`.
 * The propagation types (`private`, `slave`, `shared`, `unbindable`) are
 * applied by a separate call after the mount, with `rec` when it is set.
 */
export type MountFlags = { [K in MountFlag]?: boolean };

/** The propagation changes of mount options, in the order given. */
export type Propagation = 'private' | 'rprivate' | 'shared' | 'rshared' | 'slave' | 'rslave' | 'unbindable' | 'runbindable';

/** The most bytes of mount data the kernel accepts: one page, less the NUL. */
export const MOUNT_DATA_MAX = 4095;

function flagsToBits(flags: MountFlags | undefined): number {
  let bits = 0;
  for (const [k, v] of Object.entries(flags ?? {})) {
    if (!v) continue;
    const bit = (MountFlagBits as Record<string, number>)[k];
    if (bit === undefined) throw new NamespacesInvalidArgumentError(`unknown mount flag ${JSON.stringify(k)}`);
    bits += bit;
  }
  return bits;
}

function bitsToFlags(bits: number): MountFlags {
  const out: MountFlags = {};
  for (const [k, bit] of Object.entries(MountFlagBits) as Array<[MountFlag, number]>) {
    if (Math.floor(bits / bit) % 2 === 1) out[k] = true;
  }
  return out;
}

function propagationName(bits: number): Propagation {
  const rec = Math.floor(bits / MountFlagBits.rec) % 2 === 1 ? 'r' : '';
  const flags = bitsToFlags(bits);
  const base = flags.private ? 'private' : flags.shared ? 'shared' : flags.slave ? 'slave' : 'unbindable';
  return `${rec}${base}` as Propagation;
}

function checkData(target: string, data: string | undefined): void {
  if (data === undefined) return;
  const length = Buffer.byteLength(data);
  if (length > MOUNT_DATA_MAX) throw new MountDataTooLongError({ target, length, limit: MOUNT_DATA_MAX });
}

/**
 * mount(2). In order: the mount itself with every flag but the propagation
 * types; for a new bind mount with `readonly`/`nosuid`/`nodev`/`noexec`/atime
 * flags, a `remount,bind` that applies them (a bind ignores them otherwise);
 * then the propagation change, if any. With only propagation flags (and
 * `rec`), only that change is made.
 *
 * @param source the device, directory (bind) or a name (`overlay`, `tmpfs`); null for none.
 * @param fstype such as `overlay`, `tmpfs`, `proc`; null for binds, moves and remounts.
 * @param data the filesystem's options (`lowerdir=/a:/b,upperdir=…`); at most
 *   {@link MOUNT_DATA_MAX} bytes, else {@link MountDataTooLongError}.
 */
export function mount(source: string | null, target: string, fstype: string | null, flags: MountFlags, data?: string): void {
  checkData(target, data);
  const bits = flagsToBits(flags);
  callNative(() => native().fsMount(source, target, fstype, bits, data ?? null));
}

/** An overlay mount, layer by layer. */
export interface OverlayOptions {
  /** Lower layers, topmost first (as in `lowerdir=top:…:bottom`). */
  lower: readonly string[];
  /** The writable layer; absent for a read-only overlay of the lowers. */
  upper?: string;
  /** The work dir, on the same filesystem as `upper`. */
  work?: string;
  /** Other overlay options: `index=off`, `userxattr`, `metacopy=on`, `redirect_dir=on`, `volatile`… */
  options?: readonly string[];
}

/**
 * Mounts an overlay at `target` with the new mount API: fsopen(2), one
 * fsconfig(2) `lowerdir+` per layer, fsmount(2), move_mount(2) (Linux ≥
 * 6.8). No one-page limit applies, so any number of layers with long paths
 * fits. Where the kernel lacks it, falls back to mount(2) with the joined
 * data, which must fit in {@link MOUNT_DATA_MAX} bytes. `flags` takes
 * `readonly`, `nosuid`, `nodev`, `noexec` and the atime flags. The kernel's
 * own explanation of a refusal (`overlay: failed to …`) is in the message.
 */
export function mountOverlay(target: string, overlay: OverlayOptions, flags: MountFlags = {}): void {
  const bits = flagsToBits(flags);
  try {
    native().fsMountOverlay(target, [...overlay.lower], overlay.upper ?? null, overlay.work ?? null, [...(overlay.options ?? [])], bits);
  } catch (e) {
    // Only on kernels without the new mount API, through the mount(2) fallback.
    if ((e as { code?: unknown }).code === 'ERR_NS_MOUNT_DATA_TOO_LONG') {
      throw new MountDataTooLongError({ target, length: Buffer.byteLength(overlayData(overlay)), limit: MOUNT_DATA_MAX }, { cause: e });
    }
    throw fromNative(e);
  }
}

function overlayData(o: OverlayOptions): string {
  return [`lowerdir=${o.lower.join(':')}`, ...(o.upper === undefined ? [] : [`upperdir=${o.upper}`]), ...(o.work === undefined ? [] : [`workdir=${o.work}`]), ...(o.options ?? [])].join(',');
}

function overlayFromData(data: string): OverlayOptions {
  const out: { lower: string[]; upper?: string; work?: string; options: string[] } = { lower: [], options: [] };
  for (const opt of data.split(',')) {
    if (opt.startsWith('lowerdir=')) out.lower = opt.slice('lowerdir='.length).split(/(?<!\\):/).map((l) => l.replace(/\\:/g, ':'));
    else if (opt.startsWith('upperdir=')) out.upper = opt.slice('upperdir='.length);
    else if (opt.startsWith('workdir=')) out.work = opt.slice('workdir='.length);
    else if (opt !== '') out.options.push(opt);
  }
  return out;
}

/** Options of {@link umount}: the umount2(2) flags. */
export interface UmountOptions {
  /** `MNT_DETACH`: lazy unmount, detached now, cleaned when no longer busy. */
  detach?: boolean;
  /** `MNT_FORCE`. */
  force?: boolean;
  /** `MNT_EXPIRE`. */
  expire?: boolean;
  /** `UMOUNT_NOFOLLOW`: do not follow a symlink at `target`. */
  nofollow?: boolean;
}

/** umount2(2). */
export function umount(target: string, opts: UmountOptions = {}): void {
  const flags = (opts.force ? 1 : 0) | (opts.detach ? 2 : 0) | (opts.expire ? 4 : 0) | (opts.nofollow ? 8 : 0);
  callNative(() => native().fsUmount2(target, flags));
}

/** What {@link parseMountOptions} returns. */
export interface ParsedMountOptions {
  /** The flags the options set (never propagation types; see `propagation`). */
  flags: MountFlags;
  /** Flags an option turned off (`rw`, `suid`, `dev`, `exec`…), useful for remounts. */
  cleared: MountFlags;
  /** Propagation changes, applied after the mount in this order. */
  propagation: Propagation[];
  /** The rest, comma-joined: the filesystem's own options (`mode=755`, `lowerdir=…`, `index=off`). */
  data: string;
}

/**
 * Splits fstab-style options as runc does: `ro`, `rw`, `nosuid`, `suid`,
 * `nodev`, `dev`, `noexec`, `exec`, `bind`, `rbind`, `remount`, the atime
 * options, `sync`, `dirsync`, `lazytime`, `silent`… set or clear flags;
 * `private`, `rprivate`, `shared`, `rshared`, `slave`, `rslave`,
 * `unbindable`, `runbindable` are propagation changes; anything else is data.
 */
export function parseMountOptions(options: readonly string[]): ParsedMountOptions {
  const p = callNative(() => native().fsParseMountOptions([...options]));
  return { flags: bitsToFlags(p.flags), cleared: bitsToFlags(p.cleared), propagation: p.propagation.map(propagationName), data: p.data };
}

/** A mount as containerd and OCI describe it (`@berth/oci-spec` `Mount` fits). */
export interface MountSpec {
  /** Filesystem type: `overlay`, `bind`, `tmpfs`… (`bind` mounts with no fstype). */
  type: string;
  source: string;
  /** A path inside the `target` of {@link mountAll}; the mount goes on `target` itself when absent. */
  target?: string;
  options?: string[];
}

/**
 * Mounts each of `mounts` in order, as containerd's `mount.All`: options
 * are split by {@link parseMountOptions}; a mount's own `target` is resolved
 * inside `target` with {@link resolveInRoot} (so a symlink cannot lead it
 * out) and must exist. Type `bind` (or a `bind`/`rbind` option) makes a bind
 * mount. An `overlay` whose data exceeds one page is mounted layer by layer
 * with {@link mountOverlay} (new mount API) instead of failing. Stops at the
 * first failure; mounts already made stay.
 */
export function mountAll(mounts: readonly MountSpec[], target: string): void {
  for (const m of mounts) {
    const parsed = parseMountOptions(m.options ?? []);
    const where = m.target === undefined || m.target === '' || m.target === '/' ? target : resolveInRoot(target, m.target);
    const isBind = m.type === 'bind' || parsed.flags.bind === true;
    const flags: MountFlags = { ...parsed.flags, ...(m.type === 'bind' ? { bind: true } : {}) };
    if (m.type === 'overlay' && Buffer.byteLength(parsed.data) > MOUNT_DATA_MAX) {
      mountOverlay(where, overlayFromData(parsed.data), flags);
    } else {
      mount(m.source === '' ? null : m.source, where, isBind ? null : m.type, flags, parsed.data === '' ? undefined : parsed.data);
    }
    for (const p of parsed.propagation) {
      const base = p.startsWith('r') ? p.slice(1) : p;
      mount(null, where, null, { [base]: true, rec: p.startsWith('r') } as MountFlags);
    }
  }
}

// ---------------------------------------------------------------------------
// mknod

/** The file types {@link mknod} creates. */
export const NodeType = {
  file: 0o100000,
  char: 0o020000,
  block: 0o060000,
  fifo: 0o010000,
  socket: 0o140000,
} as const;

/** A key of {@link NodeType}. */
export type NodeType = keyof typeof NodeType;

/** What {@link mknod} creates. */
export interface MknodOptions {
  type: NodeType;
  /** Permission bits (before umask), such as `0o666`. */
  mode: number;
  /** Device major, for `char` and `block`. A whiteout is `char` 0/0. */
  major?: number;
  minor?: number;
}

/** mknod(2): a device node, fifo, socket or empty file. */
export function mknod(path: string, opts: MknodOptions): void {
  const type = NodeType[opts.type];
  if (type === undefined) throw new NamespacesInvalidArgumentError(`unknown node type ${JSON.stringify(opts.type)}`);
  if (!Number.isInteger(opts.mode) || opts.mode < 0 || opts.mode > 0o7777) {
    throw new NamespacesInvalidArgumentError(`mode ${opts.mode} is not a permission mode (0..0o7777)`);
  }
  callNative(() => native().fsMknod(path, type | opts.mode, opts.major ?? 0, opts.minor ?? 0));
}

/**
 * makedev(3): a `dev_t` from major and minor, with glibc's encoding
 * (`st_rdev` of Node's `fs.Stats` uses the same).
 */
export function makedev(major: number, minor: number): number {
  if (!Number.isInteger(major) || !Number.isInteger(minor) || major < 0 || minor < 0 || major > 0xffffffff || minor > 0xffffffff) {
    throw new NamespacesInvalidArgumentError(`device ${major}:${minor} is out of range`);
  }
  const M = BigInt(major);
  const m = BigInt(minor);
  const dev = ((M & 0xfffff000n) << 32n) | ((M & 0xfffn) << 8n) | ((m & 0xffffff00n) << 12n) | (m & 0xffn);
  if (dev > BigInt(Number.MAX_SAFE_INTEGER)) throw new NamespacesInvalidArgumentError(`device ${major}:${minor} does not fit a safe integer`);
  return Number(dev);
}

// ---------------------------------------------------------------------------
// xattrs

/** Options of {@link lsetxattr}. */
export interface SetXattrOptions {
  /** `XATTR_CREATE`: fail with EEXIST if it exists. */
  create?: boolean;
  /** `XATTR_REPLACE`: fail with ENODATA if it does not exist. */
  replace?: boolean;
}

/** lsetxattr(2): sets an extended attribute, on a symlink itself when `path` is one. */
export function lsetxattr(path: string, name: string, value: Buffer | Uint8Array, opts: SetXattrOptions = {}): void {
  const flags = (opts.create ? 1 : 0) | (opts.replace ? 2 : 0);
  const buf = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  callNative(() => native().fsLsetxattr(path, name, buf, flags));
}

/** lgetxattr(2): the value, or undefined when the attribute is absent (ENODATA). */
export function lgetxattr(path: string, name: string): Buffer | undefined {
  return callNative(() => native().fsLgetxattr(path, name));
}

/** llistxattr(2): the attribute names (those the caller may see). */
export function llistxattr(path: string): string[] {
  return callNative(() => native().fsLlistxattr(path));
}

/** lremovexattr(2). ENODATA when absent. */
export function lremovexattr(path: string, name: string): void {
  callNative(() => native().fsLremovexattr(path, name));
}

// ---------------------------------------------------------------------------
// ownership, times, rename, sync

/** lchown(2): changes owner and group without following a symlink; -1 leaves one as is. */
export function lchown(path: string, uid: number, gid: number): void {
  callNative(() => native().fsLchown(path, uid, gid));
}

/** A timestamp with nanosecond precision. */
export interface Timespec {
  sec: number | bigint;
  /** 0..999999999. */
  nsec: number;
}

/** A time for {@link utimensat}: a timestamp, `'now'` or `'omit'` (leave it). */
export type TimeArg = Timespec | 'now' | 'omit';

function timeArgs(t: TimeArg, what: string): [number, number] {
  if (t === 'now') return [0, -1];
  if (t === 'omit') return [0, -2];
  const sec = typeof t.sec === 'bigint' ? Number(t.sec) : t.sec;
  if (!Number.isSafeInteger(sec)) throw new NamespacesInvalidArgumentError(`${what}.sec ${String(t.sec)} is not a safe integer`);
  if (!Number.isInteger(t.nsec) || t.nsec < 0 || t.nsec > 999_999_999) {
    throw new NamespacesInvalidArgumentError(`${what}.nsec ${t.nsec} is not in 0..999999999`);
  }
  return [sec, t.nsec];
}

/** Options of {@link utimensat}. */
export interface UtimensatOptions {
  /** `AT_SYMLINK_NOFOLLOW`: set the times of a symlink itself. */
  nofollow?: boolean;
}

/** utimensat(2) with nanosecond precision; with `nofollow`, works on symlinks. */
export function utimensat(path: string, atime: TimeArg, mtime: TimeArg, opts: UtimensatOptions = {}): void {
  const [as, an] = timeArgs(atime, 'atime');
  const [ms, mn] = timeArgs(mtime, 'mtime');
  callNative(() => native().fsUtimensat(path, as, an, ms, mn, opts.nofollow === true));
}

/** Options of {@link renameat2}. */
export interface RenameOptions {
  /** `RENAME_NOREPLACE`: fail with EEXIST instead of replacing `newPath`. */
  noReplace?: boolean;
  /** `RENAME_EXCHANGE`: swap the two paths atomically (both must exist). */
  exchange?: boolean;
  /** `RENAME_WHITEOUT`: leave an overlay whiteout (char 0/0) at `oldPath`. */
  whiteout?: boolean;
}

/** renameat2(2). The error's `path` is `oldPath`. */
export function renameat2(oldPath: string, newPath: string, opts: RenameOptions = {}): void {
  const flags = (opts.noReplace ? 1 : 0) | (opts.exchange ? 2 : 0) | (opts.whiteout ? 4 : 0);
  callNative(() => native().fsRenameat2(oldPath, newPath, flags));
}

/** syncfs(2): flushes the whole filesystem holding `path` (opened O_RDONLY|O_CLOEXEC). */
export function syncfs(path: string): void {
  callNative(() => native().fsSyncfs(path));
}

/** Opens `path` read-only and fsync(2)s it. */
export function fsyncPath(path: string): void {
  callNative(() => native().fsFsyncPath(path));
}

/** Opens the directory `path` and fsync(2)s it, making entries created or renamed in it durable. */
export function fsyncDir(path: string): void {
  callNative(() => native().fsFsyncDir(path));
}

/**
 * Deletes `path` and, for a directory, everything under it, in one job on
 * the libuv thread pool (Rust's `remove_dir_all`: `openat` with
 * `O_NOFOLLOW`, so a symlink inside is removed, never followed). A missing
 * path is not an error. Unlike `fs.promises.rm` with `recursive`, which
 * queues one pool job per entry (each a round trip through the main thread),
 * a tree of thousands of entries costs the main thread one call and one
 * completion, and holds one pool thread.
 *
 * @throws SystemCallError (rejects) when an entry cannot be removed.
 */
export async function removeTree(path: string): Promise<void> {
  if (typeof path !== 'string' || path === '') throw new NamespacesInvalidArgumentError('removeTree: path must be a non-empty string');
  try {
    await native().fsRemoveTree(path);
  } catch (e) {
    throw fromNative(e);
  }
}

/**
 * {@link removeTree} on the calling thread: for a small tree (a container's
 * empty upper and work directories), where a pool job's round trip costs
 * more than the few syscalls, and `fs.rmSync` with `recursive` would load
 * Node's JavaScript rimraf first (~2 ms here). A missing path is not an error.
 *
 * @throws SystemCallError when an entry cannot be removed.
 */
export function removeTreeSync(path: string): void {
  if (typeof path !== 'string' || path === '') throw new NamespacesInvalidArgumentError('removeTreeSync: path must be a non-empty string');
  callNative(() => native().fsRemoveTreeSync(path));
}

/** What {@link flock} does: take a shared or an exclusive lock, or release it. */
export type FlockOperation = 'shared' | 'exclusive' | 'unlock';

/**
 * flock(2) on an open descriptor. The lock belongs to the open file
 * description: two `open`s of one file conflict even in one process, and
 * the kernel drops it when the last descriptor of it is closed (a process
 * that dies releases its locks). Without `wait` (the default) a conflicting
 * lock makes it return false at once; with `wait: true` it blocks the
 * calling thread until granted (do not use it on the main thread). Taking
 * a lock over one already held converts it.
 */
export function flock(fd: number, op: FlockOperation, opts: { wait?: boolean } = {}): boolean {
  if (op !== 'shared' && op !== 'exclusive' && op !== 'unlock') throw new NamespacesInvalidArgumentError(`flock: unknown operation ${JSON.stringify(op)}`);
  return callNative(() => native().fsFlock(fd, op === 'exclusive', op === 'unlock', opts.wait === true));
}

/**
 * Takes a shared or an exclusive {@link flock} on `fd` without blocking a
 * thread: tries at once, and while a conflicting lock is held on another
 * open file description polls every 1, 2, 4… 16 ms (locks on berth's roots
 * are held for milliseconds: a record change, a metadata write). An abort
 * while waiting throws `ERR_CANCELLED` (`what` names the wait in it).
 */
export async function flockPolled(fd: number, op: 'shared' | 'exclusive', opts: { signal?: AbortSignal; what?: string } = {}): Promise<void> {
  for (let delay = 1; !flock(fd, op); delay = Math.min(delay * 2, 16)) {
    throwIfAborted(opts.signal, opts.what ?? 'lock');
    await sleep(delay);
  }
}

/** {@link flockPolled} of an exclusive lock. */
export function flockExclusive(fd: number, opts: { signal?: AbortSignal; what?: string } = {}): Promise<void> {
  return flockPolled(fd, 'exclusive', opts);
}

// ---------------------------------------------------------------------------
// file mappings

/**
 * The file's bytes as a Buffer over a private mapping of it, without reading
 * or copying it: pages come from the page cache as they are touched, and are
 * unmapped when the Buffer is collected; writes through it stay in this
 * process. A file truncated while mapped makes the lost pages fault
 * (SIGBUS) when touched: map only files that are replaced or removed, never
 * rewritten in place. Also the CommonJS entry point `@berth/namespaces/map-file`
 * (for start-up code without the ES module loader; untyped errors there).
 */
export function mapFile(file: string): Buffer {
  return callNative(() => native().fsMapFile(file, false) as Buffer);
}

/**
 * The file's bytes as a one-byte string (latin1: each byte one UTF-16 code
 * unit; ASCII reads as itself), backed by a private mapping of it: V8 keeps
 * it as an external string, no copy on its heap. As {@link mapFile}.
 */
export function mapFileLatin1(file: string): string {
  return callNative(() => native().fsMapFile(file, true) as string);
}

// ---------------------------------------------------------------------------
// resolve inside a root

/** open(2) flags as an object; `O_CLOEXEC` is always added. */
export interface OpenFlags {
  /** `r` (default), `w` or `rw`. */
  access?: 'r' | 'w' | 'rw';
  create?: boolean;
  exclusive?: boolean;
  truncate?: boolean;
  append?: boolean;
  directory?: boolean;
  /** Do not follow a symlink in the last component (with `path`, opens the link itself). */
  nofollow?: boolean;
  /** `O_PATH`: an fd that only names the file. */
  path?: boolean;
  nonblock?: boolean;
}

const O_PATH = 0o10000000;

function openFlagBits(f: OpenFlags | number | undefined): number {
  if (f === undefined) return fs.constants.O_RDONLY;
  if (typeof f === 'number') return f;
  const c = fs.constants;
  let bits = f.access === 'w' ? c.O_WRONLY : f.access === 'rw' ? c.O_RDWR : c.O_RDONLY;
  if (f.create) bits |= c.O_CREAT;
  if (f.exclusive) bits |= c.O_EXCL;
  if (f.truncate) bits |= c.O_TRUNC;
  if (f.append) bits |= c.O_APPEND;
  if (f.directory) bits |= c.O_DIRECTORY;
  if (f.nofollow) bits |= c.O_NOFOLLOW;
  if (f.path) bits |= O_PATH;
  if (f.nonblock) bits |= c.O_NONBLOCK;
  return bits;
}

/**
 * How to resolve: `auto` (openat2, falling back to the walk where the kernel
 * lacks it), or one of them only (`openat2`, `walk`), which tests use to
 * check both.
 */
export type Resolver = 'auto' | 'openat2' | 'walk';

/** Options of {@link openInRoot}. */
export interface OpenInRootOptions {
  /** An {@link OpenFlags} object or a number made of `fs.constants.O_*`. Default read-only. */
  flags?: OpenFlags | number;
  /** Mode for a file created with `create`. Default 0o644. */
  mode?: number;
  /** Refuse every symlink on the way (ELOOP), `RESOLVE_NO_SYMLINKS`. */
  noSymlinks?: boolean;
  /** Fail with EXDEV instead of clamping when the path would leave the root, `RESOLVE_BENEATH`. */
  beneath?: boolean;
  resolver?: Resolver;
}

/**
 * Opens `relPath` as if `root` were `/` and returns the fd (close it with
 * `fs.closeSync`). Uses openat2(2) with `RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS` (`RESOLVE_BENEATH` with `beneath`); where openat2
 * is missing (ENOSYS) it walks the path one component at a time with
 * `O_PATH|O_NOFOLLOW`, reading each symlink and resolving it from the root.
 *
 * Escapes are clamped: `..` at the root stays at the root; an absolute
 * symlink (`/etc/passwd`) resolves from the root (`<root>/etc/passwd`); a
 * relative one climbing out (`../../..`) stops at the root; at most 40
 * symlinks are followed (ELOOP). With `beneath`, each of these fails with
 * EXDEV instead. Magic links (`/proc/self/fd/N`, `/proc/<pid>/root`) fail
 * with ELOOP under openat2 and are followed as plain text under the walk.
 */
export function openInRoot(root: string, relPath: string, opts: OpenInRootOptions = {}): number {
  const flags = openFlagBits(opts.flags);
  return callNative(() => native().fsOpenInRoot(root, relPath, flags, opts.mode ?? 0o644, opts.noSymlinks === true, opts.beneath === true, opts.resolver ?? 'auto'));
}

/**
 * The host path `relPath` resolves to inside `root`, following symlinks the
 * way {@link openInRoot} does (clamped inside `root`). The file must exist
 * (ENOENT otherwise).
 */
export function resolveInRoot(root: string, relPath: string, opts: { resolver?: Resolver } = {}): string {
  return callNative(() => native().fsResolveInRoot(root, relPath, opts.resolver ?? 'auto'));
}

/**
 * `mkdir -p relPath` inside `root`: each missing directory is created with
 * mkdirat(2) on its parent's fd, itself resolved inside `root`, so symlinks
 * cannot redirect creation outside. A dangling symlink in the way is an
 * error (ENOENT).
 */
export function mkdirInRoot(root: string, relPath: string, mode = 0o755, opts: { resolver?: Resolver } = {}): void {
  callNative(() => native().fsMkdirInRoot(root, relPath, mode, opts.resolver ?? 'auto'));
}

/** The path an open fd refers to (readlink of `/proc/self/fd/<fd>`). */
export function fdPath(fd: number): string {
  return callNative(() => native().fsFdPath(fd));
}

