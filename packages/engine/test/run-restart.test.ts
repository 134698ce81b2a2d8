import test from 'ava';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixture, startRegistry, type TestRegistry } from '@berth/testkit';
import { openEngine, openJournalEventBus, openLocalImageService } from '@berth/engine';
import { tempDir, isRoot } from './helpers/tmp.js';

const serial = isRoot ? test.serial : test.skip;
const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let reg: TestRegistry | undefined;

test.before(async () => { if (isRoot) reg = await startRegistry(); });
test.after.always(async () => { await reg?.close(); });

/** Runs an ES module body in a fresh `node` process (the engine's own process, which then exits), resolving `@berth/engine` from this package. */
function inChild(body: string, env: Record<string, string>): Promise<string> {
  const src = `import { openEngine, openJournalEventBus, openLocalImageService } from '@berth/engine';
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
