/**
 * Image names and ids as Docker reads them: `busybox` is
 * `docker.io/library/busybox:latest`; a 12–64 hex string or `sha256:<hex>`
 * is an image id or id prefix; chainIds of a layer stack.
 */
import { createHash } from 'node:crypto';
import {
  familiarName, familiarString, formatReference, isBerthError, parseDockerReference, parseNormalizedReference, type ImageReference,
} from '@berth/oci-spec';
import { ImageInvalidReferenceError } from './errors.js';

/** Parses a name for pull/push/tag: normalized, with `latest` when neither tag nor digest is given. */
export function parseImageName(ref: string): ImageReference {
  try {
    return parseDockerReference(ref);
  } catch (e) {
    throw new ImageInvalidReferenceError(ref, { cause: e, ...(isBerthError(e) ? { details: { reason: e.code } } : {}) });
  }
}

/** The full normalized string of a name (`docker.io/library/busybox:latest`). */
export function normalizeImageName(ref: string): string {
  return formatReference(parseImageName(ref));
}

/** Parses a stored (already normalized) name; undefined when it is not a reference. */
export function tryParseName(name: string): ImageReference | undefined {
  try {
    return parseNormalizedReference(name);
  } catch {
    return undefined;
  }
}

/** The familiar form Docker shows in RepoTags (`busybox:latest`, `127.0.0.1:5000/x:1`). */
export function familiarTag(name: string): string | undefined {
  const r = tryParseName(name);
  if (!r || r.tag === undefined) return undefined;
  return familiarString({ ...r, digest: undefined });
}

/** The familiar repository (`busybox`) of a stored name. */
export function familiarRepo(name: string): string | undefined {
  const r = tryParseName(name);
  return r ? familiarName(r) : undefined;
}

const idPrefix = /^(?:sha256:)?([a-f0-9]{1,64})$/;

/** The hex part when `ref` can be an image id or prefix (`sha256:ab…`, or 12–64 hex characters); else undefined. */
export function idHexOf(ref: string): string | undefined {
  const m = idPrefix.exec(ref);
  if (!m) return undefined;
  if (!ref.startsWith('sha256:') && m[1]!.length < 12) return undefined;
  return m[1];
}

/** The chainIds of a layer stack from its diffIds (image-spec `config.md`, "Layer ChainID"). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : `sha256:${createHash('sha256').update(`${prev} ${d}`).digest('hex')}`);
  }
  return out;
}

/** A Docker reference filter pattern (`busybox*`, `127.0.0.1:5000/app:1.*`) as a RegExp over familiar `name:tag` and `name`. */
export function referencePattern(pattern: string): RegExp {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${re}$`);
}
