import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { openEngine, openJsonFileLogWriter, serveDockerApi, type LocalEngine, type DockerApiServer } from '@berth/engine';
import { tempDir } from './helpers/tmp.js';

const exec = promisify(execFile);

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: Buffer; json: () => any }

function request(socketPath: string, method: string, url: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ socketPath, method, path: url, headers: data ? { 'Content-Type': 'application/json' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, body: b, json: () => JSON.parse(b.toString('utf8')) });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function setup(t: import('ava').ExecutionContext): Promise<{ engine: LocalEngine; api: DockerApiServer; sock: string }> {
  const root = await tempDir();
  const engine = await openEngine({ root, defaultBridge: 'bbapi', defaultSubnet: '10.197.0.0/16', subnetPool: '10.198.0.0/16' });
  const sock = path.join(root, 'berth.sock');
  const api = await serveDockerApi(engine, { socketPath: sock });
  t.teardown(async () => {
    await api.close();
    await engine.close();
  });
  return { engine, api, sock };
}

test('ping, version and info over the unix socket with Docker headers', async (t) => {
  const { sock } = await setup(t);
  const ping = await request(sock, 'GET', '/_ping');
  t.is(ping.status, 200);
  t.is(ping.body.toString(), 'OK');
  t.is(ping.headers['api-version'], '1.41');
  t.is(ping.headers.ostype, 'linux');
  t.is((await request(sock, 'HEAD', '/_ping')).status, 200);
  const v = (await request(sock, 'GET', '/v1.41/version')).json();
  t.is(v.ApiVersion, '1.41');
  t.is(v.Os, 'linux');
  const info = (await request(sock, 'GET', '/info')).json();
  t.is(info.OSType, 'linux');
  t.is(info.Containers, 0);
  t.is((await request(sock, 'GET', '/v1.99/info')).status, 400);
  const nf = await request(sock, 'GET', '/nosuch');
  t.is(nf.status, 404);
  t.is(nf.json().message, 'page not found');
});

test('volumes and networks endpoints, with errors mapped from kinds', async (t) => {
  const { sock } = await setup(t);
  const created = await request(sock, 'POST', '/v1.41/volumes/create', { Name: 'data', Labels: { a: 'b' }, DriverOpts: {} });
  t.is(created.status, 201);
  t.is(created.json().Mountpoint.endsWith('/volumes/data/_data'), true);
  t.deepEqual((await request(sock, 'GET', `/volumes?filters=${encodeURIComponent('{"label":{"a=b":true}}')}`)).json().Volumes.map((v: any) => v.Name), ['data']);
  t.is((await request(sock, 'GET', '/volumes/nosuch')).status, 404);
  t.is((await request(sock, 'GET', '/volumes?filters=notjson')).status, 400);
  t.is((await request(sock, 'DELETE', '/volumes/data')).status, 204);
  const net = await request(sock, 'POST', '/networks/create', { Name: 'front', IPAM: { Config: [{ Subnet: '172.31.250.0/24' }] } });
  t.is(net.status, 201);
  const id = net.json().Id;
  t.regex(id, /^[0-9a-f]{64}$/);
  t.is((await request(sock, 'POST', '/networks/create', { Name: 'front' })).status, 409);
  const n = (await request(sock, 'GET', `/networks/${id.slice(0, 12)}`)).json();
  t.is(n.Name, 'front');
  t.deepEqual(n.IPAM.Config, [{ Subnet: '172.31.250.0/24', Gateway: '172.31.250.1' }]);
  t.deepEqual((await request(sock, 'GET', '/networks')).json().map((x: any) => x.Name), ['bridge', 'front', 'host', 'none']);
  const del = await request(sock, 'DELETE', '/networks/bridge');
  t.is(del.status, 409);
  t.is(del.json().code, 'ERR_ENGINE_NETWORK_PREDEFINED');
  t.deepEqual((await request(sock, 'POST', '/networks/prune')).json(), { NetworksDeleted: ['front'] });
});

test('containers from the state store, logs in the multiplexed format, unwired routes answer 501', async (t) => {
  const { engine, sock } = await setup(t);
  const r = await engine.containers.store.create({ name: 'web', image: 'busybox', path: 'echo', args: ['hi'] });
  const w = await openJsonFileLogWriter(r.LogPath);
  await w.write('stdout', 'hi\n');
  await w.write('stderr', 'err\n');
  await w.close();
  t.deepEqual((await request(sock, 'GET', '/containers/json')).json(), []);
  const [row] = (await request(sock, 'GET', '/containers/json?all=1')).json();
  t.is(row.Id, r.Id);
  t.deepEqual(row.Names, ['/web']);
  t.is(row.Status, 'Created');
  t.is((await request(sock, 'GET', `/containers/${r.Id.slice(0, 8)}/json`)).json().Name, '/web');
  const logs = await request(sock, 'GET', '/containers/web/logs?stdout=1&stderr=1');
  t.is(logs.status, 200);
  t.deepEqual([...logs.body.subarray(0, 8)], [1, 0, 0, 0, 0, 0, 0, 3]);
  t.is(logs.body.subarray(8, 11).toString(), 'hi\n');
  t.is(logs.body[11], 2);
  const created = await request(sock, 'POST', '/containers/create', { Image: 'busybox' });
  t.is(created.status, 501);
  t.is(created.json().code, 'ERR_ENGINE_NOT_IMPLEMENTED');
  t.is((await request(sock, 'POST', '/images/create?fromImage=busybox')).status, 501);
  t.is((await request(sock, 'POST', '/containers/web/rename?name=www')).status, 204);
  t.is((await request(sock, 'DELETE', '/containers/www')).status, 204);
  t.is((await request(sock, 'GET', '/containers/www/json')).status, 404);
});

test('events stream over HTTP as newline-delimited JSON', async (t) => {
  const { engine, sock } = await setup(t);
  const lines: any[] = [];
  await new Promise<void>((resolve, reject) => {
    const req = http.request({ socketPath: sock, method: 'GET', path: '/events?filters=' + encodeURIComponent('{"type":["volume"]}') }, (res) => {
      t.is(res.statusCode, 200);
      let buf = '';
      res.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          lines.push(JSON.parse(buf.slice(0, i)));
          buf = buf.slice(i + 1);
          if (lines.length === 2) {
            req.destroy();
            resolve();
          }
        }
      });
      // The stream is open: make events.
      engine.networks.create({ name: 'ignored' }).then(() => engine.volumes.create({ name: 'v1' })).then(() => engine.volumes.remove('v1')).catch(reject);
    });
    req.on('error', (e) => { if (lines.length < 2) reject(e); });
    req.end();
  });
  t.deepEqual(lines.map((l) => `${l.Type}:${l.Action}:${l.Actor.ID}`), ['volume:create:v1', 'volume:destroy:v1']);
});

test('the docker CLI 28 talks to berth: volume and network commands (interop)', async (t) => {
  const docker = '/usr/local/bin/docker';
  if (!(await fs.access(docker).then(() => true, () => false))) return t.pass('docker CLI not installed');
  const { sock } = await setup(t);
  const env = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: await tempDir() };
  const run = async (...args: string[]) => (await exec(docker, args, { env })).stdout;
  t.is((await run('volume', 'create', '--label', 'x=y', 'cli-vol')).trim(), 'cli-vol');
  t.regex(await run('volume', 'ls'), /local\s+cli-vol/);
  t.is((await run('volume', 'inspect', '--format', '{{.Driver}} {{.Labels}}', 'cli-vol')).trim(), 'local map[x:y]');
  await run('network', 'create', '--subnet', '172.31.251.0/24', 'cli-net');
  const ls = await run('network', 'ls', '--format', '{{.Name}} {{.Driver}}');
  t.deepEqual(ls.trim().split('\n').sort(), ['bridge bridge', 'cli-net bridge', 'host host', 'none null']);
  t.is((await run('network', 'inspect', '--format', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', 'cli-net')).trim(), '172.31.251.0/24');
  t.is((await run('ps', '-a', '-q')).trim(), '');
  await run('network', 'rm', 'cli-net');
  await run('volume', 'rm', 'cli-vol');
  const failed = await exec(docker, ['volume', 'inspect', 'cli-vol'], { env }).then(() => undefined, (e) => e);
  t.is(failed?.code, 1);
  t.regex(failed?.stderr ?? '', /not found/);
});
