/**
 * The on-disk store: an OCI image layout at `root` (`oci-layout`,
 * `index.json`, `blobs/<alg>/<hex>`) plus a private area `root/.berth/`:
 *
 * ```
 * .berth/ingest/<sha256(ref)>/{ref,startedat,expected,data}   partial writes
 * .berth/labels/<alg>/<hex>.json                             blob labels
 * .berth/leases/<id>.json                                    leases
 * .berth/locks/metadata.lock                                 publish, index, leases, GC
 * .berth/locks/ingest-<sha256(ref)>.lock                     one writer per ingest ref
 * ```
 *
 * Several processes may use one store: the metadata lock serializes every
 * change to what is visible (a commit's rename, index.json, leases, labels,
 * deletes) and GC holds it for its whole mark and sweep.
 */
import fs from 'node:fs/promises';
import { closeSync, createReadStream, fstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { channel } from 'node:diagnostics_channel';
import {
  AnnotationKey, DigestAlgorithm, OciMediaType, isBerthError, isDigest, isDigestAlgorithm, throwIfAborted,
} from '@berth/oci-spec';
import type { CallOptions, CommitBatch, CommitBatchOptions, ContentWriter, Info, OpenOptions, Status, WalkFilter, WriterOptions } from '../content.js';
import type { Image, ImageIndex } from '../images.js';
import type { Lease, LeaseManager, LeaseOptions, LeaseResource } from '../leases.js';
import type { CorruptBlob, GcOptions, GcResult, ImageStore, RootProvider, VerifyOptions, VerifyResult } from '../store.js';
import {
  StoreAlreadyExistsError, StoreClosedError, StoreCorruptLayoutError, StoreInvalidIngestRefError,
  StoreIoError, StoreNotFoundError, StoreInvalidRefError, StoreSizeMismatchError,
} from '../errors.js';
import { parseDigest, splitDigest, type Descriptor, type Digest, type ImageIndex as OciIndex } from '../internal/oci.js';
import { checkDescriptor, parseIndex } from '../internal/validate.js';
import { markReachable } from '../internal/gc.js';
import { parseName } from '../internal/reference.js';
import { blobRange, matchesFilter, updateLabels, validLeaseId } from '../internal/common.js';
import { acquireLock, isLocked, withLock } from './file-lock.js';
import { digestFile, fsyncDir, isEnoent, readJson, writeFileAtomic } from './fs-util.js';
import { LocalWriter, type IngestFiles, type StagedIngest, type WriterHost } from './local-writer.js';
import { LocalBatch, type BatchHost } from './local-batch.js';

/** Options of {@link openLocalStore}. */
export interface LocalStoreOptions {
  /** Create the layout when `root` has none (default true); false: ERR_STORE_NOT_FOUND. */
  create?: boolean;
}

interface LeaseFile {
  id: string;
  createdAt: string;
  expiresAt?: string;
  labels: Record<string, string>;
  digests: string[];
  ingests: string[];
}

/** Diagnostics channels: `berth.image-store.commit` ({ root, digest, size }) and `berth.image-store.gc` ({ root, result }). */
const commitChannel = channel('berth.image-store.commit');
const gcChannel = channel('berth.image-store.gc');

const refHash = (ref: string) => createHash('sha256').update(ref).digest('hex');

async function wrapIo<T>(op: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isBerthError(e)) throw e;
    throw new StoreIoError(op, e);
  }
}

/**
 * Opens (or creates) the on-disk store at `root`. The layout stays a valid
 * OCI image layout that skopeo, umoci and `docker load`-style tools read.
 */
export async function openLocalStore(root: string, options: LocalStoreOptions = {}): Promise<LocalStore> {
  const abs = path.resolve(root);
  return wrapIo(`open store ${abs}`, async () => {
    const layoutFile = path.join(abs, 'oci-layout');
    const layout = await readJson<{ imageLayoutVersion?: string }>(layoutFile).catch((cause) => {
      throw new StoreCorruptLayoutError(layoutFile, 'not JSON', { cause });
    });
    if (layout === undefined) {
      if (options.create === false) throw new StoreNotFoundError('store', abs);
      await fs.mkdir(abs, { recursive: true });
    } else if (layout.imageLayoutVersion !== '1.0.0') {
      throw new StoreCorruptLayoutError(layoutFile, `unsupported imageLayoutVersion ${JSON.stringify(layout.imageLayoutVersion)}`);
    }
    for (const d of ['blobs/sha256', '.berth/ingest', '.berth/labels', '.berth/leases', '.berth/locks']) {
      await fs.mkdir(path.join(abs, d), { recursive: true });
    }
    if (layout === undefined) {
      await withLock(path.join(abs, '.berth/locks/metadata.lock'), async () => {
        if (!(await fs.stat(path.join(abs, 'index.json')).catch(() => undefined))) {
          await writeFileAtomic(path.join(abs, 'index.json'), `${JSON.stringify({ schemaVersion: 2, mediaType: OciMediaType.ImageIndex, manifests: [] })}\n`);
        }
        if (!(await fs.stat(layoutFile).catch(() => undefined))) {
          await writeFileAtomic(layoutFile, `${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`);
        }
      });
    }
    return new LocalStore(abs);
  });
}

/** The on-disk {@link ImageStore}; make one with {@link openLocalStore}. */
export class LocalStore implements ImageStore, WriterHost, BatchHost {
  /** The image index kept in `index.json`. */
  readonly images: ImageIndex;
  /** Leases kept in `.berth/leases`. */
  readonly leases: LeaseManager;
  private readonly roots = new Set<RootProvider>();
  private closed = false;
  private readonly metaLock: string;

  /** Use {@link openLocalStore}. */
  constructor(readonly root: string) {
    this.metaLock = path.join(root, '.berth/locks/metadata.lock');
    this.images = new LocalImageIndex(this);
    this.leases = new LocalLeaseManager(this);
  }

  private check(): void {
    if (this.closed) throw new StoreClosedError(`store ${this.root}`);
  }

  /** Path of a blob in the layout. */
  blobPath(digest: Digest): string {
    const { algorithm, hex } = splitDigest(parseDigest(digest));
    return path.join(this.root, 'blobs', algorithm, hex);
  }

  private labelsPath(digest: Digest): string {
    const { algorithm, hex } = splitDigest(digest);
    return path.join(this.root, '.berth/labels', algorithm, `${hex}.json`);
  }

  private ingestDir(ref: string): string {
    return path.join(this.root, '.berth/ingest', refHash(ref));
  }

  private ingestLock(ref: string): string {
    return path.join(this.root, '.berth/locks', `ingest-${refHash(ref)}.lock`);
  }

  /** Runs `fn` holding the store's metadata lock (all processes). */
  withMetadataLock<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return withLock(this.metaLock, fn, { name: 'store metadata', signal });
  }

  // ---- Provider ----

  /** See {@link Provider.info}. */
  async info(digest: Digest, options: CallOptions = {}): Promise<Info> {
    this.check();
    throwIfAborted(options.signal);
    const file = this.blobPath(digest);
    // Synchronous stats and a tiny read: on the libuv pool they would queue behind long jobs.
    return wrapIo(`stat ${file}`, async () => {
      let st;
      try {
        st = statSync(file);
      } catch (e) {
        if (isEnoent(e)) throw new StoreNotFoundError('blob', digest);
        throw e;
      }
      const labelsFile = this.labelsPath(digest);
      const labels = (await readJson<Record<string, string>>(labelsFile)) ?? {};
      let lst;
      try { lst = statSync(labelsFile); } catch { lst = undefined; }
      const updatedAt = lst && lst.mtime > st.mtime ? lst.mtime : st.mtime;
      return { digest, size: st.size, createdAt: st.mtime, updatedAt, labels };
    });
  }

  /**
   * See {@link Provider.readSmall}: open, fstat, read and close, synchronous
   * (a small local file; on the libuv pool each call would queue behind long
   * jobs, and a stream adds its own turns of the event loop).
   */
  async readSmall(digest: Digest, maxSize: number, options: CallOptions = {}): Promise<Buffer> {
    this.check();
    throwIfAborted(options.signal);
    const file = this.blobPath(digest);
    return wrapIo(`read ${file}`, async () => {
      let fd: number;
      try {
        fd = openSync(file, 'r');
      } catch (e) {
        if (isEnoent(e)) throw new StoreNotFoundError('blob', digest);
        throw e;
      }
      try {
        const size = fstatSync(fd).size;
        if (size > maxSize) throw new StoreSizeMismatchError(maxSize, size, { details: { digest, reason: 'blob larger than maxSize' } });
        const buf = Buffer.allocUnsafe(size);
        let n = 0;
        while (n < size) {
          const r = readSync(fd, buf, n, size - n, n);
          if (r === 0) break;
          n += r;
        }
        return n === size ? buf : buf.subarray(0, n);
      } finally {
        closeSync(fd);
      }
    });
  }

  /** See {@link Provider.open}. */
  async open(digest: Digest, options: OpenOptions = {}): Promise<Readable> {
    const info = await this.info(digest, options);
    const { start, end } = blobRange(digest, info.size, options);
    if (end === start) return Readable.from([]);
    return createReadStream(this.blobPath(digest), { start, end: end - 1, highWaterMark: 1 << 20, signal: options.signal });
  }

  // ---- Ingester ----

  /** See {@link Ingester.writer}. */
  async writer(ref: string, options: WriterOptions = {}): Promise<ContentWriter> {
    this.check();
    throwIfAborted(options.signal);
    if (typeof ref !== 'string' || ref.length === 0 || ref.length > 1024) throw new StoreInvalidIngestRefError(String(ref));
    let expected: IngestFiles['expected'];
    if (options.expected) {
      expected = { digest: parseDigest(options.expected.digest), size: options.expected.size };
      if (this.existsSync(expected.digest)) {
        // Hold the existing blob in the caller's lease, as if it had been written now.
        if (options.lease) {
          const digest = expected.digest;
          await this.withMetadataLock(async () => {
            if (await this.exists(digest)) await this.leaseEditLocked(options.lease!, (l) => { if (!l.digests.includes(digest)) l.digests.push(digest); });
          });
        }
        throw new StoreAlreadyExistsError('blob', expected.digest);
      }
    }
    const lock = await acquireLock(this.ingestLock(ref), { wait: false, name: `ingest ${JSON.stringify(ref)}`, signal: options.signal });
    try {
      return await wrapIo(`open ingest ${ref}`, async () => {
        // The ingest's small files are read and made with synchronous calls
        // (a few tiny metadata operations): on the libuv pool each would
        // queue behind the long jobs of the layers already in flight.
        const dir = this.ingestDir(ref);
        let files = this.readIngestSync(dir);
        if (files && files.ref !== ref) throw new StoreCorruptLayoutError(dir, 'ingest ref does not match its directory');
        if (files && expected && !files.expected && splitDigest(expected.digest).algorithm === 'sha256') {
          writeFileSync(path.join(dir, 'expected'), JSON.stringify(expected));
          files = { ...files, expected };
        }
        if (files && expected && (files.expected?.digest !== expected.digest || files.expected.size !== expected.size)) {
          // A different expectation: start over rather than mix two blobs.
          await fs.rm(dir, { recursive: true, force: true });
          files = undefined;
        }
        if (!files) {
          files = { ref, startedAt: new Date(), ...(expected ? { expected } : {}) };
          const tmp = `${dir}.${randomBytes(4).toString('hex')}.tmp`;
          mkdirSync(tmp);
          writeFileSync(path.join(tmp, 'ref'), ref);
          writeFileSync(path.join(tmp, 'startedat'), files.startedAt.toISOString());
          if (expected) writeFileSync(path.join(tmp, 'expected'), JSON.stringify(expected));
          writeFileSync(path.join(tmp, 'data'), '');
          renameSync(tmp, dir);
        }
        if (options.lease) await this.leaseEdit(options.lease, (l) => { if (!l.ingests.includes(ref)) l.ingests.push(ref); });
        return await LocalWriter.open(ref, dir, files, lock, this, options.lease);
      });
    } catch (e) {
      await lock.release();
      throw e;
    }
  }

  private async readIngest(dir: string): Promise<IngestFiles | undefined> {
    let ref: string;
    try {
      ref = await fs.readFile(path.join(dir, 'ref'), 'utf8');
    } catch (e) {
      if (isEnoent(e)) return undefined;
      throw e;
    }
    const startedAt = new Date(await fs.readFile(path.join(dir, 'startedat'), 'utf8').catch(() => '1970-01-01T00:00:00Z'));
    const expected = await readJson<{ digest: string; size: number }>(path.join(dir, 'expected')).catch(() => undefined);
    return { ref, startedAt, ...(expected ? { expected: { digest: parseDigest(expected.digest), size: expected.size } } : {}) };
  }

  /** {@link readIngest} with synchronous reads (a few tiny files). */
  private readIngestSync(dir: string): IngestFiles | undefined {
    let ref: string;
    try {
      ref = readFileSync(path.join(dir, 'ref'), 'utf8');
    } catch (e) {
      if (isEnoent(e)) return undefined;
      throw e;
    }
    const read = (name: string): string | undefined => { try { return readFileSync(path.join(dir, name), 'utf8'); } catch { return undefined; } };
    const startedAt = new Date(read('startedat') ?? '1970-01-01T00:00:00Z');
    let expected: { digest: string; size: number } | undefined;
    try { expected = JSON.parse(read('expected') ?? 'null') ?? undefined; } catch { expected = undefined; }
    return { ref, startedAt, ...(expected ? { expected: { digest: parseDigest(expected.digest), size: expected.size } } : {}) };
  }

  private existsSync(digest: Digest): boolean {
    try {
      return statSync(this.blobPath(digest)).isFile();
    } catch {
      return false;
    }
  }

  private async exists(digest: Digest): Promise<boolean> {
    return (await fs.stat(this.blobPath(digest)).catch(() => undefined))?.isFile() ?? false;
  }

  /** @internal Publishes a verified data file (WriterHost). */
  async publish(dataFile: string, digest: Digest, size: number, labels: Record<string, string> | undefined, lease: string | undefined, ref: string): Promise<Info> {
    const target = this.blobPath(digest);
    return this.withMetadataLock(() => wrapIo(`commit ${digest}`, async () => {
      const existing = await fs.stat(target).catch(() => undefined);
      if (existing) {
        // Two writers of one digest: keep the blob that is there when it verifies.
        const check = existing.size === size ? await digestFile(target, splitDigest(digest).algorithm) : undefined;
        if (check?.digest === digest) {
          const now = new Date();
          await fs.utimes(target, now, now).catch(() => {});
          if (lease) await this.leaseEditLocked(lease, (l) => { if (!l.digests.includes(digest)) l.digests.push(digest); l.ingests = l.ingests.filter((r) => r !== ref); });
          throw new StoreAlreadyExistsError('blob', digest);
        }
      }
      await fs.mkdir(path.dirname(target), { recursive: true });
      await fs.rename(dataFile, target);
      await fsyncDir(path.dirname(target));
      if (labels && Object.keys(labels).length > 0) await this.writeLabels(digest, labels);
      if (lease) await this.leaseEditLocked(lease, (l) => { if (!l.digests.includes(digest)) l.digests.push(digest); l.ingests = l.ingests.filter((r) => r !== ref); });
      const st = await fs.stat(target);
      if (commitChannel.hasSubscribers) commitChannel.publish({ root: this.root, digest, size });
      return { digest, size, createdAt: st.mtime, updatedAt: st.mtime, labels: labels ?? {} };
    }));
  }

  /** @internal This store, as its writers' host (BatchHost). */
  get writerHost(): WriterHost {
    return this;
  }

  /** See {@link Ingester.commitBatch}. */
  commitBatch(options: CommitBatchOptions = {}): CommitBatch {
    this.check();
    return new LocalBatch(this, options.lease);
  }

  /**
   * @internal Publishes synced, closed ingests under one metadata lock
   * (BatchHost): one edit per lease first (so a blob visible after a crash
   * is held), then each as {@link publish} does (a blob already there that
   * verifies is kept), then one fsync per blob directory.
   */
  async publishStaged(items: StagedIngest[], done: boolean[], batchLease: string | undefined): Promise<Info[]> {
    if (items.length === 0) return [];
    return this.withMetadataLock(() => wrapIo(`commit ${items.length} blobs`, async () => {
      const dirs = new Set<string>();
      const existed = items.map(() => false);
      // Leases first: a blob visible after a crash mid-batch is already held by its lease.
      const leases = new Map<string, StagedIngest[]>();
      for (const item of items) {
        for (const l of new Set([item.lease, batchLease])) if (l) leases.set(l, [...(leases.get(l) ?? []), item]);
      }
      for (const [lease, its] of leases) {
        await this.leaseEditLocked(lease, (l) => {
          for (const i of its) if (!l.digests.includes(i.digest)) l.digests.push(i.digest);
          l.ingests = l.ingests.filter((r) => !its.some((i) => i.ref === r));
        });
      }
      for (const [k, item] of items.entries()) {
        const target = this.blobPath(item.digest);
        const existing = await fs.stat(target).catch(() => undefined);
        // Two writers of one digest: keep the blob that is there when it verifies.
        const check = existing?.size === item.size ? await digestFile(target, splitDigest(item.digest).algorithm) : undefined;
        if (check?.digest === item.digest) {
          existed[k] = true;
          const now = new Date();
          await fs.utimes(target, now, now).catch(() => {});
        } else {
          await fs.mkdir(path.dirname(target), { recursive: true });
          await fs.rename(item.dataFile, target);
          dirs.add(path.dirname(target));
        }
        done[k] = true;
      }
      for (const dir of dirs) await fsyncDir(dir);
      for (const [k, item] of items.entries()) {
        if (!existed[k] && item.labels && Object.keys(item.labels).length > 0) await this.writeLabels(item.digest, item.labels);
      }
      const infos: Info[] = [];
      for (const [k, item] of items.entries()) {
        if (existed[k]) {
          infos.push(await this.info(item.digest));
          continue;
        }
        const st = await fs.stat(this.blobPath(item.digest));
        if (commitChannel.hasSubscribers) commitChannel.publish({ root: this.root, digest: item.digest, size: item.size });
        infos.push({ digest: item.digest, size: item.size, createdAt: st.mtime, updatedAt: st.mtime, labels: item.labels ?? {} });
      }
      return infos;
    }));
  }

  /** @internal Removes a published ingest's directory (BatchHost). */
  async removeIngestDir(dir: string): Promise<void> {
    await fs.rm(dir, { recursive: true, force: true });
  }

  /** @internal Removes an ingest directory (WriterHost). */
  async removeIngest(dir: string, ref: string, lease: string | undefined): Promise<void> {
    await fs.rm(dir, { recursive: true, force: true });
    if (lease) await this.leaseEdit(lease, (l) => { l.ingests = l.ingests.filter((r) => r !== ref); }).catch(() => {});
  }

  private async writeLabels(digest: Digest, labels: Record<string, string>): Promise<void> {
    const file = this.labelsPath(digest);
    if (Object.keys(labels).length === 0) {
      await fs.unlink(file).catch(() => {});
      return;
    }
    await fs.mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, JSON.stringify(labels));
  }

  // ---- Manager ----

  /** See {@link Manager.walk}. */
  async *walk(filter: WalkFilter = {}, options: CallOptions = {}): AsyncIterable<Info> {
    this.check();
    const blobs = path.join(this.root, 'blobs');
    const algs = await fs.readdir(blobs).catch(() => [] as string[]);
    for (const alg of algs.sort()) {
      if (!isDigestAlgorithm(alg) || (filter.algorithm && filter.algorithm !== alg)) continue;
      const names = await fs.readdir(path.join(blobs, alg)).catch(() => [] as string[]);
      for (const hex of names.sort()) {
        throwIfAborted(options.signal);
        if (!isDigest(`${alg}:${hex}`)) continue;
        let info: Info;
        try {
          info = await this.info(`${alg}:${hex}` as Digest);
        } catch (e) {
          if (isBerthError(e) && e.kind === 'not-found') continue; // deleted meanwhile
          throw e;
        }
        if (matchesFilter(info.labels, filter)) yield info;
      }
    }
  }

  /** See {@link Manager.delete}. */
  async delete(digest: Digest, options: CallOptions = {}): Promise<void> {
    this.check();
    const file = this.blobPath(digest);
    await this.withMetadataLock(() => wrapIo(`delete ${digest}`, async () => {
      try {
        await fs.unlink(file);
      } catch (e) {
        if (isEnoent(e)) throw new StoreNotFoundError('blob', digest);
        throw e;
      }
      await fs.unlink(this.labelsPath(digest)).catch(() => {});
      await fsyncDir(path.dirname(file));
    }), options.signal);
  }

  /** See {@link Manager.update}. */
  async update(info: Pick<Info, 'digest'> & Partial<Info>, fieldpaths?: string[], options: CallOptions = {}): Promise<Info> {
    this.check();
    const digest = parseDigest(info.digest);
    await this.withMetadataLock(async () => {
      const current = await this.info(digest);
      await wrapIo(`label ${digest}`, () => this.writeLabels(digest, updateLabels(current.labels, info.labels ?? {}, fieldpaths)));
    }, options.signal);
    return this.info(digest);
  }

  // ---- IngestManager ----

  /** See {@link IngestManager.listIngests}. */
  async *listIngests(options: CallOptions = {}): AsyncIterable<Status> {
    this.check();
    const base = path.join(this.root, '.berth/ingest');
    for (const name of (await fs.readdir(base)).sort()) {
      throwIfAborted(options.signal);
      if (name.endsWith('.tmp')) continue;
      const st = await this.ingestStatus(path.join(base, name));
      if (st) yield st;
    }
  }

  private async ingestStatus(dir: string): Promise<Status | undefined> {
    const files = await this.readIngest(dir).catch(() => undefined);
    if (!files) return undefined;
    const st = await fs.stat(path.join(dir, 'data')).catch(() => undefined);
    if (!st) return undefined;
    return {
      ref: files.ref,
      offset: st.size,
      ...(files.expected ? { total: files.expected.size, expected: files.expected.digest } : {}),
      startedAt: files.startedAt,
      updatedAt: st.mtime,
    };
  }

  /** See {@link IngestManager.status}. */
  async status(ref: string, options: CallOptions = {}): Promise<Status> {
    this.check();
    throwIfAborted(options.signal);
    const st = await this.ingestStatus(this.ingestDir(ref));
    if (!st || st.ref !== ref) throw new StoreNotFoundError('ingest', ref);
    return st;
  }

  /** See {@link IngestManager.abort}. */
  async abort(ref: string, options: CallOptions = {}): Promise<void> {
    this.check();
    const lock = await acquireLock(this.ingestLock(ref), { wait: false, name: `ingest ${JSON.stringify(ref)}`, signal: options.signal });
    try {
      const dir = this.ingestDir(ref);
      if (!(await this.readIngest(dir))) throw new StoreNotFoundError('ingest', ref);
      await wrapIo(`abort ${ref}`, () => fs.rm(dir, { recursive: true, force: true }));
    } finally {
      await lock.release();
    }
  }

  // ---- leases (storage) ----

  private leaseFile(id: string): string {
    return path.join(this.root, '.berth/leases', `${id}.json`);
  }

  /** @internal Reads every lease. */
  async readLeases(): Promise<LeaseFile[]> {
    const dir = path.join(this.root, '.berth/leases');
    const out: LeaseFile[] = [];
    for (const name of (await fs.readdir(dir)).sort()) {
      if (!name.endsWith('.json')) continue;
      const l = await readJson<LeaseFile>(path.join(dir, name)).catch(() => undefined);
      if (l) out.push(l);
    }
    return out;
  }

  /** @internal Edits a lease under the metadata lock. */
  leaseEdit(id: string, fn: (l: LeaseFile) => void): Promise<void> {
    return this.withMetadataLock(() => this.leaseEditLocked(id, fn));
  }

  /** @internal Edits a lease; the caller holds the metadata lock. */
  async leaseEditLocked(id: string, fn: (l: LeaseFile) => void): Promise<void> {
    const file = this.leaseFile(id);
    const l = await readJson<LeaseFile>(file);
    if (!l) throw new StoreNotFoundError('lease', id);
    fn(l);
    await writeFileAtomic(file, JSON.stringify(l));
  }

  /** @internal Creates a lease file; the caller holds the metadata lock. */
  async leaseCreateLocked(l: LeaseFile): Promise<void> {
    const file = this.leaseFile(l.id);
    if (await fs.stat(file).catch(() => undefined)) throw new StoreAlreadyExistsError('lease', l.id);
    await writeFileAtomic(file, JSON.stringify(l));
  }

  /** @internal Deletes a lease file; the caller holds the metadata lock. */
  async leaseDeleteLocked(id: string): Promise<void> {
    try {
      await fs.unlink(this.leaseFile(id));
    } catch (e) {
      if (isEnoent(e)) throw new StoreNotFoundError('lease', id);
      throw e;
    }
  }

  // ---- index.json (storage) ----

  /** @internal Reads and checks index.json. */
  async readIndex(): Promise<OciIndex> {
    const file = path.join(this.root, 'index.json');
    // (A small file read synchronously: on the libuv pool it would queue behind long jobs.)
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (e) {
      if (isEnoent(e)) throw new StoreCorruptLayoutError(file, 'missing');
      throw new StoreIoError(`read ${file}`, e);
    }
    return parseIndex(bytes, file);
  }

  /** @internal Rewrites index.json atomically; the caller holds the metadata lock. */
  async writeIndex(index: OciIndex): Promise<void> {
    await writeFileAtomic(path.join(this.root, 'index.json'), `${JSON.stringify(index)}\n`);
  }

  // ---- GC, verify ----

  /** See {@link ImageStore.addRootProvider}. */
  addRootProvider(provider: RootProvider): () => void {
    this.roots.add(provider);
    return () => { this.roots.delete(provider); };
  }

  /** See {@link ImageStore.gc}. Holds the metadata lock for mark and sweep. */
  async gc(options: GcOptions = {}): Promise<GcResult> {
    this.check();
    return this.withMetadataLock(() => wrapIo('gc', async () => {
      const now = Date.now();
      const result: GcResult = { digests: [], bytes: 0, ingests: [], leases: [] };
      const index = await this.readIndex();
      const digests: Digest[] = [];
      const leasedIngests = new Set<string>();
      for (const l of await this.readLeases()) {
        if (l.expiresAt && Date.parse(l.expiresAt) <= now) {
          result.leases.push(l.id);
          if (!options.dryRun) await fs.unlink(this.leaseFile(l.id)).catch(() => {});
          continue;
        }
        for (const d of l.digests) digests.push(d as Digest);
        for (const r of l.ingests) leasedIngests.add(r);
      }
      for (const provider of this.roots) {
        for await (const d of provider()) digests.push(parseDigest(d));
      }
      // (Synchronous stats and reads of small manifests: on the libuv pool each would queue behind long jobs.)
      const marked = await markReachable({
        size: async (d) => { try { return statSync(this.blobPath(d)).size; } catch { return undefined; } },
        read: async (d) => readFileSync(this.blobPath(d)),
        labels: async (d) => (await readJson<Record<string, string>>(this.labelsPath(d)).catch(() => undefined)) ?? {},
      }, index.manifests, digests, options.signal);
      // Sweep: only the unmarked blobs are touched (a stat for the size, the unlinks), all at once.
      const sweep: Array<Promise<void>> = [];
      const blobs = path.join(this.root, 'blobs');
      for (const alg of await fs.readdir(blobs).catch(() => [] as string[])) {
        if (!isDigestAlgorithm(alg)) continue;
        for (const hex of await fs.readdir(path.join(blobs, alg)).catch(() => [] as string[])) {
          throwIfAborted(options.signal, 'gc');
          const digest = `${alg}:${hex}`;
          if (!isDigest(digest) || marked.has(digest)) continue;
          sweep.push((async () => {
            const st = await fs.stat(this.blobPath(digest)).catch(() => undefined);
            if (!st) return; // deleted meanwhile
            result.digests.push(digest);
            result.bytes += st.size;
            if (!options.dryRun) {
              await Promise.all([fs.unlink(this.blobPath(digest)).catch(() => {}), fs.unlink(this.labelsPath(digest)).catch(() => {})]);
            }
          })());
        }
      }
      await Promise.all(sweep);
      result.digests.sort();
      if (!options.dryRun && result.digests.length > 0) {
        for (const alg of Object.values(DigestAlgorithm)) await fsyncDir(path.join(this.root, 'blobs', alg)).catch(() => {});
      }
      if (options.ingestMaxAgeMs !== undefined) {
        // Half-created ingest dirs of crashed writers.
        const base = path.join(this.root, '.berth/ingest');
        for (const name of await fs.readdir(base)) {
          if (!name.endsWith('.tmp')) continue;
          const st = await fs.stat(path.join(base, name)).catch(() => undefined);
          if (st && now - st.mtime.getTime() >= options.ingestMaxAgeMs && !options.dryRun) await fs.rm(path.join(base, name), { recursive: true, force: true });
        }
        for await (const st of this.listIngests()) {
          if (leasedIngests.has(st.ref) || now - st.updatedAt.getTime() < options.ingestMaxAgeMs) continue;
          if (await isLocked(this.ingestLock(st.ref))) continue;
          result.ingests.push(st.ref);
          if (!options.dryRun) await fs.rm(this.ingestDir(st.ref), { recursive: true, force: true });
        }
      }
      if (gcChannel.hasSubscribers) gcChannel.publish({ root: this.root, result });
      return result;
    }), options.signal);
  }

  /** See {@link ImageStore.verify}. */
  async verify(options: VerifyOptions = {}): Promise<VerifyResult> {
    this.check();
    const result: VerifyResult = { checked: 0, bytes: 0, corrupt: [], deleted: [] };
    const blobs = path.join(this.root, 'blobs');
    const entries = await fs.readdir(blobs, { withFileTypes: true });
    for (const e of entries) {
      throwIfAborted(options.signal, 'verify');
      const p = path.join(blobs, e.name);
      if (!e.isDirectory() || !isDigestAlgorithm(e.name)) {
        result.corrupt.push({ path: p, reason: 'bad-path' });
        continue;
      }
      for (const f of (await fs.readdir(p, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
        throwIfAborted(options.signal, 'verify');
        const fp = path.join(p, f.name);
        const expected = `${e.name}:${f.name}`;
        if (!isDigest(expected)) {
          result.corrupt.push({ path: fp, reason: 'bad-path' });
          continue;
        }
        if (!f.isFile()) {
          result.corrupt.push({ path: fp, expected, reason: 'not-a-file' });
          continue;
        }
        let actual;
        try {
          actual = await digestFile(fp, e.name);
        } catch (err) {
          if (isEnoent(err)) continue; // deleted meanwhile (GC, delete)
          result.corrupt.push({ path: fp, expected, reason: 'unreadable' });
          continue;
        }
        result.checked += 1;
        result.bytes += actual.size;
        if (actual.digest !== expected) result.corrupt.push({ path: fp, expected, actual: actual.digest, reason: 'digest-mismatch' });
      }
    }
    if (options.delete && result.corrupt.length > 0) {
      await this.withMetadataLock(async () => {
        for (const c of result.corrupt) {
          await fs.rm(c.path, { recursive: true, force: true });
          result.deleted.push(c.path);
        }
      }, options.signal);
    }
    return result;
  }

  /** See {@link ImageStore.close}. */
  async close(): Promise<void> {
    this.closed = true;
  }
}

/** Image names in index.json (see {@link ImageIndex}). */
class LocalImageIndex implements ImageIndex {
  constructor(private readonly store: LocalStore) {}

  async tag(name: string, target: Descriptor, options: CallOptions = {}): Promise<Image> {
    const parsed = parseName(name);
    checkDescriptor(target, `tag ${name}`);
    const entry: Descriptor = {
      mediaType: target.mediaType,
      digest: parseDigest(target.digest),
      size: target.size,
      ...(target.platform ? { platform: target.platform } : {}),
      ...(target.artifactType ? { artifactType: target.artifactType } : {}),
      annotations: { ...(target.annotations ?? {}), [AnnotationKey.RefName]: parsed.normalized, [AnnotationKey.ContainerdImageName]: parsed.normalized },
    };
    await this.store.withMetadataLock(async () => {
      const index = await this.store.readIndex();
      index.manifests = index.manifests.filter((m) => entryName(m) !== parsed.normalized);
      index.manifests.push(entry);
      await this.store.writeIndex(index);
    }, options.signal);
    return { name: parsed.normalized, target: entry };
  }

  async untag(name: string, options: CallOptions = {}): Promise<void> {
    const keys = nameKeys(name);
    await this.store.withMetadataLock(async () => {
      const index = await this.store.readIndex();
      const keep = index.manifests.filter((m) => !matches(m, keys));
      if (keep.length === index.manifests.length) throw new StoreNotFoundError('image', name);
      index.manifests = keep;
      await this.store.writeIndex(index);
    }, options.signal);
  }

  async list(options: CallOptions = {}): Promise<Image[]> {
    throwIfAborted(options.signal);
    const index = await this.store.readIndex();
    return index.manifests.flatMap((m) => {
      const n = entryName(m);
      return n === undefined ? [] : [{ name: n, target: m }];
    }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)); // code units, as Docker sorts bytes (localeCompare loads ICU's collation)
  }

  async resolve(name: string, options: CallOptions = {}): Promise<Image> {
    throwIfAborted(options.signal);
    const keys = nameKeys(name);
    const index = await this.store.readIndex();
    const found = index.manifests.filter((m) => matches(m, keys));
    const m = found[found.length - 1];
    if (!m) throw new StoreNotFoundError('image', name);
    return { name: entryName(m)!, target: m };
  }
}

/** The name of an index.json entry: containerd's full name, else the OCI ref name. */
export function entryName(m: Descriptor): string | undefined {
  return m.annotations?.[AnnotationKey.ContainerdImageName] ?? m.annotations?.[AnnotationKey.RefName];
}

function nameKeys(name: string): string[] {
  if (typeof name !== 'string' || name === '') throw new StoreInvalidRefError(String(name), 'empty');
  try {
    return [parseName(name).normalized, name];
  } catch {
    return [name];
  }
}

function matches(m: Descriptor, keys: string[]): boolean {
  const a = m.annotations ?? {};
  return keys.some((k) => a[AnnotationKey.ContainerdImageName] === k || a[AnnotationKey.RefName] === k);
}

/** Leases in `.berth/leases` (see {@link LeaseManager}). */
class LocalLeaseManager implements LeaseManager {
  constructor(private readonly store: LocalStore) {}

  async create(options: LeaseOptions = {}): Promise<Lease> {
    const id = options.id ?? `lease-${Date.now()}-${randomBytes(6).toString('hex')}`;
    validLeaseId(id);
    const now = new Date();
    const l: LeaseFile = {
      id, createdAt: now.toISOString(), labels: { ...(options.labels ?? {}) }, digests: [], ingests: [],
      ...(options.expiresInMs !== undefined ? { expiresAt: new Date(now.getTime() + options.expiresInMs).toISOString() } : {}),
    };
    await this.store.withMetadataLock(() => this.store.leaseCreateLocked(l), options.signal);
    return toLease(l);
  }

  async delete(id: string, options: CallOptions = {}): Promise<void> {
    validLeaseId(id);
    await this.store.withMetadataLock(() => this.store.leaseDeleteLocked(id), options.signal);
  }

  async list(options: CallOptions = {}): Promise<Lease[]> {
    throwIfAborted(options.signal);
    return (await this.store.readLeases()).map(toLease);
  }

  async addResource(id: string, r: LeaseResource, options: CallOptions = {}): Promise<void> {
    validLeaseId(id);
    const digest = r.type === 'content' ? parseDigest(r.digest) : undefined;
    await this.store.withMetadataLock(() => this.store.leaseEditLocked(id, (l) => {
      if (digest && !l.digests.includes(digest)) l.digests.push(digest);
      if (r.type === 'ingest' && !l.ingests.includes(r.ref)) l.ingests.push(r.ref);
    }), options.signal);
  }

  async deleteResource(id: string, r: LeaseResource, options: CallOptions = {}): Promise<void> {
    validLeaseId(id);
    await this.store.withMetadataLock(() => this.store.leaseEditLocked(id, (l) => {
      if (r.type === 'content') l.digests = l.digests.filter((d) => d !== r.digest);
      else l.ingests = l.ingests.filter((x) => x !== r.ref);
    }), options.signal);
  }
}

function toLease(l: LeaseFile): Lease {
  return {
    id: l.id,
    createdAt: new Date(l.createdAt),
    ...(l.expiresAt ? { expiresAt: new Date(l.expiresAt) } : {}),
    labels: l.labels,
    digests: l.digests.map((d) => parseDigest(d)),
    ingests: [...l.ingests],
  };
}

/** @internal The corrupt-entry type, re-exported for tests. */
export type { CorruptBlob };
