/**
 * Runs the image-store-ls program for real on the fixture images: an OCI
 * layout directory, an OCI layout tar made with GNU tar and a `docker save`
 * tar made with skopeo; checks the listing and reads the store with skopeo
 * and umoci.
 */
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fixture, fixtureBlobPath, readFixtureManifest, tempDir, type TempDir } from '@berth/testkit';

const program = path.resolve(import.meta.dirname, '../src/main.js');

/** Runs the program; resolves with its exit code and output. */
function imageStoreLs(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [program, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The listing as [name, digest] pairs, header checked. */
function listed(stdout: string): [string, string][] {
  const [header, ...rows] = stdout.trimEnd().split('\n');
  if (!/^NAME +DIGEST +SIZE$/.test(header ?? '')) throw new Error(`no header in ${JSON.stringify(stdout)}`);
  return rows.map((r) => r.split(/ +/).slice(0, 2) as [string, string]);
}

let tmp: TempDir;
test.before(async () => { tmp = await tempDir('image-store-ls-'); });
test.after.always(async () => { await tmp?.cleanup(); });

test('imports an OCI layout directory and a docker save tar (made by skopeo); lists them; skopeo and umoci read the store', async (t) => {
  const oci = fixture('busybox', 'oci-gzip');
  const docker = fixture('multilayer', 'docker-gzip');
  const dockerTar = path.join(tmp.path, 'multilayer.tar');
  execFileSync('skopeo', ['copy', '-q', `dir:${docker.path}`, `docker-archive:${dockerTar}:multilayer:v1`]);
  const store = path.join(tmp.path, 'store');
  const r = await imageStoreLs(['--import', oci.path, '--base-name', 'docker.io/library/busybox', '--import', dockerTar, store]);
  t.is(r.code, 0, r.stderr);
  const rows = listed(r.stdout);
  t.deepEqual(rows.map(([name]) => name), ['docker.io/library/busybox:latest', 'docker.io/library/multilayer:v1']);
  t.is(rows[0]![1], oci.digest, 'an OCI layout keeps its manifest digest');
  t.regex(r.stderr, new RegExp(`^imported docker.io/library/busybox:latest ${oci.digest}\nimported docker.io/library/multilayer:v1 sha256:[0-9a-f]{64}\n$`));
  t.regex(r.stdout, /multilayer:v1 +sha256:[0-9a-f]{64} +25\.\d MB\n/);

  // Independent readers of the store.
  t.is(JSON.parse(execFileSync('skopeo', ['inspect', `oci:${store}:docker.io/library/busybox:latest`], { encoding: 'utf8' })).Digest, oci.digest);
  const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci:${store}:docker.io/library/multilayer:v1`], { encoding: 'utf8' }));
  t.is(`sha256:${execFileSync('sha256sum', [path.join(store, 'blobs/sha256', rows[1]![1].slice(7))], { encoding: 'utf8' }).split(' ')[0]}`, rows[1]![1]);
  // docker save keeps the config bytes and writes layers uncompressed: layer digests are the diff_ids.
  const m = JSON.parse(readFixtureManifest(docker).bytes.toString());
  const config = JSON.parse(fs.readFileSync(fixtureBlobPath(docker, m.config.digest), 'utf8'));
  t.is(raw.config.digest, m.config.digest);
  t.deepEqual(raw.layers.map((l: { digest: string }) => l.digest), config.rootfs.diff_ids);
  execFileSync('umoci', ['stat', '--image', `${store}:docker.io/library/multilayer:v1`]);
});

test('an OCI layout tar (--oci) with an index and per-platform names; a later run lists what is stored', async (t) => {
  const f = fixture('busybox', 'oci-index');
  const tar = path.join(tmp.path, 'index.tar');
  execFileSync('tar', ['-cf', tar, '-C', f.path, '.']);
  const store = path.join(tmp.path, 'index-store');
  const r = await imageStoreLs(['--oci', '--import', tar, '--base-name', '127.0.0.1:5000/busybox', store]);
  t.is(r.code, 0, r.stderr);
  const rows = listed(r.stdout);
  t.deepEqual(rows.map(([name]) => name), ['127.0.0.1:5000/busybox:amd64', '127.0.0.1:5000/busybox:arm64', '127.0.0.1:5000/busybox:latest']);
  t.is(rows[2]![1], f.digest);
  const again = await imageStoreLs([store]);
  t.is(again.code, 0, again.stderr);
  t.is(again.stdout, r.stdout);
  t.is(again.stderr, '');
});

test('--verify rehashes every blob; a corrupted blob is reported and exits 1', async (t) => {
  const f = fixture('busybox', 'oci-gzip');
  const store = path.join(tmp.path, 'verify-store');
  const ok = await imageStoreLs(['--import', f.path, '--verify', store]);
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stderr, /verified 3 blobs, [\d.]+ MB: 0 corrupt\n$/);
  const layer = JSON.parse(readFixtureManifest(f).bytes.toString()).layers[0].digest as string;
  const blob = path.join(store, 'blobs/sha256', layer.slice(7));
  fs.chmodSync(blob, 0o644);
  const fd = fs.openSync(blob, 'r+');
  fs.writeSync(fd, Buffer.from('x'), 0, 1, 100);
  fs.closeSync(fd);
  const bad = await imageStoreLs(['--verify', store]);
  t.is(bad.code, 1);
  t.regex(bad.stderr, new RegExp(`1 corrupt\ncorrupt: ${layer} \\(digest-mismatch\\)\n$`));
});

test('errors print their code: ERR_STORE_NOT_FOUND, ERR_STORE_INVALID_ARCHIVE, ERR_STORE_CORRUPT_LAYOUT; usage exits 2', async (t) => {
  const missing = path.join(tmp.path, 'no-store');
  const nf = await imageStoreLs([missing]);
  t.is(nf.code, 1);
  t.regex(nf.stderr, /\[ERR_STORE_NOT_FOUND\]\n$/);
  t.false(fs.existsSync(missing), 'listing does not create a store');

  const notLayout = path.join(tmp.path, 'not-a-layout');
  fs.mkdirSync(notLayout);
  const na = await imageStoreLs(['--import', notLayout, path.join(tmp.path, 'err-store')]);
  t.is(na.code, 1);
  t.regex(na.stderr, /\[ERR_STORE_INVALID_ARCHIVE\]\n$/);

  const full = path.join(tmp.path, 'busybox.tar');
  execFileSync('skopeo', ['copy', '-q', `dir:${fixture('busybox', 'docker-gzip').path}`, `docker-archive:${full}:busybox:v1`]);
  const truncated = path.join(tmp.path, 'truncated.tar');
  fs.writeFileSync(truncated, fs.readFileSync(full).subarray(0, 600_000));
  const tr = await imageStoreLs(['--import', truncated, path.join(tmp.path, 'err-store')]);
  t.is(tr.code, 1);
  t.regex(tr.stderr, /\[ERR_STORE_INVALID_ARCHIVE\]\n$/);

  const corrupt = path.join(tmp.path, 'corrupt-layout');
  fs.mkdirSync(corrupt);
  fs.writeFileSync(path.join(corrupt, 'oci-layout'), '{"imageLayoutVersion":"9"}');
  const cl = await imageStoreLs([corrupt]);
  t.is(cl.code, 1);
  t.regex(cl.stderr, /\[ERR_STORE_CORRUPT_LAYOUT\]\n$/);

  const u = await imageStoreLs([]);
  t.is(u.code, 2);
  t.regex(u.stderr, /^image-store-ls: expected STORE\n\nusage: image-store-ls/);
});

test('the program imports one berth package, @berth/image-store, by its public entry point only', (t) => {
  const imports = [...fs.readFileSync(program, 'utf8').matchAll(/from '(@berth\/[^']*)'/g)].map((m) => m[1]);
  t.deepEqual([...new Set(imports)], ['@berth/image-store']);
  const pkg = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '../../package.json'), 'utf8'));
  t.deepEqual(Object.keys(pkg.dependencies), ['@berth/image-store']);
});
