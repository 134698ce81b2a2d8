/**
 * A removed snapshot's directory: a small tree (a container's upper and
 * work dirs: few entries, little data) is deleted at once, inside remove(); a larger one is moved to
 * trash/ and deleted in the background, which close() and cleanup() wait for.
 * Either way the snapshot is gone from snapshots/ when remove() returns.
 */
import fs from 'node:fs';
import test from 'ava';
import { openCopySnapshotter, openOverlaySnapshotter } from '@berth/cow-fs';
import { isRoot, tmp } from './helpers/temp.js';

const overlayfs = /\toverlay$/m.test(fs.readFileSync('/proc/filesystems', 'utf8'));
const trashOf = (root: string): string[] => (fs.existsSync(`${root}/trash`) ? fs.readdirSync(`${root}/trash`) : []);

for (const open of [openOverlaySnapshotter, openCopySnapshotter]) {
  (isRoot && (overlayfs || open === openCopySnapshotter) ? test : test.skip)(`${open.name}: a small removed tree is deleted inside remove(), a large one (many entries, or a few holding over 1 MiB) or a committed one in the background before close() returns`, async (t) => {
    const root = `${await tmp(t)}/sn`;
    const sn = await open(root);
    try {
      await sn.prepare('small');
      await sn.prepare('large');
      const [small, large] = fs.readdirSync(`${root}/snapshots`).sort();
      // A container's few changes, with a directory the kernel leaves unreadable (overlay's work/work).
      fs.mkdirSync(`${root}/snapshots/${small}/fs/etc/x`, { recursive: true });
      fs.writeFileSync(`${root}/snapshots/${small}/fs/etc/x/f`, 'x');
      fs.symlinkSync('f', `${root}/snapshots/${small}/fs/etc/x/l`);
      fs.mkdirSync(`${root}/snapshots/${small}/fs/locked/inner`, { recursive: true });
      fs.chmodSync(`${root}/snapshots/${small}/fs/locked`, 0);
      for (let i = 0; i < 300; i++) fs.writeFileSync(`${root}/snapshots/${large}/fs/f${i}`, String(i));

      await sn.remove('small');
      t.false(fs.existsSync(`${root}/snapshots/${small}`));
      t.deepEqual(trashOf(root), [], 'deleted at once, nothing left for close() to wait for');

      await sn.remove('large');
      t.false(fs.existsSync(`${root}/snapshots/${large}`), 'its path is free at once');
      t.is(trashOf(root).length, 1, 'the large one waits in trash/ for its background deletion');

      // Few entries, but a big file: freeing its blocks is work for the background too.
      await sn.prepare('bigfile');
      const bigfile = fs.readdirSync(`${root}/snapshots`).find((n) => n !== small && n !== large)!;
      fs.writeFileSync(`${root}/snapshots/${bigfile}/fs/blob`, Buffer.alloc(4 << 20, 1));
      await sn.remove('bigfile');
      t.false(fs.existsSync(`${root}/snapshots/${bigfile}`));
      t.true(trashOf(root).some((n) => n.startsWith(`${bigfile}-`)), 'a few entries holding 4 MiB go to the background');
      // A committed snapshot (an image layer), however small, goes to the background too.
      await sn.prepare('layer-key');
      const layer = fs.readdirSync(`${root}/snapshots`).find((n) => n !== small && n !== large && n !== bigfile)!;
      fs.writeFileSync(`${root}/snapshots/${layer}/fs/f`, 'x');
      await sn.commit('layer', 'layer-key');
      await sn.remove('layer');
      t.false(fs.existsSync(`${root}/snapshots/${layer}`));
      t.true(trashOf(root).some((n) => n.startsWith(`${layer}-`)), 'a committed layer of one file goes to the background');
      await sn.close();
      t.deepEqual(trashOf(root), [], 'close() waited for the background deletion');
    } finally {
      await sn.close();
    }
    // The store is consistent: a new open sees neither and can use the names again.
    const again = await open(root);
    try {
      const keys: string[] = [];
      for await (const i of again.walk()) keys.push(i.name);
      t.deepEqual(keys, []);
      await again.prepare('small');
      t.true((await again.mounts('small')).length > 0);
    } finally {
      await again.close();
    }
  });
}
