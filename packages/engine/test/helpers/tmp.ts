/** Temp directories for tests, removed afterwards. */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const made: string[] = [];
process.once('exit', () => {
  // Best effort: a test that left a mount inside keeps its directory.
  for (const d of made) {
    try { require0(d); } catch { /* ignore */ }
  }
});
function require0(d: string): void {
  // fs.rmSync does not cross mount points it cannot unlink; failures are ignored above.
  fsSync.rmSync(d, { recursive: true, force: true });
}
import fsSync from 'node:fs';

/** Makes a fresh temp dir under the OS temp dir; removed when the test process exits. */
export async function tempDir(prefix = 'berth-engine-'): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

/** Is the test process root (needed for mounts, netns, CNI)? */
export const isRoot = process.getuid?.() === 0;
