/**
 * A minimal Docker reference normalizer (distribution/reference grammar).
 * To be replaced by oci-spec's reference parser when it exists.
 */
import { StoreInvalidRefError } from '../errors.js';

const component = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const domainRe = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$/;
const pathRe = new RegExp(`^${component}(?:/${component})*$`);
const tagRe = /^[\w][\w.-]{0,127}$/;
const digestRe = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/;

/** A parsed, normalized image reference. */
export interface ParsedName {
  /** Registry host (`docker.io` when omitted). */
  domain: string;
  /** Repository path (`library/busybox`). */
  path: string;
  /** Tag, `latest` when neither tag nor digest was given. */
  tag?: string;
  /** Digest, when given. */
  digest?: string;
  /** The full normalized form. */
  normalized: string;
  /** The familiar (Docker CLI) form: `busybox:latest`. */
  familiar: string;
}

/** Parses and normalizes `name`; throws ERR_STORE_INVALID_REF. */
export function parseName(name: string): ParsedName {
  if (typeof name !== 'string' || name.length === 0 || name.length > 512) {
    throw new StoreInvalidRefError(String(name), 'empty or too long');
  }
  let rest = name;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digestRe.test(digest)) throw new StoreInvalidRefError(name, 'bad digest');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!tagRe.test(tag)) throw new StoreInvalidRefError(name, 'bad tag');
  }
  let domain = 'docker.io';
  let path = rest;
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    domain = first;
    path = rest.slice(slash + 1);
    if (!domainRe.test(domain)) throw new StoreInvalidRefError(name, 'bad domain');
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (domain === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  if (!pathRe.test(path) || domain.length + path.length > 255) throw new StoreInvalidRefError(name, 'bad repository path');
  if (tag === undefined && digest === undefined) tag = 'latest';
  const suffix = `${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`;
  const normalized = `${domain}/${path}${suffix}`;
  let familiarPath = domain === 'docker.io' ? path.replace(/^library\//, '') : `${domain}/${path}`;
  if (domain === 'docker.io' && familiarPath.includes('/') && path.startsWith('library/')) familiarPath = path;
  return { domain, path, tag, digest, normalized, familiar: `${familiarPath}${suffix}` };
}

/** The normalized form of `name`. */
export function normalizeName(name: string): string {
  return parseName(name).normalized;
}
