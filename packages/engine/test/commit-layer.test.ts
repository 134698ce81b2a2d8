/**
 * commit writes the layer and fills the new image's snapshot in one pass (the
 * uncompressed tar is teed into the snapshot while it is compressed and
 * stored). These tests hold that pass to what the two-step way gave: the
 * stored layer is exactly what cow-fs's diff makes of the container's
 * snapshot, the committed snapshot is exactly what applying the stored blob
 * makes, a new container sees the change, and committing the same change
 * again reuses the layer and snapshot and leaves nothing behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import test from 'ava';
import { applyLayerToMounts, diffMounts, type Mount } from '@berth/cow-fs';
import * as ns from '@berth/namespaces';
import { readBlob } from '@berth/image-store';
import { chainIds, type CreateContainerOptions, type LocalEngine, type LocalImageService } from '@berth/engine';
import type { Descriptor } from '@berth/oci-spec';
import { isRoot } from './helpers/tmp.js';
import { createOptions, openPulledEngine, runToExit, type PulledEngine } from './helpers/pulled-engine.js';

const serial = isRoot ? test.serial : test.skip;
let env: PulledEngine | undefined;
let engine: LocalEngine;
let images: LocalImageService;
let ref: string;
const tag = randomBytes(3).toString('hex');

test.before(async () => {
  if (!isRoot) return;
  env = await openPulledEngine({ bridgePrefix: 'bl', subnet: '10.187.0.0/16', pool: '10.188.0.0/16' });
  ({ engine, images, ref } = env);
});

test.after.always(async () => {
  await env?.close();
});

function opts(o: Partial<CreateContainerOptions>): CreateContainerOptions {
  return createOptions(ref, o);
}

function run(o: Partial<CreateContainerOptions>): Promise<{ id: string; code: number; out: string }> {
  return runToExit(engine, opts(o));
}

/** Every entry under `root`: type, mode, owner, mtime (s; not of whiteouts), size, links, content hash, link target, device, xattrs. */
function tree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string, rel: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const p = `${dir}/${name}`;
      const r = `${rel}/${name}`;
      const st = fs.lstatSync(p);
      const x = ns.llistxattr(p).sort().map((k) => `${k}=${ns.lgetxattr(p, k)?.toString('hex')}`).join(',');
      let what = '';
      if (st.isFile()) what = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
      else if (st.isSymbolicLink()) what = fs.readlinkSync(p);
      else if (st.isCharacterDevice() || st.isBlockDevice()) what = String(st.rdev);
      // An overlay whiteout (char 0/0) is made when the layer is applied: its mtime is the time of that.
      const whiteout = st.isCharacterDevice() && st.rdev === 0;
      out.set(r, [st.mode.toString(8), st.uid, st.gid, whiteout ? '' : Math.floor(st.mtimeMs / 1000), st.isDirectory() ? '' : st.size, st.nlink, what, x].join(' '));
      if (st.isDirectory()) walk(p, r);
    }
  };
  walk(root, '');
  return out;
}

const upperOf = (m: Mount[]): string => m[0]!.options.find((o) => o.startsWith('upperdir='))!.slice('upperdir='.length);
const firstLowerOf = (m: Mount[]): string => fs.realpathSync(m[0]!.options.find((o) => o.startsWith('lowerdir='))!.slice('lowerdir='.length).split(':')[0]!);

serial('the committed layer is what diff makes of the container, and its snapshot is what applying that blob makes (root, overlayfs)', async (t) => {
  // Many small files (more than one chunk of tar), a hardlink, a symlink, a deletion (whiteout),
  // a removed and recreated directory (opaque), and an xattr set on the upper file.
  const script = [
    'mkdir -p /d/sub', 'for i in $(seq 700); do echo $i > /d/f$i; done', 'ln /d/f1 /d/hard', 'ln -s f2 /d/sym',
    'dd if=/dev/zero of=/d/sub/big bs=1024 count=300 2>/dev/null', 'rm /bin/vi', 'rm -rf /home; mkdir /home; echo h > /home/only',
  ].join('; ');
  const a = await run({ cmd: ['sh', '-c', script] });
  t.is(a.code, 0);
  const rec = await engine.containers.store.get(a.id);
  const key = rec.Berth!.SnapshotKey!;
  const upper = await images.snapshotter.mounts(key);
  ns.lsetxattr(`${upperOf(upper)}/d/f3`, 'user.berth', Buffer.from('x'));

  const c = await engine.containers.commit(a.id, { reference: `layer${tag}:v1` });
  const img = await images.resolveImage(`layer${tag}:v1`);
  const parent = await images.resolveImage(ref);
  const manifest = JSON.parse((await readBlob(images.store, img.manifest)).toString()) as { layers: Descriptor[] };
  const layerDesc = manifest.layers.at(-1)!;
  t.is(img.id, c.id);

  // The stored layer is exactly what diff makes of the container's snapshot.
  const d = diffMounts([], upper, { compression: 'gzip' });
  const bytes: Buffer[] = [];
  for await (const chunk of d) bytes.push(chunk as Buffer);
  const res = await d.result;
  t.is(String(res.digest), layerDesc.digest);
  t.is(Buffer.concat(bytes).length, layerDesc.size);
  t.is(String(res.diffId), String(img.config.rootfs.diff_ids.at(-1)));

  // The committed snapshot (named by the chainId) is what applying the stored blob onto the parent makes.
  const top = chainIds(img.config.rootfs.diff_ids).at(-1)!;
  t.is(img.chainIds.at(-1), top);
  const onTop = await images.snapshotter.prepare(`check-top-${tag}`, top);
  const fresh = await images.snapshotter.prepare(`check-fresh-${tag}`, parent.chainIds.at(-1));
  try {
    await applyLayerToMounts(fresh, await images.store.open(layerDesc.digest), { sync: false });
    const committed = tree(firstLowerOf(onTop));
    t.true(committed.has('/d/f700') && committed.has('/bin/vi') && committed.has('/d/hard'));
    t.regex(committed.get('/d/f3')!, /user\.berth=78/);
    t.deepEqual([...committed], [...tree(upperOf(fresh))]);
  } finally {
    await images.snapshotter.remove(`check-top-${tag}`);
    await images.snapshotter.remove(`check-fresh-${tag}`);
  }

  // A new container from the image sees the change.
  const b = await run({ image: `layer${tag}:v1`, cmd: ['sh', '-c', 'cat /d/f700 /d/hard /d/sym; ls /home; test -e /bin/vi || echo vi-gone; wc -c < /d/sub/big'] });
  t.is(b.out, '700\n1\n2\nonly\nvi-gone\n307200\n');
  await engine.containers.remove(b.id);
  await engine.containers.remove(a.id);
});

serial('committing the same change twice gives the same layer and snapshot, and leaves no extra snapshot behind (root)', async (t) => {
  const a = await run({ cmd: ['sh', '-c', 'mkdir /same; for i in $(seq 50); do echo $i > /same/f$i; done'] });
  const names = async (): Promise<string[]> => {
    const out: string[] = [];
    for await (const s of images.snapshotter.walk()) out.push(s.name);
    return out.sort();
  };
  const c1 = await engine.containers.commit(a.id, { reference: `same${tag}:one` });
  const after1 = await names();
  const c2 = await engine.containers.commit(a.id, { reference: `same${tag}:two` });
  const i1 = await images.resolveImage(`same${tag}:one`);
  const i2 = await images.resolveImage(`same${tag}:two`);
  t.is(i1.config.rootfs.diff_ids.at(-1), i2.config.rootfs.diff_ids.at(-1));
  t.is(i1.chainIds.at(-1), i2.chainIds.at(-1));
  t.true(c1.id.startsWith('sha256:') && c2.id.startsWith('sha256:'));
  t.deepEqual(await names(), after1);
  t.false((await names()).some((n) => n.startsWith('commit-')));
  await engine.containers.remove(a.id);
});

serial('hostname, hosts and resolv.conf stay out of the writable layer: diff lists none unfiltered, a committed image holds none, its container gets its own (root, overlayfs)', async (t) => {
  const a = await run({ cmd: ['sh', '-c', 'echo kept > /kept; cat /etc/hostname; grep -c . /etc/hosts >/dev/null && echo hosts-ok'] });
  t.is(a.code, 0);
  const ra = await engine.containers.store.get(a.id);
  t.is(a.out, `${ra.Config.Hostname}\nhosts-ok\n`);
  const upperA = upperOf(await images.snapshotter.mounts(ra.Berth!.SnapshotKey!));
  for (const f of ['etc/hostname', 'etc/hosts', 'etc/resolv.conf']) t.false(fs.existsSync(`${upperA}/${f}`), `${f} not in the writable layer`);
  t.deepEqual(await engine.containers.changes(a.id), [{ Path: '/kept', Kind: 1 }]);

  await engine.containers.commit(a.id, { reference: `files${tag}:v1` });
  const img = await images.resolveImage(`files${tag}:v1`);
  const top = await images.snapshotter.prepare(`check-files-${tag}`, img.chainIds.at(-1));
  try {
    const layer = firstLowerOf(top);
    t.true(fs.existsSync(`${layer}/kept`));
    t.false(fs.existsSync(`${layer}/etc`), 'the committed layer has no /etc');
  } finally {
    await images.snapshotter.remove(`check-files-${tag}`);
  }

  const b = await run({ image: `files${tag}:v1`, cmd: ['sh', '-c', 'cat /kept /etc/hostname /etc/hosts'] });
  const rb = await engine.containers.store.get(b.id);
  t.is(b.code, 0);
  t.is(b.out, `kept\n${rb.Config.Hostname}\n${fs.readFileSync(rb.HostsPath, 'utf8')}`);
  t.not(rb.Config.Hostname, ra.Config.Hostname);
  t.deepEqual(await engine.containers.changes(b.id), []);
  await engine.containers.remove(b.id);
  await engine.containers.remove(a.id);
  await images.remove(`files${tag}:v1`).catch(() => undefined);
});
