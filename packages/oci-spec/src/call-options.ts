/**
 * Options every berth I/O method takes last.
 *
 * Loops over many items (tar entries, blobs, layers) check `signal` per item
 * and stop with a `CancelledError` (code `ERR_CANCELLED`).
 */
export interface CallOptions {
  /** Aborts the operation; it rejects with a `CancelledError`. */
  signal?: AbortSignal;
}
