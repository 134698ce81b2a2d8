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
 *
 * One pass: the walks and the tar producer (diff-walk.ts) write the tar
 * into 256 KiB chunks, on the main thread or on the diff thread
 * (diff-thread.ts); here the chunks are hashed (diffId), teed, compressed
 * and hashed again (digest).
 */
import { createHash } from 'node:crypto';
import { Readable, Transform, pipeline, type Writable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { formatDigest, OciMediaType, throwIfAborted, type Digest } from '@berth/oci-spec';
import { DiffError, SnapshotterUnsupportedError } from '../errors.js';
import type { Mount } from '../snapshotter.js';
import { Compression, compressStream } from './compression.js';
import { CHUNK, tarChunks } from './diff-walk.js';
import type { DiffThreadReply, DiffThreadRequest } from './diff-thread.js';

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
  /**
   * Walk the trees and write the tar on the diff thread (a worker, one per
   * process, started on first use and unref'd while idle), leaving the main
   * thread free to compress, hash, store and feed the tee's reader (applying
   * the layer at the same time, say). Same bytes either way. Falls back to
   * the main thread where no worker can be started. Default false.
   */
  thread?: boolean;
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

let worker: Worker | undefined;
let workerFailed = false;
let seq = 0;
const jobs = new Map<number, (m: DiffThreadReply) => void>();

function failJobs(message: string): void {
  for (const [id, h] of jobs) h({ type: 'error', id, error: { message } });
  jobs.clear();
}

/** The diff thread, started on first use; undefined where no worker can be started. */
function diffThread(): Worker | undefined {
  if (worker !== undefined || workerFailed) return worker;
  try {
    const w = new Worker(new URL('./diff-thread.js', import.meta.url));
    w.unref();
    w.on('message', (m: DiffThreadReply) => jobs.get(m.id)?.(m));
    w.on('error', (e) => { worker = undefined; workerFailed = true; failJobs(`diff thread: ${e.message}`); });
    w.on('exit', () => { if (worker === w) worker = undefined; failJobs('diff thread exited'); });
    worker = w;
  } catch {
    workerFailed = true;
  }
  return worker;
}

/**
 * The tar from the diff thread as a Readable: the thread sends a few chunks
 * ahead; each chunk taken (a push below the high-water mark, or a later
 * read()) lets it send one more. Destroying the stream (or the signal)
 * cancels the walk.
 */
function threadedTar(w: Worker, lower: string | undefined, upper: string, overlay: boolean, signal: AbortSignal | undefined): Readable {
  const id = ++seq;
  let owed = 0;
  let finished = false;
  const post = (m: DiffThreadRequest): void => w.postMessage(m);
  const done = (): void => {
    finished = true;
    jobs.delete(id);
    signal?.removeEventListener('abort', onAbort);
    if (jobs.size === 0) w.unref();
  };
  const r = new Readable({
    highWaterMark: 2 * CHUNK,
    read() {
      for (; owed > 0 && !finished; owed--) post({ type: 'ack', id });
    },
    destroy(err, cb) {
      if (!finished) {
        post({ type: 'cancel', id });
        done();
      }
      cb(err);
    },
  });
  const onAbort = (): void => {
    try { throwIfAborted(signal, 'diff'); } catch (e) { r.destroy(e as Error); }
  };
  jobs.set(id, (m) => {
    if (finished) return;
    if (m.type === 'chunk') {
      if (r.push(Buffer.from(m.chunk.buffer, m.chunk.byteOffset, m.chunk.byteLength))) post({ type: 'ack', id });
      else owed++;
    } else if (m.type === 'end') {
      done();
      r.push(null);
    } else {
      done();
      r.destroy(Object.assign(new Error(m.error.message), m.error));
    }
  });
  signal?.addEventListener('abort', onAbort, { once: true });
  w.ref();
  post({ type: 'start', id, ...(lower === undefined ? {} : { lower }), upper, overlay });
  if (signal?.aborted) onAbort();
  return r;
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
  let diffId = '';
  let size = 0;
  let resolve!: (r: DiffResult) => void;
  let reject!: (e: unknown) => void;
  const result = new Promise<DiffResult>((res, rej) => { resolve = res; reject = rej; });
  result.catch(() => undefined);
  const tee = opts.tee;
  const overlay = opts.overlay === true;
  const w = opts.thread === true ? diffThread() : undefined;
  const tarStream = w !== undefined
    ? threadedTar(w, lower, upper, overlay, opts.signal)
    : Readable.from(tarChunks(lower, upper, overlay, opts.signal), { objectMode: false, highWaterMark: 2 * CHUNK });
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
