/**
 * A tree-walk comparer: reads a directory tree into a map of relative path →
 * type, mode, uid/gid, size, content hash, link target, device numbers and
 * xattrs, and lists the differences between two such maps.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import * as ns from '@berth/namespaces';

/** What the comparer records of one entry. */
export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
  mode: number;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  link?: string;
  rdev?: number;
  xattrs: Record<string, string>;
}

/** Options of {@link readTree}. */
export interface ReadTreeOptions {
  /** Record the root's own entry as '.' (default false). */
  root?: boolean;
  /** Drop xattrs whose name matches (default: trusted.overlay.*). */
  dropXattr?: (name: string) => boolean;
}

function typeOf(st: fs.Stats): TreeEntry['type'] {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

/** Reads the tree under `root` (no symlink is followed). */
export function readTree(root: string, opts: ReadTreeOptions = {}): Map<string, TreeEntry> {
  const drop = opts.dropXattr ?? ((n: string) => n.startsWith('trusted.overlay.'));
  const out = new Map<string, TreeEntry>();
  const visit = (abs: string, rel: string): void => {
    const st = fs.lstatSync(abs);
    const e: TreeEntry = { type: typeOf(st), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, xattrs: {} };
    for (const n of ns.llistxattr(abs).sort()) {
      if (drop(n)) continue;
      e.xattrs[n] = ns.lgetxattr(abs, n)?.toString('hex') ?? '';
    }
    if (e.type === 'file') {
      e.size = st.size;
      e.sha256 = createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
    } else if (e.type === 'symlink') {
      e.link = fs.readlinkSync(abs);
      e.mode = 0;
    } else if (e.type === 'char' || e.type === 'block') {
      e.rdev = st.rdev;
    }
    if (rel !== '.' || opts.root === true) out.set(rel, e);
    if (e.type === 'dir') {
      for (const n of fs.readdirSync(abs).sort()) visit(`${abs}/${n}`, rel === '.' ? n : `${rel}/${n}`);
    }
  };
  visit(root, '.');
  return out;
}

/** The differences between two trees, one line each; empty when equal. */
export function compareTrees(a: Map<string, TreeEntry>, b: Map<string, TreeEntry>): string[] {
  const diffs: string[] = [];
  for (const [p, ea] of a) {
    const eb = b.get(p);
    if (eb === undefined) { diffs.push(`only in first: ${p}`); continue; }
    for (const k of ['type', 'mode', 'uid', 'gid', 'size', 'sha256', 'link', 'rdev'] as const) {
      if (ea[k] !== eb[k]) diffs.push(`${p}: ${k} ${String(ea[k])} != ${String(eb[k])}`);
    }
    if (JSON.stringify(ea.xattrs) !== JSON.stringify(eb.xattrs)) diffs.push(`${p}: xattrs ${JSON.stringify(ea.xattrs)} != ${JSON.stringify(eb.xattrs)}`);
  }
  for (const p of b.keys()) if (!a.has(p)) diffs.push(`only in second: ${p}`);
  return diffs;
}
