/**
 * Several processes on one store: concurrent tags from two processes are all
 * kept (index.json is read-modified-written under the metadata lock), two
 * processes writing one digest leave one good blob, and stale locks of dead
 * processes are broken while live ones are respected, by one breaker at a
 * time (six processes on a lock that keeps going stale).
 */
import test from 'ava';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import fs from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { openLocalStore } from '@berth/image-store';
import { tempDir } from './helpers/temp.js';
import { buildImage, validateImage } from './helpers/image.js';
import { collect } from './helpers/collect.js';
import { randomDigest } from './helpers/random.js';

const run = promisify(execFile);
const child = path.join(import.meta.dirname, 'helpers', 'tag-child.js');

test('two processes tagging and writing at once lose nothing', async (t) => {
  const root = await tempDir(t);
  const store = await openLocalStore(root);
  const img = await buildImage(store);
  await validateImage(store, img.manifest);
  const size = 16 << 20;
  const outs = await Promise.all(['a', 'b', 'c'].map((p) => run(process.execPath, [child, root, p, '15', JSON.stringify(img.manifest), String(size)])));
  const written = outs.map((o) => JSON.parse(o.stdout).written as boolean);
  t.true(written.filter(Boolean).length >= 1);
  const names = (await store.images.list()).map((i) => i.name);
  t.is(names.length, 45);
  for (const p of ['a', 'b', 'c']) for (let i = 0; i < 15; i++) t.true(names.includes(`example.com/${p}/img:${i}`));
  const shared = randomDigest(size, 'shared');
  t.is((await store.info(shared)).size, size);
  t.deepEqual((await store.verify()).corrupt, []);
  t.deepEqual(await collect(store.listIngests()), []);
  // index.json stays a valid layout index with one entry per name.
  const index = JSON.parse(await fs.readFile(path.join(root, 'index.json'), 'utf8'));
  t.is(index.manifests.length, 45);
});

test('a stale lock of a dead process is broken; a live holder gives ERR_STORE_LOCKED', async (t) => {
  const root = await tempDir(t);
  const store = await openLocalStore(root);
  const img = await buildImage(store);
  const dead = spawnSync('true').pid!;
  await fs.writeFile(path.join(root, '.berth/locks/metadata.lock'), `${dead} 1 ${(await import('node:os')).hostname()}\n`);
  await store.images.tag('after-stale', img.manifest);
  t.is((await store.images.resolve('after-stale')).target.digest, img.manifest.digest);

  // pid 1 is alive: its lock is respected.
  const stat = await fs.readFile('/proc/1/stat', 'utf8');
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  const refHash = createHash('sha256').update('held').digest('hex');
  await fs.writeFile(path.join(root, `.berth/locks/ingest-${refHash}.lock`), `1 ${start} ${(await import('node:os')).hostname()}\n`);
  const e = await t.throwsAsync(store.writer('held'));
  t.is((e as { code?: string }).code, 'ERR_STORE_LOCKED');
  t.is((e as { kind?: string }).kind, 'unavailable');
});

test('six processes contending for a lock that keeps going stale (a crashed holder) all get through and never hold it two at once', async (t) => {
  const root = await tempDir(t);
  const lockChild = path.join(import.meta.dirname, 'helpers', 'lock-child.js');
  const dead = spawnSync('true').pid!;
  const file = path.join(root, 'contended.lock');
  const marker = path.join(root, 'holder');
  // Each child is killed after a minute: the old breaking (rename aside, put back a live lock) deadlocked here.
  const outs = await Promise.all(Array.from({ length: 6 }, () => run(process.execPath, [lockChild, file, marker, '300', String(dead)], { timeout: 60_000 })));
  const results = outs.map((o) => JSON.parse(o.stdout) as { rounds: number; overlaps: number });
  t.is(results.reduce((n, r) => n + r.rounds, 0), 1800);
  t.is(results.reduce((n, r) => n + r.overlaps, 0), 0, 'no round found another holder');
});
