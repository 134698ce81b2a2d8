import test from 'ava';
import fs from 'node:fs';
import { runContainer } from '@berth/namespaces';
import { defaultSpec, makeBundle, readAll } from './helpers/bundle.js';

const rootTest = process.getuid?.() === 0 ? test.serial : test.skip;
let n = 0;
const id = () => `lim-${process.pid}-${n++}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

rootTest('as root: with an 8 MiB memory limit, allocating 64 MiB is OOM-killed and reported so', async (t) => {
  const b = makeBundle();
  try {
    const spec = defaultSpec(['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1']);
    spec.linux!.resources = { memory: { limit: 8 << 20, swap: 8 << 20 } };
    const c = await runContainer(id(), spec, { bundle: b.bundle, root: b.root, stdio: 'ignore' });
    const st = await c.wait();
    t.is(st.signal, 'SIGKILL');
    t.true(st.oomKilled);
    await c.delete();
  } finally {
    b.cleanup();
  }
});

rootTest('as root: a container that stays under its memory limit is not reported OOM-killed', async (t) => {
  const b = makeBundle();
  try {
    const spec = defaultSpec(['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=1M', 'count=1']);
    spec.linux!.resources = { memory: { limit: 64 << 20 } };
    const c = await runContainer(id(), spec, { bundle: b.bundle, root: b.root, stdio: 'ignore' });
    t.deepEqual(await c.wait(), { exitCode: 0, signal: null, oomKilled: false });
    await c.delete();
  } finally {
    b.cleanup();
  }
});

rootTest('as root: pids.max 10 stops a fork bomb', async (t) => {
  const b = makeBundle();
  try {
    const spec = defaultSpec(['sh', '-c', '(for i in $(seq 1 40); do sleep 60 & done); echo done; exec sleep 60']);
    spec.linux!.resources = { pids: { limit: 10 } };
    const c = await runContainer(id(), spec, { bundle: b.bundle, root: b.root, stdio: 'pipe' });
    const err = readAll(c.stdio.stderr);
    let out = '';
    c.stdio.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    let exited = false;
    void c.wait().then(() => { exited = true; });
    while (!out.includes('done') && !exited) await sleep(20);
    t.false(exited, 'the container survives the fork bomb');
    const pids = await c.pids();
    t.true(pids.length <= 10, `${pids.length} processes`);
    t.true(pids.length >= 2);
    await c.delete({ force: true });
    t.regex(await err, /fork/);
  } finally {
    b.cleanup();
  }
});

rootTest('as root: pause freezes the container and resume thaws it', async (t) => {
  const b = makeBundle();
  try {
    const spec = defaultSpec(['sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /dev/shm/count; done']);
    const c = await runContainer(id(), spec, { bundle: b.bundle, root: b.root, stdio: 'ignore' });
    const counter = `/proc/${c.pid}/root/dev/shm/count`;
    const read = () => Number(fs.readFileSync(counter, 'utf8').trim() || '0');
    while (!fs.existsSync(counter)) await sleep(10);
    await c.pause();
    t.is((await c.state()).status, 'paused');
    const a = read();
    await sleep(200);
    t.is(read(), a, 'no progress while frozen');
    await t.throwsAsync(c.pause(), { code: 'ERR_NS_CONTAINER_STATE' });
    await c.resume();
    t.is((await c.state()).status, 'running');
    while (read() === a) await sleep(10);
    t.pass();
    await c.delete({ force: true });
  } finally {
    b.cleanup();
  }
});

rootTest('as root: a limit this host cannot apply fails create with the cgroup error, leaving nothing behind', async (t) => {
  const b = makeBundle();
  try {
    const spec = defaultSpec(['true']);
    spec.linux!.resources = { unified: { 'memory.max': '1M' } } as never;
    await t.throwsAsync(runContainer(id(), spec, { bundle: b.bundle, root: b.root }), { code: 'ERR_NS_CGROUP_UNSUPPORTED' });
    t.deepEqual(fs.readdirSync(b.root), []);
  } finally {
    b.cleanup();
  }
});

rootTest('as root: a cgroup namespace is rooted at the container\'s own cgroup: /proc/self/cgroup reads "/", the mounted cgroupfs shows its limits', async (t) => {
  const b = makeBundle();
  try {
    const spec = defaultSpec(['sh', '-c', 'cat /proc/self/cgroup; echo limit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes); echo pids=$(cat /sys/fs/cgroup/pids/pids.max)']);
    spec.linux!.resources = { memory: { limit: 48 << 20 }, pids: { limit: 33 } };
    const cid = id();
    const c = await runContainer(cid, spec, { bundle: b.bundle, root: b.root, stdio: 'pipe' });
    const out = readAll(c.stdio.stdout);
    t.deepEqual(await c.wait(), { exitCode: 0, signal: null, oomKilled: false });
    const text = await out;
    const lines = text.trim().split('\n');
    const paths = lines.filter((l) => /^\d+:/.test(l)).map((l) => l.split(':').slice(2).join(':'));
    t.true(paths.length > 0, text);
    // Every hierarchy the container was put in reads "/" from inside (a hierarchy it was not
    // moved into, such as the cgroup2 one holding only hugetlb here, may read a relative path).
    for (const l of lines.filter((x) => /^\d+:[^:]*(memory|pids|cpu)[^:]*:/.test(x))) t.is(l.split(':')[2], '/', l);
    t.true(fs.existsSync(`/sys/fs/cgroup/memory/berth/${cid}`), 'seen from the host it is /berth/<id>');
    t.true(lines.includes(`limit=${48 << 20}`), text);
    t.true(lines.includes('pids=33'), text);
    await c.delete();
  } finally {
    b.cleanup();
  }
});
