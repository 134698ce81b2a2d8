// `skopeo inspect` and `umoci` read every fixture image. umoci reads OCI layouts only and no
// zstd layers: it unpacks oci-gzip and each platform of oci-index, stats oci-zstd (config and
// history), and reads the docker variants' layers after skopeo rewrites only their manifest
// into an OCI layout (the layer blobs stay byte-identical, which the test checks).
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import {
  fixture, fixtureBlobPath, fixtureTransportRef, listFixtures, readFixtureManifest, tempDir, walkFixture, type FixtureImage,
} from '@berth/testkit';

const run = promisify(execFile);
const sha256 = (b: Buffer | string) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;

interface Manifest { mediaType?: string; config: { digest: string; mediaType: string }; layers: Array<{ digest: string; mediaType: string; size: number }> }
interface Index { mediaType?: string; manifests: Array<{ digest: string; mediaType: string; platform: { architecture: string; os: string; variant?: string } }> }

const readJson = <T>(f: FixtureImage, digest: string): T => JSON.parse(fs.readFileSync(fixtureBlobPath(f, digest), 'utf8')) as T;

test('fixtures.json lists busybox and multilayer in every variant, plus the two multi-platform busybox', (t) => {
  const names = listFixtures().map((f) => `${f.name}/${f.variant}`).sort();
  t.deepEqual(names, [
    'busybox/docker-gzip', 'busybox/docker-manifest-list', 'busybox/oci-gzip', 'busybox/oci-index', 'busybox/oci-zstd',
    'multilayer/docker-gzip', 'multilayer/oci-gzip', 'multilayer/oci-zstd',
  ]);
});

for (const f of listFixtures()) {
  test(`skopeo inspect reads ${f.name}/${f.variant}: raw bytes match the manifest, digest and blobs`, async (t) => {
    const { stdout: raw } = await run('skopeo', ['inspect', '--raw', fixtureTransportRef(f)], { encoding: 'buffer', maxBuffer: 1 << 24 });
    const m = readFixtureManifest(f);
    t.true(raw.equals(m.bytes));
    t.is(sha256(m.bytes), f.digest);
    t.is((JSON.parse(m.bytes.toString()) as { mediaType?: string }).mediaType ?? 'application/vnd.oci.image.manifest.v1+json', m.mediaType);
    for (const p of f.platforms) {
      const { stdout } = await run('skopeo', ['inspect', '--override-arch', p.architecture, ...(p.variant ? ['--override-variant', p.variant] : []), fixtureTransportRef(f)]);
      const info = JSON.parse(stdout) as { Architecture: string; Os: string; Layers: string[] };
      t.is(info.Architecture, p.architecture);
      t.is(info.Os, p.os);
      for (const l of info.Layers) t.true(fs.existsSync(fixtureBlobPath(f, l)), l);
    }
    // Every blob the manifest names is there and hashes to its digest.
    const manifests = 'manifests' in JSON.parse(m.bytes.toString())
      ? (JSON.parse(m.bytes.toString()) as Index).manifests.map((d) => readJson<Manifest>(f, d.digest))
      : [JSON.parse(m.bytes.toString()) as Manifest];
    for (const man of manifests) {
      for (const d of [man.config, ...man.layers]) t.is(sha256(fs.readFileSync(fixtureBlobPath(f, d.digest))), d.digest);
    }
  });
}

test('walkFixture reaches every index, manifest, config and layer, each hashing to its digest', (t) => {
  for (const f of listFixtures()) {
    const blobs = walkFixture(f);
    for (const b of blobs) {
      const bytes = fs.readFileSync(b.path);
      t.is(sha256(bytes), b.digest, `${f.name}/${f.variant} ${b.kind}`);
      t.is(bytes.length, b.size);
    }
    const kinds = blobs.map((b) => b.kind);
    const platforms = f.platforms.length;
    t.is(kinds.filter((k) => k === 'index').length, f.variant === 'oci-index' || f.variant === 'docker-manifest-list' ? 1 : 0);
    t.is(kinds.filter((k) => k === 'manifest').length, platforms);
    t.is(kinds.filter((k) => k === 'config').length, platforms);
    t.true(kinds.filter((k) => k === 'layer').length >= platforms);
    t.is(blobs[0]!.digest, f.digest);
  }
});

test('the format variants use the media types and compressions they are named after', (t) => {
  const layersOf = (f: FixtureImage) => (JSON.parse(readFixtureManifest(f).bytes.toString()) as Manifest).layers;
  for (const name of ['busybox', 'multilayer']) {
    const gz = fixture(name, 'oci-gzip');
    const zst = fixture(name, 'oci-zstd');
    const docker = fixture(name, 'docker-gzip');
    t.is(gz.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    t.is(docker.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    for (const l of layersOf(gz)) {
      t.is(l.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
      t.deepEqual([...fs.readFileSync(fixtureBlobPath(gz, l.digest)).subarray(0, 2)], [0x1f, 0x8b]);
    }
    for (const l of layersOf(zst)) {
      t.is(l.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
      t.is(fs.readFileSync(fixtureBlobPath(zst, l.digest)).readUInt32LE(0), 0xfd2fb528);
    }
    t.deepEqual(layersOf(docker).map((l) => l.mediaType), layersOf(gz).map(() => 'application/vnd.docker.image.rootfs.diff.tar.gzip'));
    t.deepEqual(layersOf(docker).map((l) => l.digest), layersOf(gz).map((l) => l.digest));
  }
  const idx = fixture('busybox', 'oci-index');
  const list = fixture('busybox', 'docker-manifest-list');
  t.is(idx.mediaType, 'application/vnd.oci.image.index.v1+json');
  t.is(list.mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
  for (const f of [idx, list]) {
    const index = JSON.parse(readFixtureManifest(f).bytes.toString()) as Index;
    t.deepEqual(index.manifests.map((d) => `${d.platform.os}/${d.platform.architecture}`), ['linux/amd64', 'linux/arm64']);
    const arm = readJson<Manifest>(f, index.manifests[1]!.digest);
    t.is(readJson<{ architecture: string }>(f, arm.config.digest).architecture, 'arm64');
  }
});

async function umociUnpack(t: { teardown(fn: () => Promise<void>): void }, image: string): Promise<string> {
  const dir = await tempDir('berth-umoci-');
  t.teardown(() => dir.cleanup());
  await run('umoci', ['unpack', '--image', image, path.join(dir.path, 'bundle')]);
  return path.join(dir.path, 'bundle', 'rootfs');
}

test('umoci unpacks busybox: applet symlinks, passwd, group, /tmp 1777', async (t) => {
  const rootfs = await umociUnpack(t, `${fixture('busybox', 'oci-gzip').path}:latest`);
  t.is(fs.readlinkSync(path.join(rootfs, 'bin/sh')), '/bin/busybox');
  t.true(fs.statSync(path.join(rootfs, 'bin/busybox')).isFile());
  const passwd = fs.readFileSync(path.join(rootfs, 'etc/passwd'), 'utf8');
  t.regex(passwd, /^root:x:0:0:/m);
  t.regex(passwd, /^nobody:x:65534:65534:/m);
  t.regex(passwd, /^user:x:1000:1000:/m);
  t.regex(fs.readFileSync(path.join(rootfs, 'etc/group'), 'utf8'), /^user:x:1000:/m);
  t.is(fs.statSync(path.join(rootfs, 'tmp')).mode & 0o7777, 0o1777);
  const applets = (await run(path.join(rootfs, 'bin/busybox'), ['--list-full'])).stdout.trim().split('\n');
  t.true(applets.length > 100);
  for (const a of applets) t.true(fs.lstatSync(path.join(rootfs, a), { throwIfNoEntry: false }) !== undefined, a);
});

test('umoci unpacks multilayer and applies whiteouts, opaque dirs, file<->dir, links and special files', async (t) => {
  const f = fixture('multilayer', 'oci-gzip');
  const manifest = JSON.parse(readFixtureManifest(f).bytes.toString()) as Manifest;
  t.true(manifest.layers.length >= 4);
  const rootfs = await umociUnpack(t, `${f.path}:latest`);
  const p = (x: string) => path.join(rootfs, x);
  const exists = (x: string) => fs.lstatSync(p(x), { throwIfNoEntry: false }) !== undefined;
  // whiteouts of files and directories of lower layers
  t.false(exists('data/del-file.txt'));
  t.false(exists('data/del-dir'));
  t.false(exists('bin/vi'));
  t.false(exists('usr/sbin'));
  t.true(exists('data/keep.txt'));
  // opaque directory: only the upper layer's content
  t.deepEqual(fs.readdirSync(p('data/opaque')), ['new.txt']);
  t.true(fs.statSync(p('data/file-to-dir')).isDirectory());
  t.deepEqual(fs.readdirSync(p('data/file-to-dir')), ['inside.txt']);
  t.true(fs.statSync(p('data/dir-to-file')).isFile());
  // no whiteout files leak into the rootfs
  const { stdout } = await run('find', [rootfs, '-name', '.wh.*']);
  t.is(stdout, '');
  // hardlink to a lower-layer file
  t.is(fs.statSync(p('data/hardlink-to-lower.txt')).ino, fs.statSync(p('data/hardlink-target.txt')).ino);
  // links and special files
  t.is(fs.readlinkSync(p('data/abs-link')), '/data/keep.txt');
  t.is(fs.readlinkSync(p('data/rel-link')), '../bin/busybox');
  t.true(fs.lstatSync(p('data/fifo')).isFIFO());
  t.is(fs.statSync(p('data/setuid-busybox')).mode & 0o7777, 0o4755);
  t.is(fs.statSync(p('data/user-owned.txt')).uid, 1000);
  // names
  const names = fs.readdirSync(p('data/names'));
  for (const n of ['héllo-wörld.txt', '日本語のファイル.txt', 'emoji-🐳.txt']) t.true(names.includes(n), n);
  t.true(names.some((n) => n.length === 150));
  // the 20 MB file comes from a fixed seed, so its digest never changes
  const random = fs.readFileSync(p('data/random-20m.bin'));
  t.is(random.length, 20 * 1024 * 1024);
  t.is(sha256(random), sha256((await run('sh', ['-c', 'openssl enc -aes-256-ctr -pass pass:berth -nosalt -pbkdf2 </dev/zero 2>/dev/null | head -c 20971520'], { encoding: 'buffer', maxBuffer: 1 << 26 })).stdout));
});

test('the crafted layer carries real opaque whiteouts and a hardlink to a lower layer', async (t) => {
  const f = fixture('multilayer', 'oci-gzip');
  const top = (JSON.parse(readFixtureManifest(f).bytes.toString()) as Manifest).layers.at(-1)!;
  const { stdout } = await run('tar', ['tvzf', fixtureBlobPath(f, top.digest)]);
  t.regex(stdout, /data\/opaque\/\.wh\.\.wh\.\.opq/);
  t.regex(stdout, /^h.* data\/hardlink-to-lower\.txt link to data\/hardlink-target\.txt$/m);
});

test('umoci reads every platform of oci-index and stats oci-zstd (it cannot decompress zstd)', async (t) => {
  const idx = fixture('busybox', 'oci-index');
  const rootfs = await umociUnpack(t, `${idx.path}:amd64`);
  t.true(fs.statSync(path.join(rootfs, 'bin/busybox')).isFile());
  const arm = await umociUnpack(t, `${idx.path}:arm64`);
  t.is(fs.readFileSync(path.join(arm, 'etc/berth-platform'), 'utf8'), 'linux/arm64\n');
  for (const name of ['busybox', 'multilayer']) {
    const z = fixture(name, 'oci-zstd');
    const { stdout } = await run('umoci', ['stat', '--json', '--image', `${z.path}:latest`]);
    t.true((JSON.parse(stdout) as { history: unknown[] }).history.length >= 2);
    await t.throwsAsync(run('umoci', ['unpack', '--image', `${z.path}:latest`, path.join(z.path, 'never')]));
  }
});

test('umoci unpacks the docker variants once skopeo rewrites only their manifest as OCI', async (t) => {
  for (const name of ['busybox', 'multilayer']) {
    const docker = fixture(name, 'docker-gzip');
    const dir = await tempDir('berth-oci-');
    t.teardown(() => dir.cleanup());
    await run('skopeo', ['copy', '--quiet', '--format', 'oci', fixtureTransportRef(docker), `oci:${dir.path}/layout:latest`]);
    const index = JSON.parse(fs.readFileSync(path.join(dir.path, 'layout/index.json'), 'utf8')) as Index;
    const oci = JSON.parse(fs.readFileSync(path.join(dir.path, 'layout/blobs', ...index.manifests[0]!.digest.split(':')), 'utf8')) as Manifest;
    const dockerManifest = JSON.parse(readFixtureManifest(docker).bytes.toString()) as Manifest;
    t.deepEqual(oci.layers.map((l) => l.digest), dockerManifest.layers.map((l) => l.digest));
    const rootfs = await umociUnpack(t, `${dir.path}/layout:latest`);
    t.true(fs.statSync(path.join(rootfs, 'bin/busybox')).isFile());
  }
});
