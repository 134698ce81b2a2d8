/**
 * @berth/oci-spec: the leaf of berth's package graph.
 *
 * OCI image, runtime and distribution types, media types, digests, image
 * references, platforms, validation of untrusted JSON, the error base every
 * package extends, and runtime spec generation with `with…` options.
 */
export * from './errors.js';
