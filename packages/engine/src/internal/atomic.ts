/**
 * Atomic file replacement: write a temp file, fsync it, rename over the
 * target. The directory is not fsynced on a replacement: after a crash the
 * file holds the old or the new content, never a torn one, which is all a
 * state record needs (one fsync per write on the hot path). Creations and
 * removals that must survive a crash call {@link fsyncDir} themselves.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/** Writes `data` to `file` atomically (temp + fsync + rename); see the module comment for durability. */
export async function atomicWrite(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await fs.open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** Writes JSON atomically. */
export async function atomicWriteJson(file: string, value: unknown): Promise<void> {
  await atomicWrite(file, JSON.stringify(value));
}

/** fsyncs a directory so a rename or create in it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const dh = await fs.open(dir, 'r');
  try { await dh.sync(); } finally { await dh.close(); }
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
