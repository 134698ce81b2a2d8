/**
 * Tar forms written by GNU tar (gnu, oldgnu, posix/pax, ustar; long names and
 * link targets; old GNU sparse and PAX sparse 0.0, 0.1, 1.0; xattrs incl.
 * security.capability; devices, fifos, hardlinks, setuid/setgid/sticky)
 * restore to the same tree as the source. Plus malformed streams.
 */
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import test from 'ava';
import { applyLayer, detectCompression } from '@berth/cow-fs';
import * as ns from '@berth/namespaces';
import { compareTrees, readTree } from './helpers/tree.js';
import { gzip, makeTar, streamOf, zstd } from './helpers/tar.js';
import { isRoot, tmp } from './helpers/temp.js';

const t0 = isRoot ? test : test.skip;

function sh(cmd: string, args: string[], cwd?: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}

/** A source tree with every kind of entry a layer carries. */
function buildSource(src: string, opts: { xattrs: boolean; longNames: boolean; sparse: boolean }): void {
  fs.mkdirSync(`${src}/dir/sub`, { recursive: true });
  fs.writeFileSync(`${src}/dir/file`, 'hello\n');
  fs.writeFileSync(`${src}/dir/sub/empty`, '');
  fs.writeFileSync(`${src}/big`, Buffer.alloc(3 * 1024 * 1024 + 17, 7));
  fs.writeFileSync(`${src}/setuid`, '#!/bin/sh\n');
  fs.chmodSync(`${src}/setuid`, 0o4755);
  fs.writeFileSync(`${src}/setgid`, 'g');
  fs.chmodSync(`${src}/setgid`, 0o2711);
  fs.mkdirSync(`${src}/sticky`);
  fs.chmodSync(`${src}/sticky`, 0o1777);
  fs.writeFileSync(`${src}/owned`, 'o');
  fs.chownSync(`${src}/owned`, 1234, 5678);
  fs.symlinkSync('dir/file', `${src}/rel-link`);
  fs.symlinkSync('/etc/passwd', `${src}/abs-link`);
  fs.lchownSync(`${src}/abs-link`, 42, 43);
  fs.linkSync(`${src}/dir/file`, `${src}/hardlink`);
  ns.mknod(`${src}/null`, { type: 'char', mode: 0o666, major: 1, minor: 3 });
  ns.mknod(`${src}/loop`, { type: 'block', mode: 0o660, major: 7, minor: 200 });
  ns.mknod(`${src}/fifo`, { type: 'fifo', mode: 0o644 });
  fs.writeFileSync(`${src}/ünïcödé name`, 'u');
  if (opts.longNames) {
    const deep = `${src}/${'a'.repeat(60)}/${'b'.repeat(60)}/${'c'.repeat(60)}/${'d'.repeat(90)}`;
    fs.mkdirSync(deep, { recursive: true });
    fs.writeFileSync(`${deep}/${'f'.repeat(120)}`, 'deep');
    fs.symlinkSync('x'.repeat(180), `${src}/long-target`);
    fs.linkSync(`${deep}/${'f'.repeat(120)}`, `${src}/link-to-long`);
  }
  if (opts.sparse) {
    const fd = fs.openSync(`${src}/sparse`, 'w');
    fs.writeSync(fd, 'start', 0);
    fs.writeSync(fd, Buffer.alloc(70000, 9), 0, 70000, 5 * 1024 * 1024);
    fs.writeSync(fd, 'end', 20 * 1024 * 1024);
    fs.ftruncateSync(fd, 24 * 1024 * 1024);
    fs.closeSync(fd);
    const many = fs.openSync(`${src}/sparse-many`, 'w');
    // More than 4 regions: old GNU sparse needs extension headers.
    for (let i = 0; i < 40; i++) fs.writeSync(many, `r${i}`, i * 256 * 1024);
    fs.ftruncateSync(many, 41 * 256 * 1024);
    fs.closeSync(many);
  }
  if (opts.xattrs) {
    ns.lsetxattr(`${src}/dir/file`, 'user.comment', Buffer.from('a note'));
    ns.lsetxattr(`${src}/dir`, 'trusted.berth', Buffer.from([0, 1, 2, 255]));
    // security.capability v2 for cap_net_bind_service+ep, binary.
    ns.lsetxattr(`${src}/setuid`, 'security.capability', Buffer.from('0100000200040000000000000000000000000000', 'hex'));
  }
}

const forms: Array<{ name: string; args: string[]; xattrs: boolean; longNames: boolean; sparse: boolean }> = [
  { name: 'posix (pax) with xattrs', args: ['--format=posix', '--xattrs', '--xattrs-include=*'], xattrs: true, longNames: true, sparse: false },
  { name: 'gnu', args: ['--format=gnu'], xattrs: false, longNames: true, sparse: false },
  { name: 'oldgnu', args: ['--format=oldgnu'], xattrs: false, longNames: true, sparse: false },
  { name: 'ustar', args: ['--format=ustar'], xattrs: false, longNames: false, sparse: false },
  { name: 'old GNU sparse', args: ['--format=gnu', '--sparse'], xattrs: false, longNames: false, sparse: true },
  { name: 'PAX sparse 0.0', args: ['--format=posix', '--sparse', '--sparse-version=0.0'], xattrs: false, longNames: false, sparse: true },
  { name: 'PAX sparse 0.1', args: ['--format=posix', '--sparse', '--sparse-version=0.1'], xattrs: false, longNames: false, sparse: true },
  { name: 'PAX sparse 1.0', args: ['--format=posix', '--sparse', '--sparse-version=1.0'], xattrs: false, longNames: true, sparse: true },
];

for (const form of forms) {
  t0(`GNU tar ${form.name} (root): restores the same tree`, async (t) => {
    const base = await tmp(t);
    const src = `${base}/src`;
    fs.mkdirSync(src);
    buildSource(src, form);
    sh('tar', ['-C', src, ...form.args, '-cf', `${base}/layer.tar`, '.']);
    const out = `${base}/out`;
    fs.mkdirSync(out);
    const r = await applyLayer(out, fs.createReadStream(`${base}/layer.tar`));
    t.is(r.compression, 'none');
    t.is(r.size, fs.statSync(`${base}/layer.tar`).size);
    t.deepEqual(compareTrees(readTree(src), readTree(out)), []);
    t.is(fs.statSync(`${out}/hardlink`).ino, fs.statSync(`${out}/dir/file`).ino);
    t.is(fs.lstatSync(`${out}/abs-link`).uid, 42);
    if (form.sparse) {
      // Holes stay holes: far fewer blocks than the apparent size.
      t.true(fs.statSync(`${out}/sparse`).blocks * 512 < 1024 * 1024);
    }
  });
}

t0('mtimes are restored, also of symlinks and directories (after their contents), with nanoseconds from PAX', async (t) => {
  const out = await tmp(t);
  const tar = makeTar([
    { name: 'd/', type: 'directory', mtime: 1_000_000_000 },
    { name: 'd/f', data: 'x', mtime: { sec: 1_100_000_000, nsec: 123456789 }, options: { paxMtime: true } },
    { name: 'd/l', type: 'symlink', linkname: 'f', mtime: 1_200_000_000 },
  ]);
  await applyLayer(out, streamOf(tar));
  t.is(fs.statSync(`${out}/d`).mtimeMs, 1_000_000_000_000);
  t.is(fs.lstatSync(`${out}/d/l`).mtimeMs, 1_200_000_000_000);
  t.is(fs.statSync(`${out}/d/f`, { bigint: true }).mtimeNs, 1_100_000_000_123_456_789n);
});

t0('gzip, zstd and plain tar are detected by magic and give the same diffId', async (t) => {
  const tar = makeTar([{ name: 'a', data: 'a'.repeat(10000) }, { name: 'b/', type: 'directory' }]);
  const ids = new Set<string>();
  for (const [buf, kind] of [[tar, 'none'], [gzip(tar), 'gzip'], [zstd(tar), 'zstd']] as const) {
    const r = await applyLayer(await tmp(t), streamOf(buf));
    t.is(r.compression, kind);
    t.is(r.compressedSize, buf.length);
    ids.add(r.diffId);
  }
  t.is(ids.size, 1);
});

test('unsupported compressions and corrupt archives are typed errors', async (t) => {
  const out = await tmp(t);
  t.throws(() => detectCompression(Buffer.from('BZh91AY')), { code: 'ERR_LAYER_UNSUPPORTED_COMPRESSION' });
  await t.throwsAsync(applyLayer(out, streamOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2]))), { code: 'ERR_LAYER_UNSUPPORTED_COMPRESSION' });
  const tar = makeTar([{ name: 'a', data: 'abc' }]);
  const bad = Buffer.from(tar);
  bad[10] = bad[10]! ^ 0xff;
  await t.throwsAsync(applyLayer(out, streamOf(bad), { sync: false }), { code: 'ERR_LAYER_CORRUPT' });
  await t.throwsAsync(applyLayer(out, streamOf(tar.subarray(0, 600)), { sync: false }), { code: 'ERR_LAYER_CORRUPT' });
  const gz = gzip(tar);
  await t.throwsAsync(applyLayer(out, streamOf(gz.subarray(0, gz.length - 20)), { sync: false }), { code: 'ERR_LAYER_CORRUPT' });
  await t.throwsAsync(applyLayer(out, streamOf(makeTar([{ name: 'p', data: 'x', options: { extraPax: [['size', 'zz']] } }])), { sync: false }), { code: 'ERR_LAYER_CORRUPT' });
});

for (const gzipDecoder of ['zlib', 'isal'] as const) {
  test(`corrupt gzip (bad crc32, bad length, truncated, garbage after it) is ERR_LAYER_CORRUPT with the ${gzipDecoder} decoder`, async (t) => {
    if (gzipDecoder === 'isal' && !ns.isNativeGunzipAvailable()) {
      await t.throwsAsync(applyLayer(await tmp(t), streamOf(gzip(makeTar([{ name: 'a', data: 'abc' }]))), { gzipDecoder, sync: false }), { code: 'ERR_LAYER_UNSUPPORTED_COMPRESSION' });
      return;
    }
    const gz = gzip(makeTar([{ name: 'a', data: 'abc'.repeat(1000) }, { name: 'b', data: 'x' }]));
    const badCrc = Buffer.from(gz);
    badCrc[gz.length - 8] = badCrc[gz.length - 8]! ^ 1;
    const badLen = Buffer.from(gz);
    badLen[gz.length - 1] = badLen[gz.length - 1]! ^ 1;
    for (const bad of [badCrc, badLen, gz.subarray(0, gz.length - 4), gz.subarray(0, 30), Buffer.concat([gz, Buffer.from('garbage')])]) {
      await t.throwsAsync(applyLayer(await tmp(t), streamOf(bad), { gzipDecoder, sync: false }), { code: 'ERR_LAYER_CORRUPT' });
    }
    const ok = await applyLayer(await tmp(t), streamOf(Buffer.concat([gz, Buffer.alloc(512)])), { gzipDecoder, sync: false });
    t.is(ok.decoder, gzipDecoder);
    t.is(ok.entries, 2);
  });
}

for (const zstdDecoder of ['cli', 'native', 'fzstd'] as const) {
  test(`corrupt zstd (truncated, garbage after it) is ERR_LAYER_CORRUPT with the ${zstdDecoder} decoder; a good one applies`, async (t) => {
    if (zstdDecoder === 'native' && !ns.isNativeZstdAvailable()) {
      await t.throwsAsync(applyLayer(await tmp(t), streamOf(zstd(makeTar([{ name: 'a', data: 'abc' }]))), { zstdDecoder, sync: false }), { code: 'ERR_LAYER_UNSUPPORTED_COMPRESSION' });
      return;
    }
    const zs = zstd(makeTar([{ name: 'a', data: 'abc'.repeat(1000) }, { name: 'b', data: 'x' }]));
    for (const bad of [zs.subarray(0, zs.length - 4), zs.subarray(0, 12), Buffer.concat([zs, Buffer.from('garbage after the frame')])]) {
      await t.throwsAsync(applyLayer(await tmp(t), streamOf(bad), { zstdDecoder, sync: false }), { code: 'ERR_LAYER_CORRUPT' });
    }
    const ok = await applyLayer(await tmp(t), streamOf(zs), { zstdDecoder, sync: false });
    t.is(ok.decoder, zstdDecoder === 'native' ? 'libzstd' : zstdDecoder === 'cli' ? 'zstd-cli' : 'fzstd');
    t.is(ok.entries, 2);
  });
}

test('an aborted signal stops the apply with ERR_CANCELLED', async (t) => {
  const out = await tmp(t);
  const ac = new AbortController();
  ac.abort();
  await t.throwsAsync(applyLayer(out, streamOf(makeTar([{ name: 'a', data: 'x' }])), { signal: ac.signal }), { code: 'ERR_CANCELLED' });
});

t0('a rejected layer closes its input stream (plain, gzip, zstd)', async (t) => {
  const dir = await tmp(t);
  const bad = makeTar([{ name: 'ok', data: 'x'.repeat(100_000) }, { name: '../escape', data: 'x' }, { name: 'more', data: 'y'.repeat(300_000) }]);
  for (const [name, buf] of [['plain', bad], ['gz', gzip(bad)], ['zst', zstd(bad)]] as const) {
    fs.writeFileSync(`${dir}/${name}`, buf);
    const input = fs.createReadStream(`${dir}/${name}`, { highWaterMark: 4096 });
    fs.mkdirSync(`${dir}/out-${name}`);
    await t.throwsAsync(applyLayer(`${dir}/out-${name}`, input, { sync: false }), { code: 'ERR_LAYER_PATH_ESCAPE' });
    t.true(input.destroyed, name);
  }
});

test('an applied layer is published on diagnostics_channel', async (t) => {
  const dc = await import('node:diagnostics_channel');
  const { CowFsChannel } = await import('@berth/cow-fs');
  const seen: Array<{ diffId: string; entries: number }> = [];
  const fn = (m: unknown) => { seen.push(m as { diffId: string; entries: number }); };
  dc.subscribe(CowFsChannel.LayerApplied, fn);
  t.teardown(() => dc.unsubscribe(CowFsChannel.LayerApplied, fn));
  const r = await applyLayer(await tmp(t), streamOf(makeTar([{ name: 'only-for-diagnostics', data: 'd' }])), { sync: false });
  const mine = seen.find((m) => m.diffId === r.diffId);
  t.is(mine?.entries, 1);
});

t0('Node streams of any chunking, empty or tiny, take the same path as iterables', async (t) => {
  const { Readable } = await import('node:stream');
  const tar = makeTar([{ name: 'a', data: 'a'.repeat(3000) }]);
  const want = (await applyLayer(await tmp(t), streamOf(tar), { sync: false })).diffId;
  for (const buf of [tar, gzip(tar), zstd(tar)]) {
    const bytes = [...buf].map((b) => Buffer.from([b]));
    const r = await applyLayer(await tmp(t), new Readable({ read() { this.push(bytes.shift() ?? null); } }), { sync: false });
    t.is(r.diffId, want);
    t.is(r.compressedSize, buf.length);
  }
  const empty = await applyLayer(await tmp(t), Readable.from([], { objectMode: false }), { sync: false });
  t.is(empty.entries, 0);
  t.is(empty.size, 0);
});
