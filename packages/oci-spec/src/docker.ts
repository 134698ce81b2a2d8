/**
 * Docker image manifest v2 schema 2 documents: the manifest and the manifest list.
 */
import type { Digest } from './digest.js';
import type { DockerMediaType } from './media-types.js';
import type { Platform } from './platform.js';

/** A Docker schema 2 descriptor (no annotations, no data). */
export interface DockerDescriptor {
  /** The media type of the referenced content. */
  mediaType: string;
  /** The size of the content in bytes. */
  size: number;
  /** The digest of the content as stored. */
  digest: Digest;
  /** For foreign layers: where to download them. */
  urls?: string[];
}

/** A Docker image manifest, schema 2. */
export interface DockerManifest {
  /** Always 2. */
  schemaVersion: 2;
  /** Required: `application/vnd.docker.distribution.manifest.v2+json`. */
  mediaType: typeof DockerMediaType.Manifest;
  /** The image config (`application/vnd.docker.container.image.v1+json`). */
  config: DockerDescriptor;
  /** The layers, base first. */
  layers: DockerDescriptor[];
}

/** The platform of a manifest list entry: the same fields as the OCI {@link Platform}. */
export interface DockerPlatform extends Platform {}

/** One entry of a Docker manifest list. */
export interface DockerManifestListEntry extends DockerDescriptor {
  /** The platform the manifest is for. */
  platform: DockerPlatform;
}

/** A Docker manifest list (multi-platform), schema 2. */
export interface DockerManifestList {
  /** Always 2. */
  schemaVersion: 2;
  /** Required: `application/vnd.docker.distribution.manifest.list.v2+json`. */
  mediaType: typeof DockerMediaType.ManifestList;
  /** The manifests, one per platform. */
  manifests: DockerManifestListEntry[];
}
