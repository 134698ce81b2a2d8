import test from 'ava';
import { createContainer, runContainer, type Container } from '@berth/namespaces';
import { defaultSpec, makeBundle, readAll, type TestBundle } from './helpers/bundle.js';

const isRoot = process.getuid?.() === 0;
const rootTest = isRoot ? test : test.skip;

const COUNT = 20;
const BATCH = 4;

let n = 0;
function id(): string {
  return `pe-${process.pid}-${n++}`;
}

/** A shell line writing several lines to both stdout and stderr. */
function script(i: number): string {
  return `for k in 1 2 3 4 5; do echo out-${i}-$k; echo err-${i}-$k >&2; done`;
}

function expected(kind: 'out' | 'err', i: number): string {
  return [1, 2, 3, 4, 5].map((k) => `${kind}-${i}-${k}\n`).join('');
}

/**
 * Runs `count` jobs, `BATCH` at a time. Alongside each batch a container is
 * created and left waiting before execve until the batch's streams have
 * ended: if any fd of a job's pipes leaked into it (or into any other
 * process), that job's stream would not end and the test would time out.
 */
async function inBatches(b: TestBundle, count: number, job: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < count; i += BATCH) {
    const holder = createContainer(id(), defaultSpec(['true']), { bundle: b.bundle, root: b.root, stdio: 'ignore' });
    try {
      await Promise.all(Array.from({ length: Math.min(BATCH, count - i) }, (_, k) => job(i + k)));
    } finally {
      await (await holder).delete({ force: true });
    }
  }
}

rootTest('as root: piped stdout and stderr of concurrent execs all end with complete output', async (t) => {
  const b = makeBundle();
  let c: Container | undefined;
  try {
    c = await runContainer(id(), defaultSpec(['sleep', '600']), { bundle: b.bundle, root: b.root, stdio: 'ignore' });
    const box = c;
    let done = 0;
    await inBatches(b, COUNT, async (i) => {
      const p = await box.exec({ args: ['sh', '-c', script(i)], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] }, { stdio: 'pipe' });
      p.stdio.stdin!.end();
      const [out, err, st] = await Promise.all([readAll(p.stdio.stdout), readAll(p.stdio.stderr), p.wait()]);
      t.is(st.exitCode, 0);
      t.is(out, expected('out', i));
      t.is(err, expected('err', i));
      done++;
    });
    t.is(done, COUNT);
  } finally {
    await c?.delete({ force: true });
    b.cleanup();
  }
});

rootTest('as root: piped stdout and stderr of concurrently created containers all end with complete output', async (t) => {
  const b = makeBundle();
  let done = 0;
  try {
    await inBatches(b, COUNT, async (i) => {
      const c = await createContainer(id(), defaultSpec(['sh', '-c', script(i)]), { bundle: b.bundle, root: b.root, stdio: 'pipe' });
      try {
        c.stdio.stdin!.end();
        const outP = readAll(c.stdio.stdout);
        const errP = readAll(c.stdio.stderr);
        await c.start();
        const [out, err, st] = await Promise.all([outP, errP, c.wait()]);
        t.is(st.exitCode, 0);
        t.is(out, expected('out', i));
        t.is(err, expected('err', i));
        done++;
      } finally {
        await c.delete({ force: true });
      }
    });
    t.is(done, COUNT);
  } finally {
    b.cleanup();
  }
});
