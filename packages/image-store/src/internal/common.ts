/** Helpers both stores share: label filters and updates, lease ids, byte ranges, commit checks. */
import { createHash, type Hash } from 'node:crypto';
import { Writable } from 'node:stream';
import {
  StoreDigestMismatchError, StoreInvalidRangeError, StoreInvalidRefError, StoreShortWriteError, StoreSizeMismatchError,
} from '../errors.js';
import type { CommitOptions, OpenOptions, WalkFilter } from '../content.js';
import { parseDigest, splitDigest, type Digest } from './oci.js';

/** Does `labels` satisfy the filter's labels? */
export function matchesFilter(labels: Record<string, string>, filter: WalkFilter): boolean {
  for (const [k, v] of Object.entries(filter.labels ?? {})) {
    if (!(k in labels)) return false;
    if (v !== '' && labels[k] !== v) return false;
  }
  return true;
}

/**
 * Applies a label update: no fieldpaths replaces all labels; `labels` replaces
 * all; `labels.<key>` sets (or, with an empty or absent value, deletes) one.
 */
export function updateLabels(current: Record<string, string>, next: Record<string, string>, fieldpaths?: string[]): Record<string, string> {
  if (!fieldpaths || fieldpaths.length === 0 || fieldpaths.includes('labels')) {
    return Object.fromEntries(Object.entries(next).filter(([, v]) => v !== ''));
  }
  const out = { ...current };
  for (const fp of fieldpaths) {
    if (!fp.startsWith('labels.')) continue;
    const key = fp.slice('labels.'.length);
    const v = next[key];
    if (v === undefined || v === '') delete out[key];
    else out[key] = v;
  }
  return out;
}

/** Checks a lease id: 1–128 of `[A-Za-z0-9._-]`. */
export function validLeaseId(id: string): void {
  if (typeof id !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(id)) throw new StoreInvalidRefError(String(id), 'bad lease id');
}

/** A Writable over a writer's `write` (batches of chunks become one call each). */
export function writerWritable(
  write: (chunks: Uint8Array[], signal?: AbortSignal) => Promise<void>, signal?: AbortSignal, flush?: () => Promise<void>,
): Writable {
  return new Writable({
    highWaterMark: 4 << 20,
    final(cb) {
      (flush ? flush() : Promise.resolve()).then(() => cb(), cb);
    },
    writev(chunks, cb) {
      write(chunks.map((c) => c.chunk as Uint8Array), signal).then(() => cb(), cb);
    },
    write(chunk, _enc, cb) {
      write([chunk as Uint8Array], signal).then(() => cb(), cb);
    },
  });
}

/**
 * The byte range `open` reads from a blob of `size` bytes: `[start, end)`.
 * Throws ERR_STORE_INVALID_RANGE unless offset and length are non-negative
 * safe integers inside the blob.
 */
export function blobRange(digest: Digest, size: number, options: OpenOptions): { start: number; end: number } {
  const offset = options.offset ?? 0;
  const length = options.length;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > size
    || (length !== undefined && (!Number.isSafeInteger(length) || length < 0 || offset + length > size))) {
    throw new StoreInvalidRangeError(digest, offset, length, size);
  }
  return { start: offset, end: length !== undefined ? offset + length : size };
}

/** What {@link verifyCommit} needs from a writer. */
export interface CommitCheck {
  /** The ingest ref (for error details). */
  ref: string;
  /** Bytes written. */
  size: number;
  /** The ingest's expected descriptor, when it has one. */
  expected: { digest: Digest; size: number } | undefined;
  /** The algorithm the writer hashes with. */
  algorithm: string;
  /** The digest of what was written, in `algorithm`. */
  digest(): Digest;
  /** Feeds everything written into `hash` (for a digest of another algorithm). */
  rehash(hash: Hash): unknown;
  /** Ends the writer and keeps the ingest (a short write can be resumed). */
  keep(): unknown;
  /** Ends the writer and removes the ingest. */
  discard(): unknown;
}

/**
 * The checks of `ContentWriter.commit`, in order: the size (from the options,
 * 0 or absent: the expected size) — fewer bytes are ERR_STORE_SHORT_WRITE and
 * keep the ingest, more are ERR_STORE_SIZE_MISMATCH and discard it — then the
 * digest (from the options, else the expected one), hashed again in its own
 * algorithm when the writer used another: a mismatch is
 * ERR_STORE_DIGEST_MISMATCH and discards the ingest. Returns the digest to
 * publish the blob under.
 */
export async function verifyCommit(w: CommitCheck, options: CommitOptions): Promise<Digest> {
  const size = options.size !== undefined && options.size > 0 ? options.size : w.expected?.size;
  const want = options.digest !== undefined ? parseDigest(options.digest) : w.expected?.digest;
  if (size !== undefined && w.size < size) {
    await w.keep();
    throw new StoreShortWriteError(size, w.size, { details: { ref: w.ref } });
  }
  if (size !== undefined && w.size > size) {
    await w.discard();
    throw new StoreSizeMismatchError(size, w.size, { details: { ref: w.ref } });
  }
  let actual = w.digest();
  if (want !== undefined && splitDigest(want).algorithm !== w.algorithm) {
    const { algorithm } = splitDigest(want);
    const h = createHash(algorithm);
    await w.rehash(h);
    actual = parseDigest(`${algorithm}:${h.digest('hex')}`);
  }
  if (want !== undefined && actual !== want) {
    await w.discard();
    throw new StoreDigestMismatchError(want, actual, { details: { ref: w.ref } });
  }
  return actual;
}
