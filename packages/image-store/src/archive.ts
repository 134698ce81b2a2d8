/**
 * Import and export: what the archive functions need from a store, and their
 * options. Implementations: `archive/oci-layout.ts`, `archive/docker-archive.ts`.
 */
import type { CallOptions, ContentStore } from './content.js';
import type { ImageIndex } from './images.js';
import type { LeaseManager } from './leases.js';
import type { Platform } from './internal/oci.js';

/** The narrow store role import and export need. */
export interface ArchiveStore extends ContentStore {
  /** Names to descriptors. */
  readonly images: ImageIndex;
  /** Imports hold their blobs in a lease until the names are tagged. */
  readonly leases: LeaseManager;
}

/** Options of the import functions. */
export interface ImportOptions extends CallOptions {
  /**
   * For OCI layouts whose `org.opencontainers.image.ref.name` is only a tag
   * (`latest`, `1.0`): the repository to prefix (`docker.io/library/busybox`).
   */
  baseName?: string;
}

/** Options of the export functions. */
export interface ExportOptions extends CallOptions {
  /** For Docker archives of multi-platform images: which platform to export (default: this host's). */
  platform?: Pick<Platform, 'os' | 'architecture' | 'variant'>;
}
