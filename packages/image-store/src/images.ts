/**
 * The image index: names (normalized image references such as
 * `docker.io/library/busybox:latest`) mapped to descriptors of manifests or
 * indexes. On disk it is the layout's `index.json`, each entry annotated with
 * `org.opencontainers.image.ref.name` and `io.containerd.image.name` (both the
 * full normalized name), so skopeo (`oci:<root>:<name>`) and umoci read it.
 */
import type { Descriptor } from './internal/oci.js';
import type { CallOptions } from './content.js';

/** One named image. */
export interface Image {
  /** The normalized name (`docker.io/library/busybox:latest`). */
  name: string;
  /** The manifest or index it points to. */
  target: Descriptor;
}

/** Names to descriptors, persisted atomically. */
export interface ImageIndex {
  /** Points `name` at `target` (replacing any previous target); returns the normalized entry. */
  tag(name: string, target: Descriptor, options?: CallOptions): Promise<Image>;
  /** Removes `name`; ERR_STORE_NOT_FOUND when absent. */
  untag(name: string, options?: CallOptions): Promise<void>;
  /** Every named image, sorted by name (UTF-16 code units, not locale collation). */
  list(options?: CallOptions): Promise<Image[]>;
  /** The image `name` points to; ERR_STORE_NOT_FOUND when absent. */
  resolve(name: string, options?: CallOptions): Promise<Image>;
}
