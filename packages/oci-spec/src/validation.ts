/**
 * The results of parsing untrusted image JSON: each document tagged with its
 * media type and kind, so callers switch on one field.
 */
import type { DockerManifest, DockerManifestList } from './docker.js';
import type { ImageConfig, ImageIndex, ImageManifest } from './image.js';
import type { DockerMediaType, OciMediaType } from './media-types.js';

/** A validated single-platform manifest, OCI or Docker. */
export type ParsedManifest =
  | { kind: 'manifest'; mediaType: typeof OciMediaType.ImageManifest; value: ImageManifest }
  | { kind: 'manifest'; mediaType: typeof DockerMediaType.Manifest; value: DockerManifest };

/** A validated multi-platform index, OCI or Docker. */
export type ParsedIndex =
  | { kind: 'index'; mediaType: typeof OciMediaType.ImageIndex; value: ImageIndex }
  | { kind: 'index'; mediaType: typeof DockerMediaType.ManifestList; value: DockerManifestList };

/** A validated image config, OCI or Docker (same shape). */
export type ParsedConfig =
  { kind: 'config'; mediaType: typeof OciMediaType.ImageConfig | typeof DockerMediaType.ImageConfig; value: ImageConfig };

/** Any validated image document. */
export type ParsedImageJson = ParsedManifest | ParsedIndex | ParsedConfig;

/** Bytes of a JSON document: a buffer (UTF-8) or a string. */
export type JsonInput = Uint8Array | string;
