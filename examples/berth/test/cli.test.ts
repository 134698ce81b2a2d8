import test from 'ava';
import path from 'node:path';
import { openEngine, openJsonFileLogWriter } from '@berth/engine';
import { berth, berthBinary, tempDir } from './helpers/cli.js';

test('volume create/ls/inspect/rm/prune through the binary', async (t) => {
  const dir = await tempDir();
  t.is((await berth(dir, ['volume', 'create', '--label', 'a=b', 'data'])).stdout, 'data\n');
  await berth(dir, ['volume', 'create', 'other']);
  const ls = await berth(dir, ['volume', 'ls']);
  t.is(ls.stdout, 'DRIVER    VOLUME NAME\nlocal     data\nlocal     other\n');
  t.is((await berth(dir, ['volume', 'ls', '-q', '--filter', 'label=a=b'])).stdout, 'data\n');
  t.is((await berth(dir, ['volume', 'ls', '--format', '{{.Name}}={{.Labels}}'])).stdout, 'data=a=b\nother=\n');
  const json = (await berth(dir, ['volume', 'ls', '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
  t.deepEqual(json.map((v) => v.Name), ['data', 'other']);
  const insp = JSON.parse((await berth(dir, ['volume', 'inspect', 'data'])).stdout);
  t.is(insp[0].Mountpoint, path.join(dir, 'root', 'volumes', 'data', '_data'));
  t.is((await berth(dir, ['volume', 'inspect', '-f', '{{.Driver}}', 'data'])).stdout, 'local\n');
  const missing = await berth(dir, ['volume', 'inspect', 'nosuch']);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /ERR_ENGINE_VOLUME_NOT_FOUND/);
  t.is((await berth(dir, ['volume', 'rm', 'other'])).stdout, 'other\n');
  t.is((await berth(dir, ['volume', 'prune', '-f', '-a'])).stdout, 'Deleted Volumes:\ndata\n\nTotal reclaimed space: 0B\n');
  t.is((await berth(dir, ['volume', 'prune', '-a'], 'n\n')).stdout.includes('Are you sure'), true, 'prompts without -f');
});

test('network create/ls/inspect/rm through the binary', async (t) => {
  const dir = await tempDir();
  const id = (await berth(dir, ['network', 'create', '--subnet', '172.31.252.0/24', '--label', 'x=y', 'front'])).stdout.trim();
  t.regex(id, /^[0-9a-f]{64}$/);
  const ls = (await berth(dir, ['network', 'ls', '--format', 'table {{.Name}}\t{{.Driver}}'])).stdout;
  t.is(ls, 'NAME      DRIVER\nbridge    bridge\nfront     bridge\nhost      host\nnone      null\n');
  t.is((await berth(dir, ['network', 'ls', '-q', '-f', 'label=x=y'])).stdout, `${id.slice(0, 12)}\n`);
  t.is((await berth(dir, ['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}', 'front'])).stdout, '172.31.252.0/24 172.31.252.1\n');
  const dup = await berth(dir, ['network', 'create', 'front']);
  t.is(dup.code, 1);
  t.regex(dup.stderr, /ERR_ENGINE_NETWORK_EXISTS/);
  t.is((await berth(dir, ['network', 'rm', 'front'])).stdout, 'front\n');
  t.is((await berth(dir, ['network', 'rm', 'bridge'])).code, 1);
});

test('ps -a, logs, rename, rm and events from records made by the engine', async (t) => {
  const dir = await tempDir();
  const engine = await openEngine({ root: path.join(dir, 'root'), runRoot: path.join(dir, 'run') });
  const r = await engine.containers.store.create({ name: 'web', image: 'busybox', path: 'echo', args: ['hello world'] });
  const w = await openJsonFileLogWriter(r.LogPath);
  await w.write('stdout', 'line 1\nline 2\n');
  await w.write('stderr', 'warn\n');
  await w.close();
  await engine.close();
  t.is((await berth(dir, ['ps'])).stdout, 'CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n');
  const ps = (await berth(dir, ['ps', '-a'])).stdout.split('\n');
  t.regex(ps[1]!, new RegExp(`^${r.Id.slice(0, 12)} +busybox +"echo \\\\"hello world… +.+ ago +Created +web$`));
  t.is((await berth(dir, ['ps', '-aq', '--no-trunc'])).stdout, `${r.Id}\n`);
  t.is((await berth(dir, ['ps', '-a', '--format', '{{.Names}} {{.State}}'])).stdout, 'web created\n');
  const logs = await berth(dir, ['logs', 'web']);
  t.is(logs.stdout, 'line 1\nline 2\n');
  t.is(logs.stderr, 'warn\n');
  t.regex((await berth(dir, ['logs', '-n', '1', '-t', 'web'])).stderr, /^\d{4}-\d\d-\d\dT[\d:.]+Z warn\n$/);
  t.is((await berth(dir, ['logs', '--tail', '1', '-f', r.Id.slice(0, 6)])).stderr, 'warn\n', 'follow ends: the container is not running');
  t.is((await berth(dir, ['rename', 'web', 'www'])).code, 0);
  t.is(JSON.parse((await berth(dir, ['inspect', 'www'])).stdout)[0].Name, '/www');
  t.is((await berth(dir, ['container', 'inspect', '-f', '{{.State.Status}}', 'www'])).stdout, 'created\n');
  t.is((await berth(dir, ['rm', 'www'])).stdout, 'www\n');
  t.is((await berth(dir, ['ps', '-aq'])).stdout, '');
  const ev = (await berth(dir, ['events', '--since', '1h', '--until', '0s', '--json', '--filter', 'type=container'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
  t.deepEqual(ev.map((e) => e.Action), ['rename', 'destroy']);
  const plain = (await berth(dir, ['events', '--since', '1h', '--until', '0s', '--filter', 'event=destroy'])).stdout;
  t.regex(plain, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}Z container destroy ${r.Id} \\(image=busybox, name=www\\)\\n$`));
});

test('berth errors exit 125 on run-like commands and 1 elsewhere; usage errors exit 125', async (t) => {
  const dir = await tempDir();
  // The real binary (shebang, exit status, stderr) for the headline command; --pull never keeps it off the network.
  const run = await berthBinary(dir, ['run', '--rm', '--pull', 'never', 'nosuch-image', 'echo', 'hello']);
  t.is(run.code, 125);
  t.regex(run.stderr, /ERR_ENGINE_IMAGE_NOT_FOUND/);
  t.is(run.stdout, '');
  for (const [args, code, re] of [[['stop', 'x'], 1, /ERR_ENGINE_CONTAINER_NOT_FOUND/], [['system', 'prune', '-f', '--filter', 'nosuch=1'], 1, /ERR_ENGINE_INVALID_FILTER/]] as const) {
    const r = await berth(dir, [...args]);
    t.regex(r.stderr, re, args.join(' '));
    t.is(r.code, code, args.join(' '));
  }
  const bad = await berthBinary(dir, ['ps', '--bogus']);
  t.is(bad.code, 125);
  t.is(bad.stderr, "berth ps: unknown flag: --bogus\nSee 'berth ps --help'.\n");
  const badMount = await berth(dir, ['run', '-v', 'x:relative', 'busybox']);
  t.is(badMount.code, 125);
  t.regex(badMount.stderr, /ERR_ENGINE_INVALID_MOUNT/);
  t.regex((await berth(dir, ['--version'])).stdout, /^berth version \d+\.\d+\.\d+\n$/);
  t.regex((await berth(dir, ['volume'])).stdout, /Usage: {2}berth volume COMMAND/);
});
