/**
 * The mark phase of GC, shared by both stores: from the roots, walk indexes
 * to manifests, manifests to configs and layers, and `containerd.io/gc.ref.*`
 * labels to the content they name. Unknown media types are leaves; bare
 * digests (from leases and root providers) are sniffed when small JSON.
 */
import { OciMediaType, throwIfAborted } from '@berth/oci-spec';
import { children, MaxManifestSize, hasChildren } from './validate.js';
import { parseDigest, type Descriptor, type Digest } from './oci.js';

/** What the mark phase needs from a store. */
export interface MarkSource {
  /** The size of a blob, or undefined when absent. */
  size(d: Digest): Promise<number | undefined>;
  /** The whole blob (only called for blobs up to 4 MiB). */
  read(d: Digest): Promise<Uint8Array>;
  /** The blob's labels. */
  labels(d: Digest): Promise<Record<string, string>>;
}

function sniff(bytes: Uint8Array): string | undefined {
  if (bytes.length === 0 || bytes[0] !== 0x7b) return undefined; // '{'
  try {
    const o = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
    if (typeof o.mediaType === 'string' && hasChildren(o.mediaType)) return o.mediaType;
    if (o.schemaVersion === 2 && Array.isArray(o.manifests)) return OciMediaType.ImageIndex;
    if (o.schemaVersion === 2 && typeof o.config === 'object' && Array.isArray(o.layers)) return OciMediaType.ImageManifest;
  } catch { /* not JSON: a leaf */ }
  return undefined;
}

/** Marks every digest reachable from `descriptors` and `digests`. */
export async function markReachable(src: MarkSource, descriptors: Descriptor[], digests: Digest[], signal?: AbortSignal): Promise<Set<string>> {
  const seen = new Set<string>();
  const queue: Array<{ digest: Digest; mediaType?: string }> = [
    ...descriptors.map((d) => ({ digest: d.digest, mediaType: d.mediaType })),
    ...digests.map((d) => ({ digest: d })),
  ];
  while (queue.length > 0) {
    throwIfAborted(signal, 'gc');
    const node = queue.pop()!;
    if (seen.has(node.digest)) continue;
    const size = await src.size(node.digest);
    if (size === undefined) continue; // dangling reference: nothing to keep
    seen.add(node.digest);
    for (const [k, v] of Object.entries(await src.labels(node.digest))) {
      if (k.startsWith('containerd.io/gc.ref.content')) {
        try { queue.push({ digest: parseDigest(v) }); } catch { /* not a digest */ }
      }
    }
    if (size > MaxManifestSize) continue;
    let mediaType = node.mediaType;
    let bytes: Uint8Array | undefined;
    if (mediaType === undefined || !hasChildren(mediaType)) {
      if (mediaType !== undefined) continue; // a known leaf type
      bytes = await src.read(node.digest);
      mediaType = sniff(bytes);
      if (mediaType === undefined) continue;
    }
    bytes ??= await src.read(node.digest);
    const desc = { mediaType, digest: node.digest, size };
    for (const c of children(desc, bytes)) queue.push({ digest: c.digest, mediaType: c.mediaType });
  }
  return seen;
}
