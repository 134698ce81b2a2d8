/**
 * The image service's typed errors (`ERR_ENGINE_IMAGE_…`). Each class extends
 * {@link BerthError} from `@berth/oci-spec` and builds its message from
 * structured fields. Errors of the composed packages (registry, store,
 * snapshotter, layer application) pass through unchanged: their codes say
 * which part failed.
 */
import { BerthError, ErrorKind, type BerthErrorOptions } from '@berth/oci-spec';

/** The codes of the image service, as a constant object. */
export const ImageErrorCode = {
  NotFound: 'ERR_ENGINE_IMAGE_NOT_FOUND',
  AmbiguousId: 'ERR_ENGINE_IMAGE_AMBIGUOUS_ID',
  InvalidReference: 'ERR_ENGINE_IMAGE_INVALID_REFERENCE',
  InUse: 'ERR_ENGINE_IMAGE_IN_USE',
  Conflict: 'ERR_ENGINE_IMAGE_CONFLICT',
  DiffIdMismatch: 'ERR_ENGINE_IMAGE_DIFF_ID_MISMATCH',
  Invalid: 'ERR_ENGINE_IMAGE_INVALID',
  PlatformNotFound: 'ERR_ENGINE_IMAGE_PLATFORM_NOT_FOUND',
  Closed: 'ERR_ENGINE_IMAGE_CLOSED',
} as const;
/** One of the values of {@link ImageErrorCode}. */
export type ImageErrorCode = (typeof ImageErrorCode)[keyof typeof ImageErrorCode];

/** No image has this name, id or id prefix. */
export class ImageNotFoundError extends BerthError {
  constructor(ref: string, options: BerthErrorOptions = {}) {
    super(ImageErrorCode.NotFound, ErrorKind.NotFound, `image ${JSON.stringify(ref)} not found`, { ...options, details: { ref, ...options.details } });
  }
}

/** An id prefix matches several images. */
export class ImageAmbiguousIdError extends BerthError {
  constructor(prefix: string, matches: readonly string[]) {
    super(ImageErrorCode.AmbiguousId, ErrorKind.InvalidArgument, `image id prefix ${JSON.stringify(prefix)} is ambiguous: ${matches.length} images match`, { details: { prefix, matches } });
  }
}

/** A reference that is neither a valid image name nor an id. */
export class ImageInvalidReferenceError extends BerthError {
  constructor(ref: string, options: BerthErrorOptions = {}) {
    super(ImageErrorCode.InvalidReference, ErrorKind.InvalidArgument, `invalid image reference ${JSON.stringify(ref)}`, { ...options, details: { ref, ...options.details } });
  }
}

/** `rmi` (without force) of an image a container uses. */
export class ImageInUseError extends BerthError {
  constructor(ref: string, id: string) {
    super(ImageErrorCode.InUse, ErrorKind.FailedPrecondition, `image ${JSON.stringify(ref)} (${id.slice(7, 19)}) is used by a container`, { details: { ref, id } });
  }
}

/** `rmi <id>` (without force) of an image with several names. */
export class ImageConflictError extends BerthError {
  constructor(ref: string, id: string, names: readonly string[]) {
    super(ImageErrorCode.Conflict, ErrorKind.FailedPrecondition, `image ${JSON.stringify(ref)} is referenced in ${names.length} repositories: use force`, { details: { ref, id, names } });
  }
}

/** A layer's uncompressed digest differs from the config's `rootfs.diff_ids` entry. */
export class ImageDiffIdMismatchError extends BerthError {
  constructor(layer: string, expected: string, actual: string) {
    super(ImageErrorCode.DiffIdMismatch, ErrorKind.DataLoss, `layer ${layer} unpacks to diffId ${actual}, config says ${expected}`, { details: { layer, expected, actual } });
  }
}

/** A manifest or config that cannot make an image (layer count differs from diff_ids, no layers…). */
export class ImageInvalidError extends BerthError {
  constructor(what: string, reason: string, options: BerthErrorOptions = {}) {
    super(ImageErrorCode.Invalid, ErrorKind.DataLoss, `invalid image ${what}: ${reason}`, { ...options, details: { what, reason, ...options.details } });
  }
}

/** An index has no manifest for the asked platform. */
export class ImagePlatformNotFoundError extends BerthError {
  constructor(ref: string, platform: string) {
    super(ImageErrorCode.PlatformNotFound, ErrorKind.NotFound, `image ${JSON.stringify(ref)} has no manifest for platform ${platform}`, { details: { ref, platform } });
  }
}

/** The image service was closed. */
export class ImageServiceClosedError extends BerthError {
  constructor() {
    super(ImageErrorCode.Closed, ErrorKind.FailedPrecondition, 'image service is closed');
  }
}
