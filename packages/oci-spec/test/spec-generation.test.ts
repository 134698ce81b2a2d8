import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import {
  DEFAULT_CAPABILITIES, DEFAULT_PATH_ENV, generateSpec, mergeEnv, validateRuntimeSpec, withAddedCapabilities,
  withArgs, withCapabilities, withCgroupsPath, withCpuQuota, withCpuShares, withCpus, withCwd,
  withDroppedCapabilities, withEnv, withHostname, withMemoryLimit, withMount, withMounts, withNamespace,
  withNamespaces, withNoNewPrivileges, withPidsLimit, withPrivileged, withReadonlyRootfs, withRlimits, withRootfs,
  withSeccomp, withShmSize, withSysctl, withTty, withUser, withUserNamespace, withoutNamespace,
  type RuntimeSpec,
} from '@berth/oci-spec';

const code = (e: unknown): string | undefined => (e as { code?: string } | undefined)?.code;

test('the defaults are Docker\'s', (t) => {
  const spec = generateSpec();
  validateRuntimeSpec(spec);
  t.is(spec.ociVersion, '1.2.0');
  t.deepEqual(spec.root, { path: 'rootfs', readonly: false });
  t.deepEqual(spec.process?.user, { uid: 0, gid: 0 });
  t.is(spec.process?.cwd, '/');
  t.deepEqual(spec.process?.env, [DEFAULT_PATH_ENV]);
  t.deepEqual(spec.process?.capabilities?.bounding, [
    'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
    'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
  ]);
  t.deepEqual(spec.process?.capabilities?.effective, [...DEFAULT_CAPABILITIES]);
  t.deepEqual(spec.process?.capabilities?.permitted, [...DEFAULT_CAPABILITIES]);
  t.is(spec.process?.capabilities?.inheritable, undefined);
  t.deepEqual(spec.mounts?.map((m) => m.destination), ['/proc', '/dev', '/dev/pts', '/sys', '/sys/fs/cgroup', '/dev/mqueue', '/dev/shm']);
  const byDest = new Map(spec.mounts?.map((m) => [m.destination, m]));
  t.deepEqual(byDest.get('/dev/pts')?.options, ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']);
  t.is(byDest.get('/dev')?.type, 'tmpfs');
  t.true(byDest.get('/dev/shm')?.options?.includes('size=65536k'));
  t.true(byDest.get('/sys')?.options?.includes('ro'));
  t.true(byDest.get('/sys/fs/cgroup')?.options?.includes('ro'));
  t.deepEqual(spec.linux?.namespaces?.map((n) => n.type), ['pid', 'ipc', 'uts', 'mount', 'network']);
  t.true(spec.linux?.maskedPaths?.includes('/proc/kcore'));
  t.true(spec.linux?.maskedPaths?.includes('/sys/firmware'));
  t.deepEqual(spec.linux?.readonlyPaths, ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
  const rules = spec.linux?.resources?.devices ?? [];
  t.deepEqual(rules[0], { allow: false, access: 'rwm' });
  t.true(rules.some((r) => r.allow && r.major === 1 && r.minor === 3));
  t.true(rules.some((r) => !r.allow && r.major === 10 && r.minor === 229));
  t.is(spec.process?.rlimits, undefined);
  // Each call gives a fresh spec.
  generateSpec().mounts!.pop();
  t.is(generateSpec().mounts?.length, 7);
});

test('options compose in order; later ones win', (t) => {
  const spec = generateSpec(
    withRootfs('/bundle/rootfs'), withArgs(['sh', '-c', 'true']), withEnv(['A=1', 'B=2']), withEnv(['A=3', 'B']),
    withCwd('/work'), withUser('1000:1001'), withUser({ uid: 5, gid: 6, additionalGids: [7, 8] }), withHostname('box'),
    withMemoryLimit(64 << 20), withCpus(1.5), withCpuShares(512), withPidsLimit(100), withReadonlyRootfs(),
    withNamespace('network', '/proc/1/ns/net'), withoutNamespace('ipc'), withTty({ width: 80, height: 24 }),
    withNoNewPrivileges(), withRlimits([{ type: 'nofile', soft: 1024, hard: 4096 }]),
    withRlimits([{ type: 'RLIMIT_NOFILE', soft: 2048, hard: 4096 }, { type: 'nproc', soft: 10, hard: 10 }]),
    withSysctl({ 'net.ipv4.ip_forward': '1' }), withCgroupsPath('/berth/x'),
    withMount({ destination: '/data', type: 'bind', source: '/srv', options: ['rbind', 'ro'] }),
    withMounts([{ destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['size=1m'] }]),
  );
  validateRuntimeSpec(spec);
  t.deepEqual(spec.root, { path: '/bundle/rootfs', readonly: true });
  t.deepEqual(spec.process?.args, ['sh', '-c', 'true']);
  t.deepEqual(spec.process?.env, [DEFAULT_PATH_ENV, 'A=3', 'TERM=xterm']);
  t.is(spec.process?.cwd, '/work');
  t.deepEqual(spec.process?.user, { uid: 5, gid: 6, additionalGids: [7, 8] });
  t.is(spec.hostname, 'box');
  t.is(spec.linux?.resources?.memory?.limit, 64 << 20);
  t.deepEqual(spec.linux?.resources?.cpu, { quota: 150000, period: 100000, shares: 512 });
  t.deepEqual(spec.linux?.resources?.pids, { limit: 100 });
  t.deepEqual(spec.linux?.namespaces, [{ type: 'pid' }, { type: 'uts' }, { type: 'mount' }, { type: 'network', path: '/proc/1/ns/net' }]);
  t.true(spec.process?.terminal);
  t.deepEqual(spec.process?.consoleSize, { height: 24, width: 80 });
  t.true(spec.process?.noNewPrivileges);
  t.deepEqual(spec.process?.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 2048, hard: 4096 }, { type: 'RLIMIT_NPROC', soft: 10, hard: 10 }]);
  t.deepEqual(spec.linux?.sysctl, { 'net.ipv4.ip_forward': '1' });
  t.is(spec.linux?.cgroupsPath, '/berth/x');
  t.deepEqual(spec.mounts?.at(-1), { destination: '/data', type: 'bind', source: '/srv', options: ['rbind', 'ro'] });
  // The user's /dev/shm replaced the default one in place.
  t.deepEqual(spec.mounts?.find((m) => m.destination === '/dev/shm')?.options, ['size=1m']);
  t.is(spec.mounts?.filter((m) => m.destination === '/dev/shm').length, 1);
});

test('withEnv merges like containerd: replace in place, append, unset', (t) => {
  t.deepEqual(mergeEnv(['PATH=/bin', 'A=1', 'B=2'], ['B=3', 'C=4', 'A', 'A=5']), ['PATH=/bin', 'A=5', 'B=3', 'C=4']);
  t.deepEqual(mergeEnv(['A=1'], ['A']), []);
  t.deepEqual(mergeEnv([], ['X']), []);
  t.deepEqual(mergeEnv(['A=1=2'], ['A=x=y']), ['A=x=y']);
});

test('capability options', (t) => {
  const caps = generateSpec(withCapabilities(['net_admin', 'CAP_CHOWN'])).process?.capabilities;
  t.deepEqual(caps?.bounding, ['CAP_NET_ADMIN', 'CAP_CHOWN']);
  const added = generateSpec(withAddedCapabilities(['SYS_ADMIN'])).process?.capabilities?.effective ?? [];
  t.true(added.includes('CAP_SYS_ADMIN') && added.includes('CAP_CHOWN'));
  const dropped = generateSpec(withDroppedCapabilities(['NET_RAW'])).process?.capabilities?.permitted ?? [];
  t.false(dropped.includes('CAP_NET_RAW'));
  t.is(dropped.length, DEFAULT_CAPABILITIES.length - 1);
  t.deepEqual(generateSpec(withDroppedCapabilities(['ALL'])).process?.capabilities?.bounding, []);
  const priv = generateSpec(withPrivileged());
  validateRuntimeSpec(priv);
  t.true(priv.process?.capabilities?.bounding?.includes('CAP_SYS_ADMIN'));
  t.deepEqual(priv.linux?.maskedPaths, []);
  t.deepEqual(priv.linux?.readonlyPaths, []);
  t.deepEqual(priv.linux?.resources?.devices, [{ allow: true, access: 'rwm' }]);
  t.false(priv.mounts?.find((m) => m.destination === '/sys')?.options?.includes('ro'));
});

test('user namespace, seccomp, namespaces, shm and quota options', (t) => {
  const spec = generateSpec(
    withUserNamespace([{ containerID: 0, hostID: 100000, size: 65536 }]),
    withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['kexec_load'], action: 'SCMP_ACT_ERRNO' }] }),
    withShmSize(128 << 20), withCpuQuota(50000),
  );
  validateRuntimeSpec(spec);
  t.true(spec.linux?.namespaces?.some((n) => n.type === 'user'));
  t.deepEqual(spec.linux?.gidMappings, [{ containerID: 0, hostID: 100000, size: 65536 }]);
  t.is(spec.linux?.seccomp?.defaultAction, 'SCMP_ACT_ALLOW');
  t.true(spec.mounts?.find((m) => m.destination === '/dev/shm')?.options?.includes('size=131072k'));
  t.is(spec.linux?.resources?.cpu?.quota, 50000);
  t.deepEqual(generateSpec(withNamespaces([{ type: 'mount' }])).linux?.namespaces, [{ type: 'mount' }]);
});

test('options refuse unusable arguments with ERR_OCI_INVALID_SPEC_OPTION', (t) => {
  const bad: [string, () => unknown][] = [
    ['withArgs([])', () => withArgs([])],
    ['withCwd relative', () => withCwd('work')],
    ['withUser name', () => withUser('nobody')],
    ['withUser negative', () => withUser(-1)],
    ['withHostname', () => withHostname('bad_host!')],
    ['withMemoryLimit', () => withMemoryLimit(0)],
    ['withCpus', () => withCpus(0)],
    ['withCpuShares', () => withCpuShares(1)],
    ['withPidsLimit', () => withPidsLimit(-2)],
    ['withNamespace', () => withNamespace('bogus' as never)],
    ['withNamespace path', () => withNamespace('network', 'ns/net')],
    ['withNamespaces duplicate', () => withNamespaces([{ type: 'pid' }, { type: 'pid' }])],
    ['withCapabilities', () => withCapabilities(['CAP_FLY'])],
    ['withUserNamespace', () => withUserNamespace([])],
    ['withRlimits', () => withRlimits([{ type: 'nofile', soft: 10, hard: 5 }])],
    ['withSysctl', () => withSysctl({ 'bad key': '1' })],
    ['withCgroupsPath', () => withCgroupsPath('../escape')],
    ['withMount', () => withMount({ destination: 'rel' })],
    ['withEnv', () => withEnv(['=x'])],
    ['withSeccomp', () => withSeccomp({ defaultAction: 'ALLOW' })],
  ];
  for (const [name, f] of bad) t.is(code(t.throws(f, undefined, name)), 'ERR_OCI_INVALID_SPEC_OPTION', name);
});

// --- the generated spec runs under runc ------------------------------------
const canRun = process.getuid?.() === 0 && existsSync('/usr/sbin/runc') && existsSync('/bin/busybox');
const runcTest = canRun ? test.serial : test.skip;
const exec = promisify(execFile);

async function runInRunc(t: { teardown(fn: () => Promise<void>): void }, spec: RuntimeSpec): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-oci-spec-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const rootfs = path.join(dir, 'bundle', 'rootfs');
  await fs.mkdir(path.join(rootfs, 'bin'), { recursive: true });
  await fs.copyFile('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  await fs.chmod(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const applet of ['sh', 'cat', 'id', 'hostname', 'grep', 'touch', 'echo', 'ls']) {
    await fs.symlink('busybox', path.join(rootfs, 'bin', applet));
  }
  const id = `berth-oci-spec-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  spec.root = { ...spec.root, path: rootfs };
  spec.linux = { ...spec.linux, cgroupsPath: `/${id}` };
  await fs.writeFile(path.join(dir, 'bundle', 'config.json'), JSON.stringify(spec));
  const { stdout } = await exec('runc', ['--root', path.join(dir, 'runc'), 'run', '--bundle', path.join(dir, 'bundle'), id],
    { timeout: 60_000 });
  return stdout;
}

runcTest('runc runs a generated spec with Docker\'s default capabilities, user, hostname, env (needs root, runc)', async (t) => {
  const spec = generateSpec(
    withArgs(['/bin/sh', '-c', 'grep -E "^Cap(Bnd|Eff)" /proc/self/status; id -u; id -g; hostname; echo "$GREETING"; pwd; ls /dev']),
    withUser('1000:1000'), withHostname('berth-test'), withEnv(['GREETING=hello']), withCwd('/'),
  );
  validateRuntimeSpec(spec);
  const out = await runInRunc(t, spec);
  const lines = out.trim().split('\n');
  // Docker's default bounding set as a mask, as `docker run busybox grep Cap /proc/self/status` shows it.
  t.true(lines.slice(0, 2).includes('CapBnd:\t00000000a80425fb'));
  // A non-root user has no effective capabilities.
  t.true(lines.slice(0, 2).includes('CapEff:\t0000000000000000'));
  t.deepEqual(lines.slice(2, 7), ['1000', '1000', 'berth-test', 'hello', '/']);
  for (const dev of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'pts', 'shm', 'mqueue']) t.true(lines.includes(dev), dev);
});

runcTest('runc applies the generated resource limits and read-only rootfs (needs root, runc, cgroup v1)', async (t) => {
  const spec = generateSpec(
    withArgs(['/bin/sh', '-c', [
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes',
      'cat /sys/fs/cgroup/pids/pids.max',
      'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us',
      'touch /newfile 2>/dev/null && echo writable || echo readonly',
      'cat /proc/kcore 2>/dev/null | grep -c . || true',
      'echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo proc-sys-writable || echo proc-sys-readonly',
    ].join('; ')]),
    withMemoryLimit(64 << 20), withPidsLimit(50), withCpus(0.5), withReadonlyRootfs(),
  );
  const lines = (await runInRunc(t, spec)).trim().split('\n');
  t.deepEqual(lines, [String(64 << 20), '50', '50000', 'readonly', '0', 'proc-sys-readonly']);
});
