/** Runs berth command lines against a temp root: in-process through `runCli`, or as the real binary. */
import test from 'ava';
import { execFile, spawnSync } from 'node:child_process';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runCli } from '@berth/example-berth';
import { fixture, startRegistry } from '@berth/testkit';

/** The compiled binary. */
export const berthBin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/main.cjs');

const made: string[] = [];
process.once('exit', () => {
  for (const d of made) {
    try { fsSync.rmSync(d, { recursive: true, force: true }); } catch { /* best effort */ }
  }
});

/** A fresh temp dir, removed when the test process exits. */
export async function tempDir(): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-cli-'));
  made.push(d);
  return d;
}

/** The outcome of one command. */
export interface CliRun { code: number; stdout: string; stderr: string }

const globals = (root: string) => ['--root', path.join(root, 'root'), '--run-root', path.join(root, 'run')];

/** Runs `berth --root <root>/root --run-root <root>/run ...args` in this process (the binary's own code path). */
export async function berth(root: string, args: string[], input = ''): Promise<CliRun> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => { out += d; });
  stderr.on('data', (d) => { err += d; });
  const code = await runCli([...globals(root), ...args], { stdout, stderr, stdin: Readable.from([input]), env: { PATH: process.env.PATH } });
  return { code, stdout: out, stderr: err };
}

/** Runs the real `berth` binary as a child process, through its shebang line as a user's `berth` (the build makes it executable). */
export function berthBinary(root: string, args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(berthBin, [...globals(root), ...args], { env: { PATH: process.env.PATH } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** What the CLI test files share: a seeded registry, a temp berth root, the busybox fixture's reference. */
export interface CliEnv {
  /** The temp dir holding the berth root (`<dir>/root`) and run root (`<dir>/run`). */
  readonly dir: string;
  /** `<registry>/busybox:<tag>` (oci-gzip). */
  readonly ref: string;
  /** Removes every container left, closes the registry and lazily unmounts what lives under `dir`. */
  close(): Promise<void>;
}

/** Starts a registry seeded with the fixtures and a berth root; with `pull`, pulls busybox into it. */
export async function openCliEnv(opts: { pull?: boolean } = {}): Promise<CliEnv> {
  const reg = await startRegistry();
  const dir = await tempDir();
  const f = fixture('busybox', 'oci-gzip');
  const ref = `${reg.host}/${f.repo}:${f.tag}`;
  if (opts.pull) {
    const p = await berth(dir, ['pull', '-q', ref]);
    if (p.code !== 0) {
      await reg.close();
      throw new Error(`pull failed: ${p.stderr}`);
    }
  }
  return {
    dir,
    ref,
    async close() {
      const ids = (await berth(dir, ['ps', '-aq', '--no-trunc'])).stdout.split('\n').filter(Boolean);
      if (ids.length) await berth(dir, ['rm', '-f', ...ids]);
      await reg.close();
      // The engine bind-mounts its netns directory on itself: unmount what lives under the temp root.
      const mounted = fsSync.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m?.startsWith(`${dir}/`));
      for (const m of mounted.reverse()) spawnSync('umount', ['-l', m]);
    },
  };
}

/**
 * Registers a test file's hooks for one {@link CliEnv}: opened before the
 * tests (as root only), closed after them; `ready` receives it. Returns the
 * runner for tests that need it: `test.serial` as root, else `test.skip`.
 */
export function useCliEnv(opts: { pull?: boolean }, ready: (env: CliEnv) => void): typeof test.serial | typeof test.skip {
  const isRoot = process.getuid?.() === 0;
  let env: CliEnv | undefined;
  test.before(async () => {
    if (!isRoot) return;
    env = await openCliEnv(opts);
    ready(env);
  });
  test.after.always(async () => {
    await env?.close();
  });
  return isRoot ? test.serial : test.skip;
}
