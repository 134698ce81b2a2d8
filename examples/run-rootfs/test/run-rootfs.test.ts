/**
 * Runs the run-rootfs program for real (as root) on the busybox fixture's
 * rootfs, extracted with GNU tar, and checks isolation, cgroup limits (from
 * the host's cgroupfs and by their effect), exit statuses and errors.
 */
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixture, fixtureBlobPath, readFixtureManifest, tempDir, type TempDir } from '@berth/testkit';

const program = path.resolve(import.meta.dirname, '../src/main.js');
const isRoot = process.getuid?.() === 0;
const rootTest = isRoot ? test : test.skip;

interface Run { code: number | null; stdout: string; stderr: string }

/** Starts the program; `onStdout` sees the output so far and may signal it or write its stdin. */
function runRootfs(args: string[], onStdout?: (out: string, child: ReturnType<typeof spawn>) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [program, '--root', state, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout!.on('data', (d) => { stdout += d; onStdout?.(stdout, child); });
    child.stderr!.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    if (!onStdout) child.stdin!.end();
  });
}

let tmp: TempDir;
let rootfs: string;
let state: string;
test.before(async () => {
  tmp = await tempDir('run-rootfs-');
  state = path.join(tmp.path, 'state');
  rootfs = path.join(tmp.path, 'bundle/rootfs');
  fs.mkdirSync(rootfs, { recursive: true });
  const f = fixture('busybox', 'oci-gzip');
  const layer = (JSON.parse(readFixtureManifest(f).bytes.toString()) as { layers: { digest: string }[] }).layers[0]!;
  execFileSync('tar', ['-xzf', fixtureBlobPath(f, layer.digest), '-C', rootfs]);
});
test.after.always(async () => { await tmp?.cleanup(); });

rootTest('isolation: own hostname, the command is pid 1 and alone, only lo; exit status passed on; nothing left (root)', async (t) => {
  const r = await runRootfs(['--hostname', 'box', rootfs, 'sh', '-c',
    'hostname; echo $$; tr "\\0" " " </proc/1/cmdline; echo; echo /proc/[0-9]*; ls /sys/class/net; exit 7']);
  t.is(r.code, 7, r.stderr);
  t.is(r.stdout, 'box\n1\nsh -c hostname; echo $$; tr "\\0" " " </proc/1/cmdline; echo; echo /proc/[0-9]*; ls /sys/class/net; exit 7 \n/proc/1\nlo\n');
  const id = /^run-rootfs: (run-rootfs-\d+) exited with status 7\n$/.exec(r.stderr)?.[1];
  t.truthy(id, r.stderr);
  t.not(os.hostname(), 'box');
  t.false(fs.existsSync(path.join(state, id!)), 'the container was deleted');
  t.false(fs.existsSync(`/sys/fs/cgroup/pids/berth/${id}`), 'and its cgroup');
});

rootTest('limits are written to the container\'s cgroup, seen from the host while it runs; the cgroup is gone after (root)', async (t) => {
  const id = `limits-${process.pid}`;
  let files: Record<string, string> = {};
  const inside = 'echo $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes) $(cat /sys/fs/cgroup/pids/pids.max) $(grep :memory: /proc/self/cgroup)';
  const r = await runRootfs(['--id', id, '--memory', '64m', '--pids', '20', '--cpus', '0.5', rootfs, 'sh', '-c', `${inside}; echo ready; read line`], (out, child) => {
    if (!out.endsWith('ready\n')) return;
    const read = (p: string) => fs.readFileSync(`/sys/fs/cgroup/${p}`, 'utf8').trim();
    files = {
      memory: read(`memory/berth/${id}/memory.limit_in_bytes`), pids: read(`pids/berth/${id}/pids.max`),
      quota: read(`cpu/berth/${id}/cpu.cfs_quota_us`), period: read(`cpu/berth/${id}/cpu.cfs_period_us`),
    };
    child.stdin!.end('go\n');
  });
  t.is(r.code, 0, r.stderr);
  t.deepEqual(files, { memory: String(64 << 20), pids: '20', quota: '50000', period: '100000' });
  // Inside, its cgroup namespace is rooted at its own cgroup: the mounted cgroupfs shows its limits.
  t.regex(r.stdout.split('\n')[0]!, new RegExp(`^${64 << 20} 20 \\d+:memory:/$`));
  t.false(fs.existsSync(`/sys/fs/cgroup/memory/berth/${id}`));
});

rootTest('limits hold: --pids 4 makes fork fail, --memory 16m OOM-kills a 64 MiB allocation (status 137) (root)', async (t) => {
  const p = await runRootfs(['--pids', '4', rootfs, 'sh', '-c', 'for i in 1 2 3 4 5 6; do sleep 1 & done; wait']);
  t.not(p.code, 0);
  t.regex(p.stderr, /can't fork/);
  const m = await runRootfs(['--memory', '16m', rootfs, 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1']);
  t.is(m.code, 137);
  t.regex(m.stderr, /exited with status 137 \(SIGKILL\) \(OOM-killed\)\n$/);
  const ok = await runRootfs(['--memory', '128m', rootfs, 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1']);
  t.is(ok.code, 0, ok.stderr);
});

rootTest('-e, -w, --read-only, --network host (root)', async (t) => {
  const r = await runRootfs(['-e', 'FOO=bar', '-w', '/tmp', '--read-only', rootfs, 'sh', '-c', 'echo $FOO; pwd; touch /x']);
  t.is(r.code, 1);
  t.is(r.stdout, 'bar\n/tmp\n');
  t.regex(r.stderr, /Read-only file system/);
  const n = await runRootfs(['--network', 'host', rootfs, 'ls', '/sys/class/net']);
  t.is(n.code, 0, n.stderr);
  // Other work on this host adds and removes interfaces: check the one of the default route, not the whole list.
  const uplink = fs.readFileSync('/proc/net/route', 'utf8').split('\n').map((l) => l.split('\t')).find((f) => f[1] === '00000000')?.[0];
  const seen = n.stdout.split(/\s+/).filter(Boolean);
  t.true(seen.includes('lo'));
  if (uplink) t.true(seen.includes(uplink), `${uplink} in ${seen.join(' ')}`);
  else t.true(seen.length > 1);
});

rootTest('SIGTERM to run-rootfs goes to the container\'s init (root)', async (t) => {
  const r = await runRootfs([rootfs, 'sh', '-c', 'trap "echo got TERM; exit 3" TERM; echo ready; while :; do sleep 0.1; done'], (out, child) => {
    if (out === 'ready\n') child.kill('SIGTERM');
  });
  t.is(r.code, 3, r.stderr);
  t.is(r.stdout, 'ready\ngot TERM\n');
});

rootTest('errors: 127 with ERR_NS_EXEC_NOT_FOUND, 125 with ERR_NS_ROOTFS_NOT_FOUND, 125 for usage (root)', async (t) => {
  const nf = await runRootfs(['--id', `nf-${process.pid}`, rootfs, '/no/such/command']);
  t.is(nf.code, 127);
  t.regex(nf.stderr, /\[ERR_NS_EXEC_NOT_FOUND\]\n$/);
  const nr = await runRootfs(['--id', `nr-${process.pid}`, path.join(tmp.path, 'no-rootfs'), 'true']);
  t.is(nr.code, 125);
  t.regex(nr.stderr, /\[ERR_NS_ROOTFS_NOT_FOUND\]\n$/);
  const u = await runRootfs(['--pids', 'many', rootfs]);
  t.is(u.code, 125);
  t.regex(u.stderr, /^run-rootfs: bad --pids "many"\n\nusage: run-rootfs/);
  for (const id of [`nf-${process.pid}`, `nr-${process.pid}`]) {
    t.false(fs.existsSync(path.join(state, id)), `failed run ${id} left no state`);
    t.false(fs.existsSync(`/sys/fs/cgroup/pids/berth/${id}`), `failed run ${id} left no cgroup`);
  }
});

test('the program imports one berth package, @berth/namespaces, by its public entry point only', (t) => {
  const imports = [...fs.readFileSync(program, 'utf8').matchAll(/from '(@berth\/[^']*)'/g)].map((m) => m[1]);
  t.deepEqual([...new Set(imports)], ['@berth/namespaces']);
  const pkg = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '../../package.json'), 'utf8'));
  t.deepEqual(Object.keys(pkg.dependencies), ['@berth/namespaces']);
});
