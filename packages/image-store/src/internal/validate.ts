/**
 * Minimal validation of manifests and indexes read from the store, used by
 * GC, export and import to find a node's children. To be replaced by
 * oci-spec's validators when they exist. Unknown media types are leaves.
 */
import { StoreCorruptLayoutError } from '../errors.js';
import { parseDigest, isIndexType, isManifestType, type Descriptor, type ImageIndex, type ImageManifest } from './oci.js';

/** Checks one descriptor object; throws ERR_STORE_CORRUPT_LAYOUT. */
export function checkDescriptor(d: unknown, where: string): Descriptor {
  if (typeof d !== 'object' || d === null) throw new StoreCorruptLayoutError(where, 'descriptor is not an object');
  const o = d as Record<string, unknown>;
  if (typeof o.mediaType !== 'string' || o.mediaType === '') throw new StoreCorruptLayoutError(where, 'descriptor without mediaType');
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) throw new StoreCorruptLayoutError(where, 'descriptor with a bad size');
  try { parseDigest(o.digest); } catch (cause) { throw new StoreCorruptLayoutError(where, 'descriptor with a bad digest', { cause }); }
  if (o.annotations !== undefined && (typeof o.annotations !== 'object' || o.annotations === null)) {
    throw new StoreCorruptLayoutError(where, 'descriptor with bad annotations');
  }
  return o as unknown as Descriptor;
}

function parseJson(bytes: Uint8Array, where: string): Record<string, unknown> {
  let v: unknown;
  try { v = JSON.parse(Buffer.from(bytes).toString('utf8')); } catch (cause) { throw new StoreCorruptLayoutError(where, 'not JSON', { cause }); }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new StoreCorruptLayoutError(where, 'not a JSON object');
  return v as Record<string, unknown>;
}

/** Parses and checks an image index (or Docker manifest list). */
export function parseIndex(bytes: Uint8Array, where: string): ImageIndex {
  const o = parseJson(bytes, where);
  if (o.schemaVersion !== 2) throw new StoreCorruptLayoutError(where, 'schemaVersion is not 2');
  if (!Array.isArray(o.manifests)) throw new StoreCorruptLayoutError(where, 'manifests is not an array');
  o.manifests.forEach((m, i) => checkDescriptor(m, `${where}: manifests[${i}]`));
  return o as unknown as ImageIndex;
}

/** Parses and checks an image manifest (OCI or Docker schema 2). */
export function parseManifest(bytes: Uint8Array, where: string): ImageManifest {
  const o = parseJson(bytes, where);
  if (o.schemaVersion !== 2) throw new StoreCorruptLayoutError(where, 'schemaVersion is not 2');
  checkDescriptor(o.config, `${where}: config`);
  if (!Array.isArray(o.layers)) throw new StoreCorruptLayoutError(where, 'layers is not an array');
  o.layers.forEach((l, i) => checkDescriptor(l, `${where}: layers[${i}]`));
  return o as unknown as ImageManifest;
}

/** The max size of a manifest or index the store will parse (4 MiB, as containerd). */
export const MaxManifestSize = 4 << 20;

/** Does content of this media type have children to walk? */
export function hasChildren(mediaType: string): boolean {
  return isIndexType(mediaType) || isManifestType(mediaType);
}

/** The children of a node: an index's manifests, a manifest's config and layers; none otherwise. */
export function children(desc: Descriptor, bytes: Uint8Array): Descriptor[] {
  const where = `${desc.mediaType} ${desc.digest}`;
  if (isIndexType(desc.mediaType)) return parseIndex(bytes, where).manifests;
  if (isManifestType(desc.mediaType)) {
    const m = parseManifest(bytes, where);
    return [m.config, ...m.layers];
  }
  return [];
}
