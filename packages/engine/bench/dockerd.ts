/**
 * A private dockerd 20.10 for benchmarks, started with the flags of
 * DEVELOPERS.md (own data/exec roots, cgroupfs, no iptables) and
 * stopped (mounts under its directory lazily unmounted, directory removed)
 * afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { commandExists, runCommand } from '@berth/testkit';
import { unmountUnder } from './peers.js';

/** A running private dockerd. */
export interface BenchDockerd {
  /** Its directory (data root, exec root, socket). */
  readonly dir: string;
  /** Its API socket path. */
  readonly socketPath: string;
  /** `docker` CLI arguments pointing at it, then `args`. */
  args(...args: string[]): string[];
  /** Stops it (SIGTERM, SIGKILL after 20 s) and removes its directory. */
  stop(): Promise<void>;
}

/** Whether dockerd and the docker CLI 20.10 are installed and we are root. */
export async function dockerdAvailable(): Promise<boolean> {
  return process.getuid?.() === 0 && (await commandExists('/usr/sbin/dockerd')) && (await commandExists('/usr/bin/docker'));
}

/** Starts a private dockerd trusting `insecureRegistry` (host:port) and waits until it answers. */
export async function startBenchDockerd(insecureRegistry: string, prefix = '/tmp/bd-'): Promise<BenchDockerd> {
  // Short paths: unix socket paths are limited to 108 bytes.
  const dir = await fs.mkdtemp(prefix);
  const exec = path.join(dir, 'e');
  const socketPath = path.join(dir, 'd.sock');
  const child: ChildProcess = spawn('/usr/sbin/dockerd', [
    '--data-root', path.join(dir, 'data'), '--exec-root', exec, '--pidfile', path.join(exec, 'dockerd.pid'),
    '-H', `unix://${socketPath}`, '--storage-driver', 'overlay2', '--exec-opt', 'native.cgroupdriver=cgroupfs',
    '--iptables=false', '--ip-forward=false', '--ip-masq=false', '--insecure-registry', insecureRegistry,
  ], { stdio: 'ignore' });
  const args = (...rest: string[]): string[] => ['-H', `unix://${socketPath}`, ...rest];
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
      await exited;
      clearTimeout(timer);
    }
    await unmountUnder(dir);
    await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
  };
  try {
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error('dockerd exited while starting');
      const r = await runCommand('/usr/bin/docker', args('version'), { allowFailure: true, output: 'ignore' });
      if (r.code === 0) break;
      if (i > 600) throw new Error('dockerd did not start');
      await sleep(100);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { dir, socketPath, args, stop };
}
