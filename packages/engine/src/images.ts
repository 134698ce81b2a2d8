/**
 * The image service contract: Docker's image operations (pull, push, tag,
 * list, inspect, history, remove, prune, save, load, import) composed from
 * the content store (@berth/image-store), the registry client
 * (@berth/registry-client) and a snapshotter (@berth/cow-fs). Interfaces and
 * types only; the implementation lives in `images/`.
 *
 * The model, as in containerd with Docker's vocabulary on top:
 *
 * - An image is a manifest in the content store; its **id** is the digest of
 *   its config (what `docker images` shows as IMAGE ID).
 * - **Names** (`docker.io/library/busybox:latest`) live in the store's image
 *   index (the OCI layout's `index.json`), so skopeo and umoci read them.
 *   An image whose last name moved elsewhere stays as a **dangling** image
 *   (`<none>:<none>`) until it is removed or pruned.
 * - Each layer is unpacked into a committed snapshot whose name is the
 *   layer's **chainId**; an image's rootfs is the snapshot of its last
 *   chainId, which containers use as their parent.
 *
 * ```ts
 * const images = await openLocalImageService({ root: '/var/lib/berth' });
 * await images.pull('127.0.0.1:5000/busybox', { onProgress: (p) => console.log(p.status, p.id ?? '') });
 * const { chainId, config } = await images.resolveImage('127.0.0.1:5000/busybox');
 * const rootfs = await images.snapshotter.prepare('container-1', chainId);
 * ```
 */
import type { Readable } from 'node:stream';
import type { Descriptor, ImageConfig, Platform } from '@berth/oci-spec';

/**
 * One progress message, in the shape Docker streams from `POST /images/create`
 * and `POST /images/{name}/push` (`jsonmessage.JSONMessage`).
 */
export interface ImageProgress {
  /** `Pulling from library/busybox`, `Pulling fs layer`, `Downloading`, `Download complete`, `Extracting`, `Pull complete`, `Already exists`, `Digest: …`, `Status: …`, `Pushing`, `Pushed`, `Layer already exists`. */
  status: string;
  /** The layer's short digest (12 hex characters), or the tag for the first line. */
  id?: string;
  /** Bytes done and total of the current step. */
  progressDetail?: { current?: number; total?: number };
  /** Docker's rendered bar (`[=====>   ] 1.2MB/2.4MB`). */
  progress?: string;
}

/** Options of {@link ImageService.pull}. */
export interface PullOptions {
  /** The platform to select from an index (default: this host's). */
  platform?: Platform;
  /** Receives progress messages, layer by layer. */
  onProgress?: (p: ImageProgress) => void;
  /** Aborts the pull; what was committed stays (and is reused by a retry). */
  signal?: AbortSignal;
}

/** What {@link ImageService.pull} returns. */
export interface PullResult {
  /** The normalized name pulled (`docker.io/library/busybox:latest`). */
  name: string;
  /** The image id (config digest). */
  id: string;
  /** The digest of what the registry served for the name (index or manifest): the RepoDigest. */
  digest: string;
  /** The platform manifest stored. */
  manifest: Descriptor;
  /** The chainId of the top layer (the rootfs snapshot); undefined for an image without layers. */
  chainId?: string;
  /** Whether anything new was stored (false: "Image is up to date"). */
  downloaded: boolean;
}

/** Options of {@link ImageService.push}. */
export interface PushImageOptions {
  onProgress?: (p: ImageProgress) => void;
  signal?: AbortSignal;
  /**
   * Credentials for this push only (the Docker API's `X-Registry-Auth`),
   * used instead of the registry client's own; a password login or an
   * identity token.
   */
  credentials?: RegistryCredentials;
}

/** Registry credentials given with one call: a password login or an identity token. */
export type RegistryCredentials = { username: string; password: string } | { identityToken: string; username?: string };

/** One row of `GET /images/json` (`docker images`). */
export interface ImageSummary {
  /** The config digest, `sha256:…`. */
  Id: string;
  ParentId: string;
  /** Familiar names (`busybox:latest`); `[]` for a dangling image. */
  RepoTags: string[];
  /** `name@digest` per repository. */
  RepoDigests: string[];
  /** Seconds since the epoch, from the config's `created`. */
  Created: number;
  /** Unpacked size in bytes. */
  Size: number;
  SharedSize: number;
  VirtualSize: number;
  Labels: Record<string, string>;
  Containers: number;
}

/** Options of {@link ImageService.list}. */
export interface ListImagesOptions {
  /** Docker filters: `dangling=true|false`, `reference=<pattern>`, `label=k[=v]`. */
  filters?: Record<string, string[]>;
  signal?: AbortSignal;
}

/** `docker image inspect` of one image (API 1.41 subset). */
export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Parent: string;
  Comment: string;
  /** RFC 3339. */
  Created: string;
  Container: string;
  DockerVersion: string;
  Author: string;
  Config: Record<string, unknown>;
  Architecture: string;
  Variant?: string;
  Os: string;
  Size: number;
  VirtualSize: number;
  GraphDriver: { Name: string; Data: Record<string, string> | null };
  RootFS: { Type: 'layers'; Layers: string[] };
  Metadata: { LastTagTime: string };
}

/** One row of `docker history` (`GET /images/{name}/history`), newest first. */
export interface ImageHistoryItem {
  /** The image id for the top row, `<missing>` for the others (as Docker does for pulled images). */
  Id: string;
  /** Seconds since the epoch. */
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  /** Size of the layer this step made (0 for empty layers). */
  Size: number;
  Comment: string;
}

/** Options of {@link ImageService.remove} (`docker rmi`). */
export interface RemoveImageOptions {
  /** Remove even when referenced by several names or used by containers (then only untagged). */
  force?: boolean;
  /** Keep untagged parents: accepted for Docker compatibility; berth images have no parents. */
  noprune?: boolean;
  signal?: AbortSignal;
}

/** One line of `docker rmi`'s answer. */
export type ImageDeleteItem = { Untagged: string } | { Deleted: string };

/** Options of {@link ImageService.prune}. */
export interface PruneImagesOptions {
  /** Also remove tagged images no container uses (`-a`); default: only dangling ones. */
  all?: boolean;
  /** Docker filters: `dangling`, `until` (created before), `label`, `label!`. */
  filters?: Record<string, string[]>;
  signal?: AbortSignal;
}

/** What {@link ImageService.prune} did. */
export interface PruneImagesResult {
  ImagesDeleted: ImageDeleteItem[];
  /** Bytes freed in the content store and snapshots. */
  SpaceReclaimed: number;
}

/** Options of {@link ImageService.import} (`docker import`). */
export interface ImportImageOptions {
  /** Name to tag the new image with. */
  ref?: string;
  /** Config changes (`--change`): Cmd, Entrypoint, Env, WorkingDir, User, Labels, ExposedPorts, Volumes. */
  config?: Record<string, unknown>;
  /** The history comment (`--message`). */
  message?: string;
  /** The platform written in the config (default: this host's). */
  platform?: Platform;
  signal?: AbortSignal;
}

/** An image resolved for running: what the container service needs. */
export interface ResolvedImage {
  /** The image id (config digest). */
  id: string;
  /** Its names (full form). */
  names: string[];
  /** The manifest descriptor. */
  manifest: Descriptor;
  /** The parsed config. */
  config: ImageConfig;
  /** The chainIds of its layers, bottom first; the last is the rootfs parent. */
  chainIds: string[];
}

/** Whether an image (by id) is used by a container; provided by the container service. */
export type ImageInUse = (imageId: string) => boolean | Promise<boolean>;

/** Docker's image operations. Every method accepts an AbortSignal in its options. */
export interface ImageService {
  /** Pulls `ref` (`busybox` → `docker.io/library/busybox:latest`), stores and unpacks it, then tags it. */
  pull(ref: string, opts?: PullOptions): Promise<PullResult>;
  /** Pushes the image named `ref` (blobs first, then the manifest by tag). */
  push(ref: string, opts?: PushImageOptions): Promise<{ digest: string; size: number }>;
  /** Every image, tagged and dangling. */
  list(opts?: ListImagesOptions): Promise<ImageSummary[]>;
  /** `docker image inspect` of a name, an id or an id prefix. */
  inspect(ref: string, opts?: { signal?: AbortSignal }): Promise<ImageInspect>;
  /** `docker history`. */
  history(ref: string, opts?: { signal?: AbortSignal }): Promise<ImageHistoryItem[]>;
  /** Adds the name `target` to the image `source`. */
  tag(source: string, target: string, opts?: { signal?: AbortSignal }): Promise<void>;
  /** `docker rmi`: untags, and deletes the image once no name is left. */
  remove(ref: string, opts?: RemoveImageOptions): Promise<ImageDeleteItem[]>;
  /** Removes dangling (or, with `all`, unused) images, then collects garbage. */
  prune(opts?: PruneImagesOptions): Promise<PruneImagesResult>;
  /** `docker save`: a Docker archive of the named images (names resolved first, so a missing one rejects before any byte). */
  save(refs: string[], opts?: { signal?: AbortSignal; platform?: Platform }): Promise<Readable>;
  /** `docker load`: imports a Docker archive (or OCI layout tar) and unpacks its images. */
  load(source: Readable | AsyncIterable<Uint8Array>, opts?: { signal?: AbortSignal; onProgress?: (p: ImageProgress) => void }): Promise<{ names: string[]; ids: string[] }>;
  /** `docker import`: one layer from a rootfs tar (plain, gzip or zstd) and a minimal config. */
  import(source: Readable | AsyncIterable<Uint8Array>, opts?: ImportImageOptions): Promise<{ id: string; name?: string }>;
}
