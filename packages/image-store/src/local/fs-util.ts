/**
 * Small filesystem helpers for the local store: durable writes and hashing.
 * The durable writes make their small calls (open, write, close, rename)
 * synchronously and only the fsyncs on the libuv pool: each pool job queues
 * behind whatever long jobs run there (a layer's writes and inflate), so a
 * metadata write of eight pool jobs took up to a hundred milliseconds of
 * waiting during a pull.
 */
import { closeSync, createReadStream, fsync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import { createHash, randomBytes, type Hash } from 'node:crypto';

const fsyncAsync = promisify(fsync);

/** fsyncs a directory, so renames and unlinks in it are durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fd = openSync(dir, 'r');
  try {
    await fsyncAsync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `file` atomically: temp file in the same dir, fsync, rename, fsync dir. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'w', mode);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off, bytes.length - off);
    await fsyncAsync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, file);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* gone */ }
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
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Is this an ENOENT error? */
export function isEnoent(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'ENOENT';
}
