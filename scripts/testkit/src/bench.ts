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
