import test from 'ava';
import type { Readable } from 'node:stream';
import { openEngine, type ContainerAttachment, type CreateContainerOptions, type LocalEngine } from '@berth/engine';
import { isRoot } from './helpers/tmp.js';
import { createOptions, openPulledEngine, type PulledEngine } from './helpers/pulled-engine.js';

const serial = isRoot ? test.serial : test.skip;
let env: PulledEngine | undefined;
let engine: LocalEngine;
let ref: string;

test.before(async () => {
  if (!isRoot) return;
  env = await openPulledEngine({ bridgePrefix: 'ba', subnet: '10.241.0.0/16', pool: '10.242.0.0/16' });
  ({ engine, ref } = env);
});

test.after.always(async () => {
  await env?.close();
});

function opts(o: Partial<CreateContainerOptions>): CreateContainerOptions {
  return createOptions(ref, o);
}

/** Collects a stream's text; `until` resolves once the text matches. */
function collect(s: Readable | undefined): { text: () => string; until: (re: RegExp) => Promise<string> } {
  let text = '';
  const waiters: Array<[RegExp, (t: string) => void]> = [];
  s?.on('error', () => undefined); // a pty master reads EIO once its process is gone
  s?.on('data', (c: Buffer) => {
    text += c.toString('utf8');
    for (const w of [...waiters]) if (w[0].test(text)) { waiters.splice(waiters.indexOf(w), 1); w[1](text); }
  });
  return {
    text: () => text,
    until: (re) => (re.test(text) ? Promise.resolve(text) : new Promise((res) => waiters.push([re, res]))),
  };
}

async function logText(id: string): Promise<string> {
  let s = '';
  for await (const e of engine.containers.logs(id)) s += e.log;
  return s;
}

serial('a TTY container gets a pty: tty prints /dev/pts/N, stty size is the console size, output is logged (root)', async (t) => {
  const r = await engine.containers.create(opts({ tty: true, consoleSize: { rows: 33, cols: 101 }, cmd: ['sh', '-c', 'tty; stty size; echo err >&2'] }));
  t.deepEqual(r.HostConfig.ConsoleSize, [33, 101]);
  let out = '';
  const h = await engine.containers.start(r.Id, { onOutput: (_s, c) => { out += c.toString(); } });
  t.true(h.tty);
  t.is((await h.wait()).StatusCode, 0);
  t.regex(out, /^\/dev\/pts\/\d+\r\n33 101\r\nerr\r\n$/, 'a pty turns \\n into \\r\\n and stderr joins stdout');
  t.is(await logText(r.Id), out);
  await engine.containers.remove(r.Id);
});

serial('attach to a running TTY container: stdin reaches the shell, resize reaches the pty, the exit ends the attachment (root)', async (t) => {
  const r = await engine.containers.create(opts({ tty: true, openStdin: true, cmd: ['sh'] }));
  const h = await engine.containers.start(r.Id);
  const a = await engine.containers.attach(r.Id, { stdin: true, stdout: true, stderr: true });
  t.true(a.tty);
  t.is(a.stderr, undefined, 'a TTY has one output stream');
  const out = collect(a.stdout);
  await engine.containers.resize(r.Id, { h: 40, w: 120 });
  a.stdin!.write('stty size\n');
  await out.until(/40 120\r\n/);
  await a.resize({ h: 25, w: 90 });
  a.stdin!.write('stty size; tty\n');
  await out.until(/25 90\r\n\/dev\/pts\/\d+\r\n/);
  a.stdin!.write('exit 3\n');
  const end = await a.ended;
  t.is(end.reason, 'exited');
  t.is(end.exit?.StatusCode, 3);
  t.is((await h.wait()).StatusCode, 3);
  await engine.containers.remove(r.Id);
});

serial('attach before start without a TTY: stdout and stderr apart, stdin with StdinOnce closes the container stdin (root)', async (t) => {
  const r = await engine.containers.create(opts({ openStdin: true, stdinOnce: true, cmd: ['sh', '-c', 'cat; echo done >&2'] }));
  t.true(r.Config.StdinOnce);
  await t.throwsAsync(engine.containers.attach(r.Id, { stdin: true }), { code: 'ERR_ENGINE_CONTAINER_NOT_RUNNING' });
  const a = await engine.containers.attach(r.Id, { stdin: true, waitStart: true });
  const out = collect(a.stdout);
  const err = collect(a.stderr);
  a.stdin!.write('hello\n'); // queued until the container runs
  await engine.containers.start(r.Id);
  a.stdin!.end('world\n');
  const end = await a.ended;
  t.deepEqual(end, { reason: 'exited', exit: { StatusCode: 0, OOMKilled: false } });
  t.is(out.text(), 'hello\nworld\n');
  t.is(err.text(), 'done\n');
  // logs replays the json-file log to a later attachment
  const replay = await engine.containers.attach(r.Id, { logs: true, stream: false, stderr: false });
  const replayed = collect(replay.stdout);
  await replay.ended;
  await replayed.until(/world\n$/);
  t.is(replayed.text(), 'hello\nworld\n');
  await engine.containers.remove(r.Id);
});

serial('typed errors: resize without a TTY, attach to a stopped container, bad detach keys (root)', async (t) => {
  const r = await engine.containers.create(opts({ openStdin: true, cmd: ['cat'] }));
  await t.throwsAsync(engine.containers.attach(r.Id), { code: 'ERR_ENGINE_CONTAINER_NOT_RUNNING' });
  const h = await engine.containers.start(r.Id);
  await t.throwsAsync(engine.containers.resize(r.Id, { h: 10, w: 10 }), { code: 'ERR_ENGINE_NO_TTY' });
  await t.throwsAsync(engine.containers.attach(r.Id, { stdin: true, detachKeys: 'ctrl-1' }), { code: 'ERR_ENGINE_INVALID_ARGUMENT' });
  const tty = await engine.containers.create(opts({ tty: true, cmd: ['true'] }));
  await t.throwsAsync(engine.containers.resize(tty.Id, { h: 10, w: 10 }), { code: 'ERR_ENGINE_CONTAINER_NOT_RUNNING' });
  await t.throwsAsync(engine.containers.resize(tty.Id, { h: -1, w: 10 }), { code: 'ERR_ENGINE_INVALID_ARGUMENT' });
  await engine.containers.kill(r.Id);
  await h.wait();
  await t.throwsAsync(engine.containers.attach(r.Id), { code: 'ERR_ENGINE_CONTAINER_NOT_RUNNING' });
  await engine.containers.remove(r.Id);
  await engine.containers.remove(tty.Id);
});

serial('the detach keys end the attachment and leave the container running; a custom sequence too (root)', async (t) => {
  const r = await engine.containers.create(opts({ tty: true, openStdin: true, cmd: ['sh'] }));
  const h = await engine.containers.start(r.Id);
  const a = await engine.containers.attach(r.Id, { stdin: true });
  const out = collect(a.stdout);
  a.stdin!.write('echo one\n\x10'); // ctrl-p alone is held back…
  await out.until(/one\r\n/);
  a.stdin!.write('\x11'); // …ctrl-q completes the sequence
  t.is((await a.ended).reason, 'detached');
  t.true((await engine.containers.inspect(r.Id)).State.Running);
  const b = await engine.containers.attach(r.Id, { stdin: true, detachKeys: 'q,z' });
  const out2 = collect(b.stdout);
  b.stdin!.write('echo q'); // a broken sequence passes through
  b.stdin!.write('y\n');
  await out2.until(/\nqy\r\n/);
  b.stdin!.write('qz');
  t.is((await b.ended).reason, 'detached');
  await engine.containers.kill(r.Id);
  t.is((await h.wait()).StatusCode, 137);
  await engine.containers.remove(r.Id);
});

serial('another engine process attaches and resizes through the supervisor\'s attach socket (root)', async (t) => {
  const r = await engine.containers.create(opts({ tty: true, openStdin: true, cmd: ['sh'] }));
  const h = await engine.containers.start(r.Id);
  // A second engine over the same state: it does not supervise the container, so it goes through the socket.
  const other = await openEngine({ root: engine.root, runRoot: engine.runRoot, imageService: env!.images, reconcile: false,
    defaultBridge: env!.bridge, defaultSubnet: '10.241.0.0/16', subnetPool: '10.242.0.0/16' });
  t.teardown(() => other.close());
  let a: ContainerAttachment | undefined;
  a = await other.containers.attach(r.Id, { stdin: true });
  const out = collect(a.stdout);
  await other.containers.resize(r.Id, { h: 50, w: 132 });
  a.stdin!.write('stty size\n');
  await out.until(/50 132\r\n/);
  await a.resize({ h: 51, w: 133 });
  a.stdin!.write('stty size\n');
  await out.until(/51 133\r\n/);
  a.stdin!.write('exit 7\n');
  const end = await a.ended;
  t.is(end.reason, 'exited');
  t.is(end.exit?.StatusCode, 7);
  t.is((await h.wait()).StatusCode, 7);
  await t.throwsAsync(other.containers.resize(r.Id, { h: 1, w: 1 }), { code: 'ERR_ENGINE_CONTAINER_NOT_RUNNING' });
  await engine.containers.remove(r.Id);
});

serial('exec with a TTY: tty is a /dev/pts, the console size and a resize reach it (root)', async (t) => {
  const r = await engine.containers.create(opts({ cmd: ['sleep', '60'] }));
  const h = await engine.containers.start(r.Id);
  const p = await engine.containers.exec(r.Id, ['sh'], { tty: true, consoleSize: { rows: 20, cols: 70 } });
  const out = collect(p.stdio.pty);
  p.stdio.pty!.write('tty; stty size\n');
  await out.until(/\/dev\/pts\/\d+\r\n20 70\r\n/);
  p.resize(44, 144);
  p.stdio.pty!.write('stty size; exit 5\n');
  await out.until(/44 144\r\n/);
  t.is((await p.wait()).exitCode, 5);
  p.stdio.pty!.destroy();
  await engine.containers.kill(r.Id);
  await h.wait();
  await engine.containers.remove(r.Id);
});
