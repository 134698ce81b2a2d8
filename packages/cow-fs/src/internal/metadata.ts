/**
 * Snapshot metadata persisted as one JSON file, replaced atomically: written
 * to a temp file, fsynced, renamed over the old one, and the directory
 * fsynced (rename(2) is atomic; the directory fsync makes it durable).
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { SnapshotKind, Usage } from '../snapshotter.js';
import { writeDurablyOffThread } from './sync-group.js';

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

/** Replaces the file at `path` with `text` atomically and durably (temp file, fsync, rename, fsync of the directory). */
export function writeFileDurably(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, text);
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

/** Replaces the metadata file atomically and durably. */
export function writeMetadata(path: string, m: StoredMetadata): void {
  writeFileDurably(path, JSON.stringify(m));
}

/**
 * {@link writeMetadata} off the main thread: its fsyncs never block it. On
 * the syncfs thread when that is online (one round trip: under load each
 * thread-pool hop of the step-by-step write cost milliseconds, and a prepare
 * waits for this write), else step by step on the thread pool.
 */
export async function writeMetadataAsync(path: string, m: StoredMetadata): Promise<void> {
  const text = JSON.stringify(m);
  const onThread = writeDurablyOffThread(path, text);
  if (onThread !== undefined) return onThread;
  const tmp = `${path}.tmp`;
  const fh = await fsp.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(text);
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
