/**
 * A minimal image reference parser (docker/distribution `reference` rules).
 *
 * Belongs in @berth/oci-spec; kept local until oci-spec exports one.
 */
import { isDigest, type Digest } from './oci.js';

/** A parsed, normalised image reference: `domain/path[:tag][@digest]`. */
export interface ImageReference {
  /** Registry host as written (`docker.io`, `127.0.0.1:5000`). */
  domain: string;
  /** Repository path inside the registry (`library/alpine`). */
  path: string;
  /** The tag, when the reference has one (and no digest: `latest` is added only then). */
  tag?: string;
  /** The digest, when the reference pins one. */
  digest?: Digest;
}

const pathComponent = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const tagRe = /^[\w][\w.-]{0,127}$/;

/**
 * Parses and normalises an image reference. `alpine` becomes
 * `docker.io/library/alpine:latest`. Throws `TypeError` on bad input;
 * the client wraps it as ERR_REGISTRY_INVALID_ARGUMENT.
 */
export function parseReference(input: string): ImageReference {
  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw new TypeError(`invalid digest in reference ${JSON.stringify(input)}`);
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagRe.test(tag)) throw new TypeError(`invalid tag in reference ${JSON.stringify(input)}`);
  }
  let domain = 'docker.io';
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (domain === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  if (!path || !path.split('/').every((c) => pathComponent.test(c))) {
    throw new TypeError(`invalid repository in reference ${JSON.stringify(input)}`);
  }
  if (tag === undefined && digest === undefined) tag = 'latest';
  const ref: ImageReference = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** Formats a reference back to its normalised string form. */
export function formatReference(r: ImageReference): string {
  return `${r.domain}/${r.path}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}
