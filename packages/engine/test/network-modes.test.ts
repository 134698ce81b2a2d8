import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { openEngine, resolvConfFor } from '@berth/engine';
import { tempDir, isRoot } from './helpers/tmp.js';

test('resolv.conf per mode: host copies, others drop loopback nameservers and fall back to Docker defaults', async (t) => {
  const dir = await tempDir();
  const f = `${dir}/resolv.conf`;
  await fs.writeFile(f, 'search example.org\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions ndots:2\n');
  t.is(await resolvConfFor('host', f), 'search example.org\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions ndots:2\n');
  t.is(await resolvConfFor('bridge', f), 'search example.org\nnameserver 10.0.0.2\noptions ndots:2\n');
  await fs.writeFile(f, 'nameserver 127.0.0.1\nnameserver ::1\n');
  t.is(await resolvConfFor('none', f), 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
});

const rootTest = isRoot ? test.serial : test.skip;

test('the network manager initializes on first use: a none container never makes the predefined networks, a later list sees them all', async (t) => {
  const root = await tempDir();
  const e = await openEngine({ root, runRoot: `${root}/run` });
  const r = await e.containers.store.create({ name: 'quiet', image: 'busybox', path: 'true', hostConfig: { NetworkMode: 'none' } });
  t.is((await e.networks.setUp(r.Id)).mode, 'none');
  await e.networks.tearDown(r.Id);
  await e.containers.remove(r.Id);
  await t.throwsAsync(fs.access(`${root}/networks`), { code: 'ENOENT' }, 'no network record was read or written');
  t.deepEqual((await e.networks.list()).map((n) => n.Name).sort(), ['bridge', 'host', 'none']);
  t.is((await fs.readdir(`${root}/networks`)).filter((f) => f.endsWith('.json')).length, 3);
  // The same root opened again finds the same three (init runs once per root, lazily or not).
  const again = await openEngine({ root, runRoot: `${root}/run` });
  t.deepEqual((await again.networks.list()).map((n) => n.Id).sort(), (await e.networks.list()).map((n) => n.Id).sort());
  // Listed in code-unit order, as Docker sorts bytes: 'Z' (0x5a) before 'a' (0x61), unlike locale collation.
  await again.networks.create({ name: 'alpha', subnet: '10.231.1.0/24' });
  await again.networks.create({ name: 'Zeta', subnet: '10.231.2.0/24' });
  t.deepEqual((await again.networks.list()).map((n) => n.Name), ['Zeta', 'alpha', 'bridge', 'host', 'none']);
  await again.networks.remove('alpha');
  await again.networks.remove('Zeta');
  await again.close();
  await e.close();
});

rootTest('setUp/tearDown for user network, container:<id>, none and host modes (needs root, CNI)', async (t) => {
  const tag = randomBytes(3).toString('hex');
  const e = await openEngine({ root: await tempDir(), defaultBridge: `bm${tag}`, defaultSubnet: '10.207.0.0/16', subnetPool: '10.208.0.0/16' });
  const sleepers: ChildProcess[] = [];
  t.teardown(() => { for (const s of sleepers) s.kill('SIGKILL'); });
  const running = async (name: string, networkMode: string, extra: Record<string, unknown> = {}) => {
    const r = await e.containers.store.create({ name, image: 'busybox', path: 'sleep', hostConfig: { NetworkMode: networkMode, ...extra } });
    const s = spawn('sleep', ['1000'], { stdio: 'ignore' });
    await once(s, 'spawn');
    sleepers.push(s);
    await e.containers.store.markRunning(r.Id, s.pid!);
    return r;
  };
  await e.networks.create({ name: 'app' });
  const web = await running('web', 'app', { PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } });
  await e.containers.store.update(web.Id, (r) => {
    r.NetworkSettings.Networks.app = { IPAMConfig: null, Links: null, Aliases: ['www'], MacAddress: '', NetworkID: '', EndpointID: '', Gateway: '',
      IPAddress: '', IPPrefixLen: 0, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, DNSNames: null };
  });
  const db = await running('db', 'app');
  const s1 = await e.networks.setUp('web');
  const s2 = await e.networks.setUp('db');
  t.is(s1.mode, 'bridge');
  t.is(s1.netnsPath, e.networks.sandboxPath(web.Id));
  const webRec = await e.containers.inspect('web');
  t.is(webRec.NetworkSettings.Networks.app!.IPAddress, s1.endpoints[0]!.ipAddress);
  t.deepEqual(webRec.NetworkSettings.Networks.app!.DNSNames, ['web', web.Id.slice(0, 12), 'www']);
  const port = webRec.NetworkSettings.Ports['80/tcp']![0]!;
  t.is(port.HostIp, '127.0.0.1');
  t.true(Number(port.HostPort) > 0, 'a free host port was allocated');
  t.regex(await fs.readFile(webRec.HostsPath, 'utf8'), new RegExp(`^${s2.endpoints[0]!.ipAddress.replace(/\./g, '\\.')}\\tdb `, 'm'));
  t.regex(await fs.readFile((await e.containers.inspect('db')).HostsPath, 'utf8'), /\tweb [0-9a-f]{12} www$/m);
  t.is(await fs.readFile(webRec.HostnamePath, 'utf8'), `${web.Id.slice(0, 12)}\n`);
  t.notRegex(await fs.readFile(webRec.ResolvConfPath, 'utf8'), /nameserver 127\./);
  // container:<id> joins web's namespace and shares its files.
  const side = await running('side', 'container:web');
  const s3 = await e.networks.setUp('side');
  t.is(s3.mode, 'container');
  t.is(s3.netnsPath, s1.netnsPath);
  t.is((await e.containers.inspect('side')).HostsPath, webRec.HostsPath);
  // none: only the files; the runtime makes the namespace (lo up) when it creates the container (run-containers tests that).
  const lonely = await running('lonely', 'none');
  const s4 = await e.networks.setUp('lonely');
  t.is(s4.mode, 'none');
  t.is(s4.netnsPath, undefined);
  await t.throwsAsync(fs.access(e.networks.sandboxPath(lonely.Id)));
  const lonelyRec = await e.containers.inspect('lonely');
  t.is(await fs.readFile(lonelyRec.ResolvConfPath, 'utf8'), await resolvConfFor('none'));
  t.regex(await fs.readFile(lonelyRec.HostsPath, 'utf8'), /^127\.0\.0\.1\tlocalhost$/m);
  // As Docker: none (and host, container:<id>) have no network to connect to.
  await t.throwsAsync(e.networks.connect('app', 'lonely'), { code: 'ERR_ENGINE_INVALID_ARGUMENT' });
  // host: no namespace, the host's resolv.conf.
  const hosty = await running('hosty', 'host');
  const s5 = await e.networks.setUp('hosty');
  t.is(s5.netnsPath, undefined);
  t.is(await fs.readFile((await e.containers.inspect('hosty')).ResolvConfPath, 'utf8'), await fs.readFile('/etc/resolv.conf', 'utf8'));
  // container:<stopped> is refused.
  const stopped = await e.containers.store.create({ name: 'stopped', image: 'busybox', path: 'true' });
  const leech = await running('leech', `container:${stopped.Id}`);
  await t.throwsAsync(e.networks.setUp(leech.Id), { code: 'ERR_ENGINE_CONTAINER_NOT_RUNNING' });
  // Tear everything down: namespaces gone, addresses cleared, network removable once records let go of it.
  for (const c of ['side', 'hosty', 'lonely', 'db', 'web']) await e.networks.tearDown(c);
  await e.networks.tearDown('web'); // idempotent
  for (const r of [web, db, lonely]) await t.throwsAsync(fs.access(e.networks.sandboxPath(r.Id)));
  t.is((await e.containers.inspect('web')).NetworkSettings.Networks.app!.IPAddress, '');
  t.deepEqual((await e.networks.inspect('app')).Containers, {});
  for (const c of ['web', 'db']) await e.networks.disconnect('app', c);
  await e.networks.remove('app');
  await e.close();
  await (await import('@berth/engine')).run('ip', ['link', 'del', `bm${tag}`], { allowFailure: true });
});
