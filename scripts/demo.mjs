#!/usr/bin/env node
// The project's main job (`npm run demo`). For now: make sure the persistent local registry is up
// (bash scripts/registry, seeded with the fixture images) and print the fixture images that
// `bash scripts/fixtures` made, where each is pushed (repo:tag at 127.0.0.1:5000), its digest
// (checked against the registry) and its platforms.
// Later: `berth run --rm 127.0.0.1:5000/busybox echo hello`.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fixturesDir, listFixtures } from '@berth/testkit';

const root = path.resolve(import.meta.dirname, '..');
const url = execFileSync('bash', [path.join(root, 'scripts/registry')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
const host = new URL(url).host;

const fixtures = listFixtures();
const dir = fixturesDir();
console.log(`berth demo: local registry ${url}; ${fixtures.length} fixture images in ${dir}\n`);
let bad = 0;
const rows = [];
for (const f of fixtures) {
  for (const tag of [f.tag, ...(f.extraTags ?? [])]) {
    const res = await fetch(`${url}/v2/${f.repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept: f.mediaType } });
    const served = res.headers.get('docker-content-digest');
    const ok = res.status === 200 && served === f.digest;
    if (!ok) bad++;
    rows.push([
      `${host}/${f.repo}:${tag}`,
      f.digest,
      f.platforms.map((p) => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`).join(', '),
      `${f.transport}:${path.relative(dir, f.path)}`,
      ok ? 'served' : `NOT SERVED (${res.status}${served ? ` ${served}` : ''})`,
    ]);
  }
}
const header = ['reference', 'digest', 'platforms', 'fixture', 'registry'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
for (const r of [header, ...rows]) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
console.log('\nnext (not wired yet): berth run --rm 127.0.0.1:5000/busybox echo hello');
console.log(`stop the registry with: bash scripts/registry stop`);
if (bad) {
  console.error(`demo: ${bad} fixture image(s) not served by ${url}`);
  process.exit(1);
}
