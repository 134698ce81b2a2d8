import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { fixture, startRegistry, type TestRegistry } from '@berth/testkit';
import { openEngine, openJournalEventBus, openLocalImageService, serveDockerApi } from '@berth/engine';
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

serial('the docker CLI pulls, lists, tags and removes images through berth\'s API (root, local registry)', async (t) => {
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
  const failed = await exec(docker, ['pull', `${reg!.host}/nosuch/repo:latest`], { env }).then(() => undefined, (e) => e);
  t.is(failed?.code, 1);
});
