/**
 * Digest parsing, formatting and one-shot hashing with `node:crypto`.
 */
import { createHash } from 'node:crypto';
import type { Descriptor } from '../descriptor.js';
import { DigestAlgorithm, type Digest } from '../digest.js';
import { InvalidDigestError, UnsupportedDigestAlgorithmError } from '../errors.js';

/** Hex length of each algorithm's encoded part. */
const hexLengths: Readonly<Record<DigestAlgorithm, number>> = { sha256: 64, sha512: 128 };
const hexPatterns: Readonly<Record<DigestAlgorithm, RegExp>> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};
// The image-spec's generic digest grammar (descriptor.md#digests):
// algorithm ::= component (separator component)*, encoded ::= [a-zA-Z0-9=_-]+
const grammar = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** Is `s` a digest berth accepts (sha256 or sha512, lowercase hex of the right length)? */
export function isDigest(s: unknown): s is Digest {
  if (typeof s !== 'string') return false;
  const i = s.indexOf(':');
  const alg = s.slice(0, i) as DigestAlgorithm;
  return Object.hasOwn(hexPatterns, alg) && hexPatterns[alg].test(s.slice(i + 1));
}

/** Is `s` a supported algorithm name? */
export function isDigestAlgorithm(s: unknown): s is DigestAlgorithm {
  return s === DigestAlgorithm.SHA256 || s === DigestAlgorithm.SHA512;
}

/**
 * Parses `algorithm:hex` into a {@link Digest}.
 *
 * @throws InvalidDigestError `ERR_OCI_INVALID_DIGEST` for malformed input, uppercase
 *   or wrong-length hex.
 * @throws UnsupportedDigestAlgorithmError `ERR_OCI_UNSUPPORTED_DIGEST_ALGORITHM` for a
 *   well-formed digest of another algorithm (sha384, blake3…).
 */
export function parseDigest(s: string): Digest {
  if (typeof s !== 'string') throw new InvalidDigestError(String(s), 'not a string');
  const i = s.indexOf(':');
  if (i <= 0 || i === s.length - 1) throw new InvalidDigestError(s, 'expected algorithm:encoded');
  const alg = s.slice(0, i);
  const hex = s.slice(i + 1);
  if (!isDigestAlgorithm(alg)) {
    if (!grammar.test(s)) throw new InvalidDigestError(s, 'does not match the digest grammar');
    throw new UnsupportedDigestAlgorithmError(alg, { details: { input: s } });
  }
  if (hex.length !== hexLengths[alg]) {
    throw new InvalidDigestError(s, `${alg} needs ${hexLengths[alg]} hex characters, got ${hex.length}`);
  }
  if (!hexPatterns[alg].test(hex)) throw new InvalidDigestError(s, 'encoded part must be lowercase hex');
  return s as Digest;
}

/** Builds a digest from an algorithm and its hex encoding; validates both like {@link parseDigest}. */
export function formatDigest(algorithm: DigestAlgorithm, hex: string): Digest {
  return parseDigest(`${algorithm}:${hex}`);
}

/** The algorithm part of a digest. */
export function digestAlgorithm(d: Digest): DigestAlgorithm {
  return d.slice(0, d.indexOf(':')) as DigestAlgorithm;
}

/** The hex part of a digest (the file name under `blobs/<algorithm>/`). */
export function digestHex(d: Digest): string {
  return d.slice(d.indexOf(':') + 1);
}

/** The digest of `bytes` (a string is hashed as UTF-8). */
export function digestOf(bytes: Uint8Array | string, algorithm: DigestAlgorithm = DigestAlgorithm.SHA256): Digest {
  if (!isDigestAlgorithm(algorithm)) throw new UnsupportedDigestAlgorithmError(String(algorithm));
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}` as Digest;
}

/** The digest of the empty blob for an algorithm (a literal: computing it at load made every program load node:crypto). */
export const EMPTY_SHA256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' as Digest;

/**
 * A descriptor for `bytes` held in memory: their sha256 digest and size, with
 * `mediaType` and any extra fields (annotations, platform…).
 */
export function descriptorOf(mediaType: string, bytes: Uint8Array | string, extra: Omit<Partial<Descriptor>, 'mediaType' | 'digest' | 'size'> = {}): Descriptor {
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  return { mediaType, digest: digestOf(data), size: data.byteLength, ...extra };
}
