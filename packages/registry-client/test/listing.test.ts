import test from 'ava';
import { createHash } from 'node:crypto';
import { fixture, listFixtures, startRegistry, type TestRegistry } from '@berth/testkit';
import { createRegistryClient } from '@berth/registry-client';
import { OciMediaType, type Descriptor, parseDigest } from '@berth/oci-spec';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';

let registry: TestRegistry;
let proxy: FaultProxy;
test.before(async () => {
  registry = await startRegistry({ seed: true });
  proxy = await startFaultProxy(registry.host);
});
test.after.always(async () => { await proxy?.close(); await registry?.close(); });

const digestOf = (b: Buffer) => parseDigest(`sha256:${createHash('sha256').update(b).digest('hex')}`);

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test.serial('tags are listed (following Link pages when the registry sends them)', async (t) => {
  const client = createRegistryClient();
  try {
    proxy.log.length = 0;
    const tags = await collect(client.tags(`${proxy.host}/busybox`, { pageSize: 2 }));
    const want = new Set(listFixtures().filter((f) => f.repo === 'busybox').flatMap((f) => [f.tag, ...(f.extraTags ?? [])]));
    t.deepEqual([...tags].sort(), [...want].sort());
    // distribution 2.8 ignores `n` on tags/list (one page, no Link); later pages, when sent, carry `last=`.
    const pages = proxy.log.filter((e) => e.url.includes('/tags/list'));
    t.true(pages[0]!.url.includes('n=2'));
    t.true(pages.slice(1).every((p) => p.url.includes('last=')));
  } finally {
    await client.close();
  }
});

test.serial('the catalog is listed across pages through the Link header', async (t) => {
  const client = createRegistryClient();
  try {
    proxy.log.length = 0;
    const repos = await collect(client.catalog(proxy.host, { pageSize: 1 }));
    const pages = proxy.log.filter((e) => e.url.includes('/_catalog'));
    t.true(pages.length >= 2, 'one repository per page');
    t.true(pages.slice(1).every((p) => p.url.includes('last=')));
    t.deepEqual([...repos].sort(), [...new Set(listFixtures().map((f) => f.repo))].sort());
  } finally {
    await client.close();
  }
});

test.serial('a manifest deleted by tag is gone', async (t) => {
  const client = createRegistryClient();
  try {
    const f = fixture('busybox', 'oci-gzip');
    const bytes = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OciMediaType.ImageManifest,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(Buffer.from('{}')), size: 2 },
      layers: [], annotations: { 'org.example': 'delete-me' },
    }));
    const pusher = client.pusher(`${registry.host}/${f.repo}:doomed`);
    await pusher.pushBlob({ mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(Buffer.from('{}')), size: 2 }, Buffer.from('{}'));
    const desc: Descriptor = { mediaType: OciMediaType.ImageManifest, digest: digestOf(bytes), size: bytes.length };
    await pusher.pushManifest(desc, bytes);
    t.is((await client.resolve(`${registry.host}/${f.repo}:doomed`)).descriptor.digest, desc.digest);
    t.is(await client.deleteManifest(`${registry.host}/${f.repo}:doomed`), desc.digest);
    const err = await t.throwsAsync(client.resolve(`${registry.host}/${f.repo}@${desc.digest}`));
    t.is((err as { code?: string }).code, 'ERR_REGISTRY_NOT_FOUND');
  } finally {
    await client.close();
  }
});

test.serial('referrers fall back to the sha256-<hex> tag schema when the API is missing (404)', async (t) => {
  const client = createRegistryClient();
  try {
    const f = fixture('busybox', 'oci-gzip');
    const subject: Descriptor = { mediaType: f.mediaType, digest: parseDigest(f.digest), size: 0 };
    const ref = `${proxy.host}/${f.repo}@${f.digest}`;
    proxy.log.length = 0;
    t.deepEqual(await client.referrers(ref), []);
    t.true(proxy.log.some((e) => e.url.includes(`/referrers/${f.digest}`)));
    t.true(proxy.log.some((e) => e.url.endsWith(`/manifests/${f.digest.replace(':', '-')}`)));

    // An artifact that refers to the image, and the fallback index that lists it.
    const empty = Buffer.from('{}');
    const emptyDesc: Descriptor = { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(empty), size: 2 };
    const pusher = client.pusher(`${registry.host}/${f.repo}`);
    await pusher.pushBlob(emptyDesc, empty);
    const { descriptor } = await client.resolve(`${registry.host}/${f.repo}:${f.tag}`);
    subject.size = descriptor.size;
    const artifact = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: OciMediaType.ImageManifest, artifactType: 'application/vnd.example.sbom',
      config: emptyDesc, layers: [emptyDesc], subject,
    }));
    const artifactDesc: Descriptor = { mediaType: OciMediaType.ImageManifest, digest: digestOf(artifact), size: artifact.length, artifactType: 'application/vnd.example.sbom' };
    await pusher.pushManifest(artifactDesc, artifact, { byDigest: true });
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OciMediaType.ImageIndex, manifests: [artifactDesc] }));
    await pusher.pushManifest({ mediaType: OciMediaType.ImageIndex, digest: digestOf(index), size: index.length }, index, { tag: f.digest.replace(':', '-') });

    const found = await client.referrers(ref);
    t.deepEqual(found.map((d) => d.digest), [artifactDesc.digest]);
    t.deepEqual(await client.referrers(ref, { artifactType: 'application/vnd.example.other' }), []);
    t.is((await client.referrers(ref, { artifactType: 'application/vnd.example.sbom' })).length, 1);
  } finally {
    await client.close();
  }
});
