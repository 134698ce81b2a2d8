import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { detectCgroupVersion, openCgroup, CgroupUnsupportedError } from '@berth/namespaces';
import { fakeCgroupV2, fakeControllers } from './helpers/fake-cgroupfs.js';

/** Waits until the manager's thread has written `want` to `file` (the kernel would see it at once). */
async function until(read: () => string, want: string): Promise<void> {
  while (read().trim() !== want) await sleep(2);
}

test('v2 (fake tree): detection, path normalisation, create enables controllers in every ancestor', (t) => {
  const fake = fakeCgroupV2('/berth/c1');
  t.teardown(fake.cleanup);
  t.is(detectCgroupVersion(fake.root), 'v2');
  const cg = openCgroup('c1', { root: fake.root });
  t.is(cg.version, 'v2');
  t.is(cg.path, '/berth/c1');
  cg.create();
  const all = fakeControllers.map((c) => `+${c}`).join(' ');
  t.is(fs.readFileSync(path.join(fake.root, 'cgroup.subtree_control'), 'utf8'), all);
  t.is(fs.readFileSync(path.join(fake.root, 'berth', 'cgroup.subtree_control'), 'utf8'), all);
  t.is(fake.read('cgroup.subtree_control'), '', 'the leaf holds tasks, so it enables nothing');
  cg.addTask(4242);
  t.is(fake.read('cgroup.procs'), '4242');
  t.throws(() => openCgroup('', { root: fake.root }), { code: 'ERR_NS_INVALID_ARGUMENT' });
  t.throws(() => openCgroup('system.slice:berth:x', { root: fake.root }), { code: 'ERR_NS_INVALID_ARGUMENT' });
});

test('v2 (fake tree): apply converts OCI resources to v2 files', (t) => {
  const fake = fakeCgroupV2('/berth/c2');
  t.teardown(fake.cleanup);
  const cg = openCgroup('/berth/c2', { root: fake.root, version: 'v2' });
  cg.apply({
    memory: { limit: 8 << 20, swap: 24 << 20, reservation: 4 << 20 },
    cpu: { shares: 1024, quota: 50000, period: 100000, cpus: '0-1', mems: '0' },
    pids: { limit: 10 },
    blockIO: { weight: 500, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }] },
    hugepageLimits: [{ pageSize: '2MB', limit: 4194304 }],
    unified: { 'memory.high': '6291456' },
    devices: [{ allow: false, access: 'rwm' }],
  });
  t.is(fake.read('memory.max'), '8388608');
  t.is(fake.read('memory.swap.max'), String(16 << 20), 'swap.max = swap - limit');
  t.is(fake.read('memory.low'), '4194304');
  t.is(fake.read('cpu.weight'), '39', 'shares 1024 -> weight 39 (runc formula)');
  t.is(fake.read('cpu.max'), '50000 100000');
  t.is(fake.read('cpuset.cpus'), '0-1');
  t.is(fake.read('cpuset.mems'), '0');
  t.is(fake.read('pids.max'), '10');
  t.is(fake.read('io.weight'), 'default 4950');
  t.is(fake.read('io.max'), '8:0 rbps=1048576');
  t.is(fake.read('hugetlb.2MB.max'), '4194304');
  t.is(fake.read('memory.high'), '6291456');
  // Only the period: the quota stays. Then an unlimited quota and memory.
  cg.apply({ cpu: { period: 200000 } });
  t.is(fake.read('cpu.max'), '50000 200000');
  cg.apply({ cpu: { quota: -1 }, memory: { limit: -1 }, pids: { limit: 0 } });
  t.is(fake.read('cpu.max'), 'max 200000');
  t.is(fake.read('memory.max'), 'max');
  t.is(fake.read('memory.swap.max'), 'max', 'unlimited memory without swap means unlimited swap');
  t.is(fake.read('pids.max'), 'max');
});

test('v2 (fake tree): bad resources are refused with typed errors', (t) => {
  const fake = fakeCgroupV2('/berth/c3');
  t.teardown(fake.cleanup);
  const cg = openCgroup('/berth/c3', { root: fake.root });
  t.throws(() => cg.apply({ memory: { limit: 100, swap: 50 } }), { code: 'ERR_NS_INVALID_ARGUMENT' });
  t.throws(() => cg.apply({ memory: { swap: 50 } }), { code: 'ERR_NS_INVALID_ARGUMENT' });
  t.throws(() => cg.apply({ unified: { '../escape': '1' } }), { code: 'ERR_NS_INVALID_ARGUMENT' });
  const e = t.throws(() => cg.apply({ unified: { 'memory.nonexistent': '1' } }), { instanceOf: CgroupUnsupportedError });
  t.is(e?.code, 'ERR_NS_CGROUP_UNSUPPORTED');
  t.is(e?.path, path.join(fake.dir, 'memory.nonexistent'));
  fs.rmSync(path.join(fake.dir, 'pids.max'));
  const sys = t.throws(() => cg.apply({ pids: { limit: 5 } }), { code: 'ERR_NS_SYSCALL' }) as unknown as { errnoCode: string; syscall: string; path: string };
  t.like(sys, { errnoCode: 'ENOENT', syscall: 'open', path: path.join(fake.dir, 'pids.max') });
});

test('v2 (fake tree): freeze and thaw wait for cgroup.events to report the state', async (t) => {
  const fake = fakeCgroupV2('/berth/c4');
  t.teardown(fake.cleanup);
  const cg = openCgroup('/berth/c4', { root: fake.root });
  let settled = false;
  const freezing = cg.freeze().then(() => { settled = true; });
  await until(() => fake.read('cgroup.freeze'), '1');
  t.is(cg.freezerState(), 'freezing');
  await sleep(20);
  t.false(settled, 'freeze() waits while the kernel has not reported frozen 1');
  fake.write('cgroup.events', 'populated 1\nfrozen 1\n');
  await freezing;
  t.is(cg.freezerState(), 'frozen');
  const thawing = cg.thaw();
  await until(() => fake.read('cgroup.freeze'), '0');
  fake.write('cgroup.events', 'populated 1\nfrozen 0\n');
  await thawing;
  t.is(cg.freezerState(), 'thawed');
});

test('v2 (fake tree): stats, pids, oomKilled, killAll via cgroup.kill, remove', async (t) => {
  const fake = fakeCgroupV2('/berth/c5');
  t.teardown(fake.cleanup);
  const cg = openCgroup('/berth/c5', { root: fake.root });
  fake.write('memory.current', '1048576\n');
  fake.write('memory.max', '8388608\n');
  fake.write('memory.peak', '2097152\n');
  fake.write('memory.events', 'low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n');
  fake.write('cpu.stat', 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 2\nthrottled_usec 30\n');
  fake.write('pids.current', '3\n');
  fake.write('pids.max', '10\n');
  t.deepEqual(cg.stats(), {
    memory: { usage: 1048576, limit: 8388608, maxUsage: 2097152, swapUsage: 0, failcnt: 7, oomKill: 1 },
    cpu: { usageNs: 1_500_000, userNs: 1_000_000, systemNs: 500_000, nrPeriods: 4, nrThrottled: 2, throttledNs: 30_000 },
    pids: { current: 3, limit: 10 },
  });
  t.true(cg.oomKilled());
  fake.write('cgroup.procs', '4194456\n4194123\n');
  fs.mkdirSync(path.join(fake.dir, 'sub'));
  fs.writeFileSync(path.join(fake.dir, 'sub', 'cgroup.procs'), '4194789\n');
  t.deepEqual(cg.pids(), [4194123, 4194456, 4194789]);
  await cg.killAll('SIGKILL');
  t.is(fake.read('cgroup.kill'), '1');
  await t.throwsAsync(cg.killAll('SIGNOPE' as NodeJS.Signals), { code: 'ERR_NS_INVALID_ARGUMENT' });
  await cg.remove();
  t.false(fs.existsSync(fake.dir));
  t.true(fs.existsSync(path.join(fake.root, 'berth')));
  await cg.remove(); // already gone: fine
});
