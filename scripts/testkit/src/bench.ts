import { spawn, spawnSync, type StdioOptions } from 'node:child_process';
import { TestkitError } from './errors.js';

/**
 * One entry of a benchmark group, as exported by a package's `bench/*.bench.ts`
 * (`export const benchmarks: Benchmark[]`) and run by `npm run bench`.
 *
 * A group is one operation (say "pull busybox from a local registry"); its entries are the tools
 * doing it: berth (`tool: 'berth'`) and its peers (`tool: 'docker'`, `'podman'`, `'runc'`,
 * `'curl'`…). The harness runs a group's entries interleaved, round after round, so they see the
 * same machine load, then prints median and minimum per entry and, for each available peer,
 * berth's median divided by the peer's (below 1: berth is faster).
 */
export interface Benchmark {
  /** Group name: entries with the same group are compared with one another. */
  readonly group: string;
  /** Entry name, shown in the table (e.g. "berth pull", "docker pull"). */
  readonly name: string;
  /** `'berth'` or the peer's name. */
  readonly tool: 'berth' | (string & {});
  /** Whether the entry can run here (peer installed…); a peer that is not is listed as such. */
  available?(): boolean | Promise<boolean>;
  /** Once before the runs (not timed). */
  setup?(): Promise<void>;
  /** One timed run. */
  run(): Promise<void>;
  /** Once after the runs (not timed). */
  teardown?(): Promise<void>;
  /** Timed runs (default 10; a group uses the largest of its entries). */
  readonly iterations?: number;
  /** Untimed runs before those (default 1; a group uses the largest of its entries). */
  readonly warmup?: number;
}

/** Options of {@link runCommand}. */
export interface RunCommandOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Bytes written to the child's stdin (default: stdin is /dev/null). */
  readonly input?: Buffer | string;
  /** `'pipe'` (default) collects stdout/stderr; `'ignore'` discards them; `'inherit'` shows them. */
  readonly output?: 'pipe' | 'ignore' | 'inherit';
  /** Resolve even when the command exits non-zero (default: reject with `ERR_TESTKIT_COMMAND_FAILED`). */
  readonly allowFailure?: boolean;
}

/** What {@link runCommand} measured. */
export interface CommandResult {
  /** Wall-clock milliseconds from spawn to exit. */
  readonly ms: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

/** Runs a child process to completion and times it (wall clock, spawn to exit). */
export function runCommand(cmd: string, args: readonly string[] = [], opts: RunCommandOptions = {}): Promise<CommandResult> {
  const output = opts.output ?? 'pipe';
  const stdio: StdioOptions = [opts.input === undefined ? 'ignore' : 'pipe', output, output];
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(cmd, [...args], { cwd: opts.cwd, env: opts.env ?? process.env, stdio });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => err.push(d));
    child.once('error', (cause) => reject(new TestkitError('ERR_TESTKIT_COMMAND_FAILED', `${cmd}: ${cause.message}`, { cause })));
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    child.once('close', (code, signal) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      const result = { ms, code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
      if (code !== 0 && !opts.allowFailure) {
        reject(new TestkitError('ERR_TESTKIT_COMMAND_FAILED',
          `${cmd} ${args.join(' ')} exited with ${code ?? signal}: ${result.stderr.toString().slice(-1000)}`));
      } else {
        resolve(result);
      }
    });
  });
}

/** Whether an executable is on `$PATH` (for `available()`). */
export function commandExists(cmd: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { stdio: 'ignore' }).status === 0;
}
