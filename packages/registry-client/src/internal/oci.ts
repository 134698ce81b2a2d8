/**
 * The OCI nouns the client uses, taken from @berth/oci-spec, plus two small
 * helpers of its own (media types come straight from oci-spec's `OciMediaType`/`DockerMediaType`).
 */
import {
  digestAlgorithm, digestOf, DockerMediaType, isIndexMediaType, isManifestMediaType, type Digest,
} from '@berth/oci-spec';

export type { Descriptor, Digest, ImageIndex, ImageManifest, Platform, PlatformMatcher } from '@berth/oci-spec';
export { digestAlgorithm, isDigest, isIndexMediaType, onlyPlatform, selectPlatformEntry } from '@berth/oci-spec';

/** Is this fetched from `/manifests/` (a manifest or an index, any schema 2 / OCI kind)? */
export function isManifestOrIndex(mt: string | undefined): boolean {
  return isManifestMediaType(mt) || isIndexMediaType(mt)
    || mt === DockerMediaType.ManifestV1 || mt === DockerMediaType.ManifestV1Signed;
}

/** The digest of `b` in the algorithm of `like` (sha256 when `like` is undefined). */
export function digestLike(like: Digest | undefined, b: Uint8Array): Digest {
  return digestOf(b, like ? digestAlgorithm(like) : 'sha256');
}
