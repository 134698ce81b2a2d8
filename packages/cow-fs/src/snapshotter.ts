/**
 * The Snapshotter contract.
 *
 * A snapshotter manages filesystem snapshots for containers: directories that
 * layer on top of each other, each copy-on-write over its parent. It follows
 * containerd's key/name/parent model (core/snapshots/snapshotter.go):
 *
 * - An **active** snapshot is writable. It is created by {@link Snapshotter.prepare}
 *   and known by its *key*. Its {@link Mount}s, mounted anywhere, give a
 *   writable tree that starts as a copy of its parent.
 * - A **view** is a read-only active-like snapshot made by
 *   {@link Snapshotter.view}; it is never committed, only removed.
 * - A **committed** snapshot is immutable. {@link Snapshotter.commit} turns an
 *   active snapshot (key) into a committed one (*name*); the key stops
 *   existing. Only committed snapshots can be parents.
 * - Keys and names share one namespace: no key may equal an existing name.
 * - The *parent* of a snapshot is the name of a committed snapshot, or none
 *   (an empty tree). A committed snapshot with children cannot be removed.
 *
 * Nothing is mounted by the snapshotter: `prepare`, `view` and `mounts` return
 * the mounts; the caller mounts them (or, to unpack, writes straight into the
 * directory they name, see `applyLayerToMounts`).
 *
 * ## Worked example: unpacking a two-layer image, then running a container
 *
 * Layer diffIds are L1, L2; chainIds are C1 = L1, C2 = sha256(C1 + " " + L2).
 *
 * ```ts
 * const sn = await openOverlaySnapshotter('/var/lib/berth/overlay');
 *
 * // 1. The first layer has no parent: prepare an empty active snapshot.
 * //    The key is a unique temporary name; the committed name is the chainId.
 * const m1 = await sn.prepare('extract-1 C1', undefined);
 * await applyLayerToMounts(m1, layer1Stream);      // writes the layer into it
 * await sn.commit('C1', 'extract-1 C1');           // key gone, name C1 exists
 *
 * // 2. The second layer: prepare on top of C1, apply, commit as C2.
 * const m2 = await sn.prepare('extract-2 C2', 'C1');
 * await applyLayerToMounts(m2, layer2Stream);      // whiteouts hide C1's files
 * await sn.commit('C2', 'extract-2 C2');
 *
 * // 3. A container: an active snapshot on top of the image's top layer.
 * const rootfs = await sn.prepare('container-42', 'C2', { labels: { 'berth/container': '42' } });
 * mountAll(rootfs, '/run/berth/42/rootfs');        // overlay: lowerdir=C2:C1, upperdir, workdir
 * // … the container runs and writes into its upper dir …
 * await sn.usage('container-42');                  // { size, inodes } of what it wrote
 *
 * // 4. `docker commit`: the layer of what the container changed. For an
 * //    overlay rootfs only its upper dir is walked; the view is the base.
 * const base = await sn.view('container-42-base', 'C2');
 * const layer = diffMounts(base, rootfs, { compression: 'gzip' });
 * await pipeline(layer, blobWriter);               // then: (await layer.result).digest
 *
 * // 5. Clean up: views and active snapshots go at once; a committed
 * //    snapshot only when no snapshot names it as parent.
 * unmount('/run/berth/42/rootfs');
 * await sn.remove('container-42');
 * await sn.remove('container-42-base');
 * await sn.remove('C2');                           // ok now; C1 next
 * await sn.remove('C1');
 * ```
 *
 * ## Concurrent unpack: a parent that is still active
 *
 * Layer N+1 does not need layer N to be complete to be applied (its own
 * directory is separate: containerd applies each layer into the new
 * snapshot's upper dir and reads the parents only for hardlinks and parent
 * paths). So `prepare` with `{ activeParent: true }` accepts the *key* of an
 * active snapshot as parent, where the backend allows it
 * (`capabilities.activeParent`: overlay yes, copy no). The contract still
 * holds at every commit:
 *
 * - the child cannot be committed before its parent is
 *   (ERR_SNAPSHOT_INVALID_STATE); when the parent is committed, every child
 *   naming its key is rebased onto its name in the same metadata write;
 * - the parent cannot be removed while it has children;
 * - `applyLayerToMounts(m, stream, { lowersReady })` never reads a lower
 *   layer before `lowersReady` settles (an entry that needs one waits).
 *
 * ```ts
 * const m1 = await sn.prepare('extract-1 C1', undefined);
 * const m2 = await sn.prepare('extract-2 C2', 'extract-1 C1', { activeParent: true });
 * const a1 = applyLayerToMounts(m1, layer1Stream);
 * const a2 = applyLayerToMounts(m2, layer2Stream, { lowersReady: a1 });   // runs alongside a1
 * await Promise.all([a1, a2]);
 * await Promise.all([sn.commit('C1', 'extract-1 C1'), sn.commit('C2', 'extract-2 C2')]); // one syncfs
 * ```
 *
 * Failures are typed: an unknown key is ERR_SNAPSHOT_NOT_FOUND, a taken key
 * ERR_SNAPSHOT_ALREADY_EXISTS, committing a view or using an active snapshot
 * as a parent ERR_SNAPSHOT_INVALID_STATE, removing a parent
 * ERR_SNAPSHOT_HAS_CHILDREN, any call after close() ERR_SNAPSHOTTER_CLOSED.
 *
 * Durability: `commit` syncs the snapshot's filesystem (syncfs) before it
 * records the commit (commits waiting at the same time share one syncfs,
 * which runs off the main thread), and metadata is written atomically (temp file, fsync,
 * rename, fsync of the directory), so after a crash a snapshot is either
 * committed with its data or not committed at all; `cleanup` removes
 * directories that no snapshot owns.
 */

import type { CallOptions, Mount } from '@berth/oci-spec';

/** A mount as snapshotters hand it out (oci-spec's `Mount`, containerd's shape). */
export type { Mount };

/** The kinds of snapshot. */
export const SnapshotKind = {
  Active: 'active',
  View: 'view',
  Committed: 'committed',
} as const;
/** One of the values of {@link SnapshotKind}. */
export type SnapshotKind = (typeof SnapshotKind)[keyof typeof SnapshotKind];

/** What a snapshotter knows about one snapshot. */
export interface SnapshotInfo {
  /** The key (active, view) or the name (committed). */
  name: string;
  kind: SnapshotKind;
  /** The name of the committed parent, if any. */
  parent?: string;
  /** User labels; `berth/` prefixed ones are reserved for berth. */
  labels: Record<string, string>;
  created: Date;
  updated: Date;
}

/** Space a snapshot uses on its own (not counting its parents). */
export interface Usage {
  /** Bytes of disk used (allocated blocks × 512; hardlinks counted once). */
  size: number;
  /** Number of inodes. */
  inodes: number;
}

/** Options of prepare, view and commit: labels, plus oci-spec's `CallOptions` (`signal`). */
export interface SnapshotOptions extends CallOptions {
  labels?: Record<string, string>;
  /**
   * prepare only: `parent` may be the key of an active snapshot (a layer
   * still being unpacked); see "Concurrent unpack" in the module comment.
   * Backends without `capabilities.activeParent` throw ERR_SNAPSHOTTER_UNSUPPORTED.
   */
  activeParent?: boolean;
  /**
   * prepare and view only (default true): return only once the new
   * snapshot's record is durably on disk. With false the call returns as soon
   * as the snapshot exists (its directory made, the record in memory and its
   * write started); the write goes on in the background, shared with the
   * next operation's, and `close()` waits for it. A crash before it lands
   * loses the record, and `cleanup()` removes the directory as an orphan. For
   * transient snapshots whose commit is the durable point (a pull's unpack):
   * the first layer no longer waits for an fsync before it starts. A failed
   * background write rolls the metadata back, so a later commit of the key
   * fails with ERR_SNAPSHOT_NOT_FOUND.
   */
  durable?: boolean;
}

/** What a backend can do beyond the base contract. */
export interface SnapshotterCapabilities {
  /** `prepare` over an active parent (`{ activeParent: true }`): layers of a chain can be unpacked concurrently. */
  activeParent: boolean;
}

/** A filter for {@link Snapshotter.walk}; every given field must match. */
export interface WalkFilter {
  kind?: SnapshotKind;
  parent?: string;
  /** Label equality; a value of `undefined`/'*' only requires presence. */
  labels?: Record<string, string | undefined>;
  /** Name prefix. */
  namePrefix?: string;
}

/** The snapshotter contract; see the module comment for the model and an example. */
export interface Snapshotter {
  /** What this backend supports beyond the base contract (absent: nothing). */
  readonly capabilities?: SnapshotterCapabilities;
  /** Information on the snapshot with this key or name. @throws ERR_SNAPSHOT_NOT_FOUND */
  stat(key: string, opts?: CallOptions): Promise<SnapshotInfo>;
  /**
   * Updates mutable fields (labels only). Without `fieldpaths`, labels are
   * replaced; with `['labels.a']` only label `a` is set (or removed when absent).
   */
  update(info: Pick<SnapshotInfo, 'name' | 'labels'>, opts?: CallOptions & { fieldpaths?: string[] }): Promise<SnapshotInfo>;
  /** Disk use of the snapshot itself (for active ones, of what was written so far). */
  usage(key: string, opts?: CallOptions): Promise<Usage>;
  /** The mounts of an active snapshot or view. @throws ERR_SNAPSHOT_INVALID_STATE for committed ones */
  mounts(key: string, opts?: CallOptions): Promise<Mount[]>;
  /** Creates an active snapshot `key` over the committed `parent` (or empty) and returns its mounts. */
  prepare(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]>;
  /** Creates a read-only view `key` of the committed `parent` and returns its mounts. */
  view(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]>;
  /** Commits the active snapshot `key` as `name`; `key` stops existing. Syncs its data first. */
  commit(name: string, key: string, opts?: SnapshotOptions): Promise<void>;
  /** Removes a snapshot; a committed one must have no children. */
  remove(key: string, opts?: CallOptions): Promise<void>;
  /** Every snapshot matching all filters (none: all), in name order. */
  walk(opts?: CallOptions & { filters?: WalkFilter[] }): AsyncIterable<SnapshotInfo>;
  /** Removes directories and mounts that no snapshot owns (after a crash). */
  cleanup(opts?: CallOptions): Promise<void>;
  /** Releases the snapshotter; idempotent. Later calls fail with ERR_SNAPSHOTTER_CLOSED. */
  close(): Promise<void>;
}
