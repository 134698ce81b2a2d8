/**
 * Mounting snapshot mounts, for callers and tests that want a merged tree
 * (the engine's runtime mounts them itself, in the container's namespace).
 */
import type { Mount } from '../snapshotter.js';
import { mountAll as nsMountAll, umount } from './sys.js';

/** Mounts `mounts` in order at `target` (each stacks on the previous), as containerd's mount.All. */
export function mountAll(mounts: Mount[], target: string): void {
  nsMountAll(mounts, target);
}

/** Unmounts what is mounted at `target` (`count` stacked mounts, default 1). */
export function unmountAll(target: string, count = 1, opts: { detach?: boolean } = {}): void {
  for (let i = 0; i < count; i++) umount(target, opts);
}
