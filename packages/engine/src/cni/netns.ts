/**
 * Persistent network namespaces as bind-mounted files. Node cannot
 * unshare(CLONE_NEWNET) itself (it is threaded), so `unshare --net=<file>
 * true` from util-linux creates the namespace in a child and bind-mounts it
 * to the file; the file's directory is made a private mount point first,
 * because a bind mount onto a file below a shared mount fails (and would
 * propagate).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { NetnsError } from '../errors.js';
import { run } from '../internal/exec.js';
import { isMountPoint } from '../local/volume-store.js';

/** Makes `dir` a private mount point (bind-mounting it onto itself if needed). */
export async function ensurePrivateMountDir(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  try {
    if (!(await isMountPoint(dir))) await run('mount', ['--bind', dir, dir]);
    await run('mount', ['--make-private', dir]);
  } catch (e) {
    throw new NetnsError(dir, 'make private mount point', { cause: e });
  }
}

/** Creates a new network namespace bound at `file` and brings `lo` up in it. */
export async function createNetns(file: string): Promise<void> {
  await ensurePrivateMountDir(path.dirname(file));
  const fh = await fs.open(file, 'wx', 0o444).catch((e: NodeJS.ErrnoException) => {
    throw new NetnsError(file, 'create file', { cause: e });
  });
  await fh.close();
  try {
    await run('unshare', [`--net=${file}`, 'true']);
  } catch (e) {
    await fs.rm(file, { force: true });
    throw new NetnsError(file, 'unshare', { cause: e });
  }
}

/** Unmounts and removes a namespace file. Idempotent. */
export async function deleteNetns(file: string): Promise<void> {
  if (await isMountPoint(file).catch(() => false)) {
    try {
      await run('umount', [file]);
    } catch (e) {
      throw new NetnsError(file, 'umount', { cause: e });
    }
  }
  await fs.rm(file, { force: true });
}
