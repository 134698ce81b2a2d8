/** Small filesystem helpers for the local store: durable writes and hashing. */
import fs from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes, type Hash } from 'node:crypto';

/** fsyncs a directory, so renames and unlinks in it are durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes `file` atomically: temp file in the same dir, fsync, rename, fsync dir. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await fs.open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.unlink(tmp).catch(() => {});
    throw e;
  }
  await fsyncDir(dir);
}

/** Feeds a file (or its first `length` bytes) to `hash`, streaming. */
export async function hashFile(file: string, hash: Hash, length?: number): Promise<number> {
  let n = 0;
  const stream = createReadStream(file, { highWaterMark: 1 << 20, ...(length !== undefined ? { end: length - 1 } : {}) });
  if (length === 0) { stream.destroy(); return 0; }
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    n += (chunk as Buffer).length;
  }
  return n;
}

/** The `alg:hex` digest of a file, streaming. */
export async function digestFile(file: string, algorithm = 'sha256'): Promise<{ digest: string; size: number }> {
  const h = createHash(algorithm);
  const size = await hashFile(file, h);
  return { digest: `${algorithm}:${h.digest('hex')}`, size };
}

/** Reads a JSON file, or returns undefined when it does not exist. */
export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Is this an ENOENT error? */
export function isEnoent(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'ENOENT';
}
