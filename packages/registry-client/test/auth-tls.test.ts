import test from 'ava';
import diagnostics_channel from 'node:diagnostics_channel';
import fs from 'node:fs';
import { fixture, startRegistry } from '@berth/testkit';
import { createRegistryClient, staticCredentials, RegistryChannel } from '@berth/registry-client';
import { consume } from './helpers/drain.js';

const f = fixture('busybox', 'oci-gzip');

async function pullWhole(client: ReturnType<typeof createRegistryClient>, ref: string): Promise<number> {
  const { descriptor } = await client.resolve(ref);
  const fetcher = client.fetcher(ref);
  const m = await fetcher.fetchManifest(descriptor);
  let n = 0;
  for (const d of [m.manifest!.config, ...m.manifest!.layers]) {
    const got = await consume(await fetcher.fetch(d));
    if (got.digest === d.digest) n++;
  }
  return n;
}

test('basic auth: credentials from code work; none or wrong ones are ERR_REGISTRY_UNAUTHORIZED', async (t) => {
  const reg = await startRegistry({ auth: 'basic', seed: true });
  const ref = `${reg.host}/${f.repo}:${f.tag}`;
  const good = createRegistryClient({ credentials: staticCredentials({ [reg.host]: reg.auth! }) });
  const none = createRegistryClient();
  const bad = createRegistryClient({ credentials: staticCredentials({ [reg.host]: { username: reg.auth!.username, password: 'wrong' } }) });
  try {
    t.is(await pullWhole(good, ref), 2);
    for (const c of [none, bad]) {
      const err = await t.throwsAsync(c.resolve(ref));
      t.is((err as { code?: string }).code, 'ERR_REGISTRY_UNAUTHORIZED');
      t.is((err as { status?: number }).status, 401);
    }
  } finally {
    await Promise.all([good.close(), none.close(), bad.close()]);
    await reg.close();
  }
});

test('TLS: a custom CA (PEM) is trusted; without it the certificate is refused; insecureHosts skips verification', async (t) => {
  const reg = await startRegistry({ tls: true, seed: true });
  const ref = `${reg.host}/${f.repo}:${f.tag}`;
  const withCa = createRegistryClient({ ca: reg.caPem! });
  const perHost = createRegistryClient({ hosts: { [reg.host]: { ca: fs.readFileSync(reg.caPath!) } } });
  const without = createRegistryClient();
  const insecure = createRegistryClient({ insecureHosts: [reg.host] });
  try {
    t.is(await pullWhole(withCa, ref), 2);
    t.is(await pullWhole(perHost, ref), 2);
    t.is(await pullWhole(insecure, ref), 2);
    const err = await t.throwsAsync(without.resolve(ref));
    t.is((err as { code?: string }).code, 'ERR_REGISTRY_UNAVAILABLE');
  } finally {
    await Promise.all([withCa.close(), perHost.close(), without.close(), insecure.close()]);
    await reg.close();
  }
});

test.serial('a per-host CA adds to the CAs of NODE_EXTRA_CA_CERTS instead of replacing them (Node adds that file to its default store only)', async (t) => {
  const reg = await startRegistry({ tls: true, seed: true });
  const other = await startRegistry({ tls: true });
  const ref = `${reg.host}/${f.repo}:${f.tag}`;
  const before = process.env.NODE_EXTRA_CA_CERTS;
  process.env.NODE_EXTRA_CA_CERTS = reg.caPath!;
  // The per-host CA is another registry's: only the file's CA can vouch for this one.
  const client = createRegistryClient({ hosts: { [reg.host]: { ca: other.caPem! } } });
  try {
    t.is(await pullWhole(client, ref), 2);
  } finally {
    if (before === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
    else process.env.NODE_EXTRA_CA_CERTS = before;
    await client.close();
    await Promise.all([reg.close(), other.close()]);
  }
});

test('plain http is refused for a host that is not loopback nor allowed', async (t) => {
  const client = createRegistryClient({ hosts: { 'registry.example.invalid': { scheme: 'http' } } });
  try {
    const err = await t.throwsAsync(client.resolve('registry.example.invalid/app:1'));
    t.is((err as { code?: string }).code, 'ERR_REGISTRY_INSECURE_NOT_ALLOWED');
  } finally {
    await client.close();
  }
});

test('token auth: pull with a bearer token; anonymous is ERR_REGISTRY_UNAUTHORIZED', async (t) => {
  const reg = await startRegistry({ auth: 'token', seed: true });
  const ref = `${reg.host}/${f.repo}:${f.tag}`;
  const client = createRegistryClient({ credentials: staticCredentials({ [reg.host]: reg.auth! }) });
  const anon = createRegistryClient();
  // The channel is process-wide and tests run concurrently: keep only this registry's events.
  const auths: Array<{ scheme: string; scopes: string[] }> = [];
  const onAuth = (m: unknown) => { if ((m as { host?: string }).host === reg.host) auths.push(m as { scheme: string; scopes: string[] }); };
  diagnostics_channel.subscribe(RegistryChannel.Auth, onAuth);
  try {
    t.is(await pullWhole(client, ref), 2);
    t.true(auths.some((a) => a.scheme === 'bearer' && a.scopes.includes(`repository:${f.repo}:pull`)));
    // One token per scope set, cached: a second pull fetches no new token.
    const before = auths.length;
    t.is(await pullWhole(client, ref), 2);
    t.is(auths.length, before);
    const err = await t.throwsAsync(anon.resolve(ref));
    t.is((err as { code?: string }).code, 'ERR_REGISTRY_UNAUTHORIZED');
  } finally {
    diagnostics_channel.unsubscribe(RegistryChannel.Auth, onAuth);
    await Promise.all([client.close(), anon.close()]);
    await reg.close();
  }
});

test('token auth: a cross-repository mount widens the scope to both repositories', async (t) => {
  const reg = await startRegistry({ auth: 'token', seed: true });
  const src = `${reg.host}/${f.repo}:${f.tag}`;
  const client = createRegistryClient({ credentials: staticCredentials({ [reg.host]: reg.auth! }) });
  // The channel is process-wide and tests run concurrently: keep only this registry's events.
  const auths: Array<{ scheme: string; scopes: string[] }> = [];
  const onAuth = (m: unknown) => { if ((m as { host?: string }).host === reg.host) auths.push(m as { scheme: string; scopes: string[] }); };
  diagnostics_channel.subscribe(RegistryChannel.Auth, onAuth);
  try {
    const { descriptor } = await client.resolve(src);
    const m = await client.fetcher(src).fetchManifest(descriptor);
    const layer = m.manifest!.layers[0]!;
    const pusher = client.pusher(`${reg.host}/mounted/copy:1`);
    t.is(await pusher.pushBlob(layer, new Uint8Array(0), { mountFrom: [f.repo] }), 'mounted');
    t.true(auths.some((a) => a.scopes.includes(`repository:${f.repo}:pull`) && a.scopes.includes('repository:mounted/copy:pull,push')));
    // The mounted blob is now readable from the target repository, and pushing it again finds it there.
    const got = await consume(await client.fetcher(`${reg.host}/mounted/copy`).fetch(layer));
    t.is(got.digest, layer.digest);
    t.is(await pusher.pushBlob(layer, new Uint8Array(0), { mountFrom: [f.repo] }), 'exists');
  } finally {
    diagnostics_channel.unsubscribe(RegistryChannel.Auth, onAuth);
    await client.close();
    await reg.close();
  }
});

test('token auth: a mount from a repository the user cannot pull falls back to an upload', async (t) => {
  const limited = { username: 'limited', password: 'limited-pw-1', repositories: ['own/copy'] };
  const reg = await startRegistry({ auth: 'token', seed: true, users: [{ username: 'berth', password: 'berth-pw-1' }, limited] });
  const admin = createRegistryClient({ credentials: staticCredentials({ [reg.host]: { username: 'berth', password: 'berth-pw-1' } }) });
  const client = createRegistryClient({ credentials: staticCredentials({ [reg.host]: limited }) });
  try {
    const src = `${reg.host}/${f.repo}:${f.tag}`;
    const { descriptor } = await admin.resolve(src);
    const fetcher = admin.fetcher(src);
    const m = await fetcher.fetchManifest(descriptor);
    const layer = m.manifest!.layers[0]!;
    const chunks: Buffer[] = [];
    for await (const c of await fetcher.fetch(layer)) chunks.push(c as Buffer);
    t.is(await client.pusher(`${reg.host}/own/copy:1`).pushBlob(layer, Buffer.concat(chunks), { mountFrom: [f.repo] }), 'uploaded');
    const got = await consume(await client.fetcher(`${reg.host}/own/copy`).fetch(layer));
    t.is(got.digest, String(layer.digest));
    // And the limited user really cannot read the source repository.
    const err = await t.throwsAsync(client.resolve(src));
    t.is((err as { code?: string }).code, 'ERR_REGISTRY_UNAUTHORIZED');
  } finally {
    await Promise.all([admin.close(), client.close()]);
    await reg.close();
  }
});
