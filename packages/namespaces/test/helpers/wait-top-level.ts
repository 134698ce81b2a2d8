/**
 * A standalone program (run by runtime-event-loop.test.ts in its own Node
 * process): creates a busybox container running `sleep 1; echo done`, starts
 * it and awaits `wait()` at top level with nothing else keeping the event
 * loop alive. Prints `status <json>` and exits 0; if the pending wait did
 * not hold the loop, Node would exit 13 (unsettled top-level await) first.
 * The first line, `container <bundle> <root> <id>`, lets the test clean up.
 * argv[2]: 'container' (wait on the container) or 'exec' (wait on an exec'd process).
 */
import { createContainer } from '@berth/namespaces';
import { defaultSpec, makeBundle } from './bundle.js';

const mode = process.argv[2] ?? 'container';
const b = makeBundle();
const cmd = ['sh', '-c', 'sleep 1; echo done'];
const id = `tla-${process.pid}`;
// For the test's clean-up if this program dies early: where the container lives.
console.log(`container ${b.bundle} ${b.root} ${id}`);
// The exec target does not inherit stdout: only the processes waited on hold it.
const c = await createContainer(id, defaultSpec(mode === 'exec' ? ['sleep', '60'] : cmd), { bundle: b.bundle, root: b.root, stdio: mode === 'exec' ? 'ignore' : 'inherit' });
await c.start();
if (mode === 'exec') {
  const p = await c.exec({ args: cmd, cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] });
  const st = await p.wait();
  console.log(`status ${JSON.stringify(st)}`);
  await c.delete({ force: true });
} else {
  const st = await c.wait();
  console.log(`status ${JSON.stringify(st)}`);
  await c.delete();
}
b.cleanup();
