import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { commandExists, repoRoot, runCommand, tempDir } from '@berth/testkit';

const run = promisify(execFile);

test('runCommand collects output and exit status, and rejects on failure with a typed error', async (t) => {
  const ok = await runCommand('sh', ['-c', 'echo out; echo err >&2; cat'], { input: 'in' });
  t.is(ok.code, 0);
  t.is(ok.stdout.toString(), 'out\nin');
  t.is(ok.stderr.toString(), 'err\n');
  t.true(ok.ms > 0);
  const failed = await runCommand('sh', ['-c', 'exit 3'], { allowFailure: true });
  t.is(failed.code, 3);
  const e = await t.throwsAsync(runCommand('sh', ['-c', 'exit 4']));
  t.is((e as Error & { code: string }).code, 'ERR_TESTKIT_COMMAND_FAILED');
  const missing = await t.throwsAsync(runCommand('/nonexistent/berth-command'));
  t.is((missing as Error & { code: string }).code, 'ERR_TESTKIT_COMMAND_FAILED');
});

test('commandExists finds programs on PATH', (t) => {
  t.true(commandExists('sh'));
  t.false(commandExists('berth-no-such-command'));
});

test('npm run bench runs a group interleaved and reports berth/peer from the same run', async (t) => {
  const out = await tempDir();
  t.teardown(() => out.cleanup());
  const json = path.join(out.path, 'bench.json');
  const { stdout } = await run('node', [path.join(repoRoot(), 'scripts/bench.mjs'), '--no-build', '--json', json, 'fetch and verify'], {
    env: { ...process.env, BERTH_BENCH_ROUNDS: '2', BERTH_BENCH_WARMUP: '0' },
  });
  t.regex(stdout, /median/);
  const { results } = JSON.parse(fs.readFileSync(json, 'utf8')) as { results: Array<{ tool: string; runs: number; medianMs: number; minMs: number; berthOverPeer?: number }> };
  t.deepEqual(results.map((r) => r.tool), ['berth', 'curl']);
  for (const r of results) {
    t.is(r.runs, 2);
    t.true(r.minMs <= r.medianMs);
  }
  t.is(typeof results[1]!.berthOverPeer, 'number');
});

test('npm run bench with a filter that matches nothing says so and fails', async (t) => {
  const e = await t.throwsAsync(run('node', [path.join(repoRoot(), 'scripts/bench.mjs'), '--no-build', 'no-such-group-anywhere']));
  t.regex((e as Error & { stdout: string }).stdout, /no group matches/);
});
