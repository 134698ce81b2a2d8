import test from 'ava';
import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { detectCgroupVersion, openCgroup, CgroupUnsupportedError, SystemCallError } from '@berth/namespaces';
import type { CgroupManager } from '@berth/namespaces';

const ROOT = '/sys/fs/cgroup';
const isRoot = process.getuid?.() === 0;
const isV1 = fs.existsSync(ROOT) && detectCgroupVersion() === 'v1';
/** Real cgroup v1 (or hybrid) with root, as on berth's CI machines. */
const v1Test = isRoot && isV1 ? test.serial : test.skip;
const unified = fs.existsSync(path.join(ROOT, 'unified', 'cgroup.procs')) ? path.join(ROOT, 'unified') : undefined;

function read(controller: string, cg: CgroupManager, file: string): string {
  return fs.readFileSync(path.join(ROOT, controller, cg.path, file), 'utf8').trim();
}

/** A fresh cgroup and a `sleep` to put in it; both cleaned up after the test. */
async function setup(t: ExecutionContext, cmd = ['sleep', '1000']): Promise<{ cg: CgroupManager; child: ChildProcess }> {
  const cg = openCgroup(`/berth-test/${process.pid}-${randomBytes(4).toString('hex')}`);
  cg.create();
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['pipe', 'pipe', 'ignore'] });
  await once(child, 'spawn');
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    try { await cg.thaw(); } catch { /* removed already */ }
    await cg.remove();
  });
  return { cg, child };
}

if (isRoot && isV1) {
  test.after.always('remove the /berth-test parent cgroup', async () => {
    await openCgroup('/berth-test').remove();
  });
}

v1Test('v1 (real, root): this hybrid host is detected as v1; create places a task in every hierarchy and the unified one', async (t) => {
  const { cg, child } = await setup(t);
  t.is(cg.version, 'v1');
  cg.addTask(child.pid!);
  const lines = fs.readFileSync(`/proc/${child.pid}/cgroup`, 'utf8').trim().split('\n');
  for (const c of ['memory', 'pids', 'freezer', 'cpu', 'devices']) {
    t.true(lines.some((l) => l.split(':')[1]!.split(',').includes(c) && l.endsWith(`:${cg.path}`)), `${c} in ${lines.join(' | ')}`);
  }
  if (unified) t.true(lines.includes(`0::${cg.path}`), lines.join(' | '));
  t.deepEqual(cg.pids(), [child.pid]);
  // cpuset got the parent's cpus/mems, else the kernel would refuse the task.
  t.is(read('cpuset', cg, 'cpuset.mems'), fs.readFileSync(path.join(ROOT, 'cpuset', 'cpuset.mems'), 'utf8').trim());
  // Errors keep errno, syscall and the file.
  const e = t.throws(() => cg.addTask(2 ** 22 + 1)) as SystemCallError;
  t.true(e instanceof SystemCallError);
  t.is(e.errnoCode, 'ESRCH');
  t.is(e.syscall, 'write');
  t.regex(e.path ?? '', /\/cgroup\.procs$/);
});

v1Test('v1 (real, root): apply writes memory, cpu, cpuset, pids and device limits; stats read them back', async (t) => {
  const { cg, child } = await setup(t);
  cg.addTask(child.pid!);
  cg.apply({
    devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, { allow: true, type: 'c', major: 136, access: 'rw' }],
    memory: { limit: 64 << 20, swap: 96 << 20, reservation: 32 << 20 },
    cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0', mems: '0' },
    pids: { limit: 10 },
  });
  t.is(read('memory', cg, 'memory.limit_in_bytes'), String(64 << 20));
  t.is(read('memory', cg, 'memory.soft_limit_in_bytes'), String(32 << 20));
  if (fs.existsSync(path.join(ROOT, 'memory', cg.path, 'memory.memsw.limit_in_bytes'))) {
    t.is(read('memory', cg, 'memory.memsw.limit_in_bytes'), String(96 << 20));
  }
  t.is(read('cpu', cg, 'cpu.shares'), '512');
  t.is(read('cpu', cg, 'cpu.cfs_quota_us'), '50000');
  t.is(read('cpu', cg, 'cpu.cfs_period_us'), '100000');
  t.is(read('cpuset', cg, 'cpuset.cpus'), '0');
  t.is(read('pids', cg, 'pids.max'), '10');
  t.deepEqual(read('devices', cg, 'devices.list').split('\n').sort(), ['c 136:* rw', 'c 1:3 rwm']);
  // Lowering memory below the current memsw works in either order.
  cg.apply({ memory: { limit: 16 << 20, swap: 16 << 20 } });
  t.is(read('memory', cg, 'memory.limit_in_bytes'), String(16 << 20));
  const s = cg.stats();
  t.is(s.memory.limit, 16 << 20);
  // v1 does not move a task's existing charge with it, so `sleep` may show 0.
  t.is(s.memory.usage, Number(read('memory', cg, 'memory.usage_in_bytes')));
  t.is(s.memory.maxUsage, Number(read('memory', cg, 'memory.max_usage_in_bytes')));
  t.is(s.pids.current, 1);
  t.is(s.pids.limit, 10);
  // The task only sleeps, so the counters do not move between the two reads.
  t.is(s.cpu.usageNs, Number(read('cpuacct', cg, 'cpuacct.usage')));
  t.is(s.cpu.userNs, Number(read('cpuacct', cg, 'cpuacct.usage_user')));
  t.false(cg.oomKilled());
  cg.apply({ memory: { limit: -1 }, pids: { limit: -1 }, cpu: { quota: -1 } });
  t.is(cg.stats().memory.limit, null);
  t.is(cg.stats().pids.limit, null);
  t.is(read('cpu', cg, 'cpu.cfs_quota_us'), '-1');
});

v1Test('v1 (real, root): blockIO weight is written where the I/O scheduler has weights, else reported as unsupported', async (t) => {
  const { cg } = await setup(t);
  const weightFile = ['blkio.weight', 'blkio.bfq.weight'].find((f) => fs.existsSync(path.join(ROOT, 'blkio', cg.path, f)));
  if (weightFile) {
    cg.apply({ blockIO: { weight: 300 } });
    t.regex(read('blkio', cg, weightFile), /300/);
  } else {
    const e = t.throws(() => cg.apply({ blockIO: { weight: 300 } }), { instanceOf: CgroupUnsupportedError });
    t.is(e?.code, 'ERR_NS_CGROUP_UNSUPPORTED');
    t.is(e?.path, path.join(ROOT, 'blkio', cg.path, 'blkio.weight'));
  }
  t.throws(() => cg.apply({ unified: { 'memory.high': '1' } }), { code: 'ERR_NS_CGROUP_UNSUPPORTED' });
});

v1Test('v1 (real, root): freeze stops the task, thaw resumes it, killAll kills it, remove deletes every directory', async (t) => {
  const { cg, child } = await setup(t);
  cg.addTask(child.pid!);
  await cg.freeze();
  t.is(cg.freezerState(), 'frozen');
  t.is(read('freezer', cg, 'freezer.state'), 'FROZEN');
  // A frozen task sleeps uninterruptibly in the refrigerator.
  t.regex(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'), /^State:\s+D/m);
  await cg.thaw();
  t.is(cg.freezerState(), 'thawed');
  // The kernel reports THAWED before the task has left the refrigerator: it wakes soon after.
  while (!/^State:\s+S/m.test(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))) await sleep(2);
  const exited = once(child, 'exit');
  await cg.killAll();
  const [code, signal] = await exited;
  t.is(code, null);
  t.is(signal, 'SIGKILL');
  t.deepEqual(cg.pids(), []);
  await cg.remove();
  for (const c of ['memory', 'pids', 'freezer', 'cpu', 'cpuset', 'systemd']) t.false(fs.existsSync(path.join(ROOT, c, cg.path)), c);
  if (unified) t.false(fs.existsSync(path.join(unified, cg.path)));
});

v1Test('v1 (real, root): a task over an 8 MiB limit is OOM-killed and oomKilled() reports it', async (t) => {
  // sh waits for a line, so it is in the cgroup before dd allocates a 64 MiB buffer.
  const { cg, child } = await setup(t, ['sh', '-c', 'read x; exec dd if=/dev/zero of=/dev/null bs=64M count=1']);
  cg.apply({ memory: { limit: 8 << 20, swap: 8 << 20 } });
  cg.addTask(child.pid!);
  const exited = once(child, 'exit');
  child.stdin!.end('go\n');
  const [, signal] = await exited;
  t.is(signal, 'SIGKILL');
  t.true(cg.oomKilled());
  t.true(cg.stats().memory.oomKill >= 1);
});

v1Test('v1 (real, root): pids.max 10 stops a fork loop at 10 tasks', async (t) => {
  // perl (not dash, which exits on the first failed fork) counts the forks that worked.
  const forker = '$| = 1; my $ok = 0; <STDIN>; for (1..30) { my $p = fork; if (defined $p) { if ($p == 0) { sleep 1000; exit } $ok++ } } print "$ok\n"; sleep 1000';
  const { cg, child } = await setup(t, ['perl', '-e', forker]);
  cg.apply({ pids: { limit: 10 } });
  cg.addTask(child.pid!);
  const output = once(child.stdout!.setEncoding('utf8'), 'data');
  child.stdin!.end('go\n');
  const [line] = await Promise.race([output, once(child, 'exit').then(() => ['perl exited early'])]);
  t.is(line, '9\n', 'perl and 9 children; 21 forks failed with EAGAIN');
  t.is(cg.pids().length, 10);
  t.is(cg.stats().pids.current, 10);
  t.regex(read('pids', cg, 'pids.events'), /^max [1-9]/);
  const exited = once(child, 'exit');
  await cg.killAll();
  await exited;
  // perl's children were orphaned to init, which reaps them; cgroup.procs lists zombies until then.
  while (cg.pids().length > 0) await sleep(5);
  t.deepEqual(cg.pids(), []);
});
