/**
 * Distribution-spec error bodies (`spec.md`, "Error Codes"): what a registry
 * sends with a 4xx/5xx answer.
 */

/** The error codes of the distribution-spec, plus the ones Docker's registry also sends. */
export const DistributionErrorCode = {
  BlobUnknown: 'BLOB_UNKNOWN',
  BlobUploadInvalid: 'BLOB_UPLOAD_INVALID',
  BlobUploadUnknown: 'BLOB_UPLOAD_UNKNOWN',
  DigestInvalid: 'DIGEST_INVALID',
  ManifestBlobUnknown: 'MANIFEST_BLOB_UNKNOWN',
  ManifestInvalid: 'MANIFEST_INVALID',
  ManifestUnknown: 'MANIFEST_UNKNOWN',
  ManifestUnverified: 'MANIFEST_UNVERIFIED',
  NameInvalid: 'NAME_INVALID',
  NameUnknown: 'NAME_UNKNOWN',
  SizeInvalid: 'SIZE_INVALID',
  TagInvalid: 'TAG_INVALID',
  Unauthorized: 'UNAUTHORIZED',
  Denied: 'DENIED',
  Unsupported: 'UNSUPPORTED',
  TooManyRequests: 'TOOMANYREQUESTS',
  PaginationNumberInvalid: 'PAGINATION_NUMBER_INVALID',
  RangeInvalid: 'RANGE_INVALID',
  Unavailable: 'UNAVAILABLE',
  Unknown: 'UNKNOWN',
} as const;
/** One of the values of {@link DistributionErrorCode}. Registries may send others. */
export type DistributionErrorCode = (typeof DistributionErrorCode)[keyof typeof DistributionErrorCode];

/** One entry of a registry error body. */
export interface DistributionError {
  /** The error code, usually one of {@link DistributionErrorCode}. */
  code: string;
  /** A human-readable message. */
  message?: string;
  /** Unstructured extra information. */
  detail?: unknown;
}

/** A registry error body: `{"errors": [...]}`. */
export interface DistributionErrorBody {
  /** The errors, at least one. */
  errors: DistributionError[];
}
