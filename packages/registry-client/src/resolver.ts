/**
 * The registry client's contracts: Resolver, Fetcher, Pusher (containerd
 * `core/remotes/resolver.go`). Interfaces and types only.
 *
 * A resolver turns an image reference into a root descriptor. A fetcher,
 * bound to one repository, hands back verified byte streams for descriptors.
 * A pusher, bound to one repository, hands back a writer per descriptor, so
 * pushing looks like writing to a content store: `write` then
 * `commit({ size, digest })`. The client knows nothing of any store; the
 * engine composes pull (resolve → fetch → store) and push.
 *
 * Worked example:
 *
 * ```ts
 * const client = createRegistryClient({ credentials: dockerConfigCredentials() });
 * const { name, descriptor } = await client.resolve('127.0.0.1:5000/app:1');
 * const fetcher = client.fetcher(name);
 * const manifest = await fetcher.fetchManifest(descriptor, { platform: { os: 'linux', architecture: 'arm64' } });
 * for (const layer of manifest.manifest.layers) {
 *   await pipeline(await fetcher.fetch(layer), store.writer(layer)); // verified as it flows
 * }
 * const pusher = client.pusher('127.0.0.1:5000/copy:1');
 * const w = await pusher.push(layer);           // throws ERR_REGISTRY_ALREADY_EXISTS if present
 * await w.write(bytes); await w.commit({ size, digest });
 * ```
 */
import type { Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { CallOptions, Descriptor, Digest, ImageIndex, ImageManifest, Platform, PlatformMatcher } from '@berth/oci-spec';

/**
 * Options every I/O call takes, last: oci-spec's shared `CallOptions` (an
 * aborted `signal` fails the call with ERR_REGISTRY_CANCELLED).
 */
export type { CallOptions };

/** What {@link Resolver.resolve} returns. */
export interface Resolved {
  /** The normalised reference (`127.0.0.1:5000/app:1`, `docker.io/library/alpine:latest`). */
  name: string;
  /** The root descriptor: an index, a manifest list, or a manifest. */
  descriptor: Descriptor;
  /**
   * Its bytes, when they were fetched to resolve it (`{ withManifest: true }`,
   * or a registry without Docker-Content-Digest on HEAD); their digest is the
   * descriptor's. Hand them to {@link Fetcher.fetchManifest} as `prefetched`.
   */
  bytes?: Buffer;
}

/** Options of {@link Resolver.resolve}. */
export interface ResolveOptions extends CallOptions {
  /**
   * GET the manifest instead of HEAD (one round trip where resolve + fetch
   * take two): `Resolved.bytes` holds it, digested here.
   */
  withManifest?: boolean;
}

/** Resolves image references to descriptors. */
export interface Resolver {
  /**
   * HEAD `/v2/<name>/manifests/<tag|digest>` with the full Accept list; falls
   * back to GET (and digests the body) when the registry sends no
   * Docker-Content-Digest. With `withManifest`, GET at once (the bytes come
   * back in `Resolved.bytes`). Tries the host's mirrors first, then the origin.
   */
  resolve(ref: string, options?: ResolveOptions): Promise<Resolved>;
}

/** Options of {@link Fetcher.fetch}. */
export interface FetchOptions extends CallOptions {
  /** Start at this byte (Range request). */
  offset?: number;
  /**
   * A hasher that has already seen the first `offset` bytes, to keep digest
   * verification across a caller-side resume. Without it, a fetch from an
   * offset verifies only the size.
   */
  hash?: Hash;
  /**
   * Check the digest here (default true). false: only the size is checked
   * and the bytes flow unhashed, for a caller that hashes them anyway and
   * acts on the result before trusting them (a content store writer, whose
   * commit verifies the digest); hashing twice costs a full pass per blob.
   */
  verify?: boolean;
}

/** Options of {@link Fetcher.fetchManifest}. */
export interface FetchManifestOptions extends CallOptions {
  /**
   * When the descriptor is an index, select a manifest: a platform (matched
   * with oci-spec's `onlyPlatform`, so compatible variants count) or a matcher.
   */
  platform?: Platform | PlatformMatcher;
  /** Largest manifest accepted, in bytes (default 4 MiB). */
  maxSize?: number;
  /**
   * The descriptor's bytes, fetched already (`Resolved.bytes`): checked
   * against the descriptor's size and digest and parsed, without a request.
   * A child picked from an index is fetched as usual.
   */
  prefetched?: Uint8Array;
}

/** A fetched, verified manifest or index, with its raw bytes. */
export interface FetchedManifest {
  /** The descriptor of the document returned (the selected manifest when a platform was asked). */
  descriptor: Descriptor;
  /** The exact bytes, verified against `descriptor.digest`. */
  bytes: Buffer;
  /** The parsed manifest, when it is one. */
  manifest?: ImageManifest;
  /** The parsed index, when it is one (and no platform was asked). */
  index?: ImageIndex;
}

/** Reads content of one repository. Every stream is verified. */
export interface Fetcher {
  /**
   * A stream of the descriptor's bytes. Digest and size are checked as bytes
   * flow; the last chunk is held back until the digest checks, so a mismatch
   * errors the stream (ERR_REGISTRY_DIGEST_MISMATCH, data-loss) before it ends
   * and nothing is handed on as valid. Dropped connections resume with
   * `Range: bytes=N-`; a stall (no bytes for `stallTimeoutMs`) aborts and resumes.
   */
  fetch(desc: Descriptor, options?: FetchOptions): Promise<Readable>;
  /** Fetches a manifest or index (size-limited, verified), selecting a platform when asked. */
  fetchManifest(desc: Descriptor, options?: FetchManifestOptions): Promise<FetchedManifest>;
}

/** What a pusher writer's `commit` checks. */
export interface CommitOptions {
  /** Total size written; must equal the descriptor's. */
  size: number;
  /** Digest of what was written; must equal the descriptor's. */
  digest: Digest;
}

/** Writes one blob or manifest to a registry. Nothing is visible before `commit`. */
export interface PushWriter {
  /** Bytes accepted so far. */
  readonly offset: number;
  /** Appends bytes; uploads in chunks as they fill. */
  write(chunk: Uint8Array, options?: CallOptions): Promise<void>;
  /** Finishes the upload (PUT ?digest=, or the manifest PUT) after checking size and digest. */
  commit(expected: CommitOptions, options?: CallOptions): Promise<void>;
  /** Cancels the upload session (DELETE on the upload URL). Idempotent. */
  abort(): Promise<void>;
}

/** Options of {@link Pusher.push}. */
export interface PushOptions extends CallOptions {
  /** Repositories on the same registry to try a cross-repository mount from, in order. */
  mountFrom?: string[];
  /** For manifests: PUT by this tag instead of by digest (`pushManifest` defaults to the pusher's tag). */
  tag?: string;
  /** For `pushManifest`: PUT by digest even though the pusher's reference has a tag (children of an index). */
  byDigest?: boolean;
}

/** How a blob reached the registry. */
export type PushOutcome = 'exists' | 'mounted' | 'uploaded';

/** Writes content to one repository. */
export interface Pusher {
  /**
   * Starts pushing `desc`. HEADs first; for blobs, tries a cross-repository
   * mount from each `mountFrom` repository. Throws ERR_REGISTRY_ALREADY_EXISTS
   * when nothing needs uploading (containerd's pusher does the same).
   */
  push(desc: Descriptor, options?: PushOptions): Promise<PushWriter>;
  /** Convenience: pushes a whole blob from a stream, buffer or iterable; reports how it got there. */
  pushBlob(desc: Descriptor, content: Uint8Array | AsyncIterable<Uint8Array>, options?: PushOptions): Promise<PushOutcome>;
  /** Convenience: PUTs a manifest or index by tag (when given) or by digest. */
  pushManifest(desc: Descriptor, bytes: Uint8Array, options?: PushOptions): Promise<PushOutcome>;
}

/** Options of the listing calls. */
export interface ListOptions extends CallOptions {
  /** Page size asked of the registry (`n`). */
  pageSize?: number;
}

/** Options of the referrers call. */
export interface ReferrersOptions extends CallOptions {
  /** Only referrers with this artifact type. */
  artifactType?: string;
}
