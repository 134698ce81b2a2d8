import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { detectCgroupVersion, openCgroup } from '@berth/namespaces';

// On a hybrid host the cgroup2 mount is a real v2 hierarchy (with no
// controllers but hugetlb): enough to run the v2 freezer, cgroup.kill and
// the eBPF device filter for real. The test makes its directories itself
// rather than calling create(), so that the host's root subtree_control is
// left as it is.
const UNIFIED = '/sys/fs/cgroup/unified';
const isRoot = process.getuid?.() === 0;
const hasUnified = fs.existsSync(path.join(UNIFIED, 'cgroup.procs')) && detectCgroupVersion(UNIFIED) === 'v2';
const realV2 = isRoot && hasUnified ? test.serial : test.skip;
const parent = path.join(UNIFIED, 'berth-test-v2');

if (isRoot && hasUnified) {
  test.after.always('remove the test parent cgroup', () => {
    try { fs.rmdirSync(parent); } catch { /* absent or still busy */ }
  });
}

realV2('v2 (real unified mount, root): eBPF device filter, freeze/thaw via cgroup.events, cgroup.kill, remove', async (t) => {
  const rel = `/berth-test-v2/${process.pid}-${randomBytes(4).toString('hex')}`;
  fs.mkdirSync(path.join(UNIFIED, rel), { recursive: true });
  const cg = openCgroup(rel, { root: UNIFIED });
  t.is(cg.version, 'v2');
  const script = 'read x; if head -c 1 /dev/zero >/dev/null 2>&1; then echo zero-ok; else echo zero-denied; fi; '
    + 'if head -c 1 /dev/null; then echo null-ok; fi; exec sleep 1000';
  const child = spawn('sh', ['-c', script], { stdio: ['pipe', 'pipe', 'ignore'] });
  await once(child, 'spawn');
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    await cg.remove();
  });
  cg.addTask(child.pid!);
  t.true(fs.readFileSync(`/proc/${child.pid}/cgroup`, 'utf8').split('\n').includes(`0::${rel}`));
  cg.apply({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }] });
  // Re-applying replaces the program instead of stacking a second one.
  cg.apply({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stdin!.end('go\n');
  while (!out.includes('null-ok\n') && child.exitCode === null) await once(child.stdout!, 'data');
  t.is(out, 'zero-denied\nnull-ok\n');

  await cg.freeze();
  t.is(cg.freezerState(), 'frozen');
  t.regex(fs.readFileSync(path.join(UNIFIED, rel, 'cgroup.events'), 'utf8'), /^frozen 1$/m);
  await cg.thaw();
  t.is(cg.freezerState(), 'thawed');
  t.deepEqual(cg.pids(), [child.pid]);

  const exited = once(child, 'exit');
  await cg.killAll();
  t.deepEqual(await exited, [null, 'SIGKILL']);
  await cg.remove();
  t.false(fs.existsSync(path.join(UNIFIED, rel)));
});
