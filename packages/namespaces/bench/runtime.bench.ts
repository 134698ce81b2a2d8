/**
 * create + start + wait of `true` on one busybox bundle: berth in-process
 * (the addon) against `runc run` and `crun run`, and the `berth-runtime`
 * CLI against `runc run`. crun refuses this machine's hybrid cgroups, so it
 * runs in a private mount namespace with the unified mount removed
 * (DEVELOPERS.md). Targets: in-process median ≤ crun's; CLI median ≤ runc's.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runContainer, runtimeBinaryPath } from '@berth/namespaces';
import { commandExists, runCommand, type Benchmark } from '@berth/testkit';
import type { RuntimeSpec } from '@berth/oci-spec';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-rt-'));
const bundle = path.join(work, 'bundle');
const rootfs = path.join(bundle, 'rootfs');
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));
let counter = 0;
const id = (p: string) => `${p}-${process.pid}-${counter++}`;

function makeBundle(): RuntimeSpec {
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'true']) if (!fs.existsSync(path.join(rootfs, 'bin', a))) fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
  // runc's own default spec, so every runtime gets the same work.
  execFileSync('runc', ['spec', '--bundle', bundle]);
  const spec = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as RuntimeSpec;
  spec.process!.terminal = false;
  spec.process!.args = ['true'];
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
  return spec;
}

let spec: RuntimeSpec | undefined;
const setup = async () => {
  spec ??= makeBundle();
};

const group1 = 'runtime: create + start + wait of `true`';
const group2 = 'runtime CLI: `run` of `true`';
const crunRoot = path.join(work, 'crun');
const runcRoot = path.join(work, 'runc');
const berthRoot = path.join(work, 'berth');

async function runcRun(): Promise<void> {
  await runCommand('runc', ['--root', runcRoot, 'run', '--bundle', bundle, id('runc')], { output: 'ignore' });
}

export const benchmarks: Benchmark[] = [
  {
    group: group1, name: 'berth in-process (addon)', tool: 'berth', iterations: 20, warmup: 2, setup,
    async run() {
      const c = await runContainer(id('b'), spec!, { bundle, root: berthRoot, stdio: 'ignore' });
      await c.wait();
      await c.delete();
    },
  },
  {
    group: group1, name: 'crun run', tool: 'crun', iterations: 20, warmup: 2, setup,
    available: () => commandExists('crun'),
    async run() {
      await runCommand('unshare', ['-m', 'sh', '-c', `umount /sys/fs/cgroup/unified 2>/dev/null; exec crun --root ${crunRoot} run --bundle ${bundle} ${id('crun')}`], { output: 'ignore' });
    },
  },
  {
    group: group1, name: 'runc run', tool: 'runc', iterations: 20, warmup: 2, setup,
    available: () => commandExists('runc'),
    run: runcRun,
  },
  {
    group: group2, name: 'berth-runtime run', tool: 'berth', iterations: 20, warmup: 2, setup,
    async run() {
      await runCommand(runtimeBinaryPath, ['--root', berthRoot, 'run', '--bundle', bundle, id('cli')], { output: 'ignore' });
    },
  },
  {
    group: group2, name: 'runc run', tool: 'runc', iterations: 20, warmup: 2, setup,
    available: () => commandExists('runc'),
    run: runcRun,
  },
];
