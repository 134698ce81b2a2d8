import fs from 'node:fs';
import http from 'node:http';
import { freePort } from '@berth/testkit';
import { berth, berthBinary, tempDir, useCliEnv } from './helpers/cli.js';

let dir: string;
let ref: string;
const serial = useCliEnv({ pull: false }, (env) => { ({ dir, ref } = env); });

serial('berth run --rm <registry>/busybox echo hello pulls with progress, prints hello, exits 0 and leaves nothing (root, binary)', async (t) => {
  const r = await berthBinary(dir, ['run', '--rm', ref, 'echo', 'hello']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'hello\n');
  t.regex(r.stderr, /Unable to find image '.*' locally\n/);
  t.regex(r.stderr, /: Downloading \[=*>? *\] +[\d.]+[kM]B\/[\d.]+[kM]B\n/);
  t.regex(r.stderr, /: Pull complete\n/);
  t.is((await berth(dir, ['ps', '-aq'])).stdout, '', '--rm removed the container');
  const again = await berthBinary(dir, ['run', '--rm', '--network', 'none', ref, 'echo', 'again']);
  t.is(again.stdout, 'again\n');
  t.notRegex(again.stderr, /Pulling/, 'the second run does not pull');
});

serial('exit codes: the container\'s own, 127 for a missing command, 126 for a non-executable one, 125 for berth errors (root)', async (t) => {
  t.is((await berth(dir, ['run', '--rm', '--network', 'none', ref, 'sh', '-c', 'exit 3'])).code, 3);
  const missing = await berth(dir, ['run', '--rm', '--network', 'none', ref, '/no/such/command']);
  t.is(missing.code, 127);
  t.regex(missing.stderr, /ERR_NS_EXEC_NOT_FOUND/);
  t.is((await berth(dir, ['run', '--rm', '--network', 'none', ref, '/etc/passwd'])).code, 126);
  t.is((await berth(dir, ['run', '--rm', '--network', 'none', '--pull', 'never', 'nosuch-image'])).code, 125);
  // Without --rm the record keeps the code, as docker inspect shows it.
  t.is((await berth(dir, ['run', '--name', 'notfound', '--network', 'none', ref, '/no/such/command'])).code, 127);
  t.is((await berth(dir, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'notfound'])).stdout, 'created 127\n');
  t.is((await berth(dir, ['run', '--name', 'noexec', '--network', 'none', ref, '/etc/passwd'])).code, 126);
  t.is((await berth(dir, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'noexec'])).stdout, 'created 126\n');
  t.is((await berth(dir, ['rm', 'notfound', 'noexec'])).stdout, 'notfound\nnoexec\n');
  t.is((await berth(dir, ['ps', '-aq'])).stdout, '', 'failed --rm runs are removed too');
});

serial('six berth run --rm processes at once on one root (no daemon between them): each prints its own output and exits 0; nothing is left (root)', async (t) => {
  const runs = await Promise.all(Array.from({ length: 6 }, (_, i) => berthBinary(dir, ['run', '--rm', '--network', 'none', ref, 'echo', `run${i}`])));
  runs.forEach((r, i) => {
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout, `run${i}\n`);
  });
  t.is((await berth(dir, ['ps', '-aq'])).stdout, '');
  // Only the image's layers are left in the snapshotter: every container's snapshot was recorded and removed.
  const meta = JSON.parse(fs.readFileSync(`${dir}/root/snapshots/overlay/metadata.json`, 'utf8')) as { snapshots: Record<string, { kind: string }> };
  t.deepEqual(Object.values(meta.snapshots).map((s) => s.kind).filter((k) => k !== 'committed'), []);
});

serial('run flags: -e, -w, -u, --entrypoint, --name, -v (volume and read-only bind) (root)', async (t) => {
  const r = await berth(dir, ['run', '--rm', '--network', 'none', '-e', 'FOO=bar', '-w', '/tmp', '-u', 'nobody', ref,
    'sh', '-c', 'echo "$FOO $(pwd) $(id -un)"']);
  t.is(r.stdout, 'bar /tmp nobody\n', r.stderr);
  t.is((await berth(dir, ['run', '--rm', '--network', 'none', '--entrypoint', 'echo', ref, 'via', 'entrypoint'])).stdout, 'via entrypoint\n');
  t.is((await berth(dir, ['run', '--rm', '--network', 'none', '-v', 'clidata:/data', ref, 'sh', '-c', 'echo kept > /data/f'])).code, 0);
  t.is((await berth(dir, ['run', '--rm', '--network', 'none', '-v', 'clidata:/data:ro', ref, 'cat', '/data/f'])).stdout, 'kept\n');
  const host = await tempDir();
  const ro = await berth(dir, ['run', '--rm', '--network', 'none', '-v', `${host}:/mnt:ro`, ref, 'sh', '-c', 'touch /mnt/x 2>/dev/null && echo wrote || echo denied']);
  t.is(ro.stdout, 'denied\n');
  t.is((await berth(dir, ['volume', 'rm', 'clidata'])).code, 0);
});

serial('run -d keeps the container running after the CLI exits; logs, stop and rm work from other invocations (root)', async (t) => {
  const d = await berthBinary(dir, ['run', '-d', '--name', 'bg', '--network', 'none', ref, 'sh', '-c', 'echo up; trap "echo bye; exit 7" TERM; while :; do sleep 0.1; done']);
  t.is(d.code, 0, d.stderr);
  t.regex(d.stdout, /^[0-9a-f]{64}\n$/);
  t.is((await berth(dir, ['inspect', '-f', '{{.State.Status}}', 'bg'])).stdout, 'running\n');
  t.is((await berth(dir, ['ps', '--format', '{{.Names}}'])).stdout, 'bg\n');
  let logs = '';
  for (let i = 0; i < 100 && !logs.includes('up'); i++) logs = (await berth(dir, ['logs', 'bg'])).stdout;
  t.is(logs, 'up\n');
  t.is((await berth(dir, ['stop', '-t', '5', 'bg'])).stdout, 'bg\n');
  t.is((await berth(dir, ['wait', 'bg'])).stdout, '7\n');
  t.is((await berth(dir, ['logs', 'bg'])).stdout, 'up\nbye\n');
  t.is((await berth(dir, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'bg'])).stdout, 'exited 7\n');
  t.is((await berth(dir, ['rm', 'bg'])).stdout, 'bg\n');
});

serial('wait from another process prints the exit code the detached supervisor records (root)', async (t) => {
  const d = await berthBinary(dir, ['run', '-d', '--network', 'none', ref, 'sh', '-c', 'sleep 1; exit 7']);
  t.is(d.code, 0, d.stderr);
  const id = d.stdout.trim();
  const w = await berthBinary(dir, ['wait', id]);
  t.is(w.stdout, '7\n', w.stderr);
  t.is((await berthBinary(dir, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', id])).stdout, 'exited 7\n');
  t.is((await berth(dir, ['rm', id])).code, 0);
});

serial('exec, top, stats, pause/unpause, cp in and out, commit and restart through the CLI (root)', async (t) => {
  const d = await berthBinary(dir, ['run', '-d', '--name', 'ops', '--network', 'none', ref, 'sleep', '1000']);
  t.is(d.code, 0, d.stderr);
  const ex = await berth(dir, ['exec', '-e', 'X=1', '-w', '/tmp', 'ops', 'sh', '-c', 'echo "$X $(pwd)"; exit 4']);
  t.is(ex.stdout, '1 /tmp\n');
  t.is(ex.code, 4);
  t.is((await berth(dir, ['exec', 'ops', '/no/such'])).code, 127);
  const top = (await berth(dir, ['top', 'ops'])).stdout.split('\n');
  t.regex(top[0]!, /^UID +PID +PPID +C +STIME +TTY +TIME +CMD$/);
  t.regex(top[1]!, /^root +\d+ +\d+ +\d+ +\d\d:\d\d +\? +\d\d:\d\d:\d\d +sleep 1000$/);
  const stats = JSON.parse((await berth(dir, ['stats', '--no-stream', '--format', 'json', 'ops'])).stdout);
  t.is(stats.PIDs, '1', 'docker\'s --format json: the table row\'s fields');
  t.is((await berth(dir, ['pause', 'ops'])).stdout, 'ops\n');
  t.is((await berth(dir, ['ps', '--format', '{{.Status}}'])).stdout.replace(/Up .* \(/, 'Up ('), 'Up (Paused)\n');
  t.is((await berth(dir, ['unpause', 'ops'])).stdout, 'ops\n');

  const host = await tempDir();
  fs.writeFileSync(`${host}/note.txt`, 'from the host\n');
  t.is((await berth(dir, ['cp', `${host}/note.txt`, 'ops:/tmp/'])).code, 0);
  t.is((await berth(dir, ['exec', 'ops', 'cat', '/tmp/note.txt'])).stdout, 'from the host\n');
  t.is((await berth(dir, ['cp', 'ops:/tmp/note.txt', `${host}/back.txt`])).code, 0);
  t.is(fs.readFileSync(`${host}/back.txt`, 'utf8'), 'from the host\n');
  const c = await berth(dir, ['commit', '-m', 'with note', '-a', 'me', 'ops', 'withnote:1']);
  t.is(c.code, 0, c.stderr);
  t.regex(c.stdout, /^sha256:[0-9a-f]{64}\n$/);
  t.is((await berth(dir, ['run', '--rm', '--network', 'none', 'withnote:1', 'cat', '/tmp/note.txt'])).stdout, 'from the host\n');
  t.is((await berth(dir, ['inspect', '-f', '{{.State.Status}}', 'ops'])).stdout, 'running\n', 'commit paused and unpaused it');

  const pid = (await berth(dir, ['inspect', '-f', '{{.State.Pid}}', 'ops'])).stdout;
  const rs = await berth(dir, ['restart', '-t', '1', 'ops']);
  t.is(rs.stdout, 'ops\n', rs.stderr);
  t.is((await berth(dir, ['inspect', '-f', '{{.State.Status}}', 'ops'])).stdout, 'running\n');
  t.not((await berth(dir, ['inspect', '-f', '{{.State.Pid}}', 'ops'])).stdout, pid);
  t.is((await berth(dir, ['stop', '-t', '0', 'ops'])).stdout, 'ops\n');
  t.is((await berth(dir, ['rm', 'ops'])).stdout, 'ops\n');
  t.is((await berth(dir, ['ps', '-aq'])).stdout, '');
});

serial('two containers on a user network reach each other by name; a published port answers on 127.0.0.1 (root, CNI)', async (t) => {
  const net = `app${process.pid}`;
  t.is((await berth(dir, ['network', 'create', '--subnet', '10.231.7.0/24', net])).code, 0);
  const httpd = (name: string, body: string) => ['sh', '-c', `mkdir -p /www && echo ${body} > /www/index.html && exec httpd -f -p 80 -h /www`];
  const srv = await berthBinary(dir, ['run', '-d', '--name', 'srv', '--network', net, ref, ...httpd('srv', 'pong')]);
  t.is(srv.code, 0, srv.stderr);
  const client = await berth(dir, ['run', '--rm', '--network', net, ref, 'sh', '-c', 'for i in $(seq 50); do wget -qO- http://srv/ && exit 0; sleep 0.1; done; exit 1']);
  t.is(client.stdout, 'pong\n', client.stderr);
  t.is(client.code, 0);

  const port = await freePort();
  const web = await berthBinary(dir, ['run', '-d', '--name', 'pub', '--network', net, '-p', `127.0.0.1:${port}:80`, ref, ...httpd('pub', 'published')]);
  t.is(web.code, 0, web.stderr);
  let body = '';
  for (let i = 0; i < 50 && !body; i++) {
    body = await new Promise<string>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', timeout: 2000, agent: false }, (res) => {
        let d = '';
        res.on('data', (c) => { d += c; });
        res.on('end', () => resolve(d));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => setTimeout(() => resolve(''), 100));
    });
  }
  t.is(body, 'published\n');
  t.is((await berth(dir, ['ps', '--format', '{{.Names}} {{.Ports}}', '--filter', 'name=pub'])).stdout, `pub 127.0.0.1:${port}->80/tcp\n`);
  for (const n of ['srv', 'pub']) {
    t.is((await berth(dir, ['stop', '-t', '1', n])).code, 0);
    t.is((await berth(dir, ['rm', n])).code, 0);
  }
  t.is((await berth(dir, ['network', 'rm', net])).code, 0);
});
