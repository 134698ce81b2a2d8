import test from 'ava';
import { listFixtures, startRegistry, type TestRegistry } from '@berth/testkit';
import { createRegistryClient, type RegistryFetcher } from '@berth/registry-client';
import { type Descriptor, parseDigest } from '@berth/oci-spec';
import { consume } from './helpers/drain.js';

let registry: TestRegistry;
test.before(async () => { registry = await startRegistry({ seed: true }); });
test.after.always(async () => { await registry?.close(); });

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
