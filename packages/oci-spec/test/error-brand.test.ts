// The error base: codes, kinds, and predicates that work across two
// installed copies of a package (the brand is Symbol.for, not instanceof).
import test from 'ava';
import {
  BerthError, CancelledError, DigestMismatchError, ErrorKind, OciValidationError, errorKind, hasCode,
  isAlreadyExists, isBerthError, isCancelled, isDataLoss, isFailedPrecondition, isInternal, isInvalidArgument,
  isNotFound, isNotImplemented, isPermissionDenied, isUnauthenticated, isUnavailable, systemErrorFields,
  throwIfAborted,
} from '@berth/oci-spec';

const predicates = {
  'not-found': isNotFound,
  'already-exists': isAlreadyExists,
  'invalid-argument': isInvalidArgument,
  'failed-precondition': isFailedPrecondition,
  'unauthenticated': isUnauthenticated,
  'permission-denied': isPermissionDenied,
  'unavailable': isUnavailable,
  'data-loss': isDataLoss,
  'not-implemented': isNotImplemented,
  'cancelled': isCancelled,
  'internal': isInternal,
} as const;

test('each kind has exactly one matching predicate', (t) => {
  t.deepEqual(Object.keys(predicates).sort(), Object.values(ErrorKind).sort());
  for (const kind of Object.values(ErrorKind)) {
    const e = new BerthError('ERR_TEST_THING', kind, 'thing failed');
    for (const [k, pred] of Object.entries(predicates)) t.is(pred(e), k === kind, `${kind} vs ${k}`);
    t.is(errorKind(e), kind);
  }
});

test('an error from another copy of the package (same Symbol.for brand) is recognised', (t) => {
  // What a second installed copy's error looks like: another class, the same global brand.
  class ForeignError extends Error {
    readonly code = 'ERR_REGISTRY_MANIFEST_UNKNOWN';
    readonly kind = 'not-found';
    constructor(message: string) {
      super(message);
      Object.defineProperty(this, Symbol.for('berth.error'), { value: true });
    }
  }
  const foreign = new ForeignError('manifest unknown');
  t.false(foreign instanceof BerthError);
  t.true(isBerthError(foreign));
  t.true(isNotFound(foreign));
  t.false(isDataLoss(foreign));
  t.true(hasCode(foreign, 'ERR_REGISTRY_MANIFEST_UNKNOWN'));
  t.is(errorKind(foreign), 'not-found');
  // A plain object with the brand works too; one without it, or with a bad kind, does not.
  t.true(isUnavailable({ [Symbol.for('berth.error')]: true, code: 'ERR_X_Y', kind: 'unavailable' }));
  t.false(isNotFound({ code: 'ERR_X_Y', kind: 'not-found' }));
  t.false(isBerthError({ [Symbol.for('berth.error')]: true, code: 'ERR_X_Y', kind: 'exploded' }));
  t.false(isBerthError({ [Symbol.for('berth.error')]: 'yes', code: 'ERR_X_Y', kind: 'internal' }));
  t.false(isNotFound(null));
  t.false(isNotFound('not-found'));
  t.false(isNotFound(Object.assign(new Error('x'), { code: 'ENOENT' })));
});

test('codes and kinds are checked at construction', (t) => {
  t.throws(() => new BerthError('bad code', 'internal', 'x'), { instanceOf: TypeError });
  t.throws(() => new BerthError('ERR_OK', 'weird' as never, 'x'), { instanceOf: TypeError });
});

test('subclasses keep structured fields, cause and a JSON form', (t) => {
  const cause = new Error('inner');
  const e = new DigestMismatchError('sha256:aa', 'sha256:bb', { cause });
  t.is(e.code, 'ERR_OCI_DIGEST_MISMATCH');
  t.is(e.kind, 'data-loss');
  t.is(e.name, 'DigestMismatchError');
  t.is(e.cause, cause);
  t.deepEqual(e.details, { expected: 'sha256:aa', actual: 'sha256:bb' });
  t.true(Object.isFrozen(e.details));
  t.deepEqual(e.toJSON().code, 'ERR_OCI_DIGEST_MISMATCH');
  const v = new OciValidationError('RUNTIME_CONFIG', [{ path: '/process/cwd', message: 'must match pattern', keyword: 'pattern' }]);
  t.is(v.code, 'ERR_OCI_INVALID_RUNTIME_CONFIG');
  t.is(v.path, '/process/cwd');
});

test('cancellation and system error fields', (t) => {
  const ac = new AbortController();
  t.notThrows(() => throwIfAborted(ac.signal));
  ac.abort(new Error('stop'));
  const e = t.throws(() => throwIfAborted(ac.signal, 'pull'));
  t.true(e instanceof CancelledError);
  t.is((e as CancelledError).code, 'ERR_CANCELLED');
  t.true(isCancelled(e));
  const sys = Object.assign(new Error('ENOENT: no such file'), { errno: -2, code: 'ENOENT', syscall: 'open', path: '/x' });
  t.deepEqual(systemErrorFields(sys), { errno: -2, syscall: 'open', path: '/x', errnoCode: 'ENOENT' });
  t.deepEqual(systemErrorFields(undefined), {});
});
