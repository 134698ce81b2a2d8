/**
 * kill -9 of a process at each point of a commit batch (after staging; right
 * after the first and the second rename into blobs/; after the commit):
 * after reopening, every visible blob is intact, every blob not visible is an
 * ingest that resumes and commits with the right digest, and a GC keeps the
 * lease's blobs.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { openLocalStore } from '@berth/image-store';
import { tempDir } from './helpers/temp.js';
import { randomChunks, randomDigest } from './helpers/random.js';
import { collect } from './helpers/collect.js';
import { batchSizes } from './helpers/batch-child.js';

const child = path.join(import.meta.dirname, 'helpers', 'batch-child.js');

async function* skip(size: number, seed: string, offset: number): AsyncGenerator<Buffer> {
  let pos = 0;
  for (const c of randomChunks(size, seed)) {
    if (pos + c.length > offset) yield pos >= offset ? c : c.subarray(offset - pos);
    pos += c.length;
  }
}

for (const [crashAt, visible] of [['staged', 0], ['rename-1', 1], ['rename-2', 2], ['never', 3]] as const) {
  test(`batch killed at ${crashAt}: ${visible} blob(s) visible and intact, the rest resume`, async (t) => {
    const root = await tempDir(t);
    const proc = spawn(process.execPath, [child, root, crashAt], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (d: string) => { out += d; });
    const [code, signal] = await once(proc, 'close') as [number | null, string | null];
    if (crashAt === 'never') {
      t.is(code, 0);
      t.true(out.includes('committed'));
    } else {
      t.is(signal, 'SIGKILL');
      t.false(out.includes('committed'));
    }

    const store = await openLocalStore(root);
    t.teardown(() => store.close());
    t.deepEqual((await store.verify()).corrupt, [], 'every visible blob is intact');
    const digests = batchSizes.map((size, i) => randomDigest(size, `batch-${i}`));
    const present = await Promise.all(digests.map((d) => store.info(d).then(() => true, () => false)));
    t.is(present.filter(Boolean).length, visible);
    // Staging order is publishing order: the visible ones are a prefix.
    t.deepEqual(present, digests.map((_, i) => i < visible));
    const [lease, ...others] = await store.leases.list();
    t.is(others.length, 0);
    for (const [i, size] of batchSizes.entries()) {
      if (present[i]) continue;
      // Not visible: a complete ingest whose (dead) writer's lock is stale; it resumes at its end and commits.
      const w = await store.writer(`batch-${i}`, { expected: { digest: digests[i]!, size }, lease: lease!.id });
      t.is(w.offset, size);
      await w.copyFrom(skip(size, `batch-${i}`, w.offset));
      t.is((await w.commit()).digest, digests[i]);
    }
    t.deepEqual(await collect(store.listIngests()), []);
    t.deepEqual((await store.verify()).corrupt, []);
    // The child's lease holds all three (the batch adds digests to it before it renames).
    t.deepEqual((await store.gc()).digests, []);
    t.is((await collect(store.walk())).length, 3);
  });
}
