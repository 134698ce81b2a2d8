/**
 * The tar side of diff (see diff.ts): the walks (naive: both trees; overlay:
 * the upper dir only) and the producer that writes their entries straight
 * into chunks. Runs on the main thread or on the diff thread
 * (diff-thread.ts); it imports nothing that needs the main thread.
 */
import fs from 'node:fs';
import { throwIfAborted } from '@berth/oci-spec';
import { major, minor } from '../internal/copy-tree.js';
import { lgetxattrs } from '../internal/sys.js';
import { TarEntryType } from './tar-header.js';
import { encodeTarHeader, encodeTarHeaderInto, TAR_END, type TarWriteHeader } from './tar-writer.js';

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function sameXattrs(a: Map<string, Buffer>, b: Map<string, Buffer>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined || !w.equals(v)) return false;
  }
  return true;
}

/** `x` without overlayfs's own `trusted.overlay.*` attributes (in place). */
function withoutOverlay(x: Map<string, Buffer>): Map<string, Buffer> {
  for (const k of [...x.keys()]) if (k.startsWith('trusted.overlay.')) x.delete(k);
  return x;
}

function ownXattrs(p: string): Map<string, Buffer> {
  return withoutOverlay(lgetxattrs(p));
}

/** The size of the chunks the tar is written in (a multiple of 512). */
export const CHUNK = 256 * 1024;

/**
 * Writes the tar straight into chunks of {@link CHUNK} bytes: headers are
 * encoded in place (encodeTarHeaderInto; PAX/GNU records when needed are
 * copied in), file data is read(2) into the chunk, padding is zeroed in
 * place. So each stage after it (hash, zlib on the thread pool, the tee, the
 * store's writes) sees a few large chunks instead of thousands of tiny ones:
 * with 1000 small files the per-chunk cost of a zlib thread-pool round trip
 * used to dominate the whole diff. Tar is made of 512-byte blocks and CHUNK
 * is a multiple of 512, so a header block never straddles two chunks. The
 * walks yield {@link take} after each entry; every yielded chunk is a fresh
 * buffer, never written again.
 */
export class TarProducer {
  private links = new Map<string, string>();
  private buf = Buffer.allocUnsafe(CHUNK);
  private n = 0;
  private full: Buffer[] = [];
  constructor(private readonly signal: AbortSignal | undefined) {}

  /** The chunks filled so far (each handed out once). */
  *take(): Generator<Buffer> {
    if (this.full.length === 0) return;
    const f = this.full;
    this.full = [];
    yield* f;
  }

  /** The end-of-archive blocks, then every chunk left, the last one partly filled. */
  *finish(): Generator<Buffer> {
    this.zeros(TAR_END.length);
    yield* this.take();
    if (this.n > 0) yield this.buf.subarray(0, this.n);
    this.buf = Buffer.alloc(0);
    this.n = 0;
  }

  private next(): void {
    if (this.n < CHUNK) return;
    this.full.push(this.buf);
    this.buf = Buffer.allocUnsafe(CHUNK);
    this.n = 0;
  }

  private put(b: Buffer): void {
    let off = 0;
    while (off < b.length) {
      const k = Math.min(b.length - off, CHUNK - this.n);
      b.copy(this.buf, this.n, off, off + k);
      this.n += k;
      off += k;
      this.next();
    }
  }

  private zeros(len: number): void {
    while (len > 0) {
      const k = Math.min(len, CHUNK - this.n);
      this.buf.fill(0, this.n, this.n + k);
      this.n += k;
      len -= k;
      this.next();
    }
  }

  private header(h: TarWriteHeader): void {
    const k = encodeTarHeaderInto(h, this.buf, this.n);
    if (k === 0) { this.put(encodeTarHeader(h)); return; }
    this.n += k;
    this.next();
  }

  /** `size` bytes of the open file, read into the chunks (zeros if it shrank meanwhile), then padding. */
  private data(fd: number, size: number): void {
    let pos = 0;
    while (pos < size) {
      const k = Math.min(size - pos, CHUNK - this.n);
      const got = fs.readSync(fd, this.buf, this.n, k, pos);
      if (got === 0) {
        // The file shrank while being read: keep the archive well formed.
        this.zeros(size - pos);
        break;
      }
      this.n += got;
      pos += got;
      this.next();
    }
    this.zeros((512 - (size % 512)) % 512);
  }

  /** One entry for `abs` (stat `st`, own xattrs `xattrs` when already read). */
  entry(abs: string, rel: string, st: fs.Stats, xattrs: Map<string, Buffer> = ownXattrs(abs)): void {
    throwIfAborted(this.signal, 'diff');
    const mode = st.mode & 0o7777;
    const mtime = Math.floor(st.mtimeMs / 1000);
    if (st.isDirectory()) {
      this.header({ name: rel + '/', type: TarEntryType.Directory, mode, uid: st.uid, gid: st.gid, mtime, xattrs });
      return;
    }
    if (st.nlink > 1) {
      const id = `${st.dev}:${st.ino}`;
      const first = this.links.get(id);
      if (first !== undefined) {
        this.header({ name: rel, type: TarEntryType.Link, mode, uid: st.uid, gid: st.gid, mtime, linkname: first });
        return;
      }
      this.links.set(id, rel);
    }
    if (st.isSymbolicLink()) {
      this.header({ name: rel, type: TarEntryType.Symlink, mode, uid: st.uid, gid: st.gid, mtime, xattrs, linkname: fs.readlinkSync(abs) });
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      this.header({
        name: rel, type: st.isCharacterDevice() ? TarEntryType.CharDevice : TarEntryType.BlockDevice, mode, uid: st.uid, gid: st.gid, mtime, xattrs,
        devmajor: major(st.rdev), devminor: minor(st.rdev),
      });
    } else if (st.isFIFO()) {
      this.header({ name: rel, type: TarEntryType.Fifo, mode, uid: st.uid, gid: st.gid, mtime, xattrs });
    } else if (st.isFile()) {
      const size = st.size;
      this.header({ name: rel, type: TarEntryType.File, mode, uid: st.uid, gid: st.gid, mtime, xattrs, size });
      const fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try {
        this.data(fd, size);
      } finally {
        fs.closeSync(fd);
      }
    }
    // Sockets are not part of a layer.
  }

  whiteout(rel: string): void {
    this.header({ name: rel, type: TarEntryType.File, mode: 0, size: 0, mtime: 0 });
  }
}

const join = (rel: string, name: string): string => (rel === '' ? name : `${rel}/${name}`);

function changed(l: fs.Stats, u: fs.Stats, lp: string, up: string): boolean {
  if ((l.mode & 0o170000) !== (u.mode & 0o170000)) return true;
  if (l.mode !== u.mode || l.uid !== u.uid || l.gid !== u.gid) return true;
  if (!u.isDirectory() && (l.size !== u.size || Math.abs(l.mtimeMs - u.mtimeMs) >= 1)) return true;
  if (u.isDirectory() && Math.abs(l.mtimeMs - u.mtimeMs) >= 1) return true;
  if ((u.isCharacterDevice() || u.isBlockDevice()) && l.rdev !== u.rdev) return true;
  if (u.isSymbolicLink() && fs.readlinkSync(lp) !== fs.readlinkSync(up)) return true;
  return !sameXattrs(ownXattrs(lp), ownXattrs(up));
}

function* naiveWalk(p: TarProducer, lower: string | undefined, upper: string, rel: string): Generator<Buffer> {
  const un = fs.readdirSync(upper);
  const ln = lower === undefined ? [] : fs.readdirSync(lower);
  const names = [...new Set([...un, ...ln])].sort(byName);
  const uset = new Set(un);
  for (const name of names) {
    const r = join(rel, name);
    const up = `${upper}/${name}`;
    const lp = lower === undefined ? undefined : `${lower}/${name}`;
    if (!uset.has(name)) {
      p.whiteout(join(rel, '.wh.' + name));
      yield* p.take();
      continue;
    }
    const u = fs.lstatSync(up);
    const l = lp === undefined ? undefined : fs.lstatSync(lp, { throwIfNoEntry: false });
    if (u.isDirectory()) {
      const lowerDir = l !== undefined && l.isDirectory() ? lp : undefined;
      if (lowerDir === undefined || changed(l!, u, lp!, up)) p.entry(up, r, u);
      yield* p.take();
      yield* naiveWalk(p, lowerDir, up, r);
      continue;
    }
    if (l === undefined || changed(l, u, lp!, up)) p.entry(up, r, u);
    yield* p.take();
  }
}

function* overlayWalk(p: TarProducer, upper: string, rel: string): Generator<Buffer> {
  for (const name of fs.readdirSync(upper).sort(byName)) {
    const r = join(rel, name);
    const up = `${upper}/${name}`;
    const u = fs.lstatSync(up);
    if (u.isCharacterDevice() && u.rdev === 0) {
      p.whiteout(join(rel, '.wh.' + name));
      yield* p.take();
      continue;
    }
    if (u.isDirectory()) {
      // One read of the xattrs serves the entry and the opaque marker.
      const x = lgetxattrs(up);
      const opaque = x.get('trusted.overlay.opaque')?.toString() === 'y';
      p.entry(up, r, u, withoutOverlay(x));
      if (opaque) p.whiteout(join(r, '.wh..wh..opq'));
      yield* p.take();
      yield* overlayWalk(p, up, r);
      continue;
    }
    p.entry(up, r, u);
    yield* p.take();
  }
}

/** The chunks of the tar that turns `lower` into `upper` (overlay: `upper` is an upper dir, `lower` unused). */
export function* tarChunks(lower: string | undefined, upper: string, overlay: boolean, signal?: AbortSignal): Generator<Buffer> {
  const producer = new TarProducer(signal);
  if (overlay) yield* overlayWalk(producer, upper, '');
  else yield* naiveWalk(producer, lower, upper, '');
  yield* producer.finish();
}
