/**
 * What the `berth` binary runs: one command line from `process.argv`, its
 * status as the process's exit code. `main.ts` loads it (or its bundle).
 */
import { runCli } from './cli.js';

process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
