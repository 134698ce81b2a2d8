/**
 * Container removal leaves no cgroup behind in any hierarchy, in every flow:
 * run --rm, exec + stop, kill, restart, a paused container removed with
 * force, an OOM kill, and a supervisor that was SIGKILLed before it could
 * clean up (rm -f then deletes the runtime's state and cgroup itself).
 */
import fs from 'node:fs';
import path from 'node:path';
import { berth, useCliEnv } from './helpers/cli.js';

let dir: string;
let ref: string;
const serial = useCliEnv({ pull: true }, (env) => { ({ dir, ref } = env); });

/** Every cgroup directory of container `id` that exists, in any hierarchy (v1 controllers, named ones, the unified one). */
function cgroupsOf(id: string): string[] {
  const out: string[] = [];
  for (const h of fs.readdirSync('/sys/fs/cgroup')) {
    const d = path.join('/sys/fs/cgroup', h, 'berth', id);
    if (fs.existsSync(d)) out.push(d);
  }
  return out;
}

async function ok(args: string[]): Promise<string> {
  const r = await berth(dir, args);
  if (r.code !== 0) throw new Error(`berth ${args.join(' ')}: ${r.code} ${r.stderr}`);
  return r.stdout.trim();
}

const fullId = async (ref: string) => ok(['inspect', '-f', '{{.Id}}', ref]);

serial('normal flows leave no cgroup: run --rm, exec + stop + rm, kill + rm, restart + rm, paused + rm -f, OOM-killed + rm (root)', async (t) => {
  const name = `rm-${process.pid}`;
  await ok(['run', '--rm', '--name', name, '--network', 'none', ref, 'true']);
  t.is(await ok(['ps', '-aq', '--filter', `name=${name}`]), '');

  const a = await fullId(await ok(['run', '-d', '--network', 'none', ref, 'sleep', '300']));
  t.true(cgroupsOf(a).length > 0, 'a running container has its cgroups');
  t.is(await ok(['exec', a, 'echo', 'in']), 'in');
  await ok(['stop', '-t', '1', a]);
  await ok(['rm', a]);
  t.deepEqual(cgroupsOf(a), []);

  const b = await fullId(await ok(['run', '-d', '--network', 'none', ref, 'sleep', '300']));
  await ok(['kill', b]);
  await ok(['wait', b]);
  await ok(['restart', '-t', '1', b]);
  await ok(['pause', b]);
  await ok(['rm', '-f', b]);
  t.deepEqual(cgroupsOf(b), []);

  const c = await fullId(await ok(['run', '-d', '--network', 'none', '--memory', '8m', ref, 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1']));
  t.is(await ok(['wait', c]), '137');
  await ok(['rm', c]);
  t.deepEqual(cgroupsOf(c), []);
});

serial('a supervisor SIGKILLed while its container runs: rm -f removes the runtime state and the cgroup it left (root)', async (t) => {
  const id = await fullId(await ok(['run', '-d', '--network', 'none', ref, 'sleep', '300']));
  const supervisor = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).find((p) => {
    try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes(id) && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('--supervise'); } catch { return false; }
  });
  t.truthy(supervisor, 'run -d has a supervisor process');
  process.kill(Number(supervisor), 'SIGKILL');
  while (fs.existsSync(`/proc/${supervisor}/cmdline`) && fs.readFileSync(`/proc/${supervisor}/cmdline`, 'utf8') !== '') await new Promise((r) => setTimeout(r, 20));
  t.true(cgroupsOf(id).length > 0, 'the container runs on in its cgroup');
  await ok(['rm', '-f', id]);
  t.deepEqual(cgroupsOf(id), []);
  t.false(fs.existsSync(path.join(dir, 'run', 'runtime', id)), 'nor the runtime state');
  t.false(fs.existsSync(path.join(dir, 'run', 'bundles', id, 'rootfs')), 'nor the rootfs mount');
});
