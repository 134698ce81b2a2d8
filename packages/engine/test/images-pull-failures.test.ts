import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { digestOf, type Descriptor } from '@berth/oci-spec';
import { processStartTicks } from '@berth/engine';
import { fixture, readFixtureManifest, type TestRegistry } from '@berth/testkit';
import { multilayerProblems, openImages, withRootfs, startSeededRegistry } from './helpers/images-env.js';
import { isRoot, tempDir } from './helpers/tmp.js';

const serial = isRoot ? test.serial : test.skip;
let reg: TestRegistry;

test.before(async () => { if (isRoot) reg = await startSeededRegistry(); });
test.after.always(async () => { await reg?.close(); });

const codeOf = (e: unknown): string | undefined => (e as { code?: string } | undefined)?.code;
const kindOf = (e: unknown): string | undefined => (e as { kind?: string } | undefined)?.kind;

async function activeSnapshots(images: Awaited<ReturnType<typeof openImages>>['images']): Promise<string[]> {
  const out: string[] = [];
  for await (const s of images.snapshotter.walk()) if (s.kind !== 'committed') out.push(s.name);
  return out;
}

serial('an aborted pull leaves no visible image and a working store; the retry succeeds (root)', async (t) => {
  const { images, close } = await openImages();
  t.teardown(close);
  const ref = `${reg.host}/multilayer:oci-gzip`;
  const ac = new AbortController();
  const err = await t.throwsAsync(images.pull(ref, {
    signal: ac.signal,
    onProgress: (p) => { if (p.status === 'Downloading') ac.abort(); },
  }));
  t.is(kindOf(err), 'cancelled', codeOf(err));
  t.deepEqual(await images.list(), []);
  t.is(codeOf(await t.throwsAsync(images.resolveImage(ref))), 'ERR_ENGINE_IMAGE_NOT_FOUND');
  t.deepEqual(await activeSnapshots(images), []);
  t.deepEqual((await images.store.verify()).corrupt, []);
  t.deepEqual(await images.store.leases.list(), [], 'the pull lease is released');

  const r = await images.pull(ref);
  t.deepEqual(await withRootfs(images, r.chainId!, (dir) => multilayerProblems(dir)), []);
  t.deepEqual((await images.list()).map((i) => i.Id), [r.id]);
});

serial('a corrupt layer blob in the registry gives a typed data-loss error and no image; other pulls work (root)', async (t) => {
  const corrupt = await startSeededRegistry();
  t.teardown(() => corrupt.close());
  const { images, close } = await openImages();
  t.teardown(close);
  const f = fixture('busybox', 'oci-gzip');
  const manifest = JSON.parse(readFixtureManifest(f).bytes.toString()) as { layers: Descriptor[] };
  const layer = manifest.layers[0]!;
  const hex = layer.digest.slice(7);
  const data = path.join(corrupt.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
  const fd = fs.openSync(data, 'r+');
  const at = Math.floor(layer.size / 2);
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, at);
  fs.writeSync(fd, Buffer.from([b[0]! ^ 0xff]), 0, 1, at);

  const ref = `${corrupt.host}/busybox:oci-gzip`;
  const err = await t.throwsAsync(images.pull(ref));
  // The store's writer hashes the download (the registry client does not hash it a second time) and refuses it.
  t.is(codeOf(err), 'ERR_STORE_DIGEST_MISMATCH');
  t.is(kindOf(err), 'data-loss');
  t.deepEqual(await images.list(), []);
  t.deepEqual(await activeSnapshots(images), []);
  t.is(codeOf(await t.throwsAsync(images.store.info(layer.digest))), 'ERR_STORE_NOT_FOUND');
  const ingests: string[] = [];
  for await (const s of images.store.listIngests()) ingests.push(s.ref);
  t.deepEqual(ingests, [], 'the bad partial download is discarded');

  // The store still works: another image (zstd copy: other blobs) pulls fine.
  const ok = await images.pull(`${corrupt.host}/busybox:oci-zstd`);
  t.truthy(ok.chainId);
  // Repaired registry: the retry succeeds.
  fs.writeSync(fd, b, 0, 1, at);
  fs.closeSync(fd);
  const again = await images.pull(ref);
  t.is(again.id, ok.id);
  t.is((await images.list()).length, 1);
});

serial('a layer whose content does not match the config diff_ids is refused (ERR_ENGINE_IMAGE_DIFF_ID_MISMATCH) (root)', async (t) => {
  const { images, close } = await openImages();
  t.teardown(close);
  const dir = await tempDir('berth-diffid-');
  fs.mkdirSync(path.join(dir, 'rootfs'));
  fs.writeFileSync(path.join(dir, 'rootfs/file'), 'content\n');
  spawnSync('tar', ['-C', path.join(dir, 'rootfs'), '-czf', path.join(dir, 'l.tgz'), '.']);
  const layerBytes = fs.readFileSync(path.join(dir, 'l.tgz'));
  const layer: Descriptor = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(layerBytes), size: layerBytes.length };
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [digestOf('not this layer')] },
  }));
  const configDesc: Descriptor = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length };
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers: [layer] }));
  const manifestDesc: Descriptor = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(manifest), size: manifest.length };
  const ref = `${reg.host}/liar:1`;
  const pusher = images.registry.pusher(ref);
  await pusher.pushBlob(layer, layerBytes);
  await pusher.pushBlob(configDesc, config);
  await pusher.pushManifest(manifestDesc, manifest);

  const err = await t.throwsAsync(images.pull(ref));
  t.is(codeOf(err), 'ERR_ENGINE_IMAGE_DIFF_ID_MISMATCH');
  t.deepEqual(await images.list(), []);
  t.deepEqual(await activeSnapshots(images), []);
  const committed: string[] = [];
  for await (const s of images.snapshotter.walk()) committed.push(s.name);
  t.deepEqual(committed, []);
});

serial('unpack snapshots left by a process that died mid-pull are removed on open; a live process\'s are kept (root)', async (t) => {
  const first = await openImages();
  const dead = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim();
  await first.images.snapshotter.prepare('extract-crashed sha256:x', undefined, { labels: { 'berth/unpack.owner': `${dead} 1` } });
  const live = `${process.pid} ${await processStartTicks(process.pid)}`;
  await first.images.snapshotter.prepare('extract-running sha256:y', undefined, { labels: { 'berth/unpack.owner': live } });
  await first.close();

  const second = await openImages({ root: first.root });
  t.teardown(second.close);
  const keys: string[] = [];
  for await (const s of second.images.snapshotter.walk()) keys.push(s.name);
  t.deepEqual(keys, ['extract-running sha256:y']);
  // A pull still works next to the live one.
  const r = await second.images.pull(`${reg.host}/busybox:oci-gzip`);
  t.truthy(r.chainId);
});

serial('a concurrent unpack killed mid-way leaves a chain of active snapshots (each the parent of the next): the next open removes it children first; the pull then succeeds (root, overlayfs)', async (t) => {
  const first = await openImages();
  const dead = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim();
  const labels = { 'berth/unpack.owner': `${dead} 1` };
  // The chain a concurrent pull builds, named so that walk order (by name) is parents first.
  await first.images.snapshotter.prepare('extract-a sha256:1', undefined, { labels });
  await first.images.snapshotter.prepare('extract-b sha256:2', 'extract-a sha256:1', { labels, activeParent: true });
  await first.images.snapshotter.prepare('extract-c sha256:3', 'extract-b sha256:2', { labels, activeParent: true });
  await first.close();

  const second = await openImages({ root: first.root });
  t.teardown(second.close);
  t.deepEqual(await activeSnapshots(second.images), []);
  const r = await second.images.pull(`${reg.host}/multilayer:oci-gzip`);
  t.deepEqual(await withRootfs(second.images, r.chainId!, (dir) => multilayerProblems(dir)), []);
});
