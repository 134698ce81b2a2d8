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

/**
 * Converts an error thrown by the addon into a typed berth error. Errors that
 * are already berth errors, or that did not come from the addon, pass through.
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
  if (o.code === 'ERR_NS_SYSCALL') return new SystemCallError({ ...fields, message: o.message }, { cause: e });
  if (o.code === 'ERR_NS_INVALID_ARGUMENT') return new NamespacesInvalidArgumentError(o.message, { cause: e, details: fields });
  return new NamespacesError(o.code, ErrorKind.Internal, o.message, { cause: e, details: fields });
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
