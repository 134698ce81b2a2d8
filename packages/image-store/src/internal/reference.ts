/**
 * Image names as the store keeps them: oci-spec's Docker reference parser
 * (`busybox` → `docker.io/library/busybox:latest`), with failures reported as
 * ERR_STORE_INVALID_REF.
 */
import { parseDockerReference, formatReference, familiarString, type ImageReference } from '@berth/oci-spec';
import { StoreInvalidRefError } from '../errors.js';

/** A parsed, normalized image name. */
export interface ParsedName {
  /** The parsed reference. */
  ref: ImageReference;
  /** Tag, `latest` when neither tag nor digest was given. */
  tag?: string;
  /** The full normalized form. */
  normalized: string;
  /** The familiar (Docker CLI) form: `busybox:latest`. */
  familiar: string;
}

/** Parses and normalizes `name`; throws ERR_STORE_INVALID_REF. */
export function parseName(name: string): ParsedName {
  let ref: ImageReference;
  try {
    ref = parseDockerReference(name);
  } catch (cause) {
    throw new StoreInvalidRefError(String(name), (cause as { details?: { reason?: string } })?.details?.reason ?? 'invalid', { cause });
  }
  return { ref, ...(ref.tag !== undefined ? { tag: ref.tag } : {}), normalized: formatReference(ref), familiar: familiarString(ref) };
}
