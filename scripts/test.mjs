#!/usr/bin/env node
// The project's test command (`npm test`): build, make sure the fixture images
// exist (cached), then run every workspace's ava suite on the compiled output,
// two workspaces at a time, and print one closing line: "N passed, N failed".
//
//   npm test                       all workspaces
//   npm test -- oci-spec cow-fs    only these (directory names)
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';

const root = path.resolve(import.meta.dirname, '..');
process.chdir(root);
const only = process.argv.slice(2);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    console.error(`test: ${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
    process.exit(1);
  }
}

run('npm', ['run', '--silent', 'build']);
run('bash', ['scripts/fixtures']);

const rootPkg = JSON.parse(fs.readFileSync('package.json', 'utf8'));
const dirs = rootPkg.workspaces.flatMap((w) => w.endsWith('/*')
  ? fs.readdirSync(w.slice(0, -2)).map((d) => `${w.slice(0, -2)}/${d}`)
  : [w]);
const suites = dirs.filter((d) => {
  if (only.length && !only.includes(path.basename(d))) return false;
  const pj = path.join(d, 'package.json');
  if (!fs.existsSync(pj)) return false;
  const testDir = path.join(d, 'dist', 'test');
  return JSON.parse(fs.readFileSync(pj, 'utf8')).scripts?.test && fs.existsSync(testDir)
    && fs.readdirSync(testDir, { recursive: true }).some((f) => String(f).endsWith('.test.js'));
});

const concurrency = Number(process.env.BERTH_TEST_CONCURRENCY ?? Math.max(2, Math.min(os.cpus().length, 3)));
let passed = 0, failed = 0, skipped = 0, todo = 0, broken = [];

function runSuite(dir) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn('npx', ['ava', '--tap=false'], {
      cwd: dir, env: { ...process.env, FORCE_COLOR: '0', BERTH_REPO_ROOT: root }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('close', (code) => {
      const num = (re) => Number(out.match(re)?.[1] ?? 0);
      const p = num(/(\d+) tests? passed/), f = num(/(\d+) tests? failed/) + num(/(\d+) uncaught exceptions?/)
        + num(/(\d+) unhandled rejections?/), s = num(/(\d+) tests? skipped/), t = num(/(\d+) tests? todo/);
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(`\n===== ${dir} (${secs}s, exit ${code}) =====\n${out}`);
      passed += p; failed += f; skipped += s; todo += t;
      if (code !== 0) { broken.push(dir); if (f === 0) failed += 1; }
      resolve();
    });
  });
}

const queue = [...suites];
await Promise.all(Array.from({ length: concurrency }, async () => {
  for (let d = queue.shift(); d; d = queue.shift()) await runSuite(d);
}));

if (broken.length) console.log(`\nfailing workspaces: ${broken.join(', ')}`);
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(broken.length || failed ? 1 : 0);
