/**
 * The in-memory {@link ImageStore}: the same contract as the on-disk store,
 * for tests and embedding. Blobs are Buffers; nothing survives the process.
 */
import { Readable } from 'node:stream';
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { AnnotationKey, throwIfAborted } from '@berth/oci-spec';
import type { CallOptions, CommitBatch, CommitBatchOptions, CommitOptions, ContentWriter, Info, OpenOptions, Status, WalkFilter, WriterOptions } from '../content.js';
import type { Image, ImageIndex } from '../images.js';
import type { Lease, LeaseManager, LeaseOptions, LeaseResource } from '../leases.js';
import type { GcOptions, GcResult, ImageStore, RootProvider, VerifyOptions, VerifyResult } from '../store.js';
import {
  StoreAlreadyExistsError, StoreClosedError, StoreInvalidIngestRefError, StoreLockedError, StoreNotFoundError, StoreInvalidRefError,
} from '../errors.js';
import { parseDigest, splitDigest, type Descriptor, type Digest } from '../internal/oci.js';
import { checkDescriptor } from '../internal/validate.js';
import { markReachable } from '../internal/gc.js';
import { parseName } from '../internal/reference.js';
import { blobRange, matchesFilter, updateLabels, validLeaseId, verifyCommit, writerWritable } from '../internal/common.js';
import type { Writable } from 'node:stream';

interface Blob { data: Buffer; createdAt: Date; updatedAt: Date; labels: Record<string, string> }
interface Ingest { ref: string; chunks: Buffer[]; size: number; startedAt: Date; updatedAt: Date; expected?: { digest: Digest; size: number }; locked: boolean }
interface LeaseRec { id: string; createdAt: Date; expiresAt?: Date; labels: Record<string, string>; digests: Set<string>; ingests: Set<string> }

/** Creates an empty in-memory store. */
export function createMemoryStore(): MemoryStore {
  return new MemoryStore();
}

/** The in-memory {@link ImageStore}; make one with {@link createMemoryStore}. */
export class MemoryStore implements ImageStore {
  /** @internal */ readonly blobs = new Map<string, Blob>();
  /** @internal */ readonly ingests = new Map<string, Ingest>();
  /** @internal */ readonly leaseMap = new Map<string, LeaseRec>();
  /** @internal */ entries: Array<{ name: string; target: Descriptor }> = [];
  private readonly roots = new Set<RootProvider>();
  private closed = false;
  /** The image index. */
  readonly images: ImageIndex = new MemoryImageIndex(this);
  /** Leases. */
  readonly leases: LeaseManager = new MemoryLeaseManager(this);

  private check(signal?: AbortSignal): void {
    if (this.closed) throw new StoreClosedError('memory store');
    throwIfAborted(signal);
  }

  /** See {@link Provider.info}. */
  async info(digest: Digest, options: CallOptions = {}): Promise<Info> {
    this.check(options.signal);
    return this.infoOf(digest);
  }

  /** @internal The info of a blob, synchronously. */
  infoOf(digest: Digest): Info {
    const b = this.blobs.get(parseDigest(digest));
    if (!b) throw new StoreNotFoundError('blob', digest);
    return { digest, size: b.data.length, createdAt: b.createdAt, updatedAt: b.updatedAt, labels: { ...b.labels } };
  }

  /** See {@link Provider.open}. */
  async open(digest: Digest, options: OpenOptions = {}): Promise<Readable> {
    const info = await this.info(digest, options);
    const { start, end } = blobRange(digest, info.size, options);
    const data = this.blobs.get(digest)!.data.subarray(start, end);
    const chunks: Buffer[] = [];
    for (let i = 0; i < data.length; i += 1 << 20) chunks.push(data.subarray(i, i + (1 << 20)));
    return Readable.from(chunks, { objectMode: false });
  }

  /** See {@link Ingester.writer}. */
  async writer(ref: string, options: WriterOptions = {}): Promise<ContentWriter> {
    this.check(options.signal);
    if (typeof ref !== 'string' || ref.length === 0 || ref.length > 1024) throw new StoreInvalidIngestRefError(String(ref));
    let expected: Ingest['expected'];
    if (options.expected) {
      expected = { digest: parseDigest(options.expected.digest), size: options.expected.size };
      if (this.blobs.has(expected.digest)) {
        if (options.lease) this.leaseRec(options.lease).digests.add(expected.digest);
        throw new StoreAlreadyExistsError('blob', expected.digest);
      }
    }
    let ing = this.ingests.get(ref);
    if (ing?.locked) throw new StoreLockedError(`ingest ${JSON.stringify(ref)}`);
    if (ing && expected && !ing.expected) ing.expected = expected;
    if (ing && expected && (ing.expected?.digest !== expected.digest || ing.expected.size !== expected.size)) ing = undefined;
    if (!ing) {
      const now = new Date();
      ing = { ref, chunks: [], size: 0, startedAt: now, updatedAt: now, ...(expected ? { expected } : {}), locked: false };
      this.ingests.set(ref, ing);
    }
    if (options.lease) this.leaseRec(options.lease).ingests.add(ref);
    ing.locked = true;
    return new MemoryWriter(this, ing, options.lease);
  }

  /** See {@link Ingester.commitBatch}: staged writers are checked at once and published by `commit`. */
  commitBatch(batchOptions: CommitBatchOptions = {}): CommitBatch {
    this.check();
    const lease = batchOptions.lease;
    const store = this;
    let entries: Array<{ publish: () => Info; release: () => void }> = [];
    let closed = false;
    return {
      async stage(writer: ContentWriter, options: CommitOptions = {}): Promise<void> {
        if (closed) throw new StoreClosedError('commit batch');
        if (!(writer instanceof MemoryWriter) || !writer.belongsTo(store)) {
          const info = await writer.commit(options);
          entries.push({ publish: () => info, release: () => undefined });
          return;
        }
        entries.push(await writer.stage(options));
      },
      async commit(options: CallOptions = {}): Promise<Info[]> {
        if (closed) throw new StoreClosedError('commit batch');
        throwIfAborted(options.signal, 'commit batch');
        const now = entries;
        entries = [];
        const infos = now.map((e) => e.publish());
        if (lease) for (const i of infos) store.leaseRec(lease).digests.add(i.digest);
        return infos;
      },
      async close(): Promise<void> {
        if (closed) return;
        closed = true;
        for (const e of entries) e.release();
        entries = [];
      },
    };
  }

  /** @internal Publishes an ingest's bytes. */
  publish(ing: Ingest, digest: Digest, labels: Record<string, string> | undefined, lease: string | undefined): Info {
    this.ingests.delete(ing.ref);
    if (lease) {
      const l = this.leaseMap.get(lease);
      l?.digests.add(digest);
      l?.ingests.delete(ing.ref);
    }
    if (this.blobs.has(digest)) throw new StoreAlreadyExistsError('blob', digest);
    const now = new Date();
    const data = Buffer.concat(ing.chunks);
    this.blobs.set(digest, { data, createdAt: now, updatedAt: now, labels: { ...(labels ?? {}) } });
    return { digest, size: data.length, createdAt: now, updatedAt: now, labels: { ...(labels ?? {}) } };
  }

  /** See {@link Manager.walk}. */
  async *walk(filter: WalkFilter = {}, options: CallOptions = {}): AsyncIterable<Info> {
    for (const d of [...this.blobs.keys()].sort()) {
      this.check(options.signal);
      if (filter.algorithm && splitDigest(d as Digest).algorithm !== filter.algorithm) continue;
      const b = this.blobs.get(d);
      if (b && matchesFilter(b.labels, filter)) yield await this.info(d as Digest);
    }
  }

  /** See {@link Manager.delete}. */
  async delete(digest: Digest, options: CallOptions = {}): Promise<void> {
    this.check(options.signal);
    if (!this.blobs.delete(parseDigest(digest))) throw new StoreNotFoundError('blob', digest);
  }

  /** See {@link Manager.update}. */
  async update(info: Pick<Info, 'digest'> & Partial<Info>, fieldpaths?: string[], options: CallOptions = {}): Promise<Info> {
    this.check(options.signal);
    const b = this.blobs.get(parseDigest(info.digest));
    if (!b) throw new StoreNotFoundError('blob', info.digest);
    b.labels = updateLabels(b.labels, info.labels ?? {}, fieldpaths);
    b.updatedAt = new Date();
    return this.info(info.digest);
  }

  /** See {@link IngestManager.listIngests}. */
  async *listIngests(options: CallOptions = {}): AsyncIterable<Status> {
    for (const ref of [...this.ingests.keys()].sort()) {
      this.check(options.signal);
      const i = this.ingests.get(ref);
      if (i) yield ingestStatus(i);
    }
  }

  /** See {@link IngestManager.status}. */
  async status(ref: string, options: CallOptions = {}): Promise<Status> {
    this.check(options.signal);
    const i = this.ingests.get(ref);
    if (!i) throw new StoreNotFoundError('ingest', ref);
    return ingestStatus(i);
  }

  /** See {@link IngestManager.abort}. */
  async abort(ref: string, options: CallOptions = {}): Promise<void> {
    this.check(options.signal);
    const i = this.ingests.get(ref);
    if (!i) throw new StoreNotFoundError('ingest', ref);
    if (i.locked) throw new StoreLockedError(`ingest ${JSON.stringify(ref)}`);
    this.ingests.delete(ref);
  }

  /** @internal */
  leaseRec(id: string): LeaseRec {
    const l = this.leaseMap.get(id);
    if (!l) throw new StoreNotFoundError('lease', id);
    return l;
  }

  /** See {@link ImageStore.addRootProvider}. */
  addRootProvider(provider: RootProvider): () => void {
    this.roots.add(provider);
    return () => { this.roots.delete(provider); };
  }

  /** See {@link ImageStore.gc}. Runs without awaiting between mark and sweep of in-process state. */
  async gc(options: GcOptions = {}): Promise<GcResult> {
    this.check(options.signal);
    const now = Date.now();
    const result: GcResult = { digests: [], bytes: 0, ingests: [], leases: [] };
    const digests: Digest[] = [];
    const leasedIngests = new Set<string>();
    for (const l of [...this.leaseMap.values()]) {
      if (l.expiresAt && l.expiresAt.getTime() <= now) {
        result.leases.push(l.id);
        if (!options.dryRun) this.leaseMap.delete(l.id);
        continue;
      }
      for (const d of l.digests) digests.push(d as Digest);
      for (const r of l.ingests) leasedIngests.add(r);
    }
    for (const provider of this.roots) for await (const d of provider()) digests.push(parseDigest(d));
    // Snapshot the blobs so writers committing during the mark are not swept.
    const candidates = new Map(this.blobs);
    const marked = await markReachable({
      size: async (d) => this.blobs.get(d)?.data.length,
      read: async (d) => this.blobs.get(d)!.data,
      labels: async (d) => this.blobs.get(d)?.labels ?? {},
    }, this.entries.map((e) => e.target), digests, options.signal);
    // Roots added while marking (leases, tags) are honoured: re-mark them.
    const late = await markReachable({
      size: async (d) => this.blobs.get(d)?.data.length,
      read: async (d) => this.blobs.get(d)!.data,
      labels: async (d) => this.blobs.get(d)?.labels ?? {},
    }, this.entries.map((e) => e.target), [...this.leaseMap.values()]
      .filter((l) => !l.expiresAt || l.expiresAt.getTime() > now).flatMap((l) => [...l.digests] as Digest[]));
    for (const [d, b] of candidates) {
      if (marked.has(d) || late.has(d)) continue;
      result.digests.push(d as Digest);
      result.bytes += b.data.length;
      if (!options.dryRun && this.blobs.get(d) === b) this.blobs.delete(d);
    }
    if (options.ingestMaxAgeMs !== undefined) {
      for (const i of [...this.ingests.values()]) {
        if (i.locked || leasedIngests.has(i.ref) || now - i.updatedAt.getTime() < options.ingestMaxAgeMs) continue;
        result.ingests.push(i.ref);
        if (!options.dryRun) this.ingests.delete(i.ref);
      }
    }
    result.digests.sort();
    return result;
  }

  /** See {@link ImageStore.verify}. */
  async verify(options: VerifyOptions = {}): Promise<VerifyResult> {
    this.check(options.signal);
    const result: VerifyResult = { checked: 0, bytes: 0, corrupt: [], deleted: [] };
    for (const [d, b] of this.blobs) {
      const { algorithm } = splitDigest(d as Digest);
      const actual = `${algorithm}:${createHash(algorithm).update(b.data).digest('hex')}`;
      result.checked += 1;
      result.bytes += b.data.length;
      if (actual !== d) {
        result.corrupt.push({ path: d, expected: d, actual, reason: 'digest-mismatch' });
        if (options.delete) { this.blobs.delete(d); result.deleted.push(d); }
      }
    }
    return result;
  }

  /** See {@link ImageStore.close}. */
  async close(): Promise<void> {
    this.closed = true;
  }
}

function ingestStatus(i: Ingest): Status {
  return {
    ref: i.ref, offset: i.size, startedAt: i.startedAt, updatedAt: i.updatedAt,
    ...(i.expected ? { total: i.expected.size, expected: i.expected.digest } : {}),
  };
}

class MemoryWriter implements ContentWriter {
  private hash: Hash;
  private closed = false;
  private readonly algorithm: string;

  constructor(private readonly store: MemoryStore, private readonly ing: Ingest, private readonly lease: string | undefined) {
    this.algorithm = ing.expected ? splitDigest(ing.expected.digest).algorithm : 'sha256';
    this.hash = createHash(this.algorithm);
    for (const c of ing.chunks) this.hash.update(c);
  }

  get ref(): string { return this.ing.ref; }
  get offset(): number { return this.ing.size; }

  private check(signal?: AbortSignal): void {
    if (this.closed) throw new StoreClosedError(`writer ${JSON.stringify(this.ing.ref)}`);
    throwIfAborted(signal);
  }

  async write(chunk: Uint8Array, options: CallOptions = {}): Promise<void> {
    this.check(options.signal);
    if (chunk.length === 0) return;
    const copy = Buffer.from(chunk);
    this.hash.update(copy);
    this.ing.chunks.push(copy);
    this.ing.size += copy.length;
    this.ing.updatedAt = new Date();
  }

  async copyFrom(source: AsyncIterable<Uint8Array>, options: CallOptions = {}): Promise<number> {
    let n = 0;
    for await (const c of source) {
      await this.write(c, options);
      n += c.length;
    }
    return n;
  }

  writable(options: CallOptions = {}): Writable {
    return writerWritable(async (chunks, signal) => {
      for (const c of chunks) await this.write(c, signal ? { signal } : {});
    }, options.signal);
  }

  digest(): Digest {
    return parseDigest(`${this.algorithm}:${this.hash.copy().digest('hex')}`);
  }

  async status(): Promise<Status> {
    return ingestStatus(this.ing);
  }

  /** Whether `store` opened this writer. */
  belongsTo(store: MemoryStore): boolean {
    return this.store === store;
  }

  /** Commit's checks now; `publish` (a batch's commit) makes the blob visible, `release` gives the ingest back. The ingest stays held until one of them. */
  async stage(options: CommitOptions = {}): Promise<{ publish: () => Info; release: () => void }> {
    const actual = await this.verify(options);
    this.closed = true;
    const release = (): void => { this.ing.locked = false; };
    const publish = (): Info => {
      release();
      try {
        return this.store.publish(this.ing, actual, options.labels, this.lease);
      } catch (e) {
        // There already: that blob's info, as the local store reports it.
        if ((e as { code?: string }).code === 'ERR_STORE_ALREADY_EXISTS') return this.store.infoOf(actual);
        throw e;
      }
    };
    return { publish, release };
  }

  async commit(options: CommitOptions = {}): Promise<Info> {
    const actual = await this.verify(options);
    this.closed = true;
    this.ing.locked = false;
    return this.store.publish(this.ing, actual, options.labels, this.lease);
  }

  private async verify(options: CommitOptions): Promise<Digest> {
    this.check(options.signal);
    return verifyCommit({
      ref: this.ref, size: this.ing.size, expected: this.ing.expected, algorithm: this.algorithm,
      digest: () => this.digest(),
      rehash: (h) => { for (const c of this.ing.chunks) h.update(c); },
      keep: () => this.close(),
      discard: () => this.discard(),
    }, options);
  }

  private discard(): void {
    this.closed = true;
    this.ing.locked = false;
    this.store.ingests.delete(this.ing.ref);
    if (this.lease) this.store.leaseMap.get(this.lease)?.ingests.delete(this.ing.ref);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.ing.locked = false;
  }
}

class MemoryImageIndex implements ImageIndex {
  constructor(private readonly store: MemoryStore) {}

  async tag(name: string, target: Descriptor, options: CallOptions = {}): Promise<Image> {
    throwIfAborted(options.signal);
    const parsed = parseName(name);
    checkDescriptor(target, `tag ${name}`);
    const entry: Descriptor = {
      ...target,
      annotations: { ...(target.annotations ?? {}), [AnnotationKey.RefName]: parsed.normalized, [AnnotationKey.ContainerdImageName]: parsed.normalized },
    };
    this.store.entries = this.store.entries.filter((e) => e.name !== parsed.normalized);
    this.store.entries.push({ name: parsed.normalized, target: entry });
    return { name: parsed.normalized, target: entry };
  }

  private find(name: string): number {
    if (typeof name !== 'string' || name === '') throw new StoreInvalidRefError(String(name), 'empty');
    let n = name;
    try { n = parseName(name).normalized; } catch { /* raw name */ }
    return this.store.entries.findIndex((e) => e.name === n || e.name === name);
  }

  async untag(name: string, options: CallOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    const i = this.find(name);
    if (i < 0) throw new StoreNotFoundError('image', name);
    this.store.entries.splice(i, 1);
  }

  async list(options: CallOptions = {}): Promise<Image[]> {
    throwIfAborted(options.signal);
    return [...this.store.entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((e) => ({ ...e }));
  }

  async resolve(name: string, options: CallOptions = {}): Promise<Image> {
    throwIfAborted(options.signal);
    const i = this.find(name);
    if (i < 0) throw new StoreNotFoundError('image', name);
    return { ...this.store.entries[i]! };
  }
}

class MemoryLeaseManager implements LeaseManager {
  constructor(private readonly store: MemoryStore) {}

  async create(options: LeaseOptions = {}): Promise<Lease> {
    throwIfAborted(options.signal);
    const id = options.id ?? `lease-${Date.now()}-${randomBytes(6).toString('hex')}`;
    validLeaseId(id);
    if (this.store.leaseMap.has(id)) throw new StoreAlreadyExistsError('lease', id);
    const now = new Date();
    const l: LeaseRec = {
      id, createdAt: now, labels: { ...(options.labels ?? {}) }, digests: new Set(), ingests: new Set(),
      ...(options.expiresInMs !== undefined ? { expiresAt: new Date(now.getTime() + options.expiresInMs) } : {}),
    };
    this.store.leaseMap.set(id, l);
    return toLease(l);
  }

  async delete(id: string, options: CallOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    validLeaseId(id);
    if (!this.store.leaseMap.delete(id)) throw new StoreNotFoundError('lease', id);
  }

  async list(options: CallOptions = {}): Promise<Lease[]> {
    throwIfAborted(options.signal);
    return [...this.store.leaseMap.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map(toLease);
  }

  async addResource(id: string, r: LeaseResource, options: CallOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    const l = this.store.leaseRec(id);
    if (r.type === 'content') l.digests.add(parseDigest(r.digest));
    else l.ingests.add(r.ref);
  }

  async deleteResource(id: string, r: LeaseResource, options: CallOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    const l = this.store.leaseRec(id);
    if (r.type === 'content') l.digests.delete(r.digest);
    else l.ingests.delete(r.ref);
  }
}

function toLease(l: LeaseRec): Lease {
  return {
    id: l.id, createdAt: l.createdAt, labels: { ...l.labels },
    ...(l.expiresAt ? { expiresAt: l.expiresAt } : {}),
    digests: [...l.digests].sort() as Digest[], ingests: [...l.ingests].sort(),
  };
}
