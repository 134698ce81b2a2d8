/**
 * Content digests: `algorithm:hex`, a branded string that only the `parse…`
 * functions and the digesters make.
 */
import type { Transform } from 'node:stream';

declare const digestBrand: unique symbol;

/**
 * A validated content digest such as `sha256:e3b0c442…`. Only sha256 (64 hex)
 * and sha512 (128 hex), lowercase, as the OCI image-spec registers them.
 * Make one with `parseDigest`, `formatDigest`, `digestOf` or a digester.
 */
export type Digest = string & { readonly [digestBrand]: true };

/** The digest algorithms berth implements. */
export const DigestAlgorithm = { SHA256: 'sha256', SHA512: 'sha512' } as const;
/** One of the values of {@link DigestAlgorithm}. */
export type DigestAlgorithm = (typeof DigestAlgorithm)[keyof typeof DigestAlgorithm];

/** The expected content of a verified stream. */
export interface ExpectedContent {
  /** The digest the bytes must hash to. */
  digest: Digest;
  /** The exact byte count, when known; overflow fails the stream at once. */
  size?: number;
}

/**
 * A pass-through stream that hashes what flows through it. After `'finish'`
 * (or once a pipeline through it resolves) `digest()` and `size` give the result.
 */
export interface DigestingStream extends Transform {
  /** The algorithm in use. */
  readonly algorithm: DigestAlgorithm;
  /** Bytes seen so far. */
  readonly size: number;
  /** The digest of all bytes; throws `ERR_OCI_DIGEST_NOT_READY` before the stream finished. */
  digest(): Digest;
}
