import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** A temporary directory and the function that removes it. */
export interface TempDir {
  /** Absolute path of the directory (already created, empty). */
  readonly path: string;
  /** Removes the directory and everything in it; safe to call twice. */
  cleanup(): Promise<void>;
}

/**
 * Creates a fresh directory under `$BERTH_TMPDIR` (default: the OS temp dir).
 * @param prefix - start of the directory's name, `berth-` by default.
 */
export async function tempDir(prefix = 'berth-'): Promise<TempDir> {
  const base = process.env.BERTH_TMPDIR ?? os.tmpdir();
  await fs.mkdir(base, { recursive: true });
  const dir = await fs.mkdtemp(path.join(base, prefix));
  return {
    path: dir,
    cleanup: () => fs.rm(dir, { recursive: true, force: true, maxRetries: 3 }),
  };
}
