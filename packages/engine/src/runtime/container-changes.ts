/**
 * What a container changed in its rootfs (`docker diff`), the stat of a
 * container path (`docker cp`'s `X-Docker-Container-Path-Stat`) and the
 * whole rootfs as a tar (`docker export`).
 *
 * Changes follow moby `pkg/archive/changes.go`: every path of the
 * container's writable layer is Added, or Modified when a lower layer has
 * it; a directory a lower layer has is listed (Modified) as the parent of
 * what changed under it; overlay whiteouts (char 0/0) are Deleted. Paths
 * in `hide` (the files the engine mounts over, Docker's init layer) are
 * left out. With an overlay rootfs only the
 * upper dir is walked; with another snapshotter the diff tar of the rootfs
 * against the image's top layer is read.
 */
import type { Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { diffMounts, TarParser, type Mount, type TarHeader } from '@berth/cow-fs';
import { resolveInRoot } from './root-path.js';
import { tarPath } from './tar-out.js';

/** Docker's change kinds (`archive.ChangeType`). */
export const ChangeKind = { Modified: 0, Added: 1, Deleted: 2 } as const;
/** One of {@link ChangeKind}. */
export type ChangeKind = (typeof ChangeKind)[keyof typeof ChangeKind];

/** One row of `GET /containers/{id}/changes`. */
export interface ContainerChange {
  Path: string;
  Kind: ChangeKind;
}

/** `types.ContainerPathStat`: the stat `docker cp` reads from `X-Docker-Container-Path-Stat`. */
export interface ContainerPathStat {
  name: string;
  size: number;
  /** Go's `os.FileMode` bits: permission bits plus type bits (dir 1<<31, symlink 1<<27 …). */
  mode: number;
  /** RFC 3339. */
  mtime: string;
  /** For a symlink: its target resolved inside the container (an absolute container path); else empty. */
  linkTarget: string;
}

const optionOf = (m: Mount, key: string) => m.options?.find((o) => o.startsWith(`${key}=`))?.slice(key.length + 1);

function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** The lower entry for `rel` (nearest layer first), undefined when absent or whited out. */
async function lowerStat(lowers: string[], rel: string): Promise<Stats | undefined> {
  for (const l of lowers) {
    const st = await fs.lstat(path.join(l, rel)).catch(() => undefined);
    if (!st) continue;
    return isWhiteout(st) ? undefined : st;
  }
  return undefined;
}

/** Adds the parents of every change (Modified when a lower layer has them), sorts by path. */
async function withParents(changes: Map<string, ChangeKind>, lowers: string[]): Promise<ContainerChange[]> {
  for (const p of [...changes.keys()]) {
    for (let d = path.posix.dirname(p); d !== '/' && !changes.has(d); d = path.posix.dirname(d)) {
      changes.set(d, (await lowerStat(lowers, d)) ? ChangeKind.Modified : ChangeKind.Added);
    }
  }
  return [...changes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([Path, Kind]) => ({ Path, Kind }));
}

/** Changes of an overlay rootfs: a walk of its upper dir against its lower dirs. */
async function overlayChanges(upper: string, lowers: string[], hide: Set<string>): Promise<ContainerChange[]> {
  const out = new Map<string, ChangeKind>();
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await fs.readdir(path.join(upper, rel))).sort()) {
      const p = path.posix.join(rel, name);
      const st = await fs.lstat(path.join(upper, p));
      if (isWhiteout(st)) {
        out.set(p, ChangeKind.Deleted);
        continue;
      }
      if (hide.has(p)) continue;
      const low = await lowerStat(lowers, p);
      if (!low) out.set(p, ChangeKind.Added);
      // A directory the lower layers have is listed as the parent of what changed under it
      // (overlay copies it up for any change below, so its own metadata says little).
      else if (!(st.isDirectory() && low.isDirectory())) out.set(p, ChangeKind.Modified);
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk('/');
  return withParents(out, lowers);
}

/** Changes from the uncompressed diff tar of `upper` against `lower` (any snapshotter). */
async function tarChanges(lower: Mount[], upper: Mount[], lowerRoots: string[], hide: Set<string>): Promise<ContainerChange[]> {
  const names: string[] = [];
  const parser = new TarParser({ entry: (h: TarHeader) => { names.push(h.name); }, data: () => undefined, end: () => undefined });
  const d = diffMounts(lower, upper, { compression: 'none' });
  for await (const chunk of d) parser.write(chunk as Buffer);
  parser.finish();
  await d.result;
  const out = new Map<string, ChangeKind>();
  for (const raw of names) {
    const p = `/${raw.replace(/^\.?\/+/, '').replace(/\/+$/, '')}`;
    const base = path.posix.basename(p);
    if (base === '.wh..wh..opq') continue;
    if (base.startsWith('.wh.')) {
      out.set(path.posix.join(path.posix.dirname(p), base.slice(4)), ChangeKind.Deleted);
      continue;
    }
    if (hide.has(p)) continue;
    const low = await lowerStat(lowerRoots, p);
    if (!low) out.set(p, ChangeKind.Added);
    else if (!low.isDirectory()) out.set(p, ChangeKind.Modified);
  }
  return withParents(out, lowerRoots);
}

/**
 * The changes of a container's rootfs given its snapshot's mounts; `view`
 * makes (and `release` removes) a read-only view of the image's top layer
 * for snapshotters that are not overlay.
 */
export async function rootfsChanges(
  upper: Mount[], view: () => Promise<{ mounts: Mount[]; release: () => Promise<void> }>, opts: { hide?: readonly string[] } = {},
): Promise<ContainerChange[]> {
  const hide = new Set(opts.hide ?? []);
  const m = upper[0];
  const upperDir = m?.type === 'overlay' ? optionOf(m, 'upperdir') : undefined;
  if (m && upperDir) return overlayChanges(upperDir, (optionOf(m, 'lowerdir') ?? '').split(':').filter(Boolean), hide);
  const v = await view();
  try {
    const lowerRoots = v.mounts.map((x) => (x.type === 'overlay' ? (optionOf(x, 'lowerdir') ?? '').split(':') : [x.source])).flat().filter(Boolean);
    return await tarChanges(v.mounts, upper, lowerRoots, hide);
  } finally {
    await v.release();
  }
}

/** Go's `os.FileMode` of a stat: permission and setuid/setgid/sticky bits plus the type bit. */
export function goFileMode(st: Stats): number {
  let mode = st.mode & 0o777;
  if (st.mode & 0o4000) mode += 2 ** 23; // ModeSetuid
  if (st.mode & 0o2000) mode += 2 ** 22; // ModeSetgid
  if (st.mode & 0o1000) mode += 2 ** 20; // ModeSticky
  if (st.isDirectory()) mode += 2 ** 31;
  else if (st.isSymbolicLink()) mode += 2 ** 27;
  else if (st.isFIFO()) mode += 2 ** 25;
  else if (st.isSocket()) mode += 2 ** 24;
  else if (st.isCharacterDevice()) mode += 2 ** 26 + 2 ** 21;
  else if (st.isBlockDevice()) mode += 2 ** 26;
  return mode;
}

/** The stat of container path `p` under `root` (daemon/archive.go statPath); throws ENOENT when missing. */
export async function statInRoot(root: string, p: string): Promise<ContainerPathStat> {
  const host = await resolveInRoot(root, p, { followLast: false });
  const st = await fs.lstat(host);
  let linkTarget = '';
  if (st.isSymbolicLink()) {
    const target = await resolveInRoot(root, p, { followLast: true });
    linkTarget = `/${path.relative(root, target)}`;
  }
  return {
    // dockerd keeps a trailing `/.` (filepath.Base gives `.`): docker cp then copies the directory's contents.
    name: /(^|\/)\.$/.test(p) ? '.' : path.posix.basename(path.posix.normalize(p)) || '/', size: st.size, mode: goFileMode(st),
    mtime: st.mtime.toISOString(), linkTarget,
  };
}

/** A tar of every entry under `root`, named relative to it (`bin/`, `etc/passwd`), as `docker export` writes it. */
export function tarRootfs(root: string, opts: { signal?: AbortSignal } = {}): Readable {
  return Readable.from((async function* () {
    const names = (await fs.readdir(root)).sort();
    for (const [i, name] of names.entries()) {
      // Each child's archive without its two end blocks; the last one keeps them.
      const s = tarPath(path.join(root, name), name, opts);
      const chunks: Buffer[] = [];
      for await (const c of s) {
        chunks.push(c as Buffer);
        // Hold back at most what may be the trailing end marker (1024 bytes).
        let held = chunks.reduce((a, b) => a + b.length, 0);
        while (chunks.length > 1 && held - chunks[0]!.length >= 1024) {
          const first = chunks.shift()!;
          held -= first.length;
          yield first;
        }
      }
      const rest = Buffer.concat(chunks);
      yield i === names.length - 1 ? rest : rest.subarray(0, rest.length - 1024);
    }
    if (names.length === 0) yield Buffer.alloc(1024);
  })(), { objectMode: false });
}
