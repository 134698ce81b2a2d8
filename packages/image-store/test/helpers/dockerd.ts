/**
 * Starts Debian's dockerd (20.10) by hand with all state in a temp dir, no
 * bridge and no firewall changes (see DEVELOPERS.md), and stops it at
 * the end of the test.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionContext } from 'ava';

const run = promisify(execFile);

/** A running dockerd. */
export interface Dockerd {
  /** Runs the docker CLI (/usr/bin/docker) against it. */
  docker(args: string[]): Promise<{ stdout: string; stderr: string }>;
}

/** Is dockerd installed? */
export async function haveDockerd(): Promise<boolean> {
  return fs.access('/usr/sbin/dockerd').then(() => fs.access('/usr/bin/docker')).then(() => true, () => false);
}

/** Starts dockerd for this test; it is stopped (and its state removed) in teardown. */
export async function startDockerd(t: ExecutionContext): Promise<Dockerd> {
  // Short paths: unix socket paths are limited to 108 bytes.
  const dir = await fs.mkdtemp('/tmp/isd-');
  const sock = path.join(dir, 'd.sock');
  const exec = path.join(dir, 'e');
  const data = path.join(dir, 'data');
  let log = '';
  const proc: ChildProcess = spawn('/usr/sbin/dockerd', [
    '--data-root', data, '--exec-root', exec, '--pidfile', path.join(dir, 'dockerd.pid'), '-H', `unix://${sock}`,
    '--storage-driver', 'overlay2', '--exec-opt', 'native.cgroupdriver=cgroupfs',
    '--bridge=none', '--iptables=false', '--ip-forward=false', '--ip-masq=false',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d) => { log += d; });
  proc.stderr!.on('data', (d) => { log = (log + d).slice(-20000); });
  const docker = (args: string[]) => run('/usr/bin/docker', ['-H', `unix://${sock}`, ...args], { maxBuffer: 64 << 20 });
  t.teardown(async () => {
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 20000);
      await once(proc, 'exit');
      clearTimeout(timer);
    }
    await run('sh', ['-c', `grep ' ${dir}' /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r umount -l`]).catch(() => {});
    await fs.rm(dir, { recursive: true, force: true }).catch(() => {});
  });
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`dockerd exited: ${log}`);
    try {
      await docker(['version']);
      break;
    } catch {
      if (i > 600) throw new Error(`dockerd did not start: ${log}`);
      await sleep(100);
    }
  }
  return { docker };
}
