/** Temp directories for tests, removed (with any mounts left inside) when the test process exits. */
import { spawnSync } from 'node:child_process';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const made: string[] = [];
process.once('exit', () => {
  const info = fsSync.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '');
  for (const d of made) {
    // Deepest first: netns files, then the private bind of their directory, then tmpfs volumes.
    for (const mp of info.filter((m) => m.startsWith(`${d}/`)).sort((a, b) => b.length - a.length)) {
      spawnSync('umount', ['-l', mp]);
    }
    try { fsSync.rmSync(d, { recursive: true, force: true }); } catch { /* best effort */ }
  }
});

/** Makes a fresh temp dir under the OS temp dir; removed when the test process exits. */
export async function tempDir(prefix = 'berth-engine-'): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

/** Is the test process root (needed for mounts, netns, CNI)? */
export const isRoot = process.getuid?.() === 0;
