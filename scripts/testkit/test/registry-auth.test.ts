import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { fixture, startRegistry, tempDir, type TestRegistry } from '@berth/testkit';

const run = promisify(execFile);

/** skopeo inspect of a repo:tag in the registry, trusting its CA, with optional credentials. */
async function skopeoInspect(reg: TestRegistry, ref: string, creds?: string): Promise<string> {
  const args = ['inspect', '--raw'];
  const certs = await tempDir('berth-certs-');
  try {
    if (reg.caPem) {
      await fs.writeFile(path.join(certs.path, 'ca.crt'), reg.caPem);
      args.push('--cert-dir', certs.path);
    } else {
      args.push('--tls-verify=false');
    }
    if (creds) args.push('--creds', creds);
    const { stdout } = await run('skopeo', [...args, `docker://${reg.host}/${ref}`]);
    return stdout;
  } finally {
    await certs.cleanup();
  }
}

function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https.get(url, { ca }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

const basicHeader = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

async function getToken(reg: TestRegistry, scopes: string[], creds?: { username: string; password: string }): Promise<Response> {
  const q = new URLSearchParams({ service: reg.tokenService! });
  for (const s of scopes) q.append('scope', s);
  return fetch(`${reg.tokenRealm}?${q}`, { headers: creds ? { authorization: basicHeader(creds.username, creds.password) } : {} });
}

test('TLS: the registry serves HTTPS with a certificate its generated CA signed, for 127.0.0.1', async (t) => {
  const reg = await startRegistry({ tls: true });
  t.teardown(() => reg.close());
  t.true(reg.url.startsWith('https://127.0.0.1:'));
  t.regex(reg.caPem!, /BEGIN CERTIFICATE/);
  t.is((await httpsGet(`${reg.url}/v2/`, reg.caPem!)).status, 200);
  // Without the CA, the certificate is not trusted.
  await t.throwsAsync(fetch(`${reg.url}/v2/`));
  const f = fixture('busybox', 'docker-gzip');
  t.is(JSON.parse(await skopeoInspect(reg, `${f.repo}:${f.tag}`)).mediaType, f.mediaType);
});

test('basic auth: htpasswd users, 401 without or with wrong credentials', async (t) => {
  const reg = await startRegistry({ auth: 'basic', tls: true });
  t.teardown(() => reg.close());
  const { username, password } = reg.auth!;
  t.is((await httpsGet(`${reg.url}/v2/`, reg.caPem!)).status, 401);
  const ok = await new Promise<number>((resolve, reject) => {
    https.get(`${reg.url}/v2/`, { ca: reg.caPem!, headers: { authorization: basicHeader(username, password) } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject);
  });
  t.is(ok, 200);
  const f = fixture('multilayer', 'oci-gzip');
  t.truthy(await skopeoInspect(reg, `${f.repo}:${f.tag}`, `${username}:${password}`));
  await t.throwsAsync(skopeoInspect(reg, `${f.repo}:${f.tag}`, `${username}:wrong`));
  await t.throwsAsync(skopeoInspect(reg, `${f.repo}:${f.tag}`));
});

test('token auth over TLS: bearer challenge, tokens signed for the registry, skopeo pulls with credentials', async (t) => {
  const reg = await startRegistry({ auth: 'token', tls: true });
  t.teardown(() => reg.close());
  const challenge = await new Promise<string>((resolve, reject) => {
    https.get(`${reg.url}/v2/`, { ca: reg.caPem! }, (res) => { res.resume(); resolve(String(res.headers['www-authenticate'] ?? '')); }).on('error', reject);
  });
  t.true(challenge.startsWith(`Bearer realm="${reg.tokenRealm}"`));
  const f = fixture('busybox', 'oci-index');
  const raw = await skopeoInspect(reg, `${f.repo}:${f.tag}`, `${reg.auth!.username}:${reg.auth!.password}`);
  t.is(JSON.parse(raw).mediaType, 'application/vnd.oci.image.index.v1+json');
  await t.throwsAsync(skopeoInspect(reg, `${f.repo}:${f.tag}`));
  t.is((await getToken(reg, ['repository:busybox:pull'], { username: reg.auth!.username, password: 'wrong' })).status, 401);
});

test('token auth: one token for several repositories allows a cross-repository blob mount', async (t) => {
  const reg = await startRegistry({ auth: 'token' });
  t.teardown(() => reg.close());
  const f = fixture('busybox', 'oci-gzip');
  const layer = (JSON.parse((await fs.readFile(path.join(f.path, 'blobs', ...f.digest.split(':')))).toString()) as { layers: Array<{ digest: string }> }).layers[0]!.digest;
  const res = await getToken(reg, ['repository:mounted/copy:pull,push', 'repository:busybox:pull'], reg.auth);
  t.is(res.status, 200);
  const { token } = await res.json() as { token: string };
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { access: unknown[] };
  t.deepEqual(claims.access, [
    { type: 'repository', name: 'mounted/copy', actions: ['pull', 'push'] },
    { type: 'repository', name: 'busybox', actions: ['pull'] },
  ]);
  const mount = await fetch(`${reg.url}/v2/mounted/copy/blobs/uploads/?mount=${layer}&from=busybox`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  t.is(mount.status, 201);
  t.is(mount.headers.get('docker-content-digest'), layer);
  const head = await fetch(`${reg.url}/v2/mounted/copy/blobs/${layer}`, { method: 'HEAD', headers: { authorization: `Bearer ${token}` } });
  t.is(head.status, 200);
});

test('token auth: anonymous pull when configured, and per-user action limits', async (t) => {
  const reg = await startRegistry({
    auth: 'token', anonymousPull: true,
    users: [{ username: 'reader', password: 'r3ader', actions: ['pull'] }],
  });
  t.teardown(() => reg.close());
  const f = fixture('busybox', 'docker-manifest-list');
  t.truthy(await skopeoInspect(reg, `${f.repo}:${f.tag}`));
  const anon = await (await getToken(reg, ['repository:busybox:pull,push'])).json() as { token: string };
  const anonClaims = JSON.parse(Buffer.from(anon.token.split('.')[1]!, 'base64url').toString()) as { access: unknown[] };
  t.deepEqual(anonClaims.access, [{ type: 'repository', name: 'busybox', actions: ['pull'] }]);
  const reader = await (await getToken(reg, ['repository:busybox:pull,push'], { username: 'reader', password: 'r3ader' })).json() as { token: string };
  const upload = await fetch(`${reg.url}/v2/busybox/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${reader.token}` } });
  t.is(upload.status, 401);
});
