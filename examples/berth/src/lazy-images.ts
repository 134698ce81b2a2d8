/**
 * The CLI's image service: the engine's `LocalImageService` over the same
 * root, opened only when an image command first needs it, so `volume ls`
 * does not pay for opening the content store and snapshotter.
 */
import { openLocalImageService, type EventInput, type ImageService, type LazyRegistryOptions, type LocalImageService } from '@berth/engine/local';

/** An {@link ImageService} that opens the real one on first use; `close()` closes it if it was opened. */
export interface LazyImageService extends ImageService {
  /** Resolves an image for container creation (opens the service). */
  resolveImage: LocalImageService['resolveImage'];
  /** Whether an image is still there, under the removal lock (opens the service). */
  stillPresent: LocalImageService['stillPresent'];
  /** The snapshotter holding unpacked layers and container rootfs snapshots (opens the service on first call). */
  readonly snapshotter: Pick<LocalImageService['snapshotter'], 'prepare' | 'mounts' | 'remove' | 'view' | 'commit'>;
  /** The real service (opened on first call). */
  service(): Promise<LocalImageService>;
  /**
   * Starts looking `ref` up (opening the service): the next `resolveImage` of
   * the same reference takes that lookup instead of making its own; one that
   * failed (the image is not there yet) is made again.
   */
  prefetch(ref: string): void;
  close(): Promise<void>;
}

/** Options of {@link lazyLocalImages}. */
export interface LazyImagesOptions {
  root: string;
  /** Where image events go (the engine's event bus). */
  publish: (e: EventInput) => Promise<unknown>;
  /** Whether a container uses an image id. */
  isInUse: (imageId: string) => Promise<boolean>;
  /** Options of the registry client (see `LocalImageServiceOptions.registryOptions`). */
  registryOptions?: LazyRegistryOptions;
}

/** Makes the lazy image service for `root`. */
export function lazyLocalImages(opts: LazyImagesOptions): LazyImageService {
  let opening: Promise<LocalImageService> | undefined;
  const get = () => (opening ??= openLocalImageService({
    root: opts.root, events: { publish: opts.publish }, isInUse: opts.isInUse, ...(opts.registryOptions ? { registryOptions: opts.registryOptions } : {}),
  }));
  let warm: { ref: string; result: ReturnType<LocalImageService['resolveImage']> } | undefined;
  const call = <K extends keyof ImageService>(k: K) => (async (...args: unknown[]) => {
    const s = await get();
    return (s[k] as (...a: unknown[]) => unknown).apply(s, args);
  }) as unknown as ImageService[K];
  return {
    pull: call('pull'), push: call('push'), list: call('list'), inspect: call('inspect'), history: call('history'), tag: call('tag'),
    remove: call('remove'), prune: call('prune'), save: call('save'), load: call('load'), import: call('import'),
    resolveImage: async (ref, o) => {
      const w = warm;
      warm = undefined;
      if (w?.ref === ref && !o?.signal) {
        try {
          return await w.result;
        } catch { /* not found then (or failed): look again */ }
      }
      return (await get()).resolveImage(ref, o);
    },
    prefetch(ref) {
      warm = { ref, result: get().then((s) => s.resolveImage(ref)) };
      warm.result.catch(() => undefined);
    },
    stillPresent: async (id, o) => (await get()).stillPresent(id, o),
    service: get,
    snapshotter: {
      prepare: async (...a) => (await get()).snapshotter.prepare(...a),
      mounts: async (...a) => (await get()).snapshotter.mounts(...a),
      remove: async (...a) => (await get()).snapshotter.remove(...a),
      view: async (...a) => (await get()).snapshotter.view(...a),
      commit: async (...a) => (await get()).snapshotter.commit(...a),
    },
    async close() {
      if (!opening) return;
      const s = await opening.catch(() => undefined); // a service that failed to open was reported by the call that needed it
      if (!s) return;
      await s.close();
      await s.snapshotter.close();
      await s.store.close();
    },
  };
}
