import test from 'ava';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { type TestRegistry } from '@berth/testkit';
import { encodeTarHeader, tarPadding, TAR_END, TarEntryType, TarParser, type TarHeader } from '@berth/cow-fs';
import {
  ContainerOperations, resolveInRoot,
  type CreateContainerOptions, type LocalEngine, type LocalImageService, type EngineEvent,
} from '@berth/engine';
import { isRoot } from './helpers/tmp.js';
import { createOptions, openPulledEngine, runToExit, type PulledEngine } from './helpers/pulled-engine.js';

const serial = isRoot ? test.serial : test.skip;
let reg: TestRegistry | undefined;
let engine: LocalEngine;
let images: LocalImageService;
let ops: ContainerOperations;
let t0 = '';
let ref: string;
const tag = randomBytes(3).toString('hex');

let env: PulledEngine | undefined;

test.before(async () => {
  if (!isRoot) return;
  env = await openPulledEngine({ bridgePrefix: 'bo', subnet: '10.229.0.0/16', pool: '10.230.0.0/16' });
  ({ reg, engine, images, ref } = env);
  ops = new ContainerOperations({ store: engine.containers.store, events: engine.events, runRoot: engine.runRoot, images });
  t0 = ops.runtimeRoot;
});

test.after.always(async () => {
  await env?.close();
});

function opts(o: Partial<CreateContainerOptions>): CreateContainerOptions {
  return createOptions(ref, o);
}

async function collect(s: Readable | undefined): Promise<string> {
  let out = '';
  if (!s) return out;
  for await (const c of s) out += c;
  return out;
}

function run(o: Partial<CreateContainerOptions>): Promise<{ id: string; code: number; out: string }> {
  return runToExit(engine, opts(o));
}

async function tarEntries(s: Readable): Promise<Array<{ name: string; type: string; data: string }>> {
  const list: Array<{ name: string; type: string; data: string }> = [];
  let cur: { name: string; type: string; data: string } | undefined;
  const p = new TarParser({
    entry: (h: TarHeader) => { cur = { name: h.name, type: h.type, data: '' }; list.push(cur); },
    data: (c: Buffer) => { cur!.data += c.toString(); },
    end: () => undefined,
  });
  for await (const c of s) p.write(c as Buffer);
  return list;
}

serial('pause freezes the cgroup and unpause thaws it; state, inspect and events follow (root)', async (t) => {
  const r = await engine.containers.create(opts({ cmd: ['sleep', '1000'] }));
  const h = await engine.containers.start(r.Id);
  const since = Date.now();
  await engine.containers.pause(r.Id);
  const rec = await engine.containers.inspect(r.Id);
  t.true(rec.State.Paused);
  t.is(rec.State.Status, 'paused');
  const freezer = path.join('/sys/fs/cgroup/freezer/berth', r.Id, 'freezer.state');
  t.is((await fs.readFile(freezer, 'utf8')).trim(), 'FROZEN');
  await t.throwsAsync(engine.containers.exec(r.Id, ['true']), { code: 'ERR_ENGINE_INVALID_ARGUMENT' });
  await engine.containers.unpause(r.Id);
  t.is((await fs.readFile(freezer, 'utf8')).trim(), 'THAWED');
  t.is((await engine.containers.inspect(r.Id)).State.Status, 'running');
  await t.throwsAsync(engine.containers.unpause(r.Id), { code: 'ERR_ENGINE_INVALID_ARGUMENT' });
  const actions: string[] = [];
  for await (const e of engine.events.subscribe({ since: BigInt(since) * 1_000_000n, until: BigInt(Date.now() + 1) * 1_000_000n, filters: { container: [r.Id] } }) as AsyncIterable<EngineEvent>) actions.push(e.Action);
  t.deepEqual(actions.filter((a) => a === 'pause' || a === 'unpause'), ['pause', 'unpause']);
  await engine.containers.kill(r.Id, 'SIGKILL');
  t.is((await h.wait()).StatusCode, 137);
  await t.throwsAsync(engine.containers.pause(r.Id), { code: 'ERR_ENGINE_CONTAINER_NOT_RUNNING' });
  await engine.containers.remove(r.Id);
});

serial('exec runs in the container with its env, user and cwd (and overrides); top lists its processes; stats reads its cgroup (root)', async (t) => {
  const r = await engine.containers.create(opts({ cmd: ['sleep', '1000'], env: ['FROM_RUN=1'], workingDir: '/tmp', pidsLimit: 50, memory: 64 * 1024 * 1024 }));
  const h = await engine.containers.start(r.Id);
  const p = await engine.containers.exec(r.Id, ['sh', '-c', 'echo "$FROM_RUN $EXTRA $(pwd) $(id -u) $(hostname)"; exit 5'], { env: ['EXTRA=x'] });
  const out = collect(p.stdio.stdout);
  p.stdio.stdin?.end();
  t.is((await p.wait()).exitCode, 5);
  t.is(await out, `1 x /tmp 0 ${r.Config.Hostname}\n`);
  const q = await engine.containers.exec(r.Id, ['id', '-un'], { user: 'nobody', workingDir: '/' });
  q.stdio.stdin?.end();
  const qo = collect(q.stdio.stdout);
  await q.wait();
  t.is(await qo, 'nobody\n');
  await t.throwsAsync(engine.containers.exec(r.Id, ['/no/such']), { code: 'ERR_NS_EXEC_NOT_FOUND' });

  const top = await engine.containers.top(r.Id);
  t.deepEqual(top.Titles, ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
  t.is(top.Processes.length, 1);
  t.is(top.Processes[0]![1], String(h.pid));
  t.is(top.Processes[0]![7], 'sleep 1000');
  t.is(top.Processes[0]![0], 'root');

  const s = await engine.containers.stats(r.Id);
  t.is(s.id, r.Id);
  t.is(s.pids_stats.current, 1);
  t.is(s.pids_stats.limit, 50);
  t.is(s.memory_stats.limit, 64 * 1024 * 1024);
  t.true(s.memory_stats.usage > 0);
  t.true(s.cpu_stats.cpu_usage.total_usage > 0);
  t.true(s.cpu_stats.system_cpu_usage > s.cpu_stats.cpu_usage.total_usage);
  await engine.containers.kill(r.Id, 'SIGKILL');
  await h.wait();
  await t.throwsAsync(engine.containers.top(r.Id), { code: 'ERR_ENGINE_CONTAINER_NOT_RUNNING' });
  await engine.containers.remove(r.Id);
});

serial('cp: a tar goes into a running and a stopped container safely, and comes out as a tar; paths resolve inside the rootfs (root)', async (t) => {
  const file = (name: string, body: string) => [encodeTarHeader({ name, type: TarEntryType.File, mode: 0o644, size: body.length }), Buffer.from(body), tarPadding(body.length)];
  const tar = () => Readable.from([...file('in.txt', 'copied in\n'), TAR_END]);
  const r = await engine.containers.create(opts({ cmd: ['sh', '-c', 'ln -s /etc /tmp/etc-link; while [ ! -e /tmp/in.txt ]; do sleep 0.05; done; cat /tmp/in.txt'] }));
  let out = '';
  const h = await engine.containers.start(r.Id, { onOutput: (_s, c) => { out += c; } });
  await t.throwsAsync(engine.containers.copyTo(r.Id, '/tmp', Readable.from([...file('../../escape.txt', 'nope'), TAR_END])), { code: 'ERR_LAYER_PATH_ESCAPE' });
  await engine.containers.copyTo(r.Id, '/tmp', tar());
  await h.wait();
  t.false(await fs.access(path.join(engine.runRoot, 'bundles', 'escape.txt')).then(() => true, () => false));
  t.is(out, 'copied in\n');
  // Stopped: the snapshot is mounted for the call.
  await engine.containers.copyTo(r.Id, '/', Readable.from([...file('root.txt', 'at root\n'), TAR_END]));
  const got = await tarEntries(await engine.containers.copyFrom(r.Id, '/tmp'));
  t.deepEqual(got.map((e) => e.name).sort(), ['tmp/', 'tmp/etc-link', 'tmp/in.txt']);
  t.is(got.find((e) => e.name === 'tmp/in.txt')!.data, 'copied in\n');
  t.is((await tarEntries(await engine.containers.copyFrom(r.Id, '/root.txt')))[0]!.data, 'at root\n');
  // A symlink to /etc followed from the rootfs stays in the rootfs.
  const passwd = await tarEntries(await engine.containers.copyFrom(r.Id, '/tmp/etc-link/passwd'));
  t.regex(passwd[0]!.data, /^root:x:0:0:/);
  t.notRegex(passwd[0]!.data, new RegExp((await fs.readFile('/etc/passwd', 'utf8')).split('\n')[1]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  await t.throwsAsync(engine.containers.copyTo(r.Id, '/tmp/in.txt', tar()), { code: 'ERR_ENGINE_INVALID_ARGUMENT' });
  const root = '/x';
  t.is(await resolveInRoot(root, '/../../etc/passwd'), '/x/etc/passwd');
  await engine.containers.remove(r.Id);
});

serial('commit: a change made in one container is in a new container made from the committed image; config and history follow (root)', async (t) => {
  const a = await run({ cmd: ['sh', '-c', 'echo committed > /hello.txt; rm /bin/vi'], env: ['ADDED=yes'], workingDir: '/tmp' });
  t.is(a.code, 0);
  const before = await images.resolveImage(ref);
  const c = await engine.containers.commit(a.id, { reference: `committed${tag}:v1`, author: 'berth test', message: 'add hello' });
  const img = await images.resolveImage(`committed${tag}:v1`);
  t.is(img.id, c.id);
  t.is(img.config.rootfs.diff_ids.length, before.config.rootfs.diff_ids.length + 1);
  t.is(img.config.history!.length, (before.config.history ?? []).length + 1);
  t.is(img.config.history!.at(-1)!.comment, 'add hello');
  t.is(img.config.author, 'berth test');
  t.true(img.config.config!.Env!.includes('ADDED=yes'));
  const b = await run({ image: `committed${tag}:v1`, cmd: ['sh', '-c', 'cat /hello.txt; pwd; test -e /bin/vi || echo "vi gone"'] });
  t.is(b.out, 'committed\n/tmp\nvi gone\n');
  const hist = await images.history(`committed${tag}:v1`);
  t.is(hist[0]!.Comment, 'add hello');
  await engine.containers.remove(a.id);
  await engine.containers.remove(b.id);
});

serial('restart stops the container and starts it again; the ContainerService and a standalone ContainerOperations see the same runtime root (root)', async (t) => {
  t.is(t0, engine.containers.operations.runtimeRoot);
  const r = await engine.containers.create(opts({ cmd: ['sleep', '1000'], stopTimeout: 1 }));
  const h1 = await engine.containers.start(r.Id);
  const h2 = await engine.containers.restart(r.Id, { timeout: 0 });
  t.is((await h1.wait()).StatusCode, 137);
  t.not(h2.pid, h1.pid);
  t.is((await engine.containers.inspect(r.Id)).State.Pid, h2.pid);
  t.is((await ops.top(r.Id)).Processes[0]![1], String(h2.pid));
  await engine.containers.kill(r.Id, 'SIGKILL');
  await h2.wait();
  await engine.containers.remove(r.Id);
});

