/**
 * The Docker archive both ways. With Debian's dockerd (20.10): an exported
 * tar loads with `docker load` and runs; a `docker save` tar loads into the
 * store. Without docker: skopeo's docker-archive output, and the docker 25+
 * form (an OCI layout plus manifest.json) built by hand.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { fixture, commandExists } from '@berth/testkit';
import {
  openLocalStore, createMemoryStore, importOciLayoutDir, exportDockerArchive, importDockerArchive, readBlob, writeTar,
  type ImageStore, type TarSource,
} from '@berth/image-store';
import type { Descriptor } from '@berth/oci-spec';
import { tempDir } from './helpers/temp.js';
import { buildImage, validateImage } from './helpers/image.js';
import { bytesOf } from './helpers/collect.js';
import { haveDockerd, startDockerd } from './helpers/dockerd.js';

const run = promisify(execFile);

async function configOf(store: ImageStore, name: string): Promise<Descriptor> {
  const img = await store.images.resolve(name);
  return JSON.parse((await readBlob(store, img.target)).toString('utf8')).config as Descriptor;
}

const withDocker = (await haveDockerd()) ? test.serial : test.skip;

withDocker('docker load reads an exported archive and runs it; a docker save tar loads into the store (needs dockerd, root)', async (t) => {
  const dir = await tempDir(t);
  const store = await openLocalStore(path.join(dir, 'store'));
  const [busybox] = await importOciLayoutDir(store, fixture('busybox', 'oci-gzip').path, { baseName: 'example.com/berth/busybox' });
  await store.images.tag('example.com/berth/busybox:1', busybox!.target);
  const plain = await buildImage(store, { layers: [{ 'a.txt': 'a' }, { 'b.txt': 'b' }], gzip: false });
  await store.images.tag('example.com/berth/plain:2', plain.manifest);
  const exported = path.join(dir, 'export.tar');
  await pipeline(exportDockerArchive(store, ['example.com/berth/busybox:1', 'example.com/berth/plain:2']), createWriteStream(exported));

  const d = await startDockerd(t);
  const loaded = await d.docker(['load', '-i', exported]);
  t.regex(loaded.stdout, /Loaded image: example\.com\/berth\/busybox:1/);
  t.regex(loaded.stdout, /Loaded image: example\.com\/berth\/plain:2/);
  const id = (await d.docker(['image', 'inspect', '--format', '{{.Id}}', 'example.com/berth/busybox:1'])).stdout.trim();
  t.is(id, (await configOf(store, 'example.com/berth/busybox:1')).digest);
  const plainId = (await d.docker(['image', 'inspect', '--format', '{{.Id}}', 'example.com/berth/plain:2'])).stdout.trim();
  t.is(plainId, plain.config.digest);
  const out = await d.docker(['run', '--rm', '--network', 'none', 'example.com/berth/busybox:1', '/bin/busybox', 'echo', 'hello-from-berth']);
  t.is(out.stdout.trim(), 'hello-from-berth');

  // A multi-platform index exports the manifest of the requested platform.
  const [multi] = await importOciLayoutDir(store, fixture('busybox', 'oci-index').path, { baseName: 'example.com/berth/multi' });
  const multiTar = path.join(dir, 'multi.tar');
  await pipeline(exportDockerArchive(store, [multi!.name], { platform: { os: 'linux', architecture: 'amd64' } }), createWriteStream(multiTar));
  t.regex((await d.docker(['load', '-i', multiTar])).stdout, /Loaded image: example\.com\/berth\/multi:/);
  const arch = (await d.docker(['image', 'inspect', '--format', '{{.Architecture}}', multi!.name])).stdout.trim();
  t.is(arch, 'amd64');

  // docker save (legacy directory-per-layer form) → the store.
  const saved = path.join(dir, 'saved.tar');
  await d.docker(['save', '-o', saved, 'example.com/berth/busybox:1', 'example.com/berth/plain:2']);
  const target = await openLocalStore(path.join(dir, 'target'));
  const images = await importDockerArchive(target, createReadStream(saved));
  t.deepEqual(images.map((i) => i.name).sort(), ['example.com/berth/busybox:1', 'example.com/berth/plain:2']);
  for (const i of images) await validateImage(target, i.target);
  t.is((await configOf(target, 'example.com/berth/busybox:1')).digest as string, id);
  const layers = JSON.parse((await readBlob(target, images.find((i) => i.name.includes('plain'))!.target)).toString('utf8')).layers as Descriptor[];
  t.deepEqual(layers.map((l) => l.digest), plain.layers.map((l) => l.digest), 'uncompressed layers keep their bytes');
  t.deepEqual(layers.map((l) => l.mediaType), plain.layers.map(() => 'application/vnd.oci.image.layer.v1.tar'));
  t.deepEqual(await target.leases.list(), []);
  t.deepEqual((await target.gc()).digests.filter((x) => layers.some((l) => l.digest === x)), []);
  t.deepEqual((await target.verify()).corrupt, []);
});

const withSkopeo = commandExists('skopeo') ? test : test.skip;

withSkopeo('a skopeo docker-archive tar loads into the store (needs skopeo, fixtures)', async (t) => {
  const dir = await tempDir(t);
  const f = fixture('multilayer', 'oci-gzip');
  const tar = path.join(dir, 'skopeo.tar');
  await run('skopeo', ['copy', '--quiet', `oci:${f.path}:${f.ref}`, `docker-archive:${tar}:example.com/skopeo/multilayer:3`]);
  const store = createMemoryStore();
  const images = await importDockerArchive(store, createReadStream(tar));
  t.deepEqual(images.map((i) => i.name), ['example.com/skopeo/multilayer:3']);
  await validateImage(store, images[0]!.target);
});

test('the docker 25+ archive form (OCI layout + manifest.json) loads, with or without names in index.json', async (t) => {
  const src = createMemoryStore();
  const img = await buildImage(src, { layers: [{ x: 'x' }, { y: 'y' }], gzip: false });
  const blob = async (d: Descriptor): Promise<TarSource> => ({ name: `blobs/sha256/${d.digest.slice(7)}`, data: await readBlob(src, d, { maxSize: 1 << 30 }) });
  const manifestJson = JSON.stringify([{
    Config: `blobs/sha256/${img.config.digest.slice(7)}`,
    RepoTags: ['example.com/d25/app:7'],
    Layers: img.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`),
  }]);
  for (const named of [true, false]) {
    const annotations = named ? { 'io.containerd.image.name': 'example.com/d25/app:7', 'org.opencontainers.image.ref.name': '7' } : {};
    const entries: TarSource[] = [
      { name: 'blobs', type: 'dir' }, { name: 'blobs/sha256', type: 'dir' },
      await blob(img.config), ...(await Promise.all(img.layers.map(blob))), await blob(img.manifest),
      { name: 'index.json', data: Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ ...img.manifest, annotations }] })) },
      { name: 'manifest.json', data: Buffer.from(manifestJson) },
      { name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
      { name: 'repositories', data: Buffer.from('{}') },
    ];
    const tar = await bytesOf(writeTar(entries));
    const store = createMemoryStore();
    const images = await importDockerArchive(store, Readable.from([tar]));
    t.deepEqual(images.map((i) => i.name), ['example.com/d25/app:7']);
    await validateImage(store, images[0]!.target);
    if (named) t.is(images[0]!.target.digest, img.manifest.digest, 'keeps docker\'s own manifest');
    else t.deepEqual(JSON.parse((await readBlob(store, images[0]!.target)).toString('utf8')).layers.map((l: Descriptor) => l.digest), img.layers.map((l) => l.digest));
  }
});

test('a docker archive without manifest.json is a typed error', async (t) => {
  const tar = await bytesOf(writeTar([{ name: 'repositories', data: Buffer.from('{}') }]));
  const e = await t.throwsAsync(importDockerArchive(createMemoryStore(), Readable.from([tar])));
  t.is((e as { code?: string }).code, 'ERR_STORE_INVALID_ARCHIVE');
});

test('exporting an unknown name is ERR_STORE_NOT_FOUND', async (t) => {
  const e = await t.throwsAsync(bytesOf(exportDockerArchive(createMemoryStore(), ['nope:1'])));
  t.is((e as { code?: string }).code, 'ERR_STORE_NOT_FOUND');
});
