/**
 * The typed errors of @berth/image-store. Each extends `BerthError` with a
 * stable `code` and a `kind`; tests and callers check `code`, never text.
 */
import { BerthError, ErrorKind, systemErrorFields, type BerthErrorOptions } from '@berth/oci-spec';

/** The error codes of this package, as a constant object. */
export const StoreErrorCode = {
  NotFound: 'ERR_STORE_NOT_FOUND',
  AlreadyExists: 'ERR_STORE_ALREADY_EXISTS',
  DigestMismatch: 'ERR_STORE_DIGEST_MISMATCH',
  SizeMismatch: 'ERR_STORE_SIZE_MISMATCH',
  ShortWrite: 'ERR_STORE_SHORT_WRITE',
  Locked: 'ERR_STORE_LOCKED',
  InvalidRef: 'ERR_STORE_INVALID_REF',
  InvalidIngestRef: 'ERR_STORE_INVALID_INGEST_REF',
  InvalidDigest: 'ERR_STORE_INVALID_DIGEST',
  InvalidRange: 'ERR_STORE_INVALID_RANGE',
  InvalidArchive: 'ERR_STORE_INVALID_ARCHIVE',
  CorruptLayout: 'ERR_STORE_CORRUPT_LAYOUT',
  Closed: 'ERR_STORE_CLOSED',
  Io: 'ERR_STORE_IO',
} as const;
/** One of the values of {@link StoreErrorCode}. */
export type StoreErrorCode = (typeof StoreErrorCode)[keyof typeof StoreErrorCode];

/** Content, an ingest, an image name or a lease does not exist. */
export class StoreNotFoundError extends BerthError {
  constructor(readonly what: 'blob' | 'ingest' | 'image' | 'lease' | 'store', readonly id: string, options: BerthErrorOptions = {}) {
    super(StoreErrorCode.NotFound, ErrorKind.NotFound, `${what} ${JSON.stringify(id)} not found`,
      { ...options, details: { what, id, ...options.details } });
  }
}

/** Content (or a lease, or a store) already exists; a writer for it is not needed. */
export class StoreAlreadyExistsError extends BerthError {
  constructor(readonly what: 'blob' | 'lease' | 'store', readonly id: string, options: BerthErrorOptions = {}) {
    super(StoreErrorCode.AlreadyExists, ErrorKind.AlreadyExists, `${what} ${JSON.stringify(id)} already exists`,
      { ...options, details: { what, id, ...options.details } });
  }
}

/** The bytes written do not hash to the digest they were committed as. */
export class StoreDigestMismatchError extends BerthError {
  constructor(readonly expected: string, readonly actual: string, options: BerthErrorOptions = {}) {
    super(StoreErrorCode.DigestMismatch, ErrorKind.DataLoss, `digest ${actual} does not match expected ${expected}`,
      { ...options, details: { expected, actual, ...options.details } });
  }
}

/** More bytes were written than the size committed or expected. */
export class StoreSizeMismatchError extends BerthError {
  constructor(readonly expected: number, readonly actual: number, options: BerthErrorOptions = {}) {
    super(StoreErrorCode.SizeMismatch, ErrorKind.FailedPrecondition, `size ${actual} does not match expected ${expected}`,
      { ...options, details: { expected, actual, ...options.details } });
  }
}

/** Fewer bytes were written than the size committed; the ingest stays, resumable. */
export class StoreShortWriteError extends BerthError {
  constructor(readonly expected: number, readonly actual: number, options: BerthErrorOptions = {}) {
    super(StoreErrorCode.ShortWrite, ErrorKind.FailedPrecondition, `short write: ${actual} of ${expected} bytes`,
      { ...options, details: { expected, actual, ...options.details } });
  }
}

/** A lock (ingest ref, index, GC) is held by another live writer or process. */
export class StoreLockedError extends BerthError {
  constructor(readonly lock: string, readonly holder?: string, options: BerthErrorOptions = {}) {
    super(StoreErrorCode.Locked, ErrorKind.Unavailable, `${lock} is locked${holder ? ` by ${holder}` : ''}`,
      { ...options, details: { lock, holder, ...options.details } });
  }
}

/** An image reference (name) cannot be parsed or normalized. */
export class StoreInvalidRefError extends BerthError {
  constructor(readonly ref: string, reason: string, options: BerthErrorOptions = {}) {
    super(StoreErrorCode.InvalidRef, ErrorKind.InvalidArgument, `image reference ${JSON.stringify(ref)} is invalid: ${reason}`,
      { ...options, details: { ref, reason, ...options.details } });
  }
}

/** An ingest ref is empty, too long or not a string. */
export class StoreInvalidIngestRefError extends BerthError {
  constructor(readonly ref: string, options: BerthErrorOptions = {}) {
    super(StoreErrorCode.InvalidIngestRef, ErrorKind.InvalidArgument, `ingest ref ${JSON.stringify(ref)} is invalid`,
      { ...options, details: { ref, ...options.details } });
  }
}

/** A digest string is malformed or uses an unsupported algorithm. */
export class StoreInvalidDigestError extends BerthError {
  constructor(readonly digest: string, options: BerthErrorOptions = {}) {
    super(StoreErrorCode.InvalidDigest, ErrorKind.InvalidArgument, `digest ${JSON.stringify(digest)} is invalid`,
      { ...options, details: { digest, ...options.details } });
  }
}

/** A byte range lies outside the blob. */
export class StoreInvalidRangeError extends BerthError {
  constructor(readonly digest: string, readonly offset: number, readonly length: number | undefined, readonly size: number) {
    super(StoreErrorCode.InvalidRange, ErrorKind.InvalidArgument,
      `range ${offset}+${length ?? '*'} is outside blob ${digest} of size ${size}`, { details: { digest, offset, length, size } });
  }
}

/** An archive being imported (OCI layout, Docker archive) is malformed. */
export class StoreInvalidArchiveError extends BerthError {
  constructor(readonly format: string, reason: string, options: BerthErrorOptions = {}) {
    super(StoreErrorCode.InvalidArchive, ErrorKind.InvalidArgument, `${format} archive is invalid: ${reason}`,
      { ...options, details: { format, reason, ...options.details } });
  }
}

/** The on-disk layout (oci-layout, index.json, a manifest in the store) is malformed. */
export class StoreCorruptLayoutError extends BerthError {
  constructor(readonly path: string, reason: string, options: BerthErrorOptions = {}) {
    super(StoreErrorCode.CorruptLayout, ErrorKind.DataLoss, `${path} is corrupt: ${reason}`,
      { ...options, details: { path, reason, ...options.details } });
  }
}

/** The store or writer was used after `close()`. */
export class StoreClosedError extends BerthError {
  constructor(readonly what: string) {
    super(StoreErrorCode.Closed, ErrorKind.FailedPrecondition, `${what} is closed`, { details: { what } });
  }
}

/** A filesystem call failed; keeps errno, syscall and path of the cause. */
export class StoreIoError extends BerthError {
  constructor(op: string, cause: unknown) {
    const f = systemErrorFields(cause);
    super(StoreErrorCode.Io, ErrorKind.Internal, `${op} failed: ${f.errnoCode ?? 'error'}${f.path ? ` ${f.path}` : ''}`,
      { cause, details: { op, ...f } });
  }
}
