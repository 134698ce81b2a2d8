/**
 * The distribution client: Resolver, Fetcher and Pusher over the OCI
 * distribution API (containerd `core/remotes/docker/{resolver,fetcher,pusher}.go`,
 * go-containerregistry `pkg/v1/remote`).
 */
import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { repositoryScope } from '../auth/authorizer.js';
import {
  errorFromResponse, RegistryAlreadyExistsError, RegistryCancelledError, RegistryDigestMismatchError, RegistryError, RegistryInvalidArgumentError,
  RegistryNotFoundError, RegistryProtocolError, RegistrySizeMismatchError, RegistryTooLargeError,
} from '../errors.js';
import { Limiter } from '../internal/limiter.js';
import {
  DockerMediaType, formatReference, isBerthError, OciMediaType, parseDockerReference, parseImageJson,
  type ImageReference, type ParsedImageJson,
} from '@berth/oci-spec';
import {
  digestAlgorithm, digestLike, isDigest, isManifestOrIndex, onlyPlatform, selectPlatformEntry,
  type Descriptor, type Digest, type ImageIndex, type ImageManifest,
} from '../internal/oci.js';
import type {
  CallOptions, CommitOptions, FetchedManifest, FetchManifestOptions, Fetcher, FetchOptions, ListOptions, PushOptions, ResolveOptions,
  PushOutcome, Pusher, PushWriter, ReferrersOptions, Resolved, Resolver,
} from '../resolver.js';
import { drain, header, readLimited, toRegistryError, Transport, type Answer, type TransportOptions } from './http.js';
import { verifiedStream } from './verified-stream.js';

/** Options of {@link createRegistryClient}. */
export interface RegistryClientOptions extends TransportOptions {
  /** Concurrent blob transfers across the client (default 8). */
  concurrency?: number;
  /** Largest manifest or index accepted, in bytes (default 4 MiB). */
  maxManifestSize?: number;
  /** Upload chunk size; blobs up to this size go up in one PUT (default 16 MiB). */
  chunkSize?: number;
  /** Resumes allowed per blob fetch after drops or stalls (default 5). */
  maxResumes?: number;
}

/** The Accept list for manifests: OCI index and manifest, Docker manifest list and schema2. */
export const manifestAccept = [
  OciMediaType.ImageIndex, OciMediaType.ImageManifest, DockerMediaType.ManifestList, DockerMediaType.Manifest,
].join(', ');

const defaultMaxManifest = 4 << 20;

function invalid(e: unknown, what: string): never {
  throw new RegistryInvalidArgumentError(`${what}: ${(e as Error).message}`, { cause: e });
}

function parseRef(s: string): ImageReference {
  try {
    const r = parseDockerReference(s);
    if (!r.domain || !r.path) throw new TypeError('no repository');
    return r;
  } catch (e) {
    return invalid(e, `invalid reference ${JSON.stringify(s)}`);
  }
}

function stripParams(ct: string | undefined): string | undefined {
  return ct?.split(';')[0]?.trim() || undefined;
}

/** Parses an RFC 8288 Link header and returns the `rel="next"` target. */
export function nextLink(link: string | undefined): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>\s*(.*)$/.exec(part);
    if (m && /rel="?next"?/i.test(m[2] ?? '')) return m[1];
  }
  return undefined;
}

/**
 * A registry client: resolves references and hands out fetchers and pushers
 * bound to repositories. One client shares one dispatcher (keep-alive pool),
 * one token cache and one concurrency limiter. Close it when done.
 */
export class RegistryClient implements Resolver {
  /** The composed dispatcher, authorizer and settled host origins. */
  readonly transport: Transport;
  /** Bounds blob transfers in flight across this client's fetchers and pushers. */
  readonly limiter: Limiter;
  /** Largest manifest accepted, in bytes. */
  readonly maxManifestSize: number;
  /** Upload chunk size, in bytes. */
  readonly chunkSize: number;
  /** Resumes allowed per blob fetch. */
  readonly maxResumes: number;
  readonly #retryMin: number;
  readonly #retryMax: number;
  readonly #streams = new Set<Readable>();
  #closed = false;

  constructor(options: RegistryClientOptions = {}) {
    this.transport = new Transport(options);
    this.limiter = new Limiter(options.concurrency ?? 8);
    this.maxManifestSize = options.maxManifestSize ?? defaultMaxManifest;
    this.chunkSize = options.chunkSize ?? 16 << 20;
    this.maxResumes = options.maxResumes ?? 5;
    this.#retryMin = options.retry?.minDelayMs ?? 200;
    this.#retryMax = options.retry?.maxDelayMs ?? 10_000;
  }

  /** The hosts tried for pulls from `domain`: its mirrors, then itself. */
  pullHosts(domain: string): string[] {
    return [...(this.transport.hosts[domain]?.mirrors ?? []), domain];
  }

  /** Runs `fn` against each pull host in order; not-found and unavailable move on to the next. */
  async onPullHosts<T>(domain: string, fn: (host: string) => Promise<T>): Promise<T> {
    const hosts = this.pullHosts(domain);
    let last: unknown;
    for (const [i, h] of hosts.entries()) {
      try {
        return await fn(h);
      } catch (e) {
        last = e;
        const moveOn = e instanceof RegistryError && (e.kind === 'not-found' || e.kind === 'unavailable' || e.kind === 'unauthenticated');
        if (!moveOn || i === hosts.length - 1) throw e;
      }
    }
    throw last;
  }

  /** {@inheritDoc Resolver.resolve} */
  async resolve(ref: string, options: ResolveOptions = {}): Promise<Resolved> {
    const r = parseRef(ref);
    const object = r.digest ?? r.tag!;
    const scopes = [repositoryScope(r.path, 'pull')];
    let fetched: Buffer | undefined;
    /** GETs the manifest, digests its bytes (kept in `fetched`) and describes it. */
    const getManifest = async (host: string, path: string): Promise<Descriptor> => {
      const got = await this.transport.request(host, { method: 'GET', path, headers: { accept: manifestAccept }, scopes, ...sig(options) });
      if (got.status !== 200) {
        throw errorFromResponse(`manifest "${formatReference(r)}"`, got.status, await drain(got.body), { method: 'GET', url: got.url });
      }
      const bytes = await readLimited(got.body, this.maxManifestSize, `manifest "${formatReference(r)}"`);
      const digest = digestLike(r.digest, bytes);
      if (r.digest && digest !== r.digest) throw new RegistryDigestMismatchError(r.digest, digest, { url: got.url });
      let mediaType = stripParams(header(got.headers, 'content-type'));
      if (!mediaType || !isManifestOrIndex(mediaType)) {
        try {
          mediaType = (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType;
        } catch { /* fall through */ }
      }
      if (!mediaType) throw new RegistryProtocolError(`manifest "${formatReference(r)}" has no media type`, { url: got.url });
      fetched = bytes;
      return { mediaType, digest, size: bytes.length };
    };
    const descriptor = await this.onPullHosts(r.domain, async (host): Promise<Descriptor> => {
      const path = `/v2/${r.path}/manifests/${object}`;
      fetched = undefined;
      // One round trip: the bytes come with the answer.
      if (options.withManifest) return getManifest(host, path);
      const head = await this.transport.request(host, { method: 'HEAD', path, headers: { accept: manifestAccept }, scopes, ...sig(options) });
      await drain(head.body);
      if (head.status === 200) {
        const digest = header(head.headers, 'docker-content-digest');
        const mediaType = stripParams(header(head.headers, 'content-type'));
        const size = Number(header(head.headers, 'content-length'));
        if (digest && isDigest(digest) && mediaType && isManifestOrIndex(mediaType) && Number.isSafeInteger(size) && size > 0) {
          if (r.digest && digest !== r.digest) throw new RegistryDigestMismatchError(r.digest, digest, { url: head.url });
          return { mediaType, digest: digest as Digest, size };
        }
      } else if (head.status !== 405 && head.status !== 400) {
        throw errorFromResponse(`manifest "${formatReference(r)}"`, head.status, undefined, { method: 'HEAD', url: head.url });
      }
      // No Docker-Content-Digest (or no HEAD support): GET and digest the body ourselves.
      return getManifest(host, path);
    });
    return { name: formatReference(r), descriptor, ...(fetched ? { bytes: fetched } : {}) };
  }

  /** A fetcher for the repository of `ref` (`host/path`, tag or digest ignored). */
  fetcher(ref: string): RegistryFetcher {
    return new RegistryFetcher(this, parseRef(ref));
  }

  /** A pusher for the repository of `ref`; the tag, if any, is where `pushManifest` puts the root. */
  pusher(ref: string): RegistryPusher {
    return new RegistryPusher(this, parseRef(ref));
  }

  /** The tags of a repository, page by page through the Link header. */
  async *tags(repository: string, options: ListOptions = {}): AsyncIterable<string> {
    const r = parseRef(repository);
    const q = options.pageSize ? `?n=${options.pageSize}` : '';
    for await (const page of this.#pages<{ tags?: string[] | null }>(r.domain, `/v2/${r.path}/tags/list${q}`,
      [repositoryScope(r.path, 'pull')], `tags of "${r.domain}/${r.path}"`, options)) {
      yield* page.tags ?? [];
    }
  }

  /** The repositories of a registry host (`_catalog`), page by page. */
  async *catalog(host: string, options: ListOptions = {}): AsyncIterable<string> {
    const q = options.pageSize ? `?n=${options.pageSize}` : '';
    for await (const page of this.#pages<{ repositories?: string[] | null }>(host, `/v2/_catalog${q}`, ['registry:catalog:*'], `catalog of "${host}"`, options)) {
      yield* page.repositories ?? [];
    }
  }

  async *#pages<T>(host: string, first: string, scopes: string[], what: string, options: CallOptions): AsyncIterable<T> {
    let path: string | undefined = first;
    const seen = new Set<string>();
    while (path && !seen.has(path)) {
      seen.add(path);
      const res = await this.transport.request(host, { method: 'GET', path, headers: { accept: 'application/json' }, scopes, ...sig(options) });
      if (res.status !== 200) throw errorFromResponse(what, res.status, await drain(res.body), { method: 'GET', url: res.url });
      const body = await readLimited(res.body, 16 << 20, what);
      try {
        yield JSON.parse(body.toString('utf8')) as T;
      } catch (e) {
        throw new RegistryProtocolError(what, { cause: e, url: res.url });
      }
      path = nextLink(header(res.headers, 'link'));
    }
  }

  /** Deletes a manifest; a tag is first resolved to its digest (the API deletes by digest). */
  async deleteManifest(ref: string, options: CallOptions = {}): Promise<Digest> {
    const r = parseRef(ref);
    const digest = r.digest ?? (await this.resolve(ref, options)).descriptor.digest;
    const res = await this.transport.request(r.domain, {
      method: 'DELETE', path: `/v2/${r.path}/manifests/${digest}`, scopes: [repositoryScope(r.path, 'delete')], ...sig(options),
    });
    const body = await drain(res.body);
    if (res.status !== 202 && res.status !== 200) {
      throw errorFromResponse(`delete manifest "${r.domain}/${r.path}@${digest}"`, res.status, body, { method: 'DELETE', url: res.url });
    }
    return digest;
  }

  /**
   * The referrers of `ref`'s digest: `GET /v2/<name>/referrers/<digest>`, and
   * when the registry has no such API (404), the tag schema fallback: the
   * index tagged `sha256-<hex>`. Filtered by artifact type when asked.
   */
  async referrers(ref: string, options: ReferrersOptions = {}): Promise<Descriptor[]> {
    const r = parseRef(ref);
    if (!r.digest) throw new RegistryInvalidArgumentError(`referrers need a digest reference, got ${JSON.stringify(ref)}`);
    const scopes = [repositoryScope(r.path, 'pull')];
    const q = options.artifactType ? `?artifactType=${encodeURIComponent(options.artifactType)}` : '';
    const what = `referrers of "${r.domain}/${r.path}@${r.digest}"`;
    const res = await this.transport.request(r.domain, {
      method: 'GET', path: `/v2/${r.path}/referrers/${r.digest}${q}`, headers: { accept: OciMediaType.ImageIndex }, scopes, ...sig(options),
    });
    let index: ImageIndex | undefined;
    let filtered = false;
    const ct = stripParams(header(res.headers, 'content-type'));
    if (res.status === 200 && ct === OciMediaType.ImageIndex) {
      index = JSON.parse((await readLimited(res.body, this.maxManifestSize, what)).toString('utf8')) as ImageIndex;
      filtered = header(res.headers, 'oci-filters-applied')?.includes('artifactType') ?? false;
    } else if (res.status === 404 || res.status === 200) {
      await drain(res.body);
      const tag = r.digest.replace(':', '-');
      try {
        const got = await RegistryFetcher.fetchManifestBytes(this.fetcher(`${r.domain}/${r.path}`), r.domain, tag, options);
        index = JSON.parse(got.bytes.toString('utf8')) as ImageIndex;
      } catch (e) {
        if (e instanceof RegistryNotFoundError) return [];
        throw e;
      }
    } else {
      throw errorFromResponse(what, res.status, await drain(res.body), { method: 'GET', url: res.url });
    }
    const list = Array.isArray(index?.manifests) ? index.manifests : [];
    return options.artifactType && !filtered ? list.filter((d) => d.artifactType === options.artifactType) : list;
  }

  /**
   * Closes the client: blob streams still open are destroyed with
   * ERR_REGISTRY_CANCELLED, then the client's own dispatcher is closed (an
   * injected one stays open). Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of this.#streams) s.destroy(new RegistryCancelledError('registry client closed'));
    this.#streams.clear();
    await this.transport.close();
  }

  /** @internal Tracks a blob stream so {@link close} can end it. */
  track(s: Readable): Readable {
    if (this.#closed) {
      s.destroy(new RegistryCancelledError('registry client closed'));
      return s;
    }
    this.#streams.add(s);
    s.once('close', () => this.#streams.delete(s));
    return s;
  }

  /** @internal resume backoff bounds. */
  get resumeDelays(): { min: number; max: number } {
    return { min: this.#retryMin, max: this.#retryMax };
  }
}

function sig(o: CallOptions): { signal?: AbortSignal } {
  return o.signal ? { signal: o.signal } : {};
}

/** Bytes fetched before (`Resolved.bytes`) for `desc`: the same checks as a fetch by digest. */
function checkPrefetched(desc: Descriptor, bytes: Buffer): { bytes: Buffer; mediaType: string | undefined; digest: Digest } {
  if (bytes.length !== desc.size) throw new RegistrySizeMismatchError(desc.digest, desc.size, bytes.length);
  const digest = digestLike(desc.digest, bytes);
  if (digest !== desc.digest) throw new RegistryDigestMismatchError(desc.digest, digest);
  return { bytes, mediaType: desc.mediaType, digest };
}

/** A {@link Fetcher} bound to one repository. */
export class RegistryFetcher implements Fetcher {
  /** Made by {@link RegistryClient.fetcher}. */
  constructor(readonly client: RegistryClient, readonly ref: ImageReference) {}

  /** {@inheritDoc Fetcher.fetch} */
  async fetch(desc: Descriptor, options: FetchOptions = {}): Promise<Readable> {
    if (!isDigest(desc.digest)) throw new RegistryInvalidArgumentError(`invalid digest ${JSON.stringify(desc.digest)}`);
    const offset = options.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > desc.size) throw new RegistryInvalidArgumentError(`invalid offset ${offset}`);
    const c = this.client;
    const kind = isManifestOrIndex(desc.mediaType) ? 'manifests' : 'blobs';
    const path = `/v2/${this.ref.path}/${kind}/${desc.digest}`;
    const scopes = [repositoryScope(this.ref.path, 'pull')];
    const release = await c.limiter.acquire(options.signal).catch((e: unknown) => { throw toRegistryError(e, `blob "${desc.digest}"`, options.signal); });
    return c.onPullHosts(this.ref.domain, (host) => verifiedStream(desc, {
      get: (range, signal) => c.transport.request(host, {
        method: 'GET', path,
        headers: { accept: kind === 'manifests' ? manifestAccept : '*/*', ...(range ? { range } : {}) },
        scopes, ...(signal ? { signal } : {}),
      }),
      release,
    }, {
      offset, hash: options.hash, verify: options.verify !== false, maxResumes: c.maxResumes, minDelayMs: c.resumeDelays.min, maxDelayMs: c.resumeDelays.max,
      ...sig(options),
    })).then((s) => c.track(s), (e: unknown) => { release(); throw e; });
  }

  /** Fetches manifest bytes by digest or tag, size-limited and verified. @internal */
  async #fetchManifestBytes(host: string, object: string, expect: Descriptor | undefined, options: CallOptions & { maxSize?: number }): Promise<{ bytes: Buffer; mediaType: string | undefined; digest: Digest }> {
    const limit = options.maxSize ?? this.client.maxManifestSize;
    const what = `manifest "${this.ref.domain}/${this.ref.path}@${object}"`;
    if (expect && expect.size > limit) throw new RegistryTooLargeError(what, limit);
    const res = await this.client.transport.request(host, {
      method: 'GET', path: `/v2/${this.ref.path}/manifests/${object}`, headers: { accept: manifestAccept },
      scopes: [repositoryScope(this.ref.path, 'pull')], ...sig(options),
    });
    if (res.status !== 200) throw errorFromResponse(what, res.status, await drain(res.body), { method: 'GET', url: res.url });
    const bytes = await readLimited(res.body, limit, what);
    const digest = digestLike(expect?.digest, bytes);
    if (expect) {
      if (bytes.length !== expect.size) throw new RegistrySizeMismatchError(expect.digest, expect.size, bytes.length, { url: res.url });
      if (digest !== expect.digest) throw new RegistryDigestMismatchError(expect.digest, digest, { url: res.url });
    }
    return { bytes, mediaType: stripParams(header(res.headers, 'content-type')), digest };
  }

  /** {@inheritDoc Fetcher.fetchManifest} */
  async fetchManifest(desc: Descriptor, options: FetchManifestOptions = {}): Promise<FetchedManifest> {
    const { prefetched, ...rest } = options;
    const got = prefetched !== undefined
      ? checkPrefetched(desc, Buffer.from(prefetched.buffer, prefetched.byteOffset, prefetched.byteLength))
      : await this.client.onPullHosts(this.ref.domain, (host) => this.#fetchManifestBytes(host, desc.digest, desc, rest));
    options = rest;
    // Untrusted JSON: validated by oci-spec (schema + media type agreement) before anything reads it.
    let parsed: ParsedImageJson;
    try {
      parsed = parseImageJson(got.bytes, desc.mediaType);
    } catch (e) {
      throw new RegistryProtocolError(`manifest "${desc.digest}" is invalid`, {
        cause: e, details: isBerthError(e) ? { ociCode: e.code } : {},
      });
    }
    if (parsed.kind === 'index') {
      const index = parsed.value as ImageIndex;
      if (!options.platform) return { descriptor: desc, bytes: got.bytes, index };
      const want = options.platform;
      const matcher = 'match' in want ? want : onlyPlatform(want);
      const pick = selectPlatformEntry(index.manifests, matcher);
      if (!pick) {
        const name = 'match' in want ? 'the asked platform' : `platform "${want.os}/${want.architecture}${want.variant ? `/${want.variant}` : ''}"`;
        throw new RegistryNotFoundError(`${name} in "${desc.digest}"`);
      }
      return this.fetchManifest(pick, { ...options });
    }
    if (parsed.kind !== 'manifest') throw new RegistryProtocolError(`"${desc.digest}" is neither a manifest nor an index`);
    return { descriptor: desc, bytes: got.bytes, manifest: parsed.value as ImageManifest };
  }

  /** @internal used by {@link RegistryClient.referrers} for the tag schema fallback. */
  static fetchManifestBytes(f: RegistryFetcher, host: string, object: string, options: CallOptions) {
    return f.#fetchManifestBytes(host, object, undefined, options);
  }
}

type UploadState = { location: string };

/** A {@link Pusher} bound to one repository. */
export class RegistryPusher implements Pusher {
  /** Made by {@link RegistryClient.pusher}. */
  constructor(readonly client: RegistryClient, readonly ref: ImageReference) {}

  get #host(): string { return this.ref.domain; }

  #scopes(mountFrom?: string): string[] {
    const s = [repositoryScope(this.ref.path, 'pull,push')];
    if (mountFrom) s.push(repositoryScope(mountFrom, 'pull'));
    return s;
  }

  /** {@inheritDoc Pusher.push} */
  async push(desc: Descriptor, options: PushOptions = {}): Promise<PushWriter> {
    if (!isDigest(desc.digest)) throw new RegistryInvalidArgumentError(`invalid digest ${JSON.stringify(desc.digest)}`);
    const t = this.client.transport;
    if (isManifestOrIndex(desc.mediaType)) {
      const object = options.tag ?? desc.digest;
      const head = await t.request(this.#host, {
        method: 'HEAD', path: `/v2/${this.ref.path}/manifests/${object}`, headers: { accept: manifestAccept }, scopes: this.#scopes(), ...sig(options),
      });
      await drain(head.body);
      if (head.status === 200 && header(head.headers, 'docker-content-digest') === desc.digest) {
        throw new RegistryAlreadyExistsError(`manifest "${this.ref.path}@${object}"`, { details: { outcome: 'exists' } });
      }
      return new ManifestWriter(this, desc, options.tag);
    }
    const head = await t.request(this.#host, {
      method: 'HEAD', path: `/v2/${this.ref.path}/blobs/${desc.digest}`, scopes: this.#scopes(), ...sig(options),
    });
    await drain(head.body);
    if (head.status === 200) throw new RegistryAlreadyExistsError(`blob "${desc.digest}"`, { details: { outcome: 'exists' } });
    if (head.status !== 404) throw errorFromResponse(`blob "${desc.digest}"`, head.status, undefined, { method: 'HEAD', url: head.url });
    let location: string | undefined;
    for (const from of options.mountFrom ?? []) {
      if (from === this.ref.path) continue;
      const res = await t.request(this.#host, {
        method: 'POST', path: `/v2/${this.ref.path}/blobs/uploads/?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(from)}`,
        scopes: this.#scopes(from), ...sig(options),
      });
      const body = await drain(res.body);
      if (res.status === 201) throw new RegistryAlreadyExistsError(`blob "${desc.digest}"`, { details: { outcome: 'mounted', from } });
      if (res.status === 202) { location = header(res.headers, 'location'); break; }
      // The token may not grant pull on a private source repository: fall back to uploading (containerd does the same).
      if (res.status === 401 || res.status === 403) continue;
      if (res.status !== 404) throw errorFromResponse(`mount "${desc.digest}" from "${from}"`, res.status, body, { method: 'POST', url: res.url });
    }
    if (!location) {
      const res = await t.request(this.#host, {
        method: 'POST', path: `/v2/${this.ref.path}/blobs/uploads/`, scopes: this.#scopes(), ...sig(options),
      });
      const body = await drain(res.body);
      if (res.status !== 202) throw errorFromResponse(`upload "${desc.digest}"`, res.status, body, { method: 'POST', url: res.url });
      location = header(res.headers, 'location');
    }
    if (!location) throw new RegistryProtocolError(`upload "${desc.digest}": no Location`);
    return new BlobWriter(this, desc, { location });
  }

  /** {@inheritDoc Pusher.pushBlob} */
  async pushBlob(desc: Descriptor, content: Uint8Array | AsyncIterable<Uint8Array>, options: PushOptions = {}): Promise<PushOutcome> {
    let w: PushWriter;
    try {
      w = await this.push(desc, options);
    } catch (e) {
      if (e instanceof RegistryAlreadyExistsError) return e.details.outcome === 'mounted' ? 'mounted' : 'exists';
      throw e;
    }
    const release = await this.client.limiter.acquire(options.signal).catch(async (e: unknown) => {
      await w.abort().catch(() => undefined);
      throw toRegistryError(e, `blob "${desc.digest}"`, options.signal);
    });
    try {
      if (content instanceof Uint8Array) await w.write(content, options);
      else for await (const chunk of content) await w.write(chunk, options);
      await w.commit({ size: desc.size, digest: desc.digest }, options);
      return 'uploaded';
    } catch (e) {
      await w.abort().catch(() => undefined);
      throw e;
    } finally {
      release();
    }
  }

  /** {@inheritDoc Pusher.pushManifest} */
  async pushManifest(desc: Descriptor, bytes: Uint8Array, options: PushOptions = {}): Promise<PushOutcome> {
    const tag = options.byDigest ? undefined : options.tag ?? this.ref.tag;
    try {
      const { tag: _t, ...rest } = options;
      const w = await this.push(desc, { ...rest, ...(tag ? { tag } : {}) });
      await w.write(bytes, options);
      await w.commit({ size: desc.size, digest: desc.digest }, options);
      return 'uploaded';
    } catch (e) {
      if (e instanceof RegistryAlreadyExistsError) return 'exists';
      throw e;
    }
  }

  /** @internal */
  async putManifest(desc: Descriptor, bytes: Buffer, tag: string | undefined, options: CallOptions): Promise<void> {
    const object = tag ?? desc.digest;
    const res = await this.client.transport.request(this.#host, {
      method: 'PUT', path: `/v2/${this.ref.path}/manifests/${object}`, headers: { 'content-type': desc.mediaType },
      body: bytes, scopes: this.#scopes(), ...sig(options),
    });
    const body = await drain(res.body);
    if (res.status !== 201 && res.status !== 200) {
      throw errorFromResponse(`manifest "${this.ref.path}:${object}"`, res.status, body, { method: 'PUT', url: res.url });
    }
    const got = header(res.headers, 'docker-content-digest');
    if (got && got !== desc.digest) throw new RegistryDigestMismatchError(desc.digest, got, { url: res.url });
  }

  /** @internal */
  async upload(method: 'PATCH' | 'PUT', state: UploadState, query: string, body: Buffer, headers: Record<string, string>, options: CallOptions): Promise<Answer> {
    const base = await this.client.transport.origin(this.#host, options.signal);
    const u = new URL(state.location, base);
    for (const [k, v] of new URLSearchParams(query)) u.searchParams.set(k, v);
    return this.client.transport.request(this.#host, {
      method, path: u.toString(), headers: { 'content-type': 'application/octet-stream', ...headers }, body, scopes: this.#scopes(),
      // An upload moved to another origin does not get the registry's credentials.
      anonymous: u.origin !== base, ...sig(options),
    });
  }

  /** @internal */
  async cancelUpload(state: UploadState): Promise<void> {
    const base = await this.client.transport.origin(this.#host);
    const u = new URL(state.location, base);
    const res = await this.client.transport.request(this.#host, { method: 'DELETE', path: u.toString(), scopes: this.#scopes(), anonymous: u.origin !== base });
    await drain(res.body);
  }
}

/** Writes a blob: chunks with PATCH as they fill, PUT ?digest= on commit (one PUT when it fits a chunk). */
class BlobWriter implements PushWriter {
  #offset = 0;
  #uploaded = 0;
  #parts: Buffer[] = [];
  #buffered = 0;
  readonly #hash: Hash;
  #done = false;

  constructor(readonly pusher: RegistryPusher, readonly desc: Descriptor, readonly state: UploadState) {
    this.#hash = createHash(digestAlgorithm(desc.digest));
  }

  get offset(): number { return this.#offset; }

  async write(chunk: Uint8Array, options: CallOptions = {}): Promise<void> {
    const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.#hash.update(b);
    this.#offset += b.length;
    this.#parts.push(b);
    this.#buffered += b.length;
    if (this.#buffered >= this.pusher.client.chunkSize) await this.#flush(options);
  }

  async #flush(options: CallOptions): Promise<void> {
    if (this.#buffered === 0) return;
    const body = Buffer.concat(this.#parts, this.#buffered);
    this.#parts = [];
    this.#buffered = 0;
    const start = this.#uploaded;
    const end = start + body.length - 1;
    // distribution's Content-Range for PATCH is `<start>-<end>` without a unit (spec: "Pushing a blob in chunks").
    const res = await this.pusher.upload('PATCH', this.state, '', body, { 'content-range': `${start}-${end}`, 'content-length': String(body.length) }, options);
    const errBody = await drain(res.body);
    if (res.status !== 202) throw errorFromResponse(`upload "${this.desc.digest}" chunk ${start}-${end}`, res.status, errBody, { method: 'PATCH', url: res.url });
    this.#uploaded = end + 1;
    const loc = header(res.headers, 'location');
    if (loc) this.state.location = loc;
  }

  async commit(expected: CommitOptions, options: CallOptions = {}): Promise<void> {
    if (this.#done) throw new RegistryInvalidArgumentError(`upload "${this.desc.digest}" already finished`);
    const actual = `${digestAlgorithm(expected.digest)}:${this.#hash.digest('hex')}` as Digest;
    if (this.#offset !== expected.size) throw new RegistrySizeMismatchError(expected.digest, expected.size, this.#offset);
    if (actual !== expected.digest) throw new RegistryDigestMismatchError(expected.digest, actual);
    this.#done = true;
    let body = Buffer.alloc(0);
    if (this.#uploaded === 0) {
      // Monolithic: the whole blob in the PUT.
      body = Buffer.concat(this.#parts, this.#buffered);
      this.#parts = [];
      this.#buffered = 0;
    } else {
      await this.#flush(options);
    }
    const res = await this.pusher.upload('PUT', this.state, `digest=${expected.digest}`, body, { 'content-length': String(body.length) }, options);
    const errBody = await drain(res.body);
    // 201 is the specified answer; some registries send 200, 202 or 204.
    if (![200, 201, 202, 204].includes(res.status)) throw errorFromResponse(`upload "${expected.digest}"`, res.status, errBody, { method: 'PUT', url: res.url });
    const got = header(res.headers, 'docker-content-digest');
    if (got && got !== expected.digest) throw new RegistryDigestMismatchError(expected.digest, got, { url: res.url });
  }

  async abort(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    this.#parts = [];
    await this.pusher.cancelUpload(this.state).catch(() => undefined);
  }
}

/** Buffers a manifest and PUTs it (by tag or digest) on commit. */
class ManifestWriter implements PushWriter {
  #parts: Buffer[] = [];
  #offset = 0;
  #done = false;

  constructor(readonly pusher: RegistryPusher, readonly desc: Descriptor, readonly tag: string | undefined) {}

  get offset(): number { return this.#offset; }

  async write(chunk: Uint8Array): Promise<void> {
    this.#offset += chunk.byteLength;
    if (this.#offset > this.pusher.client.maxManifestSize) throw new RegistryTooLargeError(`manifest "${this.desc.digest}"`, this.pusher.client.maxManifestSize);
    this.#parts.push(Buffer.from(chunk));
  }

  async commit(expected: CommitOptions, options: CallOptions = {}): Promise<void> {
    if (this.#done) throw new RegistryInvalidArgumentError(`manifest "${this.desc.digest}" already committed`);
    const bytes = Buffer.concat(this.#parts);
    if (bytes.length !== expected.size) throw new RegistrySizeMismatchError(expected.digest, expected.size, bytes.length);
    const actual = digestLike(expected.digest, bytes);
    if (actual !== expected.digest) throw new RegistryDigestMismatchError(expected.digest, actual);
    this.#done = true;
    await this.pusher.putManifest(this.desc, bytes, this.tag, options);
  }

  async abort(): Promise<void> {
    this.#done = true;
    this.#parts = [];
  }
}

/** Creates a registry client. */
export function createRegistryClient(options: RegistryClientOptions = {}): RegistryClient {
  return new RegistryClient(options);
}
