/**
 * LocalImageService: Docker's image operations composed from an
 * {@link ImageStore} (content, names, leases, GC), a registry client and a
 * {@link Snapshotter}. This is where pull → store → unpack crosses packages.
 *
 * Pull, in order (containerd `client/pull.go` + `core/unpack`):
 * 1. a lease is taken so nothing fetched can be collected mid-pull (its
 *    file written while the name resolves);
 * 2. the name is resolved (one GET brings the manifest); the index (if any)
 *    is read and the platform's manifest picked; manifest and config are
 *    staged in the pull's commit batch;
 * 3. every missing layer blob is fetched concurrently into the store
 *    (resuming a partial ingest left by an interrupted pull), hashed once by
 *    the store's writer and staged once its digest checks out; blobs already
 *    present are skipped;
 * 4. layers are unpacked straight from their downloads as the bytes arrive,
 *    all at once where the snapshotter allows it (`capabilities.activeParent`:
 *    overlay), else one after another (copy). Each layer goes into a fresh
 *    active snapshot over its parent (the parent's active snapshot while it
 *    is still being unpacked; an entry that needs a lower layer waits for
 *    it), its diffId is checked against the config's `rootfs.diff_ids`, its
 *    blob must be verified (staged), and it is committed as its chainId in
 *    layer order; commits ready together share one syncfs;
 * 5. the batch is committed (the blobs' fsyncs, started at staging, then one
 *    publish: lease edit, renames, one directory fsync) beside the last
 *    snapshot commits;
 * 6. the name is tagged in the image index (the image becomes visible) and
 *    the lease is released.
 * A failure at any step leaves no visible image; committed blobs and
 * snapshots are reused by the next attempt.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import {
  OciMediaType, digestOf, formatPlatform, formatReference, hostPlatform, isBerthError, onlyPlatform,
  parseImageConfig, parseManifest, selectPlatformEntry, throwIfAborted,
  type Descriptor, type Digest, type ImageConfig, type ImageManifest, type Platform,
} from '@berth/oci-spec';
import {
  exportDockerArchive, importDockerArchive, openLocalStore, readBlob, writeBlob,
  type CommitBatch, type ContentWriter, type ImageStore,
} from '@berth/image-store';
import type { Fetcher, Pusher, Resolver } from '@berth/registry-client';
import { LazyRegistryClient, registryOptionsOf, type LazyRegistryOptions } from './lazy-registry.js';
import {
  applyLayerToMounts, openCopySnapshotter, openOverlaySnapshotter, type Snapshotter,
} from '@berth/cow-fs';
import type { EventInput } from '../event.js';
import type {
  ImageDeleteItem, ImageHistoryItem, ImageInspect, ImageInUse, ImageProgress, ImageService, ImageSummary, ImportImageOptions,
  ListImagesOptions, PruneImagesOptions, PruneImagesResult, PullOptions, PullResult, PushImageOptions, RemoveImageOptions,
  ResolvedImage,
} from '../images.js';
import { atomicWriteJson } from '../internal/atomic.js';
import { isoToNs, labelMatches, pruneFilter } from '../internal/prune-filters.js';
import { isSameProcessAlive, processStartTicks } from '../internal/proc.js';
import {
  ImageAmbiguousIdError, ImageConflictError, ImageDiffIdMismatchError, ImageInUseError, ImageInvalidError, ImageNotFoundError,
  ImagePlatformNotFoundError, ImageServiceClosedError,
} from './errors.js';
import { chainIds, familiarRepo, familiarTag, idHexOf, normalizeImageName, parseImageName, referencePattern } from './names.js';
import { withFlock } from '../internal/flock.js';
import { LayerFeed } from './layer-feed.js';
import { readableChunks } from '../internal/chunks.js';
import { counted, shortDigest } from './progress.js';

/** Annotation on a name's index entry: the digest the registry served for it (index or manifest), Docker's RepoDigest. */
export const RepoDigestAnnotation = 'io.berth.image.repo-digest';
/** Snapshot labels the image service sets on the layer snapshots it commits. */
export const SnapshotLabel = {
  /** Marks a committed layer snapshot owned by the image service. */
  ImageLayer: 'berth/image-layer',
  /** The digest of the blob the layer was unpacked from. */
  LayerDigest: 'berth/layer.digest',
  /** The uncompressed size of the layer. */
  LayerSize: 'berth/layer.size',
  /** On an unpack's active snapshot: `<pid> <start ticks>` of the process unpacking into it. */
  UnpackOwner: 'berth/unpack.owner',
  /**
   * On a layer a pull committed: the id of that pull's lease. While the lease
   * lives (until the image is tagged), `rmi` and `image prune` in any process
   * keep the layer, which no name needs yet.
   */
  PullLease: 'berth/pull.lease',
} as const;

/** The registry roles the service needs: resolve, fetch, push. */
export interface ImageRegistry extends Resolver {
  fetcher(ref: string): Fetcher;
  pusher(ref: string): Pusher;
  close?(): Promise<void>;
}

/** Publishes engine events (the engine's EventBus satisfies it). */
export interface ImageEventSink {
  publish(e: EventInput): Promise<unknown>;
}

/** Options of {@link openLocalImageService}. */
export interface LocalImageServiceOptions {
  /** The engine root: content in `<root>/content`, snapshots in `<root>/snapshots/<backend>`, metadata in `<root>/images`. */
  root: string;
  /** An injected content store (default: the OCI layout at `<root>/content`). */
  store?: ImageStore;
  /** An injected snapshotter (default: overlay, else copy). */
  snapshotter?: Snapshotter;
  /** An injected registry client (default: `createRegistryClient(registryOptions)`, loaded on first use; loopback registries work over plain HTTP). */
  registry?: ImageRegistry;
  /**
   * Options of the default registry client and of the one a push with
   * credentials makes (its `credentials` replaced): an object, or a function
   * called when a registry is first contacted (say, to read a CA file then).
   */
  registryOptions?: LazyRegistryOptions;
  /** Whether a container uses an image (by id); `remove` and `prune` respect it. */
  isInUse?: ImageInUse;
  /** Where image events (pull, push, tag, untag, delete, load, import, save, prune) go. */
  events?: ImageEventSink;
  /** The default platform of pulls (default: this host's). */
  platform?: Platform;
  /** Layer blobs downloaded at once per pull (default 6). */
  concurrency?: number;
  /**
   * Bytes of a layer buffered in memory while it waits for its turn to be
   * unpacked straight from the download (default 64 MiB; 0: always unpack
   * from the stored blob).
   */
  feedLimitBytes?: number;
}

interface Meta {
  /** Dangling images: manifest digest → descriptor. */
  dangling: Record<string, Descriptor>;
  /** Last tag time per image id. */
  tagged: Record<string, string>;
}

interface Entry {
  name?: string;
  target: Descriptor;
}

interface Loaded {
  manifestDesc: Descriptor;
  manifest: ImageManifest;
  configBytes: Buffer;
  config: ImageConfig;
  id: Digest;
}

const noop = (): void => undefined;

/** A pull's lease: its id at once, its file written in the background. */
interface PullLease {
  id: string;
  /** Settles once the lease exists (rejects when it could not be created). */
  ready: Promise<void>;
  /** Adds a stored blob to the lease (after `ready`). */
  hold(digest: string): Promise<void>;
}

/** The labels of a layer snapshot a pull commits (its lease exists first: a prune elsewhere must see it alive). */
async function layerLabels(layer: Descriptor, size: number, lease?: PullLease): Promise<Record<string, string>> {
  const labels: Record<string, string> = { [SnapshotLabel.ImageLayer]: 'true', [SnapshotLabel.LayerDigest]: layer.digest, [SnapshotLabel.LayerSize]: String(size) };
  if (lease !== undefined) {
    await lease.ready;
    labels[SnapshotLabel.PullLease] = lease.id;
  }
  return labels;
}

/** Yields `source` and hands each chunk to `feed` too. */
async function* tap(source: AsyncIterable<Uint8Array>, feed: LayerFeed): AsyncGenerator<Uint8Array> {
  for await (const c of source) {
    await feed.push(c);
    yield c;
  }
}
const code = (e: unknown): string | undefined => (isBerthError(e) ? e.code : undefined);

/**
 * Opens the image service over `root`, creating the content store and the
 * snapshotter unless injected. The snapshots in use by containers (active
 * snapshots) are reported to the store's GC as roots.
 */
export async function openLocalImageService(opts: LocalImageServiceOptions): Promise<LocalImageService> {
  const root = path.resolve(opts.root);
  await fs.mkdir(path.join(root, 'images'), { recursive: true, mode: 0o700 });
  const store = opts.store ?? await openLocalStore(path.join(root, 'content'));
  let snapshotter = opts.snapshotter;
  if (!snapshotter) {
    try {
      snapshotter = await openOverlaySnapshotter(path.join(root, 'snapshots', 'overlay'));
    } catch (e) {
      if (code(e) !== 'ERR_SNAPSHOTTER_UNSUPPORTED') throw e;
      snapshotter = await openCopySnapshotter(path.join(root, 'snapshots', 'copy'));
    }
  }
  const registry = opts.registry ?? new LazyRegistryClient(opts.registryOptions);
  const owned = { store: opts.store === undefined, snapshotter: opts.snapshotter === undefined, registry: opts.registry === undefined };
  const service = new LocalImageService(root, store, snapshotter, registry, owned, opts);
  await service.cleanupUnpacks();
  return service;
}

/** The {@link ImageService} of {@link openLocalImageService}. */
export class LocalImageService implements ImageService {
  /** The content store (blobs, names, leases). */
  readonly store: ImageStore;
  /** The snapshotter holding the unpacked layers (named by chainId). */
  readonly snapshotter: Snapshotter;
  /** The registry client. */
  readonly registry: ImageRegistry;
  readonly #metaFile: string;
  readonly #lockFile: string;
  readonly #owned: { store: boolean; snapshotter: boolean; registry: boolean };
  readonly #isInUse: ImageInUse;
  readonly #events?: ImageEventSink;
  readonly #platform: Platform;
  readonly #concurrency: number;
  readonly #feedLimit: number;
  readonly #registryOptions: LazyRegistryOptions | undefined;
  readonly #removeRoot: () => void;
  readonly #manifests = new Map<string, Loaded>();
  #lock: Promise<unknown> = Promise.resolve();
  #closed = false;

  /** Use {@link openLocalImageService}. */
  constructor(
    root: string, store: ImageStore, snapshotter: Snapshotter, registry: ImageRegistry,
    owned: { store: boolean; snapshotter: boolean; registry: boolean }, opts: LocalImageServiceOptions,
  ) {
    this.store = store;
    this.snapshotter = snapshotter;
    this.registry = registry;
    this.#owned = owned;
    this.#metaFile = path.join(root, 'images', 'meta.json');
    this.#lockFile = path.join(root, 'images', 'meta.lock');
    this.#isInUse = opts.isInUse ?? (() => false);
    this.#events = opts.events;
    this.#platform = opts.platform ?? hostPlatform();
    this.#concurrency = opts.concurrency ?? 6;
    this.#feedLimit = opts.feedLimitBytes ?? 64 * 1024 * 1024;
    this.#registryOptions = opts.registryOptions;
    this.#removeRoot = store.addRootProvider(() => this.#gcRoots());
  }

  // ---------------------------------------------------------------------------
  // pull

  /** Pulls, stores, unpacks and tags `ref`; see the module comment for the steps. */
  async pull(ref: string, opts: PullOptions = {}): Promise<PullResult> {
    this.#open();
    const { signal } = opts;
    const emit = opts.onProgress ?? noop;
    const r = parseImageName(ref);
    const name = formatReference(r);
    const platform = opts.platform ?? this.#platform;
    throwIfAborted(signal, 'pull');
    // The lease file is written (a durable write) while the name resolves;
    // everything that needs it waits for it (`lease.ready`).
    const lease = this.#pullLease(name);
    // Every blob of the pull is verified as it arrives and staged here; they
    // are made durable together (one sync pass, not one fsync per blob, each
    // waiting behind the unpacked layers' dirty data) and visible before the
    // snapshots that need them are committed and before the tag. The batch
    // adds them to the lease as it publishes them; the writers take no lease
    // (while staged, their ingest locks guard them), so opening one costs no
    // durable lease edit (fsyncs that would hold the I/O threads the inflate
    // and unpack need).
    const batch = this.store.commitBatch({ lease: lease.id });
    const publish = async (): Promise<unknown> => { await lease.ready; return batch.commit({ signal }); };
    try {
      emit({ status: `Pulling from ${familiarRepo(name) ?? r.name}`, id: r.tag ?? r.digest });
      // One round trip for resolve + manifest: the GET by tag brings the bytes (checked against their digest).
      const resolved = await this.registry.resolve(name, { signal, withManifest: true });
      const fetcher = this.registry.fetcher(resolved.name);
      let manifestDesc = resolved.descriptor;
      let fetched = await fetcher.fetchManifest(resolved.descriptor, { signal, ...(resolved.bytes ? { prefetched: resolved.bytes } : {}) });
      if (fetched.index) {
        const entry = selectPlatformEntry(fetched.index.manifests as Descriptor[], onlyPlatform(platform));
        if (!entry) throw new ImagePlatformNotFoundError(name, formatPlatform(platform));
        manifestDesc = entry;
        fetched = await fetcher.fetchManifest(entry, { signal });
      }
      if (!fetched.manifest) throw new ImageInvalidError('manifest', `${manifestDesc.mediaType} is not an image manifest`);
      const manifest = fetched.manifest;
      manifestDesc = { mediaType: fetched.descriptor.mediaType ?? manifestDesc.mediaType, digest: fetched.descriptor.digest, size: fetched.bytes.length };
      let downloaded = false;

      const layers = manifest.layers;
      // The config is read from the registry into memory and parsed as soon as its digest checks
      // out (staged beside the layers); its request goes out first: the unpack waits for it.
      const configFetched = this.#fetchConfig(fetcher, manifest.config, batch, lease, signal);
      configFetched.catch(() => undefined);
      const configIn = configFetched.then(noop, noop);
      // The manifest blob is staged once the config is in (see the layer downloads below), beside
      // the layers (it is held by the lease; only the tag at the end makes it visible).
      const manifestStored = configIn.then(() => this.#stageBytes(batch, manifestDesc, fetched.bytes, lease, signal));
      manifestStored.catch(() => undefined);
      const present = await Promise.all(layers.map((l) => this.store.info(l.digest).then(() => true, () => false)));
      for (let i = 0; i < layers.length; i++) {
        if (!present[i]) emit({ status: 'Pulling fs layer', id: shortDigest(layers[i]!.digest), progressDetail: {} });
      }
      // Layer downloads start now, concurrently (bounded), beside the config;
      // each settles when its blob is committed.
      // (A digest listed twice is downloaded once; its second entry reads the stored blob.)
      const first = layers.map((l, i) => layers.findIndex((o) => o.digest === l.digest) === i);
      const feeds = layers.map((_, i) => (present[i] || !first[i] || this.#feedLimit <= 0 ? undefined : new LayerFeed(this.#feedLimit)));
      // Downloads stop when the pull fails (the caller's signal, or a failed unpack): partial ingests stay, resumable.
      const stop = new AbortController();
      const dlSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
      // The layer GETs go out now; their ingests are opened once the config is
      // in (a few synchronous file creations each, which would delay the
      // config's answer, and with it the snapshots' prepare, the unpack's start).
      const downloads = this.#downloadAll(fetcher, layers, present, feeds, batch, lease, emit, dlSignal, configIn);
      // Failures are handled where each is awaited (or in the finally below), never left unhandled meanwhile.
      for (const d of downloads) d.catch(() => undefined);
      const configStored = configFetched.then((c) => c.stored);
      configStored.catch(() => undefined);
      let chain: string[] = [];
      // Unpacking follows in layer order: from the download itself while it
      // is still running (the layer's feed), else from the stored blob.
      try {
        // The config names the diffIds the layers must unpack to.
        let configBytes = (await configFetched).bytes;
        if (configBytes === undefined) {
          if (await configStored) downloaded = true;
          await publish();
          configBytes = await readBlob(this.store, manifest.config, { signal });
        }
        const config = parseImageConfig(configBytes, manifest.config.mediaType).value;
        const diffIds = config.rootfs.diff_ids;
        if (diffIds.length !== layers.length) {
          throw new ImageInvalidError('config', `${layers.length} layers but ${diffIds.length} diff_ids`, { details: { manifest: manifestDesc.digest } });
        }
        chain = chainIds(diffIds);
        // Which layers are already unpacked: a snapshot with the chainId exists (and so do its parents).
        const unpacked = await this.#claimUnpacked(chain, lease, signal);
        for (let i = 0; i < layers.length; i++) {
          if (!unpacked[i]) continue;
          feeds[i]?.abandon();
          if (present[i]) emit({ status: 'Already exists', id: shortDigest(layers[i]!.digest), progressDetail: {} });
        }
        // From the download while it runs, when it fetches the blob from its first byte (not a resumed ingest); else the stored blob.
        const sourceOf = (i: number): (() => Promise<AsyncIterable<Uint8Array>>) => async () => {
          const feed = feeds[i];
          if (feed !== undefined && await feed.ready && feed.claim()) return feed.stream();
          await downloads[i];
          await publish();
          return this.store.open(layers[i]!.digest, { signal });
        };
        // Unpacked layers are a prefix (a chainId names its parents too).
        let from = unpacked.indexOf(false);
        if (from < 0) from = layers.length;
        for (let i = 0; i < from; i++) if (await downloads[i]!) downloaded = true;
        if (layers.length - from > 1 && this.snapshotter.capabilities?.activeParent === true) {
          const sources = layers.map((_, i) => (i < from ? undefined : sourceOf(i)));
          from = await this.#unpackChain(layers, diffIds, chain, from, sources, downloads, publish, emit, lease, signal);
          downloaded = true;
          // Gave up part-way (another pull's snapshot): the feeds left are spent or unread; never let a download wait on them.
          for (let i = from; i < layers.length; i++) feeds[i]?.cancel();
        }
        for (let i = from; i < layers.length; i++) {
          const layer = layers[i]!;
          if (await this.#snapshotExists(chain[i]!)) { if (await downloads[i]!) downloaded = true; continue; }
          // (After a concurrent attempt gave up, its feeds are cancelled: the stored blobs are read.)
          await this.#unpackLayer(layer, diffIds[i]!, chain[i]!, i === 0 ? undefined : chain[i - 1], emit, signal, sourceOf(i), downloads[i], lease);
          downloaded = true;
          emit({ status: 'Pull complete', id: shortDigest(layer.digest), progressDetail: {} });
        }
      } catch (e) {
        // Never leave downloads running (or waiting on an unpacker) past a failed unpack.
        stop.abort(e);
        for (const f of feeds) f?.cancel();
        throw e;
      } finally {
        await Promise.allSettled([...downloads, configStored, manifestStored]);
      }
      await Promise.all(downloads);
      if (await configStored) downloaded = true;

      // Manifest last, then the name: the image becomes visible only now.
      await manifestStored;
      await publish();
      const repoDigest = resolved.descriptor.digest;
      let changed = false;
      await this.#exclusive(async () => {
        const previous = (await this.#entries()).find((e) => e.name === name);
        changed = previous?.target.digest !== manifestDesc.digest || previous?.target.annotations?.[RepoDigestAnnotation] !== repoDigest;
        const tagged = this.store.images.tag(name, { ...manifestDesc, annotations: { [RepoDigestAnnotation]: repoDigest } }, { signal });
        tagged.catch(noop);
        const id = parseImageConfigDigest(manifest);
        const meta = await this.#readMeta();
        if (meta.dangling[manifestDesc.digest]) {
          // A dangling image named again stops being dangling only once the name is written.
          await tagged;
          await this.#updateMeta((m) => {
            delete m.dangling[manifestDesc.digest];
            if (changed) m.tagged[id] = new Date().toISOString();
          });
        } else if (changed) {
          // The tag time and the name are two files, each an fsynced atomic write: written at once
          // (both settle before the lock is let go; the first failure is thrown).
          const written = await Promise.allSettled([tagged, this.#updateMeta((m) => { m.tagged[id] = new Date().toISOString(); })]);
          for (const w of written) if (w.status === 'rejected') throw w.reason;
        } else {
          await tagged;
        }
        if (previous && previous.target.digest !== manifestDesc.digest) await this.#danglingIfUnnamed(previous.target);
      });
      emit({ status: `Digest: ${repoDigest}` });
      const shown = familiarTag(name) ?? name;
      emit({ status: downloaded || changed ? `Status: Downloaded newer image for ${shown}` : `Status: Image is up to date for ${shown}` });
      await this.#publish('pull', shown, { name: familiarRepo(name) ?? name });
      return {
        name, id: manifest.config.digest, digest: repoDigest, manifest: manifestDesc,
        ...(chain.length ? { chainId: chain[chain.length - 1] } : {}), downloaded: downloaded || changed,
      };
    } finally {
      // A failed pull keeps the blobs it verified (published now, for the
      // retry to reuse); only one that failed its digest check is gone.
      if (await lease.ready.then(() => true, () => false)) {
        await batch.commit().catch(() => undefined);
        await batch.close().catch(() => undefined);
        await this.store.leases.delete(lease.id).catch(() => undefined);
      } else {
        await batch.close().catch(() => undefined);
      }
    }
  }

  /** The pull's lease, created in the background: `ready` settles once its file is written; `hold` adds a blob to it. */
  #pullLease(name: string): PullLease {
    const id = `pull-${Date.now()}-${randomBytes(6).toString('hex')}`;
    const ready = this.store.leases.create({ id, expiresInMs: 24 * 3600_000, labels: { 'berth/pull': name } }).then(noop);
    ready.catch(noop);
    return {
      id,
      ready,
      hold: async (digest: string): Promise<void> => {
        await ready;
        await this.store.leases.addResource(id, { type: 'content', digest: digest as Digest });
      },
    };
  }

  /**
   * The config blob of a pull: `bytes` once fetched into memory and checked
   * against its digest (undefined when it was already stored, or its digest
   * algorithm is not sha256/sha512: then read it from the store once
   * `stored` settles); `stored` settles when it is in the store (true: written now).
   */
  async #fetchConfig(fetcher: Fetcher, desc: Descriptor, batch: CommitBatch, lease: PullLease, signal?: AbortSignal): Promise<{ bytes?: Buffer; stored: Promise<boolean> }> {
    const alg = desc.digest.slice(0, desc.digest.indexOf(':'));
    const present = await this.store.info(desc.digest).then(() => true, () => false);
    if (present || (alg !== 'sha256' && alg !== 'sha512') || desc.size > 4 << 20) {
      const stored = this.#fetchBlob(fetcher, desc, batch, lease, signal);
      stored.catch(() => undefined);
      return { stored };
    }
    const parts: Buffer[] = [];
    for await (const c of await fetcher.fetch(desc, { signal })) parts.push(c as Buffer);
    const bytes = Buffer.concat(parts);
    // The store verifies what it writes (a mismatch there is the typed data-loss error).
    const stored = this.#stageBytes(batch, desc, bytes, lease, signal);
    stored.catch(() => undefined);
    const ok = bytes.length === desc.size && `${alg}:${createHash(alg).update(bytes).digest('hex')}` === desc.digest;
    return ok ? { bytes, stored } : { stored };
  }

  /**
   * Starts every layer download; element i settles (true: downloaded, false:
   * was present) when blob i is verified and staged in `batch` (or present).
   */
  #downloadAll(
    fetcher: Fetcher, layers: Descriptor[], present: boolean[], feeds: Array<LayerFeed | undefined>, batch: CommitBatch, lease: PullLease,
    emit: (p: ImageProgress) => void, signal?: AbortSignal, gate?: Promise<void>,
  ): Promise<boolean>[] {
    let running = 0;
    const queue: Array<() => void> = [];
    const slot = async (id: string): Promise<() => void> => {
      if (running >= this.#concurrency) {
        emit({ status: 'Waiting', id, progressDetail: {} });
        await new Promise<void>((resolve) => queue.push(resolve));
      }
      running++;
      return () => { running--; queue.shift()?.(); };
    };
    const download = async (layer: Descriptor, i: number): Promise<boolean> => {
      const id = shortDigest(layer.digest);
      if (present[i]) {
        // Present already: hold it in the pull's lease so a concurrent GC keeps it.
        await lease.hold(layer.digest);
        return false;
      }
      const release = await slot(id);
      try {
        const written = await this.#fetchBlob(fetcher, layer, batch, lease, signal, emit, id, feeds[i], gate);
        emit({ status: 'Download complete', id, progressDetail: {} });
        return written;
      } catch (e) {
        feeds[i]?.fail(e);
        throw e;
      } finally {
        release();
      }
    };
    const started: Promise<boolean>[] = [];
    for (const [i, layer] of layers.entries()) {
      const j = layers.findIndex((l) => l.digest === layer.digest);
      // Listed before (the same blob twice): that download stores it; its staged ingest is held until the batch commits.
      started.push(j < i ? started[j]!.then(() => false) : download(layer, i));
    }
    return started;
  }

  /**
   * Fetches one blob into the store under `lease`, resuming a partial ingest
   * of an earlier attempt, and stages it in `batch` once its digest checks
   * out (visible when the batch commits); false when the blob was already
   * there. A blob that fails verification is discarded so a retry starts clean.
   */
  async #fetchBlob(
    fetcher: Fetcher, desc: Descriptor, batch: CommitBatch, lease: PullLease, signal?: AbortSignal, emit?: (p: ImageProgress) => void, id?: string,
    feed?: LayerFeed, gate?: Promise<void>,
  ): Promise<boolean> {
    const ref = `pull-${desc.digest}`;
    // The GET from the first byte goes out beside the writer's open (almost
    // always a fresh ingest); dropped when the open says otherwise.
    // (Until it is read, an error of its body, such as the pull's abort, has a listener here; the reader sees it too.)
    let early: Promise<Readable> | undefined = desc.size > 0
      ? fetcher.fetch(desc, { signal, verify: false }).then((b) => b.on('error', noop))
      : undefined;
    early?.catch(() => undefined);
    const dropEarly = (): void => {
      void early?.then((b) => b.destroy(), () => undefined);
      early = undefined;
    };
    await gate;
    let w: ContentWriter | undefined;
    try {
      w = await this.#openWriter(ref, desc, signal, dropEarly);
    } catch (e) {
      dropEarly();
      throw e;
    }
    if (w === undefined) {
      dropEarly();
      feed?.abandon();
      // Stored already (maybe by another pull meanwhile): held by this pull's lease from now on.
      await lease.hold(desc.digest);
      return false;
    }
    try {
      // A resumed ingest has bytes the feed never saw: the unpacker reads the stored blob instead.
      if (w.offset > 0) feed?.abandon();
      else feed?.start();
      if (w.offset > 0) dropEarly();
      if (w.offset < desc.size) {
        // The writer hashes every byte and its stage checks the digest (before the feed ends): the registry client need not hash too.
        const body = await (early ?? fetcher.fetch(desc, { signal, verify: false, ...(w.offset > 0 ? { offset: w.offset } : {}) }));
        early = undefined;
        // Chunk by chunk, as received (Node's iterator would concatenate what waits: a copy on this busy thread).
        const chunks = readableChunks(body);
        const counting = emit && id ? counted(chunks, 'Downloading', id, desc.size, emit, w.offset) : chunks;
        await w.copyFrom(feed ? tap(counting, feed) : counting, { signal });
      }
      await batch.stage(w, { size: desc.size, digest: desc.digest, signal });
      // The digest checked out: the unpacker's stream may end.
      feed?.end();
      return true;
    } catch (e) {
      dropEarly();
      if (code(e) === 'ERR_STORE_ALREADY_EXISTS') { feed?.abandon(); feed?.end(); return false; }
      if (isBerthError(e) && e.kind === 'data-loss') {
        await w.close();
        await this.store.abort(ref).catch(() => undefined);
      }
      throw e;
    } finally {
      await w.close();
    }
  }

  /**
   * Opens the store's writer for the blob `desc` under `ref`; undefined when
   * the blob is stored already. While another pull (maybe another process)
   * writes it, waits for that one (up to 5 minutes), calling `onLocked` at
   * each wait.
   */
  async #openWriter(ref: string, desc: Descriptor, signal?: AbortSignal, onLocked?: () => void): Promise<ContentWriter | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.store.writer(ref, { expected: desc, signal });
      } catch (e) {
        if (code(e) === 'ERR_STORE_ALREADY_EXISTS') return undefined;
        if (code(e) !== 'ERR_STORE_LOCKED' || attempt >= 6000) throw e;
        onLocked?.();
        throwIfAborted(signal, 'pull');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  /**
   * Stages `bytes` (a manifest or config fetched into memory) as the blob
   * `desc` in `batch`; false when it is stored already. Waits while another
   * pull writes it, as a download does.
   */
  async #stageBytes(batch: CommitBatch, desc: Descriptor, bytes: Buffer, lease: PullLease, signal?: AbortSignal): Promise<boolean> {
    const ref = `pull-${desc.digest}`;
    const w = await this.#openWriter(ref, desc, signal);
    if (w === undefined) {
      await lease.hold(desc.digest);
      return false;
    }
    try {
      if (w.offset < bytes.length) await w.write(bytes.subarray(w.offset), { signal });
      await batch.stage(w, { size: desc.size, digest: desc.digest, signal });
      return true;
    } finally {
      await w.close();
    }
  }

  /** Unpacks one stored layer into a new snapshot over `parent` and commits it as `chainId`. */
  async #unpackLayer(
    layer: Descriptor, diffId: string, chainId: string, parent: string | undefined, emit: (p: ImageProgress) => void, signal?: AbortSignal,
    source?: () => Promise<AsyncIterable<Uint8Array>>, stored?: Promise<unknown>, lease?: PullLease,
  ): Promise<void> {
    const id = shortDigest(layer.digest);
    const key = `extract-${randomBytes(6).toString('hex')} ${chainId}`;
    // Not durable: the commit is (see #unpackChain).
    const mounts = await this.snapshotter.prepare(key, parent, { signal, labels: await this.#ownerLabel(), durable: false });
    try {
      const body = source ? await source() : await this.store.open(layer.digest, { signal });
      let result;
      try {
        // The snapshotter's commit syncs the filesystem once; no sync per layer here.
        result = await applyLayerToMounts(mounts, counted(body, 'Extracting', id, layer.size, emit), { signal, sync: false });
      } catch (e) {
        // Fed from a download that failed: its error says what went wrong.
        const failed = stored ? await stored.then(() => undefined, (d: unknown) => d) : undefined;
        throw failed ?? e;
      }
      if (result.diffId !== diffId) throw new ImageDiffIdMismatchError(layer.digest, diffId, result.diffId);
      // Never commit a snapshot before its blob is verified (staged; published with the pull's other blobs).
      await stored;
      await this.snapshotter.commit(chainId, key, { signal, labels: await layerLabels(layer, result.size, lease) });
    } catch (e) {
      await this.snapshotter.remove(key).catch(() => undefined);
      // Another pull committed the same chainId meanwhile: same content.
      if (code(e) === 'ERR_SNAPSHOT_ALREADY_EXISTS' && await this.#snapshotExists(chainId)) return;
      throw e;
    }
  }

  /**
   * Unpacks layers `from`… concurrently, each into an active snapshot over the
   * previous one's active snapshot (`activeParent`), each apply waiting for
   * the layers below only where an entry needs them (`lowersReady`). Each
   * is committed in layer order once applied and its blob verified (staged);
   * commits ready together share one syncfs. Once all are applied, the pull's
   * staged blobs are published beside the last commits (`publish`). Returns the index the sequential
   * path continues from: `layers.length` when all are committed, or the first
   * layer left when another pull committed one of these chainIds meanwhile
   * (everything of this attempt is removed first).
   */
  async #unpackChain(
    layers: Descriptor[], diffIds: string[], chain: string[], from: number,
    sources: Array<(() => Promise<AsyncIterable<Uint8Array>>) | undefined>, downloads: Promise<boolean>[],
    publish: () => Promise<unknown>, emit: (p: ImageProgress) => void, lease: PullLease, signal?: AbortSignal,
  ): Promise<number> {
    const owner = await this.#ownerLabel();
    // The first failure stops the other applies (checked per tar entry).
    const stop = new AbortController();
    const applySignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    const keys: string[] = [];
    const applies: Array<Promise<number>> = [];
    const commits: Array<Promise<void>> = [];
    let committed = from;
    try {
      for (let i = from; i < layers.length; i++) {
        const layer = layers[i]!;
        const key = `extract-${randomBytes(6).toString('hex')} ${chain[i]}`;
        const parent = i === from ? (i === 0 ? undefined : chain[i - 1]) : keys[keys.length - 1];
        // Issued at once, not awaited in turn: the snapshotter runs them in call order, so each parent exists first.
        // Not durable: an extraction snapshot is transient, its commit is the durable point (a crash before
        // it leaves an orphan directory for the snapshotter's cleanup), so no layer waits for an fsync to start.
        const prepared = this.snapshotter.prepare(key, parent, { signal, labels: owner, activeParent: i > from, durable: false });
        keys.push(key);
        const lowersReady = i === from ? undefined : Promise.all(applies.slice());
        lowersReady?.catch(() => undefined);
        const stored = downloads[i]!;
        const apply = (async (): Promise<number> => {
          const mounts = await prepared;
          const body = await sources[i]!();
          let result;
          try {
            result = await applyLayerToMounts(mounts, counted(body, 'Extracting', shortDigest(layer.digest), layer.size, emit), {
              signal: applySignal, sync: false, ...(lowersReady ? { lowersReady } : {}),
            });
          } catch (e) {
            // Fed from a download that failed: its error says what went wrong.
            const failed = await stored.then(() => undefined, (d: unknown) => d);
            throw failed ?? e;
          }
          if (result.diffId !== diffIds[i]) throw new ImageDiffIdMismatchError(layer.digest, diffIds[i]!, result.diffId);
          // Its blob verified (staged; published below before any snapshot commit).
          await stored;
          return result.size;
        })();
        apply.catch((e: unknown) => stop.abort(e));
        applies.push(apply);
      }
      // Each layer is committed as soon as it is applied and its blob verified
      // (staged), in layer order (commits ready together share one syncfs).
      // The blobs are published once all are applied, beside the last
      // commits (their fsyncs, started at staging, and the syncfs overlap);
      // the tag waits for both.
      for (let k = 0; k < keys.length; k++) {
        const i = from + k;
        const size = await applies[k]!;
        const layer = layers[i]!;
        const labels = await layerLabels(layer, size, lease);
        const commit = this.snapshotter.commit(chain[i]!, keys[k]!, { signal, labels }).then(() => {
          committed = i + 1;
          emit({ status: 'Pull complete', id: shortDigest(layer.digest), progressDetail: {} });
        });
        commit.catch(() => undefined);
        commits.push(commit);
      }
      const published = publish();
      published.catch(() => undefined);
      await Promise.all(commits);
      await published;
      return layers.length;
    } catch (e) {
      stop.abort(e);
      // The first failure is the cause; the other applies then failed as cancelled.
      const cause: unknown = signal?.aborted ? e : stop.signal.reason ?? e;
      await Promise.allSettled([...applies, ...commits]);
      // Children before parents: the keys not committed, topmost first.
      for (const key of keys.slice().reverse()) await this.snapshotter.remove(key).catch(() => undefined);
      // Another pull committed one of these chainIds meanwhile (same content): go on one by one from there.
      if (code(cause) === 'ERR_SNAPSHOT_ALREADY_EXISTS') return committed;
      throw cause;
    }
  }

  /**
   * Which of `chain`'s layers are unpacked already, each one found labelled
   * with the pull's lease, under the image lock (shared): until the pull tags
   * its image, nothing names those snapshots (their image may be removed
   * meanwhile, in any process), and a prune or an image removal keeps only
   * what an image or a live pull lease holds. The removal's collection runs
   * under the lock held exclusively: it went before (the snapshot is gone:
   * unpacked again) or sees the label.
   */
  async #claimUnpacked(chain: readonly string[], lease: PullLease, signal?: AbortSignal): Promise<boolean[]> {
    const found = await Promise.all(chain.map((c) => this.#snapshotExists(c)));
    if (!found.some(Boolean)) return found;
    await lease.ready;
    return withFlock(this.#lockFile, 'file', () => Promise.all(chain.map(async (c, i) => {
      if (!found[i]) return false;
      try {
        await this.snapshotter.update({ name: c, labels: { [SnapshotLabel.PullLease]: lease.id } }, {
          fieldpaths: [`labels.${SnapshotLabel.PullLease}`], ...(signal ? { signal } : {}),
        });
        return true;
      } catch (e) {
        if (code(e) === 'ERR_SNAPSHOT_NOT_FOUND') return false; // removed since: unpack it again
        throw e;
      }
    })), 'shared');
  }

  async #snapshotExists(chainId: string): Promise<boolean> {
    try {
      const info = await this.snapshotter.stat(chainId);
      return info.kind === 'committed';
    } catch {
      return false;
    }
  }

  // ---------------------------------------------------------------------------
  // push

  /** Pushes the image named `ref` to its registry: config and layers, then the manifest by tag. */
  async push(ref: string, opts: PushImageOptions = {}): Promise<{ digest: string; size: number }> {
    const credentials = opts.credentials;
    if (!credentials) return this.#push(ref, opts, this.registry);
    // Credentials given with the call (X-Registry-Auth): a client of its own for this push.
    const { createRegistryClient } = await import('@berth/registry-client');
    const client = createRegistryClient({ ...await registryOptionsOf(this.#registryOptions), credentials: async () => credentials });
    try {
      return await this.#push(ref, opts, client);
    } finally {
      await client.close();
    }
  }

  async #push(ref: string, opts: PushImageOptions, registry: ImageRegistry): Promise<{ digest: string; size: number }> {
    this.#open();
    const { signal } = opts;
    const emit = opts.onProgress ?? noop;
    const name = normalizeImageName(ref);
    const img = await this.#loadNamed(name, signal);
    const r = parseImageName(name);
    emit({ status: `The push refers to repository [${r.name}]` });
    const pusher = registry.pusher(name);
    const blobs = [...img.manifest.layers].reverse().concat([img.manifest.config]);
    await Promise.all(blobs.map(async (desc) => {
      const id = shortDigest(desc.digest);
      emit({ status: 'Preparing', id, progressDetail: {} });
      let w;
      try {
        w = await pusher.push(desc, { signal });
      } catch (e) {
        if (code(e) === 'ERR_REGISTRY_ALREADY_EXISTS') {
          emit({ status: e instanceof Error && (e as { details?: { outcome?: string } }).details?.outcome === 'mounted' ? 'Mounted from' : 'Layer already exists', id, progressDetail: {} });
          return;
        }
        throw e;
      }
      try {
        const body = await this.store.open(desc.digest, { signal });
        for await (const chunk of counted(body, 'Pushing', id, desc.size, emit)) await w.write(chunk, { signal });
        await w.commit({ size: desc.size, digest: desc.digest }, { signal });
      } catch (e) {
        await w.abort().catch(() => undefined);
        throw e;
      }
      emit({ status: 'Pushed', id, progressDetail: {} });
    }));
    const bytes = await readBlob(this.store, img.manifestDesc, { signal });
    await pusher.pushManifest(img.manifestDesc, bytes, { signal, ...(r.tag ? { tag: r.tag } : {}) });
    emit({ status: `${r.tag ?? 'latest'}: digest: ${img.manifestDesc.digest} size: ${img.manifestDesc.size}` });
    await this.#publish('push', familiarTag(name) ?? name, { name: familiarRepo(name) ?? name });
    return { digest: img.manifestDesc.digest, size: img.manifestDesc.size };
  }

  // ---------------------------------------------------------------------------
  // queries

  /** Every image, grouped by id (config digest), as `docker images` lists them. */
  async list(opts: ListImagesOptions = {}): Promise<ImageSummary[]> {
    this.#open();
    const groups = await this.#groups(opts.signal);
    const f = opts.filters ?? {};
    const out: ImageSummary[] = [];
    for (const g of groups.values()) {
      const names = g.entries.flatMap((e) => (e.name ? [e.name] : []));
      const dangling = names.length === 0;
      if (f.dangling?.length && !f.dangling.some((v) => (v === 'true' || v === '1') === dangling)) continue;
      if (f.reference?.length) {
        const pats = f.reference.map(referencePattern);
        const ok = names.some((n) => {
          const t = familiarTag(n);
          const repo = familiarRepo(n);
          return pats.some((p) => (t !== undefined && p.test(t)) || (repo !== undefined && p.test(repo)));
        });
        if (!ok) continue;
      }
      const labels = (g.img.config.config?.Labels ?? {}) as Record<string, string>;
      if (f.label?.length && !f.label.every((l) => labelMatches(labels, l))) continue;
      const size = await this.#size(g.img);
      out.push({
        Id: g.img.id,
        ParentId: '',
        RepoTags: names.flatMap((n) => { const t = familiarTag(n); return t ? [t] : []; }),
        RepoDigests: this.#repoDigests(g.entries),
        Created: createdSeconds(g.img.config),
        Size: size,
        SharedSize: -1,
        VirtualSize: size,
        Labels: labels,
        Containers: -1,
      });
    }
    out.sort((a, b) => b.Created - a.Created || a.Id.localeCompare(b.Id));
    return out;
  }

  /** `docker image inspect`. */
  async inspect(ref: string, opts: { signal?: AbortSignal } = {}): Promise<ImageInspect> {
    this.#open();
    const { img, entries } = await this.#find(ref, opts.signal);
    const names = entries.flatMap((e) => (e.name ? [e.name] : []));
    const c = img.config;
    const size = await this.#size(img);
    const meta = await this.#readMeta();
    return {
      Id: img.id,
      RepoTags: names.flatMap((n) => { const t = familiarTag(n); return t ? [t] : []; }),
      RepoDigests: this.#repoDigests(entries),
      Parent: '',
      Comment: c.history?.[c.history.length - 1]?.comment ?? '',
      Created: c.created ?? new Date(0).toISOString(),
      Container: '',
      DockerVersion: typeof c.docker_version === 'string' ? c.docker_version : '',
      Author: c.author ?? '',
      Config: dockerConfig(c),
      Architecture: c.architecture,
      ...(c.variant ? { Variant: c.variant } : {}),
      Os: c.os,
      Size: size,
      VirtualSize: size,
      GraphDriver: { Name: 'overlay', Data: null },
      RootFS: { Type: 'layers', Layers: [...c.rootfs.diff_ids] },
      Metadata: { LastTagTime: meta.tagged[img.id] ?? '0001-01-01T00:00:00Z' },
    };
  }

  /** `docker history`: the config's history, newest first, with each layer's size. */
  async history(ref: string, opts: { signal?: AbortSignal } = {}): Promise<ImageHistoryItem[]> {
    this.#open();
    const { img, entries } = await this.#find(ref, opts.signal);
    const sizes = await this.#layerSizes(img);
    const hist = img.config.history?.length ? img.config.history : img.config.rootfs.diff_ids.map(() => ({} as NonNullable<ImageConfig['history']>[number]));
    let layer = 0;
    const rows: ImageHistoryItem[] = hist.map((h) => ({
      Id: '<missing>',
      Created: h.created ? Math.floor(Date.parse(h.created) / 1000) : 0,
      CreatedBy: h.created_by ?? '',
      Tags: null,
      Size: h.empty_layer ? 0 : (sizes[layer++] ?? 0),
      Comment: h.comment ?? '',
    }));
    rows.reverse();
    if (rows[0]) {
      rows[0].Id = img.id;
      const tags = entries.flatMap((e) => { const t = e.name ? familiarTag(e.name) : undefined; return t ? [t] : []; });
      rows[0].Tags = tags.length ? tags : null;
    }
    return rows;
  }

  /**
   * The image `ref` names (a name, `name@digest`, an id or an id prefix),
   * with its config and chainIds: what a container needs to be created.
   */
  async resolveImage(ref: string, opts: { signal?: AbortSignal } = {}): Promise<ResolvedImage> {
    this.#open();
    const { img, entries } = await this.#find(ref, opts.signal);
    return {
      id: img.id,
      names: entries.flatMap((e) => (e.name ? [e.name] : [])),
      manifest: img.manifestDesc,
      config: img.config,
      chainIds: chainIds(img.config.rootfs.diff_ids),
    };
  }

  /**
   * Whether the image `id` is still here (named or dangling), asked holding
   * the lock `remove` and `prune` take (shared). A container create asks it
   * once its record is written: a remove or prune in any process then either
   * ran before (the image is gone, and the create undoes itself) or runs
   * after (it sees the record: the image is in use).
   */
  async stillPresent(id: string, opts: { signal?: AbortSignal } = {}): Promise<boolean> {
    this.#open();
    return withFlock(this.#lockFile, 'file', async () => {
      for (const g of (await this.#groups(opts.signal)).values()) if (g.img.id === id) return true;
      return false;
    }, 'shared');
  }

  // ---------------------------------------------------------------------------
  // names

  /** Adds the name `target` to the image `source` (a name, id or id prefix). */
  async tag(source: string, target: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.#open();
    const name = normalizeImageName(target);
    const { img } = await this.#find(source, opts.signal);
    await this.#exclusive(() => this.#pointName(name, img.manifestDesc, img.id, new Date().toISOString(), opts));
    await this.#publish('tag', img.id, { name: familiarTag(name) ?? name });
  }

  /**
   * Points `name` at a stored image manifest (`docker commit`'s last step):
   * the image the name pointed at before becomes dangling when no other name
   * is left on it, as with `tag`. Without a name the manifest's image is
   * recorded dangling (`docker commit CONTAINER`). `id` is the image's (its
   * config digest).
   */
  async nameImage(name: string | undefined, manifest: Descriptor, id: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.#open();
    const full = name === undefined ? undefined : normalizeImageName(name);
    await this.#exclusive(() => this.#pointName(full, manifest, id, new Date().toISOString(), opts));
    if (full !== undefined) await this.#publish('tag', id, { name: familiarTag(full) ?? full });
  }

  /**
   * `docker rmi`. A name is untagged; the image is deleted (its snapshots
   * and, through GC, its blobs) once no name is left and no container uses
   * it. An id removes every name, which needs `force` when there are several.
   */
  async remove(ref: string, opts: RemoveImageOptions = {}): Promise<ImageDeleteItem[]> {
    this.#open();
    return this.#exclusive(async () => {
      const { img, entries, byName } = await this.#find(ref, opts.signal);
      const names = entries.flatMap((e) => (e.name ? [e.name] : []));
      const inUse = await this.#inUse(img.id);
      const items: ImageDeleteItem[] = [];
      const untag = async (n: string): Promise<void> => {
        await this.store.images.untag(n, opts);
        const shown = familiarTag(n) ?? n;
        items.push({ Untagged: shown });
        await this.#publish('untag', img.id, { name: shown });
      };
      if (byName !== undefined && names.length > 1) {
        // One of several names: untagging is all `rmi name` does.
        await untag(byName);
        return items;
      }
      if (byName === undefined && names.length > 1 && !opts.force) throw new ImageConflictError(ref, img.id, names);
      if (inUse && !opts.force) throw new ImageInUseError(ref, img.id);
      if (inUse) {
        for (const n of names) await untag(n);
        // Forced while in use: the image stays, dangling, until its containers are gone.
        await this.#updateMeta((m) => { m.dangling[img.manifestDesc.digest] = plainDesc(img.manifestDesc); });
        return items;
      }
      // The names (index.json) and the image's metadata (meta.json), two fsynced atomic writes, at once.
      // (Both settle before the lock is let go; the first failure is thrown.)
      const written = await Promise.allSettled([
        (async () => { for (const n of names) await untag(n); })(),
        this.#updateMeta((m) => { delete m.dangling[img.manifestDesc.digest]; delete m.tagged[img.id]; }),
      ]);
      for (const w of written) if (w.status === 'rejected') throw w.reason;
      await this.#collect(opts.signal);
      items.push({ Deleted: img.id });
      await this.#publish('delete', img.id, {});
      return items;
    });
  }

  /** Removes dangling images (or, with `all`, every image no container uses), then unused snapshots and blobs. */
  async prune(opts: PruneImagesOptions = {}): Promise<PruneImagesResult> {
    this.#open();
    return this.#exclusive(async () => {
      await this.cleanupUnpacks(opts);
      // What dead processes left in the snapshotter: directories no record names (a crash between
      // a snapshot's directory and its record), unfinished background deletions (trash/), mounts.
      await this.snapshotter.cleanup(opts.signal ? { signal: opts.signal } : {});
      const all = opts.all || (opts.filters?.dangling ?? []).some((v) => v === 'false' || v === '0');
      const matches = pruneFilter(opts.filters, ['dangling']);
      const groups = await this.#groups(opts.signal);
      const items: ImageDeleteItem[] = [];
      const deleted: string[] = [];
      for (const g of groups.values()) {
        const names = g.entries.flatMap((e) => (e.name ? [e.name] : []));
        if (names.length > 0 && !all) continue;
        const labels = (g.img.config.config?.Labels ?? {}) as Record<string, string>;
        if (!matches({ createdNs: isoToNs(g.img.config.created), labels })) continue;
        if (await this.#inUse(g.img.id)) continue;
        for (const n of names) {
          await this.store.images.untag(n, opts);
          items.push({ Untagged: familiarTag(n) ?? n });
        }
        deleted.push(g.img.id);
      }
      await this.#updateMeta((m) => {
        for (const [digest, d] of Object.entries(m.dangling)) {
          const l = this.#manifests.get(d.digest);
          if (l && deleted.includes(l.id)) delete m.dangling[digest];
        }
        for (const id of deleted) delete m.tagged[id];
      });
      const reclaimed = await this.#collect(opts.signal);
      for (const id of deleted) {
        items.push({ Deleted: id });
        await this.#publish('delete', id, {});
      }
      await this.#publish('prune', '', { reclaimed: String(reclaimed) });
      return { ImagesDeleted: items, SpaceReclaimed: reclaimed };
    });
  }

  // ---------------------------------------------------------------------------
  // archives

  /** `docker save`: a Docker archive (legacy layout every `docker load` reads) of the images `refs` name. */
  async save(refs: string[], opts: { signal?: AbortSignal; platform?: Platform } = {}): Promise<Readable> {
    this.#open();
    const names: string[] = [];
    for (const ref of refs) {
      const { entries, byName } = await this.#find(ref, opts.signal);
      if (byName) names.push(byName);
      else names.push(...entries.flatMap((e) => (e.name ? [e.name] : [])));
    }
    if (names.length === 0) throw new ImageNotFoundError(refs.join(' '), { details: { reason: 'no named image to save' } });
    const stream = exportDockerArchive(this.store, names, {
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.platform ? { platform: opts.platform } : {}),
    });
    stream.once('end', () => void this.#publish('save', names.map((n) => familiarTag(n) ?? n).join(','), {}));
    return stream;
  }

  /** `docker load`: imports a Docker archive and unpacks every image in it. */
  async load(source: Readable | AsyncIterable<Uint8Array>, opts: { signal?: AbortSignal; onProgress?: (p: ImageProgress) => void } = {}): Promise<{ names: string[]; ids: string[] }> {
    this.#open();
    const emit = opts.onProgress ?? noop;
    const lease = await this.store.leases.create({ expiresInMs: 24 * 3600_000, labels: { 'berth/load': 'true' } });
    try {
      const before = await this.#entries();
      const images = await importDockerArchive(this.store, source, opts.signal ? { signal: opts.signal } : {});
      const ids = new Set<string>();
      for (const image of images) {
        const img = await this.#load(image.target, opts.signal);
        ids.add(img.id);
        await this.#unpackAll(img, emit, opts.signal);
        emit({ status: `Loaded image: ${familiarTag(image.name) ?? image.name}` });
        const previous = before.find((e) => e.name === image.name);
        await this.#exclusive(async () => {
          await this.#updateMeta((m) => { delete m.dangling[img.manifestDesc.digest]; m.tagged[img.id] = new Date().toISOString(); });
          if (previous && previous.target.digest !== img.manifestDesc.digest) await this.#danglingIfUnnamed(previous.target);
        });
        await this.#publish('load', familiarTag(image.name) ?? image.name, {});
      }
      return { names: images.map((i) => i.name), ids: [...ids] };
    } finally {
      await this.store.leases.delete(lease.id).catch(() => undefined);
    }
  }

  /** `docker import`: stores the tar as one layer, unpacks it, and writes a minimal config and an OCI manifest. */
  async import(source: Readable | AsyncIterable<Uint8Array>, opts: ImportImageOptions = {}): Promise<{ id: string; name?: string }> {
    this.#open();
    const { signal } = opts;
    const name = opts.ref ? normalizeImageName(opts.ref) : undefined;
    const lease = await this.store.leases.create({ expiresInMs: 24 * 3600_000, labels: { 'berth/import': 'true' } });
    try {
      // 1. The tar as it came (plain, gzip or zstd) becomes the layer blob.
      const w = await this.store.writer(`import-${randomBytes(8).toString('hex')}`, { lease: lease.id, signal });
      let layerDigest: Digest;
      let layerSize: number;
      try {
        layerSize = await w.copyFrom(source as AsyncIterable<Uint8Array>, { signal });
        const info = await w.commit({ signal });
        layerDigest = info.digest;
        layerSize = info.size;
      } catch (e) {
        if (code(e) !== 'ERR_STORE_ALREADY_EXISTS') throw e;
        layerDigest = w.digest();
        layerSize = (await this.store.info(layerDigest)).size;
        await this.store.leases.addResource(lease.id, { type: 'content', digest: layerDigest });
      } finally {
        await w.close();
      }
      // 2. Unpack it: the diffId comes out of the unpack.
      const key = `import-${randomBytes(6).toString('hex')}`;
      const mounts = await this.snapshotter.prepare(key, undefined, { signal, labels: await this.#ownerLabel() });
      let applied;
      try {
        applied = await applyLayerToMounts(mounts, await this.store.open(layerDigest, { signal }), { signal, sync: false });
        if (await this.#snapshotExists(applied.diffId)) await this.snapshotter.remove(key);
        else {
          await this.snapshotter.commit(applied.diffId, key, {
            signal,
            labels: { [SnapshotLabel.ImageLayer]: 'true', [SnapshotLabel.LayerDigest]: layerDigest, [SnapshotLabel.LayerSize]: String(applied.size) },
          });
        }
      } catch (e) {
        await this.snapshotter.remove(key).catch(() => undefined);
        throw e;
      }
      const layerType = applied.compression === 'gzip' ? OciMediaType.LayerGzip
        : applied.compression === 'zstd' ? OciMediaType.LayerZstd : OciMediaType.Layer;
      // 3. A minimal config (docker import's) and an OCI manifest.
      const platform = opts.platform ?? this.#platform;
      const created = new Date().toISOString();
      const config: ImageConfig = {
        created,
        architecture: platform.architecture,
        os: platform.os,
        ...(platform.variant ? { variant: platform.variant } : {}),
        config: (opts.config ?? {}) as ImageConfig['config'],
        rootfs: { type: 'layers', diff_ids: [applied.diffId as Digest] },
        history: [{ created, created_by: '', comment: opts.message ?? 'Imported from -' }],
      };
      const configBytes = Buffer.from(JSON.stringify(config));
      const configDesc: Descriptor = { mediaType: OciMediaType.ImageConfig, digest: digestOf(configBytes), size: configBytes.length };
      const manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: OciMediaType.ImageManifest,
        config: configDesc,
        layers: [{ mediaType: layerType, digest: layerDigest, size: layerSize }],
      } as ImageManifest;
      const manifestBytes = Buffer.from(JSON.stringify(manifest));
      const manifestDesc: Descriptor = { mediaType: OciMediaType.ImageManifest, digest: digestOf(manifestBytes), size: manifestBytes.length };
      await writeBlob(this.store, `import-${configDesc.digest}`, configBytes, configDesc, { lease: lease.id, signal });
      await writeBlob(this.store, `import-${manifestDesc.digest}`, manifestBytes, manifestDesc, { lease: lease.id, signal });
      await this.#exclusive(() => this.#pointName(name, manifestDesc, configDesc.digest, created, signal ? { signal } : {}));
      await this.#publish('import', configDesc.digest, name ? { name: familiarTag(name) ?? name } : {});
      return { id: configDesc.digest, ...(name ? { name } : {}) };
    } finally {
      await this.store.leases.delete(lease.id).catch(() => undefined);
    }
  }

  /** Stops reporting GC roots and closes what the service opened itself (injected parts stay open: their owner closes them). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#removeRoot();
    if (this.#owned.registry) await this.registry.close?.();
    if (this.#owned.snapshotter) await this.snapshotter.close();
    if (this.#owned.store) await this.store.close();
  }

  // ---------------------------------------------------------------------------
  // internals

  #open(): void {
    if (this.#closed) throw new ImageServiceClosedError();
  }

  #owner?: string;

  /** The label marking an unpack snapshot as this process's, so a later process can tell a crashed unpack from a running one. */
  async #ownerLabel(): Promise<Record<string, string>> {
    this.#owner ??= `${process.pid} ${(await processStartTicks(process.pid)) ?? 0}`;
    return { [SnapshotLabel.UnpackOwner]: this.#owner };
  }

  /**
   * Removes the unpack snapshots left by processes that died mid-pull (the
   * engine is daemonless: another live process's unpacks are left alone).
   * Returns the keys removed. Runs on open and in {@link prune}.
   */
  async cleanupUnpacks(opts: { signal?: AbortSignal } = {}): Promise<string[]> {
    const stale: string[] = [];
    for await (const s of this.snapshotter.walk({ filters: [{ labels: { [SnapshotLabel.UnpackOwner]: undefined } }], signal: opts.signal })) {
      if (s.kind === 'committed') continue;
      const [pid, ticks] = (s.labels[SnapshotLabel.UnpackOwner] ?? '').split(' ').map(Number);
      if (!await isSameProcessAlive(pid ?? 0, ticks || undefined)) stale.push(s.name);
    }
    const removed: string[] = [];
    // A concurrent unpack leaves a chain (each key the parent of the next): children go first, so
    // whatever is refused for its children is retried after them.
    let left = stale;
    while (left.length > 0) {
      const again: string[] = [];
      for (const key of left) {
        try {
          await this.snapshotter.remove(key);
          removed.push(key);
        } catch (e) {
          if (code(e) === 'ERR_SNAPSHOT_HAS_CHILDREN') again.push(key);
          else if (code(e) !== 'ERR_SNAPSHOT_NOT_FOUND') throw e;
        }
      }
      // No progress: the children are not ours to remove (a live process's); leave the rest.
      if (again.length === left.length) break;
      left = again;
    }
    return removed;
  }

  /** Publishes an image event; a failing event sink never fails the operation. */
  async #publish(action: string, id: string, attributes: Record<string, string>): Promise<void> {
    await this.#events?.publish({ Type: 'image', Action: action, Actor: { ID: id, Attributes: attributes } }).catch(() => undefined);
  }

  /** Serializes the changes to names and metadata: within this process, then across processes sharing the root (a lock file). */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const locked = () => withFlock(this.#lockFile, 'file', fn);
    const run = this.#lock.then(locked, locked);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  async #readMeta(): Promise<Meta> {
    // A small file read synchronously (on the libuv pool it would queue behind long jobs).
    let m: Partial<Meta> | undefined;
    try {
      m = JSON.parse(readFileSync(this.#metaFile, 'utf8')) as Partial<Meta>;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    return { dangling: m?.dangling ?? {}, tagged: m?.tagged ?? {} };
  }

  async #updateMeta(fn: (m: Meta) => void): Promise<void> {
    const m = await this.#readMeta();
    fn(m);
    await atomicWriteJson(this.#metaFile, m);
  }

  async #inUse(id: string): Promise<boolean> {
    return Boolean(await this.#isInUse(id));
  }

  /** Named entries of the store plus the dangling images of the metadata. */
  async #entries(signal?: AbortSignal): Promise<Entry[]> {
    const named: Entry[] = (await this.store.images.list({ signal })).map((i) => ({ name: i.name, target: i.target }));
    const meta = await this.#readMeta();
    const dangling = Object.values(meta.dangling).filter((d) => !named.some((e) => e.target.digest === d.digest)).map((d) => ({ target: d }));
    return [...named, ...dangling];
  }

  /** A stored manifest with its config, cached (content is immutable). */
  async #load(desc: Descriptor, signal?: AbortSignal): Promise<Loaded> {
    const cached = this.#manifests.get(desc.digest);
    if (cached) return cached;
    const bytes = await readBlob(this.store, desc, { signal });
    const parsed = parseManifest(bytes, desc.mediaType);
    const manifest = parsed.value as ImageManifest;
    const configBytes = await readBlob(this.store, manifest.config, { signal });
    const config = parseImageConfig(configBytes, manifest.config.mediaType).value;
    if (config.rootfs.diff_ids.length !== manifest.layers.length) {
      throw new ImageInvalidError('config', `${manifest.layers.length} layers but ${config.rootfs.diff_ids.length} diff_ids`, { details: { manifest: desc.digest } });
    }
    const loaded: Loaded = { manifestDesc: plainDesc(desc), manifest, configBytes, config, id: manifest.config.digest };
    this.#manifests.set(desc.digest, loaded);
    return loaded;
  }

  async #loadNamed(name: string, signal?: AbortSignal): Promise<Loaded> {
    let image;
    try {
      image = await this.store.images.resolve(name, { signal });
    } catch (e) {
      if (code(e) === 'ERR_STORE_NOT_FOUND') throw new ImageNotFoundError(name, { cause: e });
      throw e;
    }
    return this.#load(image.target, signal);
  }

  /** Images grouped by id; entries whose manifest is missing or not an image (indexes, artifacts) are skipped. */
  async #groups(signal?: AbortSignal): Promise<Map<string, { img: Loaded; entries: Entry[] }>> {
    const groups = new Map<string, { img: Loaded; entries: Entry[] }>();
    for (const e of await this.#entries(signal)) {
      let img: Loaded;
      try {
        img = await this.#load(e.target, signal);
      } catch {
        continue;
      }
      const g = groups.get(img.id);
      if (g) g.entries.push(e);
      else groups.set(img.id, { img, entries: [e] });
    }
    return groups;
  }

  /** Finds the image a name, `name@digest`, id or id prefix refers to. `byName` is the normalized name when `ref` was one. */
  async #find(ref: string, signal?: AbortSignal): Promise<{ img: Loaded; entries: Entry[]; byName?: string }> {
    const hex = idHexOf(ref);
    const groups = await this.#groups(signal);
    if (hex !== undefined) {
      const matches = [...groups.values()].filter((g) => g.img.id.slice(7).startsWith(hex));
      if (matches.length > 1) throw new ImageAmbiguousIdError(ref, matches.map((g) => g.img.id));
      if (matches.length === 1) return matches[0]!;
      if (ref.startsWith('sha256:')) throw new ImageNotFoundError(ref);
    }
    const r = parseImageName(ref);
    const name = formatReference(r);
    if (r.digest !== undefined) {
      // name@digest: the repository's entries whose manifest or repo digest is that digest.
      for (const g of groups.values()) {
        const hit = g.entries.find((e) => e.name && familiarRepo(e.name) === familiarRepo(name)
          && (e.target.digest === r.digest || e.target.annotations?.[RepoDigestAnnotation] === r.digest));
        if (hit) return { img: await this.#load(hit.target, signal), entries: g.entries };
      }
      for (const g of groups.values()) if (g.img.manifestDesc.digest === r.digest) return g;
      throw new ImageNotFoundError(ref);
    }
    for (const g of groups.values()) {
      // Several manifests (gzip and zstd copies) may share one id: use the one this name points at.
      const hit = g.entries.find((e) => e.name === name);
      if (hit) return { img: await this.#load(hit.target, signal), entries: g.entries, byName: name };
    }
    throw new ImageNotFoundError(ref);
  }

  #repoDigests(entries: Entry[]): string[] {
    const out = new Set<string>();
    for (const e of entries) {
      const digest = e.target.annotations?.[RepoDigestAnnotation];
      const repo = e.name ? familiarRepo(e.name) : undefined;
      if (repo && digest) out.add(`${repo}@${digest}`);
    }
    return [...out].sort();
  }

  /** Each layer's uncompressed size (from its snapshot's label), else its blob size. */
  async #layerSizes(img: Loaded): Promise<number[]> {
    const chain = chainIds(img.config.rootfs.diff_ids);
    return Promise.all(chain.map(async (c, i) => {
      try {
        const info = await this.snapshotter.stat(c);
        const n = Number(info.labels[SnapshotLabel.LayerSize]);
        if (Number.isFinite(n)) return n;
      } catch { /* not unpacked */ }
      return img.manifest.layers[i]?.size ?? 0;
    }));
  }

  async #size(img: Loaded): Promise<number> {
    return (await this.#layerSizes(img)).reduce((a, b) => a + b, 0);
  }

  /**
   * Points the (normalized) `name` at the stored `manifest` of image `id`,
   * or without a name records it dangling; the image the name named before
   * becomes dangling when no other name is left on it. `taggedAt` is the
   * image's tag time. Call it holding the image lock (`#exclusive`).
   */
  async #pointName(name: string | undefined, manifest: Descriptor, id: string, taggedAt: string, opts: { signal?: AbortSignal }): Promise<void> {
    const previous = name === undefined ? undefined : (await this.#entries()).find((e) => e.name === name);
    if (name !== undefined) await this.store.images.tag(name, plainDesc(manifest), opts);
    await this.#updateMeta((m) => {
      if (name === undefined) m.dangling[manifest.digest] = plainDesc(manifest);
      else delete m.dangling[manifest.digest];
      m.tagged[id] = taggedAt;
    });
    if (previous && previous.target.digest !== manifest.digest) await this.#danglingIfUnnamed(previous.target);
  }

  /** Records `target` as dangling when no name points at it any more. */
  async #danglingIfUnnamed(target: Descriptor): Promise<void> {
    const named = await this.store.images.list();
    if (named.some((e) => e.target.digest === target.digest)) return;
    await this.#updateMeta((m) => { m.dangling[target.digest] = plainDesc(target); });
  }

  /** Unpacks every layer of a stored image that is not unpacked yet. */
  async #unpackAll(img: Loaded, emit: (p: ImageProgress) => void, signal?: AbortSignal): Promise<void> {
    const chain = chainIds(img.config.rootfs.diff_ids);
    for (let i = 0; i < chain.length; i++) {
      if (await this.#snapshotExists(chain[i]!)) continue;
      await this.#unpackLayer(img.manifest.layers[i]!, img.config.rootfs.diff_ids[i]!, chain[i]!, i === 0 ? undefined : chain[i - 1], emit, signal);
    }
  }

  /**
   * Removes the layer snapshots no remaining image needs (those with
   * children, such as a container's parent, stay), then runs the store's GC.
   * Returns the bytes freed.
   */
  async #collect(signal?: AbortSignal): Promise<number> {
    // The store's GC runs beside the snapshot removals: its roots are the
    // names, leases, dangling manifests and active snapshots, none of which
    // removing unneeded committed layer snapshots changes.
    const gc = this.store.gc({ signal });
    gc.catch(() => undefined);
    const needed = new Set<string>();
    for (const g of (await this.#groups(signal)).values()) for (const c of chainIds(g.img.config.rootfs.diff_ids)) needed.add(c);
    // Layers a pull (in any process) committed and has not tagged yet: its lease is alive.
    const now = Date.now();
    const pulling = new Set((await this.store.leases.list({ ...(signal ? { signal } : {}) }))
      .filter((l) => l.expiresAt === undefined || l.expiresAt.getTime() > now).map((l) => l.id));
    const held = (labels: Record<string, string>): boolean => {
      const l = labels[SnapshotLabel.PullLease];
      return l !== undefined && pulling.has(l);
    };
    let freed = 0;
    for (let progress = true; progress;) {
      progress = false;
      const candidates: Array<{ name: string; size: number; parent?: string }> = [];
      for await (const s of this.snapshotter.walk({ filters: [{ kind: 'committed', labels: { [SnapshotLabel.ImageLayer]: undefined } }], signal })) {
        // The layer's unpacked size (recorded at unpack) stands for the space freed, as Docker counts it.
        if (!needed.has(s.name) && !held(s.labels)) candidates.push({ name: s.name, size: Number(s.labels[SnapshotLabel.LayerSize]) || 0, ...(s.parent ? { parent: s.parent } : {}) });
      }
      // Children first (deepest chain position first), all issued at once: the snapshotter runs
      // them in this order and shares their metadata writes.
      const parentOf = new Map(candidates.map((c) => [c.name, c.parent]));
      const depth = (n: string): number => { let d = 0; for (let p = parentOf.get(n); p !== undefined; p = parentOf.get(p)) d++; return d; };
      candidates.sort((a, b) => depth(b.name) - depth(a.name));
      const results = await Promise.allSettled(candidates.map((c) => this.snapshotter.remove(c.name)));
      for (const [i, r] of results.entries()) {
        if (r.status === 'fulfilled') {
          freed += candidates[i]!.size;
          progress = true;
        } else if (code(r.reason) !== 'ERR_SNAPSHOT_HAS_CHILDREN' && code(r.reason) !== 'ERR_SNAPSHOT_NOT_FOUND') {
          throw r.reason;
        }
      }
    }
    return freed + (await gc).bytes;
  }

  /**
   * GC roots the store cannot see: dangling images' manifests, and the layer
   * blobs under every active snapshot (containers' rootfs), so `commit` and
   * `save` keep working for images removed by force while in use.
   */
  async *#gcRoots(): AsyncGenerator<Digest> {
    const meta = await this.#readMeta();
    for (const d of Object.values(meta.dangling)) yield d.digest;
    const infos = new Map<string, { parent?: string; labels: Record<string, string>; kind: string }>();
    for await (const s of this.snapshotter.walk()) infos.set(s.name, s);
    const seen = new Set<string>();
    for (const s of infos.values()) {
      if (s.kind === 'committed') continue;
      for (let p = s.parent; p && !seen.has(p); p = infos.get(p)?.parent) {
        seen.add(p);
        const digest = infos.get(p)?.labels[SnapshotLabel.LayerDigest];
        if (digest) yield digest as Digest;
      }
    }
  }
}

function parseImageConfigDigest(m: ImageManifest): string {
  return m.config.digest;
}

function plainDesc(d: Descriptor): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

function createdSeconds(c: ImageConfig): number {
  const t = c.created ? Date.parse(c.created) : NaN;
  return Number.isFinite(t) ? Math.floor(t / 1000) : 0;
}

/** The image config's `config` in the shape `docker image inspect` shows (absent fields as Docker's zero values). */
function dockerConfig(c: ImageConfig): Record<string, unknown> {
  const x = (c.config ?? {}) as Record<string, unknown>;
  return {
    Hostname: '', Domainname: '', User: x.User ?? '', AttachStdin: false, AttachStdout: false, AttachStderr: false,
    ...(x.ExposedPorts ? { ExposedPorts: x.ExposedPorts } : {}),
    Tty: false, OpenStdin: false, StdinOnce: false,
    Env: x.Env ?? null, Cmd: x.Cmd ?? null, Image: '', Volumes: x.Volumes ?? null, WorkingDir: x.WorkingDir ?? '',
    Entrypoint: x.Entrypoint ?? null, OnBuild: null, Labels: x.Labels ?? null,
    ...(x.StopSignal ? { StopSignal: x.StopSignal } : {}),
  };
}

