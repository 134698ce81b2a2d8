import test from 'ava';
import fs from 'node:fs/promises';
import path from 'node:path';
import { openLocalVolumeStore, isMountPoint, anonymousVolumeLabel, type Volume } from '@berth/engine';
import { tempDir, isRoot } from './helpers/tmp.js';

test('create, inspect (Docker shape), list with filters, remove', async (t) => {
  const root = await tempDir();
  const actions: string[] = [];
  const vols = await openLocalVolumeStore({ root, listener: (a, v) => actions.push(`${a}:${v.Name}`) });
  const v = await vols.create({ name: 'data', labels: { app: 'x' } });
  t.deepEqual(Object.keys(v).sort(), ['CreatedAt', 'Driver', 'Labels', 'Mountpoint', 'Name', 'Options', 'Scope']);
  t.is(v.Driver, 'local');
  t.is(v.Scope, 'local');
  t.is(v.Mountpoint, path.join(root, 'volumes', 'data', '_data'));
  t.true((await fs.stat(v.Mountpoint)).isDirectory());
  t.regex(v.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  t.deepEqual(await vols.create({ name: 'data' }), v, 'creating an existing name returns it');
  await vols.create({ name: 'other' });
  t.deepEqual((await vols.list()).map((x) => x.Name), ['data', 'other']);
  t.deepEqual((await vols.list({ filters: { label: ['app=x'] } })).map((x) => x.Name), ['data']);
  t.deepEqual((await vols.list({ filters: { name: ['oth'] } })).map((x) => x.Name), ['other']);
  await t.throwsAsync(vols.list({ filters: { nope: ['1'] } }), { code: 'ERR_ENGINE_INVALID_FILTER' });
  t.deepEqual(await (await openLocalVolumeStore({ root })).inspect('data'), v, 'survives reopening');
  await vols.remove('data');
  await t.throwsAsync(vols.inspect('data'), { code: 'ERR_ENGINE_VOLUME_NOT_FOUND' });
  await t.throwsAsync(vols.remove('data'), { code: 'ERR_ENGINE_VOLUME_NOT_FOUND' });
  await vols.remove('data', { force: true });
  t.deepEqual(actions, ['create:data', 'create:other', 'destroy:data']);
});

test('bad names, drivers and options are refused', async (t) => {
  const vols = await openLocalVolumeStore({ root: await tempDir() });
  await t.throwsAsync(vols.create({ name: '../x' }), { code: 'ERR_ENGINE_INVALID_NAME' });
  await t.throwsAsync(vols.create({ name: 'ab', driver: 'nfs' }), { code: 'ERR_ENGINE_INVALID_ARGUMENT' });
  await t.throwsAsync(vols.create({ name: 'ab', options: { type: 'tmpfs' } }), { code: 'ERR_ENGINE_INVALID_ARGUMENT' });
  await t.throwsAsync(vols.create({ name: 'ab', options: { bogus: '1' } }), { code: 'ERR_ENGINE_INVALID_ARGUMENT' });
});

test('anonymous volumes get a 64-hex name and the anonymous label; prune removes only those unless all', async (t) => {
  const vols = await openLocalVolumeStore({ root: await tempDir() });
  const anon = await vols.create();
  t.regex(anon.Name, /^[0-9a-f]{64}$/);
  t.true(anonymousVolumeLabel in anon.Labels);
  const used = await vols.create();
  await vols.add(used.Name, 'c1');
  await vols.create({ name: 'named' });
  await fs.writeFile(path.join(anon.Mountpoint, 'f'), 'x'.repeat(100));
  const r = await vols.prune();
  t.deepEqual(r.VolumesDeleted, [anon.Name]);
  t.is(r.SpaceReclaimed, 100);
  t.deepEqual((await vols.prune({ all: true })).VolumesDeleted, ['named']);
  t.deepEqual((await vols.list()).map((v) => v.Name), [used.Name]);
  t.deepEqual((await vols.list({ filters: { dangling: ['false'] } })).map((v) => v.Name), [used.Name]);
  await t.throwsAsync(vols.remove(used.Name), { code: 'ERR_ENGINE_VOLUME_IN_USE' });
  await vols.release(used.Name, 'c1');
  await vols.remove(used.Name);
});

const rootTest = isRoot ? test.serial : test.skip;

rootTest('a tmpfs volume (type/device/o) is mounted on first use and unmounted after the last (needs root)', async (t) => {
  const vols = await openLocalVolumeStore({ root: await tempDir() });
  const v: Volume = await vols.create({ name: 'scratch', options: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m,mode=0700' } });
  t.deepEqual(v.Options, { type: 'tmpfs', device: 'tmpfs', o: 'size=1m,mode=0700' });
  t.false(await isMountPoint(v.Mountpoint));
  t.is(await vols.mount('scratch', 'c1'), v.Mountpoint);
  await vols.mount('scratch', 'c2');
  t.true(await isMountPoint(v.Mountpoint));
  const line = (await fs.readFile('/proc/self/mounts', 'utf8')).split('\n').find((l) => l.split(' ')[1] === v.Mountpoint)!;
  t.is(line.split(' ')[2], 'tmpfs');
  t.regex(line, /size=1024k/);
  await vols.unmount('scratch', 'c1');
  t.true(await isMountPoint(v.Mountpoint), 'still used by c2');
  await vols.unmount('scratch', 'c2');
  t.false(await isMountPoint(v.Mountpoint));
  await vols.remove('scratch');
});

rootTest('a volume with a bad mount option fails with ERR_ENGINE_VOLUME_MOUNT (needs root)', async (t) => {
  const vols = await openLocalVolumeStore({ root: await tempDir() });
  await vols.create({ name: 'bad', options: { type: 'nosuchfs', device: 'x' } });
  await t.throwsAsync(vols.mount('bad', 'c1'), { code: 'ERR_ENGINE_VOLUME_MOUNT' });
});
