import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadContainer } from '@berth/namespaces';

const isRoot = process.getuid?.() === 0;
const rootTest = isRoot ? test : test.skip;

const helper = fileURLToPath(new URL('./helpers/wait-top-level.js', import.meta.url));

/** Runs the helper program in its own Node process; resolves with its exit code and output. */
function runHelper(mode: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [helper, mode], (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
    child.stdin?.end();
  });
}

for (const mode of ['container', 'exec']) {
  rootTest(`as root: a pending wait() on a ${mode} keeps the event loop alive (top-level await exits 0, not 13)`, async (t) => {
    const r = await runHelper(mode);
    const lines = r.stdout.trim().split('\n');
    const [, bundle, root, id] = (lines[0] ?? '').split(' ');
    try {
      t.is(r.code, 0, r.stderr);
      t.deepEqual(lines.slice(1), ['done', 'status {"exitCode":0,"signal":null,"oomKilled":false}']);
    } finally {
      // Only needed when the helper died before its own clean-up.
      if (root && id) await loadContainer(root, id).then((c) => c.delete({ force: true })).catch(() => undefined);
      if (bundle) fs.rmSync(bundle, { recursive: true, force: true });
    }
  });
}
