/**
 * Whiteouts: applied (deleting what they name, opaque dirs emptied of
 * everything but this layer's own entries) or converted to overlayfs form
 * (char 0/0 devices, trusted.overlay.opaque=y) — and both give the same
 * merged tree.
 */
import fs from 'node:fs';
import test from 'ava';
import { applyLayer, isOpaqueDir } from '@berth/cow-fs';
import * as ns from '@berth/namespaces';
import { makeTar, streamOf, type TarSpec } from './helpers/tar.js';
import { isRoot, tmp } from './helpers/temp.js';
import { compareTrees, readTree } from './helpers/tree.js';

const t0 = isRoot ? test : test.skip;

const lower: TarSpec[] = [
  { name: 'etc/', type: 'directory' }, { name: 'etc/passwd', data: 'root' }, { name: 'etc/shadow', data: 's' },
  { name: 'opq/', type: 'directory' }, { name: 'opq/old', data: 'o' }, { name: 'opq/sub/', type: 'directory' }, { name: 'opq/sub/deep', data: 'd' },
  { name: 'gone-dir/', type: 'directory' }, { name: 'gone-dir/x', data: 'x' },
  { name: 'hard', data: 'h' },
];
const upper: TarSpec[] = [
  { name: 'etc/.wh.shadow' }, { name: '.wh.gone-dir' },
  { name: 'opq/', type: 'directory' }, { name: 'opq/kept-new', data: 'n' }, { name: 'opq/.wh..wh..opq' }, { name: 'opq/sub/', type: 'directory' }, { name: 'opq/sub/fresh', data: 'f' },
  { name: 'link-to-lower', type: 'link', linkname: 'hard' },
  { name: '.wh..wh.plnk' },
];

t0('whiteouts applied directly delete what they name; opaque keeps only this layer\'s entries', async (t) => {
  const dir = await tmp(t);
  await applyLayer(dir, streamOf(makeTar(lower)), { sync: false });
  await applyLayer(dir, streamOf(makeTar(upper)), { sync: false });
  t.deepEqual([...readTree(dir).keys()].sort(), ['etc', 'etc/passwd', 'hard', 'link-to-lower', 'opq', 'opq/kept-new', 'opq/sub', 'opq/sub/fresh']);
  t.is(fs.statSync(`${dir}/hard`).ino, fs.statSync(`${dir}/link-to-lower`).ino);
});

t0('whiteouts converted for overlay: char 0/0 and trusted.overlay.opaque; hardlinks to lower files are copied up; the mount equals the applied tree', async (t) => {
  const base = await tmp(t);
  for (const d of ['lower', 'upper', 'work', 'merged', 'flat']) fs.mkdirSync(`${base}/${d}`);
  await applyLayer(`${base}/lower`, streamOf(makeTar(lower)), { sync: false });
  await applyLayer(`${base}/upper`, streamOf(makeTar(upper)), { sync: false, convertWhiteout: 'overlay', lowers: [`${base}/lower`] });
  const wh = fs.lstatSync(`${base}/upper/etc/shadow`);
  t.true(wh.isCharacterDevice());
  t.is(wh.rdev, 0);
  t.true(isOpaqueDir(`${base}/upper/opq`));
  t.false(isOpaqueDir(`${base}/upper/etc`));
  t.true(fs.lstatSync(`${base}/upper/hard`).isFile());
  ns.mount('overlay', `${base}/merged`, 'overlay', {}, `lowerdir=${base}/lower,upperdir=${base}/upper,workdir=${base}/work`);
  try {
    await applyLayer(`${base}/flat`, streamOf(makeTar(lower)), { sync: false });
    await applyLayer(`${base}/flat`, streamOf(makeTar(upper)), { sync: false });
    t.deepEqual(compareTrees(readTree(`${base}/flat`), readTree(`${base}/merged`)), []);
  } finally {
    ns.umount(`${base}/merged`);
  }
});

t0('implicit parents in an upper dir take the lower directory\'s metadata', async (t) => {
  const base = await tmp(t);
  fs.mkdirSync(`${base}/lower`);
  fs.mkdirSync(`${base}/upper`);
  await applyLayer(`${base}/lower`, streamOf(makeTar([{ name: 'srv/', type: 'directory', mode: 0o750, uid: 33, gid: 33 }])), { sync: false });
  await applyLayer(`${base}/upper`, streamOf(makeTar([{ name: 'srv/new', data: 'x' }])), { sync: false, convertWhiteout: 'overlay', lowers: [`${base}/lower`] });
  const st = fs.statSync(`${base}/upper/srv`);
  t.is(st.mode & 0o7777, 0o750);
  t.is(st.uid, 33);
});

t0('user.* xattrs on symlinks and devices are skipped (the kernel forbids them); others are kept', async (t) => {
  const dir = await tmp(t);
  await applyLayer(dir, streamOf(makeTar([
    { name: 'l', type: 'symlink', linkname: 'x', xattrs: { 'user.a': Buffer.from('1'), 'trusted.b': Buffer.from('2') } },
    { name: 'f', xattrs: { 'user.a': Buffer.from('1') } },
  ])), { sync: false });
  t.deepEqual(readTree(dir).get('l')!.xattrs, { 'trusted.b': Buffer.from('2').toString('hex') });
  t.deepEqual(readTree(dir).get('f')!.xattrs, { 'user.a': Buffer.from('1').toString('hex') });
});
