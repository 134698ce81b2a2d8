import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { serveDockerApi, type DockerApiServer } from '@berth/engine';
import { isRoot, tempDir } from './helpers/tmp.js';
import { openPulledEngine, type PulledEngine } from './helpers/pulled-engine.js';

const docker = '/usr/local/bin/docker';
const hasDocker = await fs.access(docker).then(() => true, () => false);
const serial = isRoot && hasDocker ? test.serial : test.skip;
let env: PulledEngine | undefined;
let api: DockerApiServer | undefined;
let sock = '';
let denv: NodeJS.ProcessEnv = {};

test.before(async () => {
  if (!isRoot || !hasDocker) return;
  env = await openPulledEngine({ bridgePrefix: 'bx', subnet: '10.243.0.0/16', pool: '10.244.0.0/16' });
  const dir = await tempDir();
  sock = path.join(dir, 'berth.sock');
  api = await serveDockerApi(env.engine, { socketPath: sock });
  denv = { PATH: process.env.PATH, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: await tempDir(), TERM: 'xterm' };
});

test.after.always(async () => {
  await api?.close();
  await env?.close();
});

/** A running command: its output so far, waiting for a pattern, writing its stdin, its exit code. */
interface Running { text(): string; until(re: RegExp): Promise<void>; write(s: string): void; end(): void; code: Promise<number> }

function start(cmd: string, args: string[]): Running {
  const child = spawn(cmd, args, { env: denv, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  const waiters: Array<[RegExp, () => void]> = [];
  const onData = (c: Buffer) => {
    out += c.toString('utf8');
    for (const w of [...waiters]) if (w[0].test(out)) { waiters.splice(waiters.indexOf(w), 1); w[1](); }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return {
    text: () => out,
    until: (re) => (re.test(out) ? Promise.resolve() : new Promise((r) => waiters.push([re, r]))),
    write: (s) => { child.stdin.write(s); },
    end: () => { child.stdin.end(); },
    code: new Promise((r) => child.once('close', (c) => r(c ?? -1))),
  };
}

/** Runs a shell command line under a real pty (util-linux script); its stdin stays open until `end`. */
function underPty(line: string): Running {
  return start('script', ['-qec', line, '/dev/null']);
}

async function run(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(docker, args, { env: denv, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => { stdout += c; });
  child.stderr.on('data', (c: Buffer) => { stderr += c; });
  child.stdin.end(input ?? '');
  const code = await new Promise<number>((r) => child.once('close', (c) => r(c ?? -1)));
  return { code, stdout, stderr };
}

/** A raw HTTP exchange on the API socket; with `upgrade`, the socket after the response head. */
function raw(method: string, url: string, opts: { body?: string; upgrade?: boolean } = {}): Promise<{ status: number; headers: string; sock: net.Socket; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(sock);
    let buf = Buffer.alloc(0);
    s.on('error', reject);
    s.on('data', function onData(c: Buffer) {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      const head = buf.subarray(0, end).toString('latin1');
      resolve({ status: Number(head.split(' ')[1]), headers: head, sock: s, rest: buf.subarray(end + 4) });
    });
    const body = opts.body ?? '';
    s.write(`${method} ${url} HTTP/1.1\r\nHost: berth\r\n${opts.upgrade ? 'Connection: Upgrade\r\nUpgrade: tcp\r\n' : 'Connection: close\r\n'}`
      + `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
}

/** Reads a socket to its end. */
function readAll(s: net.Socket, first: Buffer): Promise<Buffer> {
  const chunks = [first];
  return new Promise((r) => {
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('close', () => r(Buffer.concat(chunks)));
  });
}

/** Splits a stdcopy stream into [stream, text] frames. */
function demux(b: Buffer): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  for (let i = 0; i + 8 <= b.length;) {
    const n = b.readUInt32BE(i + 4);
    out.push([b[i]!, b.subarray(i + 8, i + 8 + n).toString('utf8')]);
    i += 8 + n;
  }
  return out;
}

serial('docker exec (CLI 28): stdout and stderr apart with the exit code, -i passes stdin, -d runs detached; exec inspect (root)', async (t) => {
  const id = (await run(['run', '-d', '--network', 'none', env!.ref, 'sleep', '300'])).stdout.trim();
  const r = await run(['exec', id, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  t.is(r.code, 3);
  t.is(r.stdout, 'out\n');
  t.is(r.stderr, 'err\n');
  const cat = await run(['exec', '-i', id, 'sh', '-c', 'cat; echo end'], 'hello\nworld\n');
  t.is(cat.code, 0, cat.stderr);
  t.is(cat.stdout, 'hello\nworld\nend\n');
  t.is((await run(['exec', '-d', id, 'touch', '/tmp/detached'])).code, 0);
  const created = await raw('POST', `/v1.41/containers/${id}/exec`, { body: JSON.stringify({ Cmd: ['sh', '-c', 'for i in $(seq 100); do test -e /tmp/detached && exit 0; sleep 0.05; done; exit 1'], AttachStdout: true }) });
  t.is(created.status, 201);
  const execId = (JSON.parse((await readAll(created.sock, created.rest)).toString().split('\r\n').find((l) => l.startsWith('{'))!) as { Id: string }).Id;
  const started = await raw('POST', `/v1.41/exec/${execId}/start`, { body: JSON.stringify({ Detach: false, Tty: false }), upgrade: true });
  t.is(started.status, 101);
  t.regex(started.headers, /Content-Type: application\/vnd\.docker\.multiplexed-stream/);
  await readAll(started.sock, started.rest);
  const inspect = await run(['exec', id, 'true']).then(() => raw('GET', `/v1.41/exec/${execId}/json`));
  const body = JSON.parse((await readAll(inspect.sock, inspect.rest)).toString('utf8').split('\r\n').find((l) => l.startsWith('{'))!);
  t.like(body, { ID: execId, Running: false, ExitCode: 0, ProcessConfig: { entrypoint: 'sh', tty: false }, ContainerID: id });
  await run(['rm', '-f', id]);
  // The exec instances of a removed container are forgotten (on the next exec create), as dockerd does.
  const other = (await run(['run', '-d', '--network', 'none', env!.ref, 'sleep', '300'])).stdout.trim();
  t.is((await run(['exec', other, 'true'])).code, 0);
  const forgotten = await raw('GET', `/v1.41/exec/${execId}/json`);
  t.is(forgotten.status, 404);
  t.regex((await readAll(forgotten.sock, forgotten.rest)).toString(), /ERR_ENGINE_EXEC_NOT_FOUND/);
  await run(['rm', '-f', other]);
});

// API 1.41 has no ConsoleSize: the size comes with the CLI's first resize, right after start; the shells are driven
// interactively, so each answer is read before the next command.
serial('docker exec -it and docker run -it under a pty: tty is a /dev/pts, stty size is the terminal\'s; exit codes (root)', async (t) => {
  const id = (await run(['run', '-d', '--network', 'none', env!.ref, 'sleep', '300'])).stdout.trim();
  const ex = underPty(`stty rows 30 cols 100; ${docker} exec -it ${id} sh`);
  await ex.until(/# /);
  ex.write('tty\n');
  await ex.until(/\/dev\/pts\/\d+\r\n/);
  ex.write('stty size\n');
  await ex.until(/\r\n30 100\r\n/);
  ex.write('exit 4\n');
  t.is(await ex.code, 4, ex.text());
  await run(['rm', '-f', id]);
  const ri = underPty(`stty rows 31 cols 101; ${docker} run -it --rm --name api-tty --network none ${env!.ref} sh`);
  await ri.until(/# /);
  ri.write('tty; stty size\n');
  await ri.until(/\/dev\/pts\/\d+\r\n31 101\r\n/);
  ri.write('exit 5\n');
  t.is(await ri.code, 5, ri.text());
  t.is((await run(['ps', '-aq', '--filter', 'name=api-tty'])).stdout, '', 'docker run --rm waited for the removal (wait condition=removed)');
  const plain = await run(['run', '--network', 'none', env!.ref, 'sh', '-c', 'echo out; echo err >&2; exit 6']);
  t.deepEqual(plain, { code: 6, stdout: 'out\n', stderr: 'err\n' });
  const i = await run(['run', '-i', '--rm', '--network', 'none', env!.ref, 'cat'], 'piped\n');
  t.deepEqual(i, { code: 0, stdout: 'piped\n', stderr: '' });
});

serial('docker attach under a pty: the terminal size reaches the container, input reaches its shell, ctrl-p ctrl-q detaches (root)', async (t) => {
  const id = (await run(['run', '-dit', '--network', 'none', env!.ref, 'sh'])).stdout.trim();
  t.is((await run(['inspect', '-f', '{{.Config.OpenStdin}} {{.Config.StdinOnce}} {{.Config.Tty}}', id])).stdout, 'true false true\n', 'run -d -i keeps stdin open for later attaches');
  const a = underPty(`stty rows 42 cols 120; ${docker} attach ${id}`);
  a.write('\n'); // a fresh prompt shows the attach is live
  await a.until(/# /);
  a.write('stty size\n');
  await a.until(/42 120\r\n/);
  a.write('\x10\x11');
  t.is(await a.code, 1, 'docker attach ends with "read escape sequence" (status 1) on detach');
  t.regex(a.text(), /read escape sequence/);
  t.is((await run(['inspect', '-f', '{{.State.Running}}', id])).stdout, 'true\n');
  const b = underPty(`stty rows 20 cols 60; ${docker} attach ${id}`);
  b.write('\n');
  await b.until(/# /);
  b.write('stty size\n');
  await b.until(/20 60\r\n/);
  b.write('exit 7\n');
  t.is(await b.code, 7, b.text());
  t.is((await run(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', id])).stdout, 'exited 7\n');
  await run(['rm', id]);
});

serial('raw API: attach upgrades to a multiplexed stream with stdin; resize reaches a TTY; typed errors for no TTY, unknown exec, stopped container (root)', async (t) => {
  const id = (await run(['run', '-di', '--network', 'none', env!.ref, 'sh', '-c', 'read x; echo "got $x"; echo bye >&2'])).stdout.trim();
  const at = await raw('POST', `/v1.41/containers/${id}/attach?stream=1&stdin=1&stdout=1&stderr=1`, { upgrade: true });
  t.is(at.status, 101);
  t.regex(at.headers, /Upgrade: tcp/);
  t.regex(at.headers, /Content-Type: application\/vnd\.docker\.multiplexed-stream/);
  at.sock.write('line\n');
  t.deepEqual(demux(await readAll(at.sock, at.rest)), [[1, 'got line\n'], [2, 'bye\n']]);
  const noTty = await raw('POST', `/v1.41/containers/${id}/resize?h=10&w=10`);
  t.is(noTty.status, 409);
  t.regex((await readAll(noTty.sock, noTty.rest)).toString(), /ERR_ENGINE_NO_TTY/);
  const stopped = await raw('POST', `/v1.41/containers/${id}/exec`, { body: JSON.stringify({ Cmd: ['true'] }) });
  t.is(stopped.status, 409);
  t.regex((await readAll(stopped.sock, stopped.rest)).toString(), /ERR_ENGINE_CONTAINER_NOT_RUNNING/);
  const unknown = await raw('GET', '/v1.41/exec/nosuch/json');
  t.is(unknown.status, 404);
  t.regex((await readAll(unknown.sock, unknown.rest)).toString(), /ERR_ENGINE_EXEC_NOT_FOUND/);
  const hijackUnknown = await raw('POST', '/v1.41/exec/nosuch/start', { body: '{}', upgrade: true });
  t.is(hijackUnknown.status, 404);
  hijackUnknown.sock.destroy();
  await run(['rm', id]);

  const tty = (await run(['run', '-dit', '--network', 'none', env!.ref, 'sh'])).stdout.trim();
  const rs = await raw('POST', `/v1.41/containers/${tty}/resize?h=33&w=77`);
  t.is(rs.status, 200);
  rs.sock.destroy();
  const ta = await raw('POST', `/v1.41/containers/${tty}/attach?stream=1&stdin=1&stdout=1`, { upgrade: true });
  t.regex(ta.headers, /Content-Type: application\/vnd\.docker\.raw-stream/);
  ta.sock.write('stty size; exit 2\n');
  t.regex((await readAll(ta.sock, ta.rest)).toString(), /33 77\r\n/);
  const e = await raw('POST', `/v1.41/containers/${tty}/wait`);
  t.regex((await readAll(e.sock, e.rest)).toString(), /"StatusCode":2/);
  await run(['rm', tty]);
});
