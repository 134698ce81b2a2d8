import test from 'ava';
import { createHash } from 'node:crypto';
import { listFixtures, startRegistry, type TestRegistry } from '@berth/testkit';
import { createRegistryClient, type RegistryFetcher } from '@berth/registry-client';
import { type Descriptor, parseDigest } from '@berth/oci-spec';
import { consume } from './helpers/drain.js';

let registry: TestRegistry;
test.before(async () => { registry = await startRegistry({ seed: true }); });
test.after.always(async () => { await registry?.close(); });

async function readAll(s: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function verifyImage(t: import('ava').ExecutionContext, fetcher: RegistryFetcher, desc: Descriptor): Promise<number> {
  const m = await fetcher.fetchManifest(desc);
  let blobs = 0;
  if (m.index) {
    for (const child of m.index.manifests) blobs += await verifyImage(t, fetcher, child);
    return blobs;
  }
  for (const d of [m.manifest!.config, ...m.manifest!.layers]) {
    const got = await consume(await fetcher.fetch(d));
    t.is(got.digest, String(d.digest));
    t.is(got.size, d.size);
    blobs++;
  }
  return blobs;
}

for (const f of listFixtures()) {
  test(`${f.name} ${f.variant} resolves to its digest and every blob verifies`, async (t) => {
    const client = createRegistryClient();
    try {
      const ref = `${registry.host}/${f.repo}:${f.tag}`;
      const { name, descriptor } = await client.resolve(ref);
      t.is(name, ref);
      t.is(String(descriptor.digest), f.digest);
      t.is(descriptor.mediaType, f.mediaType);
      const blobs = await verifyImage(t, client.fetcher(ref), descriptor);
      t.true(blobs >= 2);
    } finally {
      await client.close();
    }
  });
}

for (const f of listFixtures().filter((x) => x.platforms.length > 1)) {
  test(`${f.name} ${f.variant}: linux/arm64 selects the arm64 entry`, async (t) => {
    const client = createRegistryClient();
    try {
      const ref = `${registry.host}/${f.repo}:${f.tag}`;
      const { descriptor } = await client.resolve(ref);
      const fetcher = client.fetcher(ref);
      const whole = await fetcher.fetchManifest(descriptor);
      const arm = whole.index!.manifests.find((m) => m.platform?.architecture === 'arm64')!;
      const got = await fetcher.fetchManifest(descriptor, { platform: { os: 'linux', architecture: 'arm64' } });
      t.is(got.descriptor.digest, arm.digest);
      t.truthy(got.manifest);
      const amd = await fetcher.fetchManifest(descriptor, { platform: { os: 'linux', architecture: 'amd64' } });
      t.not(amd.descriptor.digest, arm.digest);
      const err = await t.throwsAsync(fetcher.fetchManifest(descriptor, { platform: { os: 'linux', architecture: 's390x' } }));
      t.is((err as { code?: string }).code, 'ERR_REGISTRY_NOT_FOUND');
    } finally {
      await client.close();
    }
  });
}

test('an unknown tag is ERR_REGISTRY_NOT_FOUND with MANIFEST_UNKNOWN', async (t) => {
  const client = createRegistryClient();
  try {
    const err = await t.throwsAsync(client.resolve(`${registry.host}/busybox:nope`));
    t.is((err as { code?: string }).code, 'ERR_REGISTRY_NOT_FOUND');
    const blob = await t.throwsAsync(client.fetcher(`${registry.host}/busybox`).fetch({
      mediaType: 'application/octet-stream', digest: parseDigest(`sha256:${'0'.repeat(64)}`), size: 1,
    }));
    t.is((blob as { code?: string }).code, 'ERR_REGISTRY_NOT_FOUND');
  } finally {
    await client.close();
  }
});

test('a caller-side resume: fetch from an offset with the hash of the prefix keeps verification', async (t) => {
  const f = listFixtures().find((x) => x.name === 'multilayer' && x.variant === 'oci-gzip')!;
  const client = createRegistryClient();
  try {
    const ref = `${registry.host}/${f.repo}:${f.tag}`;
    const { descriptor } = await client.resolve(ref);
    const fetcher = client.fetcher(ref);
    const layer = [...(await fetcher.fetchManifest(descriptor)).manifest!.layers].sort((a, b) => b.size - a.size)[0]!;
    const whole = await readAll(await fetcher.fetch(layer));
    const offset = Math.floor(layer.size / 2);
    const hash = createHash('sha256').update(whole.subarray(0, offset));
    const rest = await readAll(await fetcher.fetch(layer, { offset, hash }));
    t.true(rest.equals(whole.subarray(offset)));
    // A prefix hash that does not match what was really before the offset is caught at the end.
    const wrong = createHash('sha256').update(Buffer.alloc(offset));
    const err = await t.throwsAsync(async () => {
      for await (const _ of await fetcher.fetch(layer, { offset, hash: wrong })) { /* drain */ }
    });
    t.is((err as { code?: string }).code, 'ERR_REGISTRY_DIGEST_MISMATCH');
  } finally {
    await client.close();
  }
});

test('close() ends streams left open with ERR_REGISTRY_CANCELLED instead of hanging', async (t) => {
  const f = listFixtures().find((x) => x.name === 'multilayer' && x.variant === 'oci-gzip')!;
  const client = createRegistryClient();
  const ref = `${registry.host}/${f.repo}:${f.tag}`;
  const { descriptor } = await client.resolve(ref);
  const fetcher = client.fetcher(ref);
  const layer = [...(await fetcher.fetchManifest(descriptor)).manifest!.layers].sort((a, b) => b.size - a.size)[0]!;
  const stream = await fetcher.fetch(layer);
  const failed = new Promise<unknown>((resolve) => stream.once('error', resolve));
  await client.close();
  await client.close();
  t.is(((await failed) as { code?: string }).code, 'ERR_REGISTRY_CANCELLED');
});
