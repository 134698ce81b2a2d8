/**
 * The one conformance suite of the store contract, run against every backend
 * (containerd core/content/testsuite). Each backend's test file is ten lines:
 * it calls {@link contentStoreSuite} with a factory.
 */
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseDigest, type Digest } from '@berth/oci-spec';
import {
  writeBlob, readBlob, writeBytes, exportOciLayoutTar, importOciLayoutTar, type ImageStore,
} from '@berth/image-store';
import { collect, bytesOf } from '../helpers/collect.js';
import { sha256, randomStream, randomDigest } from '../helpers/random.js';
import { buildImage, validateImage } from '../helpers/image.js';

/** Makes a fresh, empty store for one test. */
export type StoreFactory = (t: ExecutionContext) => Promise<ImageStore>;

const d = (s: string): Digest => parseDigest(s);

/** Registers the conformance tests for one backend, titled with `name`. */
export function contentStoreSuite(name: string, factory: StoreFactory): void {
  const it = (title: string, fn: (t: ExecutionContext, store: ImageStore) => Promise<void>) =>
    test(`${name}: ${title}`, async (t) => {
      const store = await factory(t);
      try {
        await fn(t, store);
      } finally {
        await store.close();
      }
    });

  const codeOf = async (p: Promise<unknown>): Promise<string | undefined> => {
    try { await p; return undefined; } catch (e) { return (e as { code?: string }).code; }
  };

  it('write, commit, info, open, walk', async (t, store) => {
    const data = Buffer.from('hello content store');
    const w = await store.writer('ref-1');
    t.is(w.offset, 0);
    await w.write(data.subarray(0, 5));
    await w.write(data.subarray(5));
    t.is(w.offset, data.length);
    t.is(w.digest(), sha256(data));
    const info = await w.commit({ size: data.length, digest: d(sha256(data)), labels: { a: '1' } });
    await w.close();
    t.is(info.digest, sha256(data));
    t.is(info.size, data.length);
    const got = await store.info(d(sha256(data)));
    t.is(got.size, data.length);
    t.deepEqual(got.labels, { a: '1' });
    t.deepEqual(await bytesOf(await store.open(d(sha256(data)))), data);
    t.deepEqual((await collect(store.walk())).map((i) => i.digest), [sha256(data)]);
    t.deepEqual(await collect(store.listIngests()), []);
  });

  it('commit batch: staged blobs are checked at once, visible only after commit, in staging order', async (t, store) => {
    const blobs = ['first blob', 'second blob', 'third blob'].map((x) => Buffer.from(x));
    const lease = await store.leases.create();
    const batch = store.commitBatch();
    t.teardown(() => batch.close());
    for (const [i, b] of blobs.entries()) {
      const w = await store.writer(`batch-${i}`, { expected: { digest: sha256(b), size: b.length }, lease: lease.id });
      await w.write(b);
      await batch.stage(w, { size: b.length, digest: sha256(b), labels: { n: String(i) } });
      // Staged: the writer takes no more bytes, the ingest stays held.
      t.is(await codeOf(w.write(b)), 'ERR_STORE_CLOSED');
      t.is(await codeOf(store.writer(`batch-${i}`)), 'ERR_STORE_LOCKED');
    }
    for (const b of blobs) t.is(await codeOf(store.info(sha256(b))), 'ERR_STORE_NOT_FOUND');
    t.deepEqual(await collect(store.walk()), []);
    const infos = await batch.commit();
    t.deepEqual(infos.map((i) => i.digest), blobs.map((b) => sha256(b)));
    t.deepEqual(infos.map((i) => i.labels), [{ n: '0' }, { n: '1' }, { n: '2' }]);
    for (const b of blobs) t.deepEqual(await bytesOf(await store.open(sha256(b))), b);
    t.deepEqual(await collect(store.listIngests()), []);
    // The lease holds them: a GC keeps all three.
    t.deepEqual((await store.gc()).digests, []);
    // The batch takes more after a commit.
    const more = Buffer.from('fourth blob');
    const w = await store.writer('batch-more');
    await w.write(more);
    await batch.stage(w);
    t.deepEqual((await batch.commit()).map((i) => i.digest), [sha256(more)]);
    t.deepEqual(await batch.commit(), []);
    await store.leases.delete(lease.id);
  });

  it('commit batch with a lease: what it publishes is held by that lease', async (t, store) => {
    const held = Buffer.from('held by the batch lease');
    const loose = Buffer.from('committed by a batch without lease');
    const lease = await store.leases.create();
    const withLease = store.commitBatch({ lease: lease.id });
    const without = store.commitBatch();
    t.teardown(async () => { await withLease.close(); await without.close(); });
    const w1 = await store.writer('held');
    await w1.write(held);
    await withLease.stage(w1);
    const w2 = await store.writer('loose');
    await w2.write(loose);
    await without.stage(w2);
    await withLease.commit();
    await without.commit();
    t.deepEqual((await store.gc()).digests, [sha256(loose)]);
    t.is((await store.info(sha256(held))).size, held.length);
    await store.leases.delete(lease.id);
    t.deepEqual((await store.gc()).digests, [sha256(held)]);
  });

  it('commit batch: a bad digest fails its stage and discards its ingest; the others commit', async (t, store) => {
    const good = Buffer.from('good blob');
    const bad = Buffer.from('bad blob');
    const batch = store.commitBatch();
    t.teardown(() => batch.close());
    const w1 = await store.writer('good');
    await w1.write(good);
    await batch.stage(w1, { size: good.length, digest: sha256(good) });
    const w2 = await store.writer('bad');
    await w2.write(bad);
    t.is(await codeOf(batch.stage(w2, { size: bad.length, digest: sha256('something else') })), 'ERR_STORE_DIGEST_MISMATCH');
    const w3 = await store.writer('short');
    await w3.write(bad);
    t.is(await codeOf(batch.stage(w3, { size: bad.length + 1 })), 'ERR_STORE_SHORT_WRITE');
    t.deepEqual((await batch.commit()).map((i) => i.digest), [sha256(good)]);
    t.deepEqual(await collect(store.walk()).then((a) => a.map((i) => i.digest)), [sha256(good)]);
    // The mismatch is gone; the short write stays, resumable.
    t.deepEqual((await collect(store.listIngests())).map((s) => s.ref), ['short']);
  });

  it('commit batch: closed without commit, nothing is visible and the ingests resume', async (t, store) => {
    const b = Buffer.from('staged then dropped');
    const batch = store.commitBatch();
    const w = await store.writer('dropped', { expected: { digest: sha256(b), size: b.length } });
    await w.write(b);
    await batch.stage(w);
    await batch.close();
    await batch.close();
    t.is(await codeOf(batch.commit()), 'ERR_STORE_CLOSED');
    t.is(await codeOf(store.info(sha256(b))), 'ERR_STORE_NOT_FOUND');
    const again = await store.writer('dropped', { expected: { digest: sha256(b), size: b.length } });
    t.is(again.offset, b.length);
    t.is((await again.commit()).digest, sha256(b));
  });

  it('commit batch: a blob committed meanwhile by another writer stays one blob', async (t, store) => {
    const b = Buffer.from('written twice');
    const batch = store.commitBatch();
    t.teardown(() => batch.close());
    const w = await store.writer('twice-a');
    await w.write(b);
    await batch.stage(w, { digest: sha256(b) });
    await writeBytes(store, b);
    const [info] = await batch.commit();
    t.is(info?.digest, sha256(b));
    t.deepEqual((await collect(store.walk())).map((i) => i.digest), [sha256(b)]);
    t.deepEqual(await collect(store.listIngests()), []);
    t.deepEqual(await bytesOf(await store.open(sha256(b))), b);
  });

  it('byte ranges', async (t, store) => {
    const data = Buffer.from('0123456789abcdef');
    const { info } = await writeBlob(store, 'r', data, { digest: d(sha256(data)), size: data.length });
    t.is((await bytesOf(await store.open(info.digest, { offset: 4, length: 3 }))).toString(), '456');
    t.is((await bytesOf(await store.open(info.digest, { offset: 10 }))).toString(), 'abcdef');
    t.is((await bytesOf(await store.open(info.digest, { offset: 16 }))).length, 0);
    t.is(await codeOf(store.open(info.digest, { offset: 17 })), 'ERR_STORE_INVALID_RANGE');
    t.is(await codeOf(store.open(info.digest, { offset: 10, length: 7 })), 'ERR_STORE_INVALID_RANGE');
  });

  it('absent content and bad digests are typed errors', async (t, store) => {
    const absent = d(sha256('absent'));
    t.is(await codeOf(store.info(absent)), 'ERR_STORE_NOT_FOUND');
    t.is(await codeOf(store.open(absent)), 'ERR_STORE_NOT_FOUND');
    t.is(await codeOf(store.delete(absent)), 'ERR_STORE_NOT_FOUND');
    t.is(await codeOf(store.status('nope')), 'ERR_STORE_NOT_FOUND');
    t.is(await codeOf(store.abort('nope')), 'ERR_STORE_NOT_FOUND');
    t.is(await codeOf(store.info('sha256:xyz' as Digest)), 'ERR_STORE_INVALID_DIGEST');
    t.is(await codeOf(store.writer('')), 'ERR_STORE_INVALID_INGEST_REF');
  });

  it('nothing is visible before commit', async (t, store) => {
    const data = Buffer.from('not yet');
    const w = await store.writer('pending', { expected: { digest: d(sha256(data)), size: data.length } });
    await w.write(data);
    t.is(await codeOf(store.info(d(sha256(data)))), 'ERR_STORE_NOT_FOUND');
    t.deepEqual(await collect(store.walk()), []);
    const st = await store.status('pending');
    t.is(st.offset, data.length);
    t.is(st.total, data.length);
    t.is(st.expected, sha256(data));
    t.deepEqual((await collect(store.listIngests())).map((s) => s.ref), ['pending']);
    await w.commit();
    t.is((await store.info(d(sha256(data)))).size, data.length);
  });

  it('digest mismatch: typed error, no blob, verify passes', async (t, store) => {
    const w = await store.writer('bad-digest');
    await w.write(Buffer.from('actual bytes'));
    const e = await t.throwsAsync(w.commit({ size: 12, digest: d(sha256('other bytes!')) }));
    t.is((e as { code?: string }).code, 'ERR_STORE_DIGEST_MISMATCH');
    t.is((e as { kind?: string }).kind, 'data-loss');
    t.is(await codeOf(store.info(d(sha256('other bytes!')))), 'ERR_STORE_NOT_FOUND');
    t.is(await codeOf(store.info(d(sha256('actual bytes')))), 'ERR_STORE_NOT_FOUND');
    t.deepEqual(await collect(store.walk()), []);
    t.deepEqual(await collect(store.listIngests()), []);
    const v = await store.verify();
    t.deepEqual(v.corrupt, []);
  });

  it('short write: typed error, no blob, verify passes, ingest resumes', async (t, store) => {
    const data = Buffer.from('0123456789');
    const w = await store.writer('short');
    await w.write(data.subarray(0, 6));
    t.is(await codeOf(w.commit({ size: 10, digest: d(sha256(data)) })), 'ERR_STORE_SHORT_WRITE');
    t.is(await codeOf(store.info(d(sha256(data)))), 'ERR_STORE_NOT_FOUND');
    t.deepEqual(await collect(store.walk()), []);
    t.deepEqual((await store.verify()).corrupt, []);
    const w2 = await store.writer('short');
    t.is(w2.offset, 6);
    await w2.write(data.subarray(6));
    await w2.commit({ size: 10, digest: d(sha256(data)) });
    t.deepEqual(await bytesOf(await store.open(d(sha256(data)))), data);
  });

  it('size mismatch: typed error, no blob, verify passes', async (t, store) => {
    const data = Buffer.from('too many bytes here');
    const w = await store.writer('too-long');
    await w.write(data);
    t.is(await codeOf(w.commit({ size: 5, digest: d(sha256(data)) })), 'ERR_STORE_SIZE_MISMATCH');
    t.is(await codeOf(store.info(d(sha256(data)))), 'ERR_STORE_NOT_FOUND');
    t.deepEqual(await collect(store.walk()), []);
    t.deepEqual(await collect(store.listIngests()), []);
    t.deepEqual((await store.verify()).corrupt, []);
  });

  it('commit to a sha512 digest after sha256 hashing: bytes are hashed again; a wrong one is a digest mismatch', async (t, store) => {
    const data = Buffer.from('bytes committed under sha512');
    const sha512 = d(`sha512:${createHash('sha512').update(data).digest('hex')}`);
    const w = await store.writer('sha512-ok');
    await w.write(data);
    t.is((await w.commit({ size: data.length, digest: sha512 })).digest, sha512);
    t.deepEqual(await bytesOf(await store.open(sha512)), data);
    const wrong = d(`sha512:${createHash('sha512').update('other bytes').digest('hex')}`);
    const w2 = await store.writer('sha512-wrong');
    await w2.write(data);
    t.is(await codeOf(w2.commit({ size: data.length, digest: wrong })), 'ERR_STORE_DIGEST_MISMATCH');
    t.is(await codeOf(store.info(wrong)), 'ERR_STORE_NOT_FOUND');
    t.deepEqual(await collect(store.listIngests()), []);
  });

  it('existing content: writer says already exists, writeBlob succeeds', async (t, store) => {
    const data = Buffer.from('dup');
    const desc = { digest: d(sha256(data)), size: 3 };
    t.true((await writeBlob(store, 'a', data, desc)).written);
    t.is(await codeOf(store.writer('b', { expected: desc })), 'ERR_STORE_ALREADY_EXISTS');
    t.false((await writeBlob(store, 'b', data, desc)).written);
    const w = await store.writer('c');
    await w.write(data);
    t.is(await codeOf(w.commit({ size: 3, digest: desc.digest })), 'ERR_STORE_ALREADY_EXISTS');
    t.is((await collect(store.walk())).length, 1);
    t.deepEqual(await collect(store.listIngests()), []);
  });

  it('one writer per ingest ref; close keeps the ingest for resume', async (t, store) => {
    const w = await store.writer('busy');
    await w.write(Buffer.from('abc'));
    t.is(await codeOf(store.writer('busy')), 'ERR_STORE_LOCKED');
    t.is(await codeOf(store.abort('busy')), 'ERR_STORE_LOCKED');
    await w.close();
    await w.close();
    t.is(await codeOf(w.write(Buffer.from('x'))), 'ERR_STORE_CLOSED');
    const w2 = await store.writer('busy');
    t.is(w2.offset, 3);
    t.is(w2.digest(), sha256('abc'));
    await w2.close();
    await store.abort('busy');
    t.deepEqual(await collect(store.listIngests()), []);
    const w3 = await store.writer('busy');
    t.is(w3.offset, 0);
    await w3.close();
  });

  it('two writers of one digest at once leave one good blob', async (t, store) => {
    const size = 3 << 20;
    const digest = d(randomDigest(size, 'same'));
    const results = await Promise.allSettled([1, 2, 3].map(async (i) => {
      const w = await store.writer(`same-${i}`);
      try {
        await w.copyFrom(randomStream(size, 'same', 65536 * i));
        return await w.commit({ size, digest });
      } finally {
        await w.close();
      }
    }));
    const codes = results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code?: string }).code));
    t.is(codes.filter((c) => c === 'ok').length, 1, codes.join(','));
    t.is(codes.filter((c) => c === 'ERR_STORE_ALREADY_EXISTS').length, 2);
    t.deepEqual((await collect(store.walk())).map((i) => i.digest), [digest]);
    t.deepEqual((await store.verify()).corrupt, []);
    t.deepEqual(await collect(store.listIngests()), []);
  });

  it('a writer as a Writable in a pipeline', async (t, store) => {
    const size = (5 << 20) + 123;
    const w = await store.writer('piped');
    await pipeline(Readable.from(randomStream(size, 'piped', 100000)), w.writable());
    t.is(w.offset, size);
    const info = await w.commit({ size, digest: randomDigest(size, 'piped') });
    t.is(info.size, size);
    t.deepEqual((await store.verify()).corrupt, []);
  });

  it('gc follows containerd.io/gc.ref.content labels', async (t, store) => {
    const child = await writeBytes(store, Buffer.from('child'));
    const parent = await writeBytes(store, Buffer.from('parent'), { labels: { 'containerd.io/gc.ref.content.0': child.digest } });
    const lease = await store.leases.create({ id: 'p' });
    await store.leases.addResource(lease.id, { type: 'content', digest: parent.digest });
    t.deepEqual((await store.gc()).digests, []);
    await store.leases.delete('p');
    t.deepEqual([...(await store.gc()).digests].sort(), [child.digest, parent.digest].sort());
  });

  it('empty blob, and commit without a digest uses what was written', async (t, store) => {
    const w = await store.writer('empty');
    const info = await w.commit({ size: 0 });
    t.is(info.digest, sha256(''));
    t.is((await bytesOf(await store.open(info.digest))).length, 0);
  });

  it('labels: update by fieldpath, walk filter', async (t, store) => {
    const a = await writeBytes(store, Buffer.from('a'), { labels: { keep: 'yes', role: 'x' } });
    const b = await writeBytes(store, Buffer.from('b'));
    let info = await store.update({ digest: b.digest, labels: { role: 'y' } }, ['labels.role']);
    t.deepEqual(info.labels, { role: 'y' });
    info = await store.update({ digest: a.digest, labels: {} }, ['labels.keep']);
    t.deepEqual(info.labels, { role: 'x' });
    t.deepEqual((await collect(store.walk({ labels: { role: 'y' } }))).map((i) => i.digest), [b.digest]);
    t.is((await collect(store.walk({ labels: { role: '' } }))).length, 2);
    info = await store.update({ digest: a.digest, labels: { z: '1' } });
    t.deepEqual(info.labels, { z: '1' });
  });

  it('delete removes the blob', async (t, store) => {
    const a = await writeBytes(store, Buffer.from('gone soon'));
    await store.delete(a.digest);
    t.is(await codeOf(store.info(a.digest)), 'ERR_STORE_NOT_FOUND');
    t.is(await codeOf(store.delete(a.digest)), 'ERR_STORE_NOT_FOUND');
  });

  it('abort signals cancel', async (t, store) => {
    const ac = new AbortController();
    ac.abort();
    t.is(await codeOf(store.writer('x', { signal: ac.signal })), 'ERR_CANCELLED');
    const w = await store.writer('y');
    t.is(await codeOf(w.copyFrom(randomStream(1 << 20, 'c', 4096), { signal: ac.signal })), 'ERR_CANCELLED');
    await w.close();
  });

  it('image index: tag, resolve, list, untag, normalized names', async (t, store) => {
    const img = await buildImage(store);
    await validateImage(store, img.manifest);
    const tagged = await store.images.tag('busybox', img.manifest);
    t.is(tagged.name, 'docker.io/library/busybox:latest');
    await store.images.tag('registry.example.com:5000/team/app:1.0', img.manifest);
    t.is((await store.images.resolve('docker.io/library/busybox')).target.digest, img.manifest.digest);
    t.is((await store.images.resolve('busybox:latest')).name, 'docker.io/library/busybox:latest');
    t.deepEqual((await store.images.list()).map((i) => i.name), ['docker.io/library/busybox:latest', 'registry.example.com:5000/team/app:1.0']);
    const other = await buildImage(store, { layers: [{ 'b.txt': 'b' }] });
    await store.images.tag('busybox', other.manifest);
    t.is((await store.images.resolve('busybox')).target.digest, other.manifest.digest);
    t.is((await store.images.list()).length, 2);
    // Sorted by code units, as Docker sorts bytes: 'Z' (0x5a) before 'a' (0x61), unlike locale collation.
    await store.images.tag('busybox:alpha', img.manifest);
    await store.images.tag('busybox:Zeta', img.manifest);
    t.deepEqual((await store.images.list()).map((i) => i.name),
      ['docker.io/library/busybox:Zeta', 'docker.io/library/busybox:alpha', 'docker.io/library/busybox:latest', 'registry.example.com:5000/team/app:1.0']);
    await store.images.untag('busybox:alpha');
    await store.images.untag('busybox:Zeta');
    await store.images.untag('busybox');
    t.is(await codeOf(store.images.resolve('busybox')), 'ERR_STORE_NOT_FOUND');
    t.is(await codeOf(store.images.untag('busybox')), 'ERR_STORE_NOT_FOUND');
    t.is(await codeOf(store.images.tag('Bad Name!', img.manifest)), 'ERR_STORE_INVALID_REF');
  });

  it('gc keeps what images, leases and root providers reach, frees the rest', async (t, store) => {
    const kept = await buildImage(store, { layers: [{ a: 'a' }, { b: 'b' }] });
    await store.images.tag('kept', kept.manifest);
    const leased = await buildImage(store, { layers: [{ c: 'c' }] });
    const lease = await store.leases.create({ id: 'pull-1' });
    await store.leases.addResource(lease.id, { type: 'content', digest: leased.manifest.digest });
    const rooted = await writeBytes(store, Buffer.from('snapshot content'));
    store.addRootProvider(async function* () { yield rooted.digest; });
    const garbage = await buildImage(store, { layers: [{ g: 'garbage' }] });
    const expiring = await store.leases.create({ id: 'old', expiresInMs: -1 });
    const loose = await writeBytes(store, Buffer.from('loose'));
    await store.leases.addResource(expiring.id, { type: 'content', digest: loose.digest });

    const dry = await store.gc({ dryRun: true });
    t.is(dry.digests.length, 4);
    t.is((await collect(store.walk())).length, 4 + 3 + 1 + 3 + 1);

    const r = await store.gc();
    const freed = [garbage.manifest, garbage.config, ...garbage.layers].map((x) => x.digest as string).concat(loose.digest).sort();
    t.deepEqual([...r.digests].sort(), freed);
    t.is(r.bytes, garbage.manifest.size + garbage.config.size + garbage.layers[0]!.size + loose.size);
    t.deepEqual(r.leases, ['old']);
    await validateImage(store, kept.manifest);
    await validateImage(store, leased.manifest);
    t.is((await store.info(rooted.digest)).size, rooted.size);

    await store.leases.delete('pull-1');
    const r2 = await store.gc();
    t.is(r2.digests.length, 3);
    t.is(await codeOf(store.info(leased.manifest.digest)), 'ERR_STORE_NOT_FOUND');
    t.deepEqual((await store.verify()).corrupt, []);
  });

  it('a blob committed under a lease survives gc; the lease holds the ingest while open', async (t, store) => {
    const lease = await store.leases.create({ id: 'build' });
    const w = await store.writer('layer', { lease: lease.id });
    await w.write(Buffer.from('layer bytes'));
    t.deepEqual((await store.leases.list())[0]!.ingests, ['layer']);
    await store.gc({ ingestMaxAgeMs: 0 });
    const info = await w.commit();
    await store.gc({ ingestMaxAgeMs: 0 });
    t.is((await store.info(info.digest)).size, 11);
    const l = (await store.leases.list())[0]!;
    t.deepEqual(l.digests, [info.digest]);
    t.deepEqual(l.ingests, []);
    t.is(await codeOf(store.leases.create({ id: 'build' })), 'ERR_STORE_ALREADY_EXISTS');
    t.is(await codeOf(store.leases.delete('nope')), 'ERR_STORE_NOT_FOUND');
  });

  it('gc running alongside writers: content committed under a lease survives', async (t, store) => {
    const lease = await store.leases.create({ id: 'concurrent' });
    const garbage = await writeBytes(store, Buffer.from('collect me'));
    const writes = Array.from({ length: 6 }, async (_, i) => {
      const data = Buffer.from(`blob ${i} `.repeat(1000 * (i + 1)));
      return (await writeBlob(store, `w-${i}`, data, { digest: d(sha256(data)), size: data.length }, { lease: lease.id })).info.digest;
    });
    const gcs = [store.gc(), store.gc(), store.gc()];
    const digests = await Promise.all(writes);
    const results = await Promise.all(gcs);
    for (const digest of digests) t.truthy(await store.info(digest));
    t.true(results.some((r) => r.digests.includes(garbage.digest)));
    t.false(results.some((r) => r.digests.some((x) => digests.includes(x))));
    // An existing blob opened for writing under another lease joins that lease.
    const other = await store.leases.create({ id: 'second' });
    const data0 = Buffer.from(`blob 0 `.repeat(1000));
    t.false((await writeBlob(store, 'again', data0, { digest: d(sha256(data0)), size: data0.length }, { lease: other.id })).written);
    await store.leases.delete('concurrent');
    await store.gc();
    t.truthy(await store.info(d(sha256(data0))));
    t.is(await codeOf(store.info(digests[1]!)), 'ERR_STORE_NOT_FOUND');
  });

  it('gc removes stale unleased ingests when asked', async (t, store) => {
    const w = await store.writer('abandoned');
    await w.write(Buffer.from('x'));
    await w.close();
    t.deepEqual((await store.gc()).ingests, []);
    t.deepEqual((await store.gc({ ingestMaxAgeMs: 0 })).ingests, ['abandoned']);
    t.deepEqual(await collect(store.listIngests()), []);
  });

  it('OCI layout tar export and import round trip', async (t, store) => {
    const a = await buildImage(store, { layers: [{ a: 'a' }, { 'dir/b': 'b' }] });
    const b = await buildImage(store, { layers: [{ c: 'c' }], gzip: false });
    await store.images.tag('example.com/a:1', a.manifest);
    await store.images.tag('example.com/b:2', b.manifest);
    const tar = await bytesOf(exportOciLayoutTar(store, ['example.com/a:1', 'example.com/b:2']));
    const target = await factory(t);
    const imported = await importOciLayoutTar(target, Readable.from([tar]));
    t.deepEqual(imported.map((i) => i.name).sort(), ['example.com/a:1', 'example.com/b:2']);
    await validateImage(target, (await target.images.resolve('example.com/a:1')).target);
    await validateImage(target, (await target.images.resolve('example.com/b:2')).target);
    t.deepEqual(await target.leases.list(), []);
    t.deepEqual(await readBlob(target, a.manifest), await readBlob(store, a.manifest));
    await target.close();
  });
}
