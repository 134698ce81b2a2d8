import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { openFileContainerStore, openLocalVolumeStore, processStartTicks } from '@berth/engine';
import { tempDir } from './helpers/tmp.js';

const base = { image: 'busybox', path: 'sleep', args: ['1000'] };

test('create writes config.v2.json in the Docker inspect shape and survives reopening', async (t) => {
  const root = await tempDir();
  const store = await openFileContainerStore({ root });
  const r = await store.create({ ...base, name: 'web', config: { Env: ['A=1'], Cmd: ['sleep', '1000'] } });
  t.regex(r.Id, /^[0-9a-f]{64}$/);
  t.is(r.Name, '/web');
  t.is(r.State.Status, 'created');
  const onDisk = JSON.parse(await fs.readFile(path.join(root, 'containers', r.Id, 'config.v2.json'), 'utf8'));
  for (const key of ['Id', 'Name', 'Created', 'Path', 'Args', 'Config', 'HostConfig', 'State', 'Mounts', 'NetworkSettings']) t.true(key in onDisk, key);
  for (const key of ['Status', 'Running', 'Paused', 'Restarting', 'OOMKilled', 'Dead', 'Pid', 'ExitCode', 'Error', 'StartedAt', 'FinishedAt']) t.true(key in onDisk.State, key);
  t.deepEqual(onDisk.Config.Env, ['A=1']);
  const again = await openFileContainerStore({ root });
  t.deepEqual(await again.get('web'), r);
  // No temp files are left behind by atomic writes.
  t.deepEqual((await fs.readdir(path.join(root, 'containers', r.Id))).filter((f) => f.endsWith('.tmp')), []);
});

test('an AutoRemove (--rm) container\'s record, written without fsync, is the same whole record any process reads', async (t) => {
  const root = await tempDir();
  const store = await openFileContainerStore({ root });
  const kept = await store.create({ ...base, name: 'kept', config: { Env: ['A=1'] } });
  const rm = await store.create({ ...base, name: 'gone', config: { Env: ['A=1'] }, hostConfig: { AutoRemove: true } });
  t.true(rm.HostConfig.AutoRemove);
  const again = await openFileContainerStore({ root });
  t.deepEqual(await again.get('gone'), rm);
  const shape = (r: typeof rm) => ({ ...r, Id: '', Name: '', Created: '', ResolvConfPath: '', HostnamePath: '', HostsPath: '', LogPath: '', Config: { ...r.Config, Hostname: '' }, HostConfig: { ...r.HostConfig, AutoRemove: false } });
  t.deepEqual(shape(rm), shape(kept), 'the same record but for identity and AutoRemove');
  t.deepEqual((await fs.readdir(path.join(root, 'containers', rm.Id))).filter((f) => f.endsWith('.tmp')), []);
  await again.remove('gone');
  await t.throwsAsync(store.get('gone'), { code: 'ERR_ENGINE_CONTAINER_NOT_FOUND' });
});

test('names are exclusive, invalid names are refused, random names are generated', async (t) => {
  const root = await tempDir();
  const store = await openFileContainerStore({ root });
  await store.create({ ...base, name: 'db' });
  const other = await openFileContainerStore({ root }); // a second process sharing the root
  await t.throwsAsync(other.create({ ...base, name: 'db' }), { code: 'ERR_ENGINE_NAME_IN_USE' });
  await t.throwsAsync(store.create({ ...base, name: '-bad' }), { code: 'ERR_ENGINE_INVALID_NAME' });
  const anon = await store.create(base);
  t.regex(anon.Name, /^\/[a-z]+_[a-z]+\d?$/);
});

test('lookup by full id, name, /name and unique prefix; ambiguous prefixes are refused', async (t) => {
  const root = await tempDir();
  const store = await openFileContainerStore({ root });
  const made = [];
  for (let i = 0; i < 20; i++) made.push(await store.create({ ...base, name: `c${i}` }));
  const a = made[0]!;
  t.is((await store.get(a.Id)).Id, a.Id);
  t.is((await store.get('c0')).Id, a.Id);
  t.is((await store.get('/c0')).Id, a.Id);
  t.is((await store.get(a.Id.slice(0, 12))).Id, a.Id);
  // 20 ids over 16 first hex digits: two share a first digit.
  const byFirst = new Map<string, number>();
  for (const m of made) byFirst.set(m.Id[0]!, (byFirst.get(m.Id[0]!) ?? 0) + 1);
  const shared = [...byFirst].find(([, n]) => n > 1)![0];
  await t.throwsAsync(store.get(shared), { code: 'ERR_ENGINE_AMBIGUOUS_ID' });
  await t.throwsAsync(store.get('nosuch'), { code: 'ERR_ENGINE_CONTAINER_NOT_FOUND' });
  await t.throwsAsync(store.get('ffffffffffff0'), { code: 'ERR_ENGINE_CONTAINER_NOT_FOUND' });
});

test('rename moves the name; the old name is free, a taken name is refused', async (t) => {
  const root = await tempDir();
  const store = await openFileContainerStore({ root });
  const a = await store.create({ ...base, name: 'xa' });
  await store.create({ ...base, name: 'xb' });
  await t.throwsAsync(store.rename('xa', 'xb'), { code: 'ERR_ENGINE_NAME_IN_USE' });
  const r = await store.rename('xa', 'xc');
  t.is(r.Name, '/xc');
  t.is((await store.get('xc')).Id, a.Id);
  await t.throwsAsync(store.get('xa'), { code: 'ERR_ENGINE_CONTAINER_NOT_FOUND' });
  await store.create({ ...base, name: 'xa' });
});

test('list hides stopped containers unless all; filters apply; remove frees name and volume references', async (t) => {
  const root = await tempDir();
  const volumes = await openLocalVolumeStore({ root });
  await volumes.create({ name: 'data' });
  const store = await openFileContainerStore({ root, volumeReferences: volumes });
  const a = await store.create({ ...base, name: 'xa', config: { Labels: { tier: 'web' } },
    mounts: [{ Type: 'volume', Name: 'data', Source: '/x', Destination: '/data', Driver: 'local', Mode: 'z', RW: true, Propagation: '' }] });
  await store.create({ ...base, name: 'xb' });
  t.deepEqual(await store.list(), []);
  t.is((await store.list({ all: true })).length, 2);
  t.deepEqual((await store.list({ all: true, filters: { label: ['tier=web'] } })).map((r) => r.Id), [a.Id]);
  t.deepEqual((await store.list({ all: true, filters: { volume: ['data'] } })).map((r) => r.Id), [a.Id]);
  await t.throwsAsync(store.list({ filters: { bogus: ['x'] } }), { code: 'ERR_ENGINE_INVALID_FILTER' });
  t.deepEqual(await volumes.holders('data'), [a.Id]);
  await t.throwsAsync(volumes.remove('data'), { code: 'ERR_ENGINE_VOLUME_IN_USE' });
  await store.remove('xa');
  t.deepEqual(await volumes.holders('data'), []);
  await volumes.remove('data');
  await store.create({ ...base, name: 'xa' });
});

test('after a restart, a container whose process died is shown exited (real process, killed)', async (t) => {
  const root = await tempDir();
  const store = await openFileContainerStore({ root });
  const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
  await once(child, 'spawn');
  const r = await store.create({ ...base, name: 'sleeper' });
  await store.markRunning(r.Id, child.pid!);
  t.is((await store.list()).length, 1);
  t.is(typeof (await store.get(r.Id)).Berth?.PidStartTicks, 'number');
  // While it lives, reconcile changes nothing.
  t.deepEqual(await (await openFileContainerStore({ root })).reconcile(), []);
  child.kill('SIGKILL');
  await once(child, 'exit');
  const reopened = await openFileContainerStore({ root });
  t.deepEqual(await reopened.reconcile(), [r.Id]);
  const after = await reopened.get('sleeper');
  t.is(after.State.Status, 'exited');
  t.false(after.State.Running);
  t.is(after.State.Pid, 0);
  t.not(after.State.FinishedAt, '0001-01-01T00:00:00Z');
  t.deepEqual(await reopened.list(), []);
});

test('reconcile leaves a dead container process to its live supervisor, and records 255 only once the supervisor is gone too', async (t) => {
  const root = await tempDir();
  const store = await openFileContainerStore({ root });
  const container = spawn('sleep', ['1000'], { stdio: 'ignore' });
  const supervisor = spawn('sleep', ['1000'], { stdio: 'ignore' });
  await Promise.all([once(container, 'spawn'), once(supervisor, 'spawn')]);
  t.teardown(() => { container.kill('SIGKILL'); supervisor.kill('SIGKILL'); });
  const r = await store.create({ ...base, name: 'supervised' });
  const ticks = await processStartTicks(supervisor.pid!);
  await store.update(r.Id, (rec) => { rec.Berth = { ...rec.Berth, SupervisorPid: supervisor.pid!, SupervisorStartTicks: ticks }; });
  await store.markRunning(r.Id, container.pid!);
  container.kill('SIGKILL');
  await once(container, 'exit');
  // The container is gone but its supervisor lives: the exit is the supervisor's to record.
  t.deepEqual(await (await openFileContainerStore({ root })).reconcile(), []);
  t.true((await store.get(r.Id)).State.Running);
  // A supervisor pid now held by another process (start time differs) does not count.
  await store.update(r.Id, (rec) => { rec.Berth = { ...rec.Berth, SupervisorStartTicks: ticks! - 1 }; });
  t.deepEqual(await (await openFileContainerStore({ root })).reconcile(), [r.Id]);
  t.is((await store.get(r.Id)).State.ExitCode, 255);
  // And when the real supervisor records the exit, reconcile leaves that record alone.
  await store.update(r.Id, (rec) => { rec.Berth = { ...rec.Berth, SupervisorPid: supervisor.pid!, SupervisorStartTicks: ticks }; });
  t.is((await store.markRunning(r.Id, process.pid)).Berth?.SupervisorPid, supervisor.pid, 'markRunning keeps the supervisor');
  const done = await store.markExited(r.Id, { exitCode: 7 });
  t.is(done.Berth?.SupervisorPid, undefined, 'markExited forgets the supervisor');
  supervisor.kill('SIGKILL');
  await once(supervisor, 'exit');
  t.deepEqual(await (await openFileContainerStore({ root })).reconcile(), []);
  t.is((await store.get(r.Id)).State.ExitCode, 7);
});

test('after a restart, a recorded pid now used by another process is detected by its start time', async (t) => {
  const root = await tempDir();
  const store = await openFileContainerStore({ root });
  const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
  await once(child, 'spawn');
  t.teardown(() => child.kill('SIGKILL'));
  const r = await store.create({ ...base, name: 'reused' });
  await store.markRunning(r.Id, child.pid!);
  // Simulate pid reuse: the record's start time belongs to an earlier process with the same pid.
  const ticks = await processStartTicks(child.pid!);
  await store.update(r.Id, (rec) => { rec.Berth = { ...rec.Berth, PidStartTicks: ticks! - 1 }; });
  t.deepEqual(await (await openFileContainerStore({ root })).reconcile(), [r.Id]);
  t.is((await store.get(r.Id)).State.Status, 'exited');
});

test('markExited and markPaused update State like docker', async (t) => {
  const root = await tempDir();
  const store = await openFileContainerStore({ root });
  const r = await store.create(base);
  await store.markRunning(r.Id, process.pid);
  t.is((await store.markPaused(r.Id, true)).State.Status, 'paused');
  t.is((await store.markPaused(r.Id, false)).State.Status, 'running');
  const e = await store.markExited(r.Id, { exitCode: 3, oomKilled: true });
  t.is(e.State.Status, 'exited');
  t.is(e.State.ExitCode, 3);
  t.true(e.State.OOMKilled);
  // A pause whose record write comes after the supervisor recorded the exit (pause racing the exit) changes nothing.
  const late = await store.markPaused(r.Id, true);
  t.like(late.State, { Status: 'exited', Paused: false, Running: false, ExitCode: 3 });
});
