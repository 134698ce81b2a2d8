/**
 * The OCI nouns image-store uses, from @berth/oci-spec, plus the store's own
 * digest check (which reports ERR_STORE_INVALID_DIGEST to store callers and
 * keeps oci-spec's error as the cause).
 */
import {
  parseDigest as ociParseDigest, digestAlgorithm, digestHex, OciMediaType, DockerMediaType, AnnotationKey,
  isIndexMediaType, isManifestMediaType, type Digest, type DigestAlgorithm,
} from '@berth/oci-spec';
import { StoreInvalidDigestError } from '../errors.js';

export type { Digest, Descriptor, Platform, ImageIndex, ImageManifest } from '@berth/oci-spec';

/** Hex length of each supported algorithm. */
export const DigestAlgorithms: Readonly<Record<DigestAlgorithm, number>> = { sha256: 64, sha512: 128 };

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

/** The media types the store reads and writes. */
export const MediaType = {
  ImageIndex: OciMediaType.ImageIndex,
  ImageManifest: OciMediaType.ImageManifest,
  ImageConfig: OciMediaType.ImageConfig,
  Layer: OciMediaType.Layer,
  LayerGzip: OciMediaType.LayerGzip,
  LayerZstd: OciMediaType.LayerZstd,
  DockerManifestList: DockerMediaType.ManifestList,
  DockerManifest: DockerMediaType.Manifest,
} as const;

/** Annotation keys used in `index.json`. */
export const Annotation = {
  /** OCI: the name of the reference (image-spec annotations.md). */
  RefName: AnnotationKey.RefName,
  /** containerd: the full image name (`ctr export` writes it). */
  ImageName: AnnotationKey.ContainerdImageName,
} as const;

/** Is this media type an index (OCI index or Docker manifest list)? */
export const isIndexType = (mt: string | undefined): boolean => isIndexMediaType(mt);
/** Is this media type a manifest (OCI or Docker schema 2)? */
export const isManifestType = (mt: string | undefined): boolean => isManifestMediaType(mt);
