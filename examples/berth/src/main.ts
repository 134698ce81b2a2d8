#!/usr/bin/env node
/** The `berth` binary: a daemonless, docker-compatible container engine CLI. */
import { runCli } from './cli.js';

const code = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
process.exitCode = code;
