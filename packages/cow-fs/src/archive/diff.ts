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
import { Readable, Transform, pipeline } from 'node:stream';
import { formatDigest, OciMediaType, throwIfAborted, type Digest } from '@berth/oci-spec';
import { DiffError, SnapshotterUnsupportedError } from '../errors.js';
import { major, minor } from '../internal/copy-tree.js';
import { lgetxattrs } from '../internal/sys.js';
import type { Mount } from '../snapshotter.js';
import { Compression, compressStream } from './compression.js';
import { TarEntryType } from './tar-header.js';
import { encodeTarHeader, TAR_END, tarPadding } from './tar-writer.js';

/** Options of {@link diff}. */
export interface DiffOptions {
  /** Compression of the produced layer (default 'gzip'). */
  compression?: Compression;
  /** `upper` is an overlay upper dir: walk only it (default false). */
  overlay?: boolean;
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

function ownXattrs(p: string): Map<string, Buffer> {
  const x = lgetxattrs(p);
  for (const k of [...x.keys()]) if (k.startsWith('trusted.overlay.')) x.delete(k);
  return x;
}

class TarProducer {
  private links = new Map<string, string>();
  constructor(private readonly signal: AbortSignal | undefined) {}

  *entry(abs: string, rel: string, st: fs.Stats): Generator<Buffer> {
    throwIfAborted(this.signal, 'diff');
    const xattrs = ownXattrs(abs);
    const base = { name: rel, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), xattrs };
    if (st.isDirectory()) {
      yield encodeTarHeader({ ...base, name: rel + '/', type: TarEntryType.Directory });
      return;
    }
    if (st.nlink > 1) {
      const id = `${st.dev}:${st.ino}`;
      const first = this.links.get(id);
      if (first !== undefined) {
        yield encodeTarHeader({ ...base, type: TarEntryType.Link, linkname: first, xattrs: undefined });
        return;
      }
      this.links.set(id, rel);
    }
    if (st.isSymbolicLink()) {
      yield encodeTarHeader({ ...base, type: TarEntryType.Symlink, linkname: fs.readlinkSync(abs) });
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      yield encodeTarHeader({ ...base, type: st.isCharacterDevice() ? TarEntryType.CharDevice : TarEntryType.BlockDevice, devmajor: major(st.rdev), devminor: minor(st.rdev) });
    } else if (st.isFIFO()) {
      yield encodeTarHeader({ ...base, type: TarEntryType.Fifo });
    } else if (st.isFile()) {
      const size = st.size;
      yield encodeTarHeader({ ...base, type: TarEntryType.File, size });
      const fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try {
        let pos = 0;
        while (pos < size) {
          const buf = Buffer.allocUnsafe(Math.min(1 << 20, size - pos));
          const n = fs.readSync(fd, buf, 0, buf.length, pos);
          if (n === 0) {
            // The file shrank while being read: keep the archive well formed.
            buf.fill(0);
            yield buf;
            pos += buf.length;
            continue;
          }
          yield n === buf.length ? buf : buf.subarray(0, n);
          pos += n;
        }
      } finally {
        fs.closeSync(fd);
      }
      yield tarPadding(size);
    }
    // Sockets are not part of a layer.
  }

  *whiteout(rel: string): Generator<Buffer> {
    yield encodeTarHeader({ name: rel, type: TarEntryType.File, mode: 0, size: 0, mtime: 0 });
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
      yield* p.whiteout(join(rel, '.wh.' + name));
      continue;
    }
    const u = fs.lstatSync(up);
    const l = lp === undefined ? undefined : fs.lstatSync(lp, { throwIfNoEntry: false });
    if (u.isDirectory()) {
      const lowerDir = l !== undefined && l.isDirectory() ? lp : undefined;
      if (lowerDir === undefined || changed(l!, u, lp!, up)) yield* p.entry(up, r, u);
      yield* naiveWalk(p, lowerDir, up, r);
      continue;
    }
    if (l === undefined || changed(l, u, lp!, up)) yield* p.entry(up, r, u);
  }
}

function* overlayWalk(p: TarProducer, upper: string, rel: string): Generator<Buffer> {
  for (const name of fs.readdirSync(upper).sort(byName)) {
    const r = join(rel, name);
    const up = `${upper}/${name}`;
    const u = fs.lstatSync(up);
    if (u.isCharacterDevice() && u.rdev === 0) {
      yield* p.whiteout(join(rel, '.wh.' + name));
      continue;
    }
    yield* p.entry(up, r, u);
    if (u.isDirectory()) {
      if (lgetxattrs(up).get('trusted.overlay.opaque')?.toString() === 'y') yield* p.whiteout(join(r, '.wh..wh..opq'));
      yield* overlayWalk(p, up, r);
    }
  }
}

function tap(onEnd: (hash: string, size: number) => void): Transform {
  const h = createHash('sha256');
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      onEnd(h.digest('hex'), size);
      cb();
    },
  });
}

/**
 * Produces the layer that turns `lower` into `upper`, as a stream of the
 * configured compression. With `overlay: true`, `upper` is an overlay upper
 * dir and `lower` is not read (it may be undefined). The stream's `result`
 * resolves with diffId, digest and sizes once the stream has been consumed.
 */
export function diff(lower: string | undefined, upper: string, opts: DiffOptions = {}): DiffStream {
  const compression = opts.compression ?? Compression.Gzip;
  const producer = new TarProducer(opts.signal);
  const gen = function* (): Generator<Buffer> {
    if (opts.overlay === true) yield* overlayWalk(producer, upper, '');
    else yield* naiveWalk(producer, lower, upper, '');
    yield TAR_END;
  };
  let diffId = '';
  let size = 0;
  let resolve!: (r: DiffResult) => void;
  let reject!: (e: unknown) => void;
  const result = new Promise<DiffResult>((res, rej) => { resolve = res; reject = rej; });
  result.catch(() => undefined);
  const tarStream = Readable.from(gen(), { objectMode: false, highWaterMark: 1 << 20 });
  const raw = tap((h, s) => { diffId = h; size = s; });
  const compressed = compressStream(raw, compression);
  const out = tap((h, s) => resolve({
    diffId: formatDigest('sha256', diffId), digest: formatDigest('sha256', h), size, compressedSize: s, compression, mediaType: mediaTypes[compression],
  }));
  pipeline(tarStream, raw, (e) => { if (e) compressed.destroy(e); });
  const last = pipeline(compressed, out, (e) => {
    if (e) reject(e instanceof Error && 'code' in e && String((e as { code: unknown }).code).startsWith('ERR_') ? e : new DiffError((e as Error).message, { cause: e }));
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
