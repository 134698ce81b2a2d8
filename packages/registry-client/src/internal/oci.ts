/**
 * Minimal local versions of the OCI nouns this package needs.
 *
 * These belong in @berth/oci-spec (Descriptor, Digest, media types, manifest
 * and index types, platform matching). oci-spec did not export them yet when
 * this package was written, so the registry client declares the narrow
 * structural shapes it uses here. They are structurally compatible with the
 * OCI image spec, so oci-spec's types can replace them without API change.
 */
import { createHash, type Hash } from 'node:crypto';

/** A content digest, `<algorithm>:<hex>` (only sha256 and sha512 are accepted). */
export type Digest = string & { readonly __digest?: never };

/** The platform an image manifest targets (OCI image-spec `image-index.md`). */
export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  features?: string[];
}

/** An OCI content descriptor (image-spec `descriptor.md`). */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
  data?: string;
}

/** An OCI image manifest or Docker schema2 manifest. */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** An OCI image index or Docker manifest list. */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** The media types the client knows. */
export const MediaType = {
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
} as const;

/** Is this media type an index (OCI index or Docker manifest list)? */
export function isIndexMediaType(mt: string | undefined): boolean {
  return mt === MediaType.OciIndex || mt === MediaType.DockerManifestList;
}

/** Is this media type a manifest or an index (something fetched from `/manifests/`)? */
export function isManifestMediaType(mt: string | undefined): boolean {
  return mt === MediaType.OciIndex || mt === MediaType.OciManifest
    || mt === MediaType.DockerManifestList || mt === MediaType.DockerManifest
    || mt === 'application/vnd.docker.distribution.manifest.v1+prettyjws'
    || mt === 'application/vnd.docker.distribution.manifest.v1+json';
}

const digestRe = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/** Is `s` a well-formed sha256 or sha512 digest? */
export function isDigest(s: string): s is Digest {
  return digestRe.test(s);
}

/** The hash algorithm name of a digest (`sha256`). */
export function digestAlgorithm(d: Digest): 'sha256' | 'sha512' {
  return d.startsWith('sha512:') ? 'sha512' : 'sha256';
}

/** A fresh hasher for a digest's algorithm. */
export function hasherFor(d: Digest): Hash {
  return createHash(digestAlgorithm(d));
}

/** The sha256 digest of bytes. */
export function sha256Digest(b: Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** The digest of `b` in the algorithm of `like`. */
export function digestLike(like: Digest, b: Uint8Array): Digest {
  const alg = digestAlgorithm(like);
  return `${alg}:${createHash(alg).update(b).digest('hex')}`;
}

/** The architecture and OS of the running Node process, in OCI terms. */
export function hostPlatform(): Platform {
  const archMap: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return { os: process.platform === 'win32' ? 'windows' : process.platform, architecture: archMap[process.arch] ?? process.arch };
}

/** Normalises a platform's variant the way containerd's `platforms.Normalize` does. */
function normaliseVariant(p: Platform): string | undefined {
  if (p.architecture === 'arm64') return p.variant === undefined || p.variant === 'v8' ? 'v8' : p.variant;
  if (p.architecture === 'arm') return p.variant ?? 'v7';
  return p.variant;
}

/** Does an index entry's platform satisfy the wanted one? Variant and os.version are matched only when wanted. */
export function platformMatches(want: Platform, have: Platform | undefined): boolean {
  if (!have) return false;
  if (want.os !== have.os || want.architecture !== have.architecture) return false;
  if (want.variant !== undefined && normaliseVariant(want) !== normaliseVariant(have)) return false;
  if (want['os.version'] !== undefined && want['os.version'] !== have['os.version']) return false;
  return true;
}

/** Parses `os/arch[/variant]` into a platform. */
export function parsePlatform(s: string): Platform {
  const [os, architecture, variant] = s.split('/');
  if (!os || !architecture) throw new TypeError(`invalid platform ${JSON.stringify(s)}`);
  return variant ? { os, architecture, variant } : { os, architecture };
}
