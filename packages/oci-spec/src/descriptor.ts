/**
 * The content descriptor of the OCI image-spec v1.1 (`descriptor.md`):
 * what a blob is, how big, and its digest.
 */
import type { Digest } from './digest.js';
import type { Platform } from './platform.js';

/** A reference to content by media type, digest and size, with optional extras. */
export interface Descriptor {
  /** The media type of the referenced content. */
  mediaType: string;
  /** The digest of the content as stored. */
  digest: Digest;
  /** The size of the content in bytes. */
  size: number;
  /** URLs the content may also be downloaded from. */
  urls?: string[];
  /** Arbitrary metadata. */
  annotations?: Record<string, string>;
  /** The content itself, base64, embedded (image-spec v1.1). */
  data?: string;
  /** The type of an artifact when the descriptor points at an artifact manifest (v1.1). */
  artifactType?: string;
  /** The platform of the referenced manifest, in index entries. */
  platform?: Platform;
}

/** Annotation keys of the image-spec (`annotations.md`) and the ones containerd/Docker write. */
export const AnnotationKey = {
  Created: 'org.opencontainers.image.created',
  Authors: 'org.opencontainers.image.authors',
  Url: 'org.opencontainers.image.url',
  Documentation: 'org.opencontainers.image.documentation',
  Source: 'org.opencontainers.image.source',
  Version: 'org.opencontainers.image.version',
  Revision: 'org.opencontainers.image.revision',
  Vendor: 'org.opencontainers.image.vendor',
  Licenses: 'org.opencontainers.image.licenses',
  /** The tag of a manifest in an OCI layout's `index.json`. */
  RefName: 'org.opencontainers.image.ref.name',
  Title: 'org.opencontainers.image.title',
  Description: 'org.opencontainers.image.description',
  BaseImageDigest: 'org.opencontainers.image.base.digest',
  BaseImageName: 'org.opencontainers.image.base.name',
  /** The full image name containerd writes into exported layouts. */
  ContainerdImageName: 'io.containerd.image.name',
  /** Marks BuildKit attestation manifests in an index (value `attestation-manifest`). */
  DockerReferenceType: 'vnd.docker.reference.type',
  DockerReferenceDigest: 'vnd.docker.reference.digest',
} as const;
/** One of the values of {@link AnnotationKey}. */
export type AnnotationKey = (typeof AnnotationKey)[keyof typeof AnnotationKey];

/**
 * The image-spec v1.1 empty descriptor (`manifest.md#guidance-for-an-empty-descriptor`):
 * the two-byte blob `{}`, used as the config of artifacts.
 */
export const EMPTY_JSON_DESCRIPTOR: Readonly<Descriptor> = Object.freeze({
  mediaType: 'application/vnd.oci.empty.v1+json',
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a' as Digest,
  size: 2,
  data: 'e30=',
});
