import test from 'ava';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { bytesSize, humanSize3 } from '@berth/example-berth';
import { berth, berthBin, berthBinary, useCliEnv } from './helpers/cli.js';

let dir: string;
let ref: string;
const serial = useCliEnv({ pull: false }, (env) => { ({ dir, ref } = env); });

/** Runs `berth stats ARGS` as the binary until `done(output)` holds, then interrupts it (as Ctrl-C would). */
function streamUntil(args: string[], done: (out: string) => boolean): Promise<{ out: string; code: number | null }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [berthBin, '--root', path.join(dir, 'root'), '--run-root', path.join(dir, 'run'), 'stats', ...args], { env: { PATH: process.env.PATH } });
    let out = '';
    let sent = false;
    p.stdout.on('data', (d) => {
      out += d;
      if (!sent && done(out)) {
        sent = true; // once: a second Ctrl-C kills, as in docker
        p.kill('SIGINT');
      }
    });
    p.on('close', (code) => resolve({ out, code }));
  });
}

test('docker\'s size units: BytesSize (binary, 4 digits) and HumanSizeWithPrecision(3) (decimal)', (t) => {
  t.is(bytesSize(0), '0B');
  t.is(bytesSize(622592), '608KiB');
  t.is(bytesSize(1531904), '1.461MiB');
  t.is(bytesSize(64 * 1024 * 1024), '64MiB');
  t.is(humanSize3(0), '0B');
  t.is(humanSize3(1460), '1.46kB');
  t.is(humanSize3(472), '472B');
  t.is(humanSize3(12_345_678), '12.3MB');
});

serial('berth stats: --no-stream prints docker\'s table once; streaming redraws it with CPU % of a busy container; --format and json (root)', async (t) => {
  const d = await berthBinary(dir, ['run', '-d', '--name', 'busy', '--memory', '32m', '--network', 'none', ref, 'sh', '-c', 'while :; do :; done']);
  t.is(d.code, 0, d.stderr);
  const id = d.stdout.trim();
  const table = await berth(dir, ['stats', '--no-stream']);
  t.is(table.code, 0, table.stderr);
  const lines = table.stdout.trimEnd().split('\n');
  t.regex(lines[0]!, /^CONTAINER ID +NAME +CPU % +MEM USAGE \/ LIMIT +MEM % +NET I\/O +BLOCK I\/O +PIDS$/);
  t.is(lines.length, 2);
  t.regex(lines[1]!, new RegExp(`^${id.slice(0, 12)} +busy +\\d+\\.\\d\\d% +[\\d.]+[KMG]?i?B / 32MiB +\\d+\\.\\d\\d% +0B / 0B +[\\d.]+[kMG]?B / [\\d.]+[kMG]?B +1$`));
  const cpu = Number(/ (\d+\.\d\d)% /.exec(lines[1]!)![1]);
  t.true(cpu > 0, 'a primed sample: CPU % of the busy loop is measured, not 0');
  const json = JSON.parse((await berth(dir, ['stats', '--no-stream', '--no-trunc', '--format', 'json', 'busy'])).stdout);
  t.like(json, { ID: id, Container: 'busy', Name: 'busy', PIDs: '1', NetIO: '0B / 0B' });

  // Streaming (the default): the table comes again and again until interrupted.
  const busyCpu = (o: string) => [...o.matchAll(/^busy +(\d+\.\d\d)%$/gm)].map((m) => Number(m[1]));
  // Until a redrawn table shows the busy loop's CPU (a sample after the first has precpu_stats), or 40 tables.
  const { out, code } = await streamUntil(['--format', 'table {{.Name}}\t{{.CPUPerc}}', 'busy'],
    (o) => busyCpu(o).some((c) => c > 0) || (o.match(/^NAME/gm) ?? []).length >= 40);
  t.is(code, 0, 'SIGINT ends the stream cleanly');
  const tables = out.split(/^(?=NAME)/m).filter(Boolean);
  t.true(tables.length >= 2, 'the table is printed again and again');
  const last = tables.at(-1)!.trim().split('\n');
  t.regex(last[1]!, /^busy +\d+\.\d\d%$/);
  t.true(Number(/(\d+\.\d\d)%/.exec(last[1]!)![1]) > 0, 'later samples have precpu_stats: the busy loop shows CPU');
  t.is((await berth(dir, ['rm', '-f', 'busy'])).code, 0);
});
