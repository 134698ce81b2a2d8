import test from 'ava';
import diagnostics_channel from 'node:diagnostics_channel';
import { fixture, startRegistry, type TestRegistry } from '@berth/testkit';
import { createRegistryClient, RegistryChannel, staticCredentials } from '@berth/registry-client';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';

const f = fixture('busybox', 'oci-gzip');
let registry: TestRegistry;
let front: FaultProxy;
let tokens: FaultProxy;

test.before(async () => {
  registry = await startRegistry({ auth: 'token', seed: true });
  front = await startFaultProxy(registry.host);
  tokens = await startFaultProxy(new URL(registry.tokenRealm!).host);
});
test.after.always(async () => { await front?.close(); await tokens?.close(); await registry?.close(); });

function recordAuth(): { auths: Array<{ scheme: string; scopes: string[] }>; stop(): void } {
  const auths: Array<{ scheme: string; scopes: string[] }> = [];
  const on = (m: unknown) => auths.push(m as { scheme: string; scopes: string[] });
  diagnostics_channel.subscribe(RegistryChannel.Auth, on);
  return { auths, stop: () => diagnostics_channel.unsubscribe(RegistryChannel.Auth, on) };
}

test.serial('a 401 on a cached token drops it and fetches a new one (renewal)', async (t) => {
  const client = createRegistryClient({ credentials: staticCredentials({ [front.host]: registry.auth! }) });
  const rec = recordAuth();
  try {
    const ref = `${front.host}/${f.repo}:${f.tag}`;
    await client.resolve(ref);
    t.is(rec.auths.length, 1);
    // The registry now refuses that token once, as it would an expired or revoked one.
    let refused = 0;
    front.rule = (req) => (req.method === 'HEAD' && refused++ === 0
      ? {
        kind: 'status', status: 401,
        headers: { 'www-authenticate': `Bearer realm="${registry.tokenRealm}",service="${registry.tokenService}",scope="repository:${f.repo}:pull",error="invalid_token"` },
        body: '{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}',
      }
      : { kind: 'pass' });
    front.log.length = 0;
    const { descriptor } = await client.resolve(ref);
    t.is(String(descriptor.digest), f.digest);
    t.is(rec.auths.length, 2, 'a second token was fetched');
    const heads = front.log.filter((e) => e.method === 'HEAD');
    t.is(heads.length, 2);
    t.not(heads[0]!.headers.authorization, heads[1]!.headers.authorization);
  } finally {
    front.rule = () => ({ kind: 'pass' });
    rec.stop();
    await client.close();
  }
});

test.serial('the OAuth2 POST form is used when the token GET is refused', async (t) => {
  const realm = new URL(registry.tokenRealm!);
  // Point the challenge at the token proxy, which refuses GET like an OAuth2-only server.
  front.rule = () => ({
    kind: 'pass',
    mapHeaders: (h) => {
      const w = h['www-authenticate'];
      return typeof w === 'string' ? { ...h, 'www-authenticate': w.replace(realm.host, tokens.host) } : h;
    },
  });
  tokens.rule = (req) => (req.method === 'GET' ? { kind: 'status', status: 405, body: '' } : { kind: 'pass' });
  const client = createRegistryClient({ credentials: staticCredentials({ [front.host]: registry.auth! }) });
  try {
    const { descriptor } = await client.resolve(`${front.host}/${f.repo}:${f.tag}`);
    t.is(String(descriptor.digest), f.digest);
    t.deepEqual(tokens.log.map((e) => e.method), ['GET', 'POST']);
    t.is(tokens.log[1]!.headers['content-type'], 'application/x-www-form-urlencoded');
  } finally {
    front.rule = () => ({ kind: 'pass' });
    tokens.rule = () => ({ kind: 'pass' });
    await client.close();
  }
});
