/** Temp directories removed after each test. */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';

/** A fresh temp dir, removed when the test ends. */
export async function tempDir(t: ExecutionContext, prefix = 'image-store-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}
