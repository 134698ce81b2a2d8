/** Temp dirs that a test removes when it ends (unmounting what is mounted under them first). */
import fs from 'node:fs';
import type { ExecutionContext } from 'ava';
import { tempDir } from '@berth/testkit';
import * as ns from '@berth/namespaces';

/** A fresh directory, removed at teardown. */
export async function tmp(t: ExecutionContext, prefix = 'cowfs-'): Promise<string> {
  const d = await tempDir(prefix);
  t.teardown(async () => {
    unmountUnder(d.path);
    await d.cleanup();
  });
  return d.path;
}

/** Lazily unmounts everything mounted under `dir`, deepest first. */
export function unmountUnder(dir: string): void {
  const points = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4])
    .filter((p): p is string => p !== undefined && (p === dir || p.startsWith(dir + '/'))).sort((a, b) => b.length - a.length);
  for (const p of points) {
    try { ns.umount(p, { detach: true }); } catch { /* gone */ }
  }
}

/** Are we root (tests that need it decide at load time)? */
export const isRoot = process.getuid?.() === 0;
