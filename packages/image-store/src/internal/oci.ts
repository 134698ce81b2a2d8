/**
 * Minimal local versions of the OCI types image-store shares with other
 * packages. They belong in @berth/oci-spec; when it exports `Digest`,
 * `Descriptor`, the media types and the manifest types, these are replaced by
 * re-exports from there (same names, same shapes).
 */
import { StoreInvalidDigestError } from '../errors.js';

/** A content digest `<algorithm>:<hex>`, only made by {@link parseDigest}. */
export type Digest = string & { readonly __digest: unique symbol };

/** The digest algorithms the store accepts, with their hex lengths. */
export const DigestAlgorithm = { sha256: 64, sha512: 128 } as const;
/** One of the keys of {@link DigestAlgorithm}. */
export type DigestAlgorithm = keyof typeof DigestAlgorithm;

/** Checks `s` and returns it as a {@link Digest}; throws ERR_STORE_INVALID_DIGEST. */
export function parseDigest(s: unknown): Digest {
  if (typeof s !== 'string') throw new StoreInvalidDigestError(String(s));
  const i = s.indexOf(':');
  const alg = s.slice(0, i);
  const hex = s.slice(i + 1);
  const len = (DigestAlgorithm as Record<string, number>)[alg];
  if (i <= 0 || len === undefined || hex.length !== len || !/^[0-9a-f]+$/.test(hex)) {
    throw new StoreInvalidDigestError(s);
  }
  return s as Digest;
}

/** Splits a digest into its algorithm and hex parts. */
export function splitDigest(d: Digest): { algorithm: DigestAlgorithm; hex: string } {
  const i = d.indexOf(':');
  return { algorithm: d.slice(0, i) as DigestAlgorithm, hex: d.slice(i + 1) };
}

/** An OCI content descriptor (image-spec descriptor.md). */
export interface Descriptor {
  /** The media type of the referenced content. */
  mediaType: string;
  /** The digest of the content as stored. */
  digest: Digest;
  /** The size in bytes of the content as stored. */
  size: number;
  /** Optional URLs the content may be fetched from. */
  urls?: string[];
  /** Arbitrary metadata. */
  annotations?: Record<string, string>;
  /** The platform of an image manifest inside an index. */
  platform?: Platform;
  /** The artifact type, for artifact manifests. */
  artifactType?: string;
}

/** The platform an image runs on (image-spec image-index.md). */
export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
}

/** Media types the store knows (OCI and Docker schema 2). */
export const MediaType = {
  OciLayout: 'application/vnd.oci.layout.header.v1+json',
  ImageIndex: 'application/vnd.oci.image.index.v1+json',
  ImageManifest: 'application/vnd.oci.image.manifest.v1+json',
  ImageConfig: 'application/vnd.oci.image.config.v1+json',
  Layer: 'application/vnd.oci.image.layer.v1.tar',
  LayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  LayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  LayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** An OCI image index or Docker manifest list. */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** An OCI image manifest or Docker schema 2 manifest. */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** Annotation keys used in `index.json`. */
export const Annotation = {
  /** OCI: the name of the reference (image-spec annotations.md). */
  RefName: 'org.opencontainers.image.ref.name',
  /** containerd: the full image name (`ctr export` writes it). */
  ImageName: 'io.containerd.image.name',
} as const;

/** Is this media type an index (OCI index or Docker manifest list)? */
export function isIndexType(mt: string | undefined): boolean {
  return mt === MediaType.ImageIndex || mt === MediaType.DockerManifestList;
}

/** Is this media type a manifest (OCI or Docker schema 2)? */
export function isManifestType(mt: string | undefined): boolean {
  return mt === MediaType.ImageManifest || mt === MediaType.DockerManifest;
}
