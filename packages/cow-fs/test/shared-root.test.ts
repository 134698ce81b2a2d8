/**
 * Several processes on one snapshotter root (berth is daemonless: every CLI
 * process opens the same root). Before the root lock, two of them gave the
 * same id to two snapshots and the last metadata write dropped the other's
 * records.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { openCopySnapshotter, openOverlaySnapshotter, type Mount, type Snapshotter } from '@berth/cow-fs';
import { isRoot, tmp } from './helpers/temp.js';

const backends: Array<[string, (root: string) => Promise<Snapshotter>]> = [['copy', (r) => openCopySnapshotter(r)]];
if (isRoot) backends.push(['overlay', (r) => openOverlaySnapshotter(r)]);

/** The directory a snapshot's mounts name as its own (the bind source, or overlay's upperdir). */
function ownDir(mounts: Mount[]): string {
  const m = mounts[0]!;
  const upper = m.options.find((o) => o.startsWith('upperdir='));
  return upper !== undefined ? upper.slice('upperdir='.length) : m.source;
}

async function names(s: Snapshotter): Promise<string[]> {
  const out: string[] = [];
  for await (const i of s.walk()) out.push(`${i.name}:${i.kind}`);
  return out;
}

/** Snapshot directories under the root that no record names, and records whose directory is missing. */
function orphans(root: string, ids: number[]): { extra: string[]; missing: number[] } {
  const dirs = fs.readdirSync(`${root}/snapshots`);
  return { extra: dirs.filter((d) => !ids.includes(Number(d))), missing: ids.filter((id) => !dirs.includes(String(id))) };
}

function ids(root: string): number[] {
  const m = JSON.parse(fs.readFileSync(`${root}/metadata.json`, 'utf8')) as { snapshots: Record<string, { id: number }> };
  return Object.values(m.snapshots).map((s) => s.id);
}

for (const [name, open] of backends) {
  test.serial(`${name}: two snapshotters on one root prepare at once: distinct ids and directories, every record in both views; each sees the other's commits and children`, async (t) => {
    const root = `${await tmp(t)}/root`;
    const a = await open(root);
    const b = await open(root);
    t.teardown(async () => { await a.close(); await b.close(); });
    const made = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a : b).prepare(`k${i}`, undefined, { durable: i % 3 !== 0 })));
    const dirs = made.map(ownDir);
    t.is(new Set(dirs).size, 12, 'twelve distinct directories');
    for (const d of dirs) t.true(fs.existsSync(d));
    const all = Array.from({ length: 12 }, (_, i) => `k${i}:active`).sort();
    t.deepEqual((await names(a)).sort(), all);
    t.deepEqual((await names(b)).sort(), all);
    const ids0 = ids(root);
    t.is(new Set(ids0).size, 12);

    await a.commit('base', 'k0');
    t.is((await b.stat('base')).kind, 'committed');
    await b.prepare('child', 'base');
    await t.throwsAsync(a.remove('base'), { code: 'ERR_SNAPSHOT_HAS_CHILDREN' });
    await t.throwsAsync(a.prepare('child', 'base'), { code: 'ERR_SNAPSHOT_ALREADY_EXISTS' });
    await a.remove('child');
    await t.throwsAsync(b.stat('child'), { code: 'ERR_SNAPSHOT_NOT_FOUND' });
    for (let i = 1; i < 12; i++) await (i % 2 === 0 ? b : a).remove(`k${i}`);
    await b.remove('base');
    t.deepEqual(await names(a), []);
    await a.close();
    await b.close();
    t.deepEqual(orphans(root, ids(root)), { extra: [], missing: [] });
  });
}

test.serial('four processes prepare, commit and remove on one root at once: the metadata holds exactly what each left, ids are unique, no directory is orphaned', async (t) => {
  const root = `${await tmp(t)}/root`;
  const pkg = fileURLToPath(new URL('..', import.meta.url));
  // Each process: 8 rounds of prepare + commit, removing every other committed one; all start together.
  const script = (n: number): string => `
    import { openCopySnapshotter } from '@berth/cow-fs';
    const s = await openCopySnapshotter(${JSON.stringify(root)});
    await Promise.all(Array.from({ length: 8 }, async (_, i) => {
      await s.prepare('p${n}-' + i, undefined, { durable: i % 2 === 0 });
      await s.commit('c${n}-' + i, 'p${n}-' + i);
      if (i % 2 === 1) await s.remove('c${n}-' + i);
    }));
    await s.prepare('left${n}', 'c${n}-0');
    await s.close();
  `;
  const runs = [0, 1, 2, 3].map((n) => new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script(n)], { cwd: pkg, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.once('exit', (code) => (code === 0 ? resolve(err) : reject(new Error(`process ${n} exited ${code}: ${err}`))));
  }));
  await Promise.all(runs);
  const s = await openCopySnapshotter(root);
  t.teardown(() => s.close());
  const want: string[] = [];
  for (const n of [0, 1, 2, 3]) {
    for (const i of [0, 2, 4, 6]) want.push(`c${n}-${i}:committed`);
    want.push(`left${n}:active`);
  }
  t.deepEqual((await names(s)).sort(), want.sort());
  for (const n of [0, 1, 2, 3]) t.is((await s.stat(`left${n}`)).parent, `c${n}-0`);
  const live = ids(root);
  t.is(new Set(live).size, live.length);
  t.deepEqual(orphans(root, live), { extra: [], missing: [] });
});

/** A process that holds `<root>/metadata.lock` (flock) until killed. */
async function holdLock(t: ExecutionContext, root: string): Promise<() => Promise<void>> {
  const child = spawn('bash', ['-c', 'exec 9>>"$0"; flock -x 9; echo held; exec sleep 60', `${root}/metadata.lock`], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`flock exited ${code}`)));
  });
  return async () => {
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await gone;
  };
}

test.serial('a change waits while another process holds the root lock (reads do not), and goes on when that process dies; a write left dirty makes the others re-read', async (t) => {
  const root = `${await tmp(t)}/root`;
  const a = await openCopySnapshotter(root);
  const b = await openCopySnapshotter(root);
  t.teardown(async () => { await a.close(); await b.close(); });
  await a.prepare('x');
  const kill = await holdLock(t, root);
  let done = false;
  const p = b.prepare('y').then(() => { done = true; });
  await new Promise((r) => setTimeout(r, 150));
  t.false(done, 'the prepare waits for the lock');
  t.is((await a.stat('x')).kind, 'active', 'a read does not wait');
  // A pending change in b queues its reads behind it (one queue per snapshotter), but not a's.
  await kill();
  await p;
  t.true(done);
  t.is((await a.stat('y')).kind, 'active');

  // What a writer killed between replacing the file and marking it clean leaves: a dirty token.
  const dirty = (): void => {
    const fd = fs.openSync(`${root}/metadata.lock`, 'r+');
    fs.writeSync(fd, 'd0123456789abcdef', 0);
    fs.closeSync(fd);
  };
  const c = await openCopySnapshotter(root);
  await c.prepare('z');
  await c.close();
  dirty();
  t.is((await b.stat('z')).kind, 'active');
  // A second writer killed at the same point leaves the same dirty token b saw last: b must not take it as seen.
  const d = await openCopySnapshotter(root);
  await d.prepare('z2');
  await d.close();
  dirty();
  t.is((await b.stat('z2')).kind, 'active', 'a dirty token is never trusted');
  await b.remove('z2');
  await a.prepare('w');
  t.deepEqual((await names(b)).sort(), ['w:active', 'x:active', 'y:active', 'z:active']);
});
