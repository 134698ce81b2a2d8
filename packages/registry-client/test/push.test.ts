import test from 'ava';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  fixture, fixtureBlobPath, readFixtureManifest, startRegistry, tempDir, type FixtureImage, type TestRegistry,
} from '@berth/testkit';
import { createRegistryClient, type RegistryClient } from '@berth/registry-client';
import { type Descriptor, type Digest, type ImageManifest, parseDigest } from '@berth/oci-spec';
import { consume } from './helpers/drain.js';
import { startFaultProxy } from './helpers/fault-proxy.js';

const run = promisify(execFile);
let registry: TestRegistry;
test.before(async () => { registry = await startRegistry({ seed: false }); });
test.after.always(async () => { await registry?.close(); });

/** Pushes a single-manifest fixture's blobs (streamed from disk) and its manifest by tag. */
async function pushImage(client: RegistryClient, f: FixtureImage, target: string): Promise<{ digest: string; outcomes: string[] }> {
  const { bytes, mediaType } = readFixtureManifest(f);
  const manifest = JSON.parse(bytes.toString('utf8')) as ImageManifest;
  const pusher = client.pusher(target);
  const outcomes = await Promise.all([manifest.config, ...manifest.layers].map((d: Descriptor) =>
    pusher.pushBlob(d, fs.createReadStream(fixtureBlobPath(f, d.digest), { highWaterMark: 1 << 20 }))));
  const desc: Descriptor = { mediaType, digest: digestOf(bytes), size: bytes.length };
  await pusher.pushManifest(desc, bytes);
  return { digest: desc.digest, outcomes };
}

function digestOf(b: Buffer): Digest { return parseDigest(`sha256:${createHash('sha256').update(b).digest('hex')}`); }

test('a multi-layer image pushed (chunked and monolithic) is read back by skopeo inspect and skopeo copy', async (t) => {
  const f = fixture('multilayer', 'oci-gzip');
  // A 1 MiB chunk size sends the big layers with POST → PATCH… → PUT and the small ones in one PUT.
  const client = createRegistryClient({ chunkSize: 1 << 20 });
  const proxy = await startFaultProxy(registry.host);
  const dir = await tempDir('registry-client-push');
  try {
    const target = `${proxy.host}/pushed/multilayer:v1`;
    const { digest, outcomes } = await pushImage(client, f, target);
    t.true(outcomes.every((o) => o === 'uploaded'));
    t.true(proxy.log.some((e) => e.method === 'PATCH' && /^\d+-\d+$/.test(String(e.headers['content-range']))), 'chunked upload used');
    t.true(proxy.log.some((e) => e.method === 'PUT' && e.url.includes('digest=') && Number(e.headers['content-length']) > 0), 'monolithic upload used');
    t.true(proxy.log.some((e) => e.method === 'PUT' && e.url.endsWith('/manifests/v1')));

    const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/pushed/multilayer:v1`]);
    t.is(String(digestOf(Buffer.from(stdout))), digest);
    const inspected = JSON.parse((await run('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/pushed/multilayer:v1`])).stdout) as { Digest: string; Layers: string[] };
    t.is(inspected.Digest, digest);
    const manifest = JSON.parse(readFixtureManifest(f).bytes.toString('utf8')) as ImageManifest;
    t.deepEqual(inspected.Layers, manifest.layers.map((l) => l.digest));

    const layout = path.join(dir.path, 'layout');
    await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${registry.host}/pushed/multilayer:v1`, `oci:${layout}:v1`]);
    for (const l of manifest.layers) t.true(fs.existsSync(path.join(layout, 'blobs', 'sha256', l.digest.slice(7))));

    // Pushing again finds every blob and the manifest already there.
    const again = await pushImage(client, f, target);
    t.true(again.outcomes.every((o) => o === 'exists'));

    // And by digest, into another repository, mounting the blobs from the first.
    const pusher = client.pusher(`${registry.host}/pushed/by-digest`);
    const mounted = await Promise.all([manifest.config, ...manifest.layers].map((d) => pusher.pushBlob(d, new Uint8Array(0), { mountFrom: ['pushed/multilayer'] })));
    t.true(mounted.every((o) => o === 'mounted'));
    const bytes = readFixtureManifest(f).bytes;
    t.is(await pusher.pushManifest({ mediaType: f.mediaType, digest: parseDigest(digest), size: bytes.length }, bytes), 'uploaded');
    await run('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/pushed/by-digest@${digest}`]);
  } finally {
    await client.close();
    await proxy.close();
    await dir.cleanup();
  }
});

test('a Docker manifest list is pushed: children by digest, the list by tag', async (t) => {
  const f = fixture('busybox', 'docker-manifest-list');
  const client = createRegistryClient();
  try {
    const { bytes, mediaType } = readFixtureManifest(f);
    const list = JSON.parse(bytes.toString('utf8')) as { manifests: Descriptor[] };
    const pusher = client.pusher(`${registry.host}/pushed/list:multi`);
    for (const child of list.manifests) {
      const childBytes = fs.readFileSync(fixtureBlobPath(f, child.digest));
      const m = JSON.parse(childBytes.toString('utf8')) as ImageManifest;
      for (const d of [m.config, ...m.layers]) await pusher.pushBlob(d, fs.readFileSync(fixtureBlobPath(f, d.digest)));
      t.is(await pusher.pushManifest(child, childBytes, { byDigest: true }), 'uploaded');
    }
    // pushManifest uses the pusher's tag ("multi") for the root.
    await pusher.pushManifest({ mediaType, digest: parseDigest(f.digest), size: bytes.length }, bytes);
    const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/pushed/list:multi`]);
    t.is(String(digestOf(Buffer.from(stdout))), f.digest);
    const { descriptor } = await client.resolve(`${registry.host}/pushed/list:multi`);
    const arm = await client.fetcher(`${registry.host}/pushed/list`).fetchManifest(descriptor, { platform: { os: 'linux', architecture: 'arm64' } });
    const layer = arm.manifest!.layers[0]!;
    t.is((await consume(await client.fetcher(`${registry.host}/pushed/list`).fetch(layer))).digest, layer.digest);
  } finally {
    await client.close();
  }
});

test('a writer refuses to commit content that does not match the descriptor', async (t) => {
  const client = createRegistryClient();
  try {
    const data = Buffer.from('hello berth');
    const desc: Descriptor = { mediaType: 'application/octet-stream', digest: digestOf(data), size: data.length };
    const w = await client.pusher(`${registry.host}/pushed/bad`).push(desc);
    await w.write(Buffer.from('hello BERTH'));
    const err = await t.throwsAsync(w.commit({ size: desc.size, digest: desc.digest }));
    t.is((err as { code?: string }).code, 'ERR_REGISTRY_DIGEST_MISMATCH');
    await w.abort();
    const missing = await t.throwsAsync(client.fetcher(`${registry.host}/pushed/bad`).fetch(desc));
    t.is((missing as { code?: string }).code, 'ERR_REGISTRY_NOT_FOUND');
  } finally {
    await client.close();
  }
});
