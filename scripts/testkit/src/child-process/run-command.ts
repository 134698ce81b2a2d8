import { spawn, spawnSync, type StdioOptions } from 'node:child_process';
import type { CommandResult, RunCommandOptions } from '../bench.js';
import { TestkitError } from '../errors.js';

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
