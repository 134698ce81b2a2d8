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

// ---------------------------------------------------------------------------
// oci-spec's own errors. Each fixes a code and a kind and builds its message
// from structured fields, which it also keeps in `details`.
// ---------------------------------------------------------------------------

/** Thrown when a string is not a well-formed digest (`ERR_OCI_INVALID_DIGEST`). */
export class InvalidDigestError extends BerthError {
  /** The rejected input. */
  readonly input: string;
  constructor(input: string, reason: string, options: BerthErrorOptions = {}) {
    super('ERR_OCI_INVALID_DIGEST', ErrorKind.InvalidArgument,
      `digest ${JSON.stringify(clip(input))} is invalid: ${reason}`,
      { ...options, details: { input, reason, ...options.details } });
    this.input = input;
  }
}

/** Thrown for a well-formed digest whose algorithm berth does not implement (`ERR_OCI_UNSUPPORTED_DIGEST_ALGORITHM`). */
export class UnsupportedDigestAlgorithmError extends BerthError {
  /** The algorithm named by the digest. */
  readonly algorithm: string;
  constructor(algorithm: string, options: BerthErrorOptions = {}) {
    super('ERR_OCI_UNSUPPORTED_DIGEST_ALGORITHM', ErrorKind.NotImplemented,
      `digest algorithm ${JSON.stringify(algorithm)} is not supported (sha256, sha512)`,
      { ...options, details: { algorithm, ...options.details } });
    this.algorithm = algorithm;
  }
}

/** Thrown when content does not hash to the digest it was expected to have (`ERR_OCI_DIGEST_MISMATCH`). */
export class DigestMismatchError extends BerthError {
  /** The digest the content should have had. */
  readonly expected: string;
  /** The digest the content has. */
  readonly actual: string;
  constructor(expected: string, actual: string, options: BerthErrorOptions = {}) {
    super('ERR_OCI_DIGEST_MISMATCH', ErrorKind.DataLoss,
      `content digest ${actual} does not match expected ${expected}`,
      { ...options, details: { expected, actual, ...options.details } });
    this.expected = expected;
    this.actual = actual;
  }
}

/** Thrown when content is longer or shorter than the size it was expected to have (`ERR_OCI_SIZE_MISMATCH`). */
export class SizeMismatchError extends BerthError {
  /** The expected size in bytes. */
  readonly expected: number;
  /** The size seen so far (on overflow) or in total. */
  readonly actual: number;
  constructor(expected: number, actual: number, options: BerthErrorOptions = {}) {
    super('ERR_OCI_SIZE_MISMATCH', ErrorKind.DataLoss,
      `content size ${actual} does not match expected ${expected}`,
      { ...options, details: { expected, actual, ...options.details } });
    this.expected = expected;
    this.actual = actual;
  }
}

/** Thrown when a digester's result is asked for before its stream has finished (`ERR_OCI_DIGEST_NOT_READY`). */
export class DigestNotReadyError extends BerthError {
  constructor(options: BerthErrorOptions = {}) {
    super('ERR_OCI_DIGEST_NOT_READY', ErrorKind.FailedPrecondition,
      'digest requested before the stream finished', options);
  }
}

/** Why an image reference was rejected; kept in `details.reason`. */
export type InvalidReferenceReason =
  | 'empty' | 'format' | 'uppercase' | 'name-too-long' | 'digest' | 'identifier' | 'no-name';

/** Thrown when a string is not a valid image reference (`ERR_OCI_INVALID_REFERENCE`). */
export class InvalidReferenceError extends BerthError {
  /** The rejected input. */
  readonly input: string;
  /** Why it was rejected. */
  readonly reason: InvalidReferenceReason;
  constructor(input: string, reason: InvalidReferenceReason, options: BerthErrorOptions = {}) {
    super('ERR_OCI_INVALID_REFERENCE', ErrorKind.InvalidArgument,
      `reference ${JSON.stringify(clip(input))} is invalid: ${referenceReasons[reason]}`,
      { ...options, details: { input, reason, ...options.details } });
    this.input = input;
    this.reason = reason;
  }
}

const referenceReasons: Record<InvalidReferenceReason, string> = {
  'empty': 'repository name must have at least one component',
  'format': 'invalid reference format',
  'uppercase': 'repository name must be lowercase',
  'name-too-long': 'repository name must not be more than 255 characters',
  'digest': 'invalid digest',
  'identifier': 'cannot specify 64-byte hexadecimal strings as a repository name',
  'no-name': 'reference has no name',
};

/** Thrown when a platform specifier or object is invalid (`ERR_OCI_INVALID_PLATFORM`). */
export class InvalidPlatformError extends BerthError {
  /** The rejected input. */
  readonly input: string;
  constructor(input: string, reason: string, options: BerthErrorOptions = {}) {
    super('ERR_OCI_INVALID_PLATFORM', ErrorKind.InvalidArgument,
      `platform ${JSON.stringify(clip(input))} is invalid: ${reason}`,
      { ...options, details: { input, reason, ...options.details } });
    this.input = input;
  }
}

/** Thrown when bytes that should hold a JSON document do not parse (`ERR_OCI_INVALID_JSON`). */
export class InvalidJsonError extends BerthError {
  constructor(what: string, options: BerthErrorOptions = {}) {
    super('ERR_OCI_INVALID_JSON', ErrorKind.InvalidArgument,
      `${what} is not valid JSON${options.cause instanceof Error ? `: ${options.cause.message}` : ''}`,
      { ...options, details: { what, ...options.details } });
  }
}

/** The documents berth validates, each with its own error code. */
export const ValidatedDocument = {
  Manifest: 'MANIFEST',
  Index: 'INDEX',
  Config: 'CONFIG',
  RuntimeConfig: 'RUNTIME_CONFIG',
  Layout: 'LAYOUT',
  Descriptor: 'DESCRIPTOR',
} as const;
/** One of the values of {@link ValidatedDocument}. */
export type ValidatedDocument = (typeof ValidatedDocument)[keyof typeof ValidatedDocument];

/** One schema violation: where (a JSON pointer such as `/layers/0/digest`) and what. */
export interface ValidationIssue {
  /** JSON pointer to the offending value; `` (empty) for the document itself. */
  path: string;
  /** What is wrong, lowercase, from the schema keyword. */
  message: string;
  /** The JSON Schema keyword that failed (`pattern`, `required`, `type`…). */
  keyword: string;
}

/**
 * Thrown when an untrusted document breaks its schema: `ERR_OCI_INVALID_MANIFEST`,
 * `ERR_OCI_INVALID_INDEX`, `ERR_OCI_INVALID_CONFIG`, `ERR_OCI_INVALID_RUNTIME_CONFIG`,
 * `ERR_OCI_INVALID_LAYOUT` or `ERR_OCI_INVALID_DESCRIPTOR`. `path` points at the first
 * offending value; `issues` lists every violation found.
 */
export class OciValidationError extends BerthError {
  /** Which document failed. */
  readonly document: ValidatedDocument;
  /** JSON pointer of the first issue, such as `/layers/0/digest`. */
  readonly path: string;
  /** Every issue found. */
  readonly issues: readonly ValidationIssue[];
  constructor(document: ValidatedDocument, issues: readonly ValidationIssue[], options: BerthErrorOptions = {}) {
    const first = issues[0] ?? { path: '', message: 'invalid', keyword: 'unknown' };
    super(`ERR_OCI_INVALID_${document}`, ErrorKind.InvalidArgument,
      `${document.toLowerCase().replace('_', ' ')} ${first.path === '' ? '(root)' : first.path}: ${first.message}`,
      { ...options, details: { document, path: first.path, issues, ...options.details } });
    this.document = document;
    this.path = first.path;
    this.issues = issues;
  }
}

/** Thrown when a document's media type is one berth does not handle (`ERR_OCI_UNSUPPORTED_MEDIA_TYPE`). */
export class UnsupportedMediaTypeError extends BerthError {
  /** The media type found (empty when none could be determined). */
  readonly mediaType: string;
  constructor(mediaType: string, context: string, options: BerthErrorOptions = {}) {
    super('ERR_OCI_UNSUPPORTED_MEDIA_TYPE', ErrorKind.NotImplemented,
      `media type ${JSON.stringify(mediaType)} is not supported for ${context}`,
      { ...options, details: { mediaType, context, ...options.details } });
    this.mediaType = mediaType;
  }
}

/** Thrown when a document's `mediaType` field disagrees with the type it was served or asked as (`ERR_OCI_MEDIA_TYPE_MISMATCH`). */
export class MediaTypeMismatchError extends BerthError {
  /** The media type expected (for example the HTTP Content-Type). */
  readonly expected: string;
  /** The media type the document declares. */
  readonly actual: string;
  constructor(expected: string, actual: string, options: BerthErrorOptions = {}) {
    super('ERR_OCI_MEDIA_TYPE_MISMATCH', ErrorKind.InvalidArgument,
      `document media type ${JSON.stringify(actual)} does not match expected ${JSON.stringify(expected)}`,
      { ...options, details: { expected, actual, ...options.details } });
    this.expected = expected;
    this.actual = actual;
  }
}

/** Thrown when a runtime spec option gets an argument it cannot use (`ERR_OCI_INVALID_SPEC_OPTION`). */
export class InvalidSpecOptionError extends BerthError {
  /** The option, such as `withUser`. */
  readonly option: string;
  constructor(option: string, reason: string, options: BerthErrorOptions = {}) {
    super('ERR_OCI_INVALID_SPEC_OPTION', ErrorKind.InvalidArgument, `${option}: ${reason}`,
      { ...options, details: { option, reason, ...options.details } });
    this.option = option;
  }
}

function clip(s: string): string {
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}
