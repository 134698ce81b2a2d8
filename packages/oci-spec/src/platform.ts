/**
 * Platforms: the OCI `platform` object, and the matcher contract used to pick
 * the best entry of an index (containerd `platforms.MatchComparer`).
 */

/**
 * The platform an image runs on, in the image-spec's JSON shape
 * (index entries' `platform`, and the same fields at the top of an image config).
 */
export interface Platform {
  /** CPU architecture in Go's `GOARCH` names: `amd64`, `arm64`, `arm`, `386`, `ppc64le`, `s390x`… */
  architecture: string;
  /** Operating system in Go's `GOOS` names: `linux`, `windows`… */
  os: string;
  /** OS version, for Windows images (`10.0.17763.1040`). */
  'os.version'?: string;
  /** Required OS features (`win32k`). */
  'os.features'?: string[];
  /** CPU variant: `v7` for arm, `v8` for arm64, `v2`/`v3` for amd64. */
  variant?: string;
  /** Reserved by the image-spec; Docker manifest lists use it for CPU features. */
  features?: string[];
}

/**
 * Matches platforms and orders them by preference, as containerd's
 * `platforms.MatchComparer` does. `less(a, b)` is true when `a` is preferred
 * over `b`; sort with it (stably) and take the first matching entry.
 */
export interface PlatformMatcher {
  /** Does this matcher accept `platform` (after normalization)? */
  match(platform: Platform): boolean;
  /** Is `a` strictly preferred over `b`? */
  less(a: Platform, b: Platform): boolean;
}
