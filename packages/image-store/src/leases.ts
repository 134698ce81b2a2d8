/**
 * Leases keep content alive while a pull or build is in progress
 * (containerd core/leases). A lease holds digests and ingest refs; GC treats
 * them as roots until the lease is deleted or expires.
 */
import type { Digest } from './internal/oci.js';
import type { CallOptions } from './content.js';

/** One lease. */
export interface Lease {
  /** Its id. */
  id: string;
  /** When it was created. */
  createdAt: Date;
  /** When GC may drop it (absent: never). */
  expiresAt?: Date;
  /** Free-form labels. */
  labels: Record<string, string>;
  /** The blobs it holds. */
  digests: Digest[];
  /** The ingests it holds. */
  ingests: string[];
}

/** Options of {@link LeaseManager.create}. */
export interface LeaseOptions extends CallOptions {
  /** The id (default: random). */
  id?: string;
  /** How long until it expires, in milliseconds (default: never). */
  expiresInMs?: number;
  /** Labels. */
  labels?: Record<string, string>;
}

/** A resource a lease holds. */
export type LeaseResource = { type: 'content'; digest: Digest } | { type: 'ingest'; ref: string };

/** Creates, lists and deletes leases and their resources. */
export interface LeaseManager {
  /** Creates a lease; ERR_STORE_ALREADY_EXISTS when the id is taken. */
  create(options?: LeaseOptions): Promise<Lease>;
  /** Deletes a lease (its content becomes collectable); ERR_STORE_NOT_FOUND when absent. */
  delete(id: string, options?: CallOptions): Promise<void>;
  /** Every lease. */
  list(options?: CallOptions): Promise<Lease[]>;
  /** Adds a resource to a lease. */
  addResource(id: string, resource: LeaseResource, options?: CallOptions): Promise<void>;
  /** Removes a resource from a lease. */
  deleteResource(id: string, resource: LeaseResource, options?: CallOptions): Promise<void>;
}
