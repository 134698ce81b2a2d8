/**
 * Streaming digesters and verifiers: Node Transforms that hash what passes
 * through them while the bytes keep flowing (never buffering a layer).
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback, type TransformOptions } from 'node:stream';
import { DigestAlgorithm, type Digest, type DigestingStream, type ExpectedContent } from '../digest.js';
import {
  BerthError, DigestMismatchError, ErrorKind, DigestNotReadyError, SizeMismatchError, UnsupportedDigestAlgorithmError,
} from '../errors.js';
import { digestAlgorithm, isDigestAlgorithm, parseDigest } from './digests.js';

/**
 * What {@link HashingTransform} and {@link VerifyingTransform} share: the
 * running hash of one algorithm, the byte count behind `size`, and the
 * result behind `digest()`, which throws `ERR_OCI_DIGEST_NOT_READY` until a
 * subclass has settled it.
 */
abstract class DigestTransform extends Transform implements DigestingStream {
  readonly algorithm: DigestAlgorithm;
  #hash: Hash;
  #size = 0;
  #result: Digest | undefined;

  constructor(algorithm: DigestAlgorithm, options: TransformOptions) {
    super(options);
    if (!isDigestAlgorithm(algorithm)) throw new UnsupportedDigestAlgorithmError(String(algorithm));
    this.algorithm = algorithm;
    this.#hash = createHash(algorithm);
  }

  /** Bytes seen so far. */
  get size(): number {
    return this.#size;
  }

  /** The digest of the content; throws `ERR_OCI_DIGEST_NOT_READY` until the stream finished (successfully). */
  digest(): Digest {
    if (this.#result === undefined) throw new DigestNotReadyError();
    return this.#result;
  }

  /** Counts `n` more bytes seen; returns the new total. */
  protected count(n: number): number {
    this.#size += n;
    return this.#size;
  }

  /** Hashes `chunk`. */
  protected hash(chunk: Buffer): void {
    this.#hash.update(chunk);
  }

  /** Ends the hash and returns the digest of everything hashed (once). */
  protected hashDigest(): Digest {
    return `${this.algorithm}:${this.#hash.digest('hex')}` as Digest;
  }

  /** Makes `digest()` return `d`. */
  protected settle(d: Digest): void {
    this.#result = d;
  }
}

/**
 * A pass-through Transform that hashes every byte. Read the result with
 * `digest()` and `size` after the stream finished:
 *
 * ```ts
 * const d = createDigester();
 * await pipeline(source, d, fs.createWriteStream(tmp));
 * d.digest(); // 'sha256:…'
 * ```
 */
export class HashingTransform extends DigestTransform {
  constructor(algorithm: DigestAlgorithm = DigestAlgorithm.SHA256, options: TransformOptions = {}) {
    super(algorithm, options);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash(chunk);
    this.count(chunk.length);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.settle(this.hashDigest());
    cb();
  }
}

/**
 * A pass-through Transform that fails unless the bytes match an expected
 * digest (and size, when given).
 *
 * - More bytes than `size`: the stream fails at once with `ERR_OCI_SIZE_MISMATCH`.
 * - At the end: fewer bytes fail with `ERR_OCI_SIZE_MISMATCH`, a different hash
 *   with `ERR_OCI_DIGEST_MISMATCH` (kind `data-loss`).
 *
 * The last chunk is held back until the check passes, so a consumer never
 * receives the complete content of a corrupt blob, and the stream never
 * emits `'end'`/`'finish'` for one: a pipeline through it rejects instead.
 */
export class VerifyingTransform extends DigestTransform {
  /** What the content must be. */
  readonly expected: Readonly<ExpectedContent>;
  #held: Buffer | undefined;

  constructor(expected: ExpectedContent, options: TransformOptions = {}) {
    const digest = parseDigest(expected.digest);
    if (expected.size !== undefined && (!Number.isSafeInteger(expected.size) || expected.size < 0)) {
      throw new BerthError('ERR_OCI_INVALID_SIZE', ErrorKind.InvalidArgument,
        `expected size ${String(expected.size)} is not a non-negative safe integer`, { details: { size: expected.size } });
    }
    super(digestAlgorithm(digest), options);
    this.expected = Object.freeze({ digest, ...(expected.size === undefined ? {} : { size: expected.size }) });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const seen = this.count(chunk.length);
    const { size } = this.expected;
    if (size !== undefined && seen > size) {
      cb(new SizeMismatchError(size, seen, { details: { digest: this.expected.digest } }));
      return;
    }
    this.hash(chunk);
    const held = this.#held;
    this.#held = chunk;
    cb(null, held);
  }

  override _flush(cb: TransformCallback): void {
    const { size, digest } = this.expected;
    if (size !== undefined && this.size !== size) {
      cb(new SizeMismatchError(size, this.size, { details: { digest } }));
      return;
    }
    const actual = this.hashDigest();
    if (actual !== digest) {
      cb(new DigestMismatchError(digest, actual, { details: { size: this.size } }));
      return;
    }
    this.settle(actual);
    const held = this.#held;
    this.#held = undefined;
    cb(null, held);
  }
}

/** Creates a {@link HashingTransform} for `algorithm` (default sha256). */
export function createDigester(algorithm: DigestAlgorithm = DigestAlgorithm.SHA256): HashingTransform {
  return new HashingTransform(algorithm);
}

/** Creates a {@link VerifyingTransform} that fails the stream unless it carries exactly `expected`. */
export function createVerifier(expected: ExpectedContent): VerifyingTransform {
  return new VerifyingTransform(expected);
}
