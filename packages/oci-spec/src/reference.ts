/**
 * Image references (`docker.io/library/busybox:latest@sha256:…`) as Docker's
 * `distribution/reference` defines them.
 */
import type { Digest } from './digest.js';

/**
 * A parsed image reference. Values are frozen; helpers return new ones.
 *
 * `domain` is empty only for references from the strict `parseReference`
 * when the input had none; normalized references always have one.
 */
export interface ImageReference {
  /** Registry host with optional port: `docker.io`, `127.0.0.1:5000`, `[::1]:5000`, `localhost`. */
  readonly domain: string;
  /** The repository path on the registry: `library/busybox`. */
  readonly path: string;
  /** `domain/path`, or `path` without a domain: the repository name. */
  readonly name: string;
  /** The tag, if any. */
  readonly tag?: string;
  /** The digest, if any. */
  readonly digest?: Digest;
}
