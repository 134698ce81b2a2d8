import test from 'ava';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixture, startRegistry, type TestRegistry } from '@berth/testkit';
import { openEngine, openJournalEventBus, openLocalImageService, processStartTicks } from '@berth/engine';
import { tempDir, isRoot } from './helpers/tmp.js';

const serial = isRoot ? test.serial : test.skip;
const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let reg: TestRegistry | undefined;

test.before(async () => { if (isRoot) reg = await startRegistry(); });
test.after.always(async () => { await reg?.close(); });

/** Runs an ES module body in a fresh `node` process (the engine's own process, which then exits), resolving `@berth/engine` from this package. */
function inChild(body: string, env: Record<string, string>): Promise<string> {
  const src = `import { openEngine, openJournalEventBus, openLocalImageService, processStartTicks } from '@berth/engine';
const { ROOT: root, RUN: runRoot, REF: ref } = process.env;
const events = await openJournalEventBus({ root });
const images = await openLocalImageService({ root, events });
const engine = await openEngine({ root, runRoot, eventBus: events, imageService: images });
const base = { image: ref, env: [], tty: false, openStdin: false, labels: {}, mounts: [], publish: [], publishAll: false, expose: [], networkMode: 'none',
  networkAliases: [], autoRemove: false, memory: 0, nanoCpus: 0, restartPolicy: { Name: 'no', MaximumRetryCount: 0 }, logConfig: { Type: 'json-file', Config: {} },
  readOnly: false, privileged: false, capAdd: [], capDrop: [], extraHosts: [], dns: [], init: false };
${body}
await engine.close(); await images.close(); await images.snapshotter.close(); await images.store.close();
process.exit(0);`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', src], { cwd: pkgDir, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/**
 * Starts a container in a fresh `node` process that stays to supervise it (as `berth run -d`'s supervisor does);
 * resolves with that process and the line it prints once the container runs.
 */
async function supervisorChild(body: string, env: Record<string, string>): Promise<{ child: ChildProcess; line: string }> {
  const src = `import { openEngine, openJournalEventBus, openLocalImageService, processStartTicks } from '@berth/engine';
const { ROOT: root, RUN: runRoot, REF: ref } = process.env;
const events = await openJournalEventBus({ root });
const images = await openLocalImageService({ root, events });
const engine = await openEngine({ root, runRoot, eventBus: events, imageService: images });
const base = { image: ref, env: [], tty: false, openStdin: false, labels: {}, mounts: [], publish: [], publishAll: false, expose: [], networkMode: 'none',
  networkAliases: [], autoRemove: false, memory: 0, nanoCpus: 0, restartPolicy: { Name: 'no', MaximumRetryCount: 0 }, logConfig: { Type: 'json-file', Config: {} },
  readOnly: false, privileged: false, capAdd: [], capDrop: [], extraHosts: [], dns: [], init: false };
const keep = setInterval(() => undefined, 1 << 30);
${body}
clearInterval(keep);
await engine.close(); await images.close(); await images.snapshotter.close(); await images.store.close();
process.exit(0);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', src], { cwd: pkgDir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { err += c; });
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    child.once('exit', (code) => reject(new Error(`supervisor exited ${code} before the container ran:\n${err}`)));
  });
  return { child, line };
}

async function openIn(root: string, runRoot: string) {
  const events = await openJournalEventBus({ root });
  const images = await openLocalImageService({ root, events });
  const engine = await openEngine({ root, runRoot, eventBus: events, imageService: images });
  const close = async () => {
    await engine.close();
    await images.close();
    await images.snapshotter.close();
    await images.store.close();
  };
  return { engine, images, close };
}

serial('wait from another process gets the exit status the supervisor records, not 255 (root)', async (t) => {
  const dir = await tempDir();
  const f = fixture('busybox', 'oci-gzip');
  const env = { ROOT: path.join(dir, 'root'), RUN: path.join(dir, 'run'), REF: `${reg!.host}/${f.repo}:${f.tag}` };
  const { child, line } = await supervisorChild(`
await images.pull(ref);
const c = await engine.containers.create({ ...base, name: 'seven', cmd: ['sh', '-c', 'sleep 1; exit 7'] });
const h = await engine.containers.start(c.Id);
console.log(c.Id);
await h.wait();
`, env);
  t.teardown(() => { child.kill('SIGKILL'); });
  const exited = new Promise((res) => child.once('exit', res));
  const { engine, close } = await openIn(env.ROOT, env.RUN);
  try {
    t.is((await engine.containers.inspect(line)).State.Status, 'running');
    t.deepEqual(await engine.containers.wait(line), { StatusCode: 7, OOMKilled: false });
    const rec = await engine.containers.inspect(line);
    t.is(rec.State.Status, 'exited');
    t.is(rec.State.ExitCode, 7);
    await exited;
    // A later engine open (reconcile) keeps the supervisor's record.
    const again = await openIn(env.ROOT, env.RUN);
    t.is((await again.engine.containers.inspect(line)).State.ExitCode, 7);
    await again.close();
    await engine.containers.remove(line);
  } finally {
    await close();
  }
});

serial('when the supervisor is killed (-9) and then the container, reconcile records 255 (root)', async (t) => {
  const dir = await tempDir();
  const f = fixture('busybox', 'oci-gzip');
  const env = { ROOT: path.join(dir, 'root'), RUN: path.join(dir, 'run'), REF: `${reg!.host}/${f.repo}:${f.tag}` };
  const { child, line } = await supervisorChild(`
await images.pull(ref);
const c = await engine.containers.create({ ...base, name: 'orphan', cmd: ['sleep', '1000'] });
const h = await engine.containers.start(c.Id);
console.log(c.Id + ' ' + h.pid);
await h.wait();
`, env);
  const [id, pidText] = line.split(' ');
  const pid = Number(pidText);
  t.teardown(() => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } });
  const exited = new Promise((res) => child.once('exit', res));
  child.kill('SIGKILL');
  await exited;
  const first = await openIn(env.ROOT, env.RUN);
  try {
    const rec = await first.engine.containers.inspect(id!);
    t.is(rec.State.Status, 'running', 'the container outlives its supervisor');
    t.is(rec.State.Pid, pid);
    process.kill(pid, 'SIGKILL');
    // Nobody is left to record the exit: wait reconciles, as a fresh engine open does.
    t.is((await first.engine.containers.wait(id!)).StatusCode, 255);
    const after = await first.engine.containers.inspect(id!);
    t.is(after.State.Status, 'exited');
    t.is(after.State.ExitCode, 255);
    t.is(after.State.Pid, 0);
    await first.engine.containers.remove(id!);
  } finally {
    await first.close();
  }
});

serial('after the engine process exits and a new one opens the same root, containers\' state is intact and list shows the truth (root)', async (t) => {
  const dir = await tempDir();
  const f = fixture('busybox', 'oci-gzip');
  const env = { ROOT: path.join(dir, 'root'), RUN: path.join(dir, 'run'), REF: `${reg!.host}/${f.repo}:${f.tag}` };
  // Process 1 pulls, runs one container to completion, creates one, and leaves two running when it exits;
  // it prints the pid of the one the test kills while no engine watches.
  const out = await inChild(`
await images.pull(ref);
const done = await engine.containers.create({ ...base, name: 'done', cmd: ['sh', '-c', 'echo finished; exit 3'] });
await (await engine.containers.start(done.Id)).wait();
await engine.containers.create({ ...base, name: 'created', cmd: ['true'] });
const up = await engine.containers.create({ ...base, name: 'survivor', cmd: ['sleep', '1000'] });
await engine.containers.start(up.Id);
const gone = await engine.containers.create({ ...base, name: 'vanished', cmd: ['sleep', '1000'] });
const h = await engine.containers.start(gone.Id);
console.log(h.pid);
`, env);
  const vanishedPid = Number(out.trim());
  process.kill(vanishedPid, 'SIGKILL');
  // kill(2) only queues the signal: wait until the process is really gone (or a zombie),
  // so the engine opened below meets a dead process, not one still dying.
  for (let i = 0; i < 500 && (await processStartTicks(vanishedPid)) !== undefined; i++) await new Promise((r) => setTimeout(r, 20));

  // Process 2: this one.
  const events = await openJournalEventBus({ root: env.ROOT });
  const images = await openLocalImageService({ root: env.ROOT, events });
  const engine = await openEngine({ root: env.ROOT, runRoot: env.RUN, eventBus: events, imageService: images });
  try {
    const list = await engine.containers.list({ all: true });
    const byName = Object.fromEntries(list.map((c) => [c.Names[0]!.slice(1), c]));
    t.deepEqual(Object.keys(byName).sort(), ['created', 'done', 'survivor', 'vanished']);
    t.is(byName.done!.State, 'exited');
    t.regex(byName.done!.Status, /^Exited \(3\) /);
    t.is(byName.created!.State, 'created');
    t.is(byName.survivor!.State, 'running', 'the container outlived the engine process');
    t.is(byName.vanished!.State, 'exited', 'reconcile recorded the process that died unwatched');
    const vanished = await engine.containers.inspect('vanished');
    t.is(vanished.State.ExitCode, 255);
    t.is(vanished.State.Pid, 0);
    const survivor = await engine.containers.inspect('survivor');
    t.true(survivor.State.Pid > 0);
    const logs: string[] = [];
    for await (const l of engine.containers.logs('done')) logs.push(l.log);
    t.deepEqual(logs, ['finished\n']);
    // The new engine can act on what the old one started.
    await engine.containers.kill('survivor', 'SIGKILL');
    const exit = await engine.containers.wait('survivor');
    t.is(typeof exit.StatusCode, 'number');
    t.is((await engine.containers.inspect('survivor')).State.Status, 'exited');
    for (const n of ['done', 'created', 'survivor', 'vanished']) await engine.containers.remove(n);
    t.deepEqual(await engine.containers.list({ all: true }), []);
  } finally {
    await engine.close();
    await images.close();
    await images.snapshotter.close();
    await images.store.close();
  }
});
