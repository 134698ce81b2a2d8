/**
 * The error base shared by every berth package.
 *
 * Every error berth throws on purpose is a {@link BerthError}: it has a stable
 * `code` (`ERR_<DOMAIN>_<WHAT>`), a `kind` from a closed list, an optional
 * `cause`, and structured fields. Predicates such as {@link isNotFound} check a
 * `Symbol.for` brand plus `kind`, so they work across two installed copies of
 * a package (the brand is global, `instanceof` is not).
 */

/** The closed list of error kinds. The daemon maps each to one HTTP status. */
export const ErrorKind = {
  NotFound: 'not-found',
  AlreadyExists: 'already-exists',
  InvalidArgument: 'invalid-argument',
  FailedPrecondition: 'failed-precondition',
  Unauthenticated: 'unauthenticated',
  PermissionDenied: 'permission-denied',
  Unavailable: 'unavailable',
  DataLoss: 'data-loss',
  NotImplemented: 'not-implemented',
  Cancelled: 'cancelled',
  Internal: 'internal',
} as const;

/** One of the values of {@link ErrorKind}. */
export type ErrorKind = (typeof ErrorKind)[keyof typeof ErrorKind];

const kinds: ReadonlySet<string> = new Set(Object.values(ErrorKind));

/** The global brand that marks berth errors across package copies. */
export const berthErrorBrand: unique symbol = Symbol.for('berth.error') as never;

/** Options every {@link BerthError} constructor accepts. */
export interface BerthErrorOptions {
  /** The underlying error, kept for diagnosis. */
  cause?: unknown;
  /** Structured fields that describe the failure (path, digest, errno…). */
  details?: Record<string, unknown>;
}

/**
 * The base class of berth's errors.
 *
 * Subclasses fix `code` and `kind` and build the message from structured
 * fields. Messages are lowercase with identifiers first:
 * `snapshot "sha256:ab12…" not found`.
 */
export class BerthError extends Error {
  /** Stable machine-readable code: `ERR_<DOMAIN>_<WHAT>`. Tests assert this. */
  readonly code: string;
  /** The error's category, from {@link ErrorKind}. */
  readonly kind: ErrorKind;
  /** Structured fields describing the failure. */
  readonly details: Readonly<Record<string, unknown>>;
  readonly [berthErrorBrand] = true as const;

  constructor(code: string, kind: ErrorKind, message: string, options: BerthErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    if (!/^ERR_[A-Z0-9_]+$/.test(code)) throw new TypeError(`invalid error code ${JSON.stringify(code)}`);
    if (!kinds.has(kind)) throw new TypeError(`invalid error kind ${JSON.stringify(kind)}`);
    this.code = code;
    this.kind = kind;
    this.details = Object.freeze({ ...(options.details ?? {}) });
    this.name = new.target.name;
  }

  /** A JSON form with code, kind, message and details, for APIs and logs. */
  toJSON(): { code: string; kind: ErrorKind; message: string; details: Record<string, unknown> } {
    return { code: this.code, kind: this.kind, message: this.message, details: { ...this.details } };
  }
}

/** Is `e` a berth error, from any installed copy of any berth package? */
export function isBerthError(e: unknown): e is BerthError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[berthErrorBrand] === true
    && typeof (e as { code?: unknown }).code === 'string' && kinds.has((e as { kind?: string }).kind ?? '');
}

/** The kind of a berth error, or undefined for anything else. */
export function errorKind(e: unknown): ErrorKind | undefined {
  return isBerthError(e) ? e.kind : undefined;
}

/** Is `e` a berth error with this `code`? */
export function hasCode(e: unknown, code: string): boolean {
  return isBerthError(e) && e.code === code;
}

const is = (kind: ErrorKind) => (e: unknown): boolean => isBerthError(e) && e.kind === kind;
/** Is `e` a berth error of kind `not-found`? */
export const isNotFound = is(ErrorKind.NotFound);
/** Is `e` a berth error of kind `already-exists`? */
export const isAlreadyExists = is(ErrorKind.AlreadyExists);
/** Is `e` a berth error of kind `invalid-argument`? */
export const isInvalidArgument = is(ErrorKind.InvalidArgument);
/** Is `e` a berth error of kind `failed-precondition`? */
export const isFailedPrecondition = is(ErrorKind.FailedPrecondition);
/** Is `e` a berth error of kind `unauthenticated`? */
export const isUnauthenticated = is(ErrorKind.Unauthenticated);
/** Is `e` a berth error of kind `permission-denied`? */
export const isPermissionDenied = is(ErrorKind.PermissionDenied);
/** Is `e` a berth error of kind `unavailable`? */
export const isUnavailable = is(ErrorKind.Unavailable);
/** Is `e` a berth error of kind `data-loss`? */
export const isDataLoss = is(ErrorKind.DataLoss);
/** Is `e` a berth error of kind `not-implemented`? */
export const isNotImplemented = is(ErrorKind.NotImplemented);
/** Is `e` a berth error of kind `cancelled`? */
export const isCancelled = is(ErrorKind.Cancelled);
/** Is `e` a berth error of kind `internal`? */
export const isInternal = is(ErrorKind.Internal);

/**
 * The fields a native (errno) failure carries. berth keeps them when it wraps
 * an fs or syscall error, so a caller can still see errno, syscall and path.
 */
export interface SystemErrorFields {
  errno?: number;
  syscall?: string;
  path?: string;
  dest?: string;
  /** The errno name, such as `ENOENT`. Called `code` on Node's own errors. */
  errnoCode?: string;
}

/** Takes errno, syscall, path and the errno name from a Node system error. */
export function systemErrorFields(e: unknown): SystemErrorFields {
  if (typeof e !== 'object' || e === null) return {};
  const o = e as Record<string, unknown>;
  const out: SystemErrorFields = {};
  if (typeof o.errno === 'number') out.errno = o.errno;
  if (typeof o.syscall === 'string') out.syscall = o.syscall;
  if (typeof o.path === 'string') out.path = o.path;
  if (typeof o.dest === 'string') out.dest = o.dest;
  if (typeof o.code === 'string' && o.code.startsWith('E')) out.errnoCode = o.code;
  return out;
}

/** Thrown when an operation is aborted through its `AbortSignal`. */
export class CancelledError extends BerthError {
  constructor(what: string, options: BerthErrorOptions = {}) {
    super('ERR_CANCELLED', ErrorKind.Cancelled, `${what} cancelled`, options);
  }
}

/** Throws a {@link CancelledError} when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what = 'operation'): void {
  if (signal?.aborted) throw new CancelledError(what, { cause: signal.reason });
}
