/**
 * A lock file shared by every berth process on one root (the engine is
 * daemonless), for the image service's read-modify-write of its metadata
 * and names. Created with O_EXCL and holding `<pid> <start ticks>`; a lock
 * whose holder is gone (no such process, or a reused pid) is broken.
 * Taking and releasing it are synchronous calls (create, write, close,
 * unlink): on the libuv pool each would queue behind long jobs (a layer's
 * writes, fsyncs), and a lock round took tens of milliseconds of waiting.
 */
import fs from 'node:fs/promises';
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isSameProcessAlive, processStartTicks } from '../internal/proc.js';

/** Runs `fn` holding the lock file `file`; waits (polling with backoff) while another live process holds it. */
export async function withFileLock<T>(file: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const me = `${process.pid} ${(await processStartTicks(process.pid)) ?? 0}`;
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    signal?.throwIfAborted();
    try {
      const fd = openSync(file, 'wx', 0o600);
      try { writeSync(fd, me); } finally { closeSync(fd); }
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
    try { unlinkSync(file); } catch { /* gone */ }
  }
}
