/**
 * The on-disk format: a valid OCI image layout plus the private `.berth/`
 * area; verify() finds corrupt and misplaced blobs and deletes them only when
 * asked; openLocalStore refuses what is not a layout.
 */
import test from 'ava';
import path from 'node:path';
import fs from 'node:fs/promises';
import { openLocalStore, readBlob, writeBytes } from '@berth/image-store';
import type { Digest } from '@berth/oci-spec';
import { tempDir } from './helpers/temp.js';
import { buildImage, validateImage } from './helpers/image.js';

test('the store is an OCI image layout with a private .berth area', async (t) => {
  const root = await tempDir(t);
  const store = await openLocalStore(root);
  const img = await buildImage(store);
  await validateImage(store, img.manifest);
  await store.images.tag('example.com/layout/test:1', img.manifest);
  t.deepEqual(JSON.parse(await fs.readFile(path.join(root, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
  const index = JSON.parse(await fs.readFile(path.join(root, 'index.json'), 'utf8'));
  t.is(index.schemaVersion, 2);
  t.is(index.manifests[0].digest, img.manifest.digest);
  t.is(index.manifests[0].annotations['org.opencontainers.image.ref.name'], 'example.com/layout/test:1');
  t.is(index.manifests[0].annotations['io.containerd.image.name'], 'example.com/layout/test:1');
  const blobs = (await fs.readdir(path.join(root, 'blobs', 'sha256'))).sort();
  t.deepEqual(blobs, [img.manifest, img.config, ...img.layers].map((d) => d.digest.slice(7)).sort());
  t.deepEqual((await fs.readdir(root)).sort(), ['.berth', 'blobs', 'index.json', 'oci-layout']);
  const st = await fs.stat(path.join(root, 'blobs', 'sha256', blobs[0]!));
  t.is(st.mode & 0o777, 0o444);
  // Reopening finds the same state.
  const again = await openLocalStore(root, { create: false });
  t.is((await again.images.resolve('example.com/layout/test:1')).target.digest, img.manifest.digest);
});

test('verify reports corrupt and misplaced blobs, deletes only when asked', async (t) => {
  const root = await tempDir(t);
  const store = await openLocalStore(root);
  const good = await writeBytes(store, Buffer.from('good blob'));
  const bad = await writeBytes(store, Buffer.from('will be flipped'));
  const badPath = path.join(root, 'blobs', 'sha256', bad.digest.slice(7));
  await fs.chmod(badPath, 0o644);
  await fs.writeFile(badPath, 'will be flipPed');
  await fs.writeFile(path.join(root, 'blobs', 'sha256', 'not-a-digest'), 'x');
  const v = await store.verify();
  t.is(v.checked, 2);
  t.deepEqual(v.corrupt.map((c) => c.reason).sort(), ['bad-path', 'digest-mismatch']);
  t.is(v.corrupt.find((c) => c.reason === 'digest-mismatch')!.expected, bad.digest);
  t.deepEqual(v.deleted, []);
  t.true(await fs.stat(badPath).then(() => true));
  const v2 = await store.verify({ delete: true });
  t.is(v2.deleted.length, 2);
  const v3 = await store.verify();
  t.deepEqual(v3.corrupt, []);
  t.is((await store.info(good.digest)).size, 9);
});

test('openLocalStore: create:false on an empty dir, and a foreign oci-layout, are typed errors', async (t) => {
  const root = await tempDir(t);
  const e1 = await t.throwsAsync(openLocalStore(path.join(root, 'none'), { create: false }));
  t.is((e1 as { code?: string }).code, 'ERR_STORE_NOT_FOUND');
  await fs.writeFile(path.join(root, 'oci-layout'), '{"imageLayoutVersion":"9.9.9"}');
  const e2 = await t.throwsAsync(openLocalStore(root));
  t.is((e2 as { code?: string }).code, 'ERR_STORE_CORRUPT_LAYOUT');
});

test('a corrupt index.json is ERR_STORE_CORRUPT_LAYOUT and gc deletes nothing', async (t) => {
  const root = await tempDir(t);
  const store = await openLocalStore(root);
  const img = await buildImage(store);
  await store.images.tag('example.com/safe:1', img.manifest);
  await fs.writeFile(path.join(root, 'index.json'), '{"schemaVersion":2,"manifests":[{"digest":"oops"}]}');
  const e = await t.throwsAsync(store.images.list());
  t.is((e as { code?: string }).code, 'ERR_STORE_CORRUPT_LAYOUT');
  const g = await t.throwsAsync(store.gc());
  t.is((g as { code?: string }).code, 'ERR_STORE_CORRUPT_LAYOUT');
  await validateImage(store, img.manifest);
});

test('readBlob: the local store\'s one-read path and the info + stream path give the same bytes and errors', async (t) => {
  const root = await tempDir(t);
  const store = await openLocalStore(root);
  t.is(typeof store.readSmall, 'function');
  // The same store seen only through Provider's required members: readBlob streams.
  const streamed = { info: store.info.bind(store), open: store.open.bind(store) };
  const codeOf = async (p: Promise<unknown>): Promise<string | undefined> => p.then(() => undefined, (e: { code?: string }) => e.code);
  const empty = await writeBytes(store, Buffer.alloc(0));
  const small = await writeBytes(store, Buffer.from('{"small":"blob"}'));
  const big = await writeBytes(store, Buffer.alloc(3 << 20, 7));
  for (const d of [empty, small, big]) {
    const fast = await readBlob(store, d, { maxSize: 4 << 20 });
    t.deepEqual(fast, await readBlob(streamed, d, { maxSize: 4 << 20 }));
    t.is(fast.length, d.size);
  }
  const cases: Array<[Parameters<typeof readBlob>[1], number | undefined, string]> = [
    [big, 1 << 20, 'ERR_STORE_SIZE_MISMATCH'], // larger than maxSize
    [{ ...small, size: small.size + 1 }, undefined, 'ERR_STORE_SIZE_MISMATCH'], // not the descriptor's size
    [{ digest: `sha256:${'0'.repeat(64)}` as Digest }, undefined, 'ERR_STORE_NOT_FOUND'],
  ];
  for (const [d, maxSize, code] of cases) {
    t.is(await codeOf(readBlob(store, d, maxSize ? { maxSize } : {})), code);
    t.is(await codeOf(readBlob(streamed, d, maxSize ? { maxSize } : {})), code);
  }
  t.is(await codeOf(store.readSmall!('sha256:nothex' as Digest, 10)), await codeOf(store.info('sha256:nothex' as never)));
  await store.close();
  t.is(await codeOf(readBlob(store, small)), 'ERR_STORE_CLOSED');
});
