/**
 * Concurrent unpack: layer N+1 prepared over the still-active snapshot of
 * layer N (`activeParent`) and applied beside it (`lowersReady`). The result
 * equals `umoci unpack`; an entry that needs a lower layer waits for it; the
 * hostile multi-layer shapes stay inside the target; the contract (commit
 * order, rebase at commit, no removal of a parent with children) holds; and
 * a process killed mid-way leaves a snapshotter that still works.
 */
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import {
  applyLayer, applyLayerToMounts, openCopySnapshotter, openOverlaySnapshotter, type ApplyLayerResult, type Mount, type Snapshotter,
} from '@berth/cow-fs';
import { fixture } from '@berth/testkit';
import { fixtureLayers, umociUnpack } from './helpers/fixtures.js';
import { makeTar, streamOf, type TarSpec } from './helpers/tar.js';
import { isRoot, tmp } from './helpers/temp.js';
import { compareTrees, readTree } from './helpers/tree.js';
import { withMount } from './suite/snapshotter.js';

const overlayfs = /\toverlay$/m.test(fs.readFileSync('/proc/filesystems', 'utf8'));
const t0 = isRoot && overlayfs ? test.serial : test.skip;

type Source = () => AsyncIterable<Uint8Array> | fs.ReadStream;

/** Prepares a chain of active snapshots and applies every layer at once; resolves with the keys and the applies. */
async function unpackConcurrently(sn: Snapshotter, sources: Source[], prefix = 'extract'): Promise<{ keys: string[]; mounts: Mount[][]; applies: Array<Promise<ApplyLayerResult>> }> {
  const keys: string[] = [];
  const mounts: Mount[][] = [];
  const applies: Array<Promise<ApplyLayerResult>> = [];
  for (const [i, src] of sources.entries()) {
    const key = `${prefix}-${i}`;
    const m = await sn.prepare(key, i === 0 ? undefined : keys[i - 1], { activeParent: i > 0 });
    keys.push(key);
    mounts.push(m);
    const lowersReady = i === 0 ? undefined : Promise.all(applies.slice());
    const a = applyLayerToMounts(m, src(), { sync: false, ...(lowersReady ? { lowersReady } : {}) });
    a.catch(() => undefined);
    applies.push(a);
  }
  return { keys, mounts, applies };
}

/** Commits `keys` in order as `names` (all at once: they share one syncfs). */
async function commitAll(sn: Snapshotter, keys: string[], names: string[]): Promise<void> {
  await Promise.all(keys.map((k, i) => sn.commit(names[i]!, k)));
}

const upperOf = (m: Mount[]): string => m[0]!.options.find((o) => o.startsWith('upperdir='))!.slice('upperdir='.length);

/** A layer stream that yields `first`, then waits for `gate` before yielding `rest`. */
function gated(first: Buffer, rest: Buffer, gate: Promise<void>): AsyncIterable<Uint8Array> {
  return (async function* () {
    yield first;
    await gate;
    yield rest;
  })();
}

for (const variant of ['oci-gzip', 'oci-zstd'] as const) {
  t0(`multilayer ${variant} (root, overlayfs): layers unpacked concurrently over active parents, committed in one go, equal umoci unpack`, async (t) => {
    const base = await tmp(t);
    const ref = readTree(umociUnpack(fixture('multilayer', 'oci-gzip'), `${base}/bundle`));
    const sn = await openOverlaySnapshotter(`${base}/root`);
    t.teardown(() => sn.close());
    const layers = fixtureLayers(fixture('multilayer', variant));
    const { keys, applies } = await unpackConcurrently(sn, layers.map((l) => () => fs.createReadStream(l.path)));
    await Promise.all(applies);
    const names = keys.map((_, i) => `layer-${i}`);
    await commitAll(sn, keys, names);
    // The rebase: each parent is now the committed name of the layer below.
    for (const [i, n] of names.entries()) t.is((await sn.stat(n)).parent, i === 0 ? undefined : names[i - 1]);
    const view = await sn.view('check', names[names.length - 1]);
    t.deepEqual(compareTrees(ref, await withMount(base, view, (d) => readTree(d))), []);
  });
}

t0('a hardlink to a lower layer\'s file waits until that layer is applied, then copies it up (root, overlayfs)', async (t) => {
  const base = await tmp(t);
  const sn = await openOverlaySnapshotter(`${base}/root`);
  t.teardown(() => sn.close());
  let open!: () => void;
  const gate = new Promise<void>((resolve) => { open = resolve; });
  // Layer 0 stops after its first entry; the target of the hardlink comes only after the gate.
  const l0a = makeTar([{ name: 'data/', type: 'directory' }], { end: false });
  const l0b = makeTar([{ name: 'data/target.txt', data: 'from the lower layer' }]);
  const l1 = makeTar([{ name: 'data/', type: 'directory' }, { name: 'data/link.txt', type: 'link', linkname: 'data/target.txt' }, { name: 'after.txt', data: 'after' }]);
  let l1Read = false;
  const l1Stream = (async function* () { yield l1; l1Read = true; })();
  const { keys, mounts, applies } = await unpackConcurrently(sn, [() => gated(l0a, l0b, gate), () => l1Stream]);
  let l1Done = false;
  void applies[1]!.then(() => { l1Done = true; }, () => { l1Done = true; });
  // Layer 1 reads its whole stream, but cannot finish: its hardlink needs layer 0's file.
  while (!l1Read) await new Promise((resolve) => setImmediate(resolve));
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  t.false(l1Done);
  t.false(fs.existsSync(`${upperOf(mounts[1]!)}/after.txt`));
  // Its commit cannot come before layer 0's either.
  await t.throwsAsync(sn.commit('c1', keys[1]!), { code: 'ERR_SNAPSHOT_INVALID_STATE' });
  open();
  await Promise.all(applies);
  const up = upperOf(mounts[1]!);
  t.is(fs.readFileSync(`${up}/data/link.txt`, 'utf8'), 'from the lower layer');
  t.is(fs.statSync(`${up}/data/link.txt`).ino, fs.statSync(`${up}/data/target.txt`).ino);
  t.is(fs.readFileSync(`${up}/after.txt`, 'utf8'), 'after');
  await commitAll(sn, keys, ['c0', 'c1']);
  t.is((await sn.stat('c1')).parent, 'c0');
});

t0('a lower layer that fails fails the layer waiting for it (ERR_LAYER_APPLY_FAILED); the chain is removed children first (root, overlayfs)', async (t) => {
  const base = await tmp(t);
  const sn = await openOverlaySnapshotter(`${base}/root`);
  t.teardown(() => sn.close());
  const { keys, applies } = await unpackConcurrently(sn, [
    () => streamOf(makeTar([{ name: '../escape', data: 'x' }])),
    () => streamOf(makeTar([{ name: 'implicit/file', data: 'needs the lower layer for its parent' }])),
  ]);
  await t.throwsAsync(applies[0]!, { code: 'ERR_LAYER_PATH_ESCAPE' });
  await t.throwsAsync(applies[1]!, { code: 'ERR_LAYER_APPLY_FAILED' });
  await t.throwsAsync(sn.remove(keys[0]!), { code: 'ERR_SNAPSHOT_HAS_CHILDREN' });
  await sn.remove(keys[1]!);
  await sn.remove(keys[0]!);
  t.false(fs.existsSync(`${base}/escape`));
});

interface HostileCase { name: string; layers: (sentinel: string) => TarSpec[][]; inside?: string; code?: string }
const hostile: HostileCase[] = [
  { name: 'a symlink planted by a lower layer, written through by the next (CVE-2025-45582 shape)', layers: () => [[{ name: 'etc', type: 'symlink', linkname: '../../sentinel' }], [{ name: 'etc/new', data: 'pwned' }]], inside: 'sentinel/new' },
  { name: 'a symlink to / planted by a lower layer', layers: () => [[{ name: 'root', type: 'symlink', linkname: '/' }], [{ name: 'root/sentinel/file', data: 'pwned' }]], inside: 'sentinel/file' },
  { name: 'an absolute symlink to the sentinel in a lower layer', layers: (s) => [[{ name: 'abs', type: 'symlink', linkname: s }], [{ name: 'abs/file', data: 'pwned' }]] },
  { name: 'a hardlink through a lower layer\'s escaping symlink', layers: () => [[{ name: 's', type: 'symlink', linkname: '/../../sentinel' }], [{ name: 'hl', type: 'link', linkname: 's/file' }]], code: 'ERR_LAYER_APPLY_FAILED' },
  { name: 'whiteouts through a lower layer\'s symlink', layers: () => [[{ name: 's', type: 'symlink', linkname: '../sentinel' }], [{ name: 's/.wh.file' }, { name: 's/.wh..wh..opq' }]] },
  { name: 'three layers: a symlink, a directory over it, a write through the old name', layers: () => [[{ name: 'd', type: 'symlink', linkname: '../sentinel' }], [{ name: 'other/', type: 'directory' }], [{ name: 'd/file', data: 'pwned' }]], inside: 'sentinel/file' },
];

for (const c of hostile) {
  t0(`hostile, concurrent (root, overlayfs): ${c.name}${c.code === undefined ? ' stays inside' : ` → ${c.code}`}`, async (t: ExecutionContext) => {
    const base = await tmp(t);
    const sentinel = `${base}/sentinel`;
    fs.mkdirSync(sentinel, { mode: 0o700 });
    fs.writeFileSync(`${sentinel}/file`, 'sentinel');
    const before = JSON.stringify([...readTree(sentinel, { root: true })]);
    const sn = await openOverlaySnapshotter(`${base}/root`);
    t.teardown(() => sn.close());
    const layers = c.layers(sentinel);
    const { mounts, applies } = await unpackConcurrently(sn, layers.map((l) => () => streamOf(makeTar(l))));
    const last = applies[applies.length - 1]!;
    await Promise.all(applies.slice(0, -1));
    if (c.code !== undefined) await t.throwsAsync(last, { code: c.code });
    else await last;
    if (c.inside !== undefined && c.inside !== '') t.is(fs.readFileSync(`${upperOf(mounts[mounts.length - 1]!)}/${c.inside}`, 'utf8'), 'pwned');
    t.is(JSON.stringify([...readTree(sentinel, { root: true })]), before);
    t.is(fs.readFileSync(`${sentinel}/file`, 'utf8'), 'sentinel');
    t.deepEqual(fs.readdirSync(base).sort(), ['root', 'sentinel']);
  });
}

t0('contract (root, overlayfs): an active parent needs { activeParent }; views and the copy backend refuse it; a parent with children stays', async (t) => {
  const base = await tmp(t);
  const sn = await openOverlaySnapshotter(`${base}/overlay`);
  t.teardown(() => sn.close());
  t.true(sn.capabilities.activeParent);
  await sn.prepare('a', undefined);
  await t.throwsAsync(sn.prepare('b', 'a'), { code: 'ERR_SNAPSHOT_INVALID_STATE' });
  await t.throwsAsync(sn.view('v', 'a', { activeParent: true }), { code: 'ERR_SNAPSHOT_INVALID_STATE' });
  await sn.prepare('b', 'a', { activeParent: true });
  t.is((await sn.stat('b')).parent, 'a');
  await t.throwsAsync(sn.commit('B', 'b'), { code: 'ERR_SNAPSHOT_INVALID_STATE' });
  await t.throwsAsync(sn.remove('a'), { code: 'ERR_SNAPSHOT_HAS_CHILDREN' });
  await sn.commit('A', 'a');
  t.is((await sn.stat('b')).parent, 'A');
  await sn.commit('B', 'b');
  const info = await sn.stat('B');
  t.is(info.kind, 'committed');
  t.is(info.parent, 'A');

  const copy = await openCopySnapshotter(`${base}/copy`);
  t.teardown(() => copy.close());
  t.false(copy.capabilities.activeParent);
  await copy.prepare('a', undefined);
  await t.throwsAsync(copy.prepare('b', 'a', { activeParent: true }), { code: 'ERR_SNAPSHOTTER_UNSUPPORTED' });
});

t0('a process killed during a concurrent unpack leaves a chain the next process can inspect, remove children first, and unpack again (root, overlayfs)', async (t) => {
  const base = await tmp(t);
  const root = `${base}/root`;
  const pkg = fileURLToPath(new URL('../..', import.meta.url));
  // The child prepares a chain of three, applies layer 0 from a stream that never ends, and layers 1 and 2 beside it.
  const script = `
    import { openOverlaySnapshotter, applyLayerToMounts } from '@berth/cow-fs';
    import { makeTar } from './dist/test/helpers/tar.js';
    const sn = await openOverlaySnapshotter(${JSON.stringify(root)});
    const m0 = await sn.prepare('x-0', undefined);
    const m1 = await sn.prepare('x-1', 'x-0', { activeParent: true });
    const m2 = await sn.prepare('x-2', 'x-1', { activeParent: true });
    const a0 = applyLayerToMounts(m0, (async function* () { yield makeTar([{ name: 'a/', type: 'directory' }, { name: 'a/f', data: 'one' }], { end: false }); await new Promise(() => {}); })(), { sync: false });
    const a1 = applyLayerToMounts(m1, (async function* () { yield makeTar([{ name: 'b', data: 'two' }, { name: 'a/g', data: 'waits' }]); })(), { sync: false, lowersReady: a0 });
    const a2 = applyLayerToMounts(m2, (async function* () { yield makeTar([{ name: 'c', data: 'three' }]); })(), { sync: false, lowersReady: Promise.all([a0, a1]) });
    await a2.catch(() => {});
    // Stay alive (an unsettled top-level await alone would end the process) until killed.
    setInterval(() => {}, 1 << 30);
    process.stdout.write('ready\\n');
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: pkg, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
    child.once('exit', (code) => reject(new Error(`child exited ${code}: ${err}`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;

  const sn = await openOverlaySnapshotter(root);
  t.teardown(() => sn.close());
  const left: Array<[string, string | undefined, string]> = [];
  for await (const s of sn.walk()) left.push([s.name, s.parent, s.kind]);
  t.deepEqual(left, [['x-0', undefined, 'active'], ['x-1', 'x-0', 'active'], ['x-2', 'x-1', 'active']]);
  await t.throwsAsync(sn.commit('X2', 'x-2'), { code: 'ERR_SNAPSHOT_INVALID_STATE' });
  await t.throwsAsync(sn.remove('x-0'), { code: 'ERR_SNAPSHOT_HAS_CHILDREN' });
  for (const k of ['x-2', 'x-1', 'x-0']) await sn.remove(k);
  await sn.cleanup();
  t.deepEqual(fs.readdirSync(`${root}/snapshots`), []);
  // The same snapshotter unpacks again, concurrently.
  const { keys, applies } = await unpackConcurrently(sn, [
    () => streamOf(makeTar([{ name: 'a/', type: 'directory' }, { name: 'a/f', data: 'one' }])),
    () => streamOf(makeTar([{ name: 'a/g', data: 'two' }])),
  ], 'again');
  await Promise.all(applies);
  await commitAll(sn, keys, ['A', 'B']);
  const view = await sn.view('v', 'B');
  const tree = await withMount(base, view, (d) => readTree(d));
  t.deepEqual([...tree.keys()].sort(), ['a', 'a/f', 'a/g']);
});

t0('symlinks created on the thread pool get their owner and times, and their directory its time after them (root)', async (t) => {
  const base = await tmp(t);
  const target = `${base}/t`;
  fs.mkdirSync(target);
  const links: TarSpec[] = Array.from({ length: 40 }, (_, i) => ({ name: `bin/l${i}`, type: 'symlink', linkname: 'busybox', uid: 1000 + i, gid: 2000, mtime: 1_600_000_000 + i }));
  await applyLayer(target, streamOf(makeTar([
    { name: 'bin/', type: 'directory', mtime: 1_500_000_000 },
    { name: 'bin/busybox', data: 'x', mtime: 1_500_000_000 },
    ...links,
  ])), { sync: false });
  for (let i = 0; i < 40; i++) {
    const st = fs.lstatSync(`${target}/bin/l${i}`);
    t.true(st.isSymbolicLink());
    t.is(st.uid, 1000 + i);
    t.is(st.gid, 2000);
    t.is(st.mtimeMs, (1_600_000_000 + i) * 1000);
  }
  t.is(fs.statSync(`${target}/bin`).mtimeMs, 1_500_000_000 * 1000);
});
