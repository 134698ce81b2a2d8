/**
 * Typed errors of @berth/registry-client.
 *
 * Every failure the client reports on purpose is a {@link RegistryError}: a
 * {@link BerthError} that also carries the HTTP status (when there was an
 * answer), the distribution error codes from the JSON body
 * (`MANIFEST_UNKNOWN`, `DENIED`, `TOOMANYREQUESTS`…) and `temporary`, which
 * says whether retrying the same call may succeed (go-containerregistry
 * `pkg/v1/remote/transport/error.go`).
 */
import { BerthError, ErrorKind, type BerthErrorOptions } from '@berth/oci-spec';

/** One entry of a distribution error body: `{"errors":[{code,message,detail}]}`. */
export interface DistributionErrorEntry {
  /** The distribution error code, such as `MANIFEST_UNKNOWN`. */
  code: string;
  /** The registry's message, kept as it came. */
  message?: string;
  /** Free-form detail from the registry. */
  detail?: unknown;
}

/** Structured fields every {@link RegistryError} constructor takes. */
export interface RegistryErrorOptions extends BerthErrorOptions {
  /** HTTP status of the answer, when there was one. */
  status?: number;
  /** Distribution error codes parsed from the body. */
  errors?: readonly DistributionErrorEntry[];
  /** Whether the same call may succeed when retried. */
  temporary?: boolean;
  /** The request method and URL, for diagnosis. */
  method?: string;
  url?: string;
}

/** Distribution error codes that mean "try again later". */
const temporaryCodes: ReadonlySet<string> = new Set(['TOOMANYREQUESTS', 'UNAVAILABLE', 'BLOB_UPLOAD_UNKNOWN']);

/** The base class of the registry client's errors. */
export class RegistryError extends BerthError {
  /** HTTP status of the answer, when there was one. */
  readonly status: number | undefined;
  /** Distribution error codes from the JSON body (may be empty). */
  readonly errors: readonly DistributionErrorEntry[];
  /** Whether retrying the same call may succeed. */
  readonly temporary: boolean;

  constructor(code: string, kind: ErrorKind, message: string, options: RegistryErrorOptions = {}) {
    const details: Record<string, unknown> = { ...(options.details ?? {}) };
    if (options.status !== undefined) details.status = options.status;
    if (options.method !== undefined) details.method = options.method;
    if (options.url !== undefined) details.url = options.url;
    if (options.errors?.length) details.errors = options.errors.map((e) => e.code);
    super(code, kind, message, { cause: options.cause, details });
    this.status = options.status;
    this.errors = Object.freeze([...(options.errors ?? [])]);
    this.temporary = options.temporary
      ?? (options.status === 429 || (options.status !== undefined && options.status >= 500)
        || this.errors.some((e) => temporaryCodes.has(e.code)));
  }

  /** The distribution error codes, such as `['MANIFEST_UNKNOWN']`. */
  get registryCodes(): string[] {
    return this.errors.map((e) => e.code);
  }
}

/** The registry answered 404, or a `*_UNKNOWN` code: no such repository, manifest, blob or tag. */
export class RegistryNotFoundError extends RegistryError {
  constructor(what: string, options: RegistryErrorOptions = {}) {
    super('ERR_REGISTRY_NOT_FOUND', ErrorKind.NotFound, `${what} not found`, { temporary: false, ...options });
  }
}

/** The registry answered 401 and the client could not authenticate. */
export class RegistryUnauthorizedError extends RegistryError {
  constructor(what: string, options: RegistryErrorOptions = {}) {
    super('ERR_REGISTRY_UNAUTHORIZED', ErrorKind.Unauthenticated, `${what}: unauthorized`, { temporary: false, ...options });
  }
}

/** The registry answered 403 (`DENIED`): authenticated but not allowed. */
export class RegistryDeniedError extends RegistryError {
  constructor(what: string, options: RegistryErrorOptions = {}) {
    super('ERR_REGISTRY_DENIED', ErrorKind.PermissionDenied, `${what}: denied`, { temporary: false, ...options });
  }
}

/** Content did not hash to the digest it was asked for. Nothing was handed on as valid. */
export class RegistryDigestMismatchError extends RegistryError {
  constructor(expected: string, actual: string, options: RegistryErrorOptions = {}) {
    super('ERR_REGISTRY_DIGEST_MISMATCH', ErrorKind.DataLoss, `digest mismatch: expected "${expected}", got "${actual}"`,
      { temporary: false, ...options, details: { expected, actual, ...(options.details ?? {}) } });
  }
}

/** Content was longer or shorter than the descriptor's size. */
export class RegistrySizeMismatchError extends RegistryError {
  constructor(digest: string, expected: number, actual: number, options: RegistryErrorOptions = {}) {
    super('ERR_REGISTRY_SIZE_MISMATCH', ErrorKind.DataLoss, `"${digest}" size mismatch: expected ${expected} bytes, got ${actual}`,
      { temporary: false, ...options, details: { digest, expected, actual, ...(options.details ?? {}) } });
  }
}

/** No answer, or no bytes, within the configured time, after every retry. */
export class RegistryTimeoutError extends RegistryError {
  constructor(what: string, options: RegistryErrorOptions = {}) {
    super('ERR_REGISTRY_TIMEOUT', ErrorKind.Unavailable, `${what}: timed out`, { temporary: true, ...options });
  }
}

/** A manifest (or other bounded document) was larger than the limit. */
export class RegistryTooLargeError extends RegistryError {
  constructor(what: string, limit: number, options: RegistryErrorOptions = {}) {
    super('ERR_REGISTRY_TOO_LARGE', ErrorKind.FailedPrecondition, `${what} is larger than ${limit} bytes`,
      { temporary: false, ...options, details: { limit, ...(options.details ?? {}) } });
  }
}

/** The registry could not be reached or kept failing (5xx, 429, reset connections) after every retry. */
export class RegistryUnavailableError extends RegistryError {
  constructor(what: string, options: RegistryErrorOptions = {}) {
    super('ERR_REGISTRY_UNAVAILABLE', ErrorKind.Unavailable, `${what}: registry unavailable`, { temporary: true, ...options });
  }
}

/** Plain HTTP was asked for a host that is neither loopback nor explicitly allowed. */
export class RegistryInsecureNotAllowedError extends RegistryError {
  constructor(host: string, options: RegistryErrorOptions = {}) {
    super('ERR_REGISTRY_INSECURE_NOT_ALLOWED', ErrorKind.FailedPrecondition, `"${host}": plain http is not allowed`,
      { temporary: false, ...options, details: { host, ...(options.details ?? {}) } });
  }
}

/** The registry answered something the distribution spec does not allow. */
export class RegistryProtocolError extends RegistryError {
  constructor(what: string, options: RegistryErrorOptions = {}) {
    super('ERR_REGISTRY_PROTOCOL', ErrorKind.Internal, `${what}: protocol error`, { temporary: false, ...options });
  }
}

/** A caller passed something the client cannot use (bad reference, bad digest, bad option). */
export class RegistryInvalidArgumentError extends RegistryError {
  constructor(what: string, options: RegistryErrorOptions = {}) {
    super('ERR_REGISTRY_INVALID_ARGUMENT', ErrorKind.InvalidArgument, what, { temporary: false, ...options });
  }
}

/** The blob or manifest already exists in the target repository (push needs no upload). */
export class RegistryAlreadyExistsError extends RegistryError {
  constructor(what: string, options: RegistryErrorOptions = {}) {
    super('ERR_REGISTRY_ALREADY_EXISTS', ErrorKind.AlreadyExists, `${what} already exists`, { temporary: false, ...options });
  }
}

/** A credential helper (`docker-credential-<name>`) failed, or the docker config could not be read. */
export class RegistryCredentialsError extends RegistryError {
  constructor(what: string, options: RegistryErrorOptions = {}) {
    super('ERR_REGISTRY_CREDENTIALS', ErrorKind.Unauthenticated, `${what}: credentials unavailable`, { temporary: false, ...options });
  }
}

/** The call was aborted through its `AbortSignal`. */
export class RegistryCancelledError extends RegistryError {
  constructor(what: string, options: RegistryErrorOptions = {}) {
    super('ERR_REGISTRY_CANCELLED', ErrorKind.Cancelled, `${what}: cancelled`, { temporary: false, ...options });
  }
}

/** Parses a distribution error body; returns [] when it is not one. */
export function parseDistributionErrors(body: string | Buffer | undefined): DistributionErrorEntry[] {
  if (!body || body.length === 0) return [];
  try {
    const j = JSON.parse(body.toString()) as { errors?: unknown };
    if (!Array.isArray(j.errors)) return [];
    return j.errors.filter((e): e is DistributionErrorEntry => typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string')
      .map((e) => ({ code: e.code, message: e.message, detail: e.detail }));
  } catch {
    return [];
  }
}

/**
 * Builds the typed error for an HTTP answer the caller did not expect.
 * 401 → unauthorized, 403 → denied, 404 → not found, 429/5xx → unavailable, others → protocol.
 */
export function errorFromResponse(what: string, status: number, body: string | Buffer | undefined,
  extra: { method?: string; url?: string } = {}): RegistryError {
  const errors = parseDistributionErrors(body);
  const opts: RegistryErrorOptions = { status, errors, ...extra };
  const codes = new Set(errors.map((e) => e.code));
  if (status === 401 || codes.has('UNAUTHORIZED')) return new RegistryUnauthorizedError(what, opts);
  if (status === 403 || codes.has('DENIED')) return new RegistryDeniedError(what, opts);
  if (status === 404 || [...codes].some((c) => c.endsWith('_UNKNOWN') && c !== 'BLOB_UPLOAD_UNKNOWN')) return new RegistryNotFoundError(what, opts);
  if (status === 429 || status >= 500) return new RegistryUnavailableError(what, opts);
  return new RegistryProtocolError(what, opts);
}
