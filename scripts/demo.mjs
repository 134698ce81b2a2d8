#!/usr/bin/env node
// The project's main job (`npm run demo`):
//   1. make sure the persistent local registry is up (bash scripts/registry, seeded with the
//      fixture images) and show, in one line per image, what it serves;
//   2. run the built CLI: `berth run --rm 127.0.0.1:5000/busybox echo hello`, which pulls the image
//      (with docker's progress display) into a fresh state directory and runs it.
// Needs root (namespaces, overlayfs, cgroups). BERTH_ROOT / BERTH_RUN_ROOT pick the state
// directories; by default a temp dir is used (and removed afterwards) so the pull always shows.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listFixtures } from '@berth/testkit';

const root = path.resolve(import.meta.dirname, '..');
const url = execFileSync('bash', [path.join(root, 'scripts/registry')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
const host = new URL(url).host;

const served = [];
for (const f of listFixtures()) {
  const res = await fetch(`${url}/v2/${f.repo}/manifests/${f.tag}`, { method: 'HEAD', headers: { accept: f.mediaType } });
  served.push(`${f.repo}:${f.tag}${res.status === 200 && res.headers.get('docker-content-digest') === f.digest ? '' : ' (NOT SERVED)'}`);
}
console.log(`berth demo: local registry ${url} serves ${served.join(', ')}\n`);

const main = path.join(root, 'examples/berth/dist/src/main.cjs');
if (!fs.existsSync(main)) {
  console.log('building berth (npm run build)…');
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
}

const tmp = process.env.BERTH_ROOT ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'berth-demo-'));
const env = {
  ...process.env,
  BERTH_ROOT: process.env.BERTH_ROOT ?? path.join(tmp, 'root'),
  BERTH_RUN_ROOT: process.env.BERTH_RUN_ROOT ?? path.join(tmp, 'run'),
};
const args = ['run', '--rm', `${host}/busybox`, 'echo', 'hello'];
console.log(`$ berth ${args.join(' ')}`);
// The binary itself, through its shebang line, as a user's `berth` runs.
const r = spawnSync(main, args, { env, stdio: 'inherit' });
if (tmp) {
  // The engine bind-mounts its netns directory onto itself (as `ip netns` does): unmount what lives under tmp first.
  const mounted = fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m?.startsWith(`${tmp}/`));
  for (const m of mounted.reverse()) spawnSync('umount', ['-l', m]);
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`\n(berth exited ${r.status ?? r.signal}; stop the registry with: bash scripts/registry stop)`);
process.exit(r.status ?? 1);
