/**
 * Image references parsed with the regular grammar of Docker's
 * `distribution/reference` (`regexp.go`, `reference.go`, `normalize.go`),
 * ported expression by expression so that every input parses, normalizes
 * and fails as it does in Docker.
 */
import type { Digest } from '../digest.js';
import { InvalidReferenceError, isBerthError } from '../errors.js';
import type { ImageReference } from '../reference.js';
import { parseDigest } from '../crypto/digests.js';

// --- grammar (regexp.go) ---------------------------------------------------
const alphanumeric = '[a-z0-9]+';
// One period, one or two underscores, or any number of dashes.
const separator = '(?:[._]|__|[-]+)';
const domainNameComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const optionalPort = '(?::[0-9]+)?';
// Go's \w is ASCII [0-9A-Za-z_], as is JavaScript's without the u flag.
const tagPat = '[\\w][\\w.-]{0,127}';
const digestPat = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}';
const identifier = '([a-f0-9]{64})';
// IPv6 in brackets; zone identifiers and IPv4-mapped forms are excluded.
const ipv6address = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;
const host = `(?:${domainName}|${ipv6address})`;
const domainAndPort = host + optionalPort;
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const remoteName = `${pathComponent}(?:/${pathComponent})*`;
const namePat = `(?:${domainAndPort}/)?${remoteName}`;

const referenceRegexp = new RegExp(`^(${namePat})(?::(${tagPat}))?(?:@(${digestPat}))?$`);
const anchoredNameRegexp = new RegExp(`^(?:(${domainAndPort})/)?(${remoteName})$`);
const anchoredTagRegexp = new RegExp(`^${tagPat}$`);
const anchoredIdentifierRegexp = new RegExp(`^${identifier}$`);
const anchoredDomainRegexp = new RegExp(`^${domainAndPort}$`);

/** The longest repository name, domain included (`reference.go`: NameTotalLengthMax). */
export const NAME_TOTAL_LENGTH_MAX = 255;
/** The longest tag. */
export const TAG_LENGTH_MAX = 128;
/** Docker Hub's canonical domain. */
export const DEFAULT_DOMAIN = 'docker.io';
/** Docker Hub's legacy domain, rewritten to {@link DEFAULT_DOMAIN}. */
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
/** The namespace of official images on Docker Hub. */
export const OFFICIAL_REPO_PREFIX = 'library/';
/** Inputs longer than this are refused before any regexp runs. */
const MAX_INPUT_LENGTH = 1024;
/** The tag used when none is given. */
export const DEFAULT_TAG = 'latest';

function make(domain: string, path: string, tag?: string, digest?: Digest): ImageReference {
  const ref: { domain: string; path: string; name: string; tag?: string; digest?: Digest } = {
    domain, path, name: domain === '' ? path : `${domain}/${path}`,
  };
  if (tag !== undefined && tag !== '') ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return Object.freeze(ref);
}

/**
 * Parses a reference strictly, without normalization (`reference.Parse`):
 * `busybox` stays `busybox` with an empty domain, and `test.com:5000` is the
 * repository `test.com` with tag `5000`.
 *
 * @throws InvalidReferenceError `ERR_OCI_INVALID_REFERENCE`, with `reason`
 *   `empty`, `format`, `uppercase`, `name-too-long` or `digest`.
 */
export function parseReference(s: string): ImageReference {
  if (typeof s !== 'string') throw new InvalidReferenceError(String(s), 'format');
  // No valid reference comes near this length (name 255, tag 128, sha512 digest 135), and
  // JavaScript's backtracking regexps, unlike Go's RE2, are not linear on hostile input.
  if (s.length > MAX_INPUT_LENGTH) throw new InvalidReferenceError(s, 'format', { details: { maxLength: MAX_INPUT_LENGTH } });
  const m = referenceRegexp.exec(s);
  if (m === null) {
    if (s === '') throw new InvalidReferenceError(s, 'empty');
    if (referenceRegexp.test(s.toLowerCase())) throw new InvalidReferenceError(s, 'uppercase');
    throw new InvalidReferenceError(s, 'format');
  }
  const [, name = '', tag, dgst] = m;
  if (name.length > NAME_TOTAL_LENGTH_MAX) throw new InvalidReferenceError(s, 'name-too-long');
  const nm = anchoredNameRegexp.exec(name);
  // The name matched namePat inside the reference, so it matches here too.
  const domain = nm?.[1] ?? '';
  const path = nm?.[2] ?? name;
  let digest: Digest | undefined;
  if (dgst !== undefined) {
    try {
      digest = parseDigest(dgst);
    } catch (e) {
      throw new InvalidReferenceError(s, 'digest', { cause: e, details: isBerthError(e) ? { digestCode: e.code } : {} });
    }
  }
  return make(domain, path, tag, digest);
}

/**
 * Splits a familiar name into domain and remainder as Docker does
 * (`normalize.go`: splitDockerDomain): the first component is a domain only
 * if it is `localhost`, contains `.` or `:`, or has uppercase letters.
 */
function splitDockerDomain(name: string): [domain: string, remainder: string] {
  const i = name.indexOf('/');
  if (i === -1) return [DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name];
  const maybeDomain = name.slice(0, i);
  const rest = name.slice(i + 1);
  let domain: string;
  let remainder: string;
  if (maybeDomain === 'localhost') [domain, remainder] = [maybeDomain, rest];
  else if (maybeDomain === LEGACY_DEFAULT_DOMAIN) [domain, remainder] = [DEFAULT_DOMAIN, rest];
  else if (/[.:]/.test(maybeDomain)) [domain, remainder] = [maybeDomain, rest];
  else if (maybeDomain.toLowerCase() !== maybeDomain) [domain, remainder] = [maybeDomain, rest];
  else [domain, remainder] = [DEFAULT_DOMAIN, name];
  // docker.io/ubuntu[:tag] => docker.io/library/ubuntu[:tag], on Docker Hub only.
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return [domain, remainder];
}

/**
 * Parses a reference as the Docker CLI does (`ParseNormalizedNamed`):
 * `busybox` → `docker.io/library/busybox`, `index.docker.io/x/y` → `docker.io/x/y`.
 * A tag and a digest may both be present; no default tag is added (see
 * {@link parseDockerReference} for that).
 *
 * @throws InvalidReferenceError `ERR_OCI_INVALID_REFERENCE`; reason `identifier` for a
 *   bare 64-hex id, `uppercase` for uppercase repository paths.
 */
export function parseNormalizedReference(s: string): ImageReference {
  if (typeof s !== 'string' || s.length > MAX_INPUT_LENGTH) return parseReference(s);
  if (anchoredIdentifierRegexp.test(s)) throw new InvalidReferenceError(s, 'identifier');
  const [domain, remainder] = splitDockerDomain(s);
  const tagSep = remainder.indexOf(':');
  const remote = tagSep > -1 ? remainder.slice(0, tagSep) : remainder;
  if (remote.toLowerCase() !== remote) throw new InvalidReferenceError(s, 'uppercase');
  return parseReference(`${domain}/${remainder}`);
}

/**
 * Parses a reference for pulling or running, as `docker pull` does: normalizes
 * like {@link parseNormalizedReference} and adds the `latest` tag when neither
 * tag nor digest is given (`busybox` → `docker.io/library/busybox:latest`).
 * Tag and digest together are kept; the digest decides what is fetched.
 */
export function parseDockerReference(s: string): ImageReference {
  return withDefaultTag(parseNormalizedReference(s));
}

/**
 * Parses a reference that may also be an image id (`ParseAnyReference`):
 * a bare 64-hex string or a full digest gives a reference with only `digest`
 * (empty domain, path and name); anything else is normalized.
 */
export function parseAnyReference(s: string): ImageReference {
  if (anchoredIdentifierRegexp.test(s)) return make('', '', undefined, parseDigest(`sha256:${s}`));
  try {
    return make('', '', undefined, parseDigest(s));
  } catch {
    return parseNormalizedReference(s);
  }
}

/** Adds the `latest` tag to a reference that has neither tag nor digest (`TagNameOnly`). */
export function withDefaultTag(ref: ImageReference): ImageReference {
  if (ref.tag === undefined && ref.digest === undefined) return make(ref.domain, ref.path, DEFAULT_TAG);
  return ref;
}

/**
 * A copy of `ref` with another tag (`WithTag`).
 * @throws InvalidReferenceError `ERR_OCI_INVALID_REFERENCE` for an invalid tag.
 */
export function withTag(ref: ImageReference, tag: string): ImageReference {
  if (!anchoredTagRegexp.test(tag)) throw new InvalidReferenceError(`${ref.name}:${tag}`, 'format');
  return make(ref.domain, ref.path, tag, ref.digest);
}

/**
 * A copy of `ref` with another digest (`WithDigest`).
 * @throws InvalidReferenceError `ERR_OCI_INVALID_REFERENCE` for an invalid digest.
 */
export function withDigest(ref: ImageReference, digest: string): ImageReference {
  let d: Digest;
  try {
    d = parseDigest(digest);
  } catch (e) {
    throw new InvalidReferenceError(`${ref.name}@${digest}`, 'digest', { cause: e });
  }
  return make(ref.domain, ref.path, ref.tag, d);
}

/** A copy of `ref` without tag and digest: just the repository. */
export function repositoryOf(ref: ImageReference): ImageReference {
  return make(ref.domain, ref.path);
}

/** The canonical string: `domain/path[:tag][@digest]` (`reference.String()`). */
export function formatReference(ref: ImageReference): string {
  return ref.name + (ref.tag === undefined ? '' : `:${ref.tag}`) + (ref.digest === undefined ? '' : `@${ref.digest}`);
}

function familiarRepository(ref: ImageReference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return ref.name;
  // Only official images lose "library/": "library/foo/bar" keeps it.
  if (ref.path.startsWith(OFFICIAL_REPO_PREFIX)) {
    const rest = ref.path.slice(OFFICIAL_REPO_PREFIX.length);
    if (!rest.includes('/')) return rest;
  }
  return ref.path;
}

/** The short repository name Docker shows (`FamiliarName`): `busybox`, `fooo/bar`, `127.0.0.1:8000/x`. */
export function familiarName(ref: ImageReference): string {
  return familiarRepository(ref);
}

/** The short string Docker shows (`FamiliarString`): `busybox:latest`, `ubuntu@sha256:…`. */
export function familiarString(ref: ImageReference): string {
  return familiarRepository(ref) + (ref.tag === undefined ? '' : `:${ref.tag}`) + (ref.digest === undefined ? '' : `@${ref.digest}`);
}

/** Is `s` a valid tag (`[\w][\w.-]{0,127}`)? */
export function isValidTag(s: string): boolean {
  return anchoredTagRegexp.test(s);
}

/** Is `s` a valid registry domain with optional port (`DomainRegexp`)? */
export function isValidDomain(s: string): boolean {
  return anchoredDomainRegexp.test(s);
}
