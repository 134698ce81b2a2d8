import test from 'ava';
import { createHash } from 'node:crypto';
import diagnostics_channel from 'node:diagnostics_channel';
import { fixture, startRegistry, type TestRegistry } from '@berth/testkit';
import { createRegistryClient, RegistryChannel } from '@berth/registry-client';
import { type Descriptor, parseDigest } from '@berth/oci-spec';
import { consume } from './helpers/drain.js';
import { startFaultProxy, startSilentServer, type FaultProxy } from './helpers/fault-proxy.js';

let registry: TestRegistry;
let proxy: FaultProxy;
let layer: Descriptor;
const f = fixture('multilayer', 'oci-gzip');

test.before(async () => {
  registry = await startRegistry({ seed: true });
  proxy = await startFaultProxy(registry.host);
  const client = createRegistryClient();
  try {
    const ref = `${registry.host}/${f.repo}:${f.tag}`;
    const { descriptor } = await client.resolve(ref);
    const m = await client.fetcher(ref).fetchManifest(descriptor);
    layer = [...m.manifest!.layers].sort((a, b) => b.size - a.size)[0]!;
  } finally {
    await client.close();
  }
});
test.after.always(async () => { await proxy?.close(); await registry?.close(); });

const isBlobGet = (url: string | undefined, d: Descriptor) => url?.endsWith(`/blobs/${d.digest}`);

test.serial('a connection cut mid-blob resumes with Range and the digest verifies', async (t) => {
  t.true(layer.size > 64 * 1024, 'the largest layer is big enough to cut in the middle');
  const cutAt = Math.floor(layer.size / 2);
  let cuts = 0;
  proxy.rule = (req) => (req.method === 'GET' && isBlobGet(req.url, layer) && cuts++ === 0 ? { kind: 'cut', afterBytes: cutAt } : { kind: 'pass' });
  const resumes: unknown[] = [];
  const onResume = (m: unknown) => resumes.push(m);
  diagnostics_channel.subscribe(RegistryChannel.Resume, onResume);
  const client = createRegistryClient({ retry: { minDelayMs: 20, maxDelayMs: 100 } });
  try {
    proxy.log.length = 0;
    const got = await consume(await client.fetcher(`${proxy.host}/${f.repo}`).fetch(layer));
    t.is(got.digest, layer.digest);
    t.is(got.size, layer.size);
    const gets = proxy.log.filter((e) => e.method === 'GET' && isBlobGet(e.url, layer));
    t.is(gets.length, 2);
    t.is(gets[0]!.headers.range, undefined);
    // The proxy cut after `cutAt` bytes; the client may have received fewer before the reset.
    const m = /^bytes=(\d+)-$/.exec(String(gets[1]!.headers.range));
    t.truthy(m);
    t.true(Number(m![1]) > 0 && Number(m![1]) <= cutAt);
    t.is(resumes.length, 1);
  } finally {
    diagnostics_channel.unsubscribe(RegistryChannel.Resume, onResume);
    await client.close();
  }
});

test.serial('a stalled body (no bytes for stallTimeoutMs) is abandoned and resumed', async (t) => {
  let stalls = 0;
  proxy.rule = (req) => (req.method === 'GET' && isBlobGet(req.url, layer) && stalls++ === 0 ? { kind: 'stall', afterBytes: 100_000 } : { kind: 'pass' });
  const client = createRegistryClient({ stallTimeoutMs: 1000, retry: { minDelayMs: 20, maxDelayMs: 100 } });
  try {
    proxy.log.length = 0;
    const got = await consume(await client.fetcher(`${proxy.host}/${f.repo}`).fetch(layer));
    t.is(got.digest, String(layer.digest));
    const gets = proxy.log.filter((e) => e.method === 'GET' && isBlobGet(e.url, layer));
    // The stalled answer was abandoned and the rest asked with Range (a loaded machine may add more resumes).
    t.true(gets.length >= 2);
    t.is(gets[0]!.headers.range, undefined);
    t.is(gets[0]!.action, 'stall');
    t.regex(String(gets[1]!.headers.range), /^bytes=[1-9]\d*-$/);
  } finally {
    await client.close();
  }
});

test.serial('a flipped byte is ERR_REGISTRY_DIGEST_MISMATCH and the stream never ends as valid', async (t) => {
  proxy.rule = (req) => (req.method === 'GET' && isBlobGet(req.url, layer) ? { kind: 'flip', atByte: Math.floor(layer.size / 3) } : { kind: 'pass' });
  const client = createRegistryClient();
  try {
    const stream = await client.fetcher(`${proxy.host}/${f.repo}`).fetch(layer);
    let handed = 0;
    let ended = false;
    stream.on('end', () => { ended = true; });
    const err = await t.throwsAsync(async () => {
      for await (const c of stream as AsyncIterable<Buffer>) handed += c.length;
    });
    t.is((err as { code?: string }).code, 'ERR_REGISTRY_DIGEST_MISMATCH');
    t.is((err as { kind?: string }).kind, 'data-loss');
    t.false(ended);
    t.true(handed < layer.size, 'the last chunk was held back');
  } finally {
    await client.close();
  }
});

test.serial('verify: false checks only the size: a flipped byte flows through to the end (the caller verifies)', async (t) => {
  const flipAt = Math.floor(layer.size / 3);
  proxy.rule = (req) => (req.method === 'GET' && isBlobGet(req.url, layer) ? { kind: 'flip', atByte: flipAt } : { kind: 'pass' });
  const client = createRegistryClient();
  try {
    const fetcher = client.fetcher(`${proxy.host}/${f.repo}`);
    const got = await consume(await fetcher.fetch(layer, { verify: false }));
    t.is(got.size, layer.size);
    t.not(got.digest, layer.digest, 'the flipped bytes were handed on, unverified');
    // The same answer, verified by default, fails.
    const err = await t.throwsAsync(consume(await fetcher.fetch(layer)));
    t.is((err as { code?: string }).code, 'ERR_REGISTRY_DIGEST_MISMATCH');
    // Unflipped, verify: false hands on exactly the blob.
    proxy.rule = () => ({ kind: 'pass' });
    const clean = await consume(await fetcher.fetch(layer, { verify: false }));
    t.is(clean.digest, layer.digest);
  } finally {
    await client.close();
  }
});

test.serial('resolve withManifest is one GET (no HEAD); fetchManifest of those bytes sends nothing and checks them', async (t) => {
  proxy.rule = () => ({ kind: 'pass' });
  const client = createRegistryClient();
  try {
    const ref = `${proxy.host}/${f.repo}:${f.tag}`;
    const plain = await client.resolve(ref);
    proxy.log.length = 0;
    const got = await client.resolve(ref, { withManifest: true });
    t.deepEqual(proxy.log.map((e) => e.method), ['GET']);
    t.true(String(proxy.log[0]!.url).includes('/manifests/'));
    t.deepEqual(got.descriptor, plain.descriptor);
    t.is(`sha256:${createHash('sha256').update(got.bytes!).digest('hex')}`, got.descriptor.digest);
    const fetcher = client.fetcher(ref);
    proxy.log.length = 0;
    const pre = await fetcher.fetchManifest(got.descriptor, { prefetched: got.bytes! });
    t.is(proxy.log.length, 0, 'no request for prefetched bytes');
    const fetched = await fetcher.fetchManifest(got.descriptor);
    t.deepEqual(pre.bytes, fetched.bytes);
    t.deepEqual(pre.manifest ?? pre.index, fetched.manifest ?? fetched.index);
    // Bytes that are not the descriptor's are refused, as a fetch by digest would.
    const flipped = Buffer.from(got.bytes!);
    flipped[flipped.length - 2] ^= 1;
    const bad = await t.throwsAsync(fetcher.fetchManifest(got.descriptor, { prefetched: flipped }));
    t.is((bad as { code?: string }).code, 'ERR_REGISTRY_DIGEST_MISMATCH');
    const short = await t.throwsAsync(fetcher.fetchManifest(got.descriptor, { prefetched: got.bytes!.subarray(1) }));
    t.is((short as { code?: string }).code, 'ERR_REGISTRY_SIZE_MISMATCH');
  } finally {
    await client.close();
  }
});

test.serial('429 with Retry-After: the retry comes after the delay, as the proxy saw it', async (t) => {
  let n = 0;
  proxy.rule = (req) => (req.method === 'GET' && isBlobGet(req.url, layer) && n++ === 0
    ? { kind: 'status', status: 429, headers: { 'retry-after': '1' } } : { kind: 'pass' });
  const retries: Array<{ delayMs?: number }> = [];
  const onRetry = (m: unknown) => retries.push(m as { delayMs?: number });
  diagnostics_channel.subscribe(RegistryChannel.Retry, onRetry);
  const client = createRegistryClient();
  try {
    proxy.log.length = 0;
    const got = await consume(await client.fetcher(`${proxy.host}/${f.repo}`).fetch(layer));
    t.is(got.digest, layer.digest);
    const gets = proxy.log.filter((e) => e.method === 'GET' && isBlobGet(e.url, layer));
    t.is(gets.length, 2);
    t.is(gets[0]!.action, 'status');
    // Ordering check on the proxy's clock: the retry arrived no sooner than Retry-After after the 429 went out.
    t.true(gets[1]!.at - gets[0]!.doneAt! >= 1000, `retry ${gets[1]!.at - gets[0]!.doneAt!} ms after the 429`);
    t.is(retries.find((r) => r.delayMs !== undefined)?.delayMs, 1000);
  } finally {
    diagnostics_channel.unsubscribe(RegistryChannel.Retry, onRetry);
    await client.close();
  }
});

test.serial('5xx answers are retried, then reported as ERR_REGISTRY_UNAVAILABLE', async (t) => {
  proxy.rule = (req) => (req.method === 'GET' && isBlobGet(req.url, layer)
    ? { kind: 'status', status: 503, body: '{"errors":[{"code":"UNAVAILABLE","message":"down"}]}' } : { kind: 'pass' });
  const client = createRegistryClient({ retry: { maxRetries: 2, minDelayMs: 10, maxDelayMs: 20 } });
  try {
    proxy.log.length = 0;
    const err = await t.throwsAsync(client.fetcher(`${proxy.host}/${f.repo}`).fetch(layer));
    t.is((err as { code?: string }).code, 'ERR_REGISTRY_UNAVAILABLE');
    t.is((err as { status?: number }).status, 503);
    t.deepEqual((err as { registryCodes?: string[] }).registryCodes, ['UNAVAILABLE']);
    t.is(proxy.log.filter((e) => isBlobGet(e.url, layer)).length, 3);
  } finally {
    await client.close();
  }
});

test.serial('a registry that never answers times out with ERR_REGISTRY_TIMEOUT', async (t) => {
  const silent = await startSilentServer();
  const client = createRegistryClient({ timeoutMs: 300, retry: { maxRetries: 1, minDelayMs: 10, maxDelayMs: 20 } });
  try {
    const err = await t.throwsAsync(client.resolve(`${silent.host}/busybox:latest`));
    t.is((err as { code?: string }).code, 'ERR_REGISTRY_TIMEOUT');
    t.true(silent.connections >= 1);
  } finally {
    await client.close();
    await silent.close();
  }
});

test.serial('an aborted fetch is ERR_REGISTRY_CANCELLED', async (t) => {
  proxy.rule = () => ({ kind: 'pass' });
  const client = createRegistryClient();
  try {
    const ac = new AbortController();
    ac.abort();
    const err = await t.throwsAsync(client.fetcher(`${proxy.host}/${f.repo}`).fetch(layer, { signal: ac.signal }));
    t.is((err as { code?: string }).code, 'ERR_REGISTRY_CANCELLED');
  } finally {
    await client.close();
  }
});

test.serial('bounded concurrency: with concurrency 1 the second blob is asked only after the first was read', async (t) => {
  proxy.rule = () => ({ kind: 'pass' });
  const client = createRegistryClient({ concurrency: 1 });
  try {
    const ref = `${proxy.host}/${f.repo}:${f.tag}`;
    const { descriptor } = await client.resolve(ref);
    const fetcher = client.fetcher(ref);
    const m = await fetcher.fetchManifest(descriptor);
    const blobs = [m.manifest!.config, ...m.manifest!.layers];
    proxy.log.length = 0;
    const got = await Promise.all(blobs.map(async (d) => consume(await fetcher.fetch(d))));
    t.deepEqual(got.map((g) => g.digest), blobs.map((d) => String(d.digest)));
    const gets = proxy.log.filter((e) => e.method === 'GET' && e.url.includes('/blobs/'));
    t.is(gets.length, blobs.length);
    // Each request arrived after the last bytes of the previous answer were sent, on the proxy's clock
    // (the proxy handles events in order, and the client cannot finish a blob before its last bytes left).
    for (let i = 1; i < gets.length; i++) t.true(gets[i]!.at >= gets[i - 1]!.lastWriteAt!, `request ${i} overlapped`);
  } finally {
    await client.close();
  }
});

test.serial('manifests over the size limit are ERR_REGISTRY_TOO_LARGE', async (t) => {
  proxy.rule = () => ({ kind: 'pass' });
  const client = createRegistryClient({ maxManifestSize: 64 });
  try {
    const ref = `${proxy.host}/${f.repo}:${f.tag}`;
    // HEAD gives the size, so resolve works; fetching the manifest is refused before reading it.
    const { descriptor } = await client.resolve(ref);
    const err = await t.throwsAsync(client.fetcher(ref).fetchManifest(descriptor));
    t.is((err as { code?: string }).code, 'ERR_REGISTRY_TOO_LARGE');
    // Without a Docker-Content-Digest the resolver GETs the body, and stops reading past the limit.
    proxy.rule = (req) => ({ kind: 'pass', dropHeaders: req.method === 'HEAD' ? ['docker-content-digest'] : [] });
    const err2 = await t.throwsAsync(client.resolve(ref));
    t.is((err2 as { code?: string }).code, 'ERR_REGISTRY_TOO_LARGE');
  } finally {
    proxy.rule = () => ({ kind: 'pass' });
    await client.close();
  }
});

test.serial('a manifest that fails validation is ERR_REGISTRY_PROTOCOL (after its digest checked)', async (t) => {
  const body = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: 'nope' });
  const bytes = Buffer.from(body);
  const desc: Descriptor = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`),
    size: bytes.length,
  };
  proxy.rule = (req) => (req.url?.endsWith(`/manifests/${desc.digest}`)
    ? { kind: 'status', status: 200, headers: { 'content-type': desc.mediaType, 'docker-content-digest': desc.digest }, body }
    : { kind: 'pass' });
  const client = createRegistryClient();
  try {
    const err = await t.throwsAsync(client.fetcher(`${proxy.host}/${f.repo}`).fetchManifest(desc));
    t.is((err as { code?: string }).code, 'ERR_REGISTRY_PROTOCOL');
    t.regex(String((err as { details?: { ociCode?: string } }).details?.ociCode), /^ERR_OCI_/);
  } finally {
    proxy.rule = () => ({ kind: 'pass' });
    await client.close();
  }
});
