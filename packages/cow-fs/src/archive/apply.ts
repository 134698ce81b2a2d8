/**
 * applyLayer: restores an OCI layer (tar, tar+gzip, tar+zstd) into a
 * directory, safely and fast.
 *
 * Safety, by construction: every entry name is checked (no absolute path, no
 * `..`), then its parent is resolved *inside the target* the way openat2's
 * RESOLVE_IN_ROOT does: symlinks met in parent components (planted by an
 * earlier entry or an earlier layer) are followed with the target as `/`, so
 * they can only lead to another place inside the target. The final component
 * is never followed: files are created with O_EXCL|O_NOFOLLOW, an existing
 * entry is unlinked first, and metadata calls use the l-variants. Hardlink
 * targets go through the same resolution and must be non-directories inside
 * the target (or, for overlay upper dirs, inside a lower layer: copied up).
 *
 * Speed: the work is synchronous per entry (no thread-pool hop per syscall)
 * while decompression runs on the thread pool or in a zstd child; resolved
 * parent directories are cached for the layer and the cache is dropped when
 * an entry removes or replaces a directory or symlink.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { formatDigest, throwIfAborted, systemErrorFields, type Digest } from '@berth/oci-spec';
import {
  LayerApplyError, LayerDeviceNotPermittedError, LayerInvalidWhiteoutError, LayerLinkEscapeError, LayerPathEscapeError,
} from '../errors.js';
import { publishLayerApplied } from '../diagnostics.js';
import { copyEntry } from '../internal/copy-tree.js';
import { lgetxattr, lsetxattr, lutimens, mknod, syncfs } from '../internal/sys.js';
import { decompress, type Compression, type GzipDecoder, type LayerDecoder, type ZstdDecoder } from './compression.js';
import { TarEntryType, type TarHeader, type Timespec } from './tar-header.js';
import { TarParser, type TarSink } from './tar-reader.js';

/** How whiteouts are restored. */
export const WhiteoutMode = {
  /** Delete what they name (the target holds the whole tree: copy backend). */
  Apply: 'apply',
  /** Turn them into overlayfs form: char 0/0 devices and `trusted.overlay.opaque=y` (target is an upper dir). */
  Overlay: 'overlay',
} as const;
/** One of the values of {@link WhiteoutMode}. */
export type WhiteoutMode = (typeof WhiteoutMode)[keyof typeof WhiteoutMode];

/** Options of {@link applyLayer}. */
export interface ApplyLayerOptions {
  /** How whiteouts are restored (default 'apply'). */
  convertWhiteout?: WhiteoutMode;
  /** Lower layer roots, topmost first, seen through an overlay upper target: for parent symlinks, implicit parent metadata and hardlink copy-up. */
  lowers?: readonly string[];
  /** Restore char and block devices (default true); false rejects them with ERR_LAYER_DEVICE_NOT_PERMITTED. */
  allowDevices?: boolean;
  /** chown entries to their uid/gid (default: when running as root). */
  sameOwner?: boolean;
  /** Restore xattrs (default true). `trusted.overlay.*` from a layer are always dropped. */
  xattrs?: boolean;
  /** syncfs the target's filesystem when done (default true). */
  sync?: boolean;
  /** zstd decoder choice (default 'auto': the zstd CLI when installed). */
  zstdDecoder?: ZstdDecoder;
  /**
   * Create new symlinks (and their owner and whole-second times) on the
   * thread pool, up to 8 at once, when the target started empty (default
   * false). It frees the main thread where cores are idle; on a busy 2-core
   * machine whose ext4 allocates inodes slowly it cost twice the CPU (the
   * threads contend for the same directory and inode group) and was slower.
   */
  symlinksOnPool?: boolean;
  /** gzip decoder choice (default 'auto': ISA-L when libisal.so.2 is usable, else zlib; see {@link GzipDecoder}). */
  gzipDecoder?: GzipDecoder;
  /**
   * Settles when every layer in `lowers` is completely applied (concurrent
   * unpack: this layer is applied while the ones below it still are). Until
   * then no lower layer is ever read: an entry that needs one (an implicit
   * parent directory, a parent symlink or a hardlink target missing from
   * this layer) and every entry after it wait, so the result is the same as
   * applying the layers one after another. A rejection fails this apply.
   */
  lowersReady?: Promise<unknown>;
  signal?: AbortSignal;
}

/** What {@link applyLayer} reports. */
export interface ApplyLayerResult {
  /** sha256 of the uncompressed tar stream, `sha256:<hex>`. */
  diffId: Digest;
  /** Uncompressed size in bytes. */
  size: number;
  /** Size of the input as read (compressed) in bytes. */
  compressedSize: number;
  compression: Compression;
  /** The decoder that ran (see `gzipDecoder`, `zstdDecoder`). */
  decoder: LayerDecoder;
  /** Number of entries restored (whiteouts included). */
  entries: number;
}

const WH = '.wh.';
/** Uncompressed bytes a layer reads ahead while waiting for its lower layers (see `lowersReady`). */
const AHEAD_LIMIT = 32 << 20;
/**
 * Longest run of entries restored without yielding to the event loop (ms). Restoring is
 * synchronous; without a yield, a layer of many small entries (busybox: 268 symlinks) keeps
 * the main thread from feeding the decompressor of a layer unpacked beside it.
 */
const SLICE_MS = 4;
/** Files at least this large have their data written on the thread pool (see LayerApplier.data). */
const POOL_WRITE_MIN = 1 << 20;
/** Bytes of one file queued for the thread pool at most; beyond, the applier waits for them (back-pressure). */
const POOL_WRITE_QUEUE = 16 << 20;
/** The key of the current file's pool writes in LayerApplier.pending. */
const WRITES = '\0writes';
/** Symlinks created on the thread pool at once, at most (see LayerApplier.symlinkAsync). */
const MAX_PENDING_SYMLINKS = 8;
/** Thrown inside the applier when an entry needs a lower layer that is not complete yet; never escapes it. */
const NEED_LOWERS: unique symbol = Symbol('need lowers');
/** A sink call held while the applier waits for its lower layers. */
type HeldCall = { kind: 'entry' | 'end'; h: TarHeader } | { kind: 'data'; chunk: Buffer; position: number };
const OPAQUE = '.wh..wh..opq';
const O_NOFOLLOW = fs.constants.O_NOFOLLOW;
const FILE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | O_NOFOLLOW;

const toSec = (t: Timespec): number => t.sec + t.nsec / 1e9;
const msToTimespec = (ms: number): Timespec => {
  const sec = Math.floor(ms / 1000);
  return { sec, nsec: Math.round((ms - sec * 1000) * 1e6) };
};

/** Runs a create call; false when it failed because the path exists (EEXIST). */
function tryCreate(fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if ((e as { code?: string; errnoCode?: string }).code === 'EEXIST' || (e as { errnoCode?: string }).errnoCode === 'EEXIST') return false;
    throw e;
  }
}

/** Splits and checks an entry name; [] is the root. */
export function entryComponents(name: string): string[] {
  if (name.startsWith('/') || name.includes('\0')) throw new LayerPathEscapeError(name);
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw new LayerPathEscapeError(name);
    out.push(c);
  }
  return out;
}

/** Splits and checks a hardlink target; it must stay inside the layer root. */
function linkComponents(entry: string, linkname: string): string[] {
  if (linkname.startsWith('/') || linkname.includes('\0')) throw new LayerLinkEscapeError(entry, linkname);
  const out: string[] = [];
  for (const c of linkname.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw new LayerLinkEscapeError(entry, linkname);
    out.push(c);
  }
  if (out.length === 0) throw new LayerLinkEscapeError(entry, linkname);
  return out;
}

class LayerApplier implements TarSink {
  private dirs = new Set<string>();
  private parents = new Map<string, string>();
  private deferred: Array<[string, Timespec, Timespec]> = [];
  private written = new Set<string>();
  private fd = -1;
  /** Where the open file (fd) lives, for its metadata at its end. */
  private curAbs = '';
  private curName = '';
  /** Whether `lowers` may be read (no `lowersReady`, or it resolved). */
  private lowersComplete: boolean;
  /** Whether `lowersReady` has settled (resolved or rejected). */
  lowersSettled: boolean;
  /** Sink calls held, in order, while waiting for the lowers or a turn of the event loop (undefined: not waiting). */
  private held: HeldCall[] | undefined;
  /** Whether the held calls wait for the lowers (else only for a turn of the event loop). */
  private heldForLowers = false;
  /** Whether the held calls wait for the symlinks being created on the thread pool. */
  private heldForPending = false;
  /** Symlinks being created on the thread pool, by absolute path (see symlinkAsync). */
  private readonly pending = new Map<string, Promise<void>>();
  /** The first failure of a pending symlink, reported at the next wait for them. */
  private pendingError: { name: string; error: unknown } | undefined;
  /** Whether the root was empty when the layer began (a fresh upper dir): names this layer never wrote do not exist. */
  private readonly freshRoot: boolean;
  /** When the current run of synchronous restores began. */
  private sliceStart = performance.now();
  entries = 0;
  private readonly overlay: boolean;
  private readonly lowers: readonly string[];
  private readonly allowDevices: boolean;
  private readonly chown: boolean;
  private readonly xattrs: boolean;
  private readonly symlinksOnPool: boolean;
  /** Whether the open file's data goes to the thread pool (a large file). */
  private fdOnPool = false;
  /** The open file's pool writes, one after another (one pool thread, no contention for the inode lock). */
  private writeChain: Promise<void> | undefined;
  /** Bytes queued in writeChain. */
  private writeQueued = 0;

  constructor(private readonly root: string, private readonly opts: ApplyLayerOptions) {
    this.overlay = opts.convertWhiteout === WhiteoutMode.Overlay;
    this.lowers = opts.lowers ?? [];
    this.allowDevices = opts.allowDevices !== false;
    this.chown = opts.sameOwner ?? process.getuid?.() === 0;
    this.xattrs = opts.xattrs !== false;
    this.symlinksOnPool = opts.symlinksOnPool === true;
    this.lowersComplete = opts.lowersReady === undefined;
    this.lowersSettled = this.lowersComplete;
    this.freshRoot = fs.readdirSync(root).length === 0;
    const settled = (): void => { this.lowersSettled = true; };
    opts.lowersReady?.then(settled, settled);
  }

  /** Whether the applier holds entries, until its lower layers are complete or for a yield (see {@link resume}). */
  get waiting(): boolean {
    return this.held !== undefined;
  }

  /** Whether it holds entries for lower layers that are not complete yet (resume would wait for them). */
  get blockedOnLowers(): boolean {
    return this.held !== undefined && this.heldForLowers && !this.lowersSettled;
  }

  /** A new input chunk: the caller has just yielded to the event loop, so a new time slice starts. */
  beginSlice(): void {
    this.sliceStart = performance.now();
  }

  /**
   * Waits for the lower layers, then restores the held entries in order.
   * Called between input chunks, so at most one chunk is held.
   */
  async resume(): Promise<void> {
    const held = this.held ?? [];
    if (this.heldForPending) {
      await this.drain();
    } else if (!this.heldForLowers || this.lowersComplete) {
      // Only yielding: let other work (I/O callbacks, another layer's decompressor) run first.
      await new Promise<void>((resolve) => setImmediate(resolve));
    } else {
      try {
        await this.opts.lowersReady;
      } catch (e) {
        const first = held[0];
        throw new LayerApplyError(first !== undefined && first.kind !== 'data' ? first.h.name : this.curName, 'a lower layer failed to apply', { cause: e });
      }
      this.lowersComplete = true;
    }
    this.held = undefined;
    this.heldForLowers = false;
    this.heldForPending = false;
    this.sliceStart = performance.now();
    for (const c of held) {
      if (c.kind === 'entry') this.entry(c.h);
      else if (c.kind === 'data') this.data(c.chunk, c.position);
      else this.end(c.h);
    }
  }

  private invalidate(): void {
    this.dirs.clear();
    this.parents.clear();
  }

  /** Waits for the pending symlinks and pool writes; throws the first failure among them, naming its entry. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending.values());
    const failed = this.pendingError;
    if (failed !== undefined) {
      this.pendingError = undefined;
      const e = failed.error;
      const errnoCode = (e as { errnoCode?: unknown }).errnoCode;
      throw new LayerApplyError(failed.name, `restore failed: ${(e as Error).message}`, {
        cause: e, details: { ...systemErrorFields(e), ...(typeof errnoCode === 'string' ? { errnoCode } : {}) },
      });
    }
  }

  /**
   * Where a symlink entry would be created without any synchronous call, or
   * undefined when it must take the synchronous path: the root was empty at
   * the start, the parent is resolved already (cached), nothing was written
   * at that name by this layer (so nothing is there, and no later entry
   * depends on it yet), and its metadata needs no native call (no xattrs,
   * times in whole seconds).
   */
  private asyncSymlinkTarget(h: TarHeader): { abs: string; rel: string } | undefined {
    if (!this.symlinksOnPool || !this.freshRoot || h.type !== TarEntryType.Symlink) return undefined;
    if (h.mtime.nsec !== 0 || (h.atime?.nsec ?? 0) !== 0 || (this.xattrs && h.xattrs.size > 0)) return undefined;
    let comps: string[];
    try {
      comps = entryComponents(h.name);
    } catch {
      return undefined;
    }
    if (comps.length === 0) return undefined;
    const base = comps[comps.length - 1]!;
    if (base.startsWith(WH)) return undefined;
    const parent = this.parents.get(comps.slice(0, -1).join('/'));
    if (parent === undefined) return undefined;
    const abs = `${parent}/${base}`;
    const rel = parent === this.root ? base : `${parent.slice(this.root.length + 1)}/${base}`;
    if (this.written.has(rel) || this.dirs.has(rel) || this.pending.has(abs)) return undefined;
    return { abs, rel };
  }

  /**
   * Creates a symlink (then its owner and times) on the thread pool: the
   * busybox layer's hundreds of symlinks no longer hold the main thread,
   * which decompresses, hashes and restores the other layers meanwhile. The
   * path was resolved inside the root like any other (asyncSymlinkTarget);
   * entries that are not such new symlinks wait for the pending ones first.
   */
  private symlinkAsync(h: TarHeader, abs: string, rel: string): void {
    this.written.add(rel);
    const at = toSec(h.atime ?? h.mtime);
    const mt = toSec(h.mtime);
    const op = (async () => {
      await fsp.symlink(h.linkname, abs);
      if (this.chown) await fsp.lchown(abs, h.uid, h.gid);
      await fsp.lutimes(abs, at, mt);
    })().catch((e: unknown) => { this.pendingError ??= { name: h.name, error: e }; })
      .finally(() => { this.pending.delete(abs); });
    this.pending.set(abs, op);
  }

  /**
   * Looks `rel` (already resolved, symlink-free in the merged view) up in the
   * lower layers, topmost first, as overlayfs would: a whiteout hides it, a
   * non-directory or an opaque directory on the way hides the layers below,
   * and no symlink is ever followed — so a lower layer's symlink can never
   * lead this lookup (or a hardlink copy-up) out of the lower root.
   */
  private lowerStat(rel: string): { path: string; st: fs.Stats } | undefined {
    // A lower layer still being applied is never read: the entry waits (see resume()).
    if (!this.lowersComplete) throw NEED_LOWERS;
    const comps = rel.split('/');
    let up = this.root;
    for (let i = 0; i < comps.length - 1; i++) {
      up += '/' + comps[i];
      const st = fs.lstatSync(up, { throwIfNoEntry: false });
      if (st === undefined) continue;
      if (!st.isDirectory() || isOpaqueDir(up)) return undefined;
    }
    for (const l of this.lowers) {
      let p = l;
      let opaque = false;
      for (let i = 0; i < comps.length; i++) {
        p += '/' + comps[i];
        const st = fs.lstatSync(p, { throwIfNoEntry: false });
        if (st === undefined) break;
        if (st.isCharacterDevice() && st.rdev === 0) return undefined;
        if (i === comps.length - 1) return { path: p, st };
        if (!st.isDirectory()) return undefined;
        if (isOpaqueDir(p)) opaque = true;
      }
      if (opaque) return undefined;
    }
    return undefined;
  }

  /**
   * Resolves directory components inside the root (RESOLVE_IN_ROOT
   * semantics) and returns [absolute path, relative path]. Missing
   * directories are created when `create`, else undefined is returned.
   */
  private resolveDir(comps: readonly string[], create: boolean): [string, string] | undefined {
    const key = comps.join('/');
    const hit = this.parents.get(key);
    if (hit !== undefined) return [hit, hit === this.root ? '' : hit.slice(this.root.length + 1)];
    const resolved: string[] = [];
    const queue = comps.slice();
    let links = 0;
    while (queue.length > 0) {
      const c = queue.shift()!;
      if (c === '' || c === '.') continue;
      if (c === '..') { resolved.pop(); continue; }
      resolved.push(c);
      const rel = resolved.join('/');
      if (this.dirs.has(rel)) continue;
      const abs = `${this.root}/${rel}`;
      let st = fs.lstatSync(abs, { throwIfNoEntry: false });
      let lowerPath: string | undefined;
      if (st === undefined && this.lowers.length > 0) {
        const lo = this.lowerStat(rel);
        if (lo !== undefined) { st = lo.st; lowerPath = lo.path; }
      }
      if (st === undefined) {
        if (!create) return undefined;
        fs.mkdirSync(abs, 0o755);
        this.dirs.add(rel);
        continue;
      }
      if (st.isSymbolicLink()) {
        if (++links > 40) throw new LayerApplyError(this.curName, `too many symlinks resolving ${JSON.stringify(key)}`);
        const target = fs.readlinkSync(lowerPath ?? abs);
        resolved.pop();
        if (target.startsWith('/')) resolved.length = 0;
        queue.unshift(...target.split('/'));
        continue;
      }
      if (!st.isDirectory()) throw new LayerApplyError(this.curName, `parent ${JSON.stringify(rel)} is not a directory`);
      if (lowerPath !== undefined) {
        if (!create) return undefined;
        // An implicit parent in an upper dir takes the lower directory's metadata, as the merged view shows it.
        fs.mkdirSync(abs, 0o755);
        if (this.chown) fs.lchownSync(abs, st.uid, st.gid);
        fs.chmodSync(abs, st.mode & 0o7777);
        this.deferred.push([abs, msToTimespec(st.atimeMs), msToTimespec(st.mtimeMs)]);
      }
      this.dirs.add(rel);
    }
    const rel = resolved.join('/');
    const abs = rel === '' ? this.root : `${this.root}/${rel}`;
    this.parents.set(key, abs);
    return [abs, rel];
  }

  /** Removes whatever is at `abs`; keeps an existing directory when `keepDir`. Returns true if a directory was kept. */
  private clear(abs: string, keepDir: boolean): boolean {
    const st = fs.lstatSync(abs, { throwIfNoEntry: false });
    if (st === undefined) return false;
    if (st.isDirectory()) {
      if (keepDir) return true;
      fs.rmSync(abs, { recursive: true, force: true });
      this.invalidate();
      return false;
    }
    fs.unlinkSync(abs);
    if (st.isSymbolicLink()) this.invalidate();
    return false;
  }

  entry(h: TarHeader): void {
    if (this.held !== undefined) { this.held.push({ kind: 'entry', h }); return; }
    if (performance.now() - this.sliceStart > SLICE_MS) { this.held = [{ kind: 'entry', h }]; return; }
    // Only new symlinks may run beside the pending ones; anything else waits until they exist.
    if (this.pending.size > 0 && (this.pending.size >= MAX_PENDING_SYMLINKS || this.asyncSymlinkTarget(h) === undefined)) {
      this.held = [{ kind: 'entry', h }];
      this.heldForPending = true;
      return;
    }
    throwIfAborted(this.opts.signal, 'apply layer');
    this.curName = h.name;
    try {
      this.guard(h.name, () => this.restore(h));
    } catch (e) {
      if (e !== NEED_LOWERS) throw e;
      // Everything the entry did before it needed a lower (parent directories
      // made in this layer) is redone the same way when it is restored again.
      this.held = [{ kind: 'entry', h }];
      this.heldForLowers = true;
      return;
    }
    this.entries++;
  }

  /** Runs one step of an entry; a failure closes the open file and names the entry. */
  private guard(name: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (e === NEED_LOWERS) throw e;
      this.abort();
      // Our own rejections already name the entry; anything else (fs, syscall) is wrapped so it does.
      const code = (e as { code?: unknown }).code;
      if (typeof code === 'string' && (code.startsWith('ERR_LAYER_') || code === 'ERR_CANCELLED')) throw e;
      const errnoCode = (e as { errnoCode?: unknown }).errnoCode;
      throw new LayerApplyError(name, `restore failed: ${(e as Error).message}`, {
        cause: e, details: { ...systemErrorFields(e), ...(typeof errnoCode === 'string' ? { errnoCode } : {}) },
      });
    }
  }

  private restore(h: TarHeader): void {
    const asyncAt = this.asyncSymlinkTarget(h);
    if (asyncAt !== undefined) return this.symlinkAsync(h, asyncAt.abs, asyncAt.rel);
    const comps = entryComponents(h.name);
    const base = comps.length === 0 ? '' : comps[comps.length - 1]!;
    if (base.startsWith(WH)) return this.whiteout(h, comps, base);
    if (comps.length === 0) {
      if (h.type !== TarEntryType.Directory) throw new LayerPathEscapeError(h.name);
      this.metadata(this.root, h, true);
      this.deferred.push([this.root, h.atime ?? h.mtime, h.mtime]);
      return;
    }
    if ((h.type === TarEntryType.CharDevice || h.type === TarEntryType.BlockDevice) && !this.allowDevices) {
      throw new LayerDeviceNotPermittedError(h.name);
    }
    const parent = this.resolveDir(comps.slice(0, -1), true)!;
    const abs = `${parent[0]}/${base}`;
    const rel = parent[1] === '' ? base : `${parent[1]}/${base}`;
    this.written.add(rel);
    switch (h.type) {
      case TarEntryType.Directory: {
        // Create first, look only on EEXIST: one syscall in the common case.
        if (!tryCreate(() => fs.mkdirSync(abs, 0o700)) && !this.clear(abs, true)) fs.mkdirSync(abs, 0o700);
        this.dirs.add(rel);
        this.metadata(abs, h, true);
        this.deferred.push([abs, h.atime ?? h.mtime, h.mtime]);
        return;
      }
      case TarEntryType.File: {
        let fd: number;
        try {
          fd = fs.openSync(abs, FILE_FLAGS, 0o600);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
          this.clear(abs, false);
          fd = fs.openSync(abs, FILE_FLAGS, 0o600);
        }
        this.fd = fd;
        this.fdOnPool = h.size >= POOL_WRITE_MIN;
        this.curAbs = abs;
        return;
      }
      case TarEntryType.Symlink: {
        if (!tryCreate(() => fs.symlinkSync(h.linkname, abs))) {
          this.clear(abs, false);
          fs.symlinkSync(h.linkname, abs);
        }
        this.metadata(abs, h, false);
        lutimens(abs, h.atime ?? h.mtime, h.mtime);
        return;
      }
      case TarEntryType.Link: return this.hardlink(h, abs);
      case TarEntryType.CharDevice: case TarEntryType.BlockDevice: case TarEntryType.Fifo: {
        const spec = { type: h.type === TarEntryType.Fifo ? 'fifo' as const : h.type, mode: h.mode, major: h.devmajor, minor: h.devminor };
        if (!tryCreate(() => mknod(abs, spec))) {
          this.clear(abs, false);
          mknod(abs, spec);
        }
        this.metadata(abs, h, true);
        lutimens(abs, h.atime ?? h.mtime, h.mtime);
        return;
      }
    }
  }

  private metadata(abs: string, h: TarHeader, chmod: boolean): void {
    // Order matters: chown clears setuid/setgid and security.capability, so mode and xattrs come after it.
    if (this.chown) fs.lchownSync(abs, h.uid, h.gid);
    if (chmod) fs.chmodSync(abs, h.mode);
    this.setXattrs(abs, h);
  }

  private setXattrs(abs: string, h: TarHeader): void {
    if (!this.xattrs || h.xattrs.size === 0) return;
    for (const [k, v] of h.xattrs) {
      // A layer must not steer overlayfs (redirect, origin, opaque…): those are ours to set.
      if (k.startsWith('trusted.overlay.')) continue;
      // xattr(7): user.* is only allowed on regular files and directories.
      if (k.startsWith('user.') && h.type !== TarEntryType.File && h.type !== TarEntryType.Directory) continue;
      try {
        lsetxattr(abs, k, v);
      } catch (e) {
        // A filesystem without this namespace (EOPNOTSUPP) loses the attribute, as GNU tar and containerd do.
        if ((e as { errnoCode?: string }).errnoCode !== 'EOPNOTSUPP') throw e;
      }
    }
  }

  private hardlink(h: TarHeader, abs: string): void {
    const lc = linkComponents(h.name, h.linkname);
    const lp = this.resolveDir(lc.slice(0, -1), false);
    const lbase = lc[lc.length - 1]!;
    let target = lp === undefined ? undefined : `${lp[0]}/${lbase}`;
    let st = target === undefined ? undefined : fs.lstatSync(target, { throwIfNoEntry: false });
    if (st === undefined && this.lowers.length > 0) {
      // The target lives in a lower layer: copy it up into this upper dir, then link to the copy.
      const rel = lp === undefined ? lc.join('/') : (lp[1] === '' ? lbase : `${lp[1]}/${lbase}`);
      const lo = this.lowerStat(rel);
      if (lo !== undefined && !lo.st.isDirectory()) {
        const up = this.resolveDir(rel.split('/').slice(0, -1), true)!;
        target = `${up[0]}/${lbase}`;
        copyEntry(lo.path, target);
        this.written.add(rel);
        st = lo.st;
      }
    }
    if (st === undefined || target === undefined) throw new LayerApplyError(h.name, `hardlink target ${JSON.stringify(h.linkname)} does not exist`);
    if (st.isDirectory()) throw new LayerLinkEscapeError(h.name, h.linkname);
    if (target === abs) return;
    if (!tryCreate(() => fs.linkSync(target!, abs))) {
      this.clear(abs, false);
      fs.linkSync(target, abs);
    }
  }

  private whiteout(h: TarHeader, comps: string[], base: string): void {
    const parent = this.resolveDir(comps.slice(0, -1), this.overlay);
    if (base === OPAQUE) {
      if (parent === undefined) return;
      if (this.overlay) {
        lsetxattr(parent[0], 'trusted.overlay.opaque', Buffer.from('y'));
      } else {
        this.opaque(parent[0], parent[1]);
      }
      return;
    }
    const name = base.slice(WH.length);
    if (name === '' || name === '.' || name === '..' || name.startsWith(WH)) {
      // `.wh..wh.*` other than opq are AUFS internals (plink dirs) with nothing to restore.
      if (name.startsWith(WH) && name !== WH) return;
      throw new LayerInvalidWhiteoutError(h.name);
    }
    if (parent === undefined) return;
    const abs = `${parent[0]}/${name}`;
    const rel = parent[1] === '' ? name : `${parent[1]}/${name}`;
    if (this.overlay) {
      this.clear(abs, false);
      mknod(abs, { type: 'char', mode: 0, major: 0, minor: 0 });
      if (this.chown) fs.lchownSync(abs, h.uid, h.gid);
      this.written.add(rel);
      return;
    }
    const st = fs.lstatSync(abs, { throwIfNoEntry: false });
    if (st === undefined) return;
    if (st.isDirectory()) fs.rmSync(abs, { recursive: true, force: true });
    else fs.unlinkSync(abs);
    if (st.isDirectory() || st.isSymbolicLink()) this.invalidate();
  }

  /** Removes the children of `abs` that this layer did not write (recursively into kept directories). */
  private opaque(abs: string, rel: string): void {
    let removedDir = false;
    const walk = (a: string, r: string): void => {
      for (const d of fs.readdirSync(a, { withFileTypes: true })) {
        const cr = r === '' ? d.name : `${r}/${d.name}`;
        const ca = `${a}/${d.name}`;
        if (this.written.has(cr)) {
          if (d.isDirectory()) walk(ca, cr);
          continue;
        }
        if (d.isDirectory()) { fs.rmSync(ca, { recursive: true, force: true }); removedDir = true; } else {
          fs.unlinkSync(ca);
          if (d.isSymbolicLink()) removedDir = true;
        }
      }
    };
    walk(abs, rel);
    if (removedDir) this.invalidate();
  }

  data(chunk: Buffer, position: number): void {
    if (this.held !== undefined) { this.held.push({ kind: 'data', chunk, position }); return; }
    if (this.fdOnPool && this.fd >= 0) {
      if (this.writeQueued >= POOL_WRITE_QUEUE) {
        this.held = [{ kind: 'data', chunk, position }];
        this.heldForPending = true;
        return;
      }
      this.writeOnPool(chunk, position);
      return;
    }
    try {
      let off = 0;
      while (off < chunk.length) off += fs.writeSync(this.fd, chunk, off, chunk.length - off, position + off);
    } catch (e) {
      this.guard(this.curName, () => { throw e; });
    }
  }

  /**
   * Queues a write of a large file's data on the thread pool, after the
   * file's earlier ones: the main thread goes on parsing (and the decoder
   * decoding) while the kernel copies the data into the page cache. The
   * file's end (mode, owner, times, close) and every later entry wait for
   * these writes (see end() and entry()), so the result is the same as
   * writing here.
   */
  private writeOnPool(chunk: Buffer, position: number): void {
    const fd = this.fd;
    const name = this.curName;
    this.writeQueued += chunk.length;
    const write = async (): Promise<void> => {
      let off = 0;
      while (off < chunk.length) {
        off += await new Promise<number>((resolve, reject) => {
          fs.write(fd, chunk, off, chunk.length - off, position + off, (e, n) => { if (e) reject(e); else resolve(n); });
        });
      }
    };
    const op: Promise<void> = (this.writeChain ?? Promise.resolve()).then(write)
      .catch((e: unknown) => { this.pendingError ??= { name, error: e }; })
      .finally(() => {
        this.writeQueued -= chunk.length;
        if (this.writeChain === op) { this.writeChain = undefined; this.pending.delete(WRITES); }
      });
    this.writeChain = op;
    this.pending.set(WRITES, op);
  }

  end(h: TarHeader): void {
    if (this.held !== undefined) { this.held.push({ kind: 'end', h }); return; }
    // The file's pool writes first: its times, mode and close come after its data.
    if (this.writeChain !== undefined) {
      this.held = [{ kind: 'end', h }];
      this.heldForPending = true;
      return;
    }
    if (h.type !== TarEntryType.File || this.fd < 0) return;
    this.guard(h.name, () => this.endFile(h));
  }

  private endFile(h: TarHeader): void {
    const fd = this.fd;
    this.fd = -1;
    try {
      if (h.sparse !== undefined) fs.ftruncateSync(fd, h.size);
      if (this.chown) fs.fchownSync(fd, h.uid, h.gid);
      fs.fchmodSync(fd, h.mode);
      // Whole seconds are exact through futimes; nanoseconds need utimensat (below, by path).
      if (h.mtime.nsec === 0 && (h.atime?.nsec ?? 0) === 0) fs.futimesSync(fd, toSec(h.atime ?? h.mtime), toSec(h.mtime));
    } finally {
      fs.closeSync(fd);
    }
    const exactTimes = h.mtime.nsec !== 0 || (h.atime?.nsec ?? 0) !== 0;
    if ((this.xattrs && h.xattrs.size > 0) || exactTimes) {
      // The path the file was created at (nothing ran in between: no re-resolve).
      const abs = this.curAbs;
      this.setXattrs(abs, h);
      if (exactTimes) lutimens(abs, h.atime ?? h.mtime, h.mtime);
    }
  }

  /**
   * Restores directory times (after their contents) and closes what is open.
   * A later entry may have replaced a directory on the way with a symlink, so
   * each path is walked again without following any: only real directories
   * inside the root get their times.
   */
  finish(): void {
    if (this.fd >= 0) { fs.closeSync(this.fd); this.fd = -1; }
    const real = new Map<string, boolean>([[this.root, true]]);
    const isRealDir = (abs: string): boolean => {
      const known = real.get(abs);
      if (known !== undefined) return known;
      const parent = abs.slice(0, abs.lastIndexOf('/'));
      const ok = (parent.length >= this.root.length && isRealDir(parent)) && fs.lstatSync(abs, { throwIfNoEntry: false })?.isDirectory() === true;
      real.set(abs, ok);
      return ok;
    };
    for (let i = this.deferred.length - 1; i >= 0; i--) {
      const [abs, at, mt] = this.deferred[i]!;
      if (isRealDir(abs)) lutimens(abs, at, mt);
    }
  }

  abort(): void {
    if (this.fd >= 0 && this.writeChain !== undefined) {
      // Close only once the pool writes to it are done (a reused fd number must not get them).
      const fd = this.fd;
      this.fd = -1;
      void this.writeChain.finally(() => { try { fs.closeSync(fd); } catch { /* already closed */ } });
      return;
    }
    if (this.fd >= 0) { try { fs.closeSync(this.fd); } catch { /* already closed */ } this.fd = -1; }
  }
}

/**
 * Applies one layer to `target` and returns its diffId and sizes.
 *
 * `input` may be gzip, zstd or plain tar (detected by magic). The diffId is
 * the sha256 of the uncompressed stream, computed while applying. With
 * `convertWhiteout: 'overlay'` the target is an overlay upper dir and
 * whiteouts become char 0/0 devices and `trusted.overlay.opaque=y`; with
 * 'apply' (default) they delete what they name. Unless `sync: false`, the
 * target's filesystem is synced (syncfs) before this resolves, so a snapshot
 * committed afterwards survives power loss.
 *
 * @throws LayerPathEscapeError, LayerLinkEscapeError, LayerInvalidWhiteoutError,
 *   LayerDeviceNotPermittedError, LayerCorruptError, LayerUnsupportedCompressionError,
 *   LayerUnsupportedEntryError, LayerApplyError, CancelledError.
 */
export async function applyLayer(target: string, input: Readable | AsyncIterable<Uint8Array>, opts: ApplyLayerOptions = {}): Promise<ApplyLayerResult> {
  // Never an unhandled rejection, whatever fails first; the applier awaits it where it needs it.
  opts.lowersReady?.catch(() => undefined);
  throwIfAborted(opts.signal, 'apply layer');
  const started = performance.now();
  const root = fs.realpathSync(target);
  const layer = await decompress(input, opts);
  // The ISA-L decoder hashes on its own thread; otherwise hash here.
  const hash = layer.sha256 === undefined ? createHash('sha256') : undefined;
  let size = 0;
  const applier = new LayerApplier(root, opts);
  const parser = new TarParser(applier);
  try {
    // While an entry waits for the lower layers, decompression and hashing go on: the
    // uncompressed chunks are kept (up to AHEAD_LIMIT bytes) and restored once they are complete.
    // The applier also stops by itself after SLICE_MS of work (a yield); either way every held
    // entry and every chunk read ahead is restored, in order, before the archive ends.
    const ahead: Buffer[] = [];
    let aheadBytes = 0;
    const catchUp = async (): Promise<void> => {
      while (applier.waiting || ahead.length > 0) {
        if (applier.waiting) await applier.resume();
        while (!applier.waiting && ahead.length > 0) {
          const c = ahead.shift()!;
          aheadBytes -= c.length;
          applier.beginSlice();
          parser.write(c);
        }
      }
    };
    for await (const chunk of layer.chunks) {
      hash?.update(chunk);
      size += chunk.length;
      if (applier.waiting || ahead.length > 0) {
        ahead.push(chunk);
        aheadBytes += chunk.length;
        if (!applier.blockedOnLowers || aheadBytes >= AHEAD_LIMIT) await catchUp();
        continue;
      }
      applier.beginSlice();
      parser.write(chunk);
    }
    await catchUp();
    parser.finish();
    // (finish() restores nothing today; should it ever, nothing held may be left behind.)
    await catchUp();
    // Symlinks still being created, before directory times are set (creating changes them).
    await applier.drain();
    applier.finish();
  } catch (e) {
    applier.abort();
    // Nothing of this layer may still be writing when it has failed.
    await applier.drain().catch(() => undefined);
    throw e;
  }
  if (opts.sync !== false) syncfs(root);
  const hex = hash === undefined ? layer.sha256!() : hash.digest('hex');
  if (hex === undefined) throw new LayerApplyError('', 'the gzip decoder gave no sha256');
  const result: ApplyLayerResult = { diffId: formatDigest('sha256', hex), size, compressedSize: layer.compressedSize(), compression: layer.compression, decoder: layer.decoder, entries: applier.entries };
  publishLayerApplied({ target: root, ...result, ms: performance.now() - started });
  return result;
}

/** Reads `trusted.overlay.opaque` of a directory: is it opaque in an overlay upper? */
export function isOpaqueDir(path: string): boolean {
  return lgetxattr(path, 'trusted.overlay.opaque')?.toString() === 'y';
}
