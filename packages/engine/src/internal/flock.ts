/**
 * Locks shared by every berth process on one root (berth is daemonless: any
 * number of CLI processes change the same state at once): flock(2) on a
 * directory or a lock file, which the kernel drops when its holder dies, so
 * there is never a stale lock to break.
 *
 * A free lock costs an open, a flock and a close (microseconds); only a lock
 * held by another process is polled (@berth/namespaces `flockPolled`: 1, 2, 4… 16 ms), and the changes made
 * under these locks take milliseconds. flock locks belong to an open file
 * description, so two opens in one process exclude each other too; callers
 * still serialise their own callers first (a promise chain) so that a
 * process does not poll against itself.
 *
 * The descriptors are close-on-exec, and the runtime's container child closes
 * every descriptor it did not ask for, so no other process inherits a held lock.
 */
import { closeSync, constants, openSync } from 'node:fs';
import { flockPolled } from '@berth/namespaces';

/** Opens `file` (a directory, or a lock file made if missing) for locking; throws ENOENT for a missing directory. */
export function openLockTarget(file: string, kind: 'directory' | 'file'): number {
  return kind === 'directory'
    ? openSync(file, constants.O_RDONLY | constants.O_DIRECTORY)
    : openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600);
}

/**
 * Runs `fn` holding a flock on `file` (see {@link openLockTarget}):
 * exclusive (the default), or shared (any number of shared holders, none
 * while an exclusive one holds it); the lock goes with the descriptor,
 * closed when `fn` settles.
 */
export async function withFlock<T>(file: string, kind: 'directory' | 'file', fn: () => Promise<T> | T, mode: 'exclusive' | 'shared' = 'exclusive'): Promise<T> {
  const fd = openLockTarget(file, kind);
  try {
    await flockPolled(fd, mode);
    return await fn();
  } finally {
    closeSync(fd);
  }
}
