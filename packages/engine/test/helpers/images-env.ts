/**
 * Test environment for the image service: a fresh engine root in a temp dir
 * and the service over it (overlay snapshotter, local OCI layout store, a
 * registry client for 127.0.0.1), plus tree checks on unpacked snapshots.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { openLocalImageService, type ImageInUse, type LocalImageService, type ImageEventSink } from '@berth/engine';
import { startRegistry, type TestRegistry } from '@berth/testkit';
import { tempDir } from './tmp.js';

/** Options of {@link openImages}. */
export interface ImagesEnvOptions {
  isInUse?: ImageInUse;
  events?: ImageEventSink;
  root?: string;
  /** See LocalImageServiceOptions.feedLimitBytes. */
  feedLimitBytes?: number;
}

/** Opens an image service on a fresh root (or `opts.root`). */
export async function openImages(opts: ImagesEnvOptions = {}): Promise<{ images: LocalImageService; root: string; close: () => Promise<void> }> {
  const root = opts.root ?? await tempDir('berth-images-');
  const images = await openLocalImageService({
    root, ...(opts.isInUse ? { isInUse: opts.isInUse } : {}), ...(opts.events ? { events: opts.events } : {}),
    platform: { os: 'linux', architecture: 'amd64' },
    ...(opts.feedLimitBytes !== undefined ? { feedLimitBytes: opts.feedLimitBytes } : {}),
  });
  return {
    images, root,
    close: () => images.close(),
  };
}

/**
 * Mounts the snapshot tree of `chainId` read-only at a temp dir (a view),
 * runs `fn` on the path, then unmounts and removes the view.
 */
export async function withRootfs<T>(images: LocalImageService, chainId: string, fn: (dir: string) => Promise<T> | T): Promise<T> {
  const key = `test-view-${Math.random().toString(16).slice(2)}`;
  const mounts = await images.snapshotter.view(key, chainId);
  const dir = await tempDir('berth-rootfs-');
  try {
    const m = mounts[0]!;
    const args = m.type === 'bind'
      ? ['--bind', '-o', 'ro', m.source, dir]
      : ['-t', m.type, '-o', m.options.join(','), m.source, dir];
    const r = spawnSync('mount', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`mount failed: ${r.stderr}`);
    try {
      return await fn(dir);
    } finally {
      spawnSync('umount', [dir]);
    }
  } finally {
    await images.snapshotter.remove(key);
  }
}

/** Whether `p` exists without following a final symlink. */
export function exists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** The multilayer fixture's documented unpacked state (scripts/testkit/README.md), checked under `dir`. */
export function multilayerProblems(dir: string): string[] {
  const d = (p: string) => path.join(dir, p);
  const problems: string[] = [];
  const want = (ok: boolean, what: string) => { if (!ok) problems.push(what); };
  want(exists(d('bin/busybox')), '/bin/busybox present');
  want(!exists(d('bin/vi')), '/bin/vi removed (whiteout)');
  want(!exists(d('usr/sbin')), '/usr/sbin removed (whiteout)');
  want(!exists(d('data/del-file.txt')), 'del-file.txt removed');
  want(!exists(d('data/del-dir')), 'del-dir removed');
  want(exists(d('data/keep.txt')), 'keep.txt present');
  want(exists(d('data/opaque')) && fs.readdirSync(d('data/opaque')).join(',') === 'new.txt', 'opaque/ holds only new.txt');
  want(exists(d('data/file-to-dir')) && fs.readdirSync(d('data/file-to-dir')).join(',') === 'inside.txt', 'file-to-dir/ holds only inside.txt');
  want(exists(d('data/dir-to-file')) && fs.lstatSync(d('data/dir-to-file')).isFile(), 'dir-to-file is a file');
  want(exists(d('data/hardlink-to-lower.txt')) && exists(d('data/hardlink-target.txt'))
    && fs.statSync(d('data/hardlink-to-lower.txt')).ino === fs.statSync(d('data/hardlink-target.txt')).ino, 'hardlinks share an inode');
  want(exists(d('data/random-20m.bin')) && fs.statSync(d('data/random-20m.bin')).size === 20 * 1024 * 1024, 'random-20m.bin is 20 MiB');
  want(exists(d('data/setuid-busybox')) && (fs.statSync(d('data/setuid-busybox')).mode & 0o4000) !== 0, 'setuid bit kept');
  want(exists(d('data/user-owned.txt')) && fs.statSync(d('data/user-owned.txt')).uid === 1000, 'user-owned.txt owned by 1000');
  want(exists(d('data/abs-link')) && fs.readlinkSync(d('data/abs-link')) === '/data/keep.txt', 'abs-link target kept');
  want(exists(d('data/fifo')) && fs.lstatSync(d('data/fifo')).isFIFO(), 'fifo is a fifo');
  return problems;
}

/**
 * Starts a seeded registry, retrying a start that failed (on a loaded
 * machine a free port can be taken between probe and bind by another test).
 */
export async function startSeededRegistry(): Promise<TestRegistry> {
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startRegistry();
    } catch (e) {
      last = e;
    }
  }
  throw last;
}
