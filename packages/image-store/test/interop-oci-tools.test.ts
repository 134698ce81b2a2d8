/**
 * Other tools accept the layout: skopeo inspect, umoci stat and umoci unpack
 * read images written through the API; images skopeo copies into the store
 * (and OCI layouts imported from fixtures) are visible through the API.
 * Needs skopeo and umoci (Debian), and the fixture images (scripts/fixtures).
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import fs from 'node:fs/promises';
import { fixture, fixtureTransportRef, commandExists } from '@berth/testkit';
import { createReadStream } from 'node:fs';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { openLocalStore, createMemoryStore, importOciLayoutDir, importOciLayoutTar, exportOciLayoutDir, exportOciLayoutTar, walkImage } from '@berth/image-store';
import { tempDir } from './helpers/temp.js';
import { buildImage, validateImage } from './helpers/image.js';
import { collect } from './helpers/collect.js';

const run = promisify(execFile);
const haveTools = commandExists('skopeo') && commandExists('umoci');
const t0 = haveTools ? test : test.skip;

t0('skopeo inspect, umoci stat and umoci unpack read images written through the API (needs skopeo, umoci, root)', async (t) => {
  const dir = await tempDir(t);
  const root = path.join(dir, 'store');
  const store = await openLocalStore(root);
  const gz = await buildImage(store, { layers: [{ 'hello.txt': 'hello from berth\n' }, { 'etc/motd': 'layer two\n' }] });
  const plain = await buildImage(store, { layers: [{ 'plain.txt': 'uncompressed\n' }], gzip: false });
  await validateImage(store, gz.manifest);
  await validateImage(store, plain.manifest);
  await store.images.tag('example.com/interop/hello:1.0', gz.manifest);
  await store.images.tag('example.com/interop/plain:2', plain.manifest);

  const inspect = JSON.parse((await run('skopeo', ['inspect', `oci:${root}:example.com/interop/hello:1.0`])).stdout);
  t.is(inspect.Digest, gz.manifest.digest);
  t.deepEqual(inspect.Layers, gz.layers.map((l) => l.digest));
  const inspect2 = JSON.parse((await run('skopeo', ['inspect', `oci:${root}:example.com/interop/plain:2`])).stdout);
  t.is(inspect2.Digest, plain.manifest.digest);

  const stat = JSON.parse((await run('umoci', ['stat', '--json', '--image', `${root}:example.com/interop/hello:1.0`])).stdout);
  t.is(stat.history.length, 2);

  const bundle = path.join(dir, 'bundle');
  await run('umoci', ['unpack', '--image', `${root}:example.com/interop/hello:1.0`, bundle]);
  t.is(await fs.readFile(path.join(bundle, 'rootfs', 'hello.txt'), 'utf8'), 'hello from berth\n');
  t.is(await fs.readFile(path.join(bundle, 'rootfs', 'etc', 'motd'), 'utf8'), 'layer two\n');
  const bundle2 = path.join(dir, 'bundle2');
  await run('umoci', ['unpack', '--image', `${root}:example.com/interop/plain:2`, bundle2]);
  t.is(await fs.readFile(path.join(bundle2, 'rootfs', 'plain.txt'), 'utf8'), 'uncompressed\n');
  t.deepEqual((await store.verify()).corrupt, []);
});

t0('an image skopeo copies into the store is visible through the API (needs skopeo, fixtures)', async (t) => {
  const root = path.join(await tempDir(t), 'store');
  const store = await openLocalStore(root);
  await store.images.tag('example.com/already/here:1', (await buildImage(store)).manifest);
  const single = fixture('busybox', 'oci-gzip');
  const multi = fixture('busybox', 'oci-index');
  await run('skopeo', ['copy', '--quiet', fixtureTransportRef(single), `oci:${root}:example.com/copied/busybox:1`]);
  await run('skopeo', ['copy', '--quiet', '--all', fixtureTransportRef(multi), `oci:${root}:example.com/copied/busybox:multi`]);

  const img = await store.images.resolve('example.com/copied/busybox:1');
  t.is(img.target.digest as string, single.digest);
  await validateImage(store, img.target);
  const idx = await store.images.resolve('example.com/copied/busybox:multi');
  t.is(idx.target.digest as string, multi.digest);
  t.is(idx.target.mediaType, 'application/vnd.oci.image.index.v1+json');
  const nodes = await collect(walkImage(store, idx.target));
  t.true(nodes.length >= 7, `${nodes.length} nodes`);
  await validateImage(store, idx.target);
  t.deepEqual((await store.images.list()).map((i) => i.name).sort(),
    ['example.com/already/here:1', 'example.com/copied/busybox:1', 'example.com/copied/busybox:multi']);
  // GC keeps everything skopeo wrote that the names reach.
  const r = await store.gc();
  t.deepEqual(r.digests, []);
  t.deepEqual((await store.verify()).corrupt, []);
});

t0('importing a fixture OCI layout directory; umoci unpacks it from the store (needs umoci, fixtures)', async (t) => {
  const dir = await tempDir(t);
  const root = path.join(dir, 'store');
  const store = await openLocalStore(root);
  const f = fixture('multilayer', 'oci-gzip');
  const imported = await importOciLayoutDir(store, f.path, { baseName: 'example.com/fixtures/multilayer' });
  t.deepEqual(imported.map((i) => i.name), [`example.com/fixtures/multilayer:${f.ref}`]);
  t.is(imported[0]!.target.digest as string, f.digest);
  await validateImage(store, imported[0]!.target);
  t.deepEqual(await store.leases.list(), []);
  const bundle = path.join(dir, 'bundle');
  await run('umoci', ['unpack', '--image', `${root}:${imported[0]!.name}`, bundle]);
  t.true((await fs.readdir(path.join(bundle, 'rootfs'))).length > 0);
});

t0('exportOciLayoutDir writes a layout umoci and skopeo read; a GNU tar of a layout imports (needs skopeo, umoci, tar)', async (t) => {
  const dir = await tempDir(t);
  const store = createMemoryStore();
  const img = await buildImage(store, { layers: [{ 'x.txt': 'x\n' }] });
  await store.images.tag('example.com/export/x:1', img.manifest);
  const out = path.join(dir, 'out');
  await exportOciLayoutDir(store, ['example.com/export/x:1'], out);
  const inspect = JSON.parse((await run('skopeo', ['inspect', `oci:${out}:example.com/export/x:1`])).stdout);
  t.is(inspect.Digest, img.manifest.digest);
  await run('umoci', ['stat', '--image', `${out}:example.com/export/x:1`]);
  // The tar form is what skopeo calls oci-archive.
  const archive = path.join(dir, 'x.oci.tar');
  await pipeline(exportOciLayoutTar(store, ['example.com/export/x:1']), createWriteStream(archive));
  const inspectTar = JSON.parse((await run('skopeo', ['inspect', `oci-archive:${archive}:example.com/export/x:1`])).stdout);
  t.is(inspectTar.Digest, img.manifest.digest);

  // GNU tar writes ./-prefixed names, directories and its own headers.
  const f = fixture('busybox', 'oci-gzip');
  const tarFile = path.join(dir, 'layout.tar');
  await run('tar', ['-C', f.path, '-cf', tarFile, '.']);
  const target = createMemoryStore();
  const images = await importOciLayoutTar(target, createReadStream(tarFile), { baseName: 'example.com/tarred/busybox' });
  t.deepEqual(images.map((i) => i.name), [`example.com/tarred/busybox:${f.ref}`]);
  await validateImage(target, images[0]!.target);
});
