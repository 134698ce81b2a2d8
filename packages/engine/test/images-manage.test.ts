import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { commandExists, type TestRegistry } from '@berth/testkit';
import { containersUseImage, openFileContainerStore, type EventInput, type ImageProgress } from '@berth/engine';
import { exists, openImages, withRootfs, startSeededRegistry } from './helpers/images-env.js';
import { isRoot, tempDir } from './helpers/tmp.js';

const serial = isRoot ? test.serial : test.skip;
let reg: TestRegistry;

test.before(async () => { if (isRoot) reg = await startSeededRegistry(); });
test.after.always(async () => { await reg?.close(); });

serial('tag, list, inspect and history in Docker shapes (root)', async (t) => {
  const events: EventInput[] = [];
  const { images, close } = await openImages({ events: { publish: async (e) => { events.push(e); } } });
  t.teardown(close);
  const ref = `${reg.host}/multilayer:oci-gzip`;
  const pulled = await images.pull(ref);
  await images.tag(ref, 'mine/app:1');
  await images.tag(pulled.id.slice(7, 19), 'other');
  const list = await images.list();
  t.is(list.length, 1);
  const row = list[0]!;
  t.is(row.Id, pulled.id);
  t.deepEqual(row.RepoTags.sort(), [`${reg.host}/multilayer:oci-gzip`, 'mine/app:1', 'other:latest'].sort());
  t.deepEqual(row.RepoDigests, [`${reg.host}/multilayer@${pulled.digest}`]);
  t.is(row.Created, Math.floor(Date.parse('2000-01-01T00:00:00Z') / 1000));
  t.true(row.Size > 20 * 1024 * 1024, 'unpacked size counts the 20 MiB file');
  t.deepEqual((await images.list({ filters: { reference: ['mine/*'] } })).map((r) => r.Id), [pulled.id]);
  t.deepEqual(await images.list({ filters: { dangling: ['true'] } }), []);
  t.deepEqual((await images.list({ filters: { label: ['org.berth.fixture=multilayer'] } })).length, 1);

  const inspect = await images.inspect('mine/app:1');
  t.is(inspect.Id, pulled.id);
  t.is(inspect.Os, 'linux');
  t.is(inspect.Architecture, 'amd64');
  t.is(inspect.RootFS.Type, 'layers');
  t.is(inspect.RootFS.Layers.length, 4);
  t.deepEqual((inspect.Config as { Cmd?: string[] }).Cmd, ['sh']);
  t.is(inspect.Size, row.Size);

  const history = await images.history('other');
  t.is(history[0]!.Id, pulled.id);
  t.true(history[0]!.Tags!.includes('other:latest'));
  t.is(history.filter((h) => h.Size > 0).length, 4);
  t.true(history.slice(1).every((h) => h.Id === '<missing>'));

  t.true(events.some((e) => e.Action === 'pull'));
  t.true(events.some((e) => e.Action === 'tag' && e.Actor.Attributes?.name === 'mine/app:1'));
  const err = await t.throwsAsync(images.inspect('nope:1'));
  t.is((err as { code?: string }).code, 'ERR_ENGINE_IMAGE_NOT_FOUND');
  const bad = await t.throwsAsync(images.tag(ref, 'bad name'));
  t.is((bad as { code?: string }).code, 'ERR_ENGINE_IMAGE_INVALID_REFERENCE');
});

serial('rmi untags, refuses images in use and by id with several names, deletes snapshots and blobs (root)', async (t) => {
  const inUse = new Set<string>();
  const { images, close } = await openImages({ isInUse: (id) => inUse.has(id) });
  t.teardown(close);
  const ref = `${reg.host}/busybox:oci-gzip`;
  const { id, chainId } = await images.pull(ref);
  await images.tag(ref, 'bb:1');

  const conflict = await t.throwsAsync(images.remove(id));
  t.is((conflict as { code?: string }).code, 'ERR_ENGINE_IMAGE_CONFLICT');
  t.deepEqual(await images.remove('bb:1'), [{ Untagged: 'bb:1' }]);
  t.is((await images.list()).length, 1, 'one name left, image kept');

  inUse.add(id);
  const used = await t.throwsAsync(images.remove(ref));
  t.is((used as { code?: string }).code, 'ERR_ENGINE_IMAGE_IN_USE');
  // A container's rootfs on top of the image: its snapshot keeps the layer alive even after a forced rmi.
  await images.snapshotter.prepare('container-1', chainId);
  t.deepEqual(await images.remove(ref, { force: true }), [{ Untagged: `${reg.host}/busybox:oci-gzip` }]);
  const dangling = await images.list({ filters: { dangling: ['true'] } });
  t.deepEqual(dangling.map((r) => r.Id), [id]);
  t.deepEqual((await images.prune()).ImagesDeleted, [], 'prune skips images in use');

  inUse.delete(id);
  await images.snapshotter.remove('container-1');
  const pruned = await images.prune();
  t.deepEqual(pruned.ImagesDeleted, [{ Deleted: id }]);
  t.true(pruned.SpaceReclaimed > 1_000_000);
  t.deepEqual(await images.list(), []);
  const err = await t.throwsAsync(images.snapshotter.stat(chainId!));
  t.is((err as { code?: string }).code, 'ERR_SNAPSHOT_NOT_FOUND');
  const left: string[] = [];
  for await (const b of images.store.walk()) left.push(b.digest);
  t.deepEqual(left, []);
});

serial('rmi of the last name deletes the image; shared base layers of other images stay (root)', async (t) => {
  const { images, close } = await openImages();
  t.teardown(close);
  const bb = await images.pull(`${reg.host}/busybox:oci-gzip`);
  const ml = await images.pull(`${reg.host}/multilayer:oci-gzip`);
  const items = await images.remove(`${reg.host}/busybox:oci-gzip`);
  t.deepEqual(items, [{ Untagged: `${reg.host}/busybox:oci-gzip` }, { Deleted: bb.id }]);
  // busybox's only layer is multilayer's first one: still there and the multilayer tree still mounts.
  t.is((await images.snapshotter.stat(bb.chainId!)).kind, 'committed');
  await withRootfs(images, ml.chainId!, (dir) => { t.true(exists(path.join(dir, 'bin/busybox'))); });
  const all = await images.prune({ all: true });
  t.deepEqual(all.ImagesDeleted, [{ Untagged: `${reg.host}/multilayer:oci-gzip` }, { Deleted: ml.id }]);
  const snaps: string[] = [];
  for await (const s of images.snapshotter.walk()) snaps.push(s.name);
  t.deepEqual(snaps, []);
});

serial('prune also removes what dead processes left in the snapshotter: a directory no record names, an unfinished deletion in trash/; live snapshots stay (root)', async (t) => {
  const { images, root, close } = await openImages();
  t.teardown(close);
  const ml = await images.pull(`${reg.host}/multilayer:oci-gzip`);
  const sn = path.join(root, 'snapshots', 'overlay');
  const live = fs.readdirSync(path.join(sn, 'snapshots')).sort();
  // A crash between a snapshot's directory and its record; a process killed during a background deletion.
  fs.mkdirSync(path.join(sn, 'snapshots', '9999', 'fs', 'etc'), { recursive: true });
  fs.writeFileSync(path.join(sn, 'snapshots', '9999', 'fs', 'etc', 'f'), 'x');
  fs.mkdirSync(path.join(sn, 'trash', '77-1-1', 'fs', 'bin'), { recursive: true });
  fs.writeFileSync(path.join(sn, 'trash', '77-1-1', 'fs', 'bin', 'x'), 'y');
  await images.prune();
  t.deepEqual(fs.readdirSync(path.join(sn, 'snapshots')).sort(), live);
  t.deepEqual(fs.existsSync(path.join(sn, 'trash')) ? fs.readdirSync(path.join(sn, 'trash')) : [], []);
  await withRootfs(images, ml.chainId!, (dir) => { t.true(exists(path.join(dir, 'bin/busybox'))); });
});

serial('moving a tag leaves the old image dangling; prune removes it (root)', async (t) => {
  const { images, close } = await openImages();
  t.teardown(close);
  const a = await images.pull(`${reg.host}/busybox:oci-gzip`);
  await images.tag(`${reg.host}/busybox:oci-gzip`, 'app:1');
  t.deepEqual(await images.remove(`${reg.host}/busybox:oci-gzip`), [{ Untagged: `${reg.host}/busybox:oci-gzip` }]);
  const b = await images.pull(`${reg.host}/multilayer:oci-gzip`);
  await images.tag(`${reg.host}/multilayer:oci-gzip`, 'app:1');
  t.deepEqual((await images.list({ filters: { dangling: ['true'] } })).map((r) => r.Id), [a.id]);
  t.deepEqual((await images.inspect(a.id)).RepoTags, []);
  const r = await images.prune();
  t.deepEqual(r.ImagesDeleted, [{ Deleted: a.id }]);
  t.deepEqual((await images.list()).map((x) => x.Id), [b.id]);
});

serial('save then load into a fresh root round-trips ids, names and the unpacked tree (root)', async (t) => {
  const src = await openImages();
  t.teardown(src.close);
  const ref = `${reg.host}/multilayer:oci-zstd`;
  const pulled = await src.images.pull(ref);
  const dir = await tempDir('berth-save-');
  const archive = path.join(dir, 'ml.tar');
  await pipeline(await src.images.save([ref]), fs.createWriteStream(archive));
  const list = spawnSync('tar', ['-tf', archive], { encoding: 'utf8' }).stdout.split('\n');
  t.true(list.includes('manifest.json'));

  const dst = await openImages();
  t.teardown(dst.close);
  const loaded = await dst.images.load(fs.createReadStream(archive));
  t.deepEqual(loaded.ids, [pulled.id]);
  t.deepEqual(loaded.names, [ref]);
  const img = await dst.images.resolveImage(ref);
  t.is(img.id, pulled.id);
  await withRootfs(dst.images, img.chainIds.at(-1)!, (root) => {
    t.true(exists(path.join(root, 'data/random-20m.bin')));
    t.false(exists(path.join(root, 'data/del-file.txt')));
  });
  const missing = await t.throwsAsync(src.images.save(['nope']));
  t.is((missing as { code?: string }).code, 'ERR_ENGINE_IMAGE_NOT_FOUND');
});

serial('import a rootfs tar (gzip) as a one-layer image with a minimal config (root)', async (t) => {
  const { images, close } = await openImages();
  t.teardown(close);
  const dir = await tempDir('berth-import-');
  fs.mkdirSync(path.join(dir, 'rootfs/etc'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'rootfs/etc/hello'), 'hello\n');
  fs.symlinkSync('hello', path.join(dir, 'rootfs/etc/link'));
  t.is(spawnSync('tar', ['-C', path.join(dir, 'rootfs'), '-czf', path.join(dir, 'r.tgz'), '.']).status, 0);
  const r = await images.import(fs.createReadStream(path.join(dir, 'r.tgz')), { ref: 'imported:1', message: 'from a tarball', config: { Cmd: ['/bin/sh'] } });
  const inspect = await images.inspect('imported:1');
  t.is(inspect.Id, r.id);
  t.deepEqual(inspect.RepoTags, ['imported:1']);
  t.is(inspect.RootFS.Layers.length, 1);
  t.deepEqual((inspect.Config as { Cmd?: string[] }).Cmd, ['/bin/sh']);
  t.is((await images.history('imported:1'))[0]!.Comment, 'from a tarball');
  const img = await images.resolveImage(r.id);
  await withRootfs(images, img.chainIds[0]!, (root) => {
    t.is(fs.readFileSync(path.join(root, 'etc/hello'), 'utf8'), 'hello\n');
    t.is(fs.readlinkSync(path.join(root, 'etc/link')), 'hello');
  });
  // Without a name the import is a dangling image.
  const anon = await images.import(Readable.from([fs.readFileSync(path.join(dir, 'r.tgz'))]), { message: 'again' });
  t.not(anon.id, r.id, 'created time differs, so the config differs');
  t.true((await images.list({ filters: { dangling: ['true'] } })).some((x) => x.Id === anon.id));
});

const skopeo = commandExists('skopeo');
(isRoot && skopeo ? test.serial : test.skip)('push to the registry, read back with skopeo inspect; zstd layers push as they are (root, skopeo)', async (t) => {
  const { images, close } = await openImages();
  t.teardown(close);
  for (const variant of ['oci-gzip', 'oci-zstd']) {
    const pulled = await images.pull(`${reg.host}/multilayer:${variant}`);
    const target = `${reg.host}/pushed/multilayer:${variant}`;
    await images.tag(`${reg.host}/multilayer:${variant}`, target);
    const progress: ImageProgress[] = [];
    const pushed = await images.push(target, { onProgress: (p) => progress.push(p) });
    t.is(pushed.digest, (await images.resolveImage(target)).manifest.digest);
    const out = spawnSync('skopeo', ['inspect', '--tls-verify=false', `docker://${target}`], { encoding: 'utf8' });
    t.is(out.status, 0, out.stderr);
    const info = JSON.parse(out.stdout) as { Digest: string; Layers: string[] };
    t.is(info.Digest, pushed.digest);
    t.is(info.Layers.length, 4);
    const raw = JSON.parse(spawnSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${target}`], { encoding: 'utf8' }).stdout) as { layers: Array<{ mediaType: string }> };
    t.deepEqual(raw.layers.map((l) => l.mediaType.split('+')[1]), [1, 2, 3, 4].map(() => (variant === 'oci-zstd' ? 'zstd' : 'gzip')));
    t.true(progress.some((p) => p.status === 'Pushed' || p.status === 'Layer already exists'), JSON.stringify(progress.map((p) => p.status)));
  }
  // A second push finds everything there.
  const again: ImageProgress[] = [];
  await images.push(`${reg.host}/pushed/multilayer:oci-gzip`, { onProgress: (p) => again.push(p) });
  t.false(again.some((p) => p.status === 'Pushed'));
});

for (const [what, flags] of [['plain', ['-cf']], ['zstd', ['--zstd', '-cf']]] as const) {
  (isRoot && (what !== 'zstd' || commandExists('zstd')) ? test.serial : test.skip)(`import a ${what} rootfs tar: the layer keeps its compression (root)`, async (t) => {
    const { images, close } = await openImages();
    t.teardown(close);
    const dir = await tempDir('berth-import-');
    fs.mkdirSync(path.join(dir, 'rootfs/bin'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'rootfs/bin/tool'), '#!/bin/sh\n', { mode: 0o755 });
    t.is(spawnSync('tar', ['-C', path.join(dir, 'rootfs'), ...flags, path.join(dir, 'r.tar'), '.']).status, 0);
    const r = await images.import(fs.createReadStream(path.join(dir, 'r.tar')), { ref: `imported-${what}` });
    const img = await images.resolveImage(`imported-${what}`);
    const manifest = JSON.parse((await readAll(await images.store.open(img.manifest.digest))).toString()) as { layers: Array<{ mediaType: string }> };
    t.is(manifest.layers[0]!.mediaType, what === 'zstd' ? 'application/vnd.oci.image.layer.v1.tar+zstd' : 'application/vnd.oci.image.layer.v1.tar');
    t.is(img.id, r.id);
    await withRootfs(images, img.chainIds[0]!, (root) => {
      t.is(fs.statSync(path.join(root, 'bin/tool')).mode & 0o777, 0o755);
    });
  });
}

async function readAll(s: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

serial('containersUseImage: a container record made from the image protects it from rmi and prune (root)', async (t) => {
  const root = await tempDir('berth-images-inuse-');
  const store = await openFileContainerStore({ root });
  const { images, close } = await openImages({ root, isInUse: containersUseImage(store) });
  t.teardown(close);
  const ref = `${reg.host}/busybox:oci-gzip`;
  const { id } = await images.pull(ref);
  const rec = await store.create({ name: 'user-of-busybox', image: id, path: 'true', config: { Image: ref } });
  t.is((await t.throwsAsync(images.remove(ref)) as { code?: string }).code, 'ERR_ENGINE_IMAGE_IN_USE');
  t.deepEqual((await images.prune({ all: true })).ImagesDeleted, []);
  await store.remove(rec.Id);
  t.deepEqual((await images.prune({ all: true })).ImagesDeleted, [{ Untagged: ref }, { Deleted: id }]);
});

serial('a metadata lock file left by a dead process, whole or empty, holds nothing; names and metadata changes go on (root)', async (t) => {
  const { images, root, close } = await openImages();
  t.teardown(close);
  await images.import(Readable.from([Buffer.alloc(1024)]), { ref: 'empty:1' });
  const dead = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim();
  fs.writeFileSync(path.join(root, 'images/meta.lock'), `${dead} 1`);
  await images.tag('empty:1', 'empty:2');
  t.deepEqual((await images.list())[0]!.RepoTags.sort(), ['empty:1', 'empty:2']);
  // What a holder of the old O_EXCL lock file killed between its create and its write left: every process waited for it.
  fs.writeFileSync(path.join(root, 'images/meta.lock'), '');
  await images.tag('empty:1', 'empty:3');
  t.deepEqual((await images.list())[0]!.RepoTags.sort(), ['empty:1', 'empty:2', 'empty:3']);
});
