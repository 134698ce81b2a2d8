import test, { type ExecutionContext } from 'ava';
import dc from 'node:diagnostics_channel';
import fs from 'node:fs';
import path from 'node:path';
import { fixture, type TestRegistry } from '@berth/testkit';
import { openLocalImageService, type ImageProgress } from '@berth/engine';
import { openCopySnapshotter } from '@berth/cow-fs';
import { exists, multilayerProblems, openImages, withRootfs, startSeededRegistry } from './helpers/images-env.js';
import { isRoot, tempDir } from './helpers/tmp.js';

const serial = isRoot ? test.serial : test.skip;
let reg: TestRegistry;

test.before(async () => { if (isRoot) reg = await startSeededRegistry(); });
test.after.always(async () => { await reg?.close(); });

for (const variant of ['oci-gzip', 'oci-zstd', 'docker-gzip', 'oci-index', 'docker-manifest-list'] as const) {
  serial(`pull busybox:${variant} unpacks /bin/busybox into the chainId snapshot (root, overlayfs)`, async (t) => {
    const { images, close } = await openImages();
    t.teardown(close);
    const f = fixture('busybox', variant);
    const ref = `${reg.host}/${f.repo}:${f.tag}`;
    const progress: ImageProgress[] = [];
    const r = await images.pull(ref, { onProgress: (p) => progress.push(p) });
    t.is(r.name, ref);
    t.is(r.digest, f.digest);
    t.truthy(r.chainId);
    const img = await images.resolveImage(ref);
    t.is(img.config.architecture, 'amd64');
    t.is(img.chainIds.at(-1), r.chainId);
    await withRootfs(images, r.chainId!, (dir) => {
      t.true(exists(path.join(dir, 'bin/busybox')));
      t.is(fs.readlinkSync(path.join(dir, 'bin/sh')), '/bin/busybox');
      t.false(exists(path.join(dir, 'etc/berth-platform')), 'the amd64 image, not the arm64 one');
    });
    const layerIds = new Set(progress.filter((p) => p.status === 'Pull complete').map((p) => p.id));
    t.is(layerIds.size, 1);
    t.true(progress.some((p) => p.status === 'Downloading' && p.progressDetail?.total !== undefined));
    t.true(progress.some((p) => p.status === 'Extracting'));
    t.true(progress.some((p) => p.status === 'Download complete'));
  });
}

for (const variant of ['oci-gzip', 'oci-zstd', 'docker-gzip'] as const) {
  serial(`pull multilayer:${variant}: whiteouts, opaque dirs, hardlinks as the fixture documents (root, overlayfs)`, async (t) => {
    const { images, close } = await openImages();
    t.teardown(close);
    const f = fixture('multilayer', variant);
    const ref = `${reg.host}/${f.repo}:${f.tag}`;
    const progress: ImageProgress[] = [];
    const r = await images.pull(ref, { onProgress: (p) => progress.push(p) });
    const problems = await withRootfs(images, r.chainId!, (dir) => multilayerProblems(dir));
    t.deepEqual(problems, []);
    // One "Pull complete" per layer, each after that layer's "Download complete".
    const complete = progress.filter((p) => p.status === 'Pull complete').map((p) => p.id);
    t.is(complete.length, 4);
    for (const id of complete) {
      const dl = progress.findIndex((p) => p.id === id && p.status === 'Download complete');
      const pc = progress.findIndex((p) => p.id === id && p.status === 'Pull complete');
      t.true(dl >= 0 && dl < pc);
    }
    const inspect = await images.inspect(ref);
    t.is(inspect.RootFS.Layers.length, 4);
    t.is((inspect.Config as { WorkingDir?: string }).WorkingDir, '/data');
  });
}

serial('a second pull of the same image reports it up to date and downloads nothing (root)', async (t) => {
  const { images, close } = await openImages();
  t.teardown(close);
  const ref = `${reg.host}/busybox:oci-gzip`;
  await images.pull(ref);
  const progress: ImageProgress[] = [];
  const r = await images.pull(ref, { onProgress: (p) => progress.push(p) });
  t.false(r.downloaded);
  t.false(progress.some((p) => p.status === 'Downloading'));
  t.true(progress.some((p) => p.status === 'Already exists'));
  t.true(progress.some((p) => p.status.startsWith('Status: Image is up to date')));
});

serial('zstd and gzip variants of one image share the unpacked snapshots (same chainIds) (root)', async (t) => {
  const { images, close } = await openImages();
  t.teardown(close);
  const a = await images.pull(`${reg.host}/busybox:oci-gzip`);
  const progress: ImageProgress[] = [];
  const b = await images.pull(`${reg.host}/busybox:oci-zstd`, { onProgress: (p) => progress.push(p) });
  t.is(a.chainId, b.chainId);
  t.false(progress.some((p) => p.status === 'Extracting'));
});

for (const feedLimitBytes of [0, 64 * 1024]) {
  serial(`unpacking ${feedLimitBytes ? 'with a small in-memory feed (backpressure)' : 'from the stored blobs only'} gives the same multilayer tree (root)`, async (t) => {
    const { images, close } = await openImages({ feedLimitBytes });
    t.teardown(close);
    const r = await images.pull(`${reg.host}/multilayer:oci-zstd`);
    t.deepEqual(await withRootfs(images, r.chainId!, (dir) => multilayerProblems(dir)), []);
  });
}

serial('pull by digest (name@sha256:…) stores the image under that reference; inspect shows the RepoDigest (root)', async (t) => {
  const { images, close } = await openImages();
  t.teardown(close);
  const f = fixture('busybox', 'oci-index');
  const ref = `${reg.host}/busybox@${f.digest}`;
  const r = await images.pull(ref);
  t.is(r.digest, f.digest);
  const inspect = await images.inspect(ref);
  t.is(inspect.Id, r.id);
  t.deepEqual(inspect.RepoDigests, [`${reg.host}/busybox@${f.digest}`]);
  t.deepEqual(inspect.RepoTags, []);
  t.is((await images.inspect(r.id.slice(7, 19))).Id, r.id);
});

serial('with one download at a time, the other layers report Waiting, then each is pulled (root)', async (t) => {
  const images = await openLocalImageService({ root: await tempDir('berth-images-'), concurrency: 1, platform: { os: 'linux', architecture: 'amd64' } });
  t.teardown(() => images.close());
  const progress: ImageProgress[] = [];
  await images.pull(`${reg.host}/multilayer:oci-gzip`, { onProgress: (p) => progress.push(p) });
  t.is(progress.filter((p) => p.status === 'Waiting').length, 3);
  t.is(progress.filter((p) => p.status === 'Pull complete').length, 4);
});

serial('overlay: every layer is prepared (over its still-active parent) before the first commit; commits follow in layer order and leave no key behind; the copy backend unpacks one by one to the same tree (root, overlayfs)', async (t) => {
  const events: Array<{ event: string; root: string; key: string; name?: string }> = [];
  const onEvent = (m: unknown): void => { events.push(m as (typeof events)[number]); };
  dc.subscribe('berth:cow-fs:snapshot', onEvent);
  t.teardown(() => { dc.unsubscribe('berth:cow-fs:snapshot', onEvent); });
  const { images, root, close } = await openImages();
  t.teardown(close);
  const r = await images.pull(`${reg.host}/multilayer:oci-gzip`);
  const mine = events.filter((e) => e.root.startsWith(fs.realpathSync(root)));
  const prepares = mine.filter((e) => e.event === 'prepare');
  const commits = mine.filter((e) => e.event === 'commit');
  t.is(prepares.length, 4);
  t.is(commits.length, 4);
  // Concurrent: all four snapshots existed before any was committed.
  t.true(mine.indexOf(prepares[3]!) < mine.indexOf(commits[0]!));
  // In layer order: each commit's key is the one prepared at the same position; the last is the image's chainId.
  t.deepEqual(commits.map((c) => c.key), prepares.map((p) => p.key));
  t.is(commits[3]!.name, r.chainId);
  // The rebase at commit: every parent is a committed name, no extract key is left.
  const names = new Set<string>();
  const parents: Array<string | undefined> = [];
  for await (const s of images.snapshotter.walk()) {
    t.is(s.kind, 'committed');
    names.add(s.name);
    parents.push(s.parent);
  }
  for (const p of parents) t.true(p === undefined || names.has(p));
  t.deepEqual(await withRootfs(images, r.chainId!, (dir) => multilayerProblems(dir)), []);

  // The copy backend cannot prepare over an active parent: it unpacks one layer after another.
  const copyRoot = await tempDir('berth-images-copy-');
  const copy = await openLocalImageService({
    root: copyRoot, snapshotter: await openCopySnapshotter(path.join(copyRoot, 'snapshots', 'copy')), platform: { os: 'linux', architecture: 'amd64' },
  });
  t.teardown(() => copy.close());
  events.length = 0;
  const rc = await copy.pull(`${reg.host}/multilayer:oci-gzip`);
  t.is(rc.chainId, r.chainId);
  const seq = events.filter((e) => e.root.startsWith(fs.realpathSync(copyRoot))).map((e) => e.event);
  t.deepEqual(seq, ['prepare', 'commit', 'prepare', 'commit', 'prepare', 'commit', 'prepare', 'commit']);
  t.deepEqual(await withRootfs(copy, rc.chainId!, (dir) => multilayerProblems(dir)), []);
});

/** Two image services on one root (as two CLI processes open it), closed at teardown, and the multilayer fixture's reference. */
async function twoServicesOnOneRoot(t: ExecutionContext) {
  const a = await openImages();
  const b = await openImages({ root: a.root });
  t.teardown(async () => { await a.close(); await b.close(); });
  const f = fixture('multilayer', 'oci-gzip');
  return { a, b, f, ref: `${reg.host}/${f.repo}:${f.tag}` };
}

serial('an image prune in another service on the same root (another CLI process) while a pull runs keeps the layers the pull has unpacked but not tagged yet (their snapshots name its live lease) (root, overlayfs)', async (t) => {
  const { a, b, f, ref } = await twoServicesOnOneRoot(t);
  let pulling = true;
  let prunes = 0;
  const pruner = (async () => {
    while (pulling) {
      // Dangling images only: the pulled image, once tagged, is never its target, but its layers are unused until then.
      await b.images.prune();
      prunes++;
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  let r;
  try {
    r = await a.images.pull(ref);
  } finally {
    pulling = false;
    await pruner;
  }
  t.true(prunes > 0);
  // Every layer of the pulled image is still unpacked: the tree is whole.
  t.deepEqual(await withRootfs(a.images, r.chainId!, (dir) => multilayerProblems(dir)), []);
  const img = await a.images.resolveImage(ref);
  for (const c of img.chainIds) t.is((await a.images.snapshotter.stat(c)).kind, 'committed');
  // Once tagged (its lease gone), the image's own name keeps them.
  await b.images.prune();
  t.deepEqual(await withRootfs(a.images, r.chainId!, (dir) => multilayerProblems(dir)), []);
});

serial('a pull that finds its layers unpacked keeps them while another service removes the image they came from (a CLI rmi beside a pull of an image sharing them) (root, overlayfs)', async (t) => {
  const a = await openImages();
  const b = await openImages({ root: a.root });
  t.teardown(async () => { await a.close(); await b.close(); });
  const gzip = `${reg.host}/busybox:oci-gzip`;
  const first = await a.images.pull(gzip);
  // The zstd variant has the same chainIds: its pull finds them unpacked. Right after it looked, the other service
  // removes the gzip image, the only one naming those snapshots, and collects what no image or live pull holds.
  const sn = a.images.snapshotter;
  const stat = sn.stat.bind(sn);
  let removal: Promise<unknown> | undefined;
  sn.stat = async (key, o) => {
    const r = await stat(key, o);
    if (key === first.chainId && removal === undefined) removal = b.images.remove(gzip);
    return r;
  };
  t.teardown(() => { sn.stat = stat; });
  const zstd = await a.images.pull(`${reg.host}/busybox:oci-zstd`);
  t.truthy(removal, 'the removal ran while the pull was on');
  t.true((await removal!.then((items) => items as Array<Record<string, string>>)).some((i) => 'Deleted' in i), 'the gzip image went');
  t.is(zstd.chainId, first.chainId);
  t.is((await stat(zstd.chainId!)).kind, 'committed', 'its layer snapshot is still there');
  t.true(await withRootfs(a.images, zstd.chainId!, (dir) => exists(`${dir}/bin/busybox`)));
});

serial('two image services on one root (two CLI processes) pull the same image at once: one waits for the writers of the other, both succeed, the tree is right, no ingest is left (root, overlayfs)', async (t) => {
  const { a, b, f, ref } = await twoServicesOnOneRoot(t);
  const [ra, rb] = await Promise.all([a.images.pull(ref), b.images.pull(ref)]);
  t.is(ra.digest, f.digest);
  t.is(rb.digest, f.digest);
  t.is(ra.chainId, rb.chainId);
  for (const images of [a.images, b.images]) {
    t.deepEqual(await withRootfs(images, ra.chainId!, (dir) => multilayerProblems(dir)), []);
    t.is((await images.inspect(ref)).RootFS.Layers.length, 4);
  }
  // The layouts' blobs are there and no ingest is left behind by the pull that waited or found them stored.
  t.true(fs.existsSync(path.join(a.root, 'content', 'blobs', 'sha256', f.digest.slice(7))));
  t.deepEqual(fs.readdirSync(path.join(a.root, 'content', '.berth', 'ingest')), []);
});
