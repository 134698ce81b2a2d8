/**
 * @berth/image-store: a content-addressable store on the OCI image layout.
 *
 * Content (containerd's Provider / Ingester / Manager / IngestManager), an
 * image index of names kept in `index.json`, leases and garbage collection,
 * import and export of OCI layouts and Docker archives, and `verify()`.
 * Imports only @berth/oci-spec. See README.md for its place in the graph.
 */
export type {
  Info, OpenOptions, CallOptions, Provider, WriterOptions, Status, CommitOptions, ContentWriter, CommitBatch, CommitBatchOptions, Ingester,
  WalkFilter, Manager, IngestManager, ContentStore,
} from './content.js';
export type { Image, ImageIndex } from './images.js';
export type { Lease, LeaseOptions, LeaseResource, LeaseManager } from './leases.js';
export type { RootProvider, GcOptions, GcResult, VerifyOptions, CorruptBlob, VerifyResult, ImageStore } from './store.js';
export type { ArchiveStore, ImportOptions, ExportOptions } from './archive.js';
export * from './errors.js';
export { openLocalStore, LocalStore, type LocalStoreOptions } from './local/local-store.js';
export { createMemoryStore, MemoryStore } from './memory/memory-store.js';
export { readBlob, writeBlob, writeBytes, walkImage, type ReadBlobOptions, type WriteBlobOptions, type WalkImageOptions } from './helpers.js';
export { importOciLayoutDir, importOciLayoutTar, exportOciLayoutDir, exportOciLayoutTar } from './archive/oci-layout.js';
export { importDockerArchive, exportDockerArchive } from './archive/docker-archive.js';
export { readTar, writeTar, type TarEntry, type TarHeader, type TarSource } from './internal/tar.js';
