import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { serveDockerApi, type ContainerStats, type CreateContainerOptions, type DockerApiServer, type LocalEngine } from '@berth/engine';
import { startRegistry } from '@berth/testkit';
import { isRoot, tempDir } from './helpers/tmp.js';
import { createOptions, openPulledEngine, type PulledEngine } from './helpers/pulled-engine.js';

const execp = promisify(execFile);
const serial = isRoot ? test.serial : test.skip;
const docker = '/usr/local/bin/docker';
let env: PulledEngine | undefined;
let engine: LocalEngine;
let api: DockerApiServer;
let sock = '';
let ref = '';
let cliEnv: NodeJS.ProcessEnv = {};
let hasDocker = false;

test.before(async () => {
  if (!isRoot) return;
  env = await openPulledEngine({ bridgePrefix: 'bq', subnet: '10.173.0.0/16', pool: '10.174.0.0/16' });
  ({ engine, ref } = env);
  sock = path.join(engine.root, 'berth.sock');
  api = await serveDockerApi(engine, { socketPath: sock });
  cliEnv = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: await tempDir() };
  hasDocker = await fs.access(docker).then(() => true, () => false);
});

test.after.always(async () => {
  await api?.close();
  await env?.close();
});

const dk = async (...args: string[]) => (await execp(docker, args, { env: cliEnv, maxBuffer: 64 << 20 })).stdout;

function opts(o: Partial<CreateContainerOptions>): CreateContainerOptions {
  return createOptions(ref, { networkMode: 'bridge', ...o });
}

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

function request(method: string, url: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ socketPath: sock, method, path: url, headers: data ? { 'Content-Type': 'application/json' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** The first `n` JSON lines of a streaming GET, then the connection is closed. */
function streamLines(url: string, n: number): Promise<{ status: number; lines: any[] }> {
  return new Promise((resolve, reject) => {
    const lines: any[] = [];
    const req = http.get({ socketPath: sock, path: url }, (res) => {
      let buf = '';
      res.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0 && lines.length < n) {
          lines.push(JSON.parse(buf.slice(0, i)));
          buf = buf.slice(i + 1);
        }
        if (lines.length >= n) {
          req.destroy();
          resolve({ status: res.statusCode!, lines });
        }
      });
      res.on('end', () => resolve({ status: res.statusCode!, lines }));
    });
    req.on('error', (e) => { if (lines.length < n) reject(e); });
  });
}

/** Runs `docker export NAME | tar t` and returns the listing. */
function exportListing(name: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const ex = spawn(docker, ['export', name], { env: cliEnv, stdio: ['ignore', 'pipe', 'inherit'] });
    const tar = spawn('tar', ['t'], { stdio: ['pipe', 'pipe', 'inherit'] });
    ex.stdout.pipe(tar.stdin);
    let out = '';
    tar.stdout.on('data', (d) => { out += d; });
    const closed = (p: import('node:child_process').ChildProcess) => new Promise<number | null>((r) => p.on('close', (c) => r(c)));
    Promise.all([closed(ex), closed(tar)]).then(([e, c]) => (e === 0 && c === 0 ? resolve(out.trim().split('\n')) : reject(new Error(`export ${e} tar ${c}`))));
  });
}

serial('docker CLI 28 through berth\'s API: top (with ps options), pause/unpause, stats --no-stream, update --memory, cp both ways, diff, export, restart, rename, container prune, system prune (root)', async (t) => {
  if (!hasDocker) return t.pass('docker CLI not installed');
  const id = (await dk('run', '-d', '--name', 'ops1', '--memory', '64m', '--pids-limit', '40', ref,
    'sh', '-c', 'mkdir /data && echo hi > /data/f && rm /bin/vi && exec sleep 1000')).trim();
  t.regex(id, /^[0-9a-f]{64}$/);
  // The shell has set up /data once `sleep` is the container's process.
  for (let i = 0; i < 100 && !(await dk('top', 'ops1')).includes('sleep 1000'); i++) await new Promise((r) => setTimeout(r, 50));
  const top = (await dk('top', 'ops1')).trim().split('\n');
  t.regex(top[0]!, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
  t.is(top.length, 2);
  t.regex(top[1]!, /sleep 1000$/);
  // Other ps options go to the host's ps, filtered to the container's pids (as dockerd).
  const custom = (await dk('top', 'ops1', '-o', 'pid,comm')).trim().split('\n');
  t.regex(custom[0]!, /^PID\s+COMMAND$/);
  t.deepEqual(custom.slice(1).map((l) => l.trim().split(/\s+/)[1]), ['sleep']);

  await dk('pause', 'ops1');
  t.is((await dk('inspect', '-f', '{{.State.Status}}', 'ops1')).trim(), 'paused');
  await dk('unpause', 'ops1');
  t.is((await dk('inspect', '-f', '{{.State.Status}}', 'ops1')).trim(), 'running');

  const stats = (await dk('stats', '--no-stream', '--format', '{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.MemPerc}}|{{.NetIO}}|{{.BlockIO}}|{{.PIDs}}', 'ops1')).trim();
  t.log(stats);
  const [name, cpu, mem, memPerc, net, block, pids] = stats.split('|');
  t.is(name, 'ops1');
  t.regex(cpu!, /^\d+\.\d\d%$/);
  t.regex(mem!, /^[\d.]+[KMG]?i?B \/ 64MiB$/);
  t.regex(memPerc!, /^\d+\.\d\d%$/);
  t.regex(net!, /^[\d.]+k?B \/ [\d.]+k?B$/, 'eth0 counters of the bridge endpoint');
  t.regex(block!, /^[\d.]+[kMG]?B \/ [\d.]+[kMG]?B$/);
  t.is(pids, '1');

  t.regex(await dk('update', '--memory', '96m', '--memory-swap', '-1', '--pids-limit', '50', 'ops1'), /ops1/);
  t.is((await dk('inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}', 'ops1')).trim(), `${96 * 1024 * 1024} 50`);
  t.regex((await dk('stats', '--no-stream', '--format', '{{.MemUsage}}', 'ops1')).trim(), / \/ 96MiB$/, 'the running cgroup has the new limit');
  const live = JSON.parse((await request('GET', '/containers/ops1/stats?stream=0&one-shot=1')).body.toString()) as ContainerStats;
  t.is(live.pids_stats.limit, 50, 'the running cgroup\'s pids.max');
  await dk('update', '--cpus', '0.5', 'ops1');
  t.is((await dk('inspect', '-f', '{{.HostConfig.NanoCpus}}', 'ops1')).trim(), '500000000');
  // cgroup v1 here (the v2 files are written by the same manager, tested on a fake tree in @berth/namespaces).
  const quota = await fs.readFile(`/sys/fs/cgroup/cpu/berth/${id}/cpu.cfs_quota_us`, 'utf8').catch(() => undefined);
  if (quota !== undefined) t.is(quota.trim(), '50000', '0.5 CPU: 50 ms per 100 ms period');
  const bad = await execp(docker, ['update', '--memory', '1m', 'ops1'], { env: cliEnv }).then(() => undefined, (e) => e);
  t.is(bad?.code, 1, 'below 6MB is refused, as dockerd does');

  // cp into the container (a file and a directory), and back out.
  const host = await tempDir();
  await fs.writeFile(path.join(host, 'in.txt'), 'copied in\n');
  await fs.mkdir(path.join(host, 'tree', 'sub'), { recursive: true });
  await fs.writeFile(path.join(host, 'tree', 'sub', 'leaf'), 'leaf\n');
  await dk('cp', path.join(host, 'in.txt'), 'ops1:/data/');
  await dk('cp', path.join(host, 'in.txt'), 'ops1:/data/renamed.txt');
  await dk('cp', path.join(host, 'tree'), 'ops1:/data/tree');
  await dk('cp', 'ops1:/data/f', path.join(host, 'f-out'));
  t.is(await fs.readFile(path.join(host, 'f-out'), 'utf8'), 'hi\n');
  await dk('cp', 'ops1:/data', path.join(host, 'data-out'));
  t.is(await fs.readFile(path.join(host, 'data-out', 'in.txt'), 'utf8'), 'copied in\n');
  t.is(await fs.readFile(path.join(host, 'data-out', 'renamed.txt'), 'utf8'), 'copied in\n');
  t.is(await fs.readFile(path.join(host, 'data-out', 'tree', 'sub', 'leaf'), 'utf8'), 'leaf\n');
  // `dir/.`: the contents, under the new name.
  await dk('cp', 'ops1:/data/tree/.', path.join(host, 'contents'));
  t.deepEqual(await fs.readdir(path.join(host, 'contents')), ['sub']);
  await dk('cp', `${path.join(host, 'tree')}/.`, 'ops1:/data/f-dir-contents');
  await dk('cp', 'ops1:/data/f-dir-contents/sub/leaf', path.join(host, 'leaf2'));
  t.is(await fs.readFile(path.join(host, 'leaf2'), 'utf8'), 'leaf\n');
  const missing = await execp(docker, ['cp', 'ops1:/no/such', host], { env: cliEnv }).then(() => undefined, (e) => e);
  t.is(missing?.code, 1);
  t.regex(missing?.stderr ?? '', /not found|No such/i);

  const diff = (await dk('diff', 'ops1')).trim().split('\n');
  t.log(diff.join(', '));
  for (const line of ['C /bin', 'D /bin/vi', 'A /data', 'A /data/f', 'A /data/in.txt', 'A /data/tree/sub/leaf', 'A /data/f-dir-contents/sub/leaf']) t.true(diff.includes(line), `${line} in ${diff.join(', ')}`);
  t.false(diff.some((l) => l.startsWith('A /bin')), 'unchanged lower files are not listed');
  t.false(diff.some((l) => l.startsWith('C /etc') || l.startsWith('A /etc')), 'the hosts files the engine mounts are hidden, as in docker');

  const listing = await exportListing('ops1');
  t.true(listing.includes('bin/busybox'));
  t.true(listing.includes('data/f'));
  t.false(listing.includes('bin/vi'));

  const before = (await dk('inspect', '-f', '{{.State.StartedAt}} {{.State.Pid}}', 'ops1')).trim();
  await dk('restart', '-t', '1', 'ops1');
  const after = (await dk('inspect', '-f', '{{.State.Status}} {{.State.StartedAt}} {{.State.Pid}}', 'ops1')).trim();
  t.true(after.startsWith('running '));
  t.not(after.slice('running '.length), before);
  await dk('rename', 'ops1', 'ops1b');
  t.is((await dk('inspect', '-f', '{{.Name}}', id)).trim(), '/ops1b');
  await dk('stop', '-t', '1', 'ops1b');
  const pruned = await dk('container', 'prune', '-f');
  t.regex(pruned, new RegExp(`Deleted Containers:\n${id}\n`));
  t.is((await dk('ps', '-aq')).trim(), '');
  const stopped = (await dk('create', ref, 'true')).trim();
  const system = await dk('system', 'prune', '-f');
  t.regex(system, new RegExp(`^Deleted Containers:\n${stopped}\n`), 'docker system prune (containers, networks, images, build cache) through the API');
  t.regex(system, /Total reclaimed space: /);
  t.is((await dk('ps', '-aq')).trim(), '');
});

serial('docker CLI 28 through berth\'s API: commit, save/load, push with X-Registry-Auth, system df (root, local registry)', async (t) => {
  if (!hasDocker) return t.pass('docker CLI not installed');
  await dk('run', '-d', '--name', 'src1', ref, 'sh', '-c', 'echo committed > /marker; exec sleep 1000');
  for (let i = 0; i < 100 && !(await dk('top', 'src1')).includes('sleep 1000'); i++) await new Promise((r) => setTimeout(r, 50));
  const imageId = (await dk('commit', '--change', 'ENV FROM_COMMIT=yes', '--change', 'CMD ["cat", "/marker"]', '-m', 'msg', 'src1', 'local/ops:v1')).trim();
  t.regex(imageId, /^sha256:[0-9a-f]{64}$/);
  t.is((await dk('image', 'inspect', '-f', '{{json .Config.Cmd}} {{.Id}}', 'local/ops:v1')).trim(), `["cat","/marker"] ${imageId}`);
  t.true((await dk('image', 'inspect', '-f', '{{json .Config.Env}}', 'local/ops:v1')).includes('FROM_COMMIT=yes'));
  await dk('run', '-d', '--name', 'from-commit', 'local/ops:v1');
  t.is((await dk('wait', 'from-commit')).trim(), '0');
  t.is(await dk('logs', 'from-commit'), 'committed\n');

  // system df: the committed image is used by two containers, the volume-less containers have a writable layer.
  const df = await dk('system', 'df', '--format', '{{.Type}}|{{.TotalCount}}|{{.Active}}');
  t.log(await dk('system', 'df'));
  t.regex(df, /^Images\|2\|2$/m);
  t.regex(df, /^Containers\|2\|1$/m);
  t.regex(df, /^Local Volumes\|0\|0$/m);
  const dfv = JSON.parse((await request('GET', '/system/df')).body.toString());
  t.true(dfv.Containers.find((c: any) => c.Names[0] === '/src1').SizeRw > 0);
  t.true(dfv.LayersSize > 0);

  await dk('rm', '-f', 'src1', 'from-commit');
  const tarFile = path.join(await tempDir(), 'ops.tar');
  await dk('save', '-o', tarFile, 'local/ops:v1');
  t.true((await fs.stat(tarFile)).size > 0);
  await dk('rmi', 'local/ops:v1');
  t.regex(await dk('load', '-i', tarFile), /Loaded image: local\/ops:v1/);
  t.is((await dk('image', 'inspect', '-f', '{{.Id}}', 'local/ops:v1')).trim(), imageId);

  const pushed = `${env!.reg.host}/ops/pushed:v1`;
  await dk('tag', 'local/ops:v1', pushed);
  const out = await dk('push', pushed);
  t.regex(out, /v1: digest: sha256:[0-9a-f]{64} size: \d+/);
  t.is((await fetch(`http://${env!.reg.host}/v2/ops/pushed/tags/list`).then((r) => r.json()) as any).tags[0], 'v1');
  const badAuth = await new Promise<number>((resolve, reject) => {
    const req = http.request({ socketPath: sock, method: 'POST', path: `/v1.41/images/${encodeURIComponent(pushed)}/push`, headers: { 'X-Registry-Auth': '%%%not-base64-json' } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.end();
  });
  t.is(badAuth, 400);
  await dk('rmi', pushed, 'local/ops:v1');
});

serial('docker push with a login: the CLI sends X-Registry-Auth from its config, berth pushes with it to a basic-auth registry (root, local registry)', async (t) => {
  if (!hasDocker) return t.pass('docker CLI not installed');
  const authReg = await startRegistry({ auth: 'basic' });
  t.teardown(() => authReg.close());
  const target = `${authReg.host}/private/busybox:v1`;
  await dk('tag', ref, target);
  const anonymous = await execp(docker, ['push', target], { env: cliEnv }).then(() => undefined, (e) => e);
  t.is(anonymous?.code, 1, 'without a login the registry refuses the push');
  const config = await tempDir();
  const { username, password } = authReg.auth!;
  await fs.writeFile(path.join(config, 'config.json'), JSON.stringify({ auths: { [authReg.host]: { auth: Buffer.from(`${username}:${password}`).toString('base64') } } }));
  const out = (await execp(docker, ['push', target], { env: { ...cliEnv, DOCKER_CONFIG: config } })).stdout;
  t.regex(out, /v1: digest: sha256:[0-9a-f]{64} size: \d+/);
  const basic = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  t.deepEqual((await fetch(`http://${authReg.host}/v2/private/busybox/tags/list`, { headers: { Authorization: basic } }).then((r) => r.json()) as any).tags, ['v1']);
  await dk('rmi', target);
});

serial('stats over the API: a stream whose samples chain precpu_stats, stream=0 primed, one-shot unprimed; typed errors (root)', async (t) => {
  const r = await engine.containers.create(opts({ name: 'statsapi', cmd: ['sleep', '1000'] }));
  const h = await engine.containers.start(r.Id);
  const { status, lines } = await streamLines('/v1.41/containers/statsapi/stats', 2);
  t.is(status, 200);
  t.is(lines.length, 2);
  const [a, b] = lines as ContainerStats[];
  t.is(a!.preread, '0001-01-01T00:00:00Z');
  t.is(a!.precpu_stats.system_cpu_usage, 0);
  t.is(b!.preread, a!.read);
  t.deepEqual(b!.precpu_stats, a!.cpu_stats);
  t.true(b!.cpu_stats.system_cpu_usage > a!.cpu_stats.system_cpu_usage);
  t.is(b!.name, '/statsapi');
  t.truthy(b!.networks?.eth0);
  t.true(Array.isArray(b!.blkio_stats.io_service_bytes_recursive));
  t.true(Object.keys(b!.memory_stats.stats).length > 0, 'memory.stat is passed on');

  if (hasDocker) t.is((await dk('stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}}')).trim(), 'statsapi 1', 'without names: every running container');
  const primed = JSON.parse((await request('GET', '/containers/statsapi/stats?stream=0')).body.toString()) as ContainerStats;
  t.not(primed.preread, '0001-01-01T00:00:00Z');
  t.true(primed.precpu_stats.system_cpu_usage > 0);
  const once = JSON.parse((await request('GET', '/containers/statsapi/stats?stream=false&one-shot=true')).body.toString()) as ContainerStats;
  t.is(once.preread, '0001-01-01T00:00:00Z');

  const head = await request('HEAD', '/containers/statsapi/archive?path=/etc/passwd');
  t.is(head.status, 200);
  const stat = JSON.parse(Buffer.from(String(head.headers['x-docker-container-path-stat']), 'base64').toString());
  t.like(stat, { name: 'passwd', mode: 0o644 });
  const dir = JSON.parse(Buffer.from(String((await request('HEAD', '/containers/statsapi/archive?path=/etc')).headers['x-docker-container-path-stat']), 'base64').toString());
  t.is(dir.mode, 2 ** 31 + 0o755, 'Go os.ModeDir | perm');
  t.is((await request('HEAD', '/containers/statsapi/archive?path=/no/such')).status, 404);
  const get404 = await request('GET', '/containers/statsapi/archive?path=/no/such');
  t.is(get404.status, 404);
  t.is(JSON.parse(get404.body.toString()).code, 'ERR_ENGINE_PATH_NOT_FOUND');
  const search = await request('GET', '/images/search?term=busybox');
  t.is(search.status, 501);
  t.is(JSON.parse(search.body.toString()).code, 'ERR_ENGINE_NOT_IMPLEMENTED');
  t.is((await request('GET', '/containers/statsapi/top?ps_args=-o%20comm')).status, 400, 'ps output without a PID column');
  const badUpdate = await request('POST', '/containers/statsapi/update', { Memory: 1024 });
  t.is(badUpdate.status, 400);
  t.is(JSON.parse(badUpdate.body.toString()).code, 'ERR_ENGINE_INVALID_ARGUMENT');
  const aux = JSON.parse((await request('GET', '/containers/statsapi/top?ps_args=aux')).body.toString());
  t.is(aux.Titles[1], 'PID');
  t.deepEqual(aux.Processes.map((row: string[]) => row.at(-1)), ['sleep 1000'], 'only the container\'s process, its COMMAND with spaces in one column');

  await engine.containers.kill(r.Id, 'SIGKILL');
  await h.wait();
  const stopped = await request('GET', '/containers/statsapi/stats?stream=0');
  t.is(stopped.status, 409);
  t.is(JSON.parse(stopped.body.toString()).code, 'ERR_ENGINE_CONTAINER_NOT_RUNNING');
  await engine.containers.remove(r.Id);
});

serial('streamed stats of a busy container: each sample shows more CPU time than the last, and the stream ends when it stops (root)', async (t) => {
  const r = await engine.containers.create(opts({ name: 'busy', cmd: ['sh', '-c', 'while :; do :; done'], networkMode: 'none' }));
  const h = await engine.containers.start(r.Id);
  const ac = new AbortController();
  const samples: ContainerStats[] = [];
  for await (const s of engine.containers.stats(r.Id, { stream: true, signal: ac.signal, intervalMs: 200 })) {
    samples.push(s);
    if (samples.length === 3) ac.abort();
  }
  t.is(samples.length, 3, 'abort ends the stream after the sample in hand');
  for (let i = 1; i < samples.length; i++) {
    t.true(samples[i]!.cpu_stats.cpu_usage.total_usage > samples[i - 1]!.cpu_stats.cpu_usage.total_usage, `sample ${i} grew`);
    t.deepEqual(samples[i]!.precpu_stats, samples[i - 1]!.cpu_stats);
  }
  t.is(samples[2]!.networks, undefined, '--network none: no interfaces but lo, as dockerd');
  if (hasDocker) {
    // `docker stats` (streaming, the default) over the API: a later sample shows the busy loop's CPU.
    const seen = await new Promise<string>((resolve) => {
      const p = spawn(docker, ['stats', '--format', '{{.Name}} {{.CPUPerc}} {{.PIDs}}', 'busy'], { env: cliEnv, stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      p.stdout.on('data', (d) => {
        out += d;
        const m = [...out.matchAll(/busy (\d+\.\d\d)% (\d+)/g)];
        if (m.some((x) => Number(x[1]) > 0) || m.length >= 60) p.kill();
      });
      p.on('close', () => resolve(out));
    });
    const rows = [...seen.matchAll(/busy (\d+\.\d\d)% (\d+)/g)];
    t.true(rows.length >= 1, seen);
    t.true(Number(rows.at(-1)![1]) > 0, 'docker stats shows the busy loop\'s CPU %');
    t.is(rows.at(-1)![2], '1', 'the loop is the shell itself: one process');
  }
  // Stopping the container ends a stream that is still running.
  const rest: ContainerStats[] = [];
  const done = (async () => { for await (const s of engine.containers.stats(r.Id, { stream: true, intervalMs: 100 })) rest.push(s); })();
  while (rest.length === 0) await new Promise((res) => setTimeout(res, 20));
  await engine.containers.kill(r.Id, 'SIGKILL');
  await h.wait();
  await done;
  t.true(rest.length >= 1);
  await engine.containers.remove(r.Id);
});
