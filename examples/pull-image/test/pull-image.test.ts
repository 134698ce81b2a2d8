/**
 * Runs the pull-image program for real against a docker-registry seeded with
 * the fixture images, and checks the layout it writes with skopeo and umoci.
 */
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fixture, readFixtureManifest, startRegistry, tempDir, type TempDir, type TestRegistry } from '@berth/testkit';

const program = path.resolve(import.meta.dirname, '../src/main.js');

/** Runs the program; resolves with its exit code and output. */
function pullImage(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // An empty Docker config of its own: the host's (credential helpers…) stays out of the test.
    const env = { ...process.env, DOCKER_CONFIG: path.join(tmp.path, 'docker-config') };
    const child = spawn(process.execPath, [program, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const skopeoInspect = (ref: string) =>
  JSON.parse(execFileSync('skopeo', ['inspect', ref], { encoding: 'utf8' })) as { Digest: string; Architecture: string; Layers: string[] };

let reg: TestRegistry;
let tmp: TempDir;
test.before(async () => {
  reg = await startRegistry();
  tmp = await tempDir('pull-image-');
});
test.after.always(async () => {
  await reg?.close();
  await tmp?.cleanup();
});

test('pulls an OCI image into a layout that skopeo and umoci read; every blob hashes to its name', async (t) => {
  const f = fixture('multilayer', 'oci-gzip');
  const manifest = JSON.parse(readFixtureManifest(f).bytes.toString()) as { config: { digest: string }; layers: { digest: string }[] };
  const dir = path.join(tmp.path, 'multilayer');
  const r = await pullImage([`${reg.host}/${f.repo}:${f.tag}`, dir]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${f.digest}\n`);
  // Progress: one line per blob (config and the four layers), then a summary.
  t.regex(r.stderr, new RegExp(`${manifest.config.digest.slice(7, 19)}: config .* done\n`));
  for (const [i, l] of manifest.layers.entries()) t.regex(r.stderr, new RegExp(`${l.digest.slice(7, 19)}: layer ${i + 1}/4 .* done\n`));
  t.regex(r.stderr, /pulled 5 blobs/);

  const inspected = skopeoInspect(`oci:${dir}:${f.tag}`);
  t.is(inspected.Digest, f.digest);
  t.deepEqual(inspected.Layers, manifest.layers.map((l) => l.digest));
  execFileSync('umoci', ['stat', '--image', `${dir}:${f.tag}`]); // throws on a broken layout
  const blobs = fs.readdirSync(path.join(dir, 'blobs/sha256'));
  t.is(blobs.length, 6, 'manifest, config, 4 layers; no partial files');
  for (const hex of blobs) t.is(createHash('sha256').update(fs.readFileSync(path.join(dir, 'blobs/sha256', hex))).digest('hex'), hex);
});

test('picks the asked platform out of an index, and keeps earlier images of the layout', async (t) => {
  const dir = path.join(tmp.path, 'index');
  const list = fixture('busybox', 'oci-index');
  const index = JSON.parse(readFixtureManifest(list).bytes.toString()) as { manifests: { digest: string; platform: { architecture: string } }[] };
  const arm = index.manifests.find((m) => m.platform.architecture === 'arm64')!;
  const r = await pullImage(['--platform', 'linux/arm64/v8', `${reg.host}/busybox:oci-index`, dir]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `${arm.digest}\n`);
  t.is(skopeoInspect(`oci:${dir}:oci-index`).Architecture, 'arm64');

  // A Docker schema2 image (busybox:latest is docker-gzip) into the same layout: stored as an OCI manifest
  // over the same config and layer blobs, so that skopeo reads it.
  const docker = fixture('busybox', 'docker-gzip');
  const dockerLayers = (JSON.parse(readFixtureManifest(docker).bytes.toString()) as { layers: { digest: string }[] }).layers;
  const r2 = await pullImage([`${reg.host}/busybox:latest`, dir]);
  t.is(r2.code, 0, r2.stderr);
  t.regex(r2.stderr, new RegExp(`Docker schema2 manifest ${docker.digest} stored as OCI manifest ${r2.stdout.trim()}\n`));
  const converted = skopeoInspect(`oci:${dir}:latest`);
  t.is(converted.Digest, r2.stdout.trim());
  t.deepEqual(converted.Layers, dockerLayers.map((l) => l.digest));
  t.is(skopeoInspect(`oci:${dir}:oci-index`).Digest, arm.digest, 'the first image is still named');
});

test('an unknown tag fails with ERR_REGISTRY_NOT_FOUND, and a missing platform too', async (t) => {
  const dir = path.join(tmp.path, 'missing');
  const r = await pullImage([`${reg.host}/busybox:no-such-tag`, dir]);
  t.is(r.code, 1);
  t.regex(r.stderr, /\[ERR_REGISTRY_NOT_FOUND\]\n$/);
  const p = await pullImage(['--platform', 'linux/s390x', `${reg.host}/busybox:oci-index`, dir]);
  t.is(p.code, 1);
  t.regex(p.stderr, /\[ERR_REGISTRY_NOT_FOUND\]\n$/);
  t.false(fs.existsSync(path.join(dir, 'index.json')));
});

test('a blob corrupted in the registry fails with ERR_REGISTRY_DIGEST_MISMATCH and is never written', async (t) => {
  // The zstd copy of the 20 MiB layer (layer 3) belongs to multilayer:oci-zstd alone; flip one byte of it in this
  // registry's storage (a new file renamed over it, so the cached seed is untouched).
  const f = fixture('multilayer', 'oci-zstd');
  const layer = (JSON.parse(readFixtureManifest(f).bytes.toString()) as { layers: { digest: string }[] }).layers[2]!.digest;
  const hex = layer.slice(7);
  const data = path.join(reg.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
  const bytes = fs.readFileSync(data);
  bytes[bytes.length >> 1] ^= 0xff;
  fs.writeFileSync(`${data}.new`, bytes);
  fs.renameSync(`${data}.new`, data);

  const dir = path.join(tmp.path, 'corrupt');
  const r = await pullImage([`${reg.host}/${f.repo}:${f.tag}`, dir]);
  t.is(r.code, 1);
  t.regex(r.stderr, /\[ERR_REGISTRY_DIGEST_MISMATCH\]\n$/);
  const written = fs.readdirSync(path.join(dir, 'blobs/sha256'));
  t.false(written.includes(hex), 'the corrupt layer has no blob');
  t.deepEqual(written.filter((n) => n.endsWith('.partial')), [], 'no partial files left');
  t.false(fs.existsSync(path.join(dir, 'index.json')), 'the image is not named');
});

test('usage errors exit 2 with the usage text', async (t) => {
  const r = await pullImage([`${reg.host}/busybox:latest`]);
  t.is(r.code, 2);
  t.regex(r.stderr, /^pull-image: expected REFERENCE and DIR\n\nusage: pull-image/);
  const p = await pullImage(['--platform', 'linux', 'x', 'y']);
  t.is(p.code, 2);
  t.regex(p.stderr, /bad --platform "linux"/);
});

test('the program imports one berth package, @berth/registry-client, by its public entry point only', (t) => {
  const imports = [...fs.readFileSync(program, 'utf8').matchAll(/from '(@berth\/[^']*)'/g)].map((m) => m[1]);
  t.deepEqual([...new Set(imports)], ['@berth/registry-client']);
  const pkg = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, '../../package.json'), 'utf8'));
  t.deepEqual(Object.keys(pkg.dependencies), ['@berth/registry-client']);
});
