import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = fileURLToPath(new URL('../..', import.meta.url));

/** Runs a module script in a child with the package's entry point resolvable. */
function run(script: string, input?: string): ReturnType<typeof spawnSync> {
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: pkg, encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
}

test('exitNow ends the process with the code at once: output written before is there, exit handlers and pending work do not run; stdio pipes are blocking again', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-exit-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const r = run(`
    import { exitNow } from '@berth/namespaces';
    import fs from 'node:fs';
    process.stdout.write('before\\n');
    process.on('exit', () => fs.writeFileSync(${JSON.stringify(path.join(dir, 'exit-handler'))}, 'ran'));
    setTimeout(() => fs.writeFileSync(${JSON.stringify(path.join(dir, 'timer'))}, 'ran'), 0);
    process.stdin.resume(); // makes the stdin pipe non-blocking
    setImmediate(() => exitNow(7));
  `, '');
  t.is(r.status, 7, String(r.stderr));
  t.is(r.stdout, 'before\n');
  t.false(fs.existsSync(path.join(dir, 'exit-handler')));
  t.false(fs.existsSync(path.join(dir, 'timer')));
  // The flags of a pipe it leaves behind, seen by the process that shares it: a child that reads its stdin's flags after.
  const shared = spawnSync('bash', ['-c', `node --input-type=module -e "import { exitNow } from '@berth/namespaces'; process.stdin.resume(); setImmediate(() => exitNow(0));"; python3 -c "import fcntl, os; print(fcntl.fcntl(0, fcntl.F_GETFL) & os.O_NONBLOCK)"`], { cwd: pkg, encoding: 'utf8', input: '' });
  t.is(shared.stdout.trim(), '0', 'the shared stdin pipe is blocking again');
});

test('exitNow with unlessTerminal returns false where a stdio fd is a terminal, and exits otherwise; a bad code is a typed error', (t) => {
  const r = run(`
    import { exitNow } from '@berth/namespaces';
    try { exitNow(256); } catch (e) { process.stdout.write(e.code + '\\n'); }
    exitNow(3, { unlessTerminal: true });
    process.stdout.write('not reached\\n');
  `, '');
  t.is(r.status, 3);
  t.is(r.stdout, 'ERR_NS_INVALID_ARGUMENT\n');
  // Under a pty (script(1)), it returns false and the program goes on to its own exit.
  const tty = spawnSync('script', ['-qec', `node --input-type=module -e "import { exitNow } from '@berth/namespaces'; process.stdout.write('returned ' + String(exitNow(5, { unlessTerminal: true })));"`, '/dev/null'], { cwd: pkg, encoding: 'utf8' });
  t.regex(tty.stdout, /returned false/);
  t.is(tty.status, 0);
});
