#!/usr/bin/env node
// The project's benchmark command (`npm run bench`): builds, makes sure the fixture images exist,
// then runs every workspace's `dist/bench/*.bench.js` (`export const benchmarks: Benchmark[]`,
// see @berth/testkit): each group's entries interleaved round by round (berth and its peers in the
// same run, under the same load), and prints median and minimum per entry and, for each available
// peer, berth's median divided by the peer's (below 1: berth is faster).
//
// Each group runs in a fresh Node process that imports only its own bench file, as a program
// embedding that one package would: a runner that imported every bench module (the engine's
// undici, the API server...) made berth's in-process entries pay for a heap they never use (the
// cow-fs unpack's garbage collections took ~3x longer with undici loaded). The peers are separate
// processes either way.
//
//   npm run bench                        every group
//   npm run bench -- registry pull       groups whose name contains "registry" or "pull",
//                                        or whose workspace directory is named so
//   npm run bench -- --json out.json     also write the results as JSON
//   npm run bench -- --no-build          skip `npm run build` and `scripts/fixtures`
//   BERTH_BENCH_ROUNDS=3 BERTH_BENCH_WARMUP=0 npm run bench   override every group's counts
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const root = path.resolve(import.meta.dirname, '..');
process.chdir(root);

const args = process.argv.slice(2);
const isChild = args[0] === '--list' || args[0] === '--group';
let jsonOut;
let build = !isChild;
const filters = [];
for (let i = 0; i < args.length && !isChild; i++) {
  if (args[i] === '--json') jsonOut = args[++i];
  else if (args[i] === '--no-build') build = false;
  else filters.push(args[i].toLowerCase());
}

function run(cmd, cmdArgs) {
  const r = spawnSync(cmd, cmdArgs, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    console.error(`bench: ${cmd} ${cmdArgs.join(' ')} exited with ${r.status ?? r.signal}`);
    process.exit(1);
  }
}
if (build) {
  run('npm', ['run', '--silent', 'build']);
  run('bash', ['-c', 'bash scripts/fixtures >/dev/null']);
}

// Child modes (run by this script itself): `--list FILE` prints the file's group names as JSON;
// `--group FILE NAME OUT` runs that one group and writes its result rows as JSON to OUT.
if (args[0] === '--list') {
  const mod = await import(pathToFileURL(path.resolve(args[1])).href);
  if (!Array.isArray(mod.benchmarks)) {
    console.error(`bench: ${args[1]} does not export \`benchmarks\` (an array)`);
    process.exit(1);
  }
  process.stdout.write(JSON.stringify([...new Set(mod.benchmarks.map((b) => b.group))]));
  process.exit(0);
}
const childGroup = args[0] === '--group' ? { file: args[1], name: args[2], out: args[3], workspace: args[4] } : undefined;

const rootPkg = JSON.parse(fs.readFileSync('package.json', 'utf8'));
const groups = new Map();
if (childGroup) {
  const mod = await import(pathToFileURL(path.resolve(childGroup.file)).href);
  groups.set(childGroup.name, mod.benchmarks.filter((b) => b.group === childGroup.name).map((b) => ({ ...b, bench: b, workspace: childGroup.workspace })));
} else {
  // Discover benchmark files and their groups (each listed by a child process, so this one stays small).
  const dirs = rootPkg.workspaces.flatMap((w) => (w.endsWith('/*')
    ? fs.readdirSync(w.slice(0, -2)).map((d) => `${w.slice(0, -2)}/${d}`)
    : [w]));
  const planned = [];
  for (const dir of dirs) {
    const benchDir = path.join(dir, 'dist', 'bench');
    if (!fs.existsSync(benchDir)) continue;
    for (const file of fs.readdirSync(benchDir).filter((f) => f.endsWith('.bench.js')).sort()) {
      const full = path.join(benchDir, file);
      const listed = spawnSync(process.execPath, [import.meta.filename, '--list', full], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
      if (listed.status !== 0) { process.exitCode = 1; continue; }
      for (const group of JSON.parse(listed.stdout)) planned.push({ file: full, group, workspace: path.basename(dir) });
    }
  }
  const selected = planned.filter((p) => !filters.length
    || filters.some((f) => p.group.toLowerCase().includes(f) || p.workspace.toLowerCase() === f));
  if (!selected.length) {
    console.log(filters.length ? `bench: no group matches ${filters.join(', ')}` : 'bench: no benchmark files found (dist/bench/*.bench.js)');
    process.exit(filters.length ? 1 : 0);
  }
  const results = [];
  let failed = 0;
  const tmp = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'berth-bench-'));
  for (const [i, p] of selected.entries()) {
    const out = path.join(tmp, `${i}.json`);
    const r = spawnSync(process.execPath, [import.meta.filename, '--group', p.file, p.group, out, p.workspace], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (fs.existsSync(out)) results.push(...JSON.parse(fs.readFileSync(out, 'utf8')));
    if (r.status !== 0) failed++;
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  if (jsonOut) fs.writeFileSync(jsonOut, `${JSON.stringify({ date: new Date().toISOString(), results }, null, 2)}\n`);
  if (failed) {
    console.log(`\nbench: ${failed} group${failed === 1 ? '' : 's'} had failures`);
    process.exitCode = 1;
  }
  process.exit();
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (ms) => (ms === undefined ? '' : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`);

const results = [];
let failures = 0;
for (const [group, list] of groups) {
  const rounds = Number(process.env.BERTH_BENCH_ROUNDS) || Math.max(...list.map((e) => e.iterations ?? 10));
  const warmup = process.env.BERTH_BENCH_WARMUP !== undefined ? Number(process.env.BERTH_BENCH_WARMUP) : Math.max(...list.map((e) => e.warmup ?? 1));
  console.log(`\n${group}  (${list[0].workspace}; ${rounds} rounds + ${warmup} warm-up, entries interleaved)`);
  const state = new Map();
  for (const e of list) {
    const s = { times: [], available: true, error: undefined, setUp: false };
    state.set(e, s);
    try {
      s.available = e.available ? await e.bench.available() : true;
      if (s.available && e.setup) await e.bench.setup();
      s.setUp = s.available;
    } catch (err) {
      s.error = err;
    }
  }
  for (let round = 0; round < warmup + rounds; round++) {
    // Rotate the order each round, so no entry always runs first (or right after another).
    const order = list.map((_, i) => list[(i + round) % list.length]);
    for (const e of order) {
      const s = state.get(e);
      if (!s.available || s.error) continue;
      try {
        const t0 = process.hrtime.bigint();
        await e.bench.run();
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (round >= warmup) s.times.push(ms);
      } catch (err) {
        s.error = err;
      }
    }
  }
  for (const e of list) {
    const s = state.get(e);
    if (s.setUp && e.teardown) {
      try { await e.bench.teardown(); } catch (err) { s.error ??= err; }
    }
  }

  const berth = list.find((e) => e.tool === 'berth' && state.get(e).times.length && !state.get(e).error);
  const berthMedian = berth ? median(state.get(berth).times) : undefined;
  const rows = list.map((e) => {
    const s = state.get(e);
    const med = s.times.length ? median(s.times) : undefined;
    const min = s.times.length ? Math.min(...s.times) : undefined;
    const ratio = e.tool !== 'berth' && berthMedian !== undefined && med ? berthMedian / med : undefined;
    let note = '';
    if (s.error) { note = `FAILED: ${String(s.error?.message ?? s.error).split('\n')[0]}`; failures++; }
    else if (!s.available) note = `${e.tool} not available`;
    results.push({ group, name: e.name, tool: e.tool, workspace: e.workspace, runs: s.times.length, medianMs: med, minMs: min, berthOverPeer: ratio, note: note || undefined });
    return [e.name, e.tool, fmt(med), fmt(min), String(s.times.length), ratio === undefined ? '' : ratio.toFixed(2), note];
  });
  const header = ['entry', 'tool', 'median', 'min', 'n', 'berth/peer', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r) => `  ${r.map((c, i) => (i >= 2 && i <= 5 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ')}`.trimEnd();
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}

fs.writeFileSync(childGroup.out, JSON.stringify(results));
if (failures) {
  console.log(`\nbench: ${failures} entr${failures === 1 ? 'y' : 'ies'} failed`);
  process.exitCode = 1;
}
