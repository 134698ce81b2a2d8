/**
 * Atomic file replacement: write a temp file, rename it over the target.
 * A reader, this process after a crash or another process, sees the old or
 * the new content, never a torn one: that is what makes records survive an
 * engine restart.
 *
 * Durability across a machine crash is a separate choice, `sync`:
 * - `sync: true` (the default) fsyncs the temp file before the rename, so
 *   the new content is on disk once the call returns. Records that describe
 *   *what exists* (a container's configuration at create, a volume, a
 *   network) use it.
 * - `sync: false` skips the fsync (about 3-7 ms on this VM's ext4 each) for
 *   run state that a machine crash makes stale anyway (running, exited,
 *   network addresses: after a reboot no container runs and reconcile
 *   rewrites them). The rename still replaces the file atomically for every
 *   process, and ext4 (auto_da_alloc) flushes a file renamed over another
 *   before the rename commits, so a crash leaves the old or the new record.
 *
 * The open, write, close and rename are synchronous (a temp file of a few
 * KiB and a rename on a local disk: tens of microseconds); only the fsync,
 * which waits for the disk, goes to the libuv pool. Each trip through the
 * pool costs a wake-up of the event loop, which a busy machine makes long.
 *
 * The directory is not fsynced on a replacement; creations and removals
 * that must survive a crash call {@link fsyncDir} themselves.
 */
import fs from 'node:fs/promises';
import { closeSync, fsync, openSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import { randomHex } from '@berth/oci-spec';

/** Options of {@link atomicWrite}. */
export interface AtomicWriteOptions {
  /** File mode of a new file (default 0o600). */
  mode?: number;
  /** fsync the content before the rename (default true); see the module comment. */
  sync?: boolean;
}

/** Writes `data` to `file` atomically (temp [+ fsync] + rename); see the module comment for durability. */
export async function atomicWrite(file: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${randomHex(6)}.tmp`);
  const fd = openSync(tmp, 'wx', opts.mode ?? 0o600);
  try {
    writeFileSync(fd, data);
    if (opts.sync !== false) await fsyncAsync(fd);
    closeSync(fd);
    renameSync(tmp, file);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      // closed already
    }
    removeFileSync(tmp);
    throw e;
  }
}

const fsyncAsync = promisify(fsync);

/** Writes JSON atomically (see {@link atomicWrite}). */
export async function atomicWriteJson(file: string, value: unknown, opts?: AtomicWriteOptions): Promise<void> {
  await atomicWrite(file, JSON.stringify(value), opts);
}

/** fsyncs a directory so a rename or create in it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const fd = openSync(dir, 'r');
  try {
    await fsyncAsync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Reads and parses a JSON file, or returns undefined when it does not exist. */
export async function readJsonIfExists<T>(file: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return JSON.parse(text) as T;
}

/**
 * Removes a file (or a symlink, or a socket); a missing one is fine. Not
 * `fs.rmSync(p, { force: true })`: that goes through Node's JavaScript
 * rimraf, loaded on first use (~2 ms of a `run --rm` here), for one unlink.
 */
export function removeFileSync(file: string): void {
  try {
    unlinkSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
