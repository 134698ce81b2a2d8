import test from 'ava';
import { fixture, startRegistry, type TestRegistry } from '@berth/testkit';
import { createRegistryClient, staticCredentials } from '@berth/registry-client';
import { type Descriptor, parseDigest } from '@berth/oci-spec';
import { consume } from './helpers/drain.js';
import { startFaultProxy, startSilentServer } from './helpers/fault-proxy.js';

const f = fixture('multilayer', 'docker-gzip');
let seeded: TestRegistry;
test.before(async () => { seeded = await startRegistry({ seed: true }); });
test.after.always(async () => { await seeded?.close(); });

for (const status of [307, 302, 303] as const) {
  test(`a ${status} redirect to another host is followed without the registry's Authorization`, async (t) => {
    const reg = await startRegistry({ auth: 'basic', seed: true });
    const basic = `Basic ${Buffer.from(`${reg.auth!.username}:${reg.auth!.password}`).toString('base64')}`;
    const front = await startFaultProxy(reg.host);
    // The "blob store" holds its own credentials, as a presigned CDN URL would.
    const cdn = await startFaultProxy(reg.host, { upstreamHeaders: { authorization: basic } });
    const client = createRegistryClient({ credentials: staticCredentials({ [front.host]: reg.auth! }) });
    try {
      const ref = `${front.host}/${f.repo}:${f.tag}`;
      const { descriptor } = await client.resolve(ref);
      const m = await client.fetcher(ref).fetchManifest(descriptor);
      const layer: Descriptor = m.manifest!.layers[0]!;
      front.rule = (req) => (req.method === 'GET' && req.url?.endsWith(`/blobs/${layer.digest}`)
        ? { kind: 'redirect', status, location: `http://${cdn.host}${req.url}` } : { kind: 'pass' });
      const got = await consume(await client.fetcher(ref).fetch(layer));
      t.is(got.digest, layer.digest);
      const asked = front.log.find((e) => e.url.endsWith(`/blobs/${layer.digest}`))!;
      t.is(asked.headers.authorization, basic);
      const served = cdn.log.filter((e) => e.url.endsWith(`/blobs/${layer.digest}`));
      t.is(served.length, 1);
      t.is(served[0]!.headers.authorization, undefined);
    } finally {
      await client.close();
      await front.close();
      await cdn.close();
      await reg.close();
    }
  });
}

test('mirrors are tried first; the origin is not contacted when a mirror has the image', async (t) => {
  const origin = await startSilentServer();
  const mirror = await startFaultProxy(seeded.host);
  const client = createRegistryClient({ hosts: { [origin.host]: { mirrors: [mirror.host] } }, timeoutMs: 2000 });
  try {
    const ref = `${origin.host}/${f.repo}:${f.tag}`;
    const { descriptor } = await client.resolve(ref);
    t.is(String(descriptor.digest), f.digest);
    const m = await client.fetcher(ref).fetchManifest(descriptor);
    const got = await consume(await client.fetcher(ref).fetch(m.manifest!.config));
    t.is(got.digest, m.manifest!.config.digest);
    t.is(origin.connections, 0);
    t.true(mirror.log.some((e) => e.method === 'HEAD'));
  } finally {
    await client.close();
    await mirror.close();
    await origin.close();
  }
});

test('a mirror without the image falls through to the origin', async (t) => {
  const empty = await startRegistry({ seed: false });
  const mirror = await startFaultProxy(empty.host);
  const client = createRegistryClient({ hosts: { [seeded.host]: { mirrors: [mirror.host] } } });
  try {
    const { descriptor } = await client.resolve(`${seeded.host}/${f.repo}:${f.tag}`);
    t.is(String(descriptor.digest), f.digest);
    t.true(mirror.log.some((e) => e.method === 'HEAD' && e.url.includes(`/manifests/${f.tag}`)));
  } finally {
    await client.close();
    await mirror.close();
    await empty.close();
  }
});

test('a HEAD without Docker-Content-Digest falls back to GET and digests the body', async (t) => {
  const proxy = await startFaultProxy(seeded.host);
  proxy.rule = (req) => ({ kind: 'pass', dropHeaders: req.method === 'HEAD' ? ['docker-content-digest'] : [] });
  const client = createRegistryClient();
  try {
    const { descriptor } = await client.resolve(`${proxy.host}/${f.repo}:${f.tag}`);
    t.is(String(descriptor.digest), f.digest);
    t.is(descriptor.mediaType, f.mediaType);
    const calls = proxy.log.filter((e) => e.url.endsWith(`/manifests/${f.tag}`)).map((e) => e.method);
    t.deepEqual(calls, ['HEAD', 'GET']);
    t.regex(String(proxy.log.find((e) => e.method === 'HEAD' && e.url.includes('/manifests/'))!.headers.accept), /application\/vnd\.oci\.image\.index\.v1\+json.*application\/vnd\.docker\.distribution\.manifest\.v2\+json/);
  } finally {
    await client.close();
    await proxy.close();
  }
});

test('a bad reference is ERR_REGISTRY_INVALID_ARGUMENT', async (t) => {
  const client = createRegistryClient();
  try {
    const err = await t.throwsAsync(client.resolve('127.0.0.1:5000/UPPER/case:tag'));
    t.is((err as { code?: string }).code, 'ERR_REGISTRY_INVALID_ARGUMENT');
  } finally {
    await client.close();
  }
});
