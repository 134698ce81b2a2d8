import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadContainer, runtimeBinaryPath } from '@berth/namespaces';
import { defaultSpec, makeBundle, writeConfig } from './helpers/bundle.js';

const execFileP = promisify(execFile);
const rootTest = process.getuid?.() === 0 && fs.existsSync(runtimeBinaryPath) ? test : test.skip;
let n = 0;
const id = () => `cli-${process.pid}-${n++}`;

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await execFileP(runtimeBinaryPath, args);
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

rootTest('as root: berth-runtime run prints the output and exits with the container\'s code', async (t) => {
  const b = makeBundle();
  try {
    writeConfig(b, defaultSpec(['sh', '-c', 'echo hi from $(hostname); exit 5']));
    const r = await cli(['--root', b.root, 'run', '--bundle', b.bundle, id()]);
    t.is(r.code, 5);
    t.is(r.stdout, 'hi from berth\n');
    t.deepEqual(fs.readdirSync(b.root), [], 'run deletes the container');
  } finally {
    b.cleanup();
  }
});

rootTest('as root: create, state, start, exec, ps, kill and delete, seen by the library too', async (t) => {
  const b = makeBundle();
  try {
    writeConfig(b, defaultSpec(['sleep', '100']));
    const cid = id();
    const pidFile = path.join(b.bundle, 'pid');
    // The container inherits create's stdio, so do not wait on pipes for it.
    const create = spawn(runtimeBinaryPath, ['--root', b.root, 'create', '-b', b.bundle, '--pid-file', pidFile, cid], { stdio: 'ignore' });
    t.is(await new Promise((r) => create.on('exit', r)), 0);
    const st = JSON.parse((await cli(['--root', b.root, 'state', cid])).stdout);
    t.is(st.status, 'created');
    t.is(st.id, cid);
    t.is(String(st.pid), fs.readFileSync(pidFile, 'utf8'));
    t.is((await loadContainer(b.root, cid).then((c) => c.state())).status, 'created');
    t.is((await cli(['--root', b.root, 'start', cid])).code, 0);
    t.is(JSON.parse((await cli(['--root', b.root, 'state', cid])).stdout).status, 'running');
    const ex = await cli(['--root', b.root, 'exec', cid, 'sh', '-c', 'hostname; echo /proc/[0-9]*']);
    t.is(ex.code, 0, ex.stderr);
    t.regex(ex.stdout, /^berth\n\/proc\/1 \/proc\/\d+\n$/);
    const ps = JSON.parse((await cli(['--root', b.root, 'ps', '-f', 'json', cid])).stdout) as number[];
    t.true(ps.includes(st.pid));
    t.deepEqual((await cli(['--root', b.root, 'list', '-q'])).stdout.trim().split('\n'), [cid]);
    t.is((await cli(['--root', b.root, 'delete', cid])).code, 1, 'a running container is not deleted without --force');
    t.is((await cli(['--root', b.root, 'kill', cid, 'KILL'])).code, 0);
    const loaded = await loadContainer(b.root, cid);
    await loaded.wait();
    t.is((await loaded.state()).status, 'stopped');
    t.is((await cli(['--root', b.root, 'delete', cid])).code, 0);
    t.is((await cli(['--root', b.root, 'delete', '-f', cid])).code, 0, 'delete --force of a missing container succeeds');
  } finally {
    b.cleanup();
  }
});

rootTest('as root: errors go to stderr and to --log as json; --systemd-cgroup is refused; features', async (t) => {
  const b = makeBundle();
  try {
    const log = path.join(b.bundle, 'log.json');
    const r = await cli(['--root', b.root, '--log', log, '--log-format', 'json', 'state', 'nope']);
    t.is(r.code, 1);
    const entry = JSON.parse(fs.readFileSync(log, 'utf8').trim().split('\n')[0]!);
    t.is(entry.level, 'error');
    t.is((await cli(['--systemd-cgroup', 'list'])).code, 1);
    const f = JSON.parse((await cli(['features'])).stdout);
    t.true(f.linux.namespaces.includes('user'));
    t.true(f.linux.capabilities.includes('CAP_SYS_ADMIN'));
    t.true(f.linux.seccomp.enabled);
  } finally {
    b.cleanup();
  }
});

rootTest('as root: berth-runtime run --detach leaves the container running', async (t) => {
  const b = makeBundle();
  try {
    writeConfig(b, defaultSpec(['sleep', '100']));
    const cid = id();
    const child = spawn(runtimeBinaryPath, ['--root', b.root, 'run', '-d', '-b', b.bundle, cid], { stdio: 'ignore' });
    const code = await new Promise((r) => child.on('exit', r));
    t.is(code, 0);
    const c = await loadContainer(b.root, cid);
    t.is((await c.state()).status, 'running');
    await c.delete({ force: true });
  } finally {
    b.cleanup();
  }
});

rootTest('as root: berth-runtime run forwards signals to the container', async (t) => {
  const b = makeBundle();
  try {
    writeConfig(b, defaultSpec(['sh', '-c', 'trap "exit 9" TERM; echo ready; while true; do sleep 0.1; done']));
    const child = spawn(runtimeBinaryPath, ['--root', b.root, 'run', '-b', b.bundle, id()], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((r) => child.on('exit', r));
    let out = '';
    await new Promise<void>((resolve) => child.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('ready')) resolve(); }));
    child.kill('SIGTERM');
    t.is(await exited, 9);
  } finally {
    b.cleanup();
  }
});
