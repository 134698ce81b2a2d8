import { existsSync } from 'node:fs';
import test from 'ava';
import { listFixtures, startRegistry } from '@berth/testkit';

test('a seeded registry serves every fixture under its repo:tag with the fixture digest', async (t) => {
  const reg = await startRegistry();
  t.teardown(() => reg.close());
  t.regex(reg.host, /^127\.0\.0\.1:\d+$/);
  const catalog = await (await fetch(`${reg.url}/v2/_catalog`)).json() as { repositories: string[] };
  t.deepEqual(catalog.repositories.sort(), ['busybox', 'multilayer']);
  for (const f of listFixtures()) {
    for (const tag of [f.tag, ...(f.extraTags ?? [])]) {
      const res = await fetch(`${reg.url}/v2/${f.repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept: f.mediaType } });
      t.is(res.status, 200, `${f.repo}:${tag}`);
      t.is(res.headers.get('docker-content-digest'), f.digest, `${f.repo}:${tag}`);
    }
  }
});

test('an unseeded registry is empty', async (t) => {
  const reg = await startRegistry({ seed: false });
  t.teardown(() => reg.close());
  const catalog = await (await fetch(`${reg.url}/v2/_catalog`)).json() as { repositories: string[] };
  t.deepEqual(catalog.repositories, []);
});

test('a registry accepts manifest deletes, and its copy of the seed is private', async (t) => {
  const f = listFixtures().find((i) => i.name === 'busybox' && i.variant === 'oci-zstd')!;
  const a = await startRegistry();
  const b = await startRegistry();
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const del = await fetch(`${a.url}/v2/${f.repo}/manifests/${f.digest}`, { method: 'DELETE' });
  t.is(del.status, 202);
  t.is((await fetch(`${a.url}/v2/${f.repo}/manifests/${f.digest}`, { method: 'HEAD' })).status, 404);
  t.is((await fetch(`${b.url}/v2/${f.repo}/manifests/${f.digest}`, { method: 'HEAD', headers: { accept: f.mediaType } })).status, 200);
});

test('close() stops the registry and removes its storage', async (t) => {
  const reg = await startRegistry({ seed: false });
  await reg.close();
  await reg.close();
  t.false(existsSync(reg.storageDir));
  await t.throwsAsync(fetch(`${reg.url}/v2/`));
});
