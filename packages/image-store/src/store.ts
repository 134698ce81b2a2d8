/**
 * The whole store: content, image index, leases, GC and verification. Both
 * the on-disk store (`openLocalStore`) and the in-memory store
 * (`createMemoryStore`) implement {@link ImageStore}.
 */
import type { ContentStore, CallOptions } from './content.js';
import type { ImageIndex } from './images.js';
import type { LeaseManager } from './leases.js';
import type { Digest } from './internal/oci.js';

/** Reports digests that are in use outside the store (the engine: snapshots' content). */
export type RootProvider = () => AsyncIterable<Digest>;

/** Options of {@link ImageStore.gc}. */
export interface GcOptions extends CallOptions {
  /** Report what would be freed without deleting (default false). */
  dryRun?: boolean;
  /**
   * Also remove partial ingests no lease holds, no writer has open and that
   * were not written to for this long (milliseconds; default: keep ingests).
   */
  ingestMaxAgeMs?: number;
}

/** What a GC run freed. */
export interface GcResult {
  /** The blobs deleted. */
  digests: Digest[];
  /** Their total size. */
  bytes: number;
  /** Ingests removed. */
  ingests: string[];
  /** Expired leases removed. */
  leases: string[];
}

/** Options of {@link ImageStore.verify}. */
export interface VerifyOptions extends CallOptions {
  /** Delete the corrupt blobs found (default false: report only). */
  delete?: boolean;
}

/** One problem {@link ImageStore.verify} found. */
export interface CorruptBlob {
  /** Path (local store) or digest (memory store) of the entry. */
  path: string;
  /** The digest its place claims. */
  expected?: string;
  /** What its bytes hash to. */
  actual?: string;
  /** Why it is corrupt. */
  reason: 'digest-mismatch' | 'bad-path' | 'not-a-file' | 'unreadable';
}

/** The result of {@link ImageStore.verify}. */
export interface VerifyResult {
  /** How many blobs were rehashed. */
  checked: number;
  /** Total bytes rehashed. */
  bytes: number;
  /** The corrupt entries. */
  corrupt: CorruptBlob[];
  /** The corrupt entries deleted (with `delete: true`). */
  deleted: string[];
}

/** A content store with an image index, leases, GC and verification. */
export interface ImageStore extends ContentStore {
  /** Names to descriptors. */
  readonly images: ImageIndex;
  /** Leases that keep content alive. */
  readonly leases: LeaseManager;
  /** Registers an external root source; returns a function that removes it. */
  addRootProvider(provider: RootProvider): () => void;
  /** Deletes everything unreachable from images, leases and root providers. */
  gc(options?: GcOptions): Promise<GcResult>;
  /** Rehashes every blob (streaming) and reports the corrupt ones. */
  verify(options?: VerifyOptions): Promise<VerifyResult>;
  /** Releases the store. Idempotent. */
  close(): Promise<void>;
}
