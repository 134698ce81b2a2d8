/**
 * Typed errors of @berth/namespaces. Native failures arrive from the addon as
 * plain `Error`s with `code` (`ERR_NS_…`), and for syscalls `errno`, `syscall`
 * and `path`; {@link fromNative} turns them into these classes.
 */
import { BerthError, ErrorKind, type BerthErrorOptions } from '@berth/oci-spec';
import os from 'node:os';

const errnoNames: Record<number, string> = Object.fromEntries(
  Object.entries(os.constants.errno).map(([name, n]) => [n, name]),
);

/** The errno name (`ENOENT`) of an errno number, when known. */
export function errnoName(errno: number): string | undefined {
  return errnoNames[errno];
}

function kindOfErrno(errno: number | undefined): ErrorKind {
  switch (errno === undefined ? undefined : errnoNames[errno]) {
    case 'ENOENT': case 'ESRCH': return ErrorKind.NotFound;
    case 'EEXIST': case 'ENOTEMPTY': return ErrorKind.AlreadyExists;
    case 'EPERM': case 'EACCES': case 'EROFS': return ErrorKind.PermissionDenied;
    case 'EINVAL': case 'ENAMETOOLONG': case 'ELOOP': case 'ENOTDIR': case 'EISDIR': case 'EXDEV': return ErrorKind.InvalidArgument;
    case 'EBUSY': case 'EAGAIN': case 'ENOSPC': case 'ENOMEM': return ErrorKind.Unavailable;
    case 'ENOSYS': case 'EOPNOTSUPP': return ErrorKind.NotImplemented;
    default: return ErrorKind.Internal;
  }
}

/** A failed system call. Keeps `errno`, its name, `syscall` and `path`. */
export class SystemCallError extends BerthError {
  readonly errno: number | undefined;
  readonly errnoCode: string | undefined;
  readonly syscall: string | undefined;
  readonly path: string | undefined;

  constructor(fields: { errno?: number; syscall?: string; path?: string; message?: string }, options: BerthErrorOptions = {}) {
    const errnoCode = fields.errno === undefined ? undefined : errnoName(fields.errno);
    const where = fields.path === undefined ? '' : ` ${JSON.stringify(fields.path)}`;
    super('ERR_NS_SYSCALL', kindOfErrno(fields.errno),
      fields.message ?? `${fields.syscall ?? 'syscall'}${where}: ${errnoCode ?? `errno ${fields.errno}`}`,
      { ...options, details: { errno: fields.errno, errnoCode, syscall: fields.syscall, path: fields.path, ...options.details } });
    this.errno = fields.errno;
    this.errnoCode = errnoCode;
    this.syscall = fields.syscall;
    this.path = fields.path;
  }
}

/** An argument the native layer rejected before making any call. */
export class NamespacesInvalidArgumentError extends BerthError {
  constructor(message: string, options: BerthErrorOptions = {}) {
    super('ERR_NS_INVALID_ARGUMENT', ErrorKind.InvalidArgument, message, options);
  }
}

/** Any other failure reported by the addon, with the addon's own code. */
export class NamespacesError extends BerthError {
  constructor(code: string, kind: ErrorKind, message: string, options: BerthErrorOptions = {}) {
    super(code, kind, message, options);
  }
}

/** Runs `fn`, converting addon errors with {@link fromNative}. */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw fromNative(e);
  }
}

/**
 * Mount data (the filesystem's option string, such as overlay's
 * `lowerdir=…`) longer than the one page mount(2) copies from userspace.
 */
export class MountDataTooLongError extends BerthError {
  /** The data's length in bytes. */
  readonly length: number;
  /** The most the kernel takes, in bytes (4095: one page with its NUL). */
  readonly limit: number;
  constructor(fields: { target: string; length: number; limit: number }, options: BerthErrorOptions = {}) {
    super('ERR_NS_MOUNT_DATA_TOO_LONG', ErrorKind.InvalidArgument,
      `mount ${JSON.stringify(fields.target)}: data is ${fields.length} bytes, the kernel takes at most ${fields.limit}`,
      { ...options, details: { ...fields, ...options.details } });
    this.length = fields.length;
    this.limit = fields.limit;
  }
}

/** The kinds of the runtime's error codes (see README's errors table). */
const runtimeKinds: Record<string, ErrorKind> = {
  ERR_NS_EXEC_NOT_FOUND: ErrorKind.NotFound,
  ERR_NS_BAD_CWD: ErrorKind.InvalidArgument,
  ERR_NS_MOUNT_FAILED: ErrorKind.FailedPrecondition,
  ERR_NS_EXEC_FAILED: ErrorKind.FailedPrecondition,
  ERR_NS_NAMESPACE_FAILED: ErrorKind.FailedPrecondition,
  ERR_NS_USER_FAILED: ErrorKind.FailedPrecondition,
  ERR_NS_CAPABILITIES_FAILED: ErrorKind.FailedPrecondition,
  ERR_NS_SECCOMP_FAILED: ErrorKind.FailedPrecondition,
  ERR_NS_DEVICE_FAILED: ErrorKind.FailedPrecondition,
  ERR_NS_ROOTFS_NOT_FOUND: ErrorKind.NotFound,
  ERR_NS_INVALID_SPEC: ErrorKind.InvalidArgument,
  ERR_NS_INVALID_ID: ErrorKind.InvalidArgument,
  ERR_NS_CONTAINER_EXISTS: ErrorKind.AlreadyExists,
  ERR_NS_CONTAINER_NOT_FOUND: ErrorKind.NotFound,
  ERR_NS_CONTAINER_STATE: ErrorKind.FailedPrecondition,
  ERR_NS_NO_CGROUP: ErrorKind.FailedPrecondition,
  ERR_NS_NOT_IMPLEMENTED: ErrorKind.NotImplemented,
};

/**
 * A container set-up step failed in the cloned child before exec (missing
 * binary, bad cwd, failed mount…). `code` says which step; `errno`,
 * `syscall` and `path` say which call failed on what.
 */
export class ContainerSetupError extends BerthError {
  readonly errno: number | undefined;
  readonly errnoCode: string | undefined;
  readonly syscall: string | undefined;
  readonly path: string | undefined;

  constructor(code: string, fields: { errno?: number; syscall?: string; path?: string; message?: string }, options: BerthErrorOptions = {}) {
    const errnoCode = fields.errno === undefined ? undefined : errnoName(fields.errno);
    super(code, runtimeKinds[code] ?? ErrorKind.Internal,
      fields.message ?? `${fields.syscall ?? 'setup'}${fields.path === undefined ? '' : ` ${JSON.stringify(fields.path)}`}: ${errnoCode ?? 'failed'}`,
      { ...options, details: { errno: fields.errno, errnoCode, syscall: fields.syscall, path: fields.path, ...options.details } });
    this.errno = fields.errno;
    this.errnoCode = errnoCode;
    this.syscall = fields.syscall;
    this.path = fields.path;
  }
}

/** A lifecycle call on a container failed: unknown id, wrong state, bad spec. */
export class ContainerError extends BerthError {
  constructor(code: string, message: string, options: BerthErrorOptions = {}) {
    super(code, runtimeKinds[code] ?? ErrorKind.Internal, message, options);
  }
}

const setupCodes = new Set([
  'ERR_NS_EXEC_NOT_FOUND', 'ERR_NS_BAD_CWD', 'ERR_NS_MOUNT_FAILED', 'ERR_NS_EXEC_FAILED', 'ERR_NS_NAMESPACE_FAILED',
  'ERR_NS_USER_FAILED', 'ERR_NS_CAPABILITIES_FAILED', 'ERR_NS_SECCOMP_FAILED', 'ERR_NS_DEVICE_FAILED', 'ERR_NS_ROOTFS_NOT_FOUND',
]);

/**
 * A limit or feature this host's cgroups lack: a controller that is not
 * mounted, `blkio.weight` without a weighted I/O scheduler, `unified` on v1.
 * `path` names the missing file when there is one.
 */
export class CgroupUnsupportedError extends BerthError {
  readonly path: string | undefined;
  constructor(message: string, fields: { path?: string } = {}, options: BerthErrorOptions = {}) {
    super('ERR_NS_CGROUP_UNSUPPORTED', ErrorKind.NotImplemented, message, { ...options, details: { ...fields, ...options.details } });
    this.path = fields.path;
  }
}

/** The kernel did not report the cgroup frozen (or thawed) within 10 s. */
export class CgroupFreezeTimeoutError extends BerthError {
  readonly path: string | undefined;
  constructor(message: string, fields: { path?: string } = {}, options: BerthErrorOptions = {}) {
    super('ERR_NS_CGROUP_FREEZE_TIMEOUT', ErrorKind.Unavailable, message, { ...options, details: { ...fields, ...options.details } });
    this.path = fields.path;
  }
}

/** A cgroup file held a value berth could not parse. */
export class CgroupParseError extends BerthError {
  constructor(message: string, options: BerthErrorOptions = {}) {
    super('ERR_NS_CGROUP_PARSE', ErrorKind.Internal, message, options);
  }
}

/**
 * A gzip stream the native gunzip cannot decode: bad header, invalid deflate
 * data, a CRC32 or length (ISIZE) mismatch, garbage after a member, or a
 * stream that ends inside a member. `isalError` is ISA-L's return code (0
 * for a truncated stream).
 */
export class GzipCorruptError extends BerthError {
  readonly isalError: number | undefined;
  constructor(message: string, fields: { isalError?: number } = {}, options: BerthErrorOptions = {}) {
    super('ERR_NS_GZIP_CORRUPT', ErrorKind.DataLoss, message, { ...options, details: { ...fields, ...options.details } });
    this.isalError = fields.isalError;
  }
}

/**
 * The native gunzip cannot run here: libisal.so.2 is not installed, failed
 * its self-test, or the addon was built without ISA-L's header.
 */
export class GzipUnavailableError extends BerthError {
  constructor(message: string, options: BerthErrorOptions = {}) {
    super('ERR_NS_GZIP_UNAVAILABLE', ErrorKind.NotImplemented, message, options);
  }
}

/** A zstd stream the native decoder cannot decode: bad frame, checksum mismatch, garbage, or truncated (also empty) input. */
export class ZstdCorruptError extends BerthError {
  constructor(message: string, options: BerthErrorOptions = {}) {
    super('ERR_NS_ZSTD_CORRUPT', ErrorKind.DataLoss, message, options);
  }
}

/** The native zstd decoder cannot run here: libzstd.so.1 is not installed or failed its self-test. */
export class ZstdUnavailableError extends BerthError {
  constructor(message: string, options: BerthErrorOptions = {}) {
    super('ERR_NS_ZSTD_UNAVAILABLE', ErrorKind.NotImplemented, message, options);
  }
}

/**
 * Converts an error thrown by the addon into a typed berth error: syscalls,
 * invalid arguments, container set-up steps, lifecycle calls and cgroups each
 * get their class. Errors that are already berth errors, or that did not come
 * from the addon, pass through.
 */
export function fromNative(e: unknown): unknown {
  if (!(e instanceof Error) || e instanceof BerthError) return e;
  const o = e as Error & { code?: unknown; errno?: unknown; syscall?: unknown; path?: unknown };
  if (typeof o.code !== 'string' || !o.code.startsWith('ERR_NS_')) return e;
  const fields = {
    ...(typeof o.errno === 'number' ? { errno: o.errno } : {}),
    ...(typeof o.syscall === 'string' ? { syscall: o.syscall } : {}),
    ...(typeof o.path === 'string' ? { path: o.path } : {}),
  };
  const path = typeof o.path === 'string' ? { path: o.path } : {};
  switch (o.code) {
    case 'ERR_NS_SYSCALL': return new SystemCallError({ ...fields, message: o.message }, { cause: e });
    case 'ERR_NS_INVALID_ARGUMENT': return new NamespacesInvalidArgumentError(o.message, { cause: e, details: fields });
    case 'ERR_NS_CGROUP_UNSUPPORTED': return new CgroupUnsupportedError(o.message, path, { cause: e });
    case 'ERR_NS_CGROUP_FREEZE_TIMEOUT': return new CgroupFreezeTimeoutError(o.message, path, { cause: e });
    case 'ERR_NS_CGROUP_PARSE': return new CgroupParseError(o.message, { cause: e });
    case 'ERR_NS_GZIP_CORRUPT': {
      const isalError = (e as { isalError?: unknown }).isalError;
      return new GzipCorruptError(o.message, typeof isalError === 'number' ? { isalError } : {}, { cause: e });
    }
    case 'ERR_NS_GZIP_UNAVAILABLE': return new GzipUnavailableError(o.message, { cause: e });
    case 'ERR_NS_ZSTD_CORRUPT': return new ZstdCorruptError(o.message, { cause: e });
    case 'ERR_NS_ZSTD_UNAVAILABLE': return new ZstdUnavailableError(o.message, { cause: e });
  }
  if (setupCodes.has(o.code)) return new ContainerSetupError(o.code, { ...fields, message: o.message }, { cause: e });
  if (o.code in runtimeKinds) return new ContainerError(o.code, o.message, { cause: e, details: fields });
  return new NamespacesError(o.code, ErrorKind.Internal, o.message, { cause: e, details: fields });
}

/** Awaits `p`, converting addon errors with {@link fromNative}. */
export async function awaitNative<T>(p: () => Promise<T>): Promise<T> {
  try {
    return await p();
  } catch (e) {
    throw fromNative(e);
  }
}
