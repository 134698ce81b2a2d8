import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { listContainers, runContainer, type RuntimeSpec } from '@berth/namespaces';
import { defaultSpec, makeBundle, readAll, type TestBundle } from './helpers/bundle.js';

const rootTest = process.getuid?.() === 0 ? test : test.skip;
let n = 0;
const id = () => `feat-${process.pid}-${n++}`;

async function run(b: TestBundle, spec: RuntimeSpec, noPivot = false): Promise<{ out: string; err: string; exitCode: number | null }> {
  const c = await runContainer(id(), spec, { bundle: b.bundle, root: b.root, stdio: 'pipe', noPivot });
  c.stdio.stdin?.end();
  const [out, err, st] = await Promise.all([readAll(c.stdio.stdout), readAll(c.stdio.stderr), c.wait()]);
  await c.delete();
  return { out, err, exitCode: st.exitCode };
}

rootTest('as root: joins the uts, net and pid namespaces of another container by path', async (t) => {
  const b = makeBundle();
  try {
    const spec = defaultSpec(['sleep', '100']);
    spec.hostname = 'first';
    const first = await runContainer(id(), spec, { bundle: b.bundle, root: b.root, stdio: 'ignore' });
    const second = defaultSpec(['sh', '-c', 'hostname; echo /proc/[0-9]*; readlink /proc/1/exe; cat /proc/1/cmdline | tr "\\0" " "']);
    delete second.hostname;
    second.linux!.namespaces = second.linux!.namespaces!.map((ns) =>
      ['uts', 'network', 'pid'].includes(ns.type) ? { type: ns.type, path: `/proc/${first.pid}/ns/${ns.type === 'network' ? 'net' : ns.type}` } : ns);
    const r = await run(b, second);
    t.is(r.exitCode, 0, r.err);
    const [host, procs, , cmd] = r.out.split('\n');
    t.is(host, 'first');
    t.regex(procs!, /^\/proc\/1 \/proc\/\d+/, 'sees the first container\'s init');
    t.is(cmd!.trim(), 'sleep 100');
    await first.delete({ force: true });
  } finally {
    b.cleanup();
  }
});

rootTest('as root: noPivot uses MS_MOVE + chroot', async (t) => {
  const b = makeBundle();
  try {
    const r = await run(b, defaultSpec(['sh', '-c', 'ls /; cat /proc/self/mountinfo | head -1']), true);
    t.is(r.exitCode, 0, r.err);
    t.regex(r.out, /^bin$/m);
    t.regex(r.out, /^\d+ \d+ \S+ \S+ \/ /m, 'the rootfs is mounted on /');
  } finally {
    b.cleanup();
  }
});

rootTest('as root: sysctl, domainname, umask, env, rlimits and oomScoreAdj are applied', async (t) => {
  const b = makeBundle();
  try {
    const spec = defaultSpec(['sh', '-c', 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/domainname; umask; echo $FOO; ulimit -n; cat /proc/self/oom_score_adj']);
    spec.linux!.sysctl = { 'net.ipv4.ip_forward': '1' };
    spec.domainname = 'example.org';
    spec.process!.user!.umask = 0o027;
    spec.process!.env!.push('FOO=bar baz');
    spec.process!.rlimits = [{ type: 'RLIMIT_NOFILE', hard: 512, soft: 256 }];
    spec.process!.oomScoreAdj = 123;
    const r = await run(b, spec);
    t.is(r.exitCode, 0, r.err);
    t.deepEqual(r.out.trim().split('\n'), ['1', 'example.org', '0027', 'bar baz', '256', '123']);
  } finally {
    b.cleanup();
  }
});

rootTest('as root: bind mounts honour ro and propagation; linux.devices are created', async (t) => {
  const b = makeBundle();
  try {
    const src = path.join(b.bundle, 'shared');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'f'), 'from host\n');
    const spec = defaultSpec(['sh', '-c', 'cat /data/f; touch /data/g 2>/dev/null && echo rw || echo ro; echo x > /rw/g && echo rw2; ls -l /dev/berth-null | cut -c1']);
    spec.mounts!.push({ destination: '/data', type: 'bind', source: 'shared', options: ['rbind', 'ro', 'rprivate', 'nosuid'] });
    spec.mounts!.push({ destination: '/rw', type: 'bind', source: src, options: ['bind'] });
    spec.linux!.devices = [{ type: 'c', path: '/dev/berth-null', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 }];
    const r = await run(b, spec);
    t.is(r.exitCode, 0, r.err);
    t.deepEqual(r.out.trim().split('\n'), ['from host', 'ro', 'rw2', 'c']);
    t.is(fs.readFileSync(path.join(src, 'g'), 'utf8'), 'x\n');
  } finally {
    b.cleanup();
  }
});

rootTest('as root: a spec without a mount namespace or with a bad rlimit is an invalid spec', async (t) => {
  const b = makeBundle();
  try {
    const s1 = defaultSpec(['true']);
    s1.linux!.namespaces = s1.linux!.namespaces!.filter((ns) => ns.type !== 'mount');
    await t.throwsAsync(runContainer(id(), s1, { bundle: b.bundle, root: b.root }), { code: 'ERR_NS_INVALID_SPEC' });
    const s2 = defaultSpec(['true']);
    s2.process!.rlimits = [{ type: 'RLIMIT_NOPE', hard: 1, soft: 1 }];
    await t.throwsAsync(runContainer(id(), s2, { bundle: b.bundle, root: b.root }), { code: 'ERR_NS_INVALID_SPEC' });
    await t.throwsAsync(runContainer('a/b', defaultSpec(['true']), { bundle: b.bundle, root: b.root }), { code: 'ERR_NS_INVALID_ID' });
    const s3 = defaultSpec(['true']);
    s3.root!.path = 'missing';
    await t.throwsAsync(runContainer(id(), s3, { bundle: b.bundle, root: b.root }), { code: 'ERR_NS_ROOTFS_NOT_FOUND' });
  } finally {
    b.cleanup();
  }
});

for (const nnp of [true, false]) {
  rootTest(`as root: a seccomp profile returns its errno (noNewPrivileges ${nnp})`, async (t) => {
    const b = makeBundle();
    try {
      const spec = defaultSpec(['sh', '-c', 'mkdir /dev/shm/a 2>/dev/null && echo made || echo refused; touch /dev/shm/b && echo touched; grep Seccomp: /proc/self/status']);
      spec.process!.noNewPrivileges = nnp;
      spec.linux!.seccomp = {
        defaultAction: 'SCMP_ACT_ALLOW',
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
        syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }],
      };
      const r = await run(b, spec);
      t.is(r.exitCode, 0, r.err);
      t.regex(r.out, /^refused\ntouched\nSeccomp:\s+2\n$/);
    } finally {
      b.cleanup();
    }
  });
}

rootTest('as root: a compiled seccomp program is cached under the root; the cached, a rebuilt and a fresh one all refuse the syscall', async (t) => {
  const b = makeBundle();
  try {
    const spec = defaultSpec(['sh', '-c', 'mkdir /dev/shm/a 2>/dev/null && echo made || echo refused; touch /dev/shm/b && echo touched']);
    spec.linux!.seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
      syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
    };
    const cache = path.join(b.root, '.seccomp-cache');
    const expectRefused = async (what: string) => {
      const r = await run(b, spec);
      t.is(r.exitCode, 0, r.err);
      t.is(r.out, 'refused\ntouched\n', what);
    };
    await expectRefused('compiled, then written to the cache');
    const files = fs.readdirSync(cache);
    t.is(files.length, 1, 'one program, no temporary file left');
    t.regex(files[0]!, /^[0-9a-f]{16}\.bpf$/);
    const file = path.join(cache, files[0]!);
    const fresh = fs.readFileSync(file);
    fs.utimesSync(file, 0, 0);
    await expectRefused('loaded from the cache');
    t.is(fs.statSync(file).mtimeMs, 0, 'a good file is read, not written again');
    // A short, flipped or empty file is ignored: the profile is compiled again, to the same bytes.
    for (const bad of [fresh.subarray(0, fresh.length - 5), Buffer.from(fresh.map((x, i) => (i === fresh.length - 12 ? x ^ 4 : x))), Buffer.alloc(0)]) {
      fs.writeFileSync(file, bad);
      await expectRefused(`after a bad cache file of ${bad.length} bytes`);
      t.deepEqual(fs.readFileSync(file), fresh, 'rebuilt identical to the first compile');
    }
    t.deepEqual(fs.readdirSync(cache), files);
    // Another profile gets its own file; the container list does not show the cache.
    spec.linux!.seccomp.syscalls![0]!.names = ['mkdir', 'mkdirat', 'rmdir'];
    await expectRefused('another profile');
    t.is(fs.readdirSync(cache).length, 2);
    t.deepEqual(await listContainers(b.root), []);
  } finally {
    b.cleanup();
  }
});

for (const userns of [false, true]) {
  rootTest(`as root: a new network namespace has only lo, brought up by the runtime${userns ? ' (user-namespaced)' : ''}`, async (t) => {
    const b = makeBundle();
    try {
      // /proc/net/dev lists the namespace's interfaces; lo's flags (0x1 = IFF_UP) come from sysfs of the same namespace.
      const spec = defaultSpec(['sh', '-c', 'readlink /proc/self/ns/net; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; echo ---; cat /sys/class/net/lo/flags; cat /sys/class/net/lo/operstate; ping -c1 -W2 127.0.0.1 >/dev/null && echo ping-ok']);
      const caps = spec.process!.capabilities!;
      for (const set of [caps.bounding!, caps.effective!, caps.permitted!]) set.push('CAP_NET_RAW'); // ping's raw socket
      if (userns) {
        spec.linux!.namespaces!.push({ type: 'user' });
        spec.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
        spec.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      }
      const r = await run(b, spec);
      t.is(r.exitCode, 0, r.err);
      const [ns, ...rest] = r.out.trim().split('\n');
      const sep = rest.indexOf('---');
      t.regex(ns!, /^net:\[\d+\]$/);
      t.not(ns, fs.readlinkSync('/proc/self/ns/net'), 'a namespace of its own, not the host\'s');
      t.deepEqual(rest.slice(0, sep), ['lo'], 'only lo');
      const flags = Number.parseInt(rest[sep + 1]!, 16);
      t.is(flags & 0x1, 0x1, `lo is up (flags ${rest[sep + 1]})`);
      t.is(rest[sep + 2], 'unknown', 'lo has no carrier state, as on any host');
      t.is(rest[sep + 3], 'ping-ok', '127.0.0.1 answers');
    } finally {
      b.cleanup();
    }
  });
}
