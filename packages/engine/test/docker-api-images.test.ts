import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { fixture, startRegistry, type TestRegistry } from '@berth/testkit';
import { openEngine, openJournalEventBus, openLocalImageService, run, serveDockerApi } from '@berth/engine';
import { tempDir, isRoot } from './helpers/tmp.js';

const exec = promisify(execFile);
const serial = isRoot ? test.serial : test.skip;
let reg: TestRegistry | undefined;

test.before(async () => { if (isRoot) reg = await startRegistry(); });
test.after.always(async () => { await reg?.close(); });

function get(socketPath: string, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath, path: url }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    }).on('error', reject);
  });
}

serial('the docker CLI pulls, lists, tags and removes images, and runs a detached container, through berth\'s API (root, local registry, CNI)', async (t) => {
  const docker = '/usr/local/bin/docker';
  if (!(await fs.access(docker).then(() => true, () => false))) return t.pass('docker CLI not installed');
  const root = await tempDir();
  const events = await openJournalEventBus({ root });
  const images = await openLocalImageService({ root, events });
  const engine = await openEngine({ root, eventBus: events, imageService: images, defaultBridge: 'bbapimg', defaultSubnet: '10.217.0.0/16', subnetPool: '10.218.0.0/16' });
  const sock = path.join(root, 'berth.sock');
  const api = await serveDockerApi(engine, { socketPath: sock });
  t.teardown(async () => {
    await api.close();
    await engine.close();
    await images.close();
    await images.snapshotter.close();
    await images.store.close();
    await run('ip', ['link', 'del', 'bbapimg'], { allowFailure: true }); // the default bridge the container used
  });
  const env = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: await tempDir() };
  const f = fixture('busybox', 'docker-gzip');
  const ref = `${reg!.host}/${f.repo}:${f.tag}`;
  const pulled = await exec(docker, ['pull', ref], { env });
  t.regex(pulled.stdout, /Pull complete/);
  t.regex(pulled.stdout, /Status: Downloaded newer image for /);
  const ls = (await exec(docker, ['images', '--format', '{{.Repository}}:{{.Tag}}'], { env })).stdout;
  t.is(ls, `${ref}\n`);
  await exec(docker, ['tag', ref, 'local/copy:v1'], { env });
  t.is((await exec(docker, ['image', 'inspect', '--format', '{{.Os}}', 'local/copy:v1'], { env })).stdout, 'linux\n');
  const rmi = await exec(docker, ['rmi', 'local/copy:v1'], { env });
  t.regex(rmi.stdout, /Untagged: /);
  t.is((await get(sock, '/v1.41/images/nosuch:latest/json')).status, 404);
  // docker run -d through the API: create + start, supervised by the API server's process.
  const id = (await exec(docker, ['run', '-d', '--name', 'api-web', ref, 'sh', '-c', 'echo from-api; exec sleep 1000'], { env })).stdout.trim();
  t.regex(id, /^[0-9a-f]{64}$/);
  let logs = '';
  for (let i = 0; i < 50 && !logs.includes('from-api'); i++) {
    logs = (await exec(docker, ['logs', 'api-web'], { env })).stdout;
    if (!logs) await new Promise((r) => setTimeout(r, 100));
  }
  t.is(logs, 'from-api\n');
  t.is((await exec(docker, ['ps', '--format', '{{.Names}} {{.Status}}'], { env })).stdout.replace(/Up .*/, 'Up'), 'api-web Up\n');
  await exec(docker, ['stop', '-t', '1', 'api-web'], { env });
  t.is((await exec(docker, ['wait', 'api-web'], { env })).stdout, '137\n');
  await exec(docker, ['rm', 'api-web'], { env });
  const failed = await exec(docker, ['pull', `${reg!.host}/nosuch/repo:latest`], { env }).then(() => undefined, (e) => e);
  t.is(failed?.code, 1);
});
