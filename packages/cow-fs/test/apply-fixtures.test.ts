/**
 * Every fixture image's layers applied by berth (directly, and through the
 * overlay snapshotter) equal `umoci unpack` of the same image, compared by a
 * tree walk. zstd and Docker variants, which umoci cannot read, are compared
 * with umoci's unpack of the OCI gzip variant of the same image.
 */
import fs from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import { applyLayer, applyLayerToMounts, openOverlaySnapshotter } from '@berth/cow-fs';
import { fixture, listFixtures } from '@berth/testkit';
import { isNativeGunzipAvailable, isNativeZstdAvailable } from '@berth/namespaces';
import { fixtureLayers, umociUnpack } from './helpers/fixtures.js';
import { compareTrees, readTree, type TreeEntry } from './helpers/tree.js';
import { isRoot, tmp } from './helpers/temp.js';
import { withMount } from './suite/snapshotter.js';

const t0 = isRoot ? test.serial : test.skip;
const references = new Map<string, Map<string, TreeEntry>>();

async function reference(t: ExecutionContext, name: string): Promise<Map<string, TreeEntry>> {
  let r = references.get(name);
  if (r === undefined) {
    const dir = await tmp(t, 'cowfs-umoci-');
    r = readTree(umociUnpack(fixture(name, 'oci-gzip'), `${dir}/bundle`));
    references.set(name, r);
  }
  return r;
}

for (const f of listFixtures()) {
  t0(`${f.name} ${f.variant} (root): applyLayer of every layer equals umoci unpack`, async (t) => {
    const ref = await reference(t, f.name);
    const dir = await tmp(t);
    const layers = fixtureLayers(f);
    t.true(layers.length > 0);
    for (const l of layers) {
      const r = await applyLayer(dir, fs.createReadStream(l.path));
      t.is(r.compression, l.mediaType.endsWith('zstd') ? 'zstd' : 'gzip');
    }
    t.deepEqual(compareTrees(ref, readTree(dir)), []);
  });
}

for (const variant of ['oci-gzip', 'oci-zstd'] as const) {
  t0(`multilayer ${variant} (root): overlay snapshots of the layers, mounted, equal umoci unpack`, async (t) => {
    const f = fixture('multilayer', variant);
    const ref = await reference(t, 'multilayer');
    const base = await tmp(t);
    const sn = await openOverlaySnapshotter(`${base}/root`);
    t.teardown(() => sn.close());
    let parent: string | undefined;
    for (const [i, l] of fixtureLayers(f).entries()) {
      const m = await sn.prepare(`extract-${i}`, parent);
      await applyLayerToMounts(m, fs.createReadStream(l.path));
      await sn.commit(`layer-${i}`, `extract-${i}`);
      parent = `layer-${i}`;
    }
    const view = await sn.view('check', parent);
    const got = await withMount(base, view, (d) => readTree(d));
    t.deepEqual(compareTrees(ref, got), []);
  });
}

t0('multilayer oci-zstd (root): the fzstd decoder gives the same diffIds as the zstd CLI', async (t) => {
  const f = fixture('multilayer', 'oci-zstd');
  for (const l of fixtureLayers(f).slice(0, 2)) {
    const a = await applyLayer(await tmp(t), fs.createReadStream(l.path), { zstdDecoder: 'fzstd', sync: false });
    const b = await applyLayer(await tmp(t), fs.createReadStream(l.path), { zstdDecoder: 'cli', sync: false });
    t.is(a.diffId, b.diffId);
    t.is(a.compression, 'zstd');
  }
});

t0('multilayer oci-zstd (root): the libzstd decoder gives the same trees, diffIds and sizes as the zstd CLI; auto picks it when usable', async (t) => {
  const f = fixture('multilayer', 'oci-zstd');
  const dirs = { cli: await tmp(t), native: await tmp(t) };
  for (const l of fixtureLayers(f)) {
    const c = await applyLayer(dirs.cli, fs.createReadStream(l.path), { zstdDecoder: 'cli', sync: false });
    t.is(c.decoder, 'zstd-cli');
    if (!isNativeZstdAvailable()) {
      await t.throwsAsync(applyLayer(await tmp(t), fs.createReadStream(l.path), { zstdDecoder: 'native', sync: false }), { code: 'ERR_LAYER_UNSUPPORTED_COMPRESSION' });
      continue;
    }
    const n = await applyLayer(dirs.native, fs.createReadStream(l.path), { sync: false });
    t.is(n.decoder, 'libzstd');
    t.deepEqual({ ...n, decoder: 'zstd-cli' }, c);
  }
  if (isNativeZstdAvailable()) t.deepEqual(compareTrees(readTree(dirs.cli), readTree(dirs.native)), []);
});

const isal = isNativeGunzipAvailable();

t0('multilayer oci-gzip (root): the ISA-L and zlib gzip decoders give the same trees, diffIds and sizes; auto picks ISA-L when usable', async (t) => {
  const f = fixture('multilayer', 'oci-gzip');
  const dirs = { zlib: await tmp(t), isal: await tmp(t), auto: await tmp(t) };
  for (const l of fixtureLayers(f)) {
    const z = await applyLayer(dirs.zlib, fs.createReadStream(l.path), { gzipDecoder: 'zlib', sync: false });
    t.is(z.decoder, 'zlib');
    if (!isal) {
      await t.throwsAsync(applyLayer(await tmp(t), fs.createReadStream(l.path), { gzipDecoder: 'isal', sync: false }), { code: 'ERR_LAYER_UNSUPPORTED_COMPRESSION' });
      continue;
    }
    const i = await applyLayer(dirs.isal, fs.createReadStream(l.path), { gzipDecoder: 'isal', sync: false });
    t.is(i.decoder, 'isal');
    t.deepEqual({ ...i, decoder: 'zlib' }, z);
    const auto = await applyLayer(dirs.auto, fs.createReadStream(l.path), { sync: false });
    t.is(auto.decoder, 'isal');
  }
  if (isal) t.deepEqual(compareTrees(readTree(dirs.zlib), readTree(dirs.isal)), []);
});

t0('BERTH_GZIP_DECODER=zlib makes the default decoder zlib; an async iterable source takes either path', async (t) => {
  const l = fixtureLayers(fixture('multilayer', 'oci-gzip'))[0]!;
  const chunks = async function* (): AsyncGenerator<Buffer> { yield* fs.createReadStream(l.path, { highWaterMark: 4096 }); };
  const ref = await applyLayer(await tmp(t), fs.createReadStream(l.path), { gzipDecoder: 'zlib', sync: false });
  const saved = process.env.BERTH_GZIP_DECODER;
  process.env.BERTH_GZIP_DECODER = 'zlib';
  try {
    const z = await applyLayer(await tmp(t), chunks(), { sync: false });
    t.is(z.decoder, 'zlib');
    t.is(z.diffId, ref.diffId);
  } finally {
    if (saved === undefined) delete process.env.BERTH_GZIP_DECODER; else process.env.BERTH_GZIP_DECODER = saved;
  }
  const a = await applyLayer(await tmp(t), chunks(), { sync: false });
  t.is(a.decoder, isal ? 'isal' : 'zlib');
  t.is(a.diffId, ref.diffId);
  t.is(a.compressedSize, ref.compressedSize);
});
