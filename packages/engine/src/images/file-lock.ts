/**
 * A lock file shared by every berth process on one root (the engine is
 * daemonless), for the image service's read-modify-write of its metadata
 * and names. Created with O_EXCL and holding `<pid> <start ticks>`; a lock
 * whose holder is gone (no such process, or a reused pid) is broken.
 */
import fs from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { isSameProcessAlive, processStartTicks } from '../internal/proc.js';

/** Runs `fn` holding the lock file `file`; waits (polling with backoff) while another live process holds it. */
export async function withFileLock<T>(file: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const me = `${process.pid} ${(await processStartTicks(process.pid)) ?? 0}`;
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    signal?.throwIfAborted();
    try {
      const fh = await fs.open(file, 'wx', 0o600);
      try { await fh.writeFile(me); } finally { await fh.close(); }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = await fs.readFile(file, 'utf8').catch(() => '');
    const [pid, ticks] = holder.split(' ').map(Number);
    // An empty file is a holder between open and write: wait for it.
    if (holder !== '' && !await isSameProcessAlive(pid ?? 0, ticks || undefined)) {
      // Break a stale lock only if it is still the same stale content.
      const again = await fs.readFile(file, 'utf8').catch(() => undefined);
      if (again === holder) await fs.unlink(file).catch(() => undefined);
      continue;
    }
    await sleep(delay);
  }
  try {
    return await fn();
  } finally {
    await fs.unlink(file).catch(() => undefined);
  }
}
