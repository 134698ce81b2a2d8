/** Running host helper commands (ip, mount, unshare, iptables) with typed failures. */
import { spawn } from 'node:child_process';
import { CommandError } from '../errors.js';

/** The outcome of {@link run}. */
export interface RunResult { stdout: string; stderr: string; code: number | null }

/** Options of {@link run}. */
export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  /** Resolve instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
  signal?: AbortSignal;
}

/** Runs `cmd args`, collects output, throws {@link CommandError} on a non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], signal: opts.signal });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', (e) => reject(new CommandError(cmd, args, null, String(e), { cause: e })));
    child.on('close', (code) => {
      if (code !== 0 && !opts.allowFailure) reject(new CommandError(cmd, args, code, stderr || stdout));
      else resolve({ stdout, stderr, code });
    });
    child.stdin.on('error', () => { /* the child may exit before reading */ });
    child.stdin.end(opts.input ?? '');
  });
}
