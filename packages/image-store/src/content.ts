/**
 * The content store contract, containerd's shape (core/content/content.go):
 * a store is a {@link Provider} (read), an {@link Ingester} (write), a
 * {@link Manager} (walk, delete, labels) and an {@link IngestManager}
 * (partial writes). Interfaces only; implementations live in `local/` and
 * `memory/`.
 *
 * Writes are two-step. `writer(ref)` opens (or resumes) the ingest named
 * `ref`; bytes are hashed as they are written; `commit({ size, digest })`
 * checks both and only then makes the blob visible under its digest. Nothing
 * is visible before commit, and a failed commit leaves no blob:
 *
 * ```ts
 * const w = await store.writer('pull-layer-1', { expected: desc });
 * await w.copyFrom(body.skip(w.offset));   // resume: send what is missing
 * await w.commit({ size: desc.size, digest: desc.digest });
 * ```
 *
 * An ingest ref names one in-progress write. Two writers may not hold the
 * same ref at once (the second gets ERR_STORE_LOCKED); two writers of the
 * same digest under different refs both succeed and leave exactly one blob
 * (the later commit gets ERR_STORE_ALREADY_EXISTS, which {@link writeBlob}
 * treats as success).
 */
import type { Readable, Writable } from 'node:stream';
import type { CallOptions } from '@berth/oci-spec';
import type { Descriptor, Digest } from './internal/oci.js';

/**
 * Options every I/O method accepts: oci-spec's shared `CallOptions` (an
 * aborted `signal` fails the call with ERR_CANCELLED).
 */
export type { CallOptions };

/** What the store knows about one committed blob. */
export interface Info {
  /** The digest of the blob. */
  digest: Digest;
  /** Its size in bytes. */
  size: number;
  /** When it was committed. */
  createdAt: Date;
  /** When it or its labels last changed. */
  updatedAt: Date;
  /** Free-form labels (containerd uses `containerd.io/gc.ref.*`, `containerd.io/distribution.source.*`). */
  labels: Record<string, string>;
}

/** Options of {@link Provider.open}: an optional byte range. */
export interface OpenOptions extends CallOptions {
  /** The first byte to read (default 0). */
  offset?: number;
  /** How many bytes to read (default: to the end). */
  length?: number;
}

/** Reads committed content. */
export interface Provider {
  /** Info of a committed blob; ERR_STORE_NOT_FOUND when absent. */
  info(digest: Digest, options?: CallOptions): Promise<Info>;
  /** A stream of a blob's bytes, or of the range `offset`..`offset+length`. */
  open(digest: Digest, options?: OpenOptions): Promise<Readable>;
  /**
   * Optional: a whole blob of at most `maxSize` bytes, read at once (a store
   * of local files reads it with a few synchronous calls instead of a
   * stream). `readBlob` uses it when present and gives the same bytes and
   * errors either way: ERR_STORE_NOT_FOUND when absent,
   * ERR_STORE_SIZE_MISMATCH when larger than `maxSize`.
   */
  readSmall?(digest: Digest, maxSize: number, options?: CallOptions): Promise<Buffer>;
}

/** Options of {@link Ingester.writer}. */
export interface WriterOptions extends CallOptions {
  /**
   * The descriptor the bytes should match. When its digest is already
   * committed, `writer` throws ERR_STORE_ALREADY_EXISTS; `commit` without a
   * digest or size falls back to it.
   */
  expected?: Pick<Descriptor, 'digest' | 'size'> & Partial<Descriptor>;
  /**
   * Adds the committed digest (and the ingest, while open) to this lease,
   * atomically with the commit; when the expected digest already exists, it
   * is added to the lease before ERR_STORE_ALREADY_EXISTS is thrown.
   */
  lease?: string;
}

/** The state of a partial ingest. */
export interface Status {
  /** The ingest ref. */
  ref: string;
  /** Bytes received so far; a resumed writer continues here. */
  offset: number;
  /** The expected total size, when known. */
  total?: number;
  /** The expected digest, when known. */
  expected?: Digest;
  /** When the ingest was started. */
  startedAt: Date;
  /** When bytes were last written. */
  updatedAt: Date;
}

/** Options of {@link ContentWriter.commit}. */
export interface CommitOptions extends CallOptions {
  /** The size the blob must have (0 or absent: the expected size, else unchecked). */
  size?: number;
  /** The digest the bytes must hash to (absent: the expected digest, else what was written). */
  digest?: Digest;
  /** Labels to set on the committed blob. */
  labels?: Record<string, string>;
}

/** One open ingest. Use it from one task at a time. */
export interface ContentWriter {
  /** The ingest ref. */
  readonly ref: string;
  /** Bytes written so far (after a resume: where the caller continues). */
  readonly offset: number;
  /** Appends bytes; they are hashed in the same pass. */
  write(chunk: Uint8Array, options?: CallOptions): Promise<void>;
  /** Appends everything `source` yields (large batched writes, one pass). */
  copyFrom(source: AsyncIterable<Uint8Array>, options?: CallOptions): Promise<number>;
  /**
   * A Writable that appends to this writer, for `await pipeline(src, w.writable())`;
   * commit after the pipeline resolves.
   */
  writable(options?: CallOptions): Writable;
  /** The digest of the bytes written so far. */
  digest(): Digest;
  /** The ingest's status. */
  status(): Promise<Status>;
  /**
   * Verifies size and digest, makes the blob visible atomically and ends the
   * ingest. Throws ERR_STORE_SHORT_WRITE (the ingest stays, resumable),
   * ERR_STORE_SIZE_MISMATCH or ERR_STORE_DIGEST_MISMATCH (the ingest is
   * discarded), or ERR_STORE_ALREADY_EXISTS (the blob was already there; the
   * ingest is discarded). In every failing case no new blob is visible.
   */
  commit(options?: CommitOptions): Promise<Info>;
  /** Releases the writer; an uncommitted ingest stays and can be resumed. Idempotent. */
  close(): Promise<void>;
}

/**
 * Commits of several writers made durable together, for a caller that writes
 * many blobs at once (a pull): one sync pass for all of them instead of one
 * sync per blob, each waiting behind whatever else is dirty on the disk.
 *
 * `stage(writer)` checks the writer's size and digest at once (commit's
 * checks and errors: a mismatch discards the ingest) and holds its ingest;
 * the writer takes no more bytes (the local store starts the data file's
 * fsync right there, in the background). `commit()` makes everything staged
 * so far durable and then visible: the local store waits for those fsyncs,
 * then, under one metadata lock, renames each into
 * `blobs/`, fsyncs each directory once and edits each lease once. A staged
 * blob is never visible before `commit`, and its bytes are on disk before
 * it is, so a crash at any point leaves each staged blob either visible and
 * intact or a resumable ingest:
 *
 * ```ts
 * const batch = store.commitBatch();
 * try {
 *   for (const [w, desc] of writers) await batch.stage(w, { size: desc.size, digest: desc.digest });
 *   await batch.commit();
 * } finally {
 *   await batch.close();
 * }
 * ```
 */
export interface CommitBatch {
  /**
   * Verifies `writer` (one of this store's, still open) as
   * {@link ContentWriter.commit} does, with the same errors, and holds it for
   * {@link CommitBatch.commit}. The writer is closed for writing.
   */
  stage(writer: ContentWriter, options?: CommitOptions): Promise<void>;
  /**
   * Makes every blob staged so far durable and visible and ends their
   * ingests; the batch stays usable for more. Returns their infos in staging
   * order (a blob that was already there: its info, the ingest discarded).
   * On failure nothing staged becomes visible that is not intact; the
   * ingests not published stay, resumable.
   */
  commit(options?: CallOptions): Promise<Info[]>;
  /** Releases what is staged and not committed (those ingests stay, resumable). Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link Ingester.commitBatch}. */
export interface CommitBatchOptions {
  /**
   * Every blob the batch publishes is added to this lease, in the same
   * metadata edit and before it becomes visible (as a writer's own `lease`
   * is). Writers opened without a lease then cost no lease edit each: their
   * ingests are guarded by their writer's lock while they are staged.
   */
  lease?: string;
}

/** Starts or resumes writes. */
export interface Ingester {
  /**
   * Opens the ingest `ref`, creating it or resuming an existing one at its
   * current offset (read `writer.offset` and send the rest).
   */
  writer(ref: string, options?: WriterOptions): Promise<ContentWriter>;
  /** A {@link CommitBatch}: commits of several writers made durable with one sync pass. */
  commitBatch(options?: CommitBatchOptions): CommitBatch;
}

/** A filter for {@link Manager.walk}: all given label values must match (`''` matches presence). */
export interface WalkFilter {
  /** Only blobs whose labels include these (value `''`: any value). */
  labels?: Record<string, string>;
  /** Only blobs of this algorithm. */
  algorithm?: string;
}

/** Lists, deletes and labels committed content. */
export interface Manager {
  /** Every committed blob matching `filter`. */
  walk(filter?: WalkFilter, options?: CallOptions): AsyncIterable<Info>;
  /** Deletes a blob; ERR_STORE_NOT_FOUND when absent. */
  delete(digest: Digest, options?: CallOptions): Promise<void>;
  /**
   * Updates the fields named by `fieldpaths` (`labels` for all labels,
   * `labels.<key>` for one; an empty value deletes a label) and returns the
   * new info. Without fieldpaths, all labels are replaced.
   */
  update(info: Pick<Info, 'digest'> & Partial<Info>, fieldpaths?: string[], options?: CallOptions): Promise<Info>;
}

/** Lists, inspects and aborts partial ingests. */
export interface IngestManager {
  /** The status of every partial ingest. */
  listIngests(options?: CallOptions): AsyncIterable<Status>;
  /** The status of one ingest; ERR_STORE_NOT_FOUND when absent. */
  status(ref: string, options?: CallOptions): Promise<Status>;
  /** Removes a partial ingest; ERR_STORE_LOCKED while a writer holds it. */
  abort(ref: string, options?: CallOptions): Promise<void>;
}

/** A full content store: containerd's `content.Store`. */
export interface ContentStore extends Provider, Ingester, Manager, IngestManager {}
