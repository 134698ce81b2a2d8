/**
 * The CLI's image service: the engine's `LocalImageService` over the same
 * root, opened only when an image command first needs it, so `volume ls`
 * does not pay for opening the content store and snapshotter.
 */
import { openLocalImageService, type EventInput, type ImageService, type LocalImageService } from '@berth/engine';

/** An {@link ImageService} that opens the real one on first use; `close()` closes it if it was opened. */
export interface LazyImageService extends ImageService {
  close(): Promise<void>;
}

/** Options of {@link lazyLocalImages}. */
export interface LazyImagesOptions {
  root: string;
  /** Where image events go (the engine's event bus). */
  publish: (e: EventInput) => Promise<unknown>;
  /** Whether a container uses an image id. */
  isInUse: (imageId: string) => Promise<boolean>;
}

/** Makes the lazy image service for `root`. */
export function lazyLocalImages(opts: LazyImagesOptions): LazyImageService {
  let opening: Promise<LocalImageService> | undefined;
  const get = () => (opening ??= openLocalImageService({ root: opts.root, events: { publish: opts.publish }, isInUse: opts.isInUse }));
  const call = <K extends keyof ImageService>(k: K) => (async (...args: unknown[]) => {
    const s = await get();
    return (s[k] as (...a: unknown[]) => unknown).apply(s, args);
  }) as unknown as ImageService[K];
  return {
    pull: call('pull'), push: call('push'), list: call('list'), inspect: call('inspect'), history: call('history'), tag: call('tag'),
    remove: call('remove'), prune: call('prune'), save: call('save'), load: call('load'), import: call('import'),
    async close() {
      if (!opening) return;
      const s = await opening;
      await s.close();
      await s.snapshotter.close();
      await s.store.close();
    },
  };
}
