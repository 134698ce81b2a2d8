/**
 * The one error class of the testkit. The testkit imports nothing of berth's, so it does not
 * extend `BerthError`; it still carries a stable `code` for tests that want to check it.
 */
export class TestkitError extends Error {
  /** Stable code: `ERR_TESTKIT_FIXTURES_MISSING`, `ERR_TESTKIT_FIXTURE_NOT_FOUND`, `ERR_TESTKIT_REGISTRY_START`, `ERR_TESTKIT_COMMAND_FAILED`. */
  readonly code: string;

  /** @param code - stable code; @param message - lowercase description; @param options - cause. */
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TestkitError';
    this.code = code;
  }
}
