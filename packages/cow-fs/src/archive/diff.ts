/**
 * diff: an OCI layer (tar, gzip or zstd) holding what changed from `lower`
 * to `upper`: additions and changes as entries, deletions as `.wh.<name>`,
 * opaque directories as `.wh..wh..opq`, hardlinks as link entries, and
 * xattrs as PAX `SCHILY.xattr.*` records.
 *
 * Two walks (after moby pkg/archive changes.go and containerd's
 * overlay-aware diff): the *naive* walk compares both trees (type, mode,
 * owner, size, mtime at millisecond precision, link target, device number,
 * xattrs); the *overlay* walk reads only an overlay upper dir, whose char 0/0
 * devices are whiteouts and whose `trusted.overlay.opaque=y` directories are
 * opaque, so its cost follows the size of the change.
 *
 * Deterministic: entries in byte order of names, depth first; PAX records
 * sorted, with fixed headers; mtimes in whole seconds; empty uname/gname;
 * gzip without name or timestamp; zstd at a fixed level on one thread.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Readable, Transform, pipeline, type Writable } from 'node:stream';
import { formatDigest, OciMediaType, throwIfAborted, type Digest } from '@berth/oci-spec';
import { DiffError, SnapshotterUnsupportedError } from '../errors.js';
import { major, minor } from '../internal/copy-tree.js';
import { lgetxattrs } from '../internal/sys.js';
import type { Mount } from '../snapshotter.js';
import { Compression, compressStream } from './compression.js';
import { TarEntryType } from './tar-header.js';
import { encodeTarHeader, encodeTarHeaderInto, TAR_END, type TarWriteHeader } from './tar-writer.js';

/** Options of {@link diff}. */
export interface DiffOptions {
  /** Compression of the produced layer (default 'gzip'). */
  compression?: Compression;
  /** `upper` is an overlay upper dir: walk only it (default false). */
  overlay?: boolean;
  /**
   * Also receives the uncompressed tar as it is produced (for instance to
   * apply the layer into a new snapshot at once, without reading the blob
   * back). The diff waits for its 'drain', ends it after the last chunk, and
   * fails if it closes early (ERR_DIFF_FAILED with `details.teeClosed`: the
   * tee's reader has the real cause); a failed diff destroys it.
   */
  tee?: Writable;
  signal?: AbortSignal;
}

/** What a finished diff stream reports. */
export interface DiffResult {
  /** sha256 of the uncompressed tar. */
  diffId: Digest;
  /** sha256 of the bytes produced (the blob digest). */
  digest: Digest;
  /** Uncompressed size. */
  size: number;
  /** Size of the bytes produced. */
  compressedSize: number;
  compression: Compression;
  /** The OCI media type of the produced layer. */
  mediaType: string;
}

/** A layer stream with its digests once it has been read to the end. */
export interface DiffStream extends Readable {
  /** Resolves after the stream ends; rejects if producing it failed. */
  readonly result: Promise<DiffResult>;
}

const mediaTypes: Record<Compression, string> = {
  none: OciMediaType.Layer,
  gzip: OciMediaType.LayerGzip,
  zstd: OciMediaType.LayerZstd,
};

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

const CHUNK = 256 * 1024;

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
class TarProducer {
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

/** Resolves on the writable's 'drain'; rejects if it closes or fails first. */
function drained(w: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (e?: Error) => {
      w.off('drain', onDrain); w.off('close', onClose); w.off('error', done);
      if (e) reject(e); else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new DiffError('the tee stream closed before the layer ended', { details: { teeClosed: true } }));
    w.on('drain', onDrain);
    w.on('close', onClose);
    w.on('error', done);
  });
}

/**
 * Hashes and counts what passes; with `tee`, also writes each chunk there
 * (waiting for its 'drain') and ends it after the last chunk.
 */
function tap(onEnd: (hash: string, size: number) => void, tee?: Writable): Transform {
  const h = createHash('sha256');
  let size = 0;
  return new Transform({
    // The chunks are already large (see coalesce): no extra buffering here.
    highWaterMark: 0,
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      size += chunk.length;
      if (tee === undefined || tee.write(chunk)) cb(null, chunk);
      else drained(tee).then(() => cb(null, chunk), cb);
    },
    flush(cb) {
      onEnd(h.digest('hex'), size);
      if (tee === undefined) { cb(); return; }
      // The diff is complete only once the tee took all of it.
      tee.end(() => cb());
    },
  });
}

/**
 * Produces the layer that turns `lower` into `upper`, as a stream of the
 * configured compression. With `overlay: true`, `upper` is an overlay upper
 * dir and `lower` is not read (it may be undefined). The stream's `result`
 * resolves with diffId, digest and sizes once the stream has been consumed.
 * The tar is walked once: the diffId, the compressed bytes and their digest,
 * and the optional `tee` copy all come from that one pass.
 */
export function diff(lower: string | undefined, upper: string, opts: DiffOptions = {}): DiffStream {
  const compression = opts.compression ?? Compression.Gzip;
  const producer = new TarProducer(opts.signal);
  const gen = function* (): Generator<Buffer> {
    if (opts.overlay === true) yield* overlayWalk(producer, upper, '');
    else yield* naiveWalk(producer, lower, upper, '');
    yield* producer.finish();
  };
  let diffId = '';
  let size = 0;
  let resolve!: (r: DiffResult) => void;
  let reject!: (e: unknown) => void;
  const result = new Promise<DiffResult>((res, rej) => { resolve = res; reject = rej; });
  result.catch(() => undefined);
  const tee = opts.tee;
  const tarStream = Readable.from(gen(), { objectMode: false, highWaterMark: 2 * CHUNK });
  const raw = tap((h, s) => { diffId = h; size = s; }, tee);
  const compressed = compressStream(raw, compression);
  const out = tap((h, s) => resolve({
    diffId: formatDigest('sha256', diffId), digest: formatDigest('sha256', h), size, compressedSize: s, compression, mediaType: mediaTypes[compression],
  }));
  const fail = (e: Error): void => {
    // The tee's reader must not wait for bytes that will never come. It sees the error when it reads
    // (and `result` reports it): the listener only keeps an idle tee from throwing it at the process.
    if (tee !== undefined && !tee.writableFinished && !tee.destroyed) {
      tee.on('error', () => undefined);
      tee.destroy(e);
    }
  };
  pipeline(tarStream, raw, (e) => { if (e) { fail(e); compressed.destroy(e); } });
  const last = pipeline(compressed, out, (e) => {
    if (!e) return;
    fail(e);
    reject(e instanceof Error && 'code' in e && String((e as { code: unknown }).code).startsWith('ERR_') ? e : new DiffError((e as Error).message, { cause: e }));
  });
  return Object.assign(last, { result }) as DiffStream;
}

/**
 * Diffs two snapshots given by their mounts, without mounting them: an
 * overlay upper mount is diffed by walking its upper dir; two bind mounts
 * (copy backend, or overlay snapshots without parents) by the naive walk.
 */
export function diffMounts(lower: Mount[], upper: Mount[], opts: Omit<DiffOptions, 'overlay'> = {}): DiffStream {
  const u = upper.length === 1 ? upper[0]! : undefined;
  if (u?.type === 'overlay') {
    const dir = u.options.find((o) => o.startsWith('upperdir='))?.slice('upperdir='.length);
    if (dir !== undefined) return diff(undefined, dir, { ...opts, overlay: true });
  }
  const l = lower.length === 0 ? undefined : lower.length === 1 && lower[0]!.type === 'bind' ? lower[0]!.source : null;
  if (u?.type === 'bind' && l !== null) return diff(l, u.source, opts);
  throw new SnapshotterUnsupportedError('diffMounts needs an overlay upper mount or two bind mounts');
}
