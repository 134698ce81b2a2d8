/**
 * Large files (≥ 1 MiB) have their data written on the thread pool while the
 * applier goes on: their metadata, later entries and failures must come out
 * as if written in place.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import test from 'ava';
import { applyLayer } from '@berth/cow-fs';
import * as ns from '@berth/namespaces';
import { gzip, makeTar, streamOf } from './helpers/tar.js';
import { isRoot, tmp } from './helpers/temp.js';

const t0 = isRoot ? test.serial : test.skip;

/** Splits `b` into pieces of `n` bytes. */
function pieces(b: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += n) out.push(b.subarray(i, i + n));
  return out;
}

t0('large files: content, setuid mode, owner and mtime as written, then a hardlink to one and a file replacing another', async (t) => {
  const big = randomBytes(5 << 20);
  const big2 = randomBytes((1 << 20) + 17);
  const tar = makeTar([
    { name: 'bin/', type: 'directory' },
    { name: 'bin/tool', data: big, mode: 0o4755, uid: 1000, gid: 1001, mtime: 1_600_000_123 },
    { name: 'bin/other', data: big2, mode: 0o600 },
    { name: 'bin/tool-link', type: 'link', linkname: 'bin/tool' },
    { name: 'bin/other', data: 'replaced' },
    { name: 'after', data: 'x' },
  ]);
  for (const [what, input] of [['plain, small chunks', pieces(tar, 64 * 1024)], ['gzip', [gzip(tar)]]] as const) {
    const dir = await tmp(t);
    const r = await applyLayer(dir, streamOf(...input), { sync: false });
    t.is(r.entries, 6, what);
    const st = fs.statSync(`${dir}/bin/tool`);
    t.true(fs.readFileSync(`${dir}/bin/tool`).equals(big), what);
    t.is(st.mode & 0o7777, 0o4755, what);
    t.is(st.uid, 1000);
    t.is(st.gid, 1001);
    t.is(st.mtimeMs, 1_600_000_123_000);
    t.is(st.nlink, 2);
    t.is(fs.statSync(`${dir}/bin/tool-link`).ino, st.ino);
    t.is(fs.readFileSync(`${dir}/bin/other`, 'utf8'), 'replaced');
    t.is(fs.readFileSync(`${dir}/after`, 'utf8'), 'x');
  }
});

t0('a pool write that fails (ENOSPC on a small tmpfs) is ERR_LAYER_APPLY_FAILED naming the file, and nothing stays open', async (t) => {
  const base = await tmp(t);
  const dir = `${base}/small`;
  fs.mkdirSync(dir);
  ns.mount('tmpfs', dir, 'tmpfs', {}, 'size=1m');
  t.teardown(() => ns.umount(dir, { detach: true }));
  const fds = fs.readdirSync('/proc/self/fd').length;
  const tar = makeTar([{ name: 'a', data: 'first' }, { name: 'huge', data: randomBytes(3 << 20) }, { name: 'z', data: 'never' }]);
  const e = await t.throwsAsync(applyLayer(dir, streamOf(...pieces(tar, 256 * 1024)), { sync: false }));
  t.is((e as { code?: string }).code, 'ERR_LAYER_APPLY_FAILED');
  t.is((e as { details?: { entry?: string } }).details?.entry, 'huge');
  t.false(fs.existsSync(`${dir}/z`));
  // The file's fd was closed once its writes had settled, before the apply rejected.
  t.is(fs.readdirSync('/proc/self/fd').length, fds);
});
