import test from 'ava';
import type { ExecutionContext } from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  fdPath, flock, flockExclusive, flockPolled, fsyncDir, removeTree, removeTreeSync, fsyncPath, lchown, lgetxattr, llistxattr, lremovexattr, lsetxattr, makedev, mkdirInRoot, mknod,
  mount, mountAll, mountOverlay, openInRoot, parseMountOptions, renameat2, resolveInRoot, syncfs, umount, utimensat,
  MOUNT_DATA_MAX, SystemCallError,
} from '@berth/namespaces';
import type { Resolver } from '@berth/namespaces';

const isRoot = process.getuid?.() === 0;
/** These tests make real mounts, device nodes and trusted.* xattrs: they need root. */
const rootTest = isRoot ? test.serial : test.skip;

function tempDir(t: ExecutionContext): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-fs-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A fresh tmpfs on a temp dir, unmounted (lazily) when the test ends. */
function tmpfsDir(t: ExecutionContext): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-tmpfs-'));
  mount('tmpfs', d, 'tmpfs', { nosuid: true, nodev: true }, 'mode=755,size=16m');
  t.teardown(() => {
    try { umount(d, { detach: true }); } catch { /* already gone */ }
    fs.rmSync(d, { recursive: true, force: true });
  });
  return d;
}

function mountInfoLine(target: string): string | undefined {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').reverse().find((l) => l.split(' ')[4] === target);
}

function assertSys(t: ExecutionContext, e: unknown, errnoCode: string, syscall: string, p?: string): void {
  t.true(e instanceof SystemCallError, String(e));
  const s = e as SystemCallError;
  t.is(s.code, 'ERR_NS_SYSCALL');
  t.is(s.errnoCode, errnoCode);
  t.is(s.errno, (os.constants.errno as Record<string, number>)[errnoCode]);
  t.is(s.syscall, syscall);
  if (p !== undefined) t.is(s.path, p);
}

// --- mount ------------------------------------------------------------------

test('parseMountOptions splits flags, propagation and data like runc', (t) => {
  const p = parseMountOptions(['rbind', 'ro', 'nosuid', 'rprivate', 'mode=755', 'slave', 'lowerdir=/a:/b', 'index=off', 'userxattr']);
  t.deepEqual(p.flags, { bind: true, rec: true, readonly: true, nosuid: true });
  t.deepEqual(p.propagation, ['rprivate', 'slave']);
  t.is(p.data, 'mode=755,lowerdir=/a:/b,index=off,userxattr');
  const q = parseMountOptions(['ro', 'rw', 'noexec', 'exec', 'dev', 'relatime', 'defaults']);
  t.deepEqual(q.flags, { relatime: true });
  t.deepEqual(q.cleared, { readonly: true, noexec: true, nodev: true });
});

test('makedev uses the glibc encoding that fs.Stats.rdev uses', (t) => {
  t.is(makedev(1, 3), 0x103);
  t.is(makedev(0, 0), 0);
  t.is(makedev(259, 65536), 0x10010300); // (65536 << 12) | (259 << 8)
  t.throws(() => makedev(-1, 0), { code: 'ERR_NS_INVALID_ARGUMENT' });
});

rootTest('as root: mount tmpfs with flags and data, then umount; errors carry errno, syscall and path', (t) => {
  const d = tempDir(t);
  mount('tmpfs', d, 'tmpfs', { nosuid: true, nodev: true, noexec: true }, 'mode=700,size=1m');
  const line = mountInfoLine(d);
  t.truthy(line);
  t.regex(line!, /\brw,nosuid,nodev,noexec\b/);
  t.regex(line!, /- tmpfs tmpfs .*size=1024k,mode=700/);
  mount(null, d, null, { remount: true, readonly: true, nosuid: true, nodev: true, noexec: true });
  t.regex(mountInfoLine(d)!, /\bro,nosuid/);
  umount(d);
  t.is(mountInfoLine(d), undefined);
  assertSys(t, t.throws(() => umount(d)), 'EINVAL', 'umount2', d);
  assertSys(t, t.throws(() => mount('tmpfs', path.join(d, 'missing'), 'tmpfs', {})), 'ENOENT', 'mount', path.join(d, 'missing'));
  t.throws(() => mount('tmpfs', d, 'tmpfs', { nosuchflag: true } as never), { code: 'ERR_NS_INVALID_ARGUMENT' });
});

rootTest('as root: a read-only bind really is read-only and propagation is applied after it', (t) => {
  const src = tempDir(t);
  const dst = tempDir(t);
  fs.writeFileSync(path.join(src, 'f'), 'x');
  mount(src, dst, null, { bind: true, readonly: true, private: true });
  t.teardown(() => umount(dst, { detach: true }));
  t.is(fs.readFileSync(path.join(dst, 'f'), 'utf8'), 'x');
  t.throws(() => fs.writeFileSync(path.join(dst, 'f'), 'y'), { code: 'EROFS' });
  const line = mountInfoLine(dst)!;
  t.regex(line, /\bro\b/);
  t.notRegex(line, /shared:/); // private: no peer group
});

rootTest('as root: mount(2) data over one page is refused with ERR_NS_MOUNT_DATA_TOO_LONG before the syscall', (t) => {
  const d = tempDir(t);
  const lower = Array.from({ length: 400 }, (_, i) => `/var/lib/berth/snapshots/${i}/fs`).join(':');
  const e = t.throws(() => mount('overlay', d, 'overlay', {}, `lowerdir=${lower},upperdir=/u,workdir=/w`));
  t.is((e as { code?: string }).code, 'ERR_NS_MOUNT_DATA_TOO_LONG');
  t.is((e as unknown as { limit: number }).limit, MOUNT_DATA_MAX);
  t.true((e as unknown as { length: number }).length > MOUNT_DATA_MAX);
  t.is(mountInfoLine(d), undefined);
});

rootTest('as root: an overlay of 80 long-named layers (data over one page) mounts layer by layer through mountAll', (t) => {
  const base = tmpfsDir(t);
  const long = 'l'.repeat(60);
  const layers = Array.from({ length: 80 }, (_, i) => path.join(base, `${long}-${String(i).padStart(3, '0')}`));
  for (const [i, l] of layers.entries()) {
    fs.mkdirSync(l);
    fs.writeFileSync(path.join(l, `only-${i}`), String(i));
    fs.writeFileSync(path.join(l, 'shared'), String(i));
  }
  const [upper, work, merged] = ['u', 'w', 'm'].map((n) => path.join(base, n));
  for (const d of [upper, work, merged]) fs.mkdirSync(d);
  const options = [`lowerdir=${layers.join(':')}`, `upperdir=${upper}`, `workdir=${work}`, 'index=off'];
  t.true(Buffer.byteLength(options.join(',')) > MOUNT_DATA_MAX);
  mountAll([{ type: 'overlay', source: 'overlay', options: [...options, 'nodev'] }], merged);
  t.teardown(() => { try { umount(merged); } catch { umount(merged, { detach: true }); } });
  t.is(fs.readFileSync(path.join(merged, 'shared'), 'utf8'), '0', 'the first lowerdir is the top layer');
  t.is(fs.readFileSync(path.join(merged, 'only-79'), 'utf8'), '79');
  t.is(fs.readdirSync(merged).length, 81);
  fs.writeFileSync(path.join(merged, 'new'), 'x');
  t.is(fs.readFileSync(path.join(upper, 'new'), 'utf8'), 'x');
  t.regex(mountInfoLine(merged)!, /\bnodev\b/);
  // Errors from the kernel's fs context come back typed.
  const missing = path.join(base, 'missing');
  const e = t.throws(() => mountOverlay(merged, { lower: [missing] })) as SystemCallError;
  t.is(e.code, 'ERR_NS_SYSCALL');
  t.is(e.syscall, 'fsconfig');
  t.is(e.errnoCode, 'ENOENT');
});

rootTest('as root: overlay via mountAll; a char 0/0 whiteout hides a lower file, an opaque dir hides lower contents', (t) => {
  const base = tmpfsDir(t);
  const [lower1, lower2, upper, work, merged] = ['l1', 'l2', 'u', 'w', 'm'].map((n) => path.join(base, n));
  for (const d of [lower1, lower2, upper, work, merged]) fs.mkdirSync(d);
  fs.writeFileSync(path.join(lower1, 'gone.txt'), 'lower');
  fs.writeFileSync(path.join(lower2, 'kept.txt'), 'lower2');
  fs.mkdirSync(path.join(lower1, 'dir'));
  fs.writeFileSync(path.join(lower1, 'dir', 'old.txt'), 'old');
  mknod(path.join(upper, 'gone.txt'), { type: 'char', mode: 0o000, major: 0, minor: 0 });
  fs.mkdirSync(path.join(upper, 'dir'));
  fs.writeFileSync(path.join(upper, 'dir', 'new.txt'), 'new');
  lsetxattr(path.join(upper, 'dir'), 'trusted.overlay.opaque', Buffer.from('y'));
  t.deepEqual(lgetxattr(path.join(upper, 'dir'), 'trusted.overlay.opaque'), Buffer.from('y'));
  const st = fs.statSync(path.join(upper, 'gone.txt'));
  t.true(st.isCharacterDevice());
  t.is(st.rdev, makedev(0, 0));

  mountAll([{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lower1}:${lower2}`, `upperdir=${upper}`, `workdir=${work}`, 'index=off', 'nosuid'] }], merged);
  t.teardown(() => { try { umount(merged); } catch { umount(merged, { detach: true }); } });
  t.regex(mountInfoLine(merged)!, /- overlay overlay .*lowerdir=/);
  t.false(fs.existsSync(path.join(merged, 'gone.txt')));
  t.is(fs.readFileSync(path.join(merged, 'kept.txt'), 'utf8'), 'lower2');
  t.deepEqual(fs.readdirSync(path.join(merged, 'dir')), ['new.txt']);
  // Deleting through the overlay makes a whiteout in upper.
  fs.rmSync(path.join(merged, 'kept.txt'));
  t.is(fs.statSync(path.join(upper, 'kept.txt')).rdev, makedev(0, 0));
});

rootTest('as root: mountAll makes a bind with type "bind" at a target resolved inside the root', (t) => {
  const src = tempDir(t);
  const root = tempDir(t);
  fs.writeFileSync(path.join(src, 'hello'), 'hi');
  fs.mkdirSync(path.join(root, 'real'));
  fs.symlinkSync('/real', path.join(root, 'via-abs-link'));
  mountAll([{ type: 'bind', source: src, target: 'via-abs-link', options: ['rbind', 'ro', 'rprivate'] }], root);
  t.teardown(() => umount(path.join(root, 'real'), { detach: true }));
  t.is(fs.readFileSync(path.join(root, 'real', 'hello'), 'utf8'), 'hi');
  t.throws(() => fs.writeFileSync(path.join(root, 'real', 'x'), ''), { code: 'EROFS' });
});

// --- mknod, xattrs, owners, times -------------------------------------------

rootTest('as root: mknod makes char, block, fifo, socket and file nodes; EEXIST carries the path', (t) => {
  const d = tmpfsDir(t);
  mknod(path.join(d, 'null'), { type: 'char', mode: 0o666, major: 1, minor: 3 });
  mknod(path.join(d, 'loop'), { type: 'block', mode: 0o600, major: 7, minor: 200 });
  mknod(path.join(d, 'fifo'), { type: 'fifo', mode: 0o644 });
  mknod(path.join(d, 'sock'), { type: 'socket', mode: 0o644 });
  mknod(path.join(d, 'file'), { type: 'file', mode: 0o640 });
  const nul = fs.statSync(path.join(d, 'null'));
  t.true(nul.isCharacterDevice());
  t.is(nul.rdev, makedev(1, 3));
  t.is(nul.mode & 0o777, 0o666 & ~process.umask());
  t.is(fs.statSync(path.join(d, 'loop')).rdev, makedev(7, 200));
  t.true(fs.statSync(path.join(d, 'loop')).isBlockDevice());
  t.true(fs.statSync(path.join(d, 'fifo')).isFIFO());
  t.true(fs.statSync(path.join(d, 'sock')).isSocket());
  t.true(fs.statSync(path.join(d, 'file')).isFile());
  assertSys(t, t.throws(() => mknod(path.join(d, 'null'), { type: 'char', mode: 0o666, major: 1, minor: 3 })), 'EEXIST', 'mknod', path.join(d, 'null'));
  t.throws(() => mknod(path.join(d, 'x'), { type: 'door' as never, mode: 0 }), { code: 'ERR_NS_INVALID_ARGUMENT' });
});

rootTest('as root: l*xattr set, get, list, remove; create/replace; trusted.overlay.* and security.capability', (t) => {
  const d = tempDir(t);
  const f = path.join(d, 'f');
  fs.writeFileSync(f, '');
  t.is(lgetxattr(f, 'user.none'), undefined);
  lsetxattr(f, 'user.a', Buffer.from('one'));
  lsetxattr(f, 'user.bin', Buffer.from([0, 1, 2, 255]));
  lsetxattr(f, 'trusted.overlay.opaque', Buffer.from('y'));
  // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE, permitted = CAP_NET_BIND_SERVICE (bit 10).
  const cap = Buffer.alloc(20);
  cap.writeUInt32LE(0x02000001, 0);
  cap.writeUInt32LE(1 << 10, 4);
  lsetxattr(f, 'security.capability', cap);
  t.deepEqual(lgetxattr(f, 'user.a'), Buffer.from('one'));
  t.deepEqual(lgetxattr(f, 'user.bin'), Buffer.from([0, 1, 2, 255]));
  t.deepEqual(lgetxattr(f, 'security.capability'), cap);
  t.deepEqual(llistxattr(f).sort(), ['security.capability', 'trusted.overlay.opaque', 'user.a', 'user.bin']);
  assertSys(t, t.throws(() => lsetxattr(f, 'user.a', Buffer.from('two'), { create: true })), 'EEXIST', 'lsetxattr', f);
  assertSys(t, t.throws(() => lsetxattr(f, 'user.b', Buffer.from('two'), { replace: true })), 'ENODATA', 'lsetxattr', f);
  lsetxattr(f, 'user.a', Buffer.from('two'), { replace: true });
  t.deepEqual(lgetxattr(f, 'user.a'), Buffer.from('two'));
  lremovexattr(f, 'user.a');
  t.is(lgetxattr(f, 'user.a'), undefined);
  assertSys(t, t.throws(() => lremovexattr(f, 'user.a')), 'ENODATA', 'lremovexattr', f);
  // The l* calls act on a symlink itself: trusted.* is allowed there, user.* is not.
  const link = path.join(d, 'link');
  fs.symlinkSync('f', link);
  lsetxattr(link, 'trusted.overlay.redirect', Buffer.from('/x'));
  t.deepEqual(llistxattr(link), ['trusted.overlay.redirect']);
  t.is(lgetxattr(f, 'trusted.overlay.redirect'), undefined);
  assertSys(t, t.throws(() => lsetxattr(link, 'user.a', Buffer.from('x'))), 'EPERM', 'lsetxattr', link);
  assertSys(t, t.throws(() => llistxattr(path.join(d, 'missing'))), 'ENOENT', 'llistxattr', path.join(d, 'missing'));
});

rootTest('as root: lchown changes a symlink, not its target', (t) => {
  const d = tempDir(t);
  const f = path.join(d, 'f');
  const link = path.join(d, 'link');
  fs.writeFileSync(f, '');
  fs.symlinkSync('f', link);
  lchown(link, 1234, 5678);
  t.like(fs.lstatSync(link), { uid: 1234, gid: 5678 });
  t.like(fs.statSync(f), { uid: 0, gid: 0 });
  lchown(f, 42, -1);
  t.like(fs.statSync(f), { uid: 42, gid: 0 });
  assertSys(t, t.throws(() => lchown(path.join(d, 'missing'), 0, 0)), 'ENOENT', 'lchown', path.join(d, 'missing'));
});

rootTest('as root: utimensat sets nanosecond times on a symlink itself with nofollow; omit keeps a time', (t) => {
  const d = tempDir(t);
  const f = path.join(d, 'f');
  const link = path.join(d, 'link');
  fs.writeFileSync(f, '');
  fs.symlinkSync('f', link);
  const before = fs.statSync(f, { bigint: true });
  utimensat(link, { sec: 1_000_000_000, nsec: 123_456_789 }, { sec: 1_500_000_000n, nsec: 987_654_321 }, { nofollow: true });
  const l = fs.lstatSync(link, { bigint: true });
  t.is(l.atimeNs, 1_000_000_000_123_456_789n);
  t.is(l.mtimeNs, 1_500_000_000_987_654_321n);
  t.is(fs.statSync(f, { bigint: true }).mtimeNs, before.mtimeNs);
  utimensat(link, 'omit', { sec: 7, nsec: 1 }, { nofollow: true });
  t.is(fs.lstatSync(link, { bigint: true }).atimeNs, 1_000_000_000_123_456_789n);
  t.is(fs.lstatSync(link, { bigint: true }).mtimeNs, 7_000_000_001n);
  // Without nofollow the target changes.
  utimensat(link, 'now', { sec: 9, nsec: 0 });
  t.is(fs.statSync(f, { bigint: true }).mtimeNs, 9_000_000_000n);
  t.throws(() => utimensat(f, 'now', { sec: 1, nsec: 1e9 }), { code: 'ERR_NS_INVALID_ARGUMENT' });
  assertSys(t, t.throws(() => utimensat(path.join(d, 'missing'), 'now', 'now')), 'ENOENT', 'utimensat', path.join(d, 'missing'));
});

rootTest('as root: renameat2 noReplace refuses, exchange swaps atomically, whiteout leaves char 0/0', (t) => {
  const d = tempDir(t);
  const a = path.join(d, 'a');
  const b = path.join(d, 'b');
  fs.writeFileSync(a, 'A');
  fs.writeFileSync(b, 'B');
  assertSys(t, t.throws(() => renameat2(a, b, { noReplace: true })), 'EEXIST', 'renameat2', a);
  renameat2(a, b, { exchange: true });
  t.is(fs.readFileSync(a, 'utf8'), 'B');
  t.is(fs.readFileSync(b, 'utf8'), 'A');
  assertSys(t, t.throws(() => renameat2(a, path.join(d, 'none'), { exchange: true })), 'ENOENT', 'renameat2', a);
  renameat2(a, path.join(d, 'c'), { noReplace: true });
  t.is(fs.readFileSync(path.join(d, 'c'), 'utf8'), 'B');
  t.false(fs.existsSync(a));
  renameat2(b, path.join(d, 'e'), { whiteout: true });
  const w = fs.lstatSync(b);
  t.true(w.isCharacterDevice());
  t.is(w.rdev, 0);
});

rootTest('as root: syncfs, fsyncPath and fsyncDir; a missing path fails in open', (t) => {
  const d = tempDir(t);
  fs.writeFileSync(path.join(d, 'f'), 'data');
  syncfs(d);
  fsyncPath(path.join(d, 'f'));
  fsyncDir(d);
  assertSys(t, t.throws(() => syncfs(path.join(d, 'missing'))), 'ENOENT', 'open', path.join(d, 'missing'));
  assertSys(t, t.throws(() => fsyncDir(path.join(d, 'f'))), 'ENOTDIR', 'open', path.join(d, 'f'));
});

// --- resolve inside a root ----------------------------------------------------

/** A root with the classic escape attempts, and a decoy "outside" file. */
function escapeTree(t: ExecutionContext): { root: string; outside: string } {
  const top = tempDir(t);
  const root = path.join(top, 'root');
  const outside = path.join(top, 'secret');
  fs.writeFileSync(outside, 'host secret');
  fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(root, 'etc', 'passwd'), 'inside');
  fs.writeFileSync(path.join(root, 'secret'), 'inside secret');
  fs.symlinkSync('/etc/passwd', path.join(root, 'abs-link'));
  fs.symlinkSync('../../../../secret', path.join(root, 'up-link'));
  fs.symlinkSync(outside, path.join(root, 'abs-outside'));
  fs.symlinkSync('/etc', path.join(root, 'etc-dir-link'));
  fs.symlinkSync('..', path.join(root, 'dotdot'));
  fs.symlinkSync('/proc/self/root/etc/passwd', path.join(root, 'magic'));
  fs.symlinkSync('l2', path.join(root, 'l1'));
  fs.symlinkSync('l1', path.join(root, 'l2'));
  return { root, outside };
}

const readVia = (root: string, rel: string, resolver: Resolver): string => {
  const fd = openInRoot(root, rel, { resolver });
  try {
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
};

for (const resolver of ['openat2', 'walk'] as const) {
  test(`openInRoot (${resolver}): .., absolute symlinks and symlinked parents resolve inside the root`, (t) => {
    const { root } = escapeTree(t);
    t.is(readVia(root, '../../../etc/passwd', resolver), 'inside');
    t.is(readVia(root, '/etc/passwd', resolver), 'inside');
    t.is(readVia(root, 'abs-link', resolver), 'inside');
    t.is(readVia(root, 'up-link', resolver), 'inside secret');
    // A link to the host path of a host file names <root><that path>, which does not exist.
    assertSys(t, t.throws(() => readVia(root, 'abs-outside', resolver)), 'ENOENT', resolver === 'walk' ? 'openat' : 'openat2');
    t.is(readVia(root, 'etc-dir-link/passwd', resolver), 'inside');
    t.is(readVia(root, 'dotdot/dotdot/secret', resolver), 'inside secret');
    t.is(resolveInRoot(root, 'etc-dir-link/../etc/./passwd', { resolver }), path.join(root, 'etc', 'passwd'));
    t.is(resolveInRoot(root, 'dotdot', { resolver }), root);
    assertSys(t, t.throws(() => openInRoot(root, 'l1', { resolver })), 'ELOOP', resolver === 'walk' ? 'openat' : 'openat2', path.join(root, 'l1'));
    assertSys(t, t.throws(() => openInRoot(root, 'missing/x', { resolver })), 'ENOENT', resolver === 'walk' ? 'openat' : 'openat2');
  });

  test(`openInRoot (${resolver}): creating through a symlinked parent lands inside the root`, (t) => {
    const { root, outside } = escapeTree(t);
    const fd = openInRoot(root, 'etc-dir-link/new-file', { resolver, flags: { access: 'w', create: true, exclusive: true }, mode: 0o600 });
    fs.writeSync(fd, 'created');
    t.is(fdPath(fd), path.join(root, 'etc', 'new-file'));
    fs.closeSync(fd);
    t.is(fs.readFileSync(path.join(root, 'etc', 'new-file'), 'utf8'), 'created');
    t.is(fs.statSync(path.join(root, 'etc', 'new-file')).mode & 0o777, 0o600 & ~process.umask());
    assertSys(t, t.throws(() => openInRoot(root, 'etc/new-file', { resolver, flags: { access: 'w', create: true, exclusive: true } })), 'EEXIST', resolver === 'walk' ? 'openat' : 'openat2');
    // Writing through a link that climbs out towards the host file writes the root's copy.
    const w = openInRoot(root, 'up-link', { resolver, flags: fs.constants.O_WRONLY | fs.constants.O_TRUNC });
    fs.writeSync(w, 'still inside');
    fs.closeSync(w);
    t.is(fs.readFileSync(outside, 'utf8'), 'host secret');
    t.is(fs.readFileSync(path.join(root, 'secret'), 'utf8'), 'still inside');
  });

  test(`openInRoot (${resolver}): beneath fails with EXDEV, noSymlinks with ELOOP, nofollow+path opens the link`, (t) => {
    const { root } = escapeTree(t);
    assertSys(t, t.throws(() => openInRoot(root, '../etc/passwd', { resolver, beneath: true })), 'EXDEV', resolver === 'walk' ? 'openat' : 'openat2');
    assertSys(t, t.throws(() => openInRoot(root, 'abs-link', { resolver, beneath: true })), 'EXDEV', resolver === 'walk' ? 'openat' : 'openat2');
    t.is(readVia(root, 'etc/../etc/passwd', resolver), 'inside'); // .. that stays beneath is fine
    const fd = openInRoot(root, 'etc/passwd', { resolver, beneath: true });
    fs.closeSync(fd);
    assertSys(t, t.throws(() => openInRoot(root, 'etc-dir-link/passwd', { resolver, noSymlinks: true })), 'ELOOP', resolver === 'walk' ? 'openat' : 'openat2');
    const lfd = openInRoot(root, 'abs-link', { resolver, flags: { path: true, nofollow: true } });
    t.true(fs.fstatSync(lfd).isSymbolicLink());
    t.is(fdPath(lfd), path.join(root, 'abs-link'));
    fs.closeSync(lfd);
  });

  test(`mkdirInRoot (${resolver}): creates missing parents inside the root, through symlinks`, (t) => {
    const { root } = escapeTree(t);
    mkdirInRoot(root, 'etc-dir-link/a/b/c', 0o750, { resolver });
    t.true(fs.statSync(path.join(root, 'etc', 'a', 'b', 'c')).isDirectory());
    t.false(fs.existsSync('/etc/a/b/c'));
    mkdirInRoot(root, '../../x/y', 0o755, { resolver });
    t.true(fs.statSync(path.join(root, 'x', 'y')).isDirectory());
    mkdirInRoot(root, 'x/y', 0o755, { resolver }); // idempotent
    assertSys(t, t.throws(() => mkdirInRoot(root, 'etc/passwd/sub', 0o755, { resolver })), 'ENOTDIR', resolver === 'walk' ? 'openat' : 'openat2');
  });
}

test('openInRoot (openat2): magic links are refused with ELOOP', (t) => {
  const { root } = escapeTree(t);
  assertSys(t, t.throws(() => openInRoot(root, 'magic', { resolver: 'openat2' })), 'ENOENT', 'openat2');
  // /proc inside the root does not exist, so the magic link is merely dangling; with /proc bound in,
  // RESOLVE_NO_MAGICLINKS would refuse it. Opening a real magic link path directly is refused:
  const fd = fs.openSync(root, 'r');
  try {
    assertSys(t, t.throws(() => openInRoot('/proc/self/fd', String(fd), { resolver: 'openat2' })), 'ELOOP', 'openat2');
  } finally {
    fs.closeSync(fd);
  }
});

test('flock: two opens of one file conflict; shared locks coexist; unlock and close release; a dead holder holds nothing', async (t) => {
  const file = path.join(tempDir(t), 'lock');
  const a = fs.openSync(file, 'a+');
  const b = fs.openSync(file, 'a+');
  // Only what is still open is closed at the end: a closed number may belong to another test by then (tests run at
  // once), and closing it again would close that test's descriptor.
  const open = new Set([a, b]);
  const close = (fd: number) => { open.delete(fd); fs.closeSync(fd); };
  t.teardown(() => { for (const fd of open) fs.closeSync(fd); });
  t.true(flock(a, 'exclusive'));
  t.false(flock(b, 'exclusive'));
  t.false(flock(b, 'shared'));
  t.true(flock(a, 'unlock'));
  t.true(flock(a, 'shared'));
  t.true(flock(b, 'shared'));
  t.false(flock(b, 'exclusive'), 'a shared holder blocks an exclusive one');
  close(a);
  t.true(flock(b, 'exclusive'), 'closing the last descriptor drops the lock');
  t.true(flock(b, 'unlock'));
  // A child process takes it and is killed: the kernel releases it.
  const { spawn } = await import('node:child_process');
  // bash opens the file as fd 9, flock(1) locks that description, and exec leaves sleep as its only holder.
  const child = spawn('bash', ['-c', 'exec 9>>"$0"; flock -x 9; exec sleep 30', file], { stdio: 'ignore' });
  t.teardown(() => { child.kill('SIGKILL'); });
  for (let i = 0; i < 200 && flock(b, 'exclusive'); i++) {
    flock(b, 'unlock');
    await new Promise((r) => setTimeout(r, 10));
  }
  t.false(flock(b, 'exclusive'), 'the child holds it');
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
  t.true(flock(b, 'exclusive'), 'released once the holder is dead');
  t.throws(() => flock(b, 'bogus' as never), { code: 'ERR_NS_INVALID_ARGUMENT' });
  t.throws(() => flock(12345, 'exclusive'), { code: 'ERR_NS_SYSCALL', message: /EBADF|flock/ });
});

for (const [what, remove] of [
  ['removeTree (one pool job)', removeTree],
  ['removeTreeSync (the calling thread)', async (p: string) => removeTreeSync(p)],
] as const) {
  test(`${what} deletes a tree (files, symlinks, an unreadable dir) without following symlinks; a file alone; a missing path is fine`, async (t) => {
    const d = tempDir(t);
    const outside = path.join(d, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'keep'), 'x');
    const tree = path.join(d, 'tree');
    fs.mkdirSync(path.join(tree, 'a/b/c'), { recursive: true });
    for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(tree, 'a', `f${i}`), String(i));
    fs.writeFileSync(path.join(tree, 'a/b/c/big'), Buffer.alloc(2 << 20));
    fs.symlinkSync(outside, path.join(tree, 'a/link-to-outside'));
    fs.symlinkSync('../../..', path.join(tree, 'a/b/up'));
    fs.mkdirSync(path.join(tree, 'locked/inner'), { recursive: true });
    if (isRoot) fs.chmodSync(path.join(tree, 'locked'), 0);
    await remove(tree);
    t.false(fs.existsSync(tree));
    t.deepEqual(fs.readdirSync(outside), ['keep'], 'nothing behind a symlink was touched');
    const file = path.join(d, 'file');
    fs.writeFileSync(file, 'x');
    await remove(file);
    t.false(fs.existsSync(file));
    await remove(path.join(d, 'never-there'));
    await t.throwsAsync(remove(''), { code: 'ERR_NS_INVALID_ARGUMENT' });
    // A directory whose entries cannot be removed (a read-only bind of itself): a typed error naming the path.
    if (isRoot) {
      const ro = path.join(d, 'ro');
      fs.mkdirSync(path.join(ro, 'sub'), { recursive: true });
      fs.writeFileSync(path.join(ro, 'sub/f'), 'x');
      mount(ro, ro, null, { bind: true });
      mount(null, ro, null, { remount: true, bind: true, readonly: true });
      t.teardown(() => { try { umount(ro, { detach: true }); } catch { /* gone */ } });
      const e = await t.throwsAsync(remove(path.join(ro, 'sub')), { code: 'ERR_NS_SYSCALL' });
      t.is((e as SystemCallError).errnoCode, 'EROFS');
    }
  });
}

test('flockExclusive takes a free lock at once, waits while another description holds it, and throws ERR_CANCELLED when aborted while waiting', async (t) => {
  const file = path.join(tempDir(t), 'lock');
  const a = fs.openSync(file, 'a+');
  const b = fs.openSync(file, 'a+');
  t.teardown(() => { for (const fd of [a, b]) try { fs.closeSync(fd); } catch { /* closed */ } });
  await flockExclusive(a);
  let got = false;
  const waiting = flockExclusive(b).then(() => { got = true; });
  await new Promise((r) => setTimeout(r, 40));
  t.false(got, 'waits while a holds it');
  flock(a, 'unlock');
  await waiting;
  t.true(got);
  t.false(flock(a, 'exclusive'), 'b holds it now');
  const ac = new AbortController();
  const aborted = flockExclusive(a, { signal: ac.signal, what: 'test lock' });
  setTimeout(() => ac.abort(), 20);
  await t.throwsAsync(aborted, { code: 'ERR_CANCELLED' });  // Shared: waits while b holds it exclusively, then shares it with another shared holder.
  let shared = false;
  const sharing = flockPolled(a, 'shared').then(() => { shared = true; });
  await new Promise((r) => setTimeout(r, 40));
  t.false(shared, 'a shared lock waits for the exclusive holder');
  flock(b, 'unlock');
  await sharing;
  t.true(flock(b, 'shared'), 'and is shared');
});
