/** The snapshotter conformance suite against the overlayfs backend (needs root and overlayfs), and the snapshots/ placement hint. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import test from 'ava';
import { openCopySnapshotter, openOverlaySnapshotter } from '@berth/cow-fs';
import { isRoot, tmp } from './helpers/temp.js';
import { snapshotterSuite } from './suite/snapshotter.js';

const overlayfs = /\toverlay$/m.test(fs.readFileSync('/proc/filesystems', 'utf8'));
snapshotterSuite('overlay', (root) => openOverlaySnapshotter(root), { label: 'root, overlayfs', available: overlayfs });

const onExt = (p: string): boolean => execFileSync('stat', ['-f', '-c', '%T', p], { encoding: 'utf8' }).trim().startsWith('ext');

(isRoot && overlayfs ? test : test.skip)('both snapshotters mark snapshots/ as a top directory on ext4 (chattr +T: snapshots spread over block groups)', async (t) => {
  const base = await tmp(t);
  if (!onExt(base)) { t.pass('temp dir is not on ext4'); return; }
  for (const open of [openOverlaySnapshotter, openCopySnapshotter]) {
    const root = `${base}/${open.name}`;
    const sn = await open(root);
    try {
      t.true(execFileSync('lsattr', ['-d', `${root}/snapshots`], { encoding: 'utf8' }).split(' ')[0]!.includes('T'));
    } finally {
      await sn.close();
    }
  }
});

(isRoot && overlayfs ? test : test.skip)('snapshot directories are made under a temporary name and renamed; cleanup removes a leftover one', async (t) => {
  const base = await tmp(t);
  for (const open of [openOverlaySnapshotter, openCopySnapshotter]) {
    const root = `${base}/${open.name}`;
    const sn = await open(root);
    try {
      await sn.prepare('a');
      await sn.prepare('b');
      t.deepEqual(fs.readdirSync(`${root}/snapshots`).sort(), ['1', '2']);
      // What a crash between mkdir and rename leaves behind.
      fs.mkdirSync(`${root}/snapshots/.new-0123456789abcdef/fs`, { recursive: true });
      await sn.cleanup();
      t.deepEqual(fs.readdirSync(`${root}/snapshots`).sort(), ['1', '2']);
    } finally {
      await sn.close();
    }
  }
});
