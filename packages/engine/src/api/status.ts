/** The one place where an error's `kind` becomes an HTTP status (Docker Engine API semantics). */
import { errorKind, type ErrorKind } from '@berth/oci-spec';

const statusByKind: Record<ErrorKind, number> = {
  'not-found': 404,
  'invalid-argument': 400,
  'already-exists': 409,
  'failed-precondition': 409,
  unauthenticated: 401,
  'permission-denied': 403,
  unavailable: 503,
  'not-implemented': 501,
  // Docker answers 500 for system, unknown, data-loss, deadline and cancelled errors.
  'data-loss': 500,
  cancelled: 500,
  internal: 500,
};

/** The HTTP status for any thrown value: by berth error kind, 500 for anything else. */
export function httpStatusForError(e: unknown): number {
  const kind = errorKind(e);
  return kind ? statusByKind[kind] : 500;
}
