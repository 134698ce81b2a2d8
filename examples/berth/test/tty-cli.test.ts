import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { berth, berthBin, useCliEnv } from './helpers/cli.js';

let dir: string;
let ref: string;
const serial = useCliEnv({ pull: true }, (env) => { ({ dir, ref } = env); });

/** The berth binary's command line, for a shell. */
function berthLine(args: string[]): string {
  return [process.execPath, berthBin, '--root', path.join(dir, 'root'), '--run-root', path.join(dir, 'run'), ...args].map((a) => `'${a}'`).join(' ');
}

// libuv's raw mode keeps the local terminal's OPOST/ONLCR, so the container's \r\n shows as \r\r\n here.
/** A command line under a real pty (util-linux script): its output, waiting on it, typing, its exit code. */
function underPty(line: string) {
  const child = spawn('script', ['-qec', line, '/dev/null'], { env: { PATH: process.env.PATH, TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'pipe'] });
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
    until: (re: RegExp) => (re.test(out) ? Promise.resolve() : new Promise<void>((r) => waiters.push([re, r]))),
    write: (s: string) => { child.stdin.write(s); },
    code: new Promise<number>((r) => child.once('close', (c) => r(c ?? -1))),
  };
}

/** The pty that berth's process (found by its command line) has as stdin. */
function ptyOf(marker: string): string {
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    const cmd = (() => { try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { return ''; } })();
    // The node process itself (script and its shell carry the same words in their -c argument).
    if (cmd.startsWith(`${process.execPath}\0${berthBin}\0`) && cmd.includes(marker)) return fs.readlinkSync(`/proc/${pid}/fd/0`);
  }
  throw new Error(`no berth process with ${marker}`);
}

serial('berth run -it: the container gets a /dev/pts, stty size is the terminal\'s, a terminal resize (SIGWINCH) reaches it, the exit code is the container\'s (root, pty)', async (t) => {
  const name = `tty-${process.pid}`;
  const r = underPty(`stty rows 27 cols 88; ${berthLine(['run', '-it', '--rm', '--name', name, '--network', 'none', ref, 'sh'])}`);
  await r.until(/# /);
  r.write('tty; stty size\n');
  await r.until(/\/dev\/pts\/\d+\r+\n27 88\r+\n/);
  // Resize the local terminal: the kernel sends berth SIGWINCH, berth resizes the container's pty.
  spawnSync('stty', ['-F', ptyOf(name), 'rows', '45', 'cols', '130']);
  r.write('until [ "$(stty size)" = "45 130" ]; do usleep 10000; done; echo resized\n');
  await r.until(/\nresized\r+\n/);
  r.write('exit 3\n');
  t.is(await r.code, 3, r.text());
  t.is((await berth(dir, ['ps', '-aq', '--filter', `name=${name}`])).stdout, '', '--rm removed it');
});

serial('berth attach: ctrl-p ctrl-q detaches and leaves the container running; a new attach gets the terminal size and the exit code (root, pty)', async (t) => {
  const id = (await berth(dir, ['run', '-dit', '--network', 'none', ref, 'sh'])).stdout.trim();
  const a = underPty(`stty rows 33 cols 77; ${berthLine(['attach', id])}`);
  a.write('\n');
  await a.until(/# /);
  a.write('stty size\n');
  await a.until(/33 77\r+\n/);
  a.write('\x10\x11');
  t.is(await a.code, 1, a.text());
  t.regex(a.text(), /read escape sequence/);
  t.is((await berth(dir, ['inspect', '-f', '{{.State.Running}}', id])).stdout, 'true\n');
  const b = underPty(`stty rows 34 cols 78; ${berthLine(['attach', id])}`);
  b.write('\n');
  await b.until(/# /);
  b.write('stty size\n');
  await b.until(/34 78\r+\n/);
  b.write('exit 9\n');
  t.is(await b.code, 9, b.text());
  t.is((await berth(dir, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', id])).stdout, 'exited 9\n');
  // start -ai of a TTY container attaches like run -it
  const st = underPty(`stty rows 36 cols 80; ${berthLine(['start', '-ai', id])}`);
  st.write('\n');
  await st.until(/# /);
  st.write('stty size; exit 8\n');
  await st.until(/36 80\r+\n/);
  t.is(await st.code, 8, st.text());
  const stopped = await berth(dir, ['attach', id]);
  t.not(stopped.code, 0);
  t.regex(stopped.stderr, /ERR_ENGINE_CONTAINER_NOT_RUNNING/);
  await berth(dir, ['rm', id]);
});

serial('berth exec -it: a /dev/pts with the terminal\'s size, the exit code; the terminal is restored afterwards (root, pty)', async (t) => {
  const id = (await berth(dir, ['run', '-d', '--network', 'none', ref, 'sleep', '300'])).stdout.trim();
  const e = underPty(`stty rows 35 cols 79; ${berthLine(['exec', '-it', id, 'sh'])}; stty -a | grep -o -- '-icanon\\|icanon' | head -1`);
  await e.until(/# /);
  e.write('tty; stty size\n');
  await e.until(/\/dev\/pts\/\d+\r+\n35 79\r+\n/);
  e.write('exit 6\n');
  await e.code;
  t.regex(e.text(), /\r?\nicanon\r?\n/, 'raw mode was undone: the local terminal is canonical again');
  const code = underPty(`${berthLine(['exec', '-it', id, 'sh', '-c', 'exit 6'])}`);
  t.is(await code.code, 6);
  await berth(dir, ['rm', '-f', id]);
});

serial('berth attach without a TTY: stdout and stderr apart through the supervisor\'s socket, stdin reaches the process, the exit code (root)', async (t) => {
  const id = (await berth(dir, ['run', '-di', '--network', 'none', ref, 'sh', '-c', 'read x; echo "got $x"; echo err >&2; exit 2'])).stdout.trim();
  t.is((await berth(dir, ['inspect', '-f', '{{.Config.OpenStdin}} {{.Config.StdinOnce}}', id])).stdout, 'true false\n');
  const a = await berth(dir, ['attach', id], 'line\n');
  t.deepEqual(a, { code: 2, stdout: 'got line\n', stderr: 'err\n' });
  await berth(dir, ['rm', id]);
});
