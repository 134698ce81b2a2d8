/**
 * The local store's ingest writer: `.berth/ingest/<sha256(ref)>/` holds
 * `ref`, `startedat`, `expected` and `data`. Bytes are hashed as they are
 * written, in large positioned writes with one write in flight while the
 * next batch is hashed; commit fsyncs once, renames into `blobs/` and fsyncs
 * the directory (plugins/content/local/writer.go). `stage` does commit's
 * checks without the sync and hands the open file and the ingest lock to a
 * {@link LocalBatch}, which syncs and publishes several blobs together.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createHash, type Hash } from 'node:crypto';
import { throwIfAborted } from '@berth/oci-spec';
import type { CallOptions, CommitOptions, ContentWriter, Info, Status } from '../content.js';
import { StoreClosedError, StoreIoError } from '../errors.js';
import { parseDigest, splitDigest, type Digest } from '../internal/oci.js';
import type { HeldLock } from './file-lock.js';
import { hashFile } from './fs-util.js';
import { verifyCommit, writerWritable } from '../internal/common.js';
import type { Writable } from 'node:stream';
import { fchmodSync, fstatSync, futimesSync } from 'node:fs';

/** A verified ingest held by a batch: its data file still open, its fsync started, its ingest lock held. */
export interface StagedIngest {
  ref: string;
  dir: string;
  dataFile: string;
  digest: Digest;
  size: number;
  labels: Record<string, string> | undefined;
  lease: string | undefined;
  fh: fs.FileHandle;
  /** The data file's fsync, started by `stage` (settles once the bytes are on disk). */
  synced: Promise<void>;
  lock: HeldLock;
}

/** What a writer needs from its store. */
export interface WriterHost {
  /** Publishes the verified data file as `digest`; throws ERR_STORE_ALREADY_EXISTS when it is there already. */
  publish(dataFile: string, digest: Digest, size: number, labels: Record<string, string> | undefined, lease: string | undefined, ref: string): Promise<Info>;
  /** Removes an ingest directory (and its lease entry). */
  removeIngest(dir: string, ref: string, lease: string | undefined): Promise<void>;
}

/** The state saved in an ingest directory. */
export interface IngestFiles {
  ref: string;
  startedAt: Date;
  expected?: { digest: Digest; size: number };
}

const BatchBytes = 4 << 20;

/** One open ingest of the local store. */
export class LocalWriter implements ContentWriter {
  private hash: Hash;
  private algorithm: string;
  private size: number;
  private inflight: Promise<void> | undefined;
  private failed: unknown;
  private closed = false;

  private constructor(
    readonly ref: string,
    private readonly dir: string,
    private fh: fs.FileHandle,
    private readonly files: IngestFiles,
    size: number,
    hash: Hash,
    algorithm: string,
    private readonly lock: HeldLock,
    private readonly host: WriterHost,
    private readonly lease: string | undefined,
  ) {
    this.size = size;
    this.hash = hash;
    this.algorithm = algorithm;
  }

  /**
   * Opens the ingest in `dir` (creating it when absent) while holding its
   * lock. A resumed ingest is rehashed from its data file, which restores
   * the digester state after a crash.
   */
  static async open(ref: string, dir: string, files: IngestFiles, lock: HeldLock, host: WriterHost, lease: string | undefined): Promise<LocalWriter> {
    const data = path.join(dir, 'data');
    const algorithm = files.expected ? splitDigest(files.expected.digest).algorithm : 'sha256';
    const fh = await fs.open(data, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    try {
      const hash = createHash(algorithm);
      const size = fstatSync(fh.fd).size;
      const hashed = size > 0 ? await hashFile(data, hash, size) : 0;
      if (hashed !== size) throw new Error(`ingest data changed while rehashing: ${hashed} != ${size}`);
      return new LocalWriter(ref, dir, fh, files, size, hash, algorithm, lock, host, lease);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** Whether this writer was opened by `host`. */
  belongsTo(host: WriterHost): boolean {
    return this.host === host;
  }

  /** Bytes written so far. */
  get offset(): number {
    return this.size;
  }

  private check(): void {
    if (this.closed) throw new StoreClosedError(`writer ${JSON.stringify(this.ref)}`);
    if (this.failed !== undefined) throw this.failed;
  }

  private async writeAll(bufs: Uint8Array[], position: number, length: number): Promise<void> {
    let done = 0;
    while (done < length) {
      let skip = done;
      const rest: Uint8Array[] = [];
      for (const b of bufs) {
        if (skip >= b.length) { skip -= b.length; continue; }
        rest.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
      const { bytesWritten } = await this.fh.writev(rest, position + done);
      if (bytesWritten <= 0) throw new Error('write returned 0 bytes');
      done += bytesWritten;
    }
  }

  private queue(bufs: Uint8Array[], length: number): Promise<void> {
    const position = this.size;
    this.size += length;
    const prev = this.inflight;
    const p = (async () => {
      if (prev) await prev;
      await this.writeAll(bufs, position, length);
    })();
    p.catch((e) => { this.failed ??= new StoreIoError(`write ingest ${this.ref}`, e); });
    this.inflight = p;
    return p;
  }

  private async drain(): Promise<void> {
    const p = this.inflight;
    if (p) {
      try { await p; } catch { /* recorded in failed */ }
      if (this.inflight === p) this.inflight = undefined;
    }
    if (this.failed !== undefined) throw this.failed;
  }

  /** Appends one chunk. */
  async write(chunk: Uint8Array, options: CallOptions = {}): Promise<void> {
    this.check();
    throwIfAborted(options.signal, `write ${this.ref}`);
    if (chunk.length === 0) return;
    this.hash.update(chunk);
    void this.queue([chunk], chunk.length);
    await this.drain();
  }

  /** Appends everything `source` yields: hash each chunk, write in 4 MiB batches, one write in flight. */
  async copyFrom(source: AsyncIterable<Uint8Array>, options: CallOptions = {}): Promise<number> {
    this.check();
    let batch: Uint8Array[] = [];
    let batchBytes = 0;
    let total = 0;
    for await (const chunk of source) {
      throwIfAborted(options.signal, `write ${this.ref}`);
      if (this.failed !== undefined) throw this.failed;
      if (chunk.length === 0) continue;
      this.hash.update(chunk);
      batch.push(chunk);
      batchBytes += chunk.length;
      total += chunk.length;
      if (batchBytes >= BatchBytes) {
        if (this.inflight) await this.drain();
        void this.queue(batch, batchBytes);
        batch = [];
        batchBytes = 0;
      }
    }
    if (batchBytes > 0) void this.queue(batch, batchBytes);
    await this.drain();
    return total;
  }

  /** A Writable over this writer: hashes each chunk, writes each batch in one call. */
  writable(options: CallOptions = {}): Writable {
    return writerWritable(async (chunks, signal) => {
      this.check();
      throwIfAborted(signal, `write ${this.ref}`);
      let n = 0;
      for (const c of chunks) { this.hash.update(c); n += c.length; }
      if (n === 0) return;
      if (this.inflight) await this.drain();
      void this.queue(chunks, n);
    }, options.signal, () => this.drain());
  }

  /** The digest of what was written so far. */
  digest(): Digest {
    return parseDigest(`${this.algorithm}:${this.hash.copy().digest('hex')}`);
  }

  /** The ingest's status. */
  async status(): Promise<Status> {
    const st = fstatSync(this.fh.fd);
    return {
      ref: this.ref,
      offset: this.size,
      ...(this.files.expected ? { total: this.files.expected.size, expected: this.files.expected.digest } : {}),
      startedAt: this.files.startedAt,
      updatedAt: st.mtime,
    };
  }

  /** Checks size and digest (commit's errors), then stamps the data file read-only with a fresh mtime (so a concurrent GC sees a fresh blob). */
  private async verify(options: CommitOptions, sync: boolean): Promise<Digest> {
    this.check();
    throwIfAborted(options.signal, `commit ${this.ref}`);
    await this.drain();
    const actual = await verifyCommit({
      ref: this.ref, size: this.size, expected: this.files.expected, algorithm: this.algorithm,
      digest: () => this.digest(),
      rehash: (h) => hashFile(path.join(this.dir, 'data'), h),
      keep: () => this.close(),
      discard: () => this.discard(),
    }, options);
    const now = new Date();
    try {
      // (Synchronous: two tiny calls that would queue behind long jobs on the libuv pool.)
      futimesSync(this.fh.fd, now, now);
      fchmodSync(this.fh.fd, 0o444);
      // Durability: the data reaches the disk before the rename makes it visible.
      if (sync) await this.fh.sync();
    } catch (e) {
      this.failed = new StoreIoError(`${sync ? 'sync' : 'stamp'} ingest ${this.ref}`, e);
      await this.close();
      throw this.failed;
    }
    return actual;
  }

  /**
   * Commit's checks without waiting for the sync and without the publish:
   * starts the data file's fsync in the background (every byte is written
   * by now; the flush runs while the caller goes on) and hands the open file
   * and the ingest lock to the caller (a batch), which must wait for
   * `synced` before publishing it, and release the lock. The writer is closed.
   */
  async stage(options: CommitOptions = {}): Promise<StagedIngest> {
    const digest = await this.verify(options, false);
    this.closed = true;
    const synced = this.fh.sync();
    synced.catch(() => undefined);
    return {
      ref: this.ref, dir: this.dir, dataFile: path.join(this.dir, 'data'), digest, size: this.size,
      labels: options.labels, lease: this.lease, fh: this.fh, synced, lock: this.lock,
    };
  }

  /** Verifies and publishes; see {@link ContentWriter.commit}. */
  async commit(options: CommitOptions = {}): Promise<Info> {
    const actual = await this.verify(options, true);
    await this.fh.close();
    this.closed = true;
    let keep = false;
    try {
      return await this.host.publish(path.join(this.dir, 'data'), actual, this.size, options.labels, this.lease, this.ref);
    } catch (e) {
      // Keep the verified data for a retry unless the blob is there already.
      keep = !(e instanceof Error && (e as { code?: string }).code === 'ERR_STORE_ALREADY_EXISTS');
      throw e;
    } finally {
      if (!keep) await this.host.removeIngest(this.dir, this.ref, this.lease).catch(() => {});
      await this.lock.release();
    }
  }

  /** Closes the file and removes the ingest while still holding its lock. */
  private async discard(): Promise<void> {
    this.closed = true;
    try { await this.inflight; } catch { /* recorded */ }
    await this.fh.close().catch(() => {});
    await this.host.removeIngest(this.dir, this.ref, this.lease).catch(() => {});
    await this.lock.release();
  }

  /** Releases the writer; the ingest stays. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try { await this.inflight; } catch { /* recorded */ }
    await this.fh.close().catch(() => {});
    await this.lock.release();
  }
}
