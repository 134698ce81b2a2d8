/**
 * The Snapshotter conformance suite (after containerd's
 * core/snapshots/testsuite): every backend runs these same tests, as root,
 * with real mounts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import {
  applyLayerToMounts, diffMounts, mountAll, SnapshotKind, unmountAll, type Mount, type Snapshotter,
} from '@berth/cow-fs';
import * as ns from '@berth/namespaces';
import { compareTrees, readTree } from '../helpers/tree.js';
import { makeTar, streamOf } from '../helpers/tar.js';
import { isRoot, tmp } from '../helpers/temp.js';

/** Opens a backend at `root`. */
export type OpenSnapshotter = (root: string) => Promise<Snapshotter>;

let mountSeq = 0;

/** Mounts `mounts` on a fresh dir under `base`, runs `fn`, unmounts. */
export async function withMount<T>(base: string, mounts: Mount[], fn: (dir: string) => T | Promise<T>): Promise<T> {
  const dir = `${base}/m${++mountSeq}`;
  fs.mkdirSync(dir, { recursive: true });
  mountAll(mounts, dir);
  try {
    return await fn(dir);
  } finally {
    unmountAll(dir, mounts.length);
    fs.rmdirSync(dir);
  }
}

/** mtimes (ns) of every non-directory under `root`, symlinks included. */
function mtimes(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of readTree(root).keys()) {
    const st = fs.lstatSync(`${root}/${rel}`, { bigint: true });
    if (!st.isDirectory()) out[rel] = String(st.mtimeNs);
  }
  return out;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** What a backend needs to run the suite, decided at load time. */
export interface SuiteNeeds {
  /** Shown in titles, e.g. 'root, overlayfs'. */
  label: string;
  /** Whether this machine has it. */
  available: boolean;
}

/** Registers the suite for one backend. */
export function snapshotterSuite(name: string, open: OpenSnapshotter, needs: SuiteNeeds = { label: 'root', available: true }): void {
  const t0 = isRoot && needs.available ? test : test.skip;
  const setup = async (t: ExecutionContext, rootName = 'root'): Promise<{ sn: Snapshotter; root: string; base: string }> => {
    const base = await tmp(t);
    const root = `${base}/${rootName}`;
    const sn = await open(root);
    t.teardown(() => sn.close());
    return { sn, root, base };
  };

  t0(`${name} (${needs.label}): prepare, commit and stat follow key/name/parent`, async (t) => {
    const { sn } = await setup(t);
    const m = await sn.prepare('k1', undefined, { labels: { a: '1' } });
    t.true(m.length >= 1);
    let info = await sn.stat('k1');
    t.is(info.kind, SnapshotKind.Active);
    t.is(info.parent, undefined);
    t.deepEqual(info.labels, { a: '1' });
    await sn.commit('c1', 'k1');
    await t.throwsAsync(sn.stat('k1'), { code: 'ERR_SNAPSHOT_NOT_FOUND' });
    info = await sn.stat('c1');
    t.is(info.kind, SnapshotKind.Committed);
    t.deepEqual(info.labels, { a: '1' });
    await sn.prepare('k2', 'c1');
    info = await sn.stat('k2');
    t.is(info.parent, 'c1');
    await sn.view('v1', 'c1');
    t.is((await sn.stat('v1')).kind, SnapshotKind.View);
  });

  t0(`${name} (${needs.label}): layers stack through mounts; whiteouts hide lower files`, async (t) => {
    const { sn, base } = await setup(t);
    const m1 = await sn.prepare('x1', undefined);
    await applyLayerToMounts(m1, streamOf(makeTar([
      { name: 'etc/', type: 'directory' }, { name: 'etc/keep', data: 'keep' }, { name: 'etc/gone', data: 'gone' },
      { name: 'dir/', type: 'directory' }, { name: 'dir/old', data: 'old' },
    ])));
    await sn.commit('l1', 'x1');
    const m2 = await sn.prepare('x2', 'l1');
    await applyLayerToMounts(m2, streamOf(makeTar([
      { name: 'etc/.wh.gone' }, { name: 'etc/new', data: 'new' }, { name: 'dir/', type: 'directory' }, { name: 'dir/.wh..wh..opq' }, { name: 'dir/fresh', data: 'fresh' },
    ])));
    await sn.commit('l2', 'x2');
    const v = await sn.view('v2', 'l2');
    await withMount(base, v, (d) => {
      t.is(fs.readFileSync(`${d}/etc/keep`, 'utf8'), 'keep');
      t.is(fs.readFileSync(`${d}/etc/new`, 'utf8'), 'new');
      t.false(fs.existsSync(`${d}/etc/gone`));
      t.deepEqual(fs.readdirSync(`${d}/dir`), ['fresh']);
    });
  });

  t0(`${name} (${needs.label}): writes in an active snapshot do not reach its parent; views are read-only`, async (t) => {
    const { sn, base } = await setup(t);
    const m1 = await sn.prepare('a', undefined);
    await withMount(base, m1, (d) => fs.writeFileSync(`${d}/f`, 'one'));
    await sn.commit('c', 'a');
    const m2 = await sn.prepare('b', 'c');
    await withMount(base, m2, (d) => {
      t.is(fs.readFileSync(`${d}/f`, 'utf8'), 'one');
      fs.writeFileSync(`${d}/f`, 'two');
      fs.writeFileSync(`${d}/g`, 'g');
    });
    const v = await sn.view('v', 'c');
    await withMount(base, v, (d) => {
      t.is(fs.readFileSync(`${d}/f`, 'utf8'), 'one');
      t.false(fs.existsSync(`${d}/g`));
      t.throws(() => fs.writeFileSync(`${d}/h`, 'h'), { code: 'EROFS' });
    });
    await withMount(base, await sn.mounts('b'), (d) => t.is(fs.readFileSync(`${d}/f`, 'utf8'), 'two'));
  });

  t0(`${name} (${needs.label}): errors are typed`, async (t) => {
    const { sn } = await setup(t);
    await sn.prepare('a', undefined);
    await t.throwsAsync(sn.prepare('a', undefined), { code: 'ERR_SNAPSHOT_ALREADY_EXISTS' });
    await t.throwsAsync(sn.prepare('b', 'missing'), { code: 'ERR_SNAPSHOT_NOT_FOUND' });
    await t.throwsAsync(sn.prepare('b', 'a'), { code: 'ERR_SNAPSHOT_INVALID_STATE' });
    await t.throwsAsync(sn.prepare('', undefined), { code: 'ERR_SNAPSHOT_INVALID_ARGUMENT' });
    await t.throwsAsync(sn.stat('nope'), { code: 'ERR_SNAPSHOT_NOT_FOUND' });
    await t.throwsAsync(sn.mounts('nope'), { code: 'ERR_SNAPSHOT_NOT_FOUND' });
    await sn.commit('c', 'a');
    await t.throwsAsync(sn.mounts('c'), { code: 'ERR_SNAPSHOT_INVALID_STATE' });
    await t.throwsAsync(sn.commit('c', 'nope'), { code: 'ERR_SNAPSHOT_NOT_FOUND' });
    await sn.view('v', 'c');
    await t.throwsAsync(sn.commit('c2', 'v'), { code: 'ERR_SNAPSHOT_INVALID_STATE' });
    await sn.prepare('p', 'c');
    await t.throwsAsync(sn.commit('c', 'p'), { code: 'ERR_SNAPSHOT_ALREADY_EXISTS' });
    await t.throwsAsync(sn.update({ name: 'c', labels: {} }, { fieldpaths: ['parent'] }), { code: 'ERR_SNAPSHOT_INVALID_ARGUMENT' });
    await sn.close();
    await sn.close();
    await t.throwsAsync(sn.stat('c'), { code: 'ERR_SNAPSHOTTER_CLOSED' });
  });

  t0(`${name} (${needs.label}): remove refuses a parent with children, then removes in order`, async (t) => {
    const { sn, root } = await setup(t);
    await sn.prepare('a', undefined);
    await sn.commit('c', 'a');
    await sn.prepare('child', 'c');
    await sn.view('view', 'c');
    const err = await t.throwsAsync(sn.remove('c'), { code: 'ERR_SNAPSHOT_HAS_CHILDREN' });
    t.deepEqual([...((err as unknown as { details: { children: string[] } }).details.children)].sort(), ['child', 'view']);
    await sn.remove('child');
    await sn.remove('view');
    await sn.remove('c');
    t.deepEqual(await collect(sn.walk()), []);
    t.deepEqual(fs.readdirSync(`${root}/snapshots`), []);
    await t.throwsAsync(sn.remove('c'), { code: 'ERR_SNAPSHOT_NOT_FOUND' });
  });

  t0(`${name} (${needs.label}): a removed snapshot's tree is deleted in the background and gone after close`, async (t) => {
    const { sn, root, base } = await setup(t);
    const m = await sn.prepare('a', undefined);
    await withMount(base, m, (d) => {
      // Nested directories, a directory with no permissions, a fifo, links and many files.
      fs.mkdirSync(`${d}/x/y/z`, { recursive: true });
      for (let i = 0; i < 300; i++) fs.writeFileSync(`${d}/x/y/f${i}`, String(i));
      fs.writeFileSync(`${d}/x/y/z/deep`, 'deep');
      fs.mkdirSync(`${d}/locked`);
      fs.writeFileSync(`${d}/locked/f`, 'f');
      fs.chmodSync(`${d}/locked`, 0o000);
      fs.symlinkSync('/etc/passwd', `${d}/abs-link`);
      fs.symlinkSync('x', `${d}/dir-link`);
      fs.linkSync(`${d}/x/y/f1`, `${d}/hard`);
      execFileSync('mkfifo', [`${d}/fifo`]);
    });
    await sn.commit('c', 'a');
    await sn.remove('c');
    t.deepEqual(fs.readdirSync(`${root}/snapshots`), [], 'the snapshot directory left its place at once');
    await sn.close();
    t.deepEqual(fs.existsSync(`${root}/trash`) ? fs.readdirSync(`${root}/trash`) : [], [], 'close waited for the deletion');
    t.true(fs.existsSync('/etc/passwd'), 'a symlink was removed, not followed');
  });

  t0(`${name} (${needs.label}): metadata persists across a reopen`, async (t) => {
    const { sn, root, base } = await setup(t);
    const m = await sn.prepare('a', undefined, { labels: { l: 'v' } });
    await withMount(base, m, (d) => fs.writeFileSync(`${d}/f`, 'data'));
    await sn.commit('c', 'a');
    await sn.prepare('active', 'c');
    const before = await collect(sn.walk());
    await sn.close();
    const again = await open(root);
    t.teardown(() => again.close());
    t.deepEqual(await collect(again.walk()), before);
    await withMount(base, await again.mounts('active'), (d) => t.is(fs.readFileSync(`${d}/f`, 'utf8'), 'data'));
    await again.prepare('b', 'c');
    t.is((await again.stat('b')).parent, 'c');
  });

  t0(`${name} (${needs.label}): prepare with durable: false is usable at once, committed right after, and its record lands by close`, async (t) => {
    const { sn, root, base } = await setup(t);
    const onDisk = (): string[] => Object.keys((JSON.parse(fs.readFileSync(`${root}/metadata.json`, 'utf8')) as { snapshots: object }).snapshots);
    // The default waits for the record.
    await sn.prepare('durable', undefined);
    t.true(onDisk().includes('durable'));
    const m = await sn.prepare('quick', undefined, { durable: false });
    t.is((await sn.stat('quick')).kind, SnapshotKind.Active);
    await withMount(base, m, (d) => fs.writeFileSync(`${d}/f`, 'q'));
    await sn.commit('quick-c', 'quick');
    t.true(onDisk().includes('quick-c'), 'the commit is durable and carries the record');
    await sn.prepare('left', 'quick-c', { durable: false });
    await sn.close();
    t.true(onDisk().includes('left'), 'close waited for the background write');
    const again = await open(root);
    t.teardown(() => again.close());
    t.is((await again.stat('left')).parent, 'quick-c');
    await withMount(base, await again.mounts('left'), (d) => t.is(fs.readFileSync(`${d}/f`, 'utf8'), 'q'));
  });

  t0(`${name} (${needs.label}): concurrent prepares and commits keep metadata consistent across a reopen`, async (t) => {
    const { sn, root } = await setup(t);
    await sn.prepare('base-key', undefined);
    await sn.commit('base', 'base-key');
    await Promise.all(Array.from({ length: 20 }, async (_, i) => {
      await sn.prepare(`k${i}`, 'base', { labels: { i: String(i) } });
      if (i % 2 === 0) await sn.commit(`c${i}`, `k${i}`);
    }));
    const names = (await collect(sn.walk())).map((x) => x.name);
    t.is(names.length, 21);
    await sn.close();
    const again = await open(root);
    t.teardown(() => again.close());
    t.deepEqual((await collect(again.walk())).map((x) => x.name), names);
    t.is((await again.stat('c4')).labels.i, '4');
  });

  t0(`${name} (${needs.label}): walk filters by kind, parent, labels and name`, async (t) => {
    const { sn } = await setup(t);
    await sn.prepare('a', undefined, { labels: { team: 'x' } });
    await sn.commit('base', 'a');
    await sn.prepare('c1', 'base', { labels: { team: 'x', role: 'ctr' } });
    await sn.prepare('c2', 'base', { labels: { team: 'y' } });
    await sn.view('v', 'base');
    const names = async (f?: Parameters<Snapshotter['walk']>[0]) => (await collect(sn.walk(f))).map((i) => i.name);
    t.deepEqual(await names(), ['base', 'c1', 'c2', 'v']);
    t.deepEqual(await names({ filters: [{ kind: SnapshotKind.Active }] }), ['c1', 'c2']);
    t.deepEqual(await names({ filters: [{ parent: 'base', labels: { team: 'x' } }] }), ['c1']);
    t.deepEqual(await names({ filters: [{ labels: { role: '*' } }] }), ['c1']);
    t.deepEqual(await names({ filters: [{ namePrefix: 'c' }] }), ['c1', 'c2']);
    t.deepEqual(await names({ filters: [{ kind: SnapshotKind.View }, { parent: 'nothing' }] }), []);
  });

  t0(`${name} (${needs.label}): update replaces labels or sets single field paths`, async (t) => {
    const { sn } = await setup(t);
    await sn.prepare('a', undefined, { labels: { x: '1', y: '2' } });
    let i = await sn.update({ name: 'a', labels: { z: '3' } });
    t.deepEqual(i.labels, { z: '3' });
    i = await sn.update({ name: 'a', labels: { w: '4' } }, { fieldpaths: ['labels.w', 'labels.z'] });
    t.deepEqual(i.labels, { w: '4' });
    t.deepEqual((await sn.stat('a')).labels, { w: '4' });
    t.true(i.updated.getTime() >= i.created.getTime());
  });

  t0(`${name} (${needs.label}): usage reports bytes and inodes of the snapshot's own data`, async (t) => {
    const { sn, base } = await setup(t);
    const m = await sn.prepare('a', undefined);
    await withMount(base, m, (d) => {
      fs.writeFileSync(`${d}/big`, Buffer.alloc(1 << 20, 1));
      fs.mkdirSync(`${d}/dir`);
      for (let i = 0; i < 10; i++) fs.writeFileSync(`${d}/dir/f${i}`, 'x');
      fs.linkSync(`${d}/big`, `${d}/big-link`);
    });
    const u = await sn.usage('a');
    t.true(u.size >= 1 << 20 && u.size < 1.5 * (1 << 20) + 64 * 1024, `size ${u.size}`);
    t.is(u.inodes, 1 + 1 + 1 + 10);
    await sn.commit('c', 'a');
    t.deepEqual(await sn.usage('c'), u);
    await sn.prepare('b', 'c');
    const child = await sn.usage('b');
    t.true(child.inodes >= 1);
  });

  t0(`${name} (${needs.label}): 130 layers stack and mount (mount data stays within one page)`, async (t) => {
    // A long root path makes the plain lowerdir list far longer than a page.
    const { sn, base } = await setup(t, 'a-rather-long-snapshotter-root-directory-name-to-overflow-the-mount-page');
    t.teardown(() => {
      // Drop short aliases a backend made for this root (the overlay backend's /run/bovl links).
      for (const dir of ['/run/bovl']) {
        for (const n of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
          try { if (fs.readlinkSync(`${dir}/${n}`).startsWith(base + '/')) fs.rmSync(`${dir}/${n}`); } catch { /* not ours */ }
        }
      }
    });
    let parent: string | undefined;
    for (let i = 0; i < 130; i++) {
      const m = await sn.prepare(`x${i}`, parent);
      await applyLayerToMounts(m, streamOf(makeTar([{ name: `f${i}`, data: String(i) }])), { sync: false });
      await sn.commit(`l${i}`, `x${i}`);
      parent = `l${i}`;
    }
    const top = await sn.prepare('top', parent);
    for (const m of top) t.true(m.options.join(',').length <= 4095);
    t.log(`mount options: ${top.map((m) => m.options.join(',').length).join(', ')} bytes`);
    await withMount(base, top, (d) => {
      t.is(fs.readFileSync(`${d}/f0`, 'utf8'), '0');
      t.is(fs.readFileSync(`${d}/f129`, 'utf8'), '129');
      t.is(fs.readdirSync(d).length, 130);
      fs.writeFileSync(`${d}/mine`, 'w');
    });
  });

  t0(`${name} (${needs.label}): cleanup removes orphaned directories and stale mounts`, async (t) => {
    const { sn, root } = await setup(t);
    await sn.prepare('a', undefined);
    fs.mkdirSync(`${root}/snapshots/9999/fs`, { recursive: true });
    fs.mkdirSync(`${root}/stale`);
    ns.mount('tmpfs', `${root}/stale`, 'tmpfs', {});
    await sn.cleanup();
    t.false(fs.existsSync(`${root}/snapshots/9999`));
    t.false(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(`${root}/stale`));
    t.is((await sn.stat('a')).kind, SnapshotKind.Active);
    await sn.mounts('a');
  });

  t0(`${name} (${needs.label}): a child starts as an exact copy of its parent (devices, fifos, hardlinks, xattrs, owners, times)`, async (t) => {
    const { sn, base } = await setup(t);
    const m = await sn.prepare('a', undefined);
    await applyLayerToMounts(m, streamOf(makeTar([
      { name: 'dev/', type: 'directory', mode: 0o755 }, { name: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
      { name: 'dev/loop0', type: 'block', mode: 0o660, devmajor: 7, devminor: 0, gid: 6 }, { name: 'fifo', type: 'fifo', mode: 0o620 },
      { name: 'bin/', type: 'directory', mode: 0o755 }, { name: 'bin/su', data: 'su', mode: 0o4755, uid: 0, gid: 0, xattrs: { 'security.capability': Buffer.from('0100000200040000000000000000000000000000', 'hex') } },
      { name: 'bin/su-link', type: 'link', linkname: 'bin/su' }, { name: 'home/', type: 'directory', mode: 0o1777 },
      { name: 'home/u', data: 'u', uid: 1000, gid: 1000, mode: 0o640, xattrs: { 'user.x': Buffer.from('y'), 'trusted.t': Buffer.from([0, 1]) } },
      { name: 'home/link', type: 'symlink', linkname: '/home/u', uid: 1000, gid: 1000, mtime: 1_500_000_000 },
    ])));
    await sn.commit('c', 'a');
    const parentTree = await withMount(base, await sn.view('pv', 'c'), (d) => ({ tree: readTree(d), mtimes: mtimes(d) }));
    await withMount(base, await sn.prepare('child', 'c'), (d) => {
      t.deepEqual(compareTrees(parentTree.tree, readTree(d)), []);
      t.deepEqual(mtimes(d), parentTree.mtimes);
      t.is(fs.statSync(`${d}/bin/su`).ino, fs.statSync(`${d}/bin/su-link`).ino);
    });
  });

  t0(`${name} (${needs.label}): diff of an active snapshot against its parent round-trips`, async (t) => {
    const { sn, base } = await setup(t);
    const m = await sn.prepare('a', undefined);
    await applyLayerToMounts(m, streamOf(makeTar([
      { name: 'keep', data: 'k' }, { name: 'modify', data: 'before' }, { name: 'remove', data: 'r' },
      { name: 'd/', type: 'directory' }, { name: 'd/x', data: 'x' }, { name: 'd/sub/', type: 'directory' }, { name: 'd/sub/y', data: 'y' },
      { name: 'chmod', data: 'c', mode: 0o600 }, { name: 'link', type: 'symlink', linkname: 'keep' },
    ])));
    await sn.commit('c', 'a');
    const work = await sn.prepare('w', 'c');
    await withMount(base, work, (d) => {
      fs.writeFileSync(`${d}/modify`, 'after, longer');
      fs.rmSync(`${d}/remove`);
      fs.rmSync(`${d}/d`, { recursive: true });
      fs.mkdirSync(`${d}/d`);
      fs.writeFileSync(`${d}/d/new`, 'n');
      fs.chmodSync(`${d}/chmod`, 0o4755);
      fs.rmSync(`${d}/link`);
      fs.symlinkSync('modify', `${d}/link`);
      fs.writeFileSync(`${d}/added`, 'a');
      fs.linkSync(`${d}/added`, `${d}/added-hardlink`);
      ns.lsetxattr(`${d}/keep`, 'user.note', Buffer.from('v'));
    });
    const parentView = await sn.view('pv', 'c');
    const layer = diffMounts(parentView, await sn.mounts('w'), { compression: 'gzip' });
    const chunks: Buffer[] = [];
    for await (const c of layer) chunks.push(c as Buffer);
    const r = await layer.result;
    t.regex(r.diffId, /^sha256:[0-9a-f]{64}$/);
    const fresh = await sn.prepare('f', 'c');
    const applied = await applyLayerToMounts(fresh, streamOf(Buffer.concat(chunks)));
    t.is(applied.diffId, r.diffId);
    const expected = await withMount(base, await sn.mounts('w'), (d) => readTree(d));
    const got = await withMount(base, await sn.mounts('f'), (d) => readTree(d));
    t.deepEqual(compareTrees(expected, got), []);
    t.deepEqual([...got.keys()].filter((k) => k.startsWith('d/')), ['d/new']);
  });
}
