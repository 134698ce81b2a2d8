/** Named and anonymous volumes, in Docker's `volume inspect` shape. */

/** `docker volume inspect` output for one volume. */
export interface Volume {
  Name: string;
  Driver: string;
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: 'local';
  Options: Record<string, string>;
  /** Present when listing with usage (`docker system df -v`). */
  UsageData?: { Size: number; RefCount: number };
}

/** Options of {@link VolumeStore.create}, like `docker volume create`. */
export interface CreateVolumeOptions {
  /** Omit for an anonymous volume (a 64-hex name and the `com.docker.volume.anonymous` label). */
  name?: string;
  /** Only `local` exists. */
  driver?: string;
  labels?: Record<string, string>;
  /** The local driver's options: `type`, `device`, `o` (as for mount(8)), e.g. `type=tmpfs,device=tmpfs,o=size=64m`. */
  options?: Record<string, string>;
  /**
   * A container id (64 hex) recorded as a reference of the volume, created or
   * found, in the same step: no remove or prune of another process can take the
   * volume between its creation and the container's record. Drop it with
   * `VolumeReferences.release`.
   */
  reference?: string;
}

/** Options of {@link VolumeStore.prune}. */
export interface PruneVolumesOptions {
  /** Docker 23+ prunes only anonymous volumes unless `all` is set. */
  all?: boolean;
  /** `label=k` / `label=k=v` / `label!=…` filters. */
  filters?: Record<string, string[]>;
}

/** The result of a prune: the removed names and the bytes reclaimed. */
export interface PruneReport { VolumesDeleted: string[]; SpaceReclaimed: number }

/**
 * The volume store, Docker's `local` driver: each volume is
 * `<root>/volumes/<name>/_data` plus `volume.json`; volumes with
 * `type`/`device`/`o` options are mounted there on first use and unmounted
 * after the last. Containers that reference a volume (see
 * {@link VolumeReferences}) keep it from removal.
 */
export interface VolumeStore {
  /** Creates a volume; creating an existing name returns it unchanged (docker's behaviour). */
  create(opts?: CreateVolumeOptions): Promise<Volume>;
  /** Looks up a volume; throws `ERR_ENGINE_VOLUME_NOT_FOUND`. */
  inspect(name: string): Promise<Volume>;
  /** All volumes, by name; `filters`: name, label, dangling, driver. */
  list(opts?: { filters?: Record<string, string[]> }): Promise<Volume[]>;
  /** Removes a volume; throws `ERR_ENGINE_VOLUME_IN_USE` unless `force` and unreferenced… force only skips not-found. */
  remove(name: string, opts?: { force?: boolean }): Promise<void>;
  /** Removes unreferenced volumes. */
  prune(opts?: PruneVolumesOptions): Promise<PruneReport>;
  /** Makes the volume's content available at its Mountpoint (mounting driver options) and counts a user. */
  mount(name: string, containerId: string): Promise<string>;
  /** Drops a user; unmounts a driver-option volume after its last user. */
  unmount(name: string, containerId: string): Promise<void>;
}
