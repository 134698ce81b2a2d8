/**
 * Snapshot metadata persisted as one JSON file, replaced atomically: written
 * to a temp file, fsynced, renamed over the old one, and the directory
 * fsynced (rename(2) is atomic; the directory fsync makes it durable).
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { SnapshotKind, Usage } from '../snapshotter.js';

/** One snapshot as stored. */
export interface StoredSnapshot {
  id: number;
  kind: SnapshotKind;
  parent?: string;
  labels: Record<string, string>;
  created: string;
  updated: string;
  /** Frozen at commit. */
  usage?: Usage;
}

/** The whole metadata file. */
export interface StoredMetadata {
  version: 1;
  nextId: number;
  snapshots: Record<string, StoredSnapshot>;
}

/** Reads the metadata file, or an empty store when it does not exist. */
export function readMetadata(path: string): StoredMetadata {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, nextId: 1, snapshots: {} };
    throw e;
  }
  const m = JSON.parse(text) as StoredMetadata;
  if (m.version !== 1 || typeof m.nextId !== 'number' || typeof m.snapshots !== 'object') throw new Error(`unknown metadata format in ${path}`);
  return m;
}

/** Replaces the metadata file atomically and durably. */
export function writeMetadata(path: string, m: StoredMetadata): void {
  const tmp = `${path}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(m));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path);
  const dir = fs.openSync(path.slice(0, path.lastIndexOf('/')) || '/', 'r');
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
}

/** {@link writeMetadata} on the thread pool: its fsyncs never block the main thread. */
export async function writeMetadataAsync(path: string, m: StoredMetadata): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await fsp.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(JSON.stringify(m));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, path);
  const dir = await fsp.open(path.slice(0, path.lastIndexOf('/')) || '/', 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Disk use of a tree: allocated blocks × 512 and inode count, hardlinks counted once. */
export function diskUsage(root: string): Usage {
  const seen = new Set<string>();
  let size = 0;
  let inodes = 0;
  const visit = (p: string): void => {
    const st = fs.lstatSync(p, { bigint: false });
    const id = `${st.dev}:${st.ino}`;
    if (seen.has(id)) return;
    seen.add(id);
    inodes++;
    size += st.blocks * 512;
    if (st.isDirectory()) for (const n of fs.readdirSync(p)) visit(`${p}/${n}`);
  };
  visit(root);
  return { size, inodes };
}
