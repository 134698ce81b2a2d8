/**
 * Parsing of manifests and indexes read from the store, through oci-spec's
 * validators; failures become ERR_STORE_CORRUPT_LAYOUT with the oci-spec
 * error as cause. Unknown media types are leaves.
 */
import {
  OciMediaType, isIndexMediaType, isManifestMediaType, parseIndex as ociParseIndex, parseManifest as ociParseManifest,
  validateDescriptor,
} from '@berth/oci-spec';
import { StoreCorruptLayoutError } from '../errors.js';
import { type Descriptor, type ImageIndex, type ImageManifest } from './oci.js';

function wrap<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (cause) {
    throw new StoreCorruptLayoutError(where, (cause as Error)?.message ?? 'invalid', { cause });
  }
}

/** Checks one descriptor object; throws ERR_STORE_CORRUPT_LAYOUT. */
export function checkDescriptor(d: unknown, where: string): Descriptor {
  return wrap(where, () => validateDescriptor(d));
}

/** Parses and checks an image index (or Docker manifest list). */
export function parseIndex(bytes: Uint8Array, where: string, mediaType: string = OciMediaType.ImageIndex): ImageIndex {
  return wrap(where, () => ociParseIndex(bytes, mediaType).value as unknown as ImageIndex);
}

/** Parses and checks an image manifest (OCI or Docker schema 2). */
export function parseManifest(bytes: Uint8Array, where: string, mediaType: string = OciMediaType.ImageManifest): ImageManifest {
  return wrap(where, () => ociParseManifest(bytes, mediaType).value as unknown as ImageManifest);
}

/** The max size of a manifest or index the store will parse (4 MiB, as containerd). */
export const MaxManifestSize = 4 << 20;

/** Does content of this media type have children to walk? */
export function hasChildren(mediaType: string): boolean {
  return isIndexMediaType(mediaType) || isManifestMediaType(mediaType);
}

/** The children of a node: an index's manifests, a manifest's config and layers; none otherwise. */
export function children(desc: Descriptor, bytes: Uint8Array): Descriptor[] {
  const where = `${desc.mediaType} ${desc.digest}`;
  if (isIndexMediaType(desc.mediaType)) return parseIndex(bytes, where, desc.mediaType).manifests;
  if (isManifestMediaType(desc.mediaType)) {
    const m = parseManifest(bytes, where, desc.mediaType);
    return [m.config, ...m.layers];
  }
  return [];
}
