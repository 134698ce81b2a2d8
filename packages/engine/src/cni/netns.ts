/**
 * Persistent network namespaces as bind-mounted files. Node cannot
 * unshare(CLONE_NEWNET) itself (it is threaded), so `unshare --net=<file>
 * ip link set lo up` (util-linux, iproute2) creates the namespace in a
 * child, bind-mounts it to the file and brings `lo` up in it; the file's
 * directory is made a private mount point first, because a bind mount onto a file below a shared mount fails (and would
 * propagate).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { mount, umount } from '@berth/namespaces';
import { NetnsError } from '../errors.js';
import { run } from '../internal/exec.js';
import { withFlock } from '../internal/flock.js';
import { isMountPoint } from '../local/volume-store.js';

/** The propagation of the mount at `real` (the last one stacked there), or undefined when it is no mount point. */
async function propagationOf(real: string): Promise<'private' | 'shared' | undefined> {
  const info = await fs.readFile('/proc/self/mountinfo', 'utf8');
  let found: 'private' | 'shared' | undefined;
  for (const line of info.split('\n')) {
    const f = line.split(' ');
    if ((f[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) !== real) continue;
    const optional = f.slice(6, f.indexOf('-'));
    found = optional.some((o) => o.startsWith('shared:') || o.startsWith('master:')) ? 'shared' : 'private';
  }
  return found;
}

/**
 * Makes `dir` a private mount point (bind-mounting it onto itself if needed),
 * with mount(2) from this process: no `mount` child, and nothing done when
 * it already is one. Several processes may do it at once: the change is made
 * under flock(2) on the directory.
 */
export async function ensurePrivateMountDir(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  try {
    const real = await fs.realpath(dir);
    if (await propagationOf(real) === 'private') return;
    // Checked again and changed holding flock on the directory: two processes that both found no mount point
    // would each bind the directory onto itself, stacking a second mount over the namespace files bound under the first.
    await withFlock(real, 'directory', async () => {
      const now = await propagationOf(real);
      if (now === 'private') return;
      if (now === undefined) mount(real, real, null, { bind: true });
      mount(null, real, null, { private: true });
    });
  } catch (e) {
    throw new NetnsError(dir, 'make private mount point', { cause: e });
  }
}

/**
 * Creates a new network namespace bound at `file` and brings `lo` up in it,
 * with one child: `unshare --net=<file> ip link set lo up`.
 */
export async function createNetns(file: string): Promise<void> {
  await ensurePrivateMountDir(path.dirname(file));
  const fh = await fs.open(file, 'wx', 0o444).catch((e: NodeJS.ErrnoException) => {
    throw new NetnsError(file, 'create file', { cause: e });
  });
  await fh.close();
  try {
    await run('unshare', [`--net=${file}`, 'ip', 'link', 'set', 'lo', 'up']);
  } catch (e) {
    if (await isMountPoint(file).catch(() => false)) {
      try {
        umount(file);
      } catch {
        // Left for deleteNetns.
      }
    }
    await fs.rm(file, { force: true });
    throw new NetnsError(file, 'unshare', { cause: e });
  }
}

/** Unmounts and removes a namespace file. Idempotent. */
export async function deleteNetns(file: string): Promise<void> {
  if (await isMountPoint(file).catch(() => false)) {
    try {
      umount(file);
    } catch (e) {
      throw new NetnsError(file, 'umount', { cause: e });
    }
  }
  await fs.rm(file, { force: true });
}
