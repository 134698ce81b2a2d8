import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { cacheDir, fixturesDir, freePort, listFixtures, repoRoot } from '@berth/testkit';

const run = promisify(execFile);

test('scripts/fixtures is idempotent: a second run reuses the cached build', async (t) => {
  const before = fs.statSync(path.join(fixturesDir(), 'fixtures.json')).mtimeMs;
  const { stdout } = await run('bash', [path.join(repoRoot(), 'scripts/fixtures')]);
  t.is(stdout.trim(), fixturesDir());
  t.is(fs.statSync(path.join(fixturesDir(), 'fixtures.json')).mtimeMs, before);
  // Only the newest build is kept.
  t.deepEqual(fs.readdirSync(cacheDir()).filter((d) => d.startsWith('fixtures-')), [path.basename(fixturesDir())]);
});

test.serial('scripts/registry starts a seeded persistent registry idempotently, and stops it', async (t) => {
  const port = await freePort();
  const env = { ...process.env, BERTH_REGISTRY_PORT: String(port) };
  const script = path.join(repoRoot(), 'scripts/registry');
  const dir = path.join(cacheDir(), `registry-${port}`);
  t.teardown(async () => {
    await run('bash', [script, 'stop'], { env }).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const first = await run('bash', [script], { env });
  t.is(first.stdout.trim(), `http://127.0.0.1:${port}`);
  const pid = fs.readFileSync(path.join(dir, 'registry.pid'), 'utf8');
  await run('bash', [script, 'start'], { env });
  t.is(fs.readFileSync(path.join(dir, 'registry.pid'), 'utf8'), pid);
  for (const f of listFixtures()) {
    const res = await fetch(`http://127.0.0.1:${port}/v2/${f.repo}/manifests/${f.tag}`, { method: 'HEAD', headers: { accept: f.mediaType } });
    t.is(res.headers.get('docker-content-digest'), f.digest);
  }
  await run('bash', [script, 'stop'], { env });
  await t.throwsAsync(run('bash', [script, 'status'], { env }));
  await t.throwsAsync(fetch(`http://127.0.0.1:${port}/v2/`));
});
