/**
 * The lock shared by every berth process on one root (the engine is
 * daemonless), for the image service's read-modify-write of its metadata
 * and names: flock(2) on a lock file (`<root>/images/meta.lock`, made once
 * and kept). The kernel drops it when its holder dies, so there is no stale
 * lock to break: the O_EXCL lock file it replaces was broken by reading its
 * holder's pid, which left two windows, an empty file (a holder killed
 * between its create and its write) that every later process waited for
 * forever, and two processes breaking one stale lock at once, the second
 * removing the lock the next holder had just taken.
 *
 * A free lock costs an open, a flock and a close, all synchronous: on the
 * libuv pool each would queue behind long jobs (a layer's writes, fsyncs).
 * A lock held by another process is polled (2, 4… 50 ms).
 */
import { closeSync, constants, openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { flock } from '@berth/namespaces';

/** Runs `fn` holding the lock file `file`; waits (polling with backoff) while another process holds it. */
export async function withFileLock<T>(file: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const fd = openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600);
  try {
    for (let delay = 2; !flock(fd, 'exclusive'); delay = Math.min(delay * 2, 50)) {
      signal?.throwIfAborted();
      await sleep(delay);
    }
    return await fn();
  } finally {
    closeSync(fd); // releases the lock
  }
}
