/**
 * The OCI nouns the store uses come from @berth/oci-spec; this adds only a
 * digest parser that reports ERR_STORE_INVALID_DIGEST and a digest splitter.
 */
import {
  parseDigest as ociParseDigest, digestAlgorithm, digestHex, type Digest, type DigestAlgorithm,
} from '@berth/oci-spec';
import { StoreInvalidDigestError } from '../errors.js';

export type { Digest, Descriptor, Platform, ImageIndex, ImageManifest } from '@berth/oci-spec';

/** Checks `s` and returns it as a {@link Digest}; throws ERR_STORE_INVALID_DIGEST (cause: oci-spec's error). */
export function parseDigest(s: unknown): Digest {
  try {
    return ociParseDigest(s as string);
  } catch (cause) {
    throw new StoreInvalidDigestError(String(s), { cause });
  }
}

/** Splits a digest into its algorithm and hex parts. */
export function splitDigest(d: Digest): { algorithm: DigestAlgorithm; hex: string } {
  return { algorithm: digestAlgorithm(d), hex: digestHex(d) };
}
