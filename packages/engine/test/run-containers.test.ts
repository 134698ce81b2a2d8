import test from 'ava';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fixture, type TestRegistry } from '@berth/testkit';
import {
  openEngine, type ContainerRuntime, type LocalEngine, type LocalImageService, type CreateContainerOptions,
} from '@berth/engine';
import { tempDir, isRoot } from './helpers/tmp.js';
import { createOptions, openPulledEngine, runToExit, type PulledEngine } from './helpers/pulled-engine.js';

const serial = isRoot ? test.serial : test.skip;
let reg: TestRegistry | undefined;
let engine: LocalEngine;
let images: LocalImageService;
let ref: string;
const tag = randomBytes(3).toString('hex');

let env: PulledEngine | undefined;

test.before(async () => {
  if (!isRoot) return;
  env = await openPulledEngine({ bridgePrefix: 'br', subnet: '10.227.0.0/16', pool: '10.228.0.0/16' });
  ({ reg, engine, images, ref } = env);
});

test.after.always(async () => {
  await env?.close();
});

function opts(o: Partial<CreateContainerOptions>): CreateContainerOptions {
  return createOptions(ref, o);
}

function run(o: Partial<CreateContainerOptions>): Promise<{ id: string; code: number; out: string }> {
  return runToExit(engine, opts(o));
}

serial('run echo: output reaches the caller and the json-file log; exit codes are the container\'s (root)', async (t) => {
  const a = await run({ cmd: ['echo', 'hello'] });
  t.is(a.out, 'hello\n');
  await t.throwsAsync(fs.access(path.join(engine.runRoot, 'attach', `${a.id.slice(0, 24)}.sock`)), { code: 'ENOENT' }, 'the attach socket goes with the exit');
  t.is(a.code, 0);
  const logs = [];
  for await (const l of engine.containers.logs(a.id)) logs.push(l.log);
  t.deepEqual(logs, ['hello\n']);
  const rec = await engine.containers.inspect(a.id);
  t.is(rec.State.Status, 'exited');
  t.is(rec.State.ExitCode, 0);
  t.is((await run({ cmd: ['sh', '-c', 'exit 3'] })).code, 3);
  await t.throwsAsync(run({ cmd: ['/no/such/binary'] }), { code: 'ERR_NS_EXEC_NOT_FOUND' });
});

serial('a start that cannot exec is recorded as Docker does: 127 for a missing command, 126 for a non-executable one (root)', async (t) => {
  const missing = await engine.containers.create(opts({ cmd: ['/no/such/binary'] }));
  const e1 = await t.throwsAsync(engine.containers.start(missing.Id)) as Error & { code?: string; details?: { errnoCode?: string } };
  t.is(e1.code, 'ERR_NS_EXEC_NOT_FOUND');
  t.is(e1.details?.errnoCode, 'ENOENT');
  t.is((await engine.containers.inspect(missing.Id)).State.ExitCode, 127);
  // The attach socket, which listens while the runtime creates the container, is gone with the failed start.
  await t.throwsAsync(fs.access(path.join(engine.runRoot, 'attach', `${missing.Id.slice(0, 24)}.sock`)), { code: 'ENOENT' });
  // /etc/passwd exists but has no execute bit: execve fails with EACCES.
  const noexec = await engine.containers.create(opts({ cmd: ['/etc/passwd'] }));
  const e2 = await t.throwsAsync(engine.containers.start(noexec.Id)) as Error & { code?: string; details?: { errnoCode?: string } };
  t.is(e2.code, 'ERR_NS_EXEC_NOT_FOUND');
  t.is(e2.details?.errnoCode, 'EACCES');
  t.is((await engine.containers.inspect(noexec.Id)).State.ExitCode, 126);
  for (const id of [missing.Id, noexec.Id]) await engine.containers.remove(id);
});


serial('image config applies (env, cwd, user) and options override it (root)', async (t) => {
  const a = await run({ cmd: ['sh', '-c', 'echo "$FOO $HOME $(pwd) $(id -u) $(hostname)"'], env: ['FOO=bar'], workingDir: '/tmp', user: '65534', hostname: 'box' });
  t.is(a.out, 'bar /nonexistent /tmp 65534 box\n', 'HOME comes from the image\'s /etc/passwd for uid 65534');
  const b = await run({ entrypoint: ['echo'], cmd: ['via', 'entrypoint'] });
  t.is(b.out, 'via entrypoint\n');
});

serial('volumes persist across containers, binds can be read-only, tmpfs is tmpfs; --rm removes the container and its anonymous volumes (root)', async (t) => {
  await run({ cmd: ['sh', '-c', 'echo kept > /data/f'], mounts: [{ Type: 'volume', Source: 'persist', Target: '/data', ReadOnly: false }] });
  t.is((await run({ cmd: ['cat', '/data/f'], mounts: [{ Type: 'volume', Source: 'persist', Target: '/data', ReadOnly: true }] })).out, 'kept\n');
  const host = await tempDir();
  await fs.writeFile(path.join(host, 'file'), 'from host');
  const ro = await run({ cmd: ['sh', '-c', 'cat /mnt/file; touch /mnt/new 2>/dev/null && echo wrote || echo denied'],
    mounts: [{ Type: 'bind', Source: host, Target: '/mnt', ReadOnly: true }] });
  t.is(ro.out, 'from hostdenied\n');
  t.false(await fs.access(path.join(host, 'new')).then(() => true, () => false));
  const tm = await run({ cmd: ['sh', '-c', 'grep " /scratch " /proc/mounts | cut -d" " -f3'], mounts: [{ Type: 'tmpfs', Source: '', Target: '/scratch', ReadOnly: false }] });
  t.is(tm.out, 'tmpfs\n');
  const activeSnapshots = async (): Promise<string[]> => {
    const keys: string[] = [];
    for await (const i of images.snapshotter.walk({ filters: [{ kind: 'active' }] })) keys.push(i.name);
    return keys.sort();
  };
  const before = await activeSnapshots();
  // An AutoRemove container writes to its snapshot, which goes with it.
  const gone = await run({ cmd: ['sh', '-c', 'echo x > /written && cat /written'], autoRemove: true, mounts: [{ Type: 'volume', Source: '', Target: '/anon', ReadOnly: false }] });
  t.is(gone.code, 0);
  t.is(gone.out, 'x\n');
  t.deepEqual(await activeSnapshots(), before, 'its snapshot went with it');
  await t.throwsAsync(engine.containers.inspect(gone.id), { code: 'ERR_ENGINE_CONTAINER_NOT_FOUND' });
  t.false((await engine.volumes.list()).some((v) => 'com.docker.volume.anonymous' in v.Labels && (v.Name !== '')), 'the anonymous volume went with it');
  await t.throwsAsync(engine.volumes.remove('persist'), { code: 'ERR_ENGINE_VOLUME_IN_USE' });
});

serial('--network none: a fresh namespace of its own with only lo, UP, made by the runtime (no namespace file); container:<id> of it shares it (root)', async (t) => {
  const probe = 'readlink /proc/self/ns/net; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; cat /sys/class/net/lo/flags';
  const lonely = await engine.containers.create(opts({ cmd: ['sh', '-c', `${probe}; echo ready; exec sleep 1000`] }));
  let out = '';
  let ready!: () => void;
  const isReady = new Promise<void>((r) => { ready = r; });
  const h = await engine.containers.start(lonely.Id, { onOutput: (_s, c) => { out += c; if (out.includes('ready\n')) ready(); } });
  await isReady;
  const [ns, ifaces, flags] = [out.split('\n')[0]!, out.split('\n').slice(1, -3), out.split('\n').at(-3)!];
  t.regex(ns, /^net:\[\d+\]$/);
  t.not(ns, await fs.readlink('/proc/self/ns/net'), 'not the host\'s namespace');
  t.deepEqual(ifaces, ['lo'], 'lo only');
  t.is(Number.parseInt(flags, 16) & 0x1, 0x1, `lo is up (flags ${flags})`);
  await t.throwsAsync(fs.access(engine.networks.sandboxPath(lonely.Id)), undefined, 'no namespace file bound by a helper process');
  // A second none container gets another fresh namespace; container:<id> joins the first one's.
  const other = await run({ cmd: ['readlink', '/proc/self/ns/net'] });
  t.not(other.out.trim(), ns);
  const side = await run({ networkMode: `container:${lonely.Id}`, cmd: ['sh', '-c', probe] });
  t.is(side.code, 0);
  t.is(side.out.split('\n')[0], ns, 'the same namespace');
  await engine.containers.kill(lonely.Id, 'SIGKILL');
  t.is((await h.wait()).StatusCode, 137);
  for (const id of [lonely.Id, other.id, side.id]) await engine.containers.remove(id);
});

// The fixture's busybox is Debian's static build: its getaddrinfo (static glibc, no NSS modules in the
// image) crashes, and so does its wget. The container resolves the peer's name with awk over its
// /etc/hosts (the file the engine generates and keeps current) and speaks HTTP with nc.
serial('two containers on a user network reach each other by name through their generated /etc/hosts (root, CNI)', async (t) => {
  await engine.networks.create({ name: `app${tag}` });
  const server = await engine.containers.create(opts({ name: `server${tag}`, networkMode: `app${tag}`,
    cmd: ['sh', '-c', 'mkdir -p /www && echo pong > /www/index.html && exec httpd -f -p 80 -h /www'] }));
  const h = await engine.containers.start(server.Id);
  const client = await run({ networkMode: `app${tag}`, cmd: ['sh', '-c', `ip=$(awk '$2=="server${tag}"{print $1}' /etc/hosts); [ -n "$ip" ] || exit 2; `
      + 'for i in $(seq 100); do r=$(printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc $ip 80 2>/dev/null | tail -n 1); [ "$r" = pong ] && { echo $r; exit 0; }; sleep 0.1; done; exit 1'] });
  t.is(client.out, 'pong\n');
  t.is(client.code, 0);
  // httpd is pid 1 without a SIGTERM handler, so the kernel drops SIGTERM and stop escalates to SIGKILL.
  await engine.containers.stop(server.Id, { timeout: 1 });
  t.is((await h.wait()).StatusCode, 137);
  await engine.containers.remove(server.Id);
  await engine.containers.remove(client.id);
  await engine.networks.remove(`app${tag}`);
});

serial('a published port answers on 127.0.0.1; stop escalates to SIGKILL after the timeout (root, CNI)', async (t) => {
  const free = net.createServer();
  await new Promise<void>((r) => free.listen(0, '127.0.0.1', () => r()));
  const port = (free.address() as net.AddressInfo).port;
  await new Promise<void>((r) => free.close(() => r()));
  const web = await engine.containers.create(opts({ networkMode: 'bridge', publish: [{ hostIP: '127.0.0.1', hostPort: port, containerPort: 80, protocol: 'tcp' }],
    cmd: ['sh', '-c', 'mkdir -p /www && echo published > /www/index.html && exec httpd -f -p 80 -h /www'] }));
  const h = await engine.containers.start(web.Id);
  let body = '';
  for (let i = 0; i < 100 && !body; i++) {
    body = await new Promise<string>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', timeout: 2000 }, (res) => {
        let d = '';
        res.on('data', (c) => { d += c; });
        res.on('end', () => resolve(d));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => setTimeout(() => resolve(''), 100));
    });
  }
  t.is(body, 'published\n');
  t.deepEqual((await engine.containers.inspect(web.Id)).NetworkSettings.Ports['80/tcp'], [{ HostIp: '127.0.0.1', HostPort: String(port) }]);
  await engine.containers.kill(web.Id, 'SIGKILL');
  t.is((await h.wait()).StatusCode, 137);
  const stubborn = await engine.containers.create(opts({ cmd: ['sleep', '1000'] }));
  const hs = await engine.containers.start(stubborn.Id);
  await engine.containers.stop(stubborn.Id, { timeout: 1 });
  t.is((await hs.wait()).StatusCode, 137, 'sleep is pid 1 without a SIGTERM handler: stop escalates');
  const rec = await engine.containers.inspect(stubborn.Id);
  t.is(rec.State.Status, 'exited');
  t.is(rec.State.ExitCode, 137);
  await engine.containers.remove(stubborn.Id);
  await engine.containers.remove(web.Id);
  // Removal ran CNI DEL: the DNAT rule for the port is gone.
  t.false((await (await import('@berth/engine')).run('iptables-save', ['-t', 'nat'])).stdout.includes(`--dport ${port} `));
});

serial('a start with nothing to wait for creates and starts in one runtime call (run); one that waits for an attach creates, then starts; a runtime without run still starts (root)', async (t) => {
  const { createContainer, runContainer } = await import('@berth/namespaces');
  const calls: string[] = [];
  const root = await tempDir();
  const spied = async (runtime: ContainerRuntime) => {
    const e = await openEngine({ root, imageService: images, runtime, reconcile: false });
    t.teardown(() => e.close());
    return e;
  };
  const both = await spied({
    create: (id, spec, o) => { calls.push('create'); return createContainer(id, spec, o); },
    run: (id, spec, o) => { calls.push('run'); return runContainer(id, spec, o); },
  });
  t.deepEqual(await runToExit(both, opts({ cmd: ['echo', 'at once'] })).then((r) => [r.code, r.out]), [0, 'at once\n']);
  t.deepEqual(calls.splice(0), ['run']);
  const exec = await both.containers.create(opts({ cmd: ['/no/such/binary'] }));
  await t.throwsAsync(both.containers.start(exec.Id), { code: 'ERR_NS_EXEC_NOT_FOUND' }, 'an exec failure is the same error through run');
  t.is((await both.containers.inspect(exec.Id)).State.ExitCode, 127);
  t.deepEqual(calls.splice(0), ['run']);

  const waiting = await both.containers.create(opts({ cmd: ['echo', 'after attach'] }));
  let out = '';
  let attached: Promise<unknown> = Promise.resolve();
  const started = both.containers.start(waiting.Id, {
    waitForAttach: true,
    onAttachReady: () => {
      attached = both.containers.attach(waiting.Id, { stream: true, stdout: true, stderr: true }).then((a) => {
        a.stdout?.on('data', (c: Buffer) => { out += c; });
        return a.ended;
      });
    },
  });
  t.is((await (await started).wait()).StatusCode, 0);
  await attached;
  t.deepEqual(calls.splice(0), ['create'], 'the process waited for the attach: create, then start');
  t.regex(out, /after attach/);

  const createOnly = await spied({ create: (id, spec, o) => { calls.push('create'); return createContainer(id, spec, o); } });
  t.deepEqual(await runToExit(createOnly, opts({ cmd: ['echo', 'two steps'] })).then((r) => [r.code, r.out]), [0, 'two steps\n']);
  t.deepEqual(calls, ['create']);
});

serial('an image removed between a create\'s lookup and its record (another process\'s rmi) fails the create and leaves nothing (root)', async (t) => {
  const src = await engine.containers.create(opts({ cmd: ['true'] }));
  const made = await engine.containers.commit(src.Id, { reference: `race-${tag}:1`, changes: { Labels: { race: tag } } });
  await engine.containers.remove(src.Id);
  let key: string | undefined;
  // The image service as another process's rmi would leave it: the image goes after create looked it up and
  // prepared its snapshot, before create asks whether it is still there.
  const racing = new Proxy(images, {
    get(target, k) {
      if (k === 'snapshotter') {
        return new Proxy(target.snapshotter, {
          get(sn, sk) {
            // The container's snapshot is made on the image's layers, then the image goes (its layers stay: they have a child).
            if (sk === 'prepare') {
              return async (k2: string, ...a: unknown[]) => {
                key = k2;
                const m = await (sn.prepare as (...x: unknown[]) => Promise<unknown>)(k2, ...a);
                await target.remove(`race-${tag}:1`);
                return m;
              };
            }
            const v = Reflect.get(sn, sk);
            return typeof v === 'function' ? v.bind(sn) : v;
          },
        });
      }
      const v = Reflect.get(target, k);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const root = await tempDir();
  const e = await openEngine({ root, imageService: racing, reconcile: false });
  t.teardown(() => e.close());
  await t.throwsAsync(e.containers.create(opts({ image: `race-${tag}:1`, cmd: ['true'] })), { code: 'ERR_ENGINE_IMAGE_NOT_FOUND' });
  t.deepEqual(await e.containers.list({ all: true }), [], 'no record is left');
  t.truthy(key);
  await t.throwsAsync(images.snapshotter.stat(key!), undefined, 'nor its snapshot');
  await t.throwsAsync(images.inspect(made.id), { code: 'ERR_ENGINE_IMAGE_NOT_FOUND' }, 'the image went (the rmi won)');
});
