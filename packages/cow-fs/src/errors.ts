/**
 * Typed errors of @berth/cow-fs. Every rejection of a layer entry names the
 * entry (`details.entry`); snapshot errors name the key.
 */
import { BerthError, ErrorKind, type BerthErrorOptions } from '@berth/oci-spec';

/** Codes of the errors @berth/cow-fs throws, as a constant object. */
export const CowFsErrorCode = {
  LayerPathEscape: 'ERR_LAYER_PATH_ESCAPE',
  LayerLinkEscape: 'ERR_LAYER_LINK_ESCAPE',
  LayerInvalidWhiteout: 'ERR_LAYER_INVALID_WHITEOUT',
  LayerDeviceNotPermitted: 'ERR_LAYER_DEVICE_NOT_PERMITTED',
  LayerCorrupt: 'ERR_LAYER_CORRUPT',
  LayerUnsupportedCompression: 'ERR_LAYER_UNSUPPORTED_COMPRESSION',
  LayerUnsupportedEntry: 'ERR_LAYER_UNSUPPORTED_ENTRY',
  LayerApplyFailed: 'ERR_LAYER_APPLY_FAILED',
  SnapshotNotFound: 'ERR_SNAPSHOT_NOT_FOUND',
  SnapshotAlreadyExists: 'ERR_SNAPSHOT_ALREADY_EXISTS',
  SnapshotInvalidState: 'ERR_SNAPSHOT_INVALID_STATE',
  SnapshotHasChildren: 'ERR_SNAPSHOT_HAS_CHILDREN',
  SnapshotInvalidArgument: 'ERR_SNAPSHOT_INVALID_ARGUMENT',
  SnapshotterClosed: 'ERR_SNAPSHOTTER_CLOSED',
  SnapshotterUnsupported: 'ERR_SNAPSHOTTER_UNSUPPORTED',
  DiffFailed: 'ERR_DIFF_FAILED',
} as const;

/** One of the values of {@link CowFsErrorCode}. */
export type CowFsErrorCode = (typeof CowFsErrorCode)[keyof typeof CowFsErrorCode];

/** The base of errors about one tar entry of a layer; `entry` is its name as found in the archive. */
export class LayerEntryError extends BerthError {
  /** The entry's name as it appears in the archive. */
  readonly entry: string;
  constructor(code: CowFsErrorCode, kind: ErrorKind, entry: string, what: string, options: BerthErrorOptions = {}) {
    super(code, kind, `layer entry ${JSON.stringify(entry)}: ${what}`, { ...options, details: { entry, ...options.details } });
    this.entry = entry;
  }
}

/** An entry name that is absolute or has a `..` component. */
export class LayerPathEscapeError extends LayerEntryError {
  constructor(entry: string, options: BerthErrorOptions = {}) {
    super(CowFsErrorCode.LayerPathEscape, ErrorKind.InvalidArgument, entry, 'path escapes the target', options);
  }
}

/** A hardlink whose target is absolute, has `..`, or is not a non-directory inside the target. */
export class LayerLinkEscapeError extends LayerEntryError {
  /** The link target as found in the archive. */
  readonly linkname: string;
  constructor(entry: string, linkname: string, options: BerthErrorOptions = {}) {
    super(CowFsErrorCode.LayerLinkEscape, ErrorKind.InvalidArgument, entry, `link target ${JSON.stringify(linkname)} escapes the target`,
      { ...options, details: { linkname, ...options.details } });
    this.linkname = linkname;
  }
}

/** A whiteout that names `.`, `..`, nothing, or a whiteout. */
export class LayerInvalidWhiteoutError extends LayerEntryError {
  constructor(entry: string, options: BerthErrorOptions = {}) {
    super(CowFsErrorCode.LayerInvalidWhiteout, ErrorKind.InvalidArgument, entry, 'invalid whiteout', options);
  }
}

/** A char or block device in a layer applied with `allowDevices: false`. */
export class LayerDeviceNotPermittedError extends LayerEntryError {
  constructor(entry: string, options: BerthErrorOptions = {}) {
    super(CowFsErrorCode.LayerDeviceNotPermitted, ErrorKind.PermissionDenied, entry, 'device nodes are not permitted', options);
  }
}

/** An unknown or unsupported tar entry type (multi-volume, …). */
export class LayerUnsupportedEntryError extends LayerEntryError {
  constructor(entry: string, type: string, options: BerthErrorOptions = {}) {
    super(CowFsErrorCode.LayerUnsupportedEntry, ErrorKind.NotImplemented, entry, `unsupported entry type ${JSON.stringify(type)}`,
      { ...options, details: { type, ...options.details } });
  }
}

/** A filesystem operation failed while an entry was being restored; keeps errno, syscall and path. */
export class LayerApplyError extends LayerEntryError {
  constructor(entry: string, what: string, options: BerthErrorOptions = {}) {
    super(CowFsErrorCode.LayerApplyFailed, ErrorKind.Internal, entry, what, options);
  }
}

/** The tar stream is malformed: bad checksum, truncated, bad PAX record, bad sparse map. */
export class LayerCorruptError extends BerthError {
  constructor(what: string, options: BerthErrorOptions = {}) {
    super(CowFsErrorCode.LayerCorrupt, ErrorKind.DataLoss, `layer is corrupt: ${what}`, options);
  }
}

/** The layer is compressed with something other than gzip or zstd (bzip2, xz…). */
export class LayerUnsupportedCompressionError extends BerthError {
  constructor(format: string, options: BerthErrorOptions = {}) {
    super(CowFsErrorCode.LayerUnsupportedCompression, ErrorKind.NotImplemented, `layer compression ${JSON.stringify(format)} is not supported`,
      { ...options, details: { format, ...options.details } });
  }
}

/** No snapshot has this key or name. */
export class SnapshotNotFoundError extends BerthError {
  constructor(key: string, options: BerthErrorOptions = {}) {
    super(CowFsErrorCode.SnapshotNotFound, ErrorKind.NotFound, `snapshot ${JSON.stringify(key)} not found`, { ...options, details: { key, ...options.details } });
  }
}

/** A snapshot with this key or name exists already. */
export class SnapshotAlreadyExistsError extends BerthError {
  constructor(key: string, options: BerthErrorOptions = {}) {
    super(CowFsErrorCode.SnapshotAlreadyExists, ErrorKind.AlreadyExists, `snapshot ${JSON.stringify(key)} already exists`, { ...options, details: { key, ...options.details } });
  }
}

/** The snapshot is of the wrong kind for the operation (commit of a view, parent not committed, mounts of a committed one). */
export class SnapshotInvalidStateError extends BerthError {
  constructor(key: string, what: string, options: BerthErrorOptions = {}) {
    super(CowFsErrorCode.SnapshotInvalidState, ErrorKind.FailedPrecondition, `snapshot ${JSON.stringify(key)}: ${what}`, { ...options, details: { key, ...options.details } });
  }
}

/** A committed snapshot still has children and cannot be removed. */
export class SnapshotHasChildrenError extends BerthError {
  constructor(key: string, children: string[], options: BerthErrorOptions = {}) {
    super(CowFsErrorCode.SnapshotHasChildren, ErrorKind.FailedPrecondition, `snapshot ${JSON.stringify(key)} has children`, { ...options, details: { key, children, ...options.details } });
  }
}

/** A bad argument: empty key, bad label, unknown field path. */
export class SnapshotInvalidArgumentError extends BerthError {
  constructor(what: string, options: BerthErrorOptions = {}) {
    super(CowFsErrorCode.SnapshotInvalidArgument, ErrorKind.InvalidArgument, what, options);
  }
}

/** The snapshotter was closed. */
export class SnapshotterClosedError extends BerthError {
  constructor(options: BerthErrorOptions = {}) {
    super(CowFsErrorCode.SnapshotterClosed, ErrorKind.FailedPrecondition, 'snapshotter is closed', options);
  }
}

/** The platform lacks what the backend needs (overlayfs, d_type, root). */
export class SnapshotterUnsupportedError extends BerthError {
  constructor(what: string, options: BerthErrorOptions = {}) {
    super(CowFsErrorCode.SnapshotterUnsupported, ErrorKind.NotImplemented, what, options);
  }
}

/** Producing a diff failed (a walk error, the zstd encoder failed). */
export class DiffError extends BerthError {
  constructor(what: string, options: BerthErrorOptions = {}) {
    super(CowFsErrorCode.DiffFailed, ErrorKind.Internal, `diff: ${what}`, options);
  }
}
