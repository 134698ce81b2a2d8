import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import { openEngine, openJsonFileLogWriter, httpStatusForError, NotImplementedError, type EngineEvent, type LogEntry } from '@berth/engine';
import { BerthError } from '@berth/oci-spec';
import { tempDir } from './helpers/tmp.js';

async function engineAt(root?: string) {
  const r = root ?? await tempDir();
  // Network settings distinct from other test files; no CNI runs in this file.
  return openEngine({ root: r, defaultBridge: 'bbengine', defaultSubnet: '10.187.0.0/16', subnetPool: '10.188.0.0/16' });
}

async function drain<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test('the facade gives access to each subsystem and survives reopening', async (t) => {
  const e = await engineAt();
  t.truthy(e.containers.store);
  await e.volumes.create({ name: 'vol1' });
  await e.networks.create({ name: 'net1' });
  await e.containers.store.create({ name: 'c1', image: 'busybox', path: 'true' });
  await e.close();
  await e.close();
  const again = await engineAt(e.root);
  t.is((await again.volumes.inspect('vol1')).Name, 'vol1');
  t.is((await again.networks.inspect('net1')).Name, 'net1');
  t.is((await again.containers.inspect('c1')).Name, '/c1');
  t.false('Berth' in (await again.containers.inspect('c1')), 'inspect shows Docker\'s shape only');
  const info = await again.info();
  t.is(info.Containers, 1);
  t.is(info.ContainersStopped, 1);
  t.is(info.DockerRootDir, e.root);
  await again.close();
});

test('ps -a after an engine restart shows the truth about a killed process, with a die event', async (t) => {
  const e = await engineAt();
  const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
  await once(child, 'spawn');
  const r = await e.containers.store.create({ name: 'app', image: 'busybox', path: 'sleep', args: ['1000'] });
  await e.containers.store.markRunning(r.Id, child.pid!);
  t.regex((await e.containers.list())[0]!.Status, /^Up /);
  await e.close();
  child.kill('SIGKILL');
  await once(child, 'exit');
  const since = BigInt(Date.now() - 60_000) * 1_000_000n;
  const again = await engineAt(e.root);
  t.deepEqual(await again.containers.list(), []);
  const [row] = await again.containers.list({ all: true });
  t.is(row!.State, 'exited');
  t.regex(row!.Status, /^Exited \(255\) /);
  t.deepEqual(row!.Names, ['/app']);
  await again.close(); // flushes the event journal
  const third = await engineAt(e.root);
  const ac = new AbortController();
  const seen: EngineEvent[] = [];
  for await (const ev of third.events.subscribe({ since, filters: { event: ['die'] }, signal: ac.signal })) {
    seen.push(ev);
    ac.abort();
  }
  t.is(seen[0]!.Actor.ID, r.Id);
  t.is(seen[0]!.Actor.Attributes.exitCode, '255');
  await third.close();
});

test('logs through the engine: tail and follow that ends when the container is not running', async (t) => {
  const e = await engineAt();
  const r = await e.containers.store.create({ name: 'logger', image: 'busybox', path: 'echo' });
  const w = await openJsonFileLogWriter(r.LogPath);
  await w.write('stdout', 'one\ntwo\n');
  await w.write('stderr', 'three\n');
  await w.close();
  const all: LogEntry[] = await drain(e.containers.logs('logger', { follow: true }));
  t.deepEqual(all.map((l) => `${l.stream}:${l.log}`), ['stdout:one\n', 'stdout:two\n', 'stderr:three\n']);
  t.deepEqual((await drain(e.containers.logs('logger', { tail: 1 }))).map((l) => l.log), ['three\n']);
  await t.throwsAsync(drain(e.containers.logs('nosuch')), { code: 'ERR_ENGINE_CONTAINER_NOT_FOUND' });
  await e.close();
});

test('rename and remove publish events; rm -v removes anonymous volumes; connect records on stopped containers', async (t) => {
  const e = await engineAt();
  const anon = await e.volumes.create();
  await e.volumes.create({ name: 'keep' });
  const r = await e.containers.store.create({
    name: 'old', image: 'busybox', path: 'true', anonymousVolumes: [anon.Name],
    mounts: [
      { Type: 'volume', Name: anon.Name, Source: anon.Mountpoint, Destination: '/a', Driver: 'local', Mode: '', RW: true, Propagation: '' },
      { Type: 'volume', Name: 'keep', Source: '', Destination: '/k', Driver: 'local', Mode: '', RW: true, Propagation: '' },
    ],
  });
  const since = BigInt(Date.now() - 1000) * 1_000_000n;
  await t.throwsAsync(e.volumes.remove('keep'), { code: 'ERR_ENGINE_VOLUME_IN_USE' });
  await e.containers.rename('old', 'new');
  await e.networks.create({ name: 'front' });
  t.is(await e.networks.connect('front', 'new', { aliases: ['web'] }), undefined, 'no endpoint for a stopped container');
  t.deepEqual((await e.containers.inspect('new')).NetworkSettings.Networks.front!.Aliases, ['web']);
  await t.throwsAsync(e.networks.connect('front', 'new'), { code: 'ERR_ENGINE_ALREADY_CONNECTED' });
  await t.throwsAsync(e.networks.connect('host', 'new'), { code: 'ERR_ENGINE_INVALID_ARGUMENT' });
  await t.throwsAsync(e.networks.remove('front'), { code: 'ERR_ENGINE_NETWORK_IN_USE' });
  await e.networks.disconnect('front', 'new');
  await t.throwsAsync(e.networks.disconnect('front', 'new'), { code: 'ERR_ENGINE_NOT_CONNECTED' });
  await e.networks.remove('front');
  await e.containers.remove('new', { volumes: true });
  await t.throwsAsync(e.volumes.inspect(anon.Name), { code: 'ERR_ENGINE_VOLUME_NOT_FOUND' });
  await e.volumes.remove('keep');
  const until = BigInt(Date.now() + 1000) * 1_000_000n;
  await e.close();
  const e2 = await engineAt(e.root);
  const evs = (await drain(e2.events.subscribe({ since, until }))).map((x) => `${x.Type}:${x.Action}`);
  // Docker's order on rm -v: the anonymous volume goes, then the container's destroy event.
  t.deepEqual(evs, ['volume:create', 'volume:create', 'container:rename', 'network:create', 'network:destroy', 'volume:destroy', 'container:destroy', 'volume:destroy']);
  t.truthy(r);
  await e2.close();
});

test('operations that need unwritten packages fail with ERR_ENGINE_NOT_IMPLEMENTED and map to 501', async (t) => {
  const e = await engineAt();
  for (const p of [e.images.pull('busybox'), e.images.list(), e.containers.create({} as never), e.containers.start('x')]) {
    const err = await t.throwsAsync(p, { code: 'ERR_ENGINE_NOT_IMPLEMENTED' });
    t.is((err as unknown as { kind: string }).kind, 'not-implemented');
    t.is(httpStatusForError(err), 501);
  }
  await e.close();
});

test('httpStatusForError maps every kind, and anything else to 500', (t) => {
  const cases: Array<[string, number]> = [['not-found', 404], ['invalid-argument', 400], ['already-exists', 409], ['failed-precondition', 409],
    ['unauthenticated', 401], ['permission-denied', 403], ['unavailable', 503], ['not-implemented', 501], ['data-loss', 500], ['cancelled', 500], ['internal', 500]];
  for (const [kind, status] of cases) t.is(httpStatusForError(new BerthError('ERR_TEST_X', kind as never, 'x')), status, kind);
  t.is(httpStatusForError(new Error('plain')), 500);
  t.is(httpStatusForError(new NotImplementedError('x', 'y')), 501);
  t.truthy(fs);
});
