import test from 'ava';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { openCniNetworkManager, run, type NetworkInspect } from '@berth/engine';
import { tempDir, isRoot } from './helpers/tmp.js';
import { inNetns, tcpServerIn, tcpClientCode } from './helpers/netns.js';

// Each test uses its own bridge names and subnets so runs never collide.
let octet = 100 + (process.pid % 40);
async function manager() {
  const root = await tempDir();
  const tag = randomBytes(3).toString('hex');
  const n = octet++;
  const events: string[] = [];
  const m = await openCniNetworkManager({
    root, defaultBridge: `bb${tag}`, defaultSubnet: `10.${n}.0.0/16`, pool: `10.${n + 50}.0.0/16`,
    listener: (a, nw, c) => events.push(`${a}:${nw.Name}${c ? `:${c.slice(0, 4)}` : ''}`),
  });
  return { m, root, tag, events };
}

test('predefined networks, create/inspect in Docker shape, list filters, remove and prune', async (t) => {
  const { m, tag, events } = await manager();
  t.deepEqual((await m.list()).map((n) => n.Name), ['bridge', 'host', 'none']);
  const bridge = await m.inspect('bridge');
  t.is(bridge.Driver, 'bridge');
  t.is(bridge.Options['com.docker.network.bridge.name'], `bb${tag}`);
  const front = await m.create({ name: 'front', labels: { tier: 'web' } });
  const keys: Array<keyof NetworkInspect> = ['Name', 'Id', 'Created', 'Scope', 'Driver', 'EnableIPv6', 'IPAM', 'Internal', 'Attachable', 'Ingress', 'ConfigFrom', 'ConfigOnly', 'Containers', 'Options', 'Labels'];
  t.deepEqual(Object.keys(front).sort(), [...keys].sort());
  t.regex(front.IPAM.Config[0]!.Subnet, /^10\.\d+\.0\.0\/24$/);
  t.is(front.IPAM.Config[0]!.Gateway, front.IPAM.Config[0]!.Subnet.replace('.0/24', '.1'));
  const back = await m.create({ name: 'back', subnet: '172.29.5.0/24', gateway: '172.29.5.254', internal: true });
  t.is(back.IPAM.Config[0]!.Gateway, '172.29.5.254');
  t.not(front.IPAM.Config[0]!.Subnet, back.IPAM.Config[0]!.Subnet);
  await t.throwsAsync(m.create({ name: 'front' }), { code: 'ERR_ENGINE_NETWORK_EXISTS' });
  await t.throwsAsync(m.create({ name: 'bridge' }), { code: 'ERR_ENGINE_NETWORK_PREDEFINED' });
  await t.throwsAsync(m.create({ name: 'x1', subnet: '172.29.5.128/25' }), { code: 'ERR_ENGINE_INVALID_ARGUMENT' });
  await t.throwsAsync(m.create({ name: 'x2', driver: 'overlay' }), { code: 'ERR_ENGINE_INVALID_ARGUMENT' });
  await t.throwsAsync(m.remove('none'), { code: 'ERR_ENGINE_NETWORK_PREDEFINED' });
  await t.throwsAsync(m.inspect('nosuch'), { code: 'ERR_ENGINE_NETWORK_NOT_FOUND' });
  t.is((await m.inspect(front.Id.slice(0, 10))).Name, 'front');
  t.deepEqual((await m.list({ filters: { type: ['custom'] } })).map((n) => n.Name), ['back', 'front']);
  t.deepEqual((await m.list({ filters: { label: ['tier=web'] } })).map((n) => n.Name), ['front']);
  t.deepEqual((await m.list({ filters: { driver: ['null'] } })).map((n) => n.Name), ['none']);
  await t.throwsAsync(m.list({ filters: { colour: ['x'] } }), { code: 'ERR_ENGINE_INVALID_FILTER' });
  await m.remove('back');
  t.deepEqual((await m.prune()).NetworksDeleted, ['front']);
  t.deepEqual((await m.list()).map((n) => n.Name), ['bridge', 'host', 'none']);
  t.deepEqual(events, ['create:front', 'create:back', 'destroy:back', 'destroy:front']);
});

const rootTest = isRoot ? test.serial : test.skip;

async function iptablesSave(): Promise<string> {
  return (await run('iptables-save', [])).stdout;
}

rootTest('two containers on a user network reach each other by address and by name; DEL and removal clean up (needs root, CNI)', async (t) => {
  const { m, root, events } = await manager();
  const netw = await m.create({ name: 'app' });
  const ids = ['a', 'b'].map((c) => c.repeat(64));
  const hosts = ids.map((id) => path.join(root, `${id}.hosts`));
  const eps = [];
  for (const [i, id] of ids.entries()) {
    const ns = await m.createSandbox(id);
    t.is(ns, m.sandboxPath(id));
    eps.push(await m.attach('app', { containerId: id, containerName: ['alpha', 'beta'][i]!, netnsPath: ns, aliases: [`svc${i}`], hostsPath: hosts[i], hostname: id.slice(0, 12) }));
  }
  const [a, b] = eps as [typeof eps[0], typeof eps[0]];
  t.is(a.ifname, 'eth0');
  t.regex(a.ipAddress, /^10\.\d+\.0\.\d+$/);
  t.is(a.prefixLen, 24);
  t.is(a.gateway, netw.IPAM.Config[0]!.Gateway);
  t.regex(a.macAddress, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  const inspected = await m.inspect('app');
  t.deepEqual(Object.keys(inspected.Containers).sort(), ids);
  t.is(inspected.Containers[ids[0]!]!.IPv4Address, `${a.ipAddress}/24`);
  await m.check('app', ids[0]!);
  // lo is up inside the namespace.
  t.regex((await inNetns(a.netnsPath, ['ip', '-o', 'link', 'show', 'lo'])).stdout, /UP/);
  // TCP from a to b by address.
  const server = await tcpServerIn(b.netnsPath, 7000, 'beta');
  t.teardown(() => server.kill());
  const byIp = await inNetns(a.netnsPath, [process.execPath, '-e', tcpClientCode(b.ipAddress, 7000)]);
  t.is(byIp.stdout, 'pong beta\n', byIp.stderr);
  // The generated hosts files name each other; resolve "beta" and "svc1" through them with the libc resolver.
  const hostsA = await fs.readFile(hosts[0]!, 'utf8');
  t.regex(hostsA, new RegExp(`^${b.ipAddress.replace(/\./g, '\\.')}\\tbeta bbbbbbbbbbbb svc1$`, 'm'));
  t.regex(hostsA, /^127\.0\.0\.1\tlocalhost$/m);
  // No nameserver in the namespace's view: the host's is unreachable from here (no NAT), and lookups must not wait on it.
  await fs.writeFile(path.join(root, 'resolv.conf'), '');
  const lookup = `mount --bind ${hosts[0]} /etc/hosts && mount --bind ${path.join(root, 'resolv.conf')} /etc/resolv.conf && getent hosts beta svc1 && ${process.execPath} -e '${tcpClientCode('beta', 7000).replace(/'/g, `'"'"'`)}'`;
  const byName = await inNetns(a.netnsPath, ['unshare', '-m', '--propagation', 'private', 'sh', '-c', lookup]);
  t.is(byName.code, 0, byName.stderr);
  t.true(byName.stdout.includes(`${b.ipAddress}`));
  t.true(byName.stdout.endsWith('pong beta\n'));
  // The firewall plugin's rules mention the endpoint while it exists, and are gone after DEL.
  t.true((await iptablesSave()).includes(a.ipAddress));
  await t.throwsAsync(m.attach('app', { containerId: ids[0]!, containerName: 'alpha', netnsPath: a.netnsPath }), { code: 'ERR_ENGINE_ALREADY_CONNECTED' });
  await t.throwsAsync(m.remove('app'), { code: 'ERR_ENGINE_NETWORK_IN_USE' });
  await m.detach('app', ids[0]!);
  t.false((await iptablesSave()).includes(`${a.ipAddress}/32`));
  t.false((await fs.readFile(hosts[1]!, 'utf8')).includes('alpha'), 'peers forget a detached container');
  await t.throwsAsync(m.detach('app', ids[0]!), { code: 'ERR_ENGINE_NOT_CONNECTED' });
  t.notRegex((await inNetns(a.netnsPath, ['ip', '-o', 'addr'])).stdout, /eth0/);
  server.kill();
  await once(server, 'exit');
  for (const id of ids) await m.removeSandbox(id);
  for (const id of ids) await t.throwsAsync(fs.access(m.sandboxPath(id)));
  await m.removeSandbox(ids[0]!); // idempotent
  const bridgeName = inspected.Options['com.docker.network.bridge.name'] ?? `br-${inspected.Id.slice(0, 12)}`;
  t.is((await run('ip', ['link', 'show', bridgeName], { allowFailure: true })).code, 0);
  await m.remove('app');
  t.not((await run('ip', ['link', 'show', bridgeName], { allowFailure: true })).code, 0, 'bridge deleted with the network');
  t.false((await iptablesSave()).includes(b.ipAddress));
  t.deepEqual(events.filter((e) => e.startsWith('connect') || e.startsWith('disconnect')), ['connect:app:aaaa', 'connect:app:bbbb', 'disconnect:app:aaaa', 'disconnect:app:bbbb']);
});

rootTest('a published port answers on 127.0.0.1 and its DNAT rules go away with DEL (needs root, CNI)', async (t) => {
  const { m, tag } = await manager();
  const id = 'c'.repeat(64);
  const ns = await m.createSandbox(id);
  const free = net.createServer();
  await new Promise<void>((r) => free.listen(0, '127.0.0.1', () => r()));
  const hostPort = (free.address() as net.AddressInfo).port;
  await new Promise<void>((r) => free.close(() => r()));
  const ep = await m.attach('bridge', { containerId: id, containerName: 'web', netnsPath: ns,
    portMappings: [{ hostIP: '127.0.0.1', hostPort, containerPort: 80, protocol: 'tcp' }] });
  t.is(await fs.readFile(`/proc/sys/net/ipv4/conf/bb${tag}/route_localnet`, 'utf8'), '1\n');
  const server = await tcpServerIn(ns, 80, 'web');
  t.teardown(() => server.kill());
  const reply = await new Promise<string>((resolve, reject) => {
    const c = net.connect(hostPort, '127.0.0.1');
    let d = '';
    c.on('data', (x) => { d += x; });
    c.on('end', () => resolve(d));
    c.on('error', reject);
  });
  t.is(reply, 'pong web\n');
  t.true((await iptablesSave()).includes(`--dport ${hostPort}`));
  await m.removeSandbox(id);
  t.false((await iptablesSave()).includes(`--dport ${hostPort}`));
  t.false((await iptablesSave()).includes(ep.ipAddress));
  await run('ip', ['link', 'del', `bb${tag}`], { allowFailure: true });
});
