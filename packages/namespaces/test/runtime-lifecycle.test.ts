import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import {
  createContainer, runContainer, loadContainer, listContainers, ContainerSetupError, ContainerError,
  type RuntimeSpec,
} from '@berth/namespaces';
import { defaultSpec, makeBundle, readAll, type TestBundle } from './helpers/bundle.js';

const isRoot = process.getuid?.() === 0;
const rootTest = isRoot ? test : test.skip;

let n = 0;
function id(): string {
  return `rt-${process.pid}-${n++}`;
}

/** Runs `args` to completion with piped stdio. */
async function run(b: TestBundle, spec: RuntimeSpec): Promise<{ out: string; err: string; exitCode: number | null; signal: string | null }> {
  const c = await runContainer(id(), spec, { bundle: b.bundle, root: b.root, stdio: 'pipe' });
  c.stdio.stdin?.end();
  const [out, err, st] = await Promise.all([readAll(c.stdio.stdout), readAll(c.stdio.stderr), c.wait()]);
  await c.delete();
  return { out, err, exitCode: st.exitCode, signal: st.signal };
}

const caps = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

rootTest('as root: the must-show status line', async (t) => {
  const b = makeBundle();
  try {
    const spec = defaultSpec(['sh', '-c', 'echo $$; hostname; id; grep -E "Cap|NoNewPrivs|Seccomp" /proc/self/status']);
    spec.hostname = 'must-show';
    spec.process!.user = { uid: 1000, gid: 1000, additionalGids: [65534] };
    spec.process!.capabilities = { bounding: caps, effective: caps, permitted: caps, inheritable: caps, ambient: caps };
    spec.linux!.seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [{ names: ['mount', 'umount2', 'unshare'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
    };
    const r = await run(b, spec);
    t.is(r.exitCode, 0, r.err);
    const lines = r.out.split('\n');
    t.is(lines[0], '1');
    t.is(lines[1], 'must-show');
    t.regex(lines[2]!, /^uid=1000\(user\) gid=1000\(user\) groups=65534\(nogroup\)/);
    // CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29).
    t.regex(r.out, /CapEff:\s+0000000020000420/);
    t.regex(r.out, /CapBnd:\s+0000000020000420/);
    t.regex(r.out, /CapAmb:\s+0000000020000420/);
    t.regex(r.out, /NoNewPrivs:\s+1/);
    t.regex(r.out, /Seccomp:\s+2/);
  } finally {
    b.cleanup();
  }
});

rootTest('as root: no host processes, no mount, read-only /proc/sys, masked /proc paths', async (t) => {
  const b = makeBundle();
  try {
    const spec = defaultSpec(['sh', '-c', [
      'echo /proc/[0-9]*',
      'mount -t tmpfs none /tmp 2>/dev/null && echo mounted || echo no-mount',
      '(echo 1 > /proc/sys/kernel/domainname) 2>/dev/null && echo wrote || echo no-write',
      'cat /proc/kcore 2>/dev/null | wc -c',
      'cat /proc/timer_list | wc -c',
      'touch /newfile 2>/dev/null && echo rw || echo ro',
    ].join('; ')]);
    spec.linux!.maskedPaths!.push('/proc/cmdline');
    const r = await run(b, spec);
    t.is(r.exitCode, 0, r.err);
    const [procs, mount, write, kcore, timerList, rootfs] = r.out.trim().split('\n');
    // Only sh itself: the pid namespace hides every host process.
    t.is(procs, '/proc/1');
    t.is(mount, 'no-mount');
    t.is(write, 'no-write');
    t.is(kcore, '0');
    t.is(timerList, '0');
    t.is(rootfs, 'ro');
    t.true(fs.readFileSync('/proc/timer_list').length > 0, 'the host file is not empty');
  } finally {
    b.cleanup();
  }
});

rootTest('as root: created → running → stopped, exit code and state on disk', async (t) => {
  const b = makeBundle();
  try {
    const cid = id();
    const c = await createContainer(cid, defaultSpec(['sh', '-c', 'read x; exit 3']), { bundle: b.bundle, root: b.root, stdio: 'pipe' });
    t.true(c.pid > 0);
    t.is((await c.state()).status, 'created');
    t.is(JSON.parse(fs.readFileSync(path.join(b.root, cid, 'state.json'), 'utf8')).pid, c.pid);
    await t.throwsAsync(createContainer(cid, defaultSpec(['true']), { bundle: b.bundle, root: b.root }), { code: 'ERR_NS_CONTAINER_EXISTS' });
    await t.throwsAsync(c.delete().then(() => c.resume()), { code: 'ERR_NS_CONTAINER_NOT_FOUND' });
  } finally {
    b.cleanup();
  }
});

rootTest('as root: start, wait for the exit code, list and load', async (t) => {
  const b = makeBundle();
  try {
    const cid = id();
    const c = await createContainer(cid, defaultSpec(['sh', '-c', 'read x; exit 3']), { bundle: b.bundle, root: b.root, stdio: 'pipe' });
    await c.start();
    t.is((await c.state()).status, 'running');
    t.deepEqual((await listContainers(b.root)).map((s) => s.id), [cid]);
    const loaded = await loadContainer(b.root, cid);
    t.is(loaded.pid, c.pid);
    await t.throwsAsync(c.start(), { code: 'ERR_NS_CONTAINER_STATE' });
    c.stdio.stdin!.end('go\n');
    const st = await c.wait();
    t.deepEqual(st, { exitCode: 3, signal: null, oomKilled: false });
    t.is((await c.state()).status, 'stopped');
    await c.delete();
    t.deepEqual(await listContainers(b.root), []);
    await t.throwsAsync(loadContainer(b.root, cid), { code: 'ERR_NS_CONTAINER_NOT_FOUND', instanceOf: ContainerError });
  } finally {
    b.cleanup();
  }
});

rootTest('as root: kill reports the signal', async (t) => {
  const b = makeBundle();
  try {
    const c = await runContainer(id(), defaultSpec(['sleep', '100']), { bundle: b.bundle, root: b.root, stdio: 'ignore' });
    c.kill('SIGKILL');
    t.deepEqual(await c.wait(), { exitCode: null, signal: 'SIGKILL', oomKilled: false });
    await c.delete();
  } finally {
    b.cleanup();
  }
});

rootTest('as root: a missing binary and a bad cwd are typed errors with errno, syscall and path', async (t) => {
  const b = makeBundle();
  try {
    const e1 = await t.throwsAsync(createContainer(id(), defaultSpec(['no-such-binary']), { bundle: b.bundle, root: b.root }),
      { code: 'ERR_NS_EXEC_NOT_FOUND', instanceOf: ContainerSetupError });
    t.is(e1.errnoCode, 'ENOENT');
    t.is(e1.syscall, 'execve');
    t.is(e1.path, 'no-such-binary');
    const spec = defaultSpec(['true']);
    spec.process!.cwd = '/no/such/dir';
    const e2 = await t.throwsAsync(runContainer(id(), spec, { bundle: b.bundle, root: b.root }), { code: 'ERR_NS_BAD_CWD', instanceOf: ContainerSetupError });
    t.is(e2.errnoCode, 'ENOENT');
    t.is(e2.syscall, 'chdir');
    t.is(e2.path, '/no/such/dir');
    const bad = defaultSpec(['true']);
    bad.mounts!.push({ destination: '/mnt', type: 'bind', source: '/no/such/source', options: ['rbind'] });
    const e3 = await t.throwsAsync(runContainer(id(), bad, { bundle: b.bundle, root: b.root }), { code: 'ERR_NS_MOUNT_FAILED', instanceOf: ContainerSetupError });
    t.is(e3.errnoCode, 'ENOENT');
    t.is(e3.syscall, 'mount');
    // Nothing is left behind.
    t.deepEqual(await listContainers(b.root), []);
  } finally {
    b.cleanup();
  }
});

rootTest('as root: only fds 0-2 reach the container; rlimits above the host hard limit are clamped', async (t) => {
  const b = makeBundle();
  try {
    const fd = fs.openSync('/etc/hostname', 'r');
    const spec = defaultSpec(['sh', '-c', 'ls /proc/self/fd; ulimit -n']);
    spec.process!.rlimits = [{ type: 'RLIMIT_NOFILE', hard: 1 << 30, soft: 1 << 30 }];
    const r = await run(b, spec);
    fs.closeSync(fd);
    t.is(r.exitCode, 0, r.err);
    const lines = r.out.trim().split('\n');
    // 0-2 and the directory ls itself opened.
    t.deepEqual(lines.slice(0, -1), ['0', '1', '2', '3']);
    const hostHard = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'))!.trim().split(/\s+/)[4];
    t.is(lines.at(-1), hostHard);
  } finally {
    b.cleanup();
  }
});

rootTest('as root: a user-namespaced container maps root to an unprivileged host uid and runs', async (t) => {
  const b = makeBundle();
  try {
    const spec = defaultSpec(['sh', '-c', 'read x; id; cat /proc/self/uid_map; ls /dev/null']);
    spec.linux!.namespaces!.push({ type: 'user' });
    spec.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    spec.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    const c = await createContainer(id(), spec, { bundle: b.bundle, root: b.root, stdio: 'pipe' });
    const status = fs.readFileSync(`/proc/${c.pid}/status`, 'utf8');
    t.regex(status, /^Uid:\s+100000\s+100000/m);
    await c.start();
    c.stdio.stdin!.end('go\n');
    const [out, err, st] = await Promise.all([readAll(c.stdio.stdout), readAll(c.stdio.stderr), c.wait()]);
    t.is(st.exitCode, 0, err);
    t.regex(out, /^uid=0\(root\) gid=0\(root\)/);
    t.regex(out, /^\s+0\s+100000\s+65536$/m);
    t.regex(out, /\/dev\/null/);
    await c.delete();
  } finally {
    b.cleanup();
  }
});

rootTest('as root: a pty is handed to JS, sized and resizable', async (t) => {
  const b = makeBundle();
  try {
    const spec = defaultSpec(['sh', '-c', 'tty; stty size; read x; stty size']);
    spec.process!.terminal = true;
    const c = await runContainer(id(), spec, { bundle: b.bundle, root: b.root, consoleSize: { rows: 30, cols: 100 } });
    const pty = c.stdio.pty!;
    let out = '';
    pty.on('data', (d: Buffer) => { out += d.toString(); });
    pty.on('error', () => undefined);
    while (!out.includes('30 100')) await new Promise((r) => setTimeout(r, 10));
    c.resize(40, 120);
    pty.write('go\n');
    const st = await c.wait();
    while (!out.includes('40 120')) await new Promise((r) => setTimeout(r, 10));
    t.is(st.exitCode, 0);
    t.regex(out, /30 100/);
    t.regex(out, /40 120/);
    // Opened from the container's own devpts instance.
    t.regex(out, /^\/dev\/pts\/0\r?$/m);
    await c.delete();
  } finally {
    b.cleanup();
  }
});

rootTest('as root: exec joins a running container', async (t) => {
  const b = makeBundle();
  try {
    const spec = defaultSpec(['sleep', '100']);
    spec.hostname = 'exec-target';
    const c = await runContainer(id(), spec, { bundle: b.bundle, root: b.root, stdio: 'ignore' });
    const p = await c.exec({ args: ['sh', '-c', 'hostname; echo /proc/[0-9]*; echo $$; pwd'], cwd: '/tmp', env: ['PATH=/bin'], user: { uid: 0, gid: 0 } }, { stdio: 'pipe' });
    const [out, st] = await Promise.all([readAll(p.stdio.stdout), p.wait()]);
    t.is(st.exitCode, 0);
    const [host, procs, pid, cwd] = out.trim().split('\n');
    t.is(host, 'exec-target');
    t.is(procs, `/proc/1 /proc/${pid}`, 'sleep and sh');
    t.not(pid, '1');
    t.is(cwd, '/tmp');
    t.true((await c.pids()).includes(c.pid));
    await t.throwsAsync(c.exec({ args: ['nope'], cwd: '/', user: { uid: 0, gid: 0 } }), { code: 'ERR_NS_EXEC_NOT_FOUND' });
    await c.delete({ force: true });
  } finally {
    b.cleanup();
  }
});

rootTest('as root: the init stays non-dumpable until exec (no /proc/1/exe before start)', async (t) => {
  const b = makeBundle();
  try {
    const spec = defaultSpec(['sleep', '100']);
    const c = await createContainer(id(), spec, { bundle: b.bundle, root: b.root, stdio: 'ignore' });
    const probe = { args: ['sh', '-c', 'readlink /proc/1/exe || echo denied'], cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 }, capabilities: spec.process!.capabilities! };
    const before = await c.exec(probe, { stdio: 'pipe' });
    t.is((await readAll(before.stdio.stdout)).trim(), 'denied');
    await before.wait();
    await c.start();
    const after = await c.exec(probe, { stdio: 'pipe' });
    t.is((await readAll(after.stdio.stdout)).trim(), '/bin/busybox');
    await after.wait();
    await c.delete({ force: true });
  } finally {
    b.cleanup();
  }
});

rootTest('as root: concurrent creates keep their pipes to themselves and all finish', async (t) => {
  const b = makeBundle();
  try {
    const outs = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
      const c = await createContainer(id(), defaultSpec(['sh', '-c', `read x; echo ${i}-$x`]), { bundle: b.bundle, root: b.root, stdio: 'pipe' });
      await c.start();
      c.stdio.stdin!.end(`in${i}\n`);
      const [out, st] = await Promise.all([readAll(c.stdio.stdout), c.wait()]);
      await c.delete();
      return `${out.trim()} ${st.exitCode}`;
    }));
    t.deepEqual(outs, Array.from({ length: 8 }, (_, i) => `${i}-in${i} 0`));
  } finally {
    b.cleanup();
  }
});
